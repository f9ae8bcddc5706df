#include "flightdeck/pipeline/run_gc.h"

#include <chrono>
#include <ctime>
#include <map>
#include <regex>

#include "flightdeck/flight/node_client.h"
#include "flightdeck/pipeline/spec.h"
#include "flightdeck/temporal/client/client.h"
#include "flightdeck/temporal/converter/payload_converter.h"

namespace flightdeck::pipeline {
namespace {

namespace enums = ::temporal::api::enums::v1;

std::string UtcTime(int64_t unix_s) {
  const std::time_t time = static_cast<std::time_t>(unix_s);
  std::tm parts{};
  gmtime_r(&time, &parts);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

// The retention the run's spec asks for: its workflow's input (the spec's
// text and origin) as the run's history starts.
arrow::Result<int64_t> RetentionOf(temporal::Client& client, const std::string& run) {
  ARROW_ASSIGN_OR_RAISE(auto history, client.GetHistory({.workflow_id = run}));
  if (history.events_size() == 0 || !history.events(0).has_workflow_execution_started_event_attributes()) {
    return 0;
  }
  const auto& input = history.events(0).workflow_execution_started_event_attributes().input();
  auto yaml = temporal::FromPayloads<std::string>(input, 0);
  auto origin = temporal::FromPayloads<std::string>(input, 1);
  if (!yaml.ok() || !origin.ok()) return 0;
  auto spec = ParsePipelineSpec(*yaml, *origin);
  return spec.ok() ? spec->retention_ms : 0;
}

}  // namespace

arrow::Result<std::vector<RunGarbage>> CollectRunGarbage(temporal::Client& client, const std::string& node,
                                                         const std::string& tenant, bool dry_run) {
  ARROW_ASSIGN_OR_RAISE(auto flight, flight::NodeClient::For(node));
  const flight::CallIdentity who{.tenant = tenant};
  ARROW_ASSIGN_OR_RAISE(auto listing, flight->List(who, tenant + "/"));
  static const std::regex kRunDataset(R"(^(.+)-(extract|transform(-\d+)?|combine|s\d+|spec-[0-9a-f]{16})$)");
  std::map<std::string, RunGarbage> runs;
  for (const auto& info : listing) {
    const auto& path = info.descriptor().path;
    std::smatch match;
    // Run datasets carry a lease; a dataset without one (a Flight sink, a
    // user's) is never a run's, whatever its name.
    const bool leased = !info.endpoints().empty() && info.endpoints()[0].expiration_time.has_value();
    if (!leased || path.size() != 3 || !std::regex_match(path[1], match, kRunDataset)) continue;
    RunGarbage& entry = runs[match[1].str()];
    entry.run = match[1].str();
    // Listed in path order: a dataset's partitions come one after another.
    if (entry.datasets.empty() || entry.datasets.back() != path[1]) entry.datasets.push_back(path[1]);
    entry.count += 1;
  }
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  std::vector<RunGarbage> out;
  for (auto& [run, entry] : runs) {
    auto described = client.Describe({.workflow_id = run});
    if (!described.ok() && !described.status().IsKeyError()) return described.status();
    if (described.ok()) {
      const auto& info = described->workflow_execution_info();
      entry.state = temporal::StatusName(info.status());
      if (info.status() == enums::WORKFLOW_EXECUTION_STATUS_RUNNING) {
        entry.kept_because = "running";
        out.push_back(std::move(entry));
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(int64_t retention_ms, RetentionOf(client, run));
      const int64_t until_s = info.close_time().seconds() + retention_ms / 1000;
      if (retention_ms > 0 && until_s > now_s) {
        entry.kept_because = "retained until " + UtcTime(until_s);
        out.push_back(std::move(entry));
        continue;
      }
    } else {
      entry.state = "unknown";
    }
    if (!dry_run) ARROW_RETURN_NOT_OK(flight->Expire(who, entry.datasets, 0).status());
    entry.dropped = true;
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace flightdeck::pipeline
