// The history form of stage tasks and dataset refs (activities.h): compact,
// and read back exactly.
#include "flightdeck/pipeline/activities.h"

#include <string>
#include <utility>
#include <vector>

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

TEST(ActivityCodecTest, SignedTicketsKeepTheirSignatureAfterTheSixteenBytes) {
  const std::string ticket = flight::NewTicket("acme").Encode() + "!t1!0!gdpr!AAAAAAAAAAAAAAAAAAAAAA";
  const std::string compact = CompactTicket("acme", ticket);
  EXPECT_EQ(compact.size(), 16u + ticket.size() - ticket.find('!'));
  EXPECT_EQ(ExpandTicket("acme", compact), ticket);
  EXPECT_EQ(CompactTicket("other", ticket), ticket);
  // 17+ bytes with a '!' at 16 but not a signature's four fields: unchanged.
  EXPECT_EQ(ExpandTicket("acme", std::string(16, 'x') + "!a!b"), std::string(16, 'x') + "!a!b");
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

TEST(ActivityCodecTest, StageTaskRoundTripsAsANamedObjectWithoutEmptyFields) {
  StageTask task;
  task.spec = "acme/0123456789abcdef@127.0.0.1:7100";
  task.partition = 3;
  task.input = CompactTicket("acme", flight::NewTicket("acme").Encode());
  const nlohmann::json json = task;
  ASSERT_TRUE(json.is_object());
  EXPECT_EQ(json.size(), 3u) << json.dump();  // spec, partition, input
  EXPECT_EQ(json.at("spec"), task.spec);
  EXPECT_EQ(json.at("partition"), 3);
  EXPECT_EQ(json.at("input").get<std::string>().find('='), std::string::npos);  // unpadded base64
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
  const nlohmann::json full_json = full;
  for (const char* name : {"spec", "run", "partition", "inputs", "parts", "yaml", "origin", "range"}) {
    EXPECT_TRUE(full_json.contains(name)) << name << " in " << full_json.dump();
  }
  back = full_json.get<StageTask>();
  EXPECT_EQ(back.range, full.range);
  EXPECT_EQ(back.run, "run-1");
  EXPECT_EQ(back.inputs, full.inputs);
  EXPECT_EQ(back.parts, full.parts);
  EXPECT_EQ(back.yaml, full.yaml);
  EXPECT_EQ(back.origin, full.origin);
  // Padded base64 (as other SDKs write it) and unknown fields are accepted.
  back = nlohmann::json::parse(R"({"spec": "k", "input": "AQI=", "future_field": 1})").get<StageTask>();
  EXPECT_EQ(back.input, std::string("\x01\x02", 2));
}

// A malformed task fails naming what is wrong (the worker turns it into a
// non-retryable InvalidArgument); nothing decodes silently to "".
TEST(ActivityCodecTest, MalformedTasksNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"(["k", "run", 0])", "stage task must be a JSON object"},
      {R"({"partition": 1})", "stage task: missing field 'spec'"},
      {R"({"spec": 5})", "stage task: field 'spec' has the wrong type"},
      {R"({"spec": "k", "partition": "one"})", "stage task: field 'partition' has the wrong type"},
      {R"({"spec": "k", "input": "not base64!"})", "field 'input' is not base64: 'not base64!'"},
      {R"({"spec": "k", "input": "A"})", "field 'input' is not base64"},
      {R"({"spec": "k", "inputs": ["AQID", "@@@@"]})", "field 'inputs' is not base64"},
      {R"({"spec": "k", "range": [1, "x"]})", "stage task: field 'range' has the wrong type"},
  };
  for (const auto& [text, expected] : cases) {
    try {
      (void)nlohmann::json::parse(text).get<StageTask>();
      ADD_FAILURE() << text << " decoded";
    } catch (const nlohmann::json::exception& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << text << ": " << e.what();
    }
  }
}

TEST(ActivityCodecTest, DatasetRefTravelsWithoutNodeAndFingerprint) {
  DatasetRef ref{"grpc+tcp://127.0.0.1:7100", std::string("\x01\x02\x03", 3), 10, 80, "fp",
                 "xxh3:00ff"};
  const nlohmann::json json = ref;
  EXPECT_EQ(json.dump(), R"({"bytes":80,"checksum":"xxh3:00ff","rows":10,"ticket":"AQID"})");
  DatasetRef back = json.get<DatasetRef>();
  EXPECT_EQ(back.ticket, ref.ticket);
  EXPECT_EQ(back.rows, 10);
  EXPECT_EQ(back.bytes, 80);
  EXPECT_EQ(back.checksum, ref.checksum);
  EXPECT_TRUE(back.node.empty());
  EXPECT_TRUE(back.schema_fingerprint.empty());
  ref.source_rows = 1000;
  ref.source_bytes = 64000;
  back = nlohmann::json(ref).get<DatasetRef>();
  EXPECT_EQ(back.source_rows, 1000);
  EXPECT_EQ(back.source_bytes, 64000);
  EXPECT_THROW(nlohmann::json::parse(R"(["AQID",10,80,"x"])").get<DatasetRef>(), nlohmann::json::exception);
  EXPECT_THROW(nlohmann::json::parse(R"({"rows": 10})").get<DatasetRef>(), nlohmann::json::exception);
  EXPECT_THROW(nlohmann::json::parse(R"({"ticket": "%%"})").get<DatasetRef>(), nlohmann::json::exception);
}

}  // namespace
}  // namespace flightdeck::pipeline
