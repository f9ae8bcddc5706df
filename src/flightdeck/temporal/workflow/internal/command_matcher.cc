// Matching command events in history against the commands workflow code
// produced (protocol doc 5.8), and the descriptions used in
// nondeterminism messages.
#include <nlohmann/json.hpp>

#include "flightdeck/temporal/converter/payload_converter.h"
#include "flightdeck/temporal/workflow/internal/proto_util.h"
#include "flightdeck/temporal/workflow/internal/workflow_run.h"

namespace flightdeck::temporal::workflow::internal {

namespace enums = ::temporal::api::enums::v1;
using MarkerDetails = google::protobuf::Map<std::string, Payloads>;

namespace {

class NondeterminismDetail : public arrow::StatusDetail {
 public:
  static constexpr char kTypeId[] = "flightdeck::temporal::workflow::Nondeterminism";
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override { return "nondeterminism"; }
};

// "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED" -> "ActivityTaskScheduled".
std::string Camel(const std::string& enum_name, const std::string& prefix) {
  std::string out;
  bool upper = true;
  for (size_t i = prefix.size(); i < enum_name.size(); ++i) {
    const char c = enum_name[i];
    if (c == '_') {
      upper = true;
      continue;
    }
    out += upper ? c : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    upper = false;
  }
  return out;
}

// The id a marker is matched by: side-effect counter or patch id.
std::string MarkerId(const std::string& name, const MarkerDetails& details) {
  if (name == kSideEffectMarker) {
    auto it = details.find(kSideEffectIdKey);
    if (it != details.end() && it->second.payloads_size() > 0) return it->second.payloads(0).data();
  } else if (name == kPatchMarker) {
    auto it = details.find(kPatchDataKey);
    if (it != details.end() && it->second.payloads_size() > 0) {
      auto json = FromPayload<nlohmann::json>(it->second.payloads(0));
      if (json.ok() && json->contains("id")) return (*json)["id"].get<std::string>();
    }
  }
  return "";
}

bool IsDeprecatedPatch(const HistoryEvent& event) {
  if (event.event_type() != enums::EVENT_TYPE_MARKER_RECORDED) return false;
  const auto& attrs = event.marker_recorded_event_attributes();
  if (attrs.marker_name() != kPatchMarker) return false;
  auto it = attrs.details().find(kPatchDataKey);
  if (it == attrs.details().end() || it->second.payloads_size() == 0) return false;
  auto json = FromPayload<nlohmann::json>(it->second.payloads(0));
  return json.ok() && json->value("deprecated", false);
}

}  // namespace

arrow::Status Nondeterminism(const std::string& message) {
  return arrow::Status(arrow::StatusCode::Invalid, "nondeterministic workflow: " + message,
                       std::make_shared<NondeterminismDetail>());
}

bool IsNondeterminism(const arrow::Status& status) {
  return status.detail() != nullptr &&
         std::string_view(status.detail()->type_id()) == NondeterminismDetail::kTypeId;
}

std::string DescribeEvent(const HistoryEvent& event) {
  std::string out = "event " + std::to_string(event.event_id()) + " " +
                    Camel(enums::EventType_Name(event.event_type()), "EVENT_TYPE_");
  switch (event.event_type()) {
    case enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: {
      const auto& a = event.activity_task_scheduled_event_attributes();
      return out + "(activity_id=" + a.activity_id() + ", type=" + a.activity_type().name() + ")";
    }
    case enums::EVENT_TYPE_TIMER_STARTED:
      return out + "(timer_id=" + event.timer_started_event_attributes().timer_id() + ")";
    case enums::EVENT_TYPE_TIMER_CANCELED:
      return out + "(timer_id=" + event.timer_canceled_event_attributes().timer_id() + ")";
    case enums::EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED:
      return out + "(scheduled_event_id=" +
             std::to_string(event.activity_task_cancel_requested_event_attributes().scheduled_event_id()) +
             ")";
    case enums::EVENT_TYPE_MARKER_RECORDED: {
      const auto& a = event.marker_recorded_event_attributes();
      return out + "(name=" + a.marker_name() + ", id=" + MarkerId(a.marker_name(), a.details()) + ")";
    }
    case enums::EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: {
      const auto& a = event.start_child_workflow_execution_initiated_event_attributes();
      return out + "(workflow_id=" + a.workflow_id() + ", type=" + a.workflow_type().name() + ")";
    }
    default:
      return out;
  }
}

std::string DescribeCommand(const Command& command) {
  std::string out = Camel(enums::CommandType_Name(command.command_type()), "COMMAND_TYPE_");
  switch (command.command_type()) {
    case enums::COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK: {
      const auto& a = command.schedule_activity_task_command_attributes();
      return out + "(activity_id=" + a.activity_id() + ", type=" + a.activity_type().name() + ")";
    }
    case enums::COMMAND_TYPE_START_TIMER:
      return out + "(timer_id=" + command.start_timer_command_attributes().timer_id() + ")";
    case enums::COMMAND_TYPE_CANCEL_TIMER:
      return out + "(timer_id=" + command.cancel_timer_command_attributes().timer_id() + ")";
    case enums::COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK:
      return out + "(scheduled_event_id=" +
             std::to_string(command.request_cancel_activity_task_command_attributes().scheduled_event_id()) +
             ")";
    case enums::COMMAND_TYPE_RECORD_MARKER: {
      const auto& a = command.record_marker_command_attributes();
      return out + "(name=" + a.marker_name() + ", id=" + MarkerId(a.marker_name(), a.details()) + ")";
    }
    case enums::COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION: {
      const auto& a = command.start_child_workflow_execution_command_attributes();
      return out + "(workflow_id=" + a.workflow_id() + ", type=" + a.workflow_type().name() + ")";
    }
    default:
      return out;
  }
}

arrow::Status WorkflowRun::MatchCommandEvent(const HistoryEvent& event) {
  if (commands_.empty()) {
    if (IsDeprecatedPatch(event)) return arrow::Status::OK();
    return Nondeterminism(DescribeEvent(event) +
                          " has no matching command: the workflow code did not produce it");
  }
  PendingCommand& pending = commands_.front();
  const Command& command = pending.command;
  bool match = false;
  switch (event.event_type()) {
    case enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: {
      const auto& e = event.activity_task_scheduled_event_attributes();
      const auto& c = command.schedule_activity_task_command_attributes();
      match = command.command_type() == enums::COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK &&
              e.activity_id() == c.activity_id() && e.activity_type().name() == c.activity_type().name();
      if (match) {
        activities_[pending.seq].scheduled_event_id = event.event_id();
        activity_by_event_[event.event_id()] = pending.seq;
      }
      break;
    }
    case enums::EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED:
      match = command.command_type() == enums::COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK &&
              event.activity_task_cancel_requested_event_attributes().scheduled_event_id() ==
                  command.request_cancel_activity_task_command_attributes().scheduled_event_id();
      break;
    case enums::EVENT_TYPE_TIMER_STARTED:
      match = command.command_type() == enums::COMMAND_TYPE_START_TIMER &&
              event.timer_started_event_attributes().timer_id() ==
                  command.start_timer_command_attributes().timer_id();
      if (match) {
        timers_[pending.seq].started_event_id = event.event_id();
        timer_by_event_[event.event_id()] = pending.seq;
      }
      break;
    case enums::EVENT_TYPE_TIMER_CANCELED:
      match = command.command_type() == enums::COMMAND_TYPE_CANCEL_TIMER &&
              event.timer_canceled_event_attributes().timer_id() ==
                  command.cancel_timer_command_attributes().timer_id();
      break;
    case enums::EVENT_TYPE_MARKER_RECORDED: {
      const auto& e = event.marker_recorded_event_attributes();
      const auto& c = command.record_marker_command_attributes();
      match = command.command_type() == enums::COMMAND_TYPE_RECORD_MARKER &&
              e.marker_name() == c.marker_name() &&
              MarkerId(e.marker_name(), e.details()) == MarkerId(c.marker_name(), c.details());
      break;
    }
    case enums::EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: {
      const auto& e = event.start_child_workflow_execution_initiated_event_attributes();
      const auto& c = command.start_child_workflow_execution_command_attributes();
      match = command.command_type() == enums::COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION &&
              e.workflow_id() == c.workflow_id() && e.workflow_type().name() == c.workflow_type().name();
      if (match) {
        children_[pending.seq].initiated_event_id = event.event_id();
        child_by_event_[event.event_id()] = pending.seq;
      }
      break;
    }
    case enums::EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
      match = command.command_type() == enums::COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION &&
              event.request_cancel_external_workflow_execution_initiated_event_attributes()
                      .workflow_execution()
                      .workflow_id() ==
                  command.request_cancel_external_workflow_execution_command_attributes().workflow_id();
      break;
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
      match = command.command_type() == enums::COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION;
      break;
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
      match = command.command_type() == enums::COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION;
      break;
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
      match = command.command_type() == enums::COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION;
      break;
    case enums::EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
      match = command.command_type() == enums::COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION;
      break;
    default:
      break;
  }
  if (!match) {
    if (IsDeprecatedPatch(event)) return arrow::Status::OK();
    return Nondeterminism(DescribeEvent(event) + " does not match command " +
                          DescribeCommand(command) + " produced by the workflow code");
  }
  commands_.pop_front();
  return arrow::Status::OK();
}

void WorkflowRun::IndexMarkers(const std::vector<HistoryEvent>& sequence) {
  for (const auto& event : sequence) {
    if (event.event_type() != enums::EVENT_TYPE_MARKER_RECORDED) continue;
    const auto& attrs = event.marker_recorded_event_attributes();
    const std::string id = MarkerId(attrs.marker_name(), attrs.details());
    if (attrs.marker_name() == kSideEffectMarker) {
      auto data = attrs.details().find(kSideEffectDataKey);
      if (data != attrs.details().end() && data->second.payloads_size() > 0) {
        try {
          peek_side_effects_[std::stoll(id)] = data->second.payloads(0);
        } catch (const std::exception&) {
          // Malformed id: the marker will not match and replay reports it.
        }
      }
    } else if (attrs.marker_name() == kPatchMarker) {
      peek_patches_.insert(id);
    }
  }
}

}  // namespace flightdeck::temporal::workflow::internal
