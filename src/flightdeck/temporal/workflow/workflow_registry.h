// flightdeck/temporal/workflow/workflow_registry.h: workflows by name.
//
// A workflow is a function `Task<R>(WorkflowContext&, Args...)`. Register it
// under the workflow type name clients start it with; arguments and result go
// through the payload converter (one payload per argument).
//
//   Task<std::string> Greet(WorkflowContext& ctx, std::string name);
//   WorkflowRegistry registry;
//   ARROW_RETURN_NOT_OK(registry.Register("Greet", &Greet));
#pragma once

#include <map>
#include <optional>
#include <string>
#include <tuple>

#include <arrow/status.h>

#include "flightdeck/temporal/converter/failure.h"
#include "flightdeck/temporal/workflow/internal/typed.h"
#include "flightdeck/temporal/workflow/internal/workflow_run.h"
#include "flightdeck/temporal/workflow/workflow_context.h"

namespace flightdeck::temporal::workflow {

namespace internal {

template <typename R, typename... Args>
Task<std::optional<Payload>> InvokeTyped(Task<R> (*fn)(WorkflowContext&, Args...),
                                         WorkflowContext& ctx, Payloads input) {
  auto args = ::flightdeck::temporal::internal::DecodeArgs<std::decay_t<Args>...>(input);
  if (!args.ok()) {
    co_return ApplicationError("InvalidArgument",
                               "workflow " + ctx.info().workflow_type +
                                   ": cannot decode input: " + args.status().message(),
                               /*non_retryable=*/true);
  }
  Outcome<R> outcome =
      co_await std::apply([&](auto&... values) { return fn(ctx, values...); }, *args);
  if constexpr (std::is_void_v<R>) {
    if (!outcome.ok()) co_return outcome;
    co_return std::optional<Payload>();
  } else {
    if (!outcome.ok()) co_return outcome.status();
    co_return ::flightdeck::temporal::internal::EncodeResult(*outcome);
  }
}

}  // namespace internal

/// Not thread-safe for registration; register everything before a worker
/// starts, after which concurrent Find() calls are safe.
class WorkflowRegistry {
 public:
  /// Registers a type-erased workflow. AlreadyExists when `name` is taken,
  /// Invalid when it is empty.
  arrow::Status RegisterRaw(const std::string& name, WorkflowFunction function) {
    if (name.empty()) return arrow::Status::Invalid("workflow type name must not be empty");
    if (!workflows_.emplace(name, std::move(function)).second) {
      return arrow::Status::AlreadyExists("workflow type '", name, "' is already registered");
    }
    return arrow::Status::OK();
  }

  /// Registers `fn` under `name`. Undecodable input fails the workflow with
  /// a non-retryable "InvalidArgument" application error.
  template <typename R, typename... Args>
  arrow::Status Register(const std::string& name, Task<R> (*fn)(WorkflowContext&, Args...)) {
    return RegisterRaw(name, [fn](WorkflowContext& ctx, const Payloads& input) {
      return internal::InvokeTyped(fn, ctx, input);
    });
  }

  /// The workflow registered as `name`, or nullptr. Valid while the
  /// registry lives.
  const WorkflowFunction* Find(const std::string& name) const {
    auto it = workflows_.find(name);
    return it == workflows_.end() ? nullptr : &it->second;
  }

  /// Registered names, sorted.
  std::string Names() const {
    std::string out;
    for (const auto& [name, fn] : workflows_) out += (out.empty() ? "" : ", ") + name;
    return out;
  }

 private:
  std::map<std::string, WorkflowFunction> workflows_;
};

}  // namespace flightdeck::temporal::workflow
