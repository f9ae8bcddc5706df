// flightdeck/cli/run_history.h: one pipeline run as its Temporal history
// tells it: every activity with its partition, times, attempt, outcome and
// rows, for `flightdeck timeline` and `flightdeck status`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "temporal/api/history/v1/message.pb.h"

namespace flightdeck::cli {

/// One activity of a run.
struct Bar {
  std::string activity;  // type
  int partition = -1;    // -1: the run's own steps
  double scheduled_ms = 0;  // since the run started
  double start_ms = 0;   // since the run started; scheduled_ms until it starts
  double end_ms = -1;    // -1 while it runs: then the run's duration
  int attempt = 1;
  std::string outcome = "scheduled";  // scheduled, running, completed, failed, timed out, canceled
  bool recompute = false;           // a partition's chain scheduled again
  int64_t rows = -1;
  int64_t bytes = -1;
};

struct Run {
  std::string id;
  std::string type;
  double duration_ms = 0;
  std::string status = "running";
  int64_t source_rows = 0;
  std::vector<Bar> bars;
};

/// The run `id` of a (codec-decoded) history.
Run ReadRun(const std::string& id, const ::temporal::api::history::v1::History& history);

}  // namespace flightdeck::cli
