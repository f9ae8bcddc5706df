#include "flightdeck/temporal/converter/payload_converter.h"

#include <map>

#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/temporal/converter/payload_codec.h"

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

}  // namespace
}  // namespace flightdeck::temporal
