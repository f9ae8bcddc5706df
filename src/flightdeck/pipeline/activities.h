// flightdeck/pipeline/activities.h: the stage functions of stages.h as
// Temporal activities, and the names PipelineWorkflow schedules them by.
//
// Every activity takes the spec's YAML text (parsed again by the worker that
// runs it, so workers need no shared state), the run id and DatasetRefs, and
// answers DatasetRefs (JSON, as in dataset_ref.h) or staged part names:
//   flightdeck.extract    (spec, run, partition)                    -> DatasetRef
//   flightdeck.transform  (spec, run, partition, ref, begin, end)   -> DatasetRef
//   flightdeck.combine    (spec, run, refs, begin, end)             -> DatasetRef
//   flightdeck.load       (spec, run, part, ref)                    -> string
//   flightdeck.commit     (spec, run, staged parts)                 -> nothing
// Each activity heartbeats while it works (activity_keep_alive.h), so a
// worker that dies is noticed within the heartbeat timeout the workflow sets.
// An invalid spec or input fails with a non-retryable "InvalidPipeline"
// application error; everything else with the Arrow code's name (retryable).
#pragma once

#include <arrow/status.h>
#include <nlohmann/json_fwd.hpp>

#include "flightdeck/pipeline/dataset_ref.h"

namespace flightdeck::temporal {
class Worker;
}  // namespace flightdeck::temporal

namespace flightdeck::pipeline {

inline constexpr char kExtractActivity[] = "flightdeck.extract";
inline constexpr char kTransformActivity[] = "flightdeck.transform";
inline constexpr char kCombineActivity[] = "flightdeck.combine";
inline constexpr char kLoadActivity[] = "flightdeck.load";
inline constexpr char kCommitActivity[] = "flightdeck.commit";
/// The application error type of non-retryable pipeline errors.
inline constexpr char kInvalidPipelineError[] = "InvalidPipeline";

/// nlohmann-json conversions (used by the payload converter): the JSON
/// object form of dataset_ref.h. from_json throws nlohmann's exceptions for a
/// missing or mistyped field (the converter turns them into a Status); a
/// ticket that is not base64 decodes to "", which the activities reject.
void to_json(nlohmann::json& json, const DatasetRef& ref);
void from_json(const nlohmann::json& json, DatasetRef& ref);

/// Registers the five activities on `worker`. REQUIRES: before
/// worker.Start(). AlreadyExists when a name is taken.
arrow::Status RegisterPipelineActivities(temporal::Worker& worker);

}  // namespace flightdeck::pipeline
