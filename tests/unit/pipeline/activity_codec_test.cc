// The history form of stage tasks and dataset refs (activities.h): compact,
// and read back exactly.
#include "flightdeck/pipeline/activities.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "flightdeck/flight/ticket.h"

namespace flightdeck::pipeline {
namespace {

TEST(ActivityCodecTest, TicketsOfTheTenantTravelAsTheirSixteenRandomBytes) {
  const std::string ticket = flight::NewTicket("acme").Encode();
  const std::string compact = CompactTicket("acme", ticket);
  EXPECT_EQ(compact.size(), 16u);
  EXPECT_EQ(ExpandTicket("acme", compact), ticket);
  // Another tenant's ticket, or bytes that are not a flightdeck ticket, stay
  // as they are.
  EXPECT_EQ(CompactTicket("other", ticket), ticket);
  EXPECT_EQ(CompactTicket("acme", "opaque"), "opaque");
  EXPECT_EQ(ExpandTicket("acme", "opaque"), "opaque");
}

TEST(ActivityCodecTest, CompactTicketBytesArePinned) {
  // Histories already written hold this form: it must not change.
  const std::string ticket = "fdt1:acme:0123456789abcdeffedcba9876543210";
  const std::string compact("\x01\x23\x45\x67\x89\xab\xcd\xef\xfe\xdc\xba\x98\x76\x54\x32\x10",
                            16);
  EXPECT_EQ(CompactTicket("acme", ticket), compact);
  EXPECT_EQ(ExpandTicket("acme", compact), ticket);
  // An uppercase id is not a flightdeck ticket: it stays as it is.
  const std::string upper = "fdt1:acme:0123456789ABCDEFFEDCBA9876543210";
  EXPECT_EQ(CompactTicket("acme", upper), upper);
}

TEST(ActivityCodecTest, StageTaskRoundTripsAsAShortArray) {
  StageTask task;
  task.spec = "acme/0123456789abcdef@127.0.0.1:7100";
  task.partition = 3;
  task.input = CompactTicket("acme", flight::NewTicket("acme").Encode());
  const nlohmann::json json = task;
  ASSERT_TRUE(json.is_array());
  EXPECT_EQ(json.size(), 4u);  // spec, run (empty: the workflow id), partition, input
  EXPECT_EQ(json[3].get<std::string>().find('='), std::string::npos);  // unpadded base64
  StageTask back = json.get<StageTask>();
  EXPECT_EQ(back.spec, task.spec);
  EXPECT_EQ(back.run, "");
  EXPECT_EQ(back.partition, 3);
  EXPECT_EQ(back.input, task.input);

  StageTask full;
  full.spec = "k";
  full.run = "run-1";
  full.inputs = {"ab", "", "xyz"};
  full.parts = {"part-0.parquet"};
  full.yaml = "name: x\n";
  full.origin = "x.yaml";
  full.range = {2, 5};
  back = nlohmann::json(full).get<StageTask>();
  EXPECT_EQ(back.range, full.range);
  EXPECT_EQ(back.run, "run-1");
  EXPECT_EQ(back.inputs, full.inputs);
  EXPECT_EQ(back.parts, full.parts);
  EXPECT_EQ(back.yaml, full.yaml);
  EXPECT_EQ(back.origin, full.origin);

  // Not an array, or a field of the wrong type: nlohmann's exceptions, which
  // the payload converter turns into a Status.
  EXPECT_THROW(nlohmann::json::parse(R"({"spec": "k"})").get<StageTask>(), nlohmann::json::exception);
  EXPECT_THROW(nlohmann::json::parse(R"(["k", 5])").get<StageTask>(), nlohmann::json::exception);
}

TEST(ActivityCodecTest, DatasetRefTravelsWithoutNodeAndFingerprint) {
  DatasetRef ref{"grpc+tcp://127.0.0.1:7100", std::string("\x01\x02\x03", 3), 10, 80, "fp",
                 "xxh3:00ff"};
  const nlohmann::json json = ref;
  EXPECT_EQ(json.dump(), R"(["AQID",10,80,"xxh3:00ff"])");
  DatasetRef back = json.get<DatasetRef>();
  EXPECT_EQ(back.ticket, ref.ticket);
  EXPECT_EQ(back.rows, 10);
  EXPECT_EQ(back.bytes, 80);
  EXPECT_EQ(back.checksum, ref.checksum);
  EXPECT_TRUE(back.node.empty());
  EXPECT_TRUE(back.schema_fingerprint.empty());
  EXPECT_THROW(nlohmann::json::parse(R"(["AQID",10])").get<DatasetRef>(), nlohmann::json::exception);
}

}  // namespace
}  // namespace flightdeck::pipeline
