// flightdeck/cli/run_progress.h: a pipeline run's progress as `flightdeck
// status` and `flightdeck run --wait` show it. The workflow's progress query
// knows what finished partitions read and wrote; the partition activities
// still running heartbeat how far their query is and what their partition
// holds of the source (pipeline/activities.cc). Joined here into source
// rows and bytes read so far, a rate, and an ETA from the source's size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "temporal/api/workflowservice/v1/request_response.pb.h"

namespace flightdeck::cli {

struct RunProgress {
  /// The workflow's progress query answer, as it gave it.
  nlohmann::json query;
  /// Source rows and bytes read so far (finished partitions, and running
  /// ones by their query's progress), and the source's size: what the
  /// partitions seen so far hold, the others assumed alike. 0: not known.
  int64_t source_rows_read = 0;
  int64_t source_rows = 0;
  int64_t source_bytes_read = 0;
  int64_t source_bytes = 0;
  /// Source rows (else bytes) per second since the run started.
  double rows_per_s = 0;
  double bytes_per_s = 0;
  /// Until the source is read, at the rate so far; -1 when not known.
  int64_t eta_ms = -1;
  /// What keeps the run waiting that the figures cannot tell (Python stage
  /// tasks no worker took), one sentence each.
  std::vector<std::string> waiting;

  nlohmann::json ToJson() const;
};

/// Joins the progress query's answer with the run's pending activities;
/// `now_ms` is the wall clock (unix ms).
RunProgress ReadRunProgress(
    const nlohmann::json& query,
    const ::temporal::api::workflowservice::v1::DescribeWorkflowExecutionResponse& described,
    int64_t now_ms);

/// One line: bar, phase, partitions, source rows (or bytes) read of the
/// total, rate, ETA.
std::string ProgressLine(const RunProgress& progress);

/// The lines of a finished run's summary (the workflow's result): source
/// rows and bytes, output rows and bytes (exact figures), partitions, parts,
/// activity time per kind of step.
std::vector<std::string> SummaryLines(const nlohmann::json& result);

/// "12s", "3m05s", "1h02m".
std::string FormatDuration(int64_t ms);
/// "950", "12.3K", "4.50M", "1.20G".
std::string FormatCount(double count);
/// "512 B", "12.3 KB", "4.5 MB" (powers of 1000).
std::string FormatBytes(double bytes);

}  // namespace flightdeck::cli
