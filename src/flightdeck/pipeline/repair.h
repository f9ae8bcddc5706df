// flightdeck/pipeline/repair.h: flightdeck.Repair, the workflow that keeps
// durable datasets at R copies when data nodes are lost.
//
// Input (JSON): {"nodes": [LOC, ...], "replicas": R, "grace_ms": G,
// "interval_ms": I, "tenants": [T, ...], "task_queue": Q}. Every I ms it
// checks each node's health (flightdeck.repair_check); a node that has not
// answered for G ms (workflow time) is gone. Then, and again while copies
// are missing, flightdeck.repair_copy lists the tenants' datasets on the
// live nodes and copies every durable one held by fewer than R of them
// (but at least one) from a holder to the live nodes that lack it, in
// rendezvous order of its path, until R hold it, keeping its path and
// expiry. It runs until cancelled, continuing as new every
// kRepairRoundsPerRun rounds.
//
// Query "progress": {"phase": "watching"|"repairing", "nodes": N, "down":
// [LOC], "gone": [LOC], "rounds": n, "copied": copies made, "bytes": bytes
// copied, "under_replicated": found by the last repair}. A dataset no live
// node holds is gone from the listing and cannot be repaired (a pipeline
// run recomputes it from lineage). The worker's metrics count
// flightdeck_repair_copied_datasets and flightdeck_repair_copied_bytes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <nlohmann/json.hpp>

#include "flightdeck/observe/metrics.h"
#include "flightdeck/temporal/workflow/api.h"

namespace flightdeck::temporal {
class Worker;
}  // namespace flightdeck::temporal

namespace flightdeck::pipeline {

inline constexpr char kRepairWorkflow[] = "flightdeck.Repair";
inline constexpr char kRepairCheckActivity[] = "flightdeck.repair_check";
inline constexpr char kRepairCopyActivity[] = "flightdeck.repair_copy";
inline constexpr int kRepairRoundsPerRun = 200;

/// The copying of flightdeck.repair_copy (see the file comment), callable
/// on its own: {"datasets": durable paths seen, "under_replicated": n,
/// "copied": copies made, "bytes": b}.
/// A dataset that cannot be copied now is left for the next round.
arrow::Result<nlohmann::json> RepairCopies(const std::vector<std::string>& live, int replicas,
                                           const std::vector<std::string>& tenants);

temporal::workflow::Task<nlohmann::json> RepairWorkflow(temporal::workflow::WorkflowContext& ctx,
                                                        nlohmann::json input);

/// Registers RepairWorkflow and its two activities on `worker`.
arrow::Status RegisterRepair(temporal::Worker& worker, std::shared_ptr<observe::Metrics> metrics = nullptr);

}  // namespace flightdeck::pipeline
