// The Client against a real `temporal server start-dev` (EmbeddedTemporal):
// every call, its errors, and its effect on history. The tests that need
// workflows to run use the official Python SDK worker
// (client_test_worker.py) as a subprocess, so they are also interop tests
// between our client and temporalio.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "flightdeck/common/random.h"
#include "flightdeck/common/subprocess.h"
#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/temporal/client/client.h"
#include "flightdeck/temporal/client/grpc_status.h"
#include "flightdeck/temporal/client/history_export.h"
#include "flightdeck/temporal/testing/embedded_temporal.h"

namespace flightdeck::temporal {
namespace {

namespace wfs = ::temporal::api::workflowservice::v1;
namespace enums_v1 = ::temporal::api::enums::v1;
namespace history_v1 = ::temporal::api::history::v1;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<const history_v1::HistoryEvent*> EventsOf(const history_v1::History& history,
                                                     enums_v1::EventType type) {
  std::vector<const history_v1::HistoryEvent*> out;
  for (const auto& event : history.events()) {
    if (event.event_type() == type) out.push_back(&event);
  }
  return out;
}

class ClientIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::flightdeck::testing::FreshTestDir("fd-client-it");
    auto server = EmbeddedTemporal::Start(
        {.state_dir = (dir_ / "server").string(),
         .extra_args = {"--search-attribute", "FdCustomer=Keyword"}});
    ASSERT_OK(server);
    server_ = std::move(*server);
    ASSERT_OK_AND_ASSIGN(conn_, Connection::Connect({.target = server_->target(),
                                                     .identity = "client-it"}));
    ASSERT_OK_AND_ASSIGN(client_, Client::Make(conn_, {.ns = "default"}));
  }

  void TearDown() override {
    if (worker_) {
      EXPECT_OK(worker_->Stop(seconds(10)));
      if (HasFailure()) std::cerr << "python worker log:\n" << ReadFile(dir_ / "worker.log");
    }
    worker_.reset();
    server_.reset();
    fs::remove_all(dir_);
  }

  /// Starts the Python SDK worker on `task_queue` and waits until the server
  /// sees it polling.
  void StartPythonWorker(const std::string& task_queue) {
    ASSERT_OK_AND_ASSIGN(
        worker_, Subprocess::Start({.argv = {FLIGHTDECK_TEST_PYTHON, FLIGHTDECK_CLIENT_WORKER_SCRIPT,
                                             "--target", server_->target(), "--namespace",
                                             "default", "--task-queue", task_queue},
                                    .log_path = (dir_ / "worker.log").string()}));
    const bool polling = testing::WaitFor(
        [&] {
          if (!worker_->Running()) return true;  // reported below
          wfs::DescribeTaskQueueRequest request;
          request.set_namespace_("default");
          request.mutable_task_queue()->set_name(task_queue);
          request.mutable_task_queue()->set_kind(enums_v1::TASK_QUEUE_KIND_NORMAL);
          request.set_task_queue_type(enums_v1::TASK_QUEUE_TYPE_WORKFLOW);
          wfs::DescribeTaskQueueResponse response;
          auto context = conn_->NewContext("default");
          auto status = conn_->workflow_service().DescribeTaskQueue(context.get(), request,
                                                                   &response);
          return status.ok() && response.pollers_size() > 0;
        },
        seconds(60));
    ASSERT_TRUE(worker_->Running()) << "python worker exited:\n" << ReadFile(dir_ / "worker.log");
    ASSERT_TRUE(polling) << "python worker not polling after 60 s:\n"
                         << ReadFile(dir_ / "worker.log");
  }

  fs::path dir_;
  std::unique_ptr<EmbeddedTemporal> server_;
  std::shared_ptr<Connection> conn_;
  std::shared_ptr<Client> client_;
  std::unique_ptr<Subprocess> worker_;
};

// No worker polls "idle-queue": workflows started there stay running.
constexpr char kIdleQueue[] = "idle-queue";

TEST_F(ClientIntegrationTest, StartDedupesByRequestIdAndAppliesIdPolicies) {
  StartWorkflowOptions options{.id = "start-1", .type = "Idle", .task_queue = kIdleQueue};
  options.request_id = NewUuidV4();
  options.execution_timeout = std::chrono::minutes(10);
  options.memo["note"] = *ToPayload(std::string("hello memo"));
  ASSERT_OK_AND_ASSIGN(options.search_attributes["FdCustomer"],
                       SearchAttributePayload(SearchAttributeType::kKeyword, "c-7"));
  ASSERT_OK_AND_ASSIGN(WorkflowHandle first, client_->StartWorkflow(options, 1, "two"));
  EXPECT_EQ(first.workflow_id, "start-1");
  EXPECT_FALSE(first.run_id.empty());
  EXPECT_TRUE(first.started);

  // Same request id (a retried start): the same run, no error.
  ASSERT_OK_AND_ASSIGN(WorkflowHandle again, client_->StartWorkflow(options, 1, "two"));
  EXPECT_EQ(again.run_id, first.run_id);

  // A new logical start under the default FAIL policy: already started.
  options.request_id.clear();
  auto conflict = client_->StartWorkflow(options);
  ASSERT_TRUE(conflict.status().IsAlreadyExists()) << conflict.status().ToString();
  EXPECT_EQ(GrpcCodeOf(conflict.status()), grpc::StatusCode::ALREADY_EXISTS);
  auto already = AlreadyStartedFailureOf(conflict.status());
  ASSERT_TRUE(already.has_value()) << conflict.status().ToString();
  EXPECT_EQ(already->run_id(), first.run_id);
  EXPECT_NE(conflict.status().message().find(first.run_id), std::string::npos);

  // USE_EXISTING: the running run, started = false.
  options.id_conflict_policy = enums_v1::WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING;
  ASSERT_OK_AND_ASSIGN(WorkflowHandle existing, client_->StartWorkflow(options));
  EXPECT_EQ(existing.run_id, first.run_id);
  EXPECT_FALSE(existing.started);

  // Describe shows what the start carried.
  ASSERT_OK_AND_ASSIGN(auto described, client_->Describe(first));
  const auto& info = described.workflow_execution_info();
  EXPECT_EQ(info.type().name(), "Idle");
  EXPECT_EQ(info.status(), enums_v1::WORKFLOW_EXECUTION_STATUS_RUNNING);
  EXPECT_EQ(info.task_queue(), kIdleQueue);
  ASSERT_TRUE(info.memo().fields().contains("note"));
  EXPECT_EQ(*FromPayload<std::string>(info.memo().fields().at("note")), "hello memo");
  ASSERT_TRUE(info.search_attributes().indexed_fields().contains("FdCustomer"));
  EXPECT_EQ(info.search_attributes().indexed_fields().at("FdCustomer").data(), "\"c-7\"");
  EXPECT_EQ(described.execution_config().workflow_execution_timeout().seconds(), 600);
  ASSERT_OK_AND_ASSIGN(auto history, client_->GetHistory(first));
  const auto& input =
      history.events(0).workflow_execution_started_event_attributes().input();
  ASSERT_EQ(input.payloads_size(), 2);
  EXPECT_EQ(*FromPayload<int>(input.payloads(0)), 1);
  EXPECT_EQ(*FromPayload<std::string>(input.payloads(1)), "two");

  // TERMINATE_EXISTING: a new run; the old one is terminated.
  options.id_conflict_policy = enums_v1::WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING;
  ASSERT_OK_AND_ASSIGN(WorkflowHandle replaced, client_->StartWorkflow(options));
  EXPECT_NE(replaced.run_id, first.run_id);
  ASSERT_OK_AND_ASSIGN(auto old_run, client_->Describe(first));
  EXPECT_EQ(old_run.workflow_execution_info().status(),
            enums_v1::WORKFLOW_EXECUTION_STATUS_TERMINATED);

  // REJECT_DUPLICATE on a closed id: refused with ALREADY_EXISTS.
  ASSERT_OK(client_->Terminate(replaced, "make room"));
  options.id_conflict_policy = enums_v1::WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED;
  options.id_reuse_policy = enums_v1::WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE;
  ASSERT_RAISES(AlreadyExists, client_->StartWorkflow(options));
  options.id_reuse_policy = enums_v1::WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE;
  ASSERT_OK(client_->StartWorkflow(options));

  // Unknown workflow: NOT_FOUND.
  auto missing = client_->Describe(WorkflowHandle{"no-such-workflow"});
  ASSERT_TRUE(missing.status().IsKeyError()) << missing.status().ToString();
  EXPECT_EQ(GrpcCodeOf(missing.status()), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ClientIntegrationTest, SignalAndSignalWithStartAppearInHistory) {
  ASSERT_OK_AND_ASSIGN(
      WorkflowHandle handle,
      client_->StartWorkflow({.id = "signal-1", .type = "Idle", .task_queue = kIdleQueue}));
  ASSERT_OK(client_->Signal(handle, "add", std::string("apple"), 3));
  ASSERT_OK(client_->Signal(WorkflowHandle{"signal-1"}, "finish"));  // current run
  ASSERT_OK_AND_ASSIGN(auto history, client_->GetHistory(handle));
  auto signals = EventsOf(history, enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
  ASSERT_EQ(signals.size(), 2u);
  const auto& add = signals[0]->workflow_execution_signaled_event_attributes();
  EXPECT_EQ(add.signal_name(), "add");
  EXPECT_EQ(add.identity(), "client-it");
  ASSERT_EQ(add.input().payloads_size(), 2);
  EXPECT_EQ(*FromPayload<std::string>(add.input().payloads(0)), "apple");
  EXPECT_EQ(*FromPayload<int>(add.input().payloads(1)), 3);
  EXPECT_EQ(signals[1]->workflow_execution_signaled_event_attributes().signal_name(), "finish");

  auto lost = client_->Signal(WorkflowHandle{"never-started"}, "add");
  ASSERT_TRUE(lost.IsKeyError()) << lost.ToString();
  EXPECT_EQ(GrpcCodeOf(lost), grpc::StatusCode::NOT_FOUND);

  // Signal-with-start creates the run with the signal before the first task.
  StartWorkflowOptions options{.id = "sws-1", .type = "Idle", .task_queue = kIdleQueue};
  ASSERT_OK_AND_ASSIGN(Payloads signal_args, ToPayloads(std::string("first")));
  ASSERT_OK_AND_ASSIGN(Payloads start_args, ToPayloads(std::string("input")));
  ASSERT_OK_AND_ASSIGN(WorkflowHandle created,
                       client_->SignalWithStart(options, "add", signal_args, start_args));
  EXPECT_TRUE(created.started);
  ASSERT_OK_AND_ASSIGN(auto created_history, client_->GetHistory(created));
  ASSERT_GE(created_history.events_size(), 3);
  EXPECT_EQ(created_history.events(0).event_type(),
            enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  EXPECT_EQ(created_history.events(1).event_type(),
            enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
  EXPECT_EQ(created_history.events(2).event_type(), enums_v1::EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
  EXPECT_EQ(*FromPayload<std::string>(created_history.events(1)
                                          .workflow_execution_signaled_event_attributes()
                                          .input()
                                          .payloads(0)),
            "first");

  // Again: signals the running run instead of starting one.
  ASSERT_OK_AND_ASSIGN(Payloads second, ToPayloads(std::string("second")));
  ASSERT_OK_AND_ASSIGN(WorkflowHandle signaled, client_->SignalWithStart(options, "add", second));
  EXPECT_FALSE(signaled.started);
  EXPECT_EQ(signaled.run_id, created.run_id);
  ASSERT_OK_AND_ASSIGN(created_history, client_->GetHistory(created));
  EXPECT_EQ(EventsOf(created_history, enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED).size(),
            2u);
}

TEST_F(ClientIntegrationTest, CancelTerminateAndTheirResults) {
  ASSERT_OK_AND_ASSIGN(
      WorkflowHandle handle,
      client_->StartWorkflow({.id = "cancel-1", .type = "Idle", .task_queue = kIdleQueue}));
  ASSERT_OK(client_->Cancel(handle, "no longer needed"));
  ASSERT_OK_AND_ASSIGN(auto history, client_->GetHistory(handle));
  auto requested =
      EventsOf(history, enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED);
  ASSERT_EQ(requested.size(), 1u);
  EXPECT_EQ(requested[0]->workflow_execution_cancel_requested_event_attributes().cause(),
            "no longer needed");

  // Nobody runs the workflow: a bounded wait ends with DEADLINE_EXCEEDED.
  auto waited = client_->GetResult(handle, {.timeout = milliseconds(1500)});
  ASSERT_FALSE(waited.ok());
  EXPECT_EQ(GrpcCodeOf(waited.status()), grpc::StatusCode::DEADLINE_EXCEEDED)
      << waited.status().ToString();
  EXPECT_NE(waited.status().message().find("cancel-1"), std::string::npos);

  // A query waits for a worker; with none it ends at its deadline.
  auto unanswered = client_->Query(handle, "state", {}, {.timeout = milliseconds(1000)});
  ASSERT_FALSE(unanswered.ok());
  EXPECT_EQ(GrpcCodeOf(unanswered.status()), grpc::StatusCode::DEADLINE_EXCEEDED)
      << unanswered.status().ToString();

  ASSERT_OK_AND_ASSIGN(Payloads details, ToPayloads(std::string("ticket-9")));
  ASSERT_OK(client_->Terminate(handle, "operator stop", details));
  ASSERT_OK_AND_ASSIGN(auto described, client_->Describe(handle));
  EXPECT_EQ(described.workflow_execution_info().status(),
            enums_v1::WORKFLOW_EXECUTION_STATUS_TERMINATED);

  auto result = client_->GetResult(handle);
  ASSERT_TRUE(result.status().IsExecutionError()) << result.status().ToString();
  EXPECT_NE(result.status().message().find("terminated"), std::string::npos);
  EXPECT_NE(result.status().message().find("operator stop"), std::string::npos);
  const WorkflowFailureDetail* failure = WorkflowFailureOf(result.status());
  ASSERT_NE(failure, nullptr);
  EXPECT_EQ(failure->kind(), WorkflowFailureKind::kTerminated);
  EXPECT_EQ(failure->run_id(), handle.run_id);
  EXPECT_EQ(failure->failure().message(), "operator stop");
  EXPECT_TRUE(failure->failure().has_terminated_failure_info());
  EXPECT_EQ(*FromPayloads<std::string>(
                failure->failure().cause().application_failure_info().details()),
            "ticket-9");

  auto twice = client_->Terminate(handle, "again");
  ASSERT_TRUE(twice.IsKeyError()) << twice.ToString();
  ASSERT_OK(client_->Cancel(handle));  // closed: succeeds, as documented
}

TEST_F(ClientIntegrationTest, ListAndCountSeeStartedWorkflows) {
  // Started from three threads at once through the one Client.
  std::vector<arrow::Result<WorkflowHandle>> started(3);
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) {
      threads.emplace_back([&, i] {
        started[i] = client_->StartWorkflow(
            {.id = "list-" + std::to_string(i), .type = "Listed", .task_queue = kIdleQueue});
      });
    }
    for (auto& thread : threads) thread.join();
  }
  std::set<std::string> run_ids;
  for (const auto& result : started) {
    ASSERT_OK(result);
    run_ids.insert(result->run_id);
  }
  EXPECT_EQ(run_ids.size(), 3u);
  ASSERT_OK(client_->StartWorkflow({.id = "other", .type = "NotListed", .task_queue = kIdleQueue}));
  const std::string query = "WorkflowType = 'Listed'";
  arrow::Result<int64_t> count = 0;
  // Visibility is eventually consistent: poll with a deadline.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        count = client_->Count(query);
        return count.ok() && *count == 3;
      },
      seconds(30)))
      << count.status().ToString() << " count " << (count.ok() ? *count : -1);

  ASSERT_OK_AND_ASSIGN(auto all, client_->List(query, /*page_size=*/1));
  ASSERT_EQ(all.size(), 3u);
  std::set<std::string> ids;
  for (const auto& info : all) {
    EXPECT_EQ(info.type().name(), "Listed");
    ids.insert(info.execution().workflow_id());
  }
  EXPECT_EQ(ids, (std::set<std::string>{"list-0", "list-1", "list-2"}));
  ASSERT_OK_AND_ASSIGN(WorkflowPage page, client_->ListPage(query, 2));
  EXPECT_EQ(page.executions.size(), 2u);
  EXPECT_FALSE(page.next_page_token.empty());

  auto bad = client_->Count("WorkflowType = ");
  ASSERT_TRUE(bad.status().IsInvalid()) << bad.status().ToString();
  EXPECT_EQ(GrpcCodeOf(bad.status()), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ClientIntegrationTest, HistoryPagesAndExportsLikeTheCli) {
  ASSERT_OK_AND_ASSIGN(
      WorkflowHandle handle,
      client_->StartWorkflow({.id = "history-1", .type = "Idle", .task_queue = kIdleQueue}));
  for (int i = 0; i < 9; ++i) ASSERT_OK(client_->Signal(handle, "tick", i));
  ASSERT_OK_AND_ASSIGN(auto whole, client_->GetHistory(handle));
  ASSERT_OK_AND_ASSIGN(auto paged, client_->GetHistory(handle, {.page_size = 2}));
  ASSERT_GE(whole.events_size(), 11);
  ASSERT_EQ(paged.events_size(), whole.events_size());
  for (int i = 0; i < whole.events_size(); ++i) {
    EXPECT_EQ(paged.events(i).event_id(), i + 1);
    EXPECT_EQ(paged.events(i).SerializeAsString(), whole.events(i).SerializeAsString());
  }

  const fs::path ours = dir_ / "ours.json";
  ASSERT_OK(WriteHistoryJsonFile(whole, ours.string()));
  ASSERT_OK_AND_ASSIGN(auto reread, ReadHistoryJsonFile(ours.string()));
  EXPECT_EQ(reread.SerializeAsString(), whole.SerializeAsString());

  // The CLI's export parses into the same events.
  const fs::path cli = dir_ / "cli.json";
  const std::string command = "'" + DefaultTemporalBinary() +
                              "' workflow show --workflow-id history-1 --output json --address " +
                              server_->target() + " --namespace default > '" + cli.string() +
                              "' 2> '" + (dir_ / "cli.err").string() + "'";
  ASSERT_OK_AND_ASSIGN(auto show, Subprocess::Start({.argv = {"/bin/sh", "-c", command}}));
  ASSERT_OK_AND_ASSIGN(int wait_status, show->Wait(seconds(60)));
  ASSERT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)
      << DescribeWaitStatus(wait_status) << ": " << ReadFile(dir_ / "cli.err");
  ASSERT_OK_AND_ASSIGN(auto from_cli, ReadHistoryJsonFile(cli.string()));
  ASSERT_EQ(from_cli.events_size(), whole.events_size());
  for (int i = 0; i < whole.events_size(); ++i) {
    EXPECT_EQ(from_cli.events(i).event_id(), whole.events(i).event_id());
    EXPECT_EQ(from_cli.events(i).event_type(), whole.events(i).event_type());
  }
  auto cli_signals = EventsOf(from_cli, enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
  ASSERT_EQ(cli_signals.size(), 9u);
  EXPECT_EQ(*FromPayloads<int>(cli_signals[8]->workflow_execution_signaled_event_attributes().input()),
            8);

  ASSERT_RAISES(KeyError, client_->GetHistory(WorkflowHandle{"no-such-workflow"}));
}

/// Wraps each payload, serialized and byte-reversed, in its own encoding:
/// the shape of the official encryption and compression codecs.
class ReversingCodec : public PayloadCodec {
 public:
  static constexpr char kEncoding[] = "binary/fd-test-reversed";

  arrow::Result<std::vector<Payload>> Encode(std::vector<Payload> payloads) const override {
    for (auto& payload : payloads) {
      std::string bytes = payload.SerializeAsString();
      std::reverse(bytes.begin(), bytes.end());
      Payload wrapped;
      (*wrapped.mutable_metadata())["encoding"] = kEncoding;
      wrapped.set_data(std::move(bytes));
      payload = std::move(wrapped);
    }
    return payloads;
  }
  arrow::Result<std::vector<Payload>> Decode(std::vector<Payload> payloads) const override {
    for (auto& payload : payloads) {
      if (EncodingOf(payload) != kEncoding) continue;
      std::string bytes = payload.data();
      std::reverse(bytes.begin(), bytes.end());
      if (!payload.ParseFromString(bytes)) return arrow::Status::Invalid("bad reversed payload");
    }
    return payloads;
  }
};

TEST_F(ClientIntegrationTest, CodecsEncodeUserPayloadsAndDecodeResults) {
  ASSERT_OK_AND_ASSIGN(
      auto coded, Client::Make(conn_, {.ns = "default",
                                       .codecs = CodecChain({std::make_shared<ReversingCodec>()})}));
  StartWorkflowOptions options{.id = "codec-1", .type = "Idle", .task_queue = kIdleQueue};
  options.memo["note"] = *ToPayload(std::string("memo text"));
  ASSERT_OK_AND_ASSIGN(options.search_attributes["FdCustomer"],
                       SearchAttributePayload(SearchAttributeType::kKeyword, "c-9"));
  ASSERT_OK_AND_ASSIGN(WorkflowHandle handle, coded->StartWorkflow(options, std::string("secret")));
  ASSERT_OK(coded->Signal(handle, "add", std::string("signal arg")));

  // On the wire (read back without the codec): inputs, memo and signal
  // arguments are encoded, search attributes are not.
  ASSERT_OK_AND_ASSIGN(auto history, client_->GetHistory(handle));
  const auto& started = history.events(0).workflow_execution_started_event_attributes();
  ASSERT_EQ(started.input().payloads_size(), 1);
  EXPECT_EQ(EncodingOf(started.input().payloads(0)), ReversingCodec::kEncoding);
  EXPECT_EQ(started.input().payloads(0).data().find("secret"), std::string::npos);
  EXPECT_EQ(EncodingOf(started.memo().fields().at("note")), ReversingCodec::kEncoding);
  EXPECT_EQ(EncodingOf(started.search_attributes().indexed_fields().at("FdCustomer")),
            encoding::kJson);
  auto signals = EventsOf(history, enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(EncodingOf(signals[0]->workflow_execution_signaled_event_attributes().input().payloads(0)),
            ReversingCodec::kEncoding);

  // Termination details come back decoded through the codec client only.
  ASSERT_OK(coded->Terminate(handle, "stop", *ToPayloads(std::string("why"))));
  auto decoded = coded->GetResult(handle);
  ASSERT_NE(WorkflowFailureOf(decoded.status()), nullptr) << decoded.status().ToString();
  EXPECT_EQ(*FromPayloads<std::string>(WorkflowFailureOf(decoded.status())
                                           ->failure()
                                           .cause()
                                           .application_failure_info()
                                           .details()),
            "why");
  auto raw = client_->GetResult(handle);
  ASSERT_NE(WorkflowFailureOf(raw.status()), nullptr) << raw.status().ToString();
  EXPECT_EQ(EncodingOf(WorkflowFailureOf(raw.status())
                           ->failure()
                           .cause()
                           .application_failure_info()
                           .details()
                           .payloads(0)),
            ReversingCodec::kEncoding);
}

constexpr char kPyQueue[] = "python-worker-queue";

TEST_F(ClientIntegrationTest, PythonWorkerResultsSignalsAndQueries) {
  ASSERT_NO_FATAL_FAILURE(StartPythonWorker(kPyQueue));

  ASSERT_OK_AND_ASSIGN(WorkflowHandle greet,
                       client_->StartWorkflow({.id = "greet-1", .type = "Greet",
                                               .task_queue = kPyQueue},
                                              std::string("world")));
  ASSERT_OK_AND_ASSIGN(std::string greeting, client_->GetResult<std::string>(greet));
  EXPECT_EQ(greeting, "Hello, world!");

  ASSERT_OK_AND_ASSIGN(WorkflowHandle add,
                       client_->StartWorkflow({.id = "add-1", .type = "Add",
                                               .task_queue = kPyQueue}, 2, 40));
  ASSERT_OK_AND_ASSIGN(int sum, client_->GetResult<int>(add));
  EXPECT_EQ(sum, 42);

  ASSERT_OK_AND_ASSIGN(WorkflowHandle collect,
                       client_->StartWorkflow({.id = "collect-1", .type = "Collect",
                                               .task_queue = kPyQueue}));
  ASSERT_OK(client_->Signal(collect, "add", std::string("apple")));
  ASSERT_OK(client_->Signal(collect, "add", std::string("pear")));
  const std::vector<std::string> expected{"apple", "pear"};
  arrow::Result<std::vector<std::string>> items;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        items = client_->Query<std::vector<std::string>>(collect, "items");
        return items.ok() && *items == expected;
      },
      seconds(30)))
      << items.status().ToString();

  auto broken = client_->Query(collect, "broken");
  ASSERT_TRUE(broken.status().IsInvalid()) << broken.status().ToString();
  EXPECT_EQ(GrpcCodeOf(broken.status()), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(broken.status().message().find("query handler refused"), std::string::npos)
      << broken.status().ToString();
  auto query_failure = QueryFailedOf(broken.status());
  ASSERT_TRUE(query_failure.has_value());  // the typed detail is there

  ASSERT_OK(client_->Signal(collect, "finish"));
  ASSERT_OK_AND_ASSIGN(auto collected, client_->GetResult<std::vector<std::string>>(collect));
  EXPECT_EQ(collected, expected);

  // Closed workflows still answer queries (the worker replays them) unless
  // the caller rejects them.
  ASSERT_OK_AND_ASSIGN(auto replayed, client_->Query<std::vector<std::string>>(collect, "items"));
  EXPECT_EQ(replayed, expected);
  auto rejected = client_->Query(collect, "items", {},
                                 {.reject_condition = enums_v1::QUERY_REJECT_CONDITION_NOT_OPEN});
  ASSERT_TRUE(rejected.status().IsInvalid()) << rejected.status().ToString();
  EXPECT_NE(rejected.status().message().find("rejected"), std::string::npos);
  EXPECT_NE(rejected.status().message().find("COMPLETED"), std::string::npos);
}

TEST_F(ClientIntegrationTest, PythonWorkerFailuresCancellationAndContinueAsNew) {
  ASSERT_NO_FATAL_FAILURE(StartPythonWorker(kPyQueue));

  ASSERT_OK_AND_ASSIGN(WorkflowHandle fail,
                       client_->StartWorkflow({.id = "fail-1", .type = "Fail",
                                               .task_queue = kPyQueue},
                                              std::string("card declined")));
  auto failed = client_->GetResult(fail);
  ASSERT_TRUE(failed.status().IsExecutionError()) << failed.status().ToString();
  EXPECT_NE(failed.status().message().find("fail-1"), std::string::npos);
  EXPECT_NE(failed.status().message().find("OrderRejected: card declined"), std::string::npos)
      << failed.status().ToString();
  const WorkflowFailureDetail* failure = WorkflowFailureOf(failed.status());
  ASSERT_NE(failure, nullptr);
  EXPECT_EQ(failure->kind(), WorkflowFailureKind::kFailed);
  EXPECT_EQ(failure->failure().message(), "card declined");
  EXPECT_EQ(failure->failure().application_failure_info().type(), "OrderRejected");
  EXPECT_TRUE(failure->failure().application_failure_info().non_retryable());
  ASSERT_OK_AND_ASSIGN(nlohmann::json details,
                       FromPayloads<nlohmann::json>(
                           failure->failure().application_failure_info().details()));
  EXPECT_EQ(details, nlohmann::json({{"code", 7}}));
  EXPECT_EQ(failure->retry_state(), enums_v1::RETRY_STATE_RETRY_POLICY_NOT_SET);  // no workflow retry policy

  // Continue-as-new is followed to the last run.
  ASSERT_OK_AND_ASSIGN(WorkflowHandle countdown,
                       client_->StartWorkflow({.id = "countdown-1", .type = "Countdown",
                                               .task_queue = kPyQueue}, 3));
  ASSERT_OK_AND_ASSIGN(std::string liftoff, client_->GetResult<std::string>(countdown));
  EXPECT_EQ(liftoff, "liftoff after True");
  ASSERT_OK_AND_ASSIGN(auto first_run, client_->Describe(countdown));
  EXPECT_EQ(first_run.workflow_execution_info().status(),
            enums_v1::WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW);
  auto not_followed = client_->GetResult(countdown, {.follow_runs = false});
  ASSERT_TRUE(not_followed.status().IsInvalid()) << not_followed.status().ToString();
  EXPECT_NE(not_followed.status().message().find("continued as new"), std::string::npos);

  // A cancel request: the Python workflow lets the cancellation end it.
  ASSERT_OK_AND_ASSIGN(WorkflowHandle collect,
                       client_->StartWorkflow({.id = "collect-cancel", .type = "Collect",
                                               .task_queue = kPyQueue}));
  ASSERT_OK(client_->Cancel(collect, "stop collecting"));
  auto canceled = client_->GetResult(collect);
  ASSERT_TRUE(canceled.status().IsCancelled()) << canceled.status().ToString();
  ASSERT_NE(WorkflowFailureOf(canceled.status()), nullptr);
  EXPECT_EQ(WorkflowFailureOf(canceled.status())->kind(), WorkflowFailureKind::kCanceled);

  // A run timeout: the server times the run out.
  ASSERT_OK_AND_ASSIGN(WorkflowHandle slow,
                       client_->StartWorkflow({.id = "collect-timeout", .type = "Collect",
                                               .task_queue = kPyQueue,
                                               .execution_timeout = seconds(2)}));
  auto timed_out = client_->GetResult(slow);
  ASSERT_TRUE(timed_out.status().IsExecutionError()) << timed_out.status().ToString();
  EXPECT_NE(timed_out.status().message().find("timed out"), std::string::npos);
  ASSERT_NE(WorkflowFailureOf(timed_out.status()), nullptr);
  EXPECT_EQ(WorkflowFailureOf(timed_out.status())->kind(), WorkflowFailureKind::kTimedOut);
}

}  // namespace
}  // namespace flightdeck::temporal
