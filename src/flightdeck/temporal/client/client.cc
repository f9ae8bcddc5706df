#include "flightdeck/temporal/client/client.h"

#include <cctype>
#include <cstdio>
#include <mutex>
#include <optional>

#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include "flightdeck/common/random.h"
#include "flightdeck/temporal/client/grpc_status.h"
#include "flightdeck/temporal/client/rpc_retry_internal.h"

namespace flightdeck::temporal {

namespace wfs = ::temporal::api::workflowservice::v1;
namespace common_v1 = ::temporal::api::common::v1;
namespace enums_v1 = ::temporal::api::enums::v1;
namespace failure_v1 = ::temporal::api::failure::v1;
namespace history_v1 = ::temporal::api::history::v1;
using google::protobuf::util::TimeUtil;

namespace {

void SetDuration(std::chrono::milliseconds value, google::protobuf::Duration* out) {
  *out = TimeUtil::MillisecondsToDuration(value.count());
}

arrow::Status EncodeMap(const CodecChain& codecs, const std::map<std::string, Payload>& values,
                        google::protobuf::Map<std::string, Payload>* out) {
  if (values.empty()) return arrow::Status::OK();
  std::vector<Payload> payloads;
  payloads.reserve(values.size());
  for (const auto& [key, value] : values) payloads.push_back(value);
  ARROW_ASSIGN_OR_RAISE(payloads, codecs.Encode(std::move(payloads)));
  if (payloads.size() != values.size()) {
    return arrow::Status::Invalid("payload codec changed the number of memo payloads");
  }
  size_t index = 0;
  for (const auto& [key, value] : values) (*out)[key] = std::move(payloads[index++]);
  return arrow::Status::OK();
}

/// Decodes every user payload of a failure chain in place.
arrow::Status DecodeFailure(const CodecChain& codecs, failure_v1::Failure* failure) {
  for (int depth = 0; failure != nullptr && depth < 64; ++depth) {
    if (failure->has_application_failure_info()) {
      ARROW_RETURN_NOT_OK(
          codecs.Decode(failure->mutable_application_failure_info()->mutable_details()));
    }
    if (failure->has_canceled_failure_info()) {
      ARROW_RETURN_NOT_OK(
          codecs.Decode(failure->mutable_canceled_failure_info()->mutable_details()));
    }
    if (failure->has_timeout_failure_info()) {
      ARROW_RETURN_NOT_OK(codecs.Decode(
          failure->mutable_timeout_failure_info()->mutable_last_heartbeat_details()));
    }
    if (failure->has_encoded_attributes()) {
      ARROW_ASSIGN_OR_RAISE(auto decoded, codecs.Decode({failure->encoded_attributes()}));
      if (decoded.size() == 1) *failure->mutable_encoded_attributes() = std::move(decoded[0]);
    }
    failure = failure->has_cause() ? failure->mutable_cause() : nullptr;
  }
  return arrow::Status::OK();
}

/// Fills the fields StartWorkflowExecutionRequest and
/// SignalWithStartWorkflowExecutionRequest share.
template <typename Request>
arrow::Status FillStart(const StartWorkflowOptions& options, const CodecChain& codecs,
                        const std::string& ns, const std::string& identity, Payloads args,
                        Request* request) {
  request->set_namespace_(ns);
  request->set_workflow_id(options.id);
  request->mutable_workflow_type()->set_name(options.type);
  request->mutable_task_queue()->set_name(options.task_queue);
  request->mutable_task_queue()->set_kind(enums_v1::TASK_QUEUE_KIND_NORMAL);
  ARROW_RETURN_NOT_OK(codecs.Encode(&args));
  if (args.payloads_size() > 0) *request->mutable_input() = std::move(args);
  if (options.execution_timeout.count() > 0) {
    SetDuration(options.execution_timeout, request->mutable_workflow_execution_timeout());
  }
  if (options.run_timeout.count() > 0) {
    SetDuration(options.run_timeout, request->mutable_workflow_run_timeout());
  }
  if (options.task_timeout.count() > 0) {
    SetDuration(options.task_timeout, request->mutable_workflow_task_timeout());
  }
  if (options.start_delay.count() > 0) {
    SetDuration(options.start_delay, request->mutable_workflow_start_delay());
  }
  request->set_identity(identity);
  request->set_request_id(options.request_id.empty() ? NewUuidV4() : options.request_id);
  request->set_workflow_id_reuse_policy(options.id_reuse_policy);
  request->set_workflow_id_conflict_policy(options.id_conflict_policy);
  if (options.retry_policy) {
    const RetryPolicy& policy = *options.retry_policy;
    auto* out = request->mutable_retry_policy();
    if (policy.initial_interval.count() > 0) {
      SetDuration(policy.initial_interval, out->mutable_initial_interval());
    }
    out->set_backoff_coefficient(policy.backoff_coefficient);
    if (policy.maximum_interval.count() > 0) {
      SetDuration(policy.maximum_interval, out->mutable_maximum_interval());
    }
    out->set_maximum_attempts(policy.maximum_attempts);
    for (const auto& type : policy.non_retryable_error_types) {
      out->add_non_retryable_error_types(type);
    }
  }
  request->set_cron_schedule(options.cron_schedule);
  ARROW_RETURN_NOT_OK(EncodeMap(codecs, options.memo, request->mutable_memo()->mutable_fields()));
  for (const auto& [key, value] : options.search_attributes) {
    (*request->mutable_search_attributes()->mutable_indexed_fields())[key] = value;
  }
  for (const auto& [key, value] : options.header) {
    (*request->mutable_header()->mutable_fields())[key] = value;
  }
  return arrow::Status::OK();
}

void SetExecution(const WorkflowHandle& handle, common_v1::WorkflowExecution* out) {
  out->set_workflow_id(handle.workflow_id);
  out->set_run_id(handle.run_id);
}

arrow::Status CheckHandle(const WorkflowHandle& handle) {
  if (handle.workflow_id.empty()) return arrow::Status::Invalid("workflow handle has no workflow id");
  return arrow::Status::OK();
}

}  // namespace

struct Client::Impl {
  // Constant after construction.
  std::shared_ptr<Connection> connection;
  ClientOptions options;

  // Whether INTERNAL is final (server capability), asked once on demand.
  std::mutex mutex;
  std::optional<bool> internal_errors_final;  // guarded by mutex

  bool InternalErrorsFinal() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (internal_errors_final) return *internal_errors_final;
    }
    auto info = connection->GetSystemInfo();
    if (!info.ok()) return false;  // unknown yet: treat INTERNAL as transient
    const bool final_errors = info->capabilities().internal_error_differentiation();
    std::lock_guard<std::mutex> lock(mutex);
    internal_errors_final = final_errors;
    return final_errors;
  }

  /// One unary call with retries. `method` is a Stub member function.
  template <typename Request, typename Response, typename Method>
  arrow::Status Call(std::string_view rpc, Method method, const Request& request,
                     Response* response, std::chrono::milliseconds timeout = {},
                     bool long_poll = false) {
    auto& stub = connection->workflow_service();
    return internal::CallWithRetry(
        options.retry, rpc, long_poll,
        [&] { return connection->NewContext(options.ns, timeout); },
        [&](grpc::ClientContext* context) {
          response->Clear();
          return (stub.*method)(context, request, response);
        },
        [this] { return InternalErrorsFinal(); });
  }

  arrow::Result<Payloads> DecodePayloads(Payloads payloads) const {
    ARROW_RETURN_NOT_OK(options.codecs.Decode(&payloads));
    return payloads;
  }

  // The outcome of the close event that ends `run`: when `follow_runs` and
  // the run continued in another, that run's id in *next_run (and an empty
  // result); else the run's result or its close error.
  arrow::Result<Payloads> CloseOutcome(const history_v1::HistoryEvent& event, const std::string& workflow_id,
                                       const std::string& run, bool follow_runs, std::string* next_run) const {
    next_run->clear();
    switch (event.event_type()) {
      case enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: {
        const auto& attrs = event.workflow_execution_completed_event_attributes();
        if (Follow(attrs.new_execution_run_id(), follow_runs, next_run)) return Payloads{};
        return DecodePayloads(attrs.result());
      }
      case enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: {
        const auto& attrs = event.workflow_execution_failed_event_attributes();
        if (Follow(attrs.new_execution_run_id(), follow_runs, next_run)) return Payloads{};
        return CloseError(WorkflowFailureKind::kFailed, workflow_id, run, attrs.failure(),
                          attrs.retry_state());
      }
      case enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: {
        const auto& attrs = event.workflow_execution_timed_out_event_attributes();
        if (Follow(attrs.new_execution_run_id(), follow_runs, next_run)) return Payloads{};
        failure_v1::Failure failure;
        failure.set_message("workflow timed out");
        failure.mutable_timeout_failure_info()->set_timeout_type(
            enums_v1::TIMEOUT_TYPE_START_TO_CLOSE);
        return CloseError(WorkflowFailureKind::kTimedOut, workflow_id, run, std::move(failure),
                          attrs.retry_state());
      }
      case enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: {
        const auto& attrs = event.workflow_execution_continued_as_new_event_attributes();
        if (Follow(attrs.new_execution_run_id(), follow_runs, next_run)) return Payloads{};
        return arrow::Status::Invalid("workflow ", workflow_id, " (run ", run,
                                      ") continued as new run ", attrs.new_execution_run_id(),
                                      " and follow_runs is off");
      }
      case enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: {
        const auto& attrs = event.workflow_execution_canceled_event_attributes();
        failure_v1::Failure failure;
        failure.set_message("workflow canceled");
        *failure.mutable_canceled_failure_info()->mutable_details() = attrs.details();
        return CloseError(WorkflowFailureKind::kCanceled, workflow_id, run, std::move(failure),
                          enums_v1::RETRY_STATE_UNSPECIFIED);
      }
      case enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: {
        const auto& attrs = event.workflow_execution_terminated_event_attributes();
        failure_v1::Failure failure;
        failure.set_message(attrs.reason());
        failure.mutable_terminated_failure_info();
        if (attrs.has_details()) {
          // Kept where a Failure carries details, so the codecs decode them.
          failure_v1::Failure details_holder;
          *details_holder.mutable_application_failure_info()->mutable_details() =
              attrs.details();
          *failure.mutable_cause() = std::move(details_holder);
          failure.mutable_cause()->set_message("termination details");
        }
        return CloseError(WorkflowFailureKind::kTerminated, workflow_id, run, std::move(failure),
                          enums_v1::RETRY_STATE_UNSPECIFIED);
      }
      default:
        return arrow::Status::SerializationError("history of workflow ", workflow_id, " (run ", run, ") ends with ",
                                                 enums_v1::EventType_Name(event.event_type()), ", not a close event");
    }
  }

  static bool Follow(const std::string& next, bool follow_runs, std::string* next_run) {
    if (!follow_runs || next.empty()) return false;
    *next_run = next;
    return true;
  }

  arrow::Status CloseError(WorkflowFailureKind kind, const std::string& workflow_id,
                           const std::string& run_id, failure_v1::Failure failure,
                           enums_v1::RetryState retry_state) const {
    ARROW_RETURN_NOT_OK(DecodeFailure(options.codecs, &failure));
    std::string message = "workflow " + workflow_id + " (" +
                          (run_id.empty() ? std::string("current run") : "run " + run_id) +
                          ") " + std::string(WorkflowFailureKindName(kind));
    const std::string described = DescribeFailure(failure);
    if (!described.empty()) message += ": " + described;
    if (retry_state != enums_v1::RETRY_STATE_UNSPECIFIED &&
        kind != WorkflowFailureKind::kCanceled && kind != WorkflowFailureKind::kTerminated) {
      message += " [retry state " + enums_v1::RetryState_Name(retry_state) + "]";
    }
    auto detail = std::make_shared<WorkflowFailureDetail>(kind, workflow_id, run_id,
                                                          std::move(failure), retry_state);
    const arrow::StatusCode code = kind == WorkflowFailureKind::kCanceled
                                       ? arrow::StatusCode::Cancelled
                                       : arrow::StatusCode::ExecutionError;
    return arrow::Status(code, std::move(message), std::move(detail));
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

arrow::Result<std::shared_ptr<Client>> Client::Make(std::shared_ptr<Connection> connection,
                                                    ClientOptions options) {
  if (!connection) return arrow::Status::Invalid("Client needs a Connection");
  if (options.ns.empty()) return arrow::Status::Invalid("Client namespace is empty");
  if (options.identity.empty()) options.identity = connection->identity();
  if (options.long_poll_timeout.count() <= 0) {
    return arrow::Status::Invalid("Client long_poll_timeout must be positive");
  }
  auto impl = std::make_unique<Impl>();
  impl->connection = std::move(connection);
  impl->options = std::move(options);
  return std::shared_ptr<Client>(new Client(std::move(impl)));
}

const std::string& Client::ns() const { return impl_->options.ns; }
const std::string& Client::identity() const { return impl_->options.identity; }
const std::shared_ptr<Connection>& Client::connection() const { return impl_->connection; }

arrow::Result<WorkflowHandle> Client::StartWorkflow(const StartWorkflowOptions& options,
                                                    Payloads args) {
  ARROW_RETURN_NOT_OK(ValidateStartWorkflowOptions(options));
  wfs::StartWorkflowExecutionRequest request;
  ARROW_RETURN_NOT_OK(FillStart(options, impl_->options.codecs, impl_->options.ns,
                                impl_->options.identity, std::move(args), &request));
  wfs::StartWorkflowExecutionResponse response;
  arrow::Status status = impl_->Call("StartWorkflowExecution",
                                     &wfs::WorkflowService::Stub::StartWorkflowExecution, request,
                                     &response);
  if (!status.ok()) {
    if (auto already = AlreadyStartedFailureOf(status)) {
      return status.WithMessage("workflow ", options.id, " is already started (run ",
                                already->run_id(), "): ", status.message());
    }
    return status;
  }
  return WorkflowHandle{options.id, response.run_id(), response.started()};
}

arrow::Status Client::Signal(const WorkflowHandle& handle, std::string_view name, Payloads args) {
  ARROW_RETURN_NOT_OK(CheckHandle(handle));
  if (name.empty()) return arrow::Status::Invalid("signal name is empty");
  wfs::SignalWorkflowExecutionRequest request;
  request.set_namespace_(impl_->options.ns);
  SetExecution(handle, request.mutable_workflow_execution());
  request.set_signal_name(std::string(name));
  ARROW_RETURN_NOT_OK(impl_->options.codecs.Encode(&args));
  if (args.payloads_size() > 0) *request.mutable_input() = std::move(args);
  request.set_identity(impl_->options.identity);
  request.set_request_id(NewUuidV4());
  wfs::SignalWorkflowExecutionResponse response;
  return impl_->Call("SignalWorkflowExecution",
                     &wfs::WorkflowService::Stub::SignalWorkflowExecution, request, &response);
}

arrow::Result<WorkflowHandle> Client::SignalWithStart(const StartWorkflowOptions& options,
                                                      std::string_view signal_name,
                                                      Payloads signal_args, Payloads start_args) {
  ARROW_RETURN_NOT_OK(ValidateStartWorkflowOptions(options));
  if (signal_name.empty()) return arrow::Status::Invalid("signal name is empty");
  if (options.id_conflict_policy == enums_v1::WORKFLOW_ID_CONFLICT_POLICY_FAIL) {
    return arrow::Status::Invalid(
        "signal-with-start of workflow ", options.id,
        " cannot use conflict policy FAIL (it signals the running workflow)");
  }
  wfs::SignalWithStartWorkflowExecutionRequest request;
  ARROW_RETURN_NOT_OK(FillStart(options, impl_->options.codecs, impl_->options.ns,
                                impl_->options.identity, std::move(start_args), &request));
  request.set_signal_name(std::string(signal_name));
  ARROW_RETURN_NOT_OK(impl_->options.codecs.Encode(&signal_args));
  if (signal_args.payloads_size() > 0) *request.mutable_signal_input() = std::move(signal_args);
  wfs::SignalWithStartWorkflowExecutionResponse response;
  ARROW_RETURN_NOT_OK(impl_->Call("SignalWithStartWorkflowExecution",
                                  &wfs::WorkflowService::Stub::SignalWithStartWorkflowExecution,
                                  request, &response));
  return WorkflowHandle{options.id, response.run_id(), response.started()};
}

arrow::Result<Payloads> Client::Query(const WorkflowHandle& handle, std::string_view name,
                                      Payloads args, const QueryOptions& options) {
  ARROW_RETURN_NOT_OK(CheckHandle(handle));
  if (name.empty()) return arrow::Status::Invalid("query name is empty");
  wfs::QueryWorkflowRequest request;
  request.set_namespace_(impl_->options.ns);
  SetExecution(handle, request.mutable_execution());
  request.mutable_query()->set_query_type(std::string(name));
  ARROW_RETURN_NOT_OK(impl_->options.codecs.Encode(&args));
  if (args.payloads_size() > 0) *request.mutable_query()->mutable_query_args() = std::move(args);
  request.set_query_reject_condition(options.reject_condition);
  wfs::QueryWorkflowResponse response;
  arrow::Status status = impl_->Call("QueryWorkflow", &wfs::WorkflowService::Stub::QueryWorkflow,
                                     request, &response, options.timeout);
  if (!status.ok()) {
    if (auto failed = QueryFailedOf(status)) {
      failure_v1::Failure failure = failed->failure();
      ARROW_RETURN_NOT_OK(DecodeFailure(impl_->options.codecs, &failure));
      // Servers put the handler's error in the gRPC message and (newer ones)
      // also in the failure; say both when they differ.
      std::string described = DescribeFailure(failure);
      if (!described.empty() && status.message().find(failure.message()) == std::string::npos) {
        described = ": " + described;
      } else {
        described.clear();
      }
      return status.WithMessage("query '", name, "' on workflow ", handle.workflow_id,
                                " failed: ", status.message(), described);
    }
    return status;
  }
  if (response.has_query_rejected()) {
    return arrow::Status::Invalid(
        "query '", name, "' on workflow ", handle.workflow_id, " rejected: workflow is ",
        enums_v1::WorkflowExecutionStatus_Name(response.query_rejected().status()));
  }
  return impl_->DecodePayloads(std::move(*response.mutable_query_result()));
}

arrow::Result<wfs::DescribeWorkflowExecutionResponse> Client::Describe(
    const WorkflowHandle& handle) {
  ARROW_RETURN_NOT_OK(CheckHandle(handle));
  wfs::DescribeWorkflowExecutionRequest request;
  request.set_namespace_(impl_->options.ns);
  SetExecution(handle, request.mutable_execution());
  wfs::DescribeWorkflowExecutionResponse response;
  ARROW_RETURN_NOT_OK(impl_->Call("DescribeWorkflowExecution",
                                  &wfs::WorkflowService::Stub::DescribeWorkflowExecution, request,
                                  &response));
  return response;
}

arrow::Status Client::Cancel(const WorkflowHandle& handle, std::string_view reason) {
  ARROW_RETURN_NOT_OK(CheckHandle(handle));
  wfs::RequestCancelWorkflowExecutionRequest request;
  request.set_namespace_(impl_->options.ns);
  SetExecution(handle, request.mutable_workflow_execution());
  request.set_identity(impl_->options.identity);
  request.set_request_id(NewUuidV4());
  request.set_reason(std::string(reason));
  wfs::RequestCancelWorkflowExecutionResponse response;
  return impl_->Call("RequestCancelWorkflowExecution",
                     &wfs::WorkflowService::Stub::RequestCancelWorkflowExecution, request,
                     &response);
}

arrow::Status Client::Terminate(const WorkflowHandle& handle, std::string_view reason,
                                Payloads details) {
  ARROW_RETURN_NOT_OK(CheckHandle(handle));
  wfs::TerminateWorkflowExecutionRequest request;
  request.set_namespace_(impl_->options.ns);
  SetExecution(handle, request.mutable_workflow_execution());
  request.set_reason(std::string(reason));
  ARROW_RETURN_NOT_OK(impl_->options.codecs.Encode(&details));
  if (details.payloads_size() > 0) *request.mutable_details() = std::move(details);
  request.set_identity(impl_->options.identity);
  wfs::TerminateWorkflowExecutionResponse response;
  return impl_->Call("TerminateWorkflowExecution",
                     &wfs::WorkflowService::Stub::TerminateWorkflowExecution, request, &response);
}

arrow::Result<WorkflowPage> Client::ListPage(std::string_view query, int32_t page_size,
                                             std::string next_page_token) {
  if (page_size < 0) return arrow::Status::Invalid("page size ", page_size, " is negative");
  wfs::ListWorkflowExecutionsRequest request;
  request.set_namespace_(impl_->options.ns);
  request.set_page_size(page_size);
  request.set_next_page_token(std::move(next_page_token));
  request.set_query(std::string(query));
  wfs::ListWorkflowExecutionsResponse response;
  ARROW_RETURN_NOT_OK(impl_->Call("ListWorkflowExecutions",
                                  &wfs::WorkflowService::Stub::ListWorkflowExecutions, request,
                                  &response));
  WorkflowPage page;
  page.executions.assign(std::make_move_iterator(response.mutable_executions()->begin()),
                         std::make_move_iterator(response.mutable_executions()->end()));
  page.next_page_token = std::move(*response.mutable_next_page_token());
  return page;
}

arrow::Result<std::vector<::temporal::api::workflow::v1::WorkflowExecutionInfo>> Client::List(
    std::string_view query, int32_t page_size) {
  std::vector<::temporal::api::workflow::v1::WorkflowExecutionInfo> all;
  std::string token;
  do {
    ARROW_ASSIGN_OR_RAISE(WorkflowPage page, ListPage(query, page_size, std::move(token)));
    for (auto& info : page.executions) all.push_back(std::move(info));
    token = std::move(page.next_page_token);
  } while (!token.empty());
  return all;
}

arrow::Result<int64_t> Client::Count(std::string_view query) {
  wfs::CountWorkflowExecutionsRequest request;
  request.set_namespace_(impl_->options.ns);
  request.set_query(std::string(query));
  wfs::CountWorkflowExecutionsResponse response;
  ARROW_RETURN_NOT_OK(impl_->Call("CountWorkflowExecutions",
                                  &wfs::WorkflowService::Stub::CountWorkflowExecutions, request,
                                  &response));
  return response.count();
}

arrow::Result<history_v1::History> Client::GetHistory(const WorkflowHandle& handle,
                                                      const HistoryOptions& options) {
  ARROW_RETURN_NOT_OK(CheckHandle(handle));
  if (options.page_size < 0) {
    return arrow::Status::Invalid("page size ", options.page_size, " is negative");
  }
  history_v1::History history;
  std::string token;
  do {
    wfs::GetWorkflowExecutionHistoryRequest request;
    request.set_namespace_(impl_->options.ns);
    SetExecution(handle, request.mutable_execution());
    request.set_maximum_page_size(options.page_size);
    request.set_next_page_token(token);
    wfs::GetWorkflowExecutionHistoryResponse response;
    ARROW_RETURN_NOT_OK(impl_->Call("GetWorkflowExecutionHistory",
                                    &wfs::WorkflowService::Stub::GetWorkflowExecutionHistory,
                                    request, &response));
    for (auto& event : *response.mutable_history()->mutable_events()) {
      const int64_t expected = history.events_size() + 1;
      if (event.event_id() != expected) {
        return arrow::Status::SerializationError("history of workflow ", handle.workflow_id,
                                                 " jumps from event ", expected - 1, " to ",
                                                 event.event_id());
      }
      *history.add_events() = std::move(event);
    }
    token = std::move(*response.mutable_next_page_token());
  } while (!token.empty());
  return history;
}

arrow::Result<Payloads> Client::GetResult(const WorkflowHandle& handle,
                                          const GetResultOptions& options) {
  ARROW_RETURN_NOT_OK(CheckHandle(handle));
  using Clock = std::chrono::steady_clock;
  const bool bounded = options.timeout.count() > 0;
  const auto deadline = Clock::now() + options.timeout;
  std::string run_id = handle.run_id;
  std::string token;
  while (true) {
    std::chrono::milliseconds poll_timeout = impl_->options.long_poll_timeout;
    if (bounded) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        return FromGrpcStatus(
            grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                         "no result of workflow " + handle.workflow_id + " within " +
                             std::to_string(options.timeout.count()) + " ms"),
            "GetResult");
      }
      poll_timeout = std::min(poll_timeout, left);
    }
    wfs::GetWorkflowExecutionHistoryRequest request;
    request.set_namespace_(impl_->options.ns);
    request.mutable_execution()->set_workflow_id(handle.workflow_id);
    request.mutable_execution()->set_run_id(run_id);
    request.set_wait_new_event(true);
    request.set_history_event_filter_type(enums_v1::HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT);
    request.set_skip_archival(true);
    request.set_next_page_token(token);
    wfs::GetWorkflowExecutionHistoryResponse response;
    arrow::Status status = impl_->Call("GetWorkflowExecutionHistory",
                                       &wfs::WorkflowService::Stub::GetWorkflowExecutionHistory,
                                       request, &response, poll_timeout);
    if (!status.ok()) {
      // An expired client deadline on a long poll is routine: poll again
      // (the loop head ends it when our own timeout has passed).
      if (GrpcCodeOf(status) == grpc::StatusCode::DEADLINE_EXCEEDED) continue;
      return status;
    }
    const auto& events = response.history().events();
    if (events.empty()) {
      token = std::move(*response.mutable_next_page_token());
      continue;  // long poll expired on the server
    }
    std::string next_run;
    auto outcome = impl_->CloseOutcome(events[events.size() - 1], handle.workflow_id, run_id,
                                       options.follow_runs, &next_run);
    if (!next_run.empty()) {
      run_id = std::move(next_run);
      token.clear();
      continue;
    }
    return outcome;
  }
}

std::string StatusName(enums_v1::WorkflowExecutionStatus status) {
  std::string name = enums_v1::WorkflowExecutionStatus_Name(status);
  const std::string prefix = "WORKFLOW_EXECUTION_STATUS_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace flightdeck::temporal
