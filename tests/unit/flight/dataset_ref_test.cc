#include "flightdeck/flight/dataset_ref.h"

#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"

namespace flightdeck::flight {
namespace {

TEST(DatasetRefTest, JsonRoundTripBase64Ticket) {
  DatasetRef ref{"grpc+tcp://127.0.0.1:7100", "fdt1:acme:0123", 10, 80, "fp", "xxh3:1"};
  const std::string json = ref.ToJson();
  // The ticket travels as base64, like the Python stage's DatasetRef.
  EXPECT_NE(json.find("\"ticket\":\"ZmR0MTphY21lOjAxMjM=\""), std::string::npos) << json;
  ASSERT_OK_AND_ASSIGN(DatasetRef back, DatasetRefFromJson(json));
  EXPECT_EQ(back, ref);
}

TEST(DatasetRefTest, ErrorsNameTheField) {
  auto missing = DatasetRefFromJson(R"({"node": "n", "ticket": "YQ==", "rows": 1, "bytes": 1,
                                        "schema_fingerprint": "f"})");
  ASSERT_RAISES(Invalid, missing);
  EXPECT_NE(missing.status().message().find("'checksum' is missing"), std::string::npos);
  auto typed = DatasetRefFromJson(R"({"node": "n", "ticket": "YQ==", "rows": "1", "bytes": 1,
                                      "schema_fingerprint": "f", "checksum": "c"})");
  ASSERT_RAISES(Invalid, typed);
  EXPECT_NE(typed.status().message().find("'rows' must be an integer"), std::string::npos);
  ASSERT_RAISES(Invalid, DatasetRefFromJson("[1]"));
  ASSERT_RAISES(Invalid, DatasetRefFromJson(R"({"node": "n", "ticket": "", "rows": 1,
      "bytes": 1, "schema_fingerprint": "f", "checksum": "c"})"));
}

TEST(DatasetRefTest, FromNodeSummaryKeepsTheWireTicket) {
  ASSERT_OK_AND_ASSIGN(
      DatasetRef ref,
      DatasetRefFromNodeSummary("grpc+tcp://h:1", R"({"ticket": "fdt1:t:ab", "rows": 3,
          "bytes": 24, "schema_fingerprint": "f", "checksum": "xxh3:9", "durable": false})"));
  EXPECT_EQ(ref.ticket, "fdt1:t:ab");
  EXPECT_EQ(ref.rows, 3);
  ASSERT_RAISES(Invalid, DatasetRefFromNodeSummary("n", R"({"rows": 3})"));
}

}  // namespace
}  // namespace flightdeck::flight
