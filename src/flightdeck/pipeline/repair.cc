#include "flightdeck/pipeline/repair.h"

#include <algorithm>
#include <map>
#include <set>

#include "flightdeck/common/logging.h"
#include "flightdeck/flight/node_client.h"
#include "flightdeck/flight/placement.h"
#include "flightdeck/frame/data_frame.h"
#include "flightdeck/pipeline/activities.h"
#include "flightdeck/pipeline/activity_keep_alive.h"
#include "flightdeck/temporal/converter/failure.h"
#include "flightdeck/pipeline/pipeline_workflow.h"
#include "flightdeck/temporal/worker/worker.h"

namespace flightdeck::pipeline {
namespace {

using nlohmann::json;
using temporal::workflow::ActivityOptions;
using temporal::workflow::Task;
using temporal::workflow::WorkflowContext;
namespace fl = arrow::flight;

// One copy of a dataset: where, its ticket there, when it expires (0: never).
struct Copy {
  std::string node;
  std::string ticket;
  int64_t expires_at_ms = 0;
};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The copies of `who`'s durable datasets on `live`, by path.
std::map<std::string, std::vector<Copy>> DurableCopies(const std::vector<std::string>& live,
                                                       const flight::CallIdentity& who) {
  std::map<std::string, std::vector<Copy>> copies;
  for (const auto& node : live) {
    auto listed = [&]() -> arrow::Result<std::vector<fl::FlightInfo>> {
      ARROW_ASSIGN_OR_RAISE(auto client, flight::NodeClient::For(node));
      return client->List(who);
    }();
    if (!listed.ok()) {
      FD_LOG(kWarning) << "repair: cannot list " << node << ": " << listed.status().message();
      continue;
    }
    for (const auto& info : *listed) {
      const json summary = json::parse(info.app_metadata(), nullptr, false);
      if (!summary.is_object() || !summary.value("durable", false) || info.endpoints().empty()) continue;
      const auto& path = info.descriptor().path;
      if (path.size() != 3) continue;
      Copy copy{node, info.endpoints()[0].ticket.ticket, 0};
      if (const auto& expires = info.endpoints()[0].expiration_time) {
        copy.expires_at_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(expires->time_since_epoch()).count();
      }
      copies[path[0] + "/" + path[1] + "/" + path[2]].push_back(std::move(copy));
    }
  }
  return copies;
}

// Copies `path` from `from` to `to` (durable, same expiry); its bytes.
arrow::Result<int64_t> CopyDataset(const flight::CallIdentity& who, const std::string& path, const Copy& from,
                                   const std::string& to) {
  const size_t first = path.find('/'), last = path.rfind('/');
  ARROW_ASSIGN_OR_RAISE(auto rows, frame::DataFrame::FromFlight(from.node, from.ticket, who));
  ARROW_ASSIGN_OR_RAISE(auto table, rows.Collect());
  json command = {{"tenant", path.substr(0, first)},
                  {"dataset", path.substr(first + 1, last - first - 1)},
                  {"partition", path.substr(last + 1)}};
  if (from.expires_at_ms > 0) {
    const int64_t left_ms = from.expires_at_ms - NowMs();
    if (left_ms <= 0) return 0;  // expiring: not worth a copy
    command["ttl_seconds"] = (left_ms + 999) / 1000;
  }
  ARROW_ASSIGN_OR_RAISE(auto put, frame::DataFrame::FromTable(table).PutToFlight(
                                      to, fl::FlightDescriptor::Command(command.dump()), who));
  if (put.server_metadata.empty()) return arrow::Status::IOError("node ", to, " sent no summary for ", path);
  ARROW_ASSIGN_OR_RAISE(auto ref, flight::DatasetRefFromNodeSummary(to, put.server_metadata[0]));
  ARROW_ASSIGN_OR_RAISE(auto client, flight::NodeClient::For(to));
  ARROW_RETURN_NOT_OK(client->Persist(who, ref.ticket).status());
  return ref.bytes;
}

}  // namespace

arrow::Result<json> RepairCopies(const std::vector<std::string>& live, int replicas,
                                 const std::vector<std::string>& tenants) {
  int64_t datasets = 0, under_replicated = 0, copied = 0, bytes_copied = 0;
  for (const auto& tenant : tenants) {
    const flight::CallIdentity who{.tenant = tenant};
    for (const auto& [path, copies] : DurableCopies(live, who)) {
      datasets += 1;
      if (static_cast<int>(copies.size()) >= replicas) continue;
      under_replicated += 1;
      std::vector<flight::PlacementNode> lacking;
      for (const auto& node : live) {
        const bool holds = std::any_of(copies.begin(), copies.end(), [&](const Copy& c) { return c.node == node; });
        if (!holds) lacking.push_back({node, 1.0});
      }
      const size_t wanted = std::min(lacking.size(), static_cast<size_t>(replicas) - copies.size());
      if (wanted == 0) continue;
      ARROW_ASSIGN_OR_RAISE(auto order, flight::PlaceKey(path, lacking, wanted));
      for (size_t index : order) {
        auto bytes = CopyDataset(who, path, copies[0], lacking[index].location);
        if (!bytes.ok()) {
          FD_LOG(kWarning) << "repair: copying " << path << " to " << lacking[index].location
                           << " failed (next round): " << bytes.status().message();
          continue;
        }
        copied += 1;
        bytes_copied += *bytes;
      }
    }
  }
  return json{{"datasets", datasets}, {"under_replicated", under_replicated}, {"copied", copied},
              {"bytes", bytes_copied}};
}

namespace {

struct RepairState {
  json progress = {{"phase", "watching"}, {"nodes", 0}, {"down", json::array()}, {"gone", json::array()},
                   {"rounds", 0}, {"copied", 0}, {"bytes", 0}, {"under_replicated", 0}};
  std::map<std::string, int64_t> down_since_ms;
};

int64_t WorkflowMs(WorkflowContext& ctx) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(ctx.Now().time_since_epoch()).count();
}

}  // namespace

Task<json> RepairWorkflow(WorkflowContext& ctx, json input) {
  std::vector<std::string> nodes;
  std::vector<std::string> tenants;
  int replicas = 0;
  int64_t grace_ms = 0, interval_ms = 0;
  std::string queue;
  try {
    nodes = input.at("nodes").get<std::vector<std::string>>();
    replicas = input.at("replicas").get<int>();
    grace_ms = input.value("grace_ms", int64_t{30000});
    interval_ms = input.value("interval_ms", int64_t{5000});
    tenants = input.value("tenants", std::vector<std::string>{"default"});
    queue = input.value("task_queue", std::string("flightdeck"));
  } catch (const json::exception& e) {
    co_return temporal::ApplicationError(kInvalidPipelineError, std::string("repair input: ") + e.what(), true);
  }
  if (nodes.empty() || replicas < 1 || interval_ms < 100 || grace_ms < 0 || tenants.empty()) {
    co_return temporal::ApplicationError(kInvalidPipelineError,
                                         "repair input needs nodes, replicas >= 1, interval_ms >= 100, tenants",
                                         true);
  }
  auto state = std::make_shared<RepairState>();
  if (input.contains("carried")) state->progress = input["carried"];
  state->progress["nodes"] = nodes.size();
  ctx.SetQueryHandler<json>(kProgressQuery, [state] { return state->progress; });
  ActivityOptions options;
  options.task_queue = queue;
  options.start_to_close_timeout = std::chrono::minutes(30);
  options.heartbeat_timeout = kActivityHeartbeatTimeout;
  std::set<std::string> repaired_for;  // the gone nodes of the last complete repair
  bool pending = false;                // the last repair left copies missing
  for (int round = 0; round < kRepairRoundsPerRun; ++round) {
    auto health = co_await ctx.ExecuteActivity<json>(kRepairCheckActivity, options, nodes);
    if (!health.ok()) co_return health.status();
    const int64_t now = WorkflowMs(ctx);
    std::vector<std::string> live;
    json down = json::array(), gone = json::array();
    std::set<std::string> gone_set;
    for (const auto& node : nodes) {
      if (health->value(node, false)) {
        state->down_since_ms.erase(node);
        live.push_back(node);
        continue;
      }
      const int64_t since = state->down_since_ms.emplace(node, now).first->second;
      down.push_back(node);
      if (now - since >= grace_ms) {
        gone.push_back(node);
        gone_set.insert(node);
      }
    }
    state->progress["down"] = down;
    state->progress["gone"] = gone;
    if (!gone_set.empty() && (gone_set != repaired_for || pending) && !live.empty()) {
      state->progress["phase"] = "repairing";
      // Named, not a temporary: GCC 12 cannot keep an initializer list
      // across a co_await.
      json request = json::object();
      request["live"] = live;
      request["replicas"] = replicas;
      request["tenants"] = tenants;
      auto copied = co_await ctx.ExecuteActivity<json>(kRepairCopyActivity, options, request);
      if (copied.ok()) {
        state->progress["copied"] = state->progress["copied"].get<int64_t>() + copied->value("copied", int64_t{0});
        state->progress["bytes"] = state->progress["bytes"].get<int64_t>() + copied->value("bytes", int64_t{0});
        state->progress["under_replicated"] = copied->value("under_replicated", int64_t{0});
        pending = copied->value("copied", int64_t{0}) < copied->value("under_replicated", int64_t{0});
        repaired_for = gone_set;
      } else {
        ctx.Log(LogLevel::kWarning, "repair round failed (next round): " + copied.status().message());
        pending = true;
      }
    }
    state->progress["phase"] = "watching";
    state->progress["rounds"] = state->progress["rounds"].get<int64_t>() + 1;
    auto slept = co_await ctx.Sleep(std::chrono::milliseconds(interval_ms));
    if (!slept.ok()) co_return slept;
  }
  json next = input;
  next["carried"] = state->progress;
  const temporal::workflow::ContinueAsNewOptions next_run;
  co_return ctx.ContinueAsNew(next_run, next);
}

arrow::Status RegisterRepair(temporal::Worker& worker, std::shared_ptr<observe::Metrics> metrics) {
  ARROW_RETURN_NOT_OK(worker.RegisterWorkflow(kRepairWorkflow, &RepairWorkflow));
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(
      kRepairCheckActivity, [](temporal::ActivityContext&, std::vector<std::string> nodes) -> arrow::Result<json> {
        json health = json::object();
        for (const auto& node : nodes) {
          auto answer = [&]() -> arrow::Result<json> {
            ARROW_ASSIGN_OR_RAISE(auto client, flight::NodeClient::For(node));
            return client->Action({}, "health", json::object());
          }();
          health[node] = answer.ok() && answer->value("status", std::string()) == "ok";
        }
        return health;
      }));
  return worker.RegisterActivity(
      kRepairCopyActivity, [metrics](temporal::ActivityContext& ctx, json request) -> arrow::Result<json> {
        const ActivityKeepAlive keep_alive(ctx);
        std::vector<std::string> live;
        std::vector<std::string> tenants;
        int replicas = 0;
        try {
          live = request.at("live").get<std::vector<std::string>>();
          tenants = request.at("tenants").get<std::vector<std::string>>();
          replicas = request.at("replicas").get<int>();
        } catch (const json::exception& e) {
          return temporal::ApplicationError(kInvalidPipelineError, std::string("repair_copy: ") + e.what(), true);
        }
        ARROW_ASSIGN_OR_RAISE(json done, RepairCopies(live, replicas, tenants));
        if (metrics) {
          metrics->Count("flightdeck_repair_copied_datasets", {}, done["copied"].get<double>());
          metrics->Count("flightdeck_repair_copied_bytes", {}, done["bytes"].get<double>());
        }
        return done;
      });
}

}  // namespace flightdeck::pipeline
