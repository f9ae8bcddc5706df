// flightdeck/pipeline/run_gc.h: `flightdeck gc`, the backstop for the
// datasets of pipeline runs that ended without releasing them.
//
// A run releases its datasets as its last step (pipeline_workflow.h); a run
// that vanished without that step -- terminated, timed out, its history
// deleted -- leaves them until their lease expires. CollectRunGarbage finds
// them sooner: it lists a tenant's datasets on a node, groups the run
// datasets (those with a lease, named as RunDatasets names them) by run (the names RunDatasets gives: "<run>-extract",
// "<run>-transform[-N]", "<run>-s<N>", "<run>-combine"), asks Temporal for
// each run's workflow (the run id is its workflow id), and drops the
// datasets of every run that is closed or unknown, except within the
// retention its spec (the workflow's input) asks for after it closed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <arrow/result.h>

namespace flightdeck::temporal {
class Client;
}  // namespace flightdeck::temporal

namespace flightdeck::pipeline {

/// What CollectRunGarbage found for one run.
struct RunGarbage {
  std::string run;
  /// The workflow's status in words ("running", "completed", "failed",
  /// "canceled", "terminated", "timed_out", ...), or "unknown" when Temporal
  /// has no such workflow.
  std::string state;
  /// Dataset names of the run on the node, and how many datasets (one per
  /// partition) they hold.
  std::vector<std::string> datasets;
  int64_t count = 0;
  /// Dropped (or, with dry_run, would be); otherwise why not ("running",
  /// "retained until <UTC time>").
  bool dropped = false;
  std::string kept_because;
};

/// Collects the run datasets of `tenant` on the data node at `node` (see the
/// file comment), one entry per run, in run order. With `dry_run` nothing
/// is dropped. Errors: the node's or Temporal's (a run whose workflow cannot
/// be described for another reason than not existing stops the collection).
arrow::Result<std::vector<RunGarbage>> CollectRunGarbage(temporal::Client& client, const std::string& node,
                                                         const std::string& tenant, bool dry_run);

}  // namespace flightdeck::pipeline
