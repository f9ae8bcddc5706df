#include "flightdeck/cli/run_history.h"

#include <algorithm>
#include <map>
#include <tuple>

#include <google/protobuf/util/time_util.h>
#include <nlohmann/json.hpp>

#include "flightdeck/pipeline/activities.h"
#include "flightdeck/temporal/converter/payload_converter.h"

namespace flightdeck::cli {

namespace {

namespace history_v1 = ::temporal::api::history::v1;
using google::protobuf::util::TimeUtil;

double Millis(const google::protobuf::Timestamp& t) { return static_cast<double>(TimeUtil::TimestampToMilliseconds(t)); }

// The first payload of `payloads` as JSON, or null.
nlohmann::json FirstJson(const temporal::Payloads& payloads) {
  if (payloads.payloads_size() == 0) return nullptr;
  auto json = temporal::FromPayload<nlohmann::json>(payloads.payloads(0));
  return json.ok() ? *json : nlohmann::json();
}

}  // namespace

Run ReadRun(const std::string& id, const history_v1::History& history) {
  Run run;
  run.id = id;
  if (history.events_size() == 0) return run;
  const double t0 = Millis(history.events(0).event_time());
  std::map<int64_t, size_t> by_scheduled;  // scheduled event id -> bar
  // (activity, partition, chain step) -> times scheduled: a step of a
  // partition scheduled again is a recompute.
  std::map<std::tuple<std::string, int, std::string>, int> scheduled_count;
  for (const auto& event : history.events()) {
    const double at = Millis(event.event_time()) - t0;
    run.duration_ms = std::max(run.duration_ms, at);
    if (event.has_workflow_execution_started_event_attributes()) {
      run.type = event.workflow_execution_started_event_attributes().workflow_type().name();
    } else if (event.has_activity_task_scheduled_event_attributes()) {
      const auto& attrs = event.activity_task_scheduled_event_attributes();
      Bar bar;
      bar.activity = attrs.activity_type().name();
      const nlohmann::json input = FirstJson(attrs.input());
      if (input.is_object() && input.contains("partition") && input["partition"].is_number_integer() &&
          bar.activity != pipeline::kCombineActivity && bar.activity != pipeline::kCommitActivity) {
        bar.partition = input["partition"].get<int>();
      }
      bar.scheduled_ms = at;
      bar.start_ms = at;
      const std::string step = input.is_object() && input.contains("range") ? input["range"].dump() : "";
      bar.recompute = bar.partition >= 0 && scheduled_count[{bar.activity, bar.partition, step}]++ > 0 &&
                      bar.activity == pipeline::kPartitionActivity;
      by_scheduled[event.event_id()] = run.bars.size();
      run.bars.push_back(std::move(bar));
    } else if (event.has_activity_task_started_event_attributes()) {
      const auto& attrs = event.activity_task_started_event_attributes();
      auto it = by_scheduled.find(attrs.scheduled_event_id());
      if (it != by_scheduled.end()) {
        run.bars[it->second].start_ms = at;
        run.bars[it->second].attempt = attrs.attempt();
        run.bars[it->second].outcome = "running";
      }
    } else {
      int64_t scheduled = 0;
      std::string outcome;
      int64_t rows = -1, bytes = -1;
      if (event.has_activity_task_completed_event_attributes()) {
        scheduled = event.activity_task_completed_event_attributes().scheduled_event_id();
        outcome = "completed";
        const nlohmann::json result = FirstJson(event.activity_task_completed_event_attributes().result());
        if (result.is_object() && result.contains("rows") && result["rows"].is_number()) {
          rows = result["rows"].get<int64_t>();
        }
        if (result.is_object() && result.contains("bytes") && result["bytes"].is_number()) {
          bytes = result["bytes"].get<int64_t>();
        }
      } else if (event.has_activity_task_failed_event_attributes()) {
        scheduled = event.activity_task_failed_event_attributes().scheduled_event_id();
        outcome = "failed";
      } else if (event.has_activity_task_timed_out_event_attributes()) {
        scheduled = event.activity_task_timed_out_event_attributes().scheduled_event_id();
        outcome = "timed out";
      } else if (event.has_activity_task_canceled_event_attributes()) {
        scheduled = event.activity_task_canceled_event_attributes().scheduled_event_id();
        outcome = "canceled";
      } else if (event.has_workflow_execution_completed_event_attributes()) {
        run.status = "completed";
        const nlohmann::json result = FirstJson(event.workflow_execution_completed_event_attributes().result());
        if (result.is_object()) run.source_rows = result.value("source_rows", int64_t{0});
      } else if (event.has_workflow_execution_failed_event_attributes()) {
        run.status = "failed";
      } else if (event.has_workflow_execution_canceled_event_attributes()) {
        run.status = "canceled";
      } else if (event.has_workflow_execution_terminated_event_attributes()) {
        run.status = "terminated";
      }
      auto it = by_scheduled.find(scheduled);
      if (!outcome.empty() && it != by_scheduled.end()) {
        Bar& bar = run.bars[it->second];
        bar.end_ms = at;
        bar.outcome = outcome;
        bar.rows = rows;
        bar.bytes = bytes;
      }
    }
  }
  for (auto& bar : run.bars) {
    if (bar.end_ms < 0) bar.end_ms = run.duration_ms;
  }
  return run;
}

}  // namespace flightdeck::cli
