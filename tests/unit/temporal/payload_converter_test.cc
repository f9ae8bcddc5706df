#include "flightdeck/temporal/converter/payload_converter.h"

#include <map>

#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/temporal/converter/encryption_codec.h"
#include "flightdeck/temporal/converter/payload_codec.h"
#include "temporal/api/command/v1/message.pb.h"

namespace flightdeck::temporal {
namespace {

struct Order {
  std::string id;
  double amount = 0;
  std::optional<std::string> note;
  bool operator==(const Order&) const = default;
};
void to_json(nlohmann::json& j, const Order& o) {
  j = {{"id", o.id}, {"amount", o.amount}, {"note", o.note ? nlohmann::json(*o.note) : nullptr}};
}
void from_json(const nlohmann::json& j, Order& o) {
  j.at("id").get_to(o.id);
  j.at("amount").get_to(o.amount);
  if (j.contains("note") && !j.at("note").is_null()) o.note = j.at("note").get<std::string>();
}

TEST(PayloadConverterTest, JsonPlainIsCompactWithSortedKeys) {
  ASSERT_OK_AND_ASSIGN(Payload p, ToPayload(Order{"o-1", 2.5, std::nullopt}));
  EXPECT_EQ(EncodingOf(p), "json/plain");
  // Python's SDK writes the same bytes: compact, keys sorted.
  EXPECT_EQ(p.data(), R"({"amount":2.5,"id":"o-1","note":null})");
  ASSERT_OK_AND_ASSIGN(Order back, FromPayload<Order>(p));
  EXPECT_EQ(back, (Order{"o-1", 2.5, std::nullopt}));
}

TEST(PayloadConverterTest, ScalarsAndContainers) {
  ASSERT_OK_AND_ASSIGN(Payload i, ToPayload(int64_t{42}));
  EXPECT_EQ(i.data(), "42");
  ASSERT_OK_AND_ASSIGN(int64_t back, FromPayload<int64_t>(i));
  EXPECT_EQ(back, 42);
  ASSERT_OK_AND_ASSIGN(Payload s, ToPayload(std::string("héllo")));
  EXPECT_EQ(s.data(), "\"héllo\"");
  std::map<std::string, std::vector<int>> m{{"b", {1}}, {"a", {2, 3}}};
  ASSERT_OK_AND_ASSIGN(Payload mp, ToPayload(m));
  EXPECT_EQ(mp.data(), R"({"a":[2,3],"b":[1]})");
  ASSERT_OK_AND_ASSIGN(auto m2, (FromPayload<std::map<std::string, std::vector<int>>>(mp)));
  EXPECT_EQ(m2, m);
}

TEST(PayloadConverterTest, NullAndBytes) {
  ASSERT_OK_AND_ASSIGN(Payload n, ToPayload(nullptr));
  EXPECT_EQ(EncodingOf(n), "binary/null");
  EXPECT_TRUE(n.data().empty());
  ASSERT_OK_AND_ASSIGN(auto none, FromPayload<std::optional<int>>(n));
  EXPECT_FALSE(none.has_value());
  ASSERT_OK_AND_ASSIGN(Payload opt, ToPayload(std::optional<int>(7)));
  EXPECT_EQ(EncodingOf(opt), "json/plain");
  ASSERT_RAISES(Invalid, FromPayload<int>(n).status());

  ASSERT_OK_AND_ASSIGN(Payload b, ToPayload(Bytes{std::string("\x00\xff", 2)}));
  EXPECT_EQ(EncodingOf(b), "binary/plain");
  ASSERT_OK_AND_ASSIGN(Bytes bytes, FromPayload<Bytes>(b));
  EXPECT_EQ(bytes.data, std::string("\x00\xff", 2));
  auto wrong = FromPayload<Bytes>(n);
  ASSERT_RAISES(Invalid, wrong.status());
  EXPECT_NE(wrong.status().message().find("binary/null"), std::string::npos);
}

TEST(PayloadConverterTest, ProtobufJsonAndBinary) {
  ::temporal::api::common::v1::WorkflowExecution execution;
  execution.set_workflow_id("wf");
  execution.set_run_id("run");
  ASSERT_OK_AND_ASSIGN(Payload j, ToPayload(execution));
  EXPECT_EQ(EncodingOf(j), "json/protobuf");
  EXPECT_EQ(j.metadata().at("messageType"), "temporal.api.common.v1.WorkflowExecution");
  EXPECT_EQ(j.data(), R"({"workflowId":"wf","runId":"run"})");
  ASSERT_OK_AND_ASSIGN(auto back, FromPayload<::temporal::api::common::v1::WorkflowExecution>(j));
  EXPECT_EQ(back.run_id(), "run");

  ASSERT_OK_AND_ASSIGN(Payload b, ToPayload(execution, ProtoEncoding::kBinary));
  EXPECT_EQ(EncodingOf(b), "binary/protobuf");
  ASSERT_OK_AND_ASSIGN(auto back2, FromPayload<::temporal::api::common::v1::WorkflowExecution>(b));
  EXPECT_EQ(back2.workflow_id(), "wf");

  ASSERT_RAISES(Invalid, FromPayload<::temporal::api::common::v1::WorkflowType>(b).status());
}

TEST(PayloadConverterTest, MalformedInputIsInvalid) {
  Payload bad;
  (*bad.mutable_metadata())["encoding"] = "json/plain";
  bad.set_data("{not json");
  ASSERT_RAISES(Invalid, FromPayload<int>(bad).status());
  ASSERT_OK_AND_ASSIGN(Payload s, ToPayload(std::string("text")));
  ASSERT_RAISES(Invalid, FromPayload<int>(s).status());
  Payload unknown;
  (*unknown.mutable_metadata())["encoding"] = "binary/encrypted";
  auto r = FromPayload<std::string>(unknown);
  ASSERT_RAISES(Invalid, r.status());
  EXPECT_NE(r.status().message().find("binary/encrypted"), std::string::npos);
}

TEST(PayloadConverterTest, PayloadsOnePerArgument) {
  ASSERT_OK_AND_ASSIGN(Payloads args, ToPayloads(std::string("a"), 2, nullptr));
  ASSERT_EQ(args.payloads_size(), 3);
  ASSERT_OK_AND_ASSIGN(auto first, FromPayloads<std::string>(args, 0));
  EXPECT_EQ(first, "a");
  ASSERT_OK_AND_ASSIGN(auto second, FromPayloads<int>(args, 1));
  EXPECT_EQ(second, 2);
  ASSERT_OK_AND_ASSIGN(auto missing, FromPayloads<std::optional<int>>(args, 5));
  EXPECT_FALSE(missing.has_value());
}

// Marks payloads it encodes so the order of the chain is visible.
class TagCodec : public PayloadCodec {
 public:
  explicit TagCodec(std::string tag) : tag_(std::move(tag)) {}
  arrow::Result<std::vector<Payload>> Encode(std::vector<Payload> payloads) const override {
    for (auto& p : payloads) {
      Payload wrapped;
      (*wrapped.mutable_metadata())["encoding"] = "binary/" + tag_;
      wrapped.set_data(p.SerializeAsString());
      p = std::move(wrapped);
    }
    return payloads;
  }
  arrow::Result<std::vector<Payload>> Decode(std::vector<Payload> payloads) const override {
    for (auto& p : payloads) {
      if (EncodingOf(p) != "binary/" + tag_) continue;
      Payload inner;
      if (!inner.ParseFromString(p.data())) return arrow::Status::Invalid("bad ", tag_);
      p = std::move(inner);
    }
    return payloads;
  }

 private:
  std::string tag_;
};

TEST(CodecChainTest, EncodesInReverseAndDecodesForward) {
  CodecChain chain({std::make_shared<TagCodec>("outer"), std::make_shared<TagCodec>("inner")});
  ASSERT_OK_AND_ASSIGN(Payloads payloads, ToPayloads(std::string("x"), 1));
  Payloads original = payloads;
  ASSERT_OK(chain.Encode(&payloads));
  ASSERT_EQ(payloads.payloads_size(), 2);
  EXPECT_EQ(EncodingOf(payloads.payloads(0)), "binary/outer");  // codecs[0] outermost
  ASSERT_OK(chain.Decode(&payloads));
  EXPECT_EQ(payloads.SerializeAsString(), original.SerializeAsString());
}

// A command the way a worker sends it: input, memo, a nested failure's
// details, a header and search attributes.
::temporal::api::command::v1::Command SampleCommand() {
  ::temporal::api::command::v1::Command command;
  auto* attrs = command.mutable_continue_as_new_workflow_execution_command_attributes();
  *attrs->mutable_input() = *ToPayloads(std::string("input"));
  (*attrs->mutable_memo()->mutable_fields())["note"] = *ToPayload(std::string("memo"));
  (*attrs->mutable_header()->mutable_fields())["_tracer-data"] = *ToPayload(std::string("header"));
  (*attrs->mutable_search_attributes()->mutable_indexed_fields())["CustomKeyword"] = *ToPayload(std::string("sa"));
  *attrs->mutable_failure()->mutable_cause()->mutable_application_failure_info()->mutable_details() =
      *ToPayloads(std::string("nested"));
  return command;
}

TEST(CodecChainTest, EncodeAllReachesEveryUserPayloadButHeadersAndSearchAttributes) {
  CodecChain chain({std::make_shared<TagCodec>("t")});
  auto command = SampleCommand();
  const std::string original = command.SerializeAsString();
  ASSERT_OK(chain.EncodeAll(&command));
  const auto& attrs = command.continue_as_new_workflow_execution_command_attributes();
  EXPECT_EQ(EncodingOf(attrs.input().payloads(0)), "binary/t");
  EXPECT_EQ(EncodingOf(attrs.memo().fields().at("note")), "binary/t");
  EXPECT_EQ(EncodingOf(attrs.failure().cause().application_failure_info().details().payloads(0)), "binary/t");
  EXPECT_EQ(EncodingOf(attrs.header().fields().at("_tracer-data")), "json/plain");
  EXPECT_EQ(EncodingOf(attrs.search_attributes().indexed_fields().at("CustomKeyword")), "json/plain");
  ASSERT_OK(chain.DecodeAll(&command));
  EXPECT_EQ(command.SerializeAsString(), original);
}

TEST(EncryptionCodecTest, SealsAsThePythonSampleAndRotatesByKeyId) {
  auto old_ring = *KeyRing::FromKeys({{"test-key-id", "test-key-test-key-test-key-test!"}}, "old");
  auto new_ring = *KeyRing::FromKeys({{"test-key-id", "test-key-test-key-test-key-test!"},
                                      {"k2", std::string(32, 'z')}},
                                     "new");
  EncryptionCodec old_codec(old_ring), new_codec(new_ring);
  ASSERT_OK_AND_ASSIGN(auto sealed, old_codec.Encode({*ToPayload(std::string("secret"))}));
  EXPECT_EQ(EncodingOf(sealed[0]), "binary/encrypted");
  EXPECT_EQ(sealed[0].metadata().at("encryption-key-id"), "test-key-id");
  EXPECT_EQ(sealed[0].data().find("secret"), std::string::npos);
  // The newer ring reads the older key's payloads and writes with k2, which
  // the older ring cannot read: KeyError naming it.
  ASSERT_OK_AND_ASSIGN(auto opened, new_codec.Decode(sealed));
  EXPECT_EQ(*FromPayload<std::string>(opened[0]), "secret");
  ASSERT_OK_AND_ASSIGN(auto newer, new_codec.Encode({*ToPayload(std::string("x"))}));
  EXPECT_EQ(newer[0].metadata().at("encryption-key-id"), "k2");
  auto refused = old_codec.Decode(newer);
  EXPECT_TRUE(refused.status().IsKeyError()) << refused.status();
  EXPECT_NE(refused.status().message().find("'k2'"), std::string::npos);
  sealed[0].mutable_data()->back() ^= 1;
  EXPECT_TRUE(new_codec.Decode(sealed).status().IsInvalid());
  // Payloads of other encodings pass through.
  ASSERT_OK_AND_ASSIGN(auto plain, new_codec.Decode({*ToPayload(7)}));
  EXPECT_EQ(*FromPayload<int>(plain[0]), 7);
}

}  // namespace
}  // namespace flightdeck::temporal
