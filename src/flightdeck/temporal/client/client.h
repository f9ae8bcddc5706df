// flightdeck/temporal/client/client.h: the Temporal client: start, signal,
// query, describe, cancel, terminate, list and wait for workflows.
//
// A Client talks to one namespace over a shared Connection. Every call
// returns arrow::Status / arrow::Result; an RPC failure carries a
// GrpcStatusDetail (use GrpcCodeOf) and, for Temporal's typed failures, the
// helpers of workflow_errors.h. Unary calls are retried with backoff as
// RpcRetryOptions describe; waiting for a result long-polls history.
//
//   ARROW_ASSIGN_OR_RAISE(auto conn, Connection::Connect({.target = "127.0.0.1:7233"}));
//   ARROW_ASSIGN_OR_RAISE(auto client, Client::Make(conn, {.ns = "default"}));
//   ARROW_ASSIGN_OR_RAISE(WorkflowHandle handle,
//       client->StartWorkflow({.id = "greet-1", .type = "Greet", .task_queue = "q"},
//                             std::string("world")));
//   ARROW_ASSIGN_OR_RAISE(std::string greeting, client->GetResult<std::string>(handle));
//
// Payloads travel through the data converter (payload_converter.h) for the
// typed overloads and through the client's CodecChain for every user payload
// (inputs, signal/query arguments, memo, results, failure details); search
// attributes and headers are never encoded by the codecs.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/client/rpc_retry.h"
#include "flightdeck/temporal/client/workflow_errors.h"
#include "flightdeck/temporal/client/workflow_options.h"
#include "flightdeck/temporal/converter/payload_codec.h"
#include "flightdeck/temporal/converter/payload_converter.h"
#include "temporal/api/enums/v1/query.pb.h"
#include "temporal/api/history/v1/message.pb.h"
#include "temporal/api/workflow/v1/message.pb.h"
#include "temporal/api/workflowservice/v1/request_response.pb.h"

namespace flightdeck::temporal {

struct ClientOptions {
  /// The namespace every call addresses.
  std::string ns = "default";
  /// Shown in history events; empty uses the Connection's identity.
  std::string identity;
  /// Applied to every user payload (see the file comment).
  CodecChain codecs;
  /// Retries of unary calls.
  RpcRetryOptions retry;
  /// Client deadline of one history long poll (the server answers idle polls
  /// after ~20 s with an empty page).
  std::chrono::milliseconds long_poll_timeout{std::chrono::seconds(70)};
};

struct QueryOptions {
  /// Reject the query instead of running it when the workflow is closed
  /// (NOT_OPEN) or did not complete cleanly (NOT_COMPLETED_CLEANLY).
  ::temporal::api::enums::v1::QueryRejectCondition reject_condition =
      ::temporal::api::enums::v1::QUERY_REJECT_CONDITION_NONE;
  /// Deadline of the call (a query waits until a worker answers); 0 = the
  /// connection's rpc_timeout.
  std::chrono::milliseconds timeout{0};
};

struct GetResultOptions {
  /// Follow continue-as-new, workflow retries and cron runs to the last run.
  bool follow_runs = true;
  /// Give up after this long; 0 = wait as long as the workflow runs.
  std::chrono::milliseconds timeout{0};
};

struct HistoryOptions {
  /// Events per page asked of the server; 0 = server default.
  int32_t page_size = 0;
};

/// One page of ListWorkflowExecutions.
/// A workflow execution status as people write it: "running", "completed",
/// "failed", "canceled", "terminated", "continued_as_new", "timed_out".
std::string StatusName(::temporal::api::enums::v1::WorkflowExecutionStatus status);

struct WorkflowPage {
  std::vector<::temporal::api::workflow::v1::WorkflowExecutionInfo> executions;
  /// Pass to the next ListPage call; empty on the last page.
  std::string next_page_token;
};

/// Thread-safe: any number of threads may call any method at once. Lives as
/// long as its shared_ptr; keeps the Connection alive.
///
/// Error codes, unless a method says otherwise: Invalid for bad arguments
/// (checked before any RPC, message names the field); otherwise the status
/// of the failed RPC after retries (GrpcCodeOf gives the gRPC code; Arrow
/// code as FromGrpcStatus maps it: NOT_FOUND -> KeyError, ALREADY_EXISTS ->
/// AlreadyExists, INVALID_ARGUMENT -> Invalid, others IOError...).
class Client {
 public:
  /// Does not contact the server. Invalid when `options.ns` is empty or
  /// `connection` is null.
  static arrow::Result<std::shared_ptr<Client>> Make(std::shared_ptr<Connection> connection,
                                                     ClientOptions options = {});
  ~Client();

  /// The namespace every call addresses. Constant.
  const std::string& ns() const;
  /// The identity written into history events. Constant.
  const std::string& identity() const;
  /// The shared connection. Constant.
  const std::shared_ptr<Connection>& connection() const;

  /// Starts a workflow with `args` (one payload per argument, before codecs).
  /// The request id (options.request_id or a fresh UUIDv4) is the same on
  /// every retry, so a retried start returns the run it created. Returns the
  /// handle of the new run, or of the running one with started=false under
  /// USE_EXISTING. A running workflow with the same id under the FAIL
  /// conflict policy (or a closed one the reuse policy forbids) gives
  /// AlreadyExists (gRPC ALREADY_EXISTS); its message names the existing
  /// run id, and AlreadyStartedFailureOf(status) returns it.
  arrow::Result<WorkflowHandle> StartWorkflow(const StartWorkflowOptions& options,
                                              Payloads args);

  /// StartWorkflow with each argument converted by ToPayload (a single
  /// Payloads argument selects the untyped overload above instead).
  template <typename... Args>
  arrow::Result<WorkflowHandle> StartWorkflow(const StartWorkflowOptions& options,
                                              const Args&... args) {
    ARROW_ASSIGN_OR_RAISE(Payloads payloads, TypedArgs(args...));
    return StartWorkflow(options, std::move(payloads));
  }

  /// Sends signal `name` to `handle` (empty run_id = current run). KeyError
  /// (NOT_FOUND) when the workflow is closed or absent.
  arrow::Status Signal(const WorkflowHandle& handle, std::string_view name, Payloads args = {});

  /// Signal with typed arguments.
  template <typename... Args>
  arrow::Status Signal(const WorkflowHandle& handle, std::string_view name, const Args&... args) {
    ARROW_ASSIGN_OR_RAISE(Payloads payloads, TypedArgs(args...));
    return Signal(handle, name, std::move(payloads));
  }

  /// Signals the running workflow `options.id`, starting it first (with
  /// `start_args`) when none runs. The handle has started=true when a new run
  /// was created. Conflict policy FAIL is rejected with Invalid.
  arrow::Result<WorkflowHandle> SignalWithStart(const StartWorkflowOptions& options,
                                                std::string_view signal_name,
                                                Payloads signal_args, Payloads start_args = {});

  /// Runs query `name` on a worker and returns its (decoded) result. Blocks
  /// until a worker answers or the deadline passes (IOError,
  /// DEADLINE_EXCEEDED: no worker polls the task queue). A handler that
  /// raised gives Invalid (INVALID_ARGUMENT) whose message holds the
  /// handler's failure (QueryFailedOf(status) returns it). A query rejected by
  /// options.reject_condition gives Invalid naming the workflow status (no
  /// gRPC code).
  arrow::Result<Payloads> Query(const WorkflowHandle& handle, std::string_view name,
                                Payloads args = {}, const QueryOptions& options = {});

  /// Query with typed arguments and result: `Query<int>(handle, "count")`.
  template <typename T, typename... Args>
  arrow::Result<T> Query(const WorkflowHandle& handle, std::string_view name,
                         const Args&... args) {
    ARROW_ASSIGN_OR_RAISE(Payloads payloads, TypedArgs(args...));
    ARROW_ASSIGN_OR_RAISE(Payloads result, Query(handle, name, std::move(payloads)));
    return FromPayloads<T>(result);
  }

  /// DescribeWorkflowExecution: status, times, history length, pending
  /// activities and children.
  arrow::Result<::temporal::api::workflowservice::v1::DescribeWorkflowExecutionResponse>
  Describe(const WorkflowHandle& handle);

  /// Asks the workflow to cancel (WorkflowExecutionCancelRequested); the
  /// workflow decides how to react. Succeeds if it is already closed. The
  /// request id is reused across retries.
  arrow::Status Cancel(const WorkflowHandle& handle, std::string_view reason = "");

  /// Ends the workflow at once (WorkflowExecutionTerminated); no worker is
  /// involved. KeyError (NOT_FOUND) when it is not running.
  arrow::Status Terminate(const WorkflowHandle& handle, std::string_view reason = "",
                          Payloads details = {});

  /// One page of workflows matching the visibility `query` (e.g.
  /// "WorkflowType = 'Greet' AND ExecutionStatus = 'Running'"; empty = all).
  /// Visibility is eventually consistent: a just-started workflow may be
  /// missing for a moment.
  arrow::Result<WorkflowPage> ListPage(std::string_view query, int32_t page_size = 0,
                                       std::string next_page_token = "");

  /// Every workflow matching `query`, following all pages.
  arrow::Result<std::vector<::temporal::api::workflow::v1::WorkflowExecutionInfo>> List(
      std::string_view query, int32_t page_size = 0);

  /// CountWorkflowExecutions (eventually consistent, like List).
  arrow::Result<int64_t> Count(std::string_view query);

  /// The full history of one run, following every page (empty pages
  /// included); payloads are returned as stored (not codec-decoded).
  /// SerializationError when event ids are not contiguous from 1.
  arrow::Result<::temporal::api::history::v1::History> GetHistory(
      const WorkflowHandle& handle, const HistoryOptions& options = {});

  /// Waits for the run to close and returns its result (codec-decoded;
  /// empty Payloads = no value). With follow_runs, continue-as-new, retries
  /// and cron runs are followed to the last run (protocol doc 2.8). A run
  /// that did not complete gives a status with a WorkflowFailureDetail:
  /// ExecutionError for failed / terminated / timed out, Cancelled for
  /// canceled; the message names the workflow, the run and the failure (or
  /// the termination reason). IOError with gRPC DEADLINE_EXCEEDED when
  /// options.timeout passes first.
  arrow::Result<Payloads> GetResult(const WorkflowHandle& handle,
                                    const GetResultOptions& options = {});

  /// GetResult decoded into T (empty result decodes like binary/null).
  template <typename T>
  arrow::Result<T> GetResult(const WorkflowHandle& handle, const GetResultOptions& options = {}) {
    ARROW_ASSIGN_OR_RAISE(Payloads result, GetResult(handle, options));
    return FromPayloads<T>(result);
  }

 private:
  template <typename... Args>
  static arrow::Result<Payloads> TypedArgs(const Args&... args) {
    if constexpr (sizeof...(Args) == 0) {
      return Payloads{};
    } else {
      return ToPayloads(args...);
    }
  }

  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flightdeck::temporal
