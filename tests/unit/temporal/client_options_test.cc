// Client-side checks that need no server: option validation (start options,
// search attributes, TLS / API key), retry classification and backoff, typed
// error details parsed from a gRPC trailer, history JSON and request ids.

#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/temporal/client/client.h"
#include "flightdeck/temporal/client/grpc_status.h"
#include "flightdeck/temporal/client/history_export.h"
#include "google/rpc/status.pb.h"

namespace flightdeck::temporal {
namespace {

namespace enums_v1 = ::temporal::api::enums::v1;
namespace errordetails = ::temporal::api::errordetails::v1;

StartWorkflowOptions ValidOptions() {
  return {.id = "wf-1", .type = "Greet", .task_queue = "q"};
}

TEST(ClientOptionsTest, StartOptionsNameTheMissingOrBadField) {
  ASSERT_OK(ValidateStartWorkflowOptions(ValidOptions()));
  auto expect_invalid = [](const StartWorkflowOptions& options, const std::string& needle) {
    arrow::Status st = ValidateStartWorkflowOptions(options);
    ASSERT_TRUE(st.IsInvalid()) << st.ToString();
    EXPECT_NE(st.message().find(needle), std::string::npos) << st.ToString();
  };
  auto options = ValidOptions();
  options.id.clear();
  expect_invalid(options, "workflow id");
  options = ValidOptions();
  options.type.clear();
  expect_invalid(options, "workflow type");
  options = ValidOptions();
  options.task_queue.clear();
  expect_invalid(options, "task queue");
  options = ValidOptions();
  options.run_timeout = std::chrono::milliseconds(-5);
  expect_invalid(options, "run_timeout");
  options = ValidOptions();
  options.retry_policy = RetryPolicy{.backoff_coefficient = 0.5};
  expect_invalid(options, "backoff_coefficient");
  options = ValidOptions();
  options.cron_schedule = "* * * * *";
  options.start_delay = std::chrono::seconds(1);
  expect_invalid(options, "cron");
  options = ValidOptions();
  options.search_attributes["Customer"] = *ToPayload(std::string("c-1"));
  expect_invalid(options, "Customer");
}

TEST(ClientOptionsTest, SearchAttributesAreTypedJson) {
  ASSERT_OK_AND_ASSIGN(Payload keyword,
                       SearchAttributePayload(SearchAttributeType::kKeyword, "c-7"));
  EXPECT_EQ(keyword.metadata().at("encoding"), "json/plain");
  EXPECT_EQ(keyword.metadata().at("type"), "Keyword");
  EXPECT_EQ(keyword.data(), "\"c-7\"");
  ASSERT_OK_AND_ASSIGN(Payload list, SearchAttributePayload(SearchAttributeType::kKeywordList,
                                                            nlohmann::json{"a", "b"}));
  EXPECT_EQ(list.metadata().at("type"), "KeywordList");
  EXPECT_EQ(list.data(), "[\"a\",\"b\"]");
  ASSERT_OK_AND_ASSIGN(Payload number, SearchAttributePayload(SearchAttributeType::kInt, 42));
  EXPECT_EQ(number.data(), "42");

  auto wrong = SearchAttributePayload(SearchAttributeType::kInt, "forty-two");
  ASSERT_TRUE(wrong.status().IsInvalid());
  EXPECT_NE(wrong.status().message().find("Int"), std::string::npos);
  ASSERT_RAISES(Invalid, SearchAttributePayload(SearchAttributeType::kKeywordList,
                                                nlohmann::json{"a", 1}));
  ASSERT_RAISES(Invalid, SearchAttributePayload(SearchAttributeType::kBool, 1));
}

TEST(ClientOptionsTest, ConnectionRejectsInconsistentSecurityOptions) {
  auto no_tls = Connection::Connect({.target = "127.0.0.1:1", .api_key = "k"});
  ASSERT_TRUE(no_tls.status().IsInvalid());
  EXPECT_NE(no_tls.status().message().find("API key needs TLS"), std::string::npos);

  auto half_mtls = Connection::Connect(
      {.target = "127.0.0.1:1", .tls = TlsOptions{.client_cert_pem = "-----BEGIN CERT"}});
  ASSERT_TRUE(half_mtls.status().IsInvalid());
  EXPECT_NE(half_mtls.status().message().find("mTLS"), std::string::npos);

  ASSERT_RAISES(Invalid, Connection::Connect({.target = ""}));
  ASSERT_OK(Connection::Connect({.target = "127.0.0.1:1", .tls = TlsOptions{}, .api_key = "k"}));
}

TEST(ClientOptionsTest, ClientRejectsBadOptionsAndArgumentsBeforeAnyRpc) {
  ASSERT_RAISES(Invalid, Client::Make(nullptr));
  // Nothing listens on port 1: every check below must fail before an RPC.
  ASSERT_OK_AND_ASSIGN(auto conn, Connection::Connect({.target = "127.0.0.1:1"}));
  ASSERT_RAISES(Invalid, Client::Make(conn, {.ns = ""}));
  ASSERT_OK_AND_ASSIGN(auto client, Client::Make(conn, {.ns = "default"}));
  EXPECT_EQ(client->identity(), conn->identity());
  ASSERT_RAISES(Invalid, client->StartWorkflow(StartWorkflowOptions{}));
  ASSERT_RAISES(Invalid, client->Signal(WorkflowHandle{"wf"}, ""));
  ASSERT_RAISES(Invalid, client->Signal(WorkflowHandle{}, "go"));
  ASSERT_RAISES(Invalid, client->Query(WorkflowHandle{"wf"}, ""));
  ASSERT_RAISES(Invalid, client->GetHistory(WorkflowHandle{"wf"}, {.page_size = -1}));
  auto options = ValidOptions();
  options.id_conflict_policy = enums_v1::WORKFLOW_ID_CONFLICT_POLICY_FAIL;
  auto sws = client->SignalWithStart(options, "go", {});
  ASSERT_TRUE(sws.status().IsInvalid());
  EXPECT_NE(sws.status().message().find("FAIL"), std::string::npos);
}

TEST(RpcRetryTest, RetriesTheTransientCodesOnly) {
  using grpc::StatusCode;
  for (StatusCode code : {StatusCode::UNAVAILABLE, StatusCode::RESOURCE_EXHAUSTED,
                          StatusCode::ABORTED, StatusCode::UNKNOWN, StatusCode::DATA_LOSS,
                          StatusCode::OUT_OF_RANGE}) {
    EXPECT_TRUE(IsRetryableCode(code, true)) << GrpcCodeName(code);
  }
  for (StatusCode code : {StatusCode::INVALID_ARGUMENT, StatusCode::NOT_FOUND,
                          StatusCode::ALREADY_EXISTS, StatusCode::PERMISSION_DENIED,
                          StatusCode::UNAUTHENTICATED, StatusCode::FAILED_PRECONDITION,
                          StatusCode::CANCELLED, StatusCode::UNIMPLEMENTED}) {
    EXPECT_FALSE(IsRetryableCode(code, false)) << GrpcCodeName(code);
  }
  EXPECT_TRUE(IsRetryableCode(StatusCode::INTERNAL, /*internal_errors_final=*/false));
  EXPECT_FALSE(IsRetryableCode(StatusCode::INTERNAL, /*internal_errors_final=*/true));
  EXPECT_FALSE(IsRetryableCode(StatusCode::DEADLINE_EXCEEDED, false));
  EXPECT_TRUE(IsRetryableCode(StatusCode::DEADLINE_EXCEEDED, false, /*long_poll=*/true));
}

TEST(RpcRetryTest, BackoffGrowsIsCappedAndLongerWhenExhausted) {
  RpcRetryOptions options;  // 100 ms * 1.7^n, max 5 s; exhausted 1 s, max 10 s
  using std::chrono::milliseconds;
  const auto unavailable = grpc::StatusCode::UNAVAILABLE;
  EXPECT_EQ(BackoffDelay(options, unavailable, 1), milliseconds(100));
  EXPECT_EQ(BackoffDelay(options, unavailable, 2), milliseconds(170));
  EXPECT_EQ(BackoffDelay(options, unavailable, 3), milliseconds(288));
  EXPECT_EQ(BackoffDelay(options, unavailable, 30), milliseconds(5000));
  const auto exhausted = grpc::StatusCode::RESOURCE_EXHAUSTED;
  EXPECT_EQ(BackoffDelay(options, exhausted, 1), milliseconds(1000));
  EXPECT_EQ(BackoffDelay(options, exhausted, 30), milliseconds(10000));
  // Jitter spans [0.8, 1.2] of the delay.
  EXPECT_EQ(JitteredDelay(options, unavailable, 1, 0.0), milliseconds(80));
  EXPECT_EQ(JitteredDelay(options, unavailable, 1, 0.5), milliseconds(100));
  EXPECT_EQ(JitteredDelay(options, unavailable, 1, 1.0), milliseconds(120));
}

TEST(WorkflowErrorsTest, AlreadyStartedFailureIsReadFromTheTrailer) {
  errordetails::WorkflowExecutionAlreadyStartedFailure failure;
  failure.set_run_id("run-123");
  failure.set_start_request_id("req-1");
  google::rpc::Status rpc_status;
  rpc_status.set_code(static_cast<int>(grpc::StatusCode::ALREADY_EXISTS));
  rpc_status.add_details()->PackFrom(failure);
  arrow::Status st = FromGrpcStatus(grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "exists",
                                                 rpc_status.SerializeAsString()),
                                    "StartWorkflowExecution");
  auto parsed = AlreadyStartedFailureOf(st);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->run_id(), "run-123");
  EXPECT_EQ(parsed->start_request_id(), "req-1");
  EXPECT_FALSE(QueryFailedOf(st).has_value());  // other detail type
  EXPECT_FALSE(AlreadyStartedFailureOf(arrow::Status::Invalid("plain")).has_value());
  EXPECT_FALSE(AlreadyStartedFailureOf(FromGrpcStatus(
                   grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "x", "not a proto \xff"),
                   "Rpc"))
                   .has_value());
}

TEST(WorkflowErrorsTest, DescribeFailureWalksTheCauseChain) {
  ::temporal::api::failure::v1::Failure failure;
  failure.set_message("order rejected");
  failure.mutable_application_failure_info()->set_type("OrderRejected");
  failure.mutable_application_failure_info()->set_non_retryable(true);
  failure.mutable_cause()->set_message("card declined");
  EXPECT_EQ(DescribeFailure(failure),
            "OrderRejected: order rejected (non-retryable); caused by card declined");
  WorkflowFailureDetail detail(WorkflowFailureKind::kTerminated, "wf", "run", failure,
                               enums_v1::RETRY_STATE_UNSPECIFIED);
  arrow::Status st(arrow::StatusCode::ExecutionError, "x",
                   std::make_shared<WorkflowFailureDetail>(detail));
  ASSERT_NE(WorkflowFailureOf(st), nullptr);
  EXPECT_EQ(WorkflowFailureOf(st)->kind(), WorkflowFailureKind::kTerminated);
  EXPECT_EQ(WorkflowFailureOf(arrow::Status::Invalid("x")), nullptr);
}

TEST(HistoryExportTest, WritesAndReadsTheCliJsonFormat) {
  ::temporal::api::history::v1::History history;
  auto* started = history.add_events();
  started->set_event_id(1);
  started->set_event_type(enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  auto* attrs = started->mutable_workflow_execution_started_event_attributes();
  attrs->mutable_workflow_type()->set_name("Greet");
  *attrs->mutable_workflow_task_timeout() =
      google::protobuf::util::TimeUtil::SecondsToDuration(10);
  *attrs->mutable_input()->add_payloads() = *ToPayload(std::string("world"));
  ASSERT_OK_AND_ASSIGN(std::string json, HistoryToJson(history));
  EXPECT_NE(json.find("\"eventId\": \"1\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"EVENT_TYPE_WORKFLOW_EXECUTION_STARTED\""), std::string::npos);
  EXPECT_NE(json.find("\"workflowTaskTimeout\": \"10s\""), std::string::npos);
  EXPECT_NE(json.find("\"anNvbi9wbGFpbg==\""), std::string::npos);  // base64 "json/plain"
  ASSERT_OK_AND_ASSIGN(auto back, HistoryFromJson(json));
  EXPECT_EQ(back.SerializeAsString(), history.SerializeAsString());

  // What the CLI writes, with a field this build does not know.
  ASSERT_OK_AND_ASSIGN(auto cli, HistoryFromJson(R"({"events":[{"eventId":"1",
      "eventTime":"2025-01-01T00:00:00Z","eventType":"EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
      "someFutureField":true,"workflowExecutionStartedEventAttributes":
      {"workflowType":{"name":"Greet"}}}]})"));
  ASSERT_EQ(cli.events_size(), 1);
  EXPECT_EQ(cli.events(0).workflow_execution_started_event_attributes().workflow_type().name(),
            "Greet");

  auto bad = HistoryFromJson("{\"events\": 7}");
  ASSERT_TRUE(bad.status().IsSerializationError()) << bad.status().ToString();
  ASSERT_RAISES(IOError, ReadHistoryJsonFile("/nonexistent/history.json"));
  ASSERT_RAISES(IOError, WriteHistoryJsonFile(history, "/nonexistent/dir/history.json"));
}

}  // namespace
}  // namespace flightdeck::temporal
