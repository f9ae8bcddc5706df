// flightdeck/pipeline/pipeline_run_state.h: what PipelineWorkflow keeps
// about one run (pipeline_workflow.cc): the constants of the run, and the
// state it builds up, answers the progress query from and carries over
// continue-as-new. Internal to the workflow.
#pragma once

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/util/base64.h>
#include <nlohmann/json.hpp>

#include "flightdeck/pipeline/spec.h"
#include "flightdeck/pipeline/stages.h"
#include "flightdeck/temporal/workflow/api.h"

namespace flightdeck::pipeline::internal {

using nlohmann::json;
using temporal::workflow::ActivityOptions;

// Constant for one run.
struct Env {
  std::string run;
  // The run as activities get it: empty when it is the workflow id (they
  // take that from their ActivityInfo).
  std::string task_run;
  // The spec's text and origin (for prepare, also when it must run again).
  std::string yaml;
  std::string origin;
  // Set when no prepare runs (one partition): the chain stores the spec.
  bool inline_spec = false;
  PipelineSpec spec;
  StagePlan plan;
  std::vector<ChainStep> steps;  // of each partition's chain
  ActivityOptions options;
  bool global = false;  // the spec has global stages (combine)
  int32_t shuffle = 0;  // reduce partitions of its shuffle (plan.shuffle)
  bool range = false;   // the shuffle is by ranges of a sort (plan.range)
};

// What partials holds for a partition whose map put its shuffle buckets
// (the reduces find them by path).
inline constexpr char kShuffled[] = "shuffled";

// What the run knows so far; carried over continue-as-new.
struct RunState {
  std::string spec_key;
  int32_t next = 0;  // the next partition to start
  int64_t partitions_done = 0;
  int64_t rows = 0;
  int64_t bytes = 0;
  int64_t source_rows = 0;   // read from the source by the partitions done
  int64_t source_bytes = 0;
  json step_ms = json::object();  // activity time per kind of step (summed over partitions)
  int64_t started_ms = 0;  // workflow time the first run started (unix ms)
  int64_t elapsed_ms = 0;
  int64_t runs = 1;
  int64_t recomputes = 0;
  std::vector<std::string> parts;      // per partition: staged part name (no global stages)
  std::vector<std::string> partials;   // per partition: output ticket (global stages, range
                                       // shuffle), kShuffled for a hash shuffle's map
  std::vector<std::string> reduced;    // per reduce: output ticket (not carried: reduces
                                       // start after the last continue-as-new)
  std::vector<std::string> checksums;  // per partition: checksum of its output
  // Not carried.
  bool paused = false;
  std::string phase = "partitions";
  int64_t events = 0;  // chains finished, for the main loop's wait
  bool work_started = false;     // a step ran: the run may own datasets on the nodes
  bool continued_as_new = false;  // the run goes on in a new workflow run
  bool closed = false;            // the run's work is over (the lease keeper stops)
  bool stopping = false;          // a chain failed: the others start no further step
  bool released = false;          // the run's datasets were released (by commit)
  std::set<std::string> recomputing;        // lost inputs being computed again ("chain/3", "bounds")
  std::map<int, int64_t> python_in_flight;  // stage index -> tasks scheduled or running
  int64_t python_tasks = 0;                 // Python stage tasks started, for activity ids
  json python_stages = json::array();       // {stage, transform, queue} of the spec's Python stages

  json ToCarried() const {
    json partial_tickets = json::array();
    for (const auto& ticket : partials) {
      partial_tickets.push_back(ticket.empty() ? "" : arrow::util::base64_encode(ticket));
    }
    return {{"spec", spec_key},          {"next", next},
            {"done", partitions_done},   {"rows", rows},
            {"bytes", bytes},            {"started_ms", started_ms},
            {"runs", runs},              {"recomputes", recomputes},
            {"parts", parts},            {"partials", partial_tickets},
            {"checksums", checksums},    {"paused", paused},
            {"source_rows", source_rows}, {"source_bytes", source_bytes},
            {"step_ms", step_ms}};
  }

  static arrow::Result<RunState> FromCarried(const json& carried, int32_t partitions) {
    RunState state;
    state.parts.resize(partitions);
    state.partials.resize(partitions);
    state.checksums.resize(partitions);
    if (carried.is_null()) return state;
    try {
      carried.at("spec").get_to(state.spec_key);
      carried.at("next").get_to(state.next);
      carried.at("done").get_to(state.partitions_done);
      carried.at("rows").get_to(state.rows);
      carried.at("bytes").get_to(state.bytes);
      carried.at("started_ms").get_to(state.started_ms);
      state.runs = carried.at("runs").get<int64_t>() + 1;
      carried.at("recomputes").get_to(state.recomputes);
      carried.at("parts").get_to(state.parts);
      std::vector<std::string> partials = carried.at("partials").get<std::vector<std::string>>();
      state.partials.clear();
      for (const auto& encoded : partials) {
        auto ticket = arrow::util::base64_decode(encoded);
        state.partials.push_back(ticket.ok() ? *ticket : std::string());
      }
      carried.at("checksums").get_to(state.checksums);
      state.paused = carried.value("paused", false);
      state.source_rows = carried.value("source_rows", int64_t{0});
      state.source_bytes = carried.value("source_bytes", int64_t{0});
      state.step_ms = carried.value("step_ms", json::object());
    } catch (const json::exception& e) {
      return arrow::Status::Invalid("carried state of the previous run: ", e.what());
    }
    if (state.parts.size() != static_cast<size_t>(partitions) ||
        state.partials.size() != static_cast<size_t>(partitions) ||
        state.checksums.size() != static_cast<size_t>(partitions)) {
      return arrow::Status::Invalid("carried state does not match the spec's ", partitions,
                                    " partitions");
    }
    return state;
  }

  json Progress() const {
    json python = json::array();
    for (auto stage : python_stages) {
      const auto in_flight = python_in_flight.find(stage["stage"].get<int>() - 1);
      stage["in_flight"] = in_flight == python_in_flight.end() ? 0 : in_flight->second;
      python.push_back(std::move(stage));
    }
    json finished = json::array();  // partitions done, so clients do not count them twice
    for (size_t i = 0; i < parts.size(); ++i) {
      if (!parts[i].empty() || !partials[i].empty()) finished.push_back(i);
    }
    const double rate = elapsed_ms > 0 ? static_cast<double>(rows) * 1000.0 / elapsed_ms : 0.0;
    json eta = nullptr;
    if (partitions_done > 0 && elapsed_ms > 0) {
      const int64_t left = static_cast<int64_t>(parts.size()) - partitions_done;
      eta = elapsed_ms * std::max<int64_t>(left, 0) / partitions_done;
    }
    return {{"phase", paused ? std::string("paused") : phase},
            {"paused", paused},
            {"partitions", parts.size()},
            {"partitions_done", partitions_done},
            {"finished", std::move(finished)},
            {"rows", rows},
            {"bytes", bytes},
            {"source_rows", source_rows},
            {"source_bytes", source_bytes},
            {"started_ms", started_ms},
            {"step_ms", step_ms},
            {"rows_per_s", rate},
            {"elapsed_ms", elapsed_ms},
            {"eta_ms", eta},
            {"runs", runs},
            {"recomputes", recomputes},
            {"python", std::move(python)}};
  }
};

}  // namespace flightdeck::pipeline::internal
