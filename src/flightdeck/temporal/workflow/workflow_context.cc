#include "flightdeck/temporal/workflow/workflow_context.h"

#include "flightdeck/temporal/workflow/internal/workflow_run.h"

namespace flightdeck::temporal::workflow {

void CancelHandle::Cancel() const {
  if (run_ != nullptr) run_->Cancel(kind_, seq_);
}

const WorkflowInfo& WorkflowContext::info() const { return run_->info(); }
std::chrono::system_clock::time_point WorkflowContext::Now() const { return run_->now(); }
uint64_t WorkflowContext::Random() { return run_->NextRandom(); }
bool WorkflowContext::IsReplaying() const { return run_->replaying(); }

void WorkflowContext::Log(LogLevel level, std::string_view message) const {
  if (run_->replaying() || !LogEnabled(level)) return;
  ::flightdeck::Log(level, "[workflow_id=" + run_->info().workflow_id + " run_id=" +
                               run_->info().run_id + "] " + std::string(message));
}

void WorkflowContext::CountMetric(std::string_view name, MetricLabels labels, double value) const {
  if (run_->replaying() || run_->metrics() == nullptr) return;
  const WorkflowInfo& info = run_->info();
  labels.insert(labels.begin(), {{"namespace", info.namespace_name},
                                 {"task_queue", info.task_queue},
                                 {"workflow_type", info.workflow_type}});
  run_->metrics()->Count(name, labels, value);
}

Started<Payloads> WorkflowContext::StartActivityRaw(std::string type, const ActivityOptions& options,
                                                    Payloads args) {
  return run_->ScheduleActivity(std::move(type), options, std::move(args));
}

Started<void> WorkflowContext::NewTimer(Duration duration) { return run_->StartTimer(duration); }

Future<void> WorkflowContext::WaitCondition(std::function<bool()> condition) {
  return run_->AddCondition(std::move(condition));
}

Future<Payloads> WorkflowContext::ReceiveSignalRaw(const std::string& name) {
  return run_->ReceiveSignal(name);
}

std::optional<Payloads> WorkflowContext::TryReceiveSignalRaw(const std::string& name) {
  return run_->TryReceiveSignal(name);
}

void WorkflowContext::SetSignalHandlerRaw(const std::string& name,
                                          std::function<void(const Payloads&)> handler) {
  run_->SetSignalHandler(name, std::move(handler));
}

void WorkflowContext::SetQueryHandlerRaw(
    const std::string& name, std::function<arrow::Result<Payload>(const Payloads&)> handler) {
  run_->SetQueryHandler(name, std::move(handler));
}

arrow::Result<Payload> WorkflowContext::SideEffectRaw(
    const std::function<arrow::Result<Payload>()>& fn) {
  return run_->SideEffect(fn);
}

bool WorkflowContext::Patched(const std::string& patch_id) { return run_->Patched(patch_id, false); }
void WorkflowContext::DeprecatePatch(const std::string& patch_id) { run_->Patched(patch_id, true); }

bool WorkflowContext::IsCancelRequested() const { return run_->cancel_requested(); }
Future<void> WorkflowContext::CancelRequested() { return run_->CancelRequestedFuture(); }

Started<Payloads> WorkflowContext::StartChildWorkflowRaw(std::string type,
                                                         const ChildWorkflowOptions& options,
                                                         Payloads args) {
  return run_->StartChild(std::move(type), options, std::move(args));
}

arrow::Status WorkflowContext::ContinueAsNewRaw(const ContinueAsNewOptions& options, Payloads args) {
  return run_->RequestContinueAsNew(options, std::move(args));
}

bool WorkflowContext::ContinueAsNewSuggested() const { return run_->continue_as_new_suggested(); }

}  // namespace flightdeck::temporal::workflow
