// flightdeck/pipeline/activities.h: the stage functions of stages.h as
// Temporal activities, and the names PipelineWorkflow schedules them by.
//
// Only tickets travel. The spec's text goes into history once per run, as
// the input of flightdeck.prepare, which stores it on the data node
// (StoreSpec) and answers its key -- or, for a one-partition run (no
// prepare: one activity less on the critical path), in the input of the
// extract, which stores it before extracting; every other activity takes one small
// StageTask naming the spec by that key (workers fetch and parse each spec
// once, LoadSpec) and its input datasets by ticket, and derives what to do
// (stage ranges, nodes) from the spec, as the workflow does:
//   flightdeck.prepare    (yaml, origin)                 -> spec key
//   flightdeck.extract    StageTask{spec, run, partition[, yaml, origin]} -> DatasetRef
//   flightdeck.transform  StageTask{..., input}           -> DatasetRef
//   flightdeck.combine    StageTask{spec, run, inputs}    -> DatasetRef
//   flightdeck.load       StageTask{..., partition=part, input} -> staged part name
//   flightdeck.commit     StageTask{spec, run, parts}     -> nothing
// The input of partition p lives on NodeFor(spec, p) (the combine's output,
// loaded as part 0, on NodeFor(spec, 0)).
//
// Failures: an invalid spec or input is the non-retryable "InvalidPipeline"
// application error; an input dataset that is gone from its node (see
// DatasetLost in stages.h) the non-retryable "DatasetLost" error, whose
// message names the input, so that the workflow recomputes it; everything
// else keeps the Arrow code's name (retryable). Each activity heartbeats
// while it works (activity_keep_alive.h), so a worker that dies is noticed
// within the heartbeat timeout the workflow sets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <arrow/status.h>
#include <nlohmann/json_fwd.hpp>

#include "flightdeck/pipeline/dataset_ref.h"

namespace flightdeck::temporal {
class Worker;
}  // namespace flightdeck::temporal

namespace flightdeck::pipeline {

inline constexpr char kPrepareActivity[] = "flightdeck.prepare";
inline constexpr char kExtractActivity[] = "flightdeck.extract";
inline constexpr char kTransformActivity[] = "flightdeck.transform";
inline constexpr char kCombineActivity[] = "flightdeck.combine";
inline constexpr char kLoadActivity[] = "flightdeck.load";
inline constexpr char kCommitActivity[] = "flightdeck.commit";
/// The application error type of non-retryable pipeline errors.
inline constexpr char kInvalidPipelineError[] = "InvalidPipeline";
/// The application error type of a lost input dataset (non-retryable: the
/// workflow recomputes the input instead).
inline constexpr char kDatasetLostError[] = "DatasetLost";

/// The input of every stage activity but prepare. A plain value. JSON:
/// {"spec": key, "run": id, "partition": p, "input": base64 ticket,
///  "inputs": [base64 tickets], "parts": [names], "yaml": text,
///  "origin": name}, empty fields left out.
struct StageTask {
  std::string spec;
  std::string run;
  int32_t partition = 0;
  /// Ticket bytes of the one input (transform, load).
  std::string input;
  /// Ticket bytes of the combine's inputs, in partition order.
  std::vector<std::string> inputs;
  /// Commit: the staged part names that load answered.
  std::vector<std::string> parts;
  /// Extract of a run without prepare: the spec's text (and its origin for
  /// error messages), stored under `spec` (which must be its SpecKeyOf)
  /// before extracting.
  std::string yaml;
  std::string origin;
};

/// nlohmann-json conversions (used by the payload converter). from_json
/// throws nlohmann's exceptions for a mistyped field (the converter turns
/// them into a Status); a ticket that is not base64 decodes to "", which the
/// activities reject.
void to_json(nlohmann::json& json, const StageTask& task);
void from_json(const nlohmann::json& json, StageTask& task);

/// nlohmann-json conversions of the JSON object form of dataset_ref.h (same
/// error behaviour), except that an empty node or schema fingerprint is left
/// out: stage activities answer refs without them (the node of partition p's
/// output is NodeFor(spec, p); the fingerprint is not needed in history).
void to_json(nlohmann::json& json, const DatasetRef& ref);
void from_json(const nlohmann::json& json, DatasetRef& ref);

/// Registers the six activities on `worker`. REQUIRES: before
/// worker.Start(). AlreadyExists when a name is taken.
arrow::Status RegisterPipelineActivities(temporal::Worker& worker);

}  // namespace flightdeck::pipeline
