#include "flightdeck/cli/run_progress.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "flightdeck/pipeline/activities.h"
#include "flightdeck/pipeline/pipeline_workflow.h"

namespace flightdeck::cli {
namespace {

namespace enums = ::temporal::api::enums::v1;
using nlohmann::json;

// What a running partition activity last heartbeated (activities.cc), or
// null when it has not yet.
json HeartbeatDetails(const ::temporal::api::workflow::v1::PendingActivityInfo& pending) {
  if (pending.heartbeat_details().payloads_size() == 0) return nullptr;
  const json details = json::parse(pending.heartbeat_details().payloads(0).data(), nullptr,
                                   /*allow_exceptions=*/false);
  return details.is_object() ? details : json(nullptr);
}

// Python stage tasks scheduled that no worker has taken yet (their activity
// ids name the stage, pipeline_workflow.h; the progress names its queue),
// one line per stage, e.g. "waiting: stage 2 (python 'tag') has 3 tasks on
// task queue 'etl-python' that no worker has taken for 12s; ...".
std::vector<std::string> WaitingLines(
    const ::temporal::api::workflowservice::v1::DescribeWorkflowExecutionResponse& described,
    const json& query, int64_t now_ms) {
  struct Waiting {
    int64_t tasks = 0;
    int64_t oldest_s = 0;  // unix seconds of the oldest task's scheduling
  };
  std::map<int, Waiting> waiting;
  const std::string prefix = pipeline::kPythonActivityIdPrefix;
  for (const auto& pending : described.pending_activities()) {
    if (pending.activity_type().name() != pipeline::kPythonStageActivity ||
        pending.state() != enums::PENDING_ACTIVITY_STATE_SCHEDULED || pending.attempt() > 1 ||
        pending.activity_id().rfind(prefix, 0) != 0) {
      continue;
    }
    const int stage = std::atoi(pending.activity_id().c_str() + prefix.size());
    auto& entry = waiting[stage];
    const int64_t scheduled = pending.scheduled_time().seconds();
    entry.oldest_s = entry.tasks == 0 ? scheduled : std::min(entry.oldest_s, scheduled);
    entry.tasks += 1;
  }
  std::vector<std::string> lines;
  for (const auto& [stage, entry] : waiting) {
    std::string transform = "?", queue = "?";
    for (const auto& python : query.value("python", json::array())) {
      if (python.value("stage", 0) != stage) continue;
      transform = python.value("transform", transform);
      queue = python.value("queue", queue);
    }
    lines.push_back("waiting: stage " + std::to_string(stage) + " (python '" + transform + "') has " +
                    std::to_string(entry.tasks) + (entry.tasks == 1 ? " task" : " tasks") + " on task queue '" +
                    queue + "' that no worker has taken for " +
                    FormatDuration(std::max<int64_t>(0, now_ms / 1000 - entry.oldest_s) * 1000) +
                    "; is a Python stage worker polling it?");
  }
  return lines;
}

}  // namespace

RunProgress ReadRunProgress(
    const json& query,
    const ::temporal::api::workflowservice::v1::DescribeWorkflowExecutionResponse& described,
    int64_t now_ms) {
  RunProgress progress;
  progress.query = query;
  const int64_t partitions = query.value("partitions", int64_t{0});
  const int64_t done = query.value("partitions_done", int64_t{0});
  int64_t rows_seen = query.value("source_rows", int64_t{0});
  int64_t bytes_seen = query.value("source_bytes", int64_t{0});
  progress.source_rows_read = rows_seen;
  progress.source_bytes_read = bytes_seen;
  std::set<int64_t> finished;
  for (const auto& partition : query.value("finished", json::array())) {
    if (partition.is_number_integer()) finished.insert(partition.get<int64_t>());
  }
  int64_t running = 0;
  for (const auto& pending : described.pending_activities()) {
    if (pending.activity_type().name() != pipeline::kPartitionActivity) continue;
    const json details = HeartbeatDetails(pending);
    if (details.is_null() || !details.contains("source_rows")) continue;
    // Finished between the describe and the query: counted by the query.
    if (finished.count(details.value("partition", int64_t{-1}))) continue;
    const double fraction = std::clamp(details.value("done", 0.0), 0.0, 1.0);
    const int64_t rows = details.value("source_rows", int64_t{0});
    const int64_t bytes = details.value("source_bytes", int64_t{0});
    rows_seen += rows;
    bytes_seen += bytes;
    progress.source_rows_read += static_cast<int64_t>(fraction * static_cast<double>(rows));
    progress.source_bytes_read += static_cast<int64_t>(fraction * static_cast<double>(bytes));
    running += 1;
  }
  // The partitions not seen yet are assumed to hold as much as the seen.
  const int64_t seen = std::min(done + running, partitions);
  if (seen > 0) {
    progress.source_rows = rows_seen + rows_seen * (partitions - seen) / seen;
    progress.source_bytes = bytes_seen + bytes_seen * (partitions - seen) / seen;
  }
  progress.source_rows_read = std::min(progress.source_rows_read, progress.source_rows);
  progress.source_bytes_read = std::min(progress.source_bytes_read, progress.source_bytes);
  const int64_t started_ms = query.value("started_ms", int64_t{0});
  const double elapsed_s = started_ms > 0 ? static_cast<double>(now_ms - started_ms) / 1000.0 : 0.0;
  if (elapsed_s > 0) {
    progress.rows_per_s = static_cast<double>(progress.source_rows_read) / elapsed_s;
    progress.bytes_per_s = static_cast<double>(progress.source_bytes_read) / elapsed_s;
  }
  if (progress.source_rows > 0 && progress.rows_per_s > 0) {
    progress.eta_ms = static_cast<int64_t>(
        1000.0 * static_cast<double>(std::max<int64_t>(0, progress.source_rows - progress.source_rows_read)) /
        progress.rows_per_s);
  } else if (progress.source_bytes > 0 && progress.bytes_per_s > 0) {
    progress.eta_ms = static_cast<int64_t>(
        1000.0 * static_cast<double>(std::max<int64_t>(0, progress.source_bytes - progress.source_bytes_read)) /
        progress.bytes_per_s);
  }
  progress.waiting = WaitingLines(described, query, now_ms);
  return progress;
}

json RunProgress::ToJson() const {
  json out = query;
  out["source_rows_read"] = source_rows_read;
  out["source_rows"] = source_rows;
  out["source_bytes_read"] = source_bytes_read;
  out["source_bytes"] = source_bytes;
  out["rows_per_s"] = rows_per_s;
  out["bytes_per_s"] = bytes_per_s;
  out["eta_ms"] = eta_ms >= 0 ? json(eta_ms) : json(nullptr);
  out["waiting"] = waiting;
  return out;
}

std::string ProgressLine(const RunProgress& progress) {
  const json& query = progress.query;
  const int64_t done = query.value("partitions_done", int64_t{0});
  const int64_t total = query.value("partitions", int64_t{0});
  const int width = 20;
  // The bar follows the source read while partitions run, then the steps after.
  double fraction = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0.0;
  if (progress.source_rows > 0) {
    fraction = std::max(fraction, static_cast<double>(progress.source_rows_read) /
                                      static_cast<double>(progress.source_rows));
  } else if (progress.source_bytes > 0) {
    fraction = std::max(fraction, static_cast<double>(progress.source_bytes_read) /
                                      static_cast<double>(progress.source_bytes));
  }
  const int filled = std::clamp(static_cast<int>(width * fraction), 0, width);
  const std::string bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
  std::string read;
  if (progress.source_rows > 0) {
    read = FormatCount(static_cast<double>(progress.source_rows_read)) + "/" +
           FormatCount(static_cast<double>(progress.source_rows)) + " rows";
    if (progress.source_bytes > 0) read += " (" + FormatBytes(static_cast<double>(progress.source_bytes)) + ")";
    read += ", " + FormatCount(progress.rows_per_s) + " rows/s";
  } else if (progress.source_bytes > 0) {
    read = FormatBytes(static_cast<double>(progress.source_bytes_read)) + "/" +
           FormatBytes(static_cast<double>(progress.source_bytes)) + ", " + FormatBytes(progress.bytes_per_s) +
           "/s";
  } else {
    // Nothing known of the source yet (or a Flight source): what was read.
    read = FormatCount(static_cast<double>(progress.source_rows_read)) + " rows, " +
           FormatCount(progress.rows_per_s) + " rows/s";
  }
  std::string eta = progress.eta_ms >= 0 ? "ETA " + FormatDuration(progress.eta_ms) : "ETA ?";
  if (query.value("phase", std::string()) != "partitions") eta.clear();
  if (query.value("paused", false)) eta = "paused";
  char line[320];
  std::snprintf(line, sizeof(line), "%s %-10s %lld/%lld partitions, %s%s%s", bar.c_str(),
                query.value("phase", std::string("?")).c_str(), static_cast<long long>(done),
                static_cast<long long>(total), read.c_str(), eta.empty() ? "" : ", ", eta.c_str());
  return line;
}

std::vector<std::string> SummaryLines(const json& result) {
  std::vector<std::string> lines;
  const auto count = [&](const char* key) { return result.value(key, int64_t{0}); };
  std::string source = std::to_string(count("source_rows")) + " rows";
  if (count("source_bytes") > 0) source += ", " + std::to_string(count("source_bytes")) + " bytes";
  lines.push_back("source     " + source + " read");
  lines.push_back("output     " + std::to_string(count("rows")) + " rows committed to the sink (" +
                  std::to_string(count("bytes")) + " bytes in Arrow form)");
  lines.push_back("partitions " + std::to_string(result.value("partitions", int64_t{0})) + ", parts " +
                  std::to_string(result.contains("parts") ? result["parts"].size() : size_t{0}));
  const json steps = result.value("step_ms", json::object());
  std::string times;
  for (const char* kind : {"prepare", "partition", "python", "combine", "load", "commit"}) {
    if (!steps.contains(kind)) continue;
    times += std::string(times.empty() ? "" : ", ") + kind + " " +
             FormatDuration(steps[kind].get<int64_t>());
  }
  if (!times.empty()) lines.push_back("time       " + times + " (activity time, summed over partitions)");
  return lines;
}

std::string FormatDuration(int64_t ms) {
  char text[32];
  if (ms < 10'000 && ms % 1000 != 0) {
    std::snprintf(text, sizeof(text), "%.1fs", static_cast<double>(ms) / 1000.0);
    return text;
  }
  const int64_t seconds = (ms + 999) / 1000;
  if (seconds >= 3600) {
    std::snprintf(text, sizeof(text), "%lldh%02lldm", static_cast<long long>(seconds / 3600),
                  static_cast<long long>(seconds / 60 % 60));
  } else if (seconds >= 60) {
    std::snprintf(text, sizeof(text), "%lldm%02llds", static_cast<long long>(seconds / 60),
                  static_cast<long long>(seconds % 60));
  } else {
    std::snprintf(text, sizeof(text), "%llds", static_cast<long long>(seconds));
  }
  return text;
}

std::string FormatCount(double count) {
  char text[32];
  if (count < 1000) {
    std::snprintf(text, sizeof(text), "%.0f", count);
  } else if (count < 1e6) {
    std::snprintf(text, sizeof(text), "%.1fK", count / 1e3);
  } else if (count < 1e9) {
    std::snprintf(text, sizeof(text), "%.2fM", count / 1e6);
  } else {
    std::snprintf(text, sizeof(text), "%.2fG", count / 1e9);
  }
  return text;
}

std::string FormatBytes(double bytes) {
  char text[32];
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int unit = 0;
  while (bytes >= 1000 && unit < 4) {
    bytes /= 1000;
    ++unit;
  }
  std::snprintf(text, sizeof(text), unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
  return text;
}

}  // namespace flightdeck::cli
