// sdk_test_env.h: a real dev server, a connection and raw WorkflowService
// calls (start, signal, query, cancel, history, result) for the worker and
// workflow integration tests. The Client lands separately; these helpers
// only use the generated stub.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/client/grpc_status.h"
#include "flightdeck/temporal/converter/failure.h"
#include "flightdeck/temporal/converter/payload_converter.h"
#include "flightdeck/temporal/testing/embedded_temporal.h"
#include "flightdeck/temporal/worker/worker.h"
#include "temporal/api/workflowservice/v1/request_response.pb.h"

namespace flightdeck::temporal::testing {

using ::flightdeck::testing::WaitFor;
namespace wsv1 = ::temporal::api::workflowservice::v1;
namespace enums = ::temporal::api::enums::v1;
using HistoryEvent = ::temporal::api::history::v1::HistoryEvent;

inline arrow::Result<std::string> StartWorkflow(Connection& conn, const std::string& type,
                                                const std::string& workflow_id,
                                                const std::string& task_queue, Payloads input) {
  wsv1::StartWorkflowExecutionRequest request;
  request.set_namespace_("default");
  request.set_workflow_id(workflow_id);
  request.mutable_workflow_type()->set_name(type);
  request.mutable_task_queue()->set_name(task_queue);
  *request.mutable_input() = std::move(input);
  request.set_request_id(workflow_id + "-request");
  request.set_identity("test");
  wsv1::StartWorkflowExecutionResponse response;
  auto ctx = conn.NewContext("default");
  ARROW_RETURN_NOT_OK(FromGrpcStatus(conn.workflow_service().StartWorkflowExecution(ctx.get(), request, &response),
                                     "StartWorkflowExecution"));
  return response.run_id();
}

inline arrow::Status Signal(Connection& conn, const std::string& workflow_id, const std::string& name,
                            Payloads input) {
  wsv1::SignalWorkflowExecutionRequest request;
  request.set_namespace_("default");
  request.mutable_workflow_execution()->set_workflow_id(workflow_id);
  request.set_signal_name(name);
  *request.mutable_input() = std::move(input);
  request.set_identity("test");
  wsv1::SignalWorkflowExecutionResponse response;
  auto ctx = conn.NewContext("default");
  return FromGrpcStatus(conn.workflow_service().SignalWorkflowExecution(ctx.get(), request, &response),
                        "SignalWorkflowExecution");
}

inline arrow::Status RequestCancel(Connection& conn, const std::string& workflow_id) {
  wsv1::RequestCancelWorkflowExecutionRequest request;
  request.set_namespace_("default");
  request.mutable_workflow_execution()->set_workflow_id(workflow_id);
  request.set_identity("test");
  wsv1::RequestCancelWorkflowExecutionResponse response;
  auto ctx = conn.NewContext("default");
  return FromGrpcStatus(conn.workflow_service().RequestCancelWorkflowExecution(ctx.get(), request, &response),
                        "RequestCancelWorkflowExecution");
}

/// QueryWorkflow; a FAILED query comes back as an error status.
inline arrow::Result<Payloads> Query(Connection& conn, const std::string& workflow_id,
                                     const std::string& query_type) {
  wsv1::QueryWorkflowRequest request;
  request.set_namespace_("default");
  request.mutable_execution()->set_workflow_id(workflow_id);
  request.mutable_query()->set_query_type(query_type);
  wsv1::QueryWorkflowResponse response;
  auto ctx = conn.NewContext("default", std::chrono::seconds(30));
  ARROW_RETURN_NOT_OK(
      FromGrpcStatus(conn.workflow_service().QueryWorkflow(ctx.get(), request, &response), "QueryWorkflow"));
  return response.query_result();
}

/// All events of the run (current run when run_id is empty).
inline arrow::Result<std::vector<HistoryEvent>> GetHistory(Connection& conn, const std::string& workflow_id,
                                                           const std::string& run_id = "") {
  std::vector<HistoryEvent> events;
  std::string token;
  do {
    wsv1::GetWorkflowExecutionHistoryRequest request;
    request.set_namespace_("default");
    request.mutable_execution()->set_workflow_id(workflow_id);
    request.mutable_execution()->set_run_id(run_id);
    request.set_next_page_token(token);
    wsv1::GetWorkflowExecutionHistoryResponse response;
    auto ctx = conn.NewContext("default");
    ARROW_RETURN_NOT_OK(FromGrpcStatus(
        conn.workflow_service().GetWorkflowExecutionHistory(ctx.get(), request, &response),
        "GetWorkflowExecutionHistory"));
    for (const auto& e : response.history().events()) events.push_back(e);
    token = response.next_page_token();
  } while (!token.empty());
  return events;
}

/// Waits (long poll, up to `timeout`) for the run's close event.
inline arrow::Result<HistoryEvent> WaitClosed(Connection& conn, const std::string& workflow_id,
                                              const std::string& run_id = "",
                                              std::chrono::seconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string token;
  while (std::chrono::steady_clock::now() < deadline) {
    wsv1::GetWorkflowExecutionHistoryRequest request;
    request.set_namespace_("default");
    request.mutable_execution()->set_workflow_id(workflow_id);
    request.mutable_execution()->set_run_id(run_id);
    request.set_wait_new_event(true);
    request.set_history_event_filter_type(enums::HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT);
    request.set_next_page_token(token);
    wsv1::GetWorkflowExecutionHistoryResponse response;
    auto ctx = conn.NewContext("default", std::chrono::seconds(30));
    ARROW_RETURN_NOT_OK(FromGrpcStatus(
        conn.workflow_service().GetWorkflowExecutionHistory(ctx.get(), request, &response),
        "GetWorkflowExecutionHistory"));
    if (response.history().events_size() > 0) return response.history().events(0);
    token = response.next_page_token();
  }
  return arrow::Status::IOError("workflow ", workflow_id, " did not close in time");
}

/// The decoded result of a completed workflow; the failure as a Status
/// otherwise.
template <typename T>
arrow::Result<T> WaitResult(Connection& conn, const std::string& workflow_id) {
  ARROW_ASSIGN_OR_RAISE(auto event, WaitClosed(conn, workflow_id));
  if (event.event_type() == enums::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED) {
    return FailureToStatus(event.workflow_execution_failed_event_attributes().failure());
  }
  if (event.event_type() != enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED) {
    return arrow::Status::Invalid("workflow closed with ", enums::EventType_Name(event.event_type()));
  }
  return FromPayloads<T>(event.workflow_execution_completed_event_attributes().result(), 0);
}

inline int CountEvents(const std::vector<HistoryEvent>& events, enums::EventType type) {
  int n = 0;
  for (const auto& e : events) n += e.event_type() == type ? 1 : 0;
  return n;
}

/// Sums the values of each metric name the worker reports.
class MetricTotals {
 public:
  std::function<void(const WorkerMetric&)> Hook() {
    return [this](const WorkerMetric& metric) {
      std::lock_guard<std::mutex> lock(mutex_);
      totals_[metric.name] += metric.value;
      counts_[metric.name] += 1;
      max_[metric.name] = std::max(max_[metric.name], metric.value);
    };
  }
  double Total(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    return totals_[name];
  }
  int Count(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    return counts_[name];
  }
  double Max(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    return max_[name];
  }

 private:
  std::mutex mutex_;
  std::map<std::string, double> totals_;
  std::map<std::string, int> counts_;
  std::map<std::string, double> max_;
};

/// A dev server plus connection per test.
class SdkTest : public ::testing::Test {
 protected:
  /// Options of the dev server SetUp() starts; tests override to pass
  /// dynamic config.
  virtual EmbeddedTemporalOptions ServerOptions() const { return {}; }

  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(server_, EmbeddedTemporal::Start(ServerOptions()));
    ASSERT_OK_AND_ASSIGN(conn_, Connection::Connect({.target = server_->target()}));
  }
  void TearDown() override {
    for (auto& worker : workers_) EXPECT_OK(worker->Shutdown());
    workers_.clear();
  }

  /// A started worker on `task_queue` after `setup` registered things.
  Worker* NewWorker(const std::string& task_queue, const std::function<void(Worker&)>& setup,
                    WorkerOptions options = {}) {
    options.task_queue = task_queue;
    auto worker = Worker::Make(conn_, options);
    EXPECT_TRUE(worker.ok()) << worker.status().ToString();
    if (!worker.ok()) return nullptr;
    setup(**worker);
    EXPECT_OK((*worker)->Start());
    workers_.push_back(std::move(*worker));
    return workers_.back().get();
  }

  std::unique_ptr<EmbeddedTemporal> server_;
  std::shared_ptr<Connection> conn_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace flightdeck::temporal::testing
