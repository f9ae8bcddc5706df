// `flightdeck worker`, `run`, `status`, `cancel`, `pause`, `resume`, `list`: pipelines on a
// Temporal server (the PipelineWorkflow of pipeline/pipeline_workflow.h).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include <google/protobuf/util/time_util.h>
#include <nlohmann/json.hpp>

#include "flightdeck/common/random.h"
#include "flightdeck/cli/commands.h"
#include "flightdeck/cli/metrics_options.h"
#include "flightdeck/cli/tracing_options.h"
#include "flightdeck/cli/temporal_options.h"
#include "flightdeck/common/clock.h"
#include "flightdeck/frame/engine.h"
#include "flightdeck/temporal/converter/trace_header.h"
#include "flightdeck/cli/pipeline_internal.h"
#include "flightdeck/cli/run_history.h"
#include "flightdeck/cli/run_progress.h"
#include "flightdeck/pipeline/activities.h"
#include "flightdeck/pipeline/pipeline_workflow.h"
#include "flightdeck/pipeline/repair.h"
#include "flightdeck/pipeline/run_gc.h"
#include "flightdeck/pipeline/spec.h"
#include "flightdeck/pipeline/spec_check.h"
#include "flightdeck/temporal/client/client.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/worker/worker.h"

namespace flightdeck::cli {
namespace {

namespace enums = ::temporal::api::enums::v1;

std::atomic<bool> stop_requested{false};
void OnStopSignal(int) { stop_requested = true; }

std::shared_ptr<temporal::Client> ConnectClient(const TemporalFlags& flags) {
  return ConnectClientOrExit(ResolveTemporalOrExit(flags));
}

std::string NewRunId(const std::string& name) {
  return (name.empty() ? std::string("pipeline") : name) + "-" + RandomHex(8);
}

void PrintSummary(const nlohmann::json& result) {
  for (const auto& line : SummaryLines(result)) std::printf("  %s\n", line.c_str());
  std::fflush(stdout);
}

struct RunOptions {
  std::string spec_path;
  std::shared_ptr<TemporalFlags> temporal;
  std::string id;
  bool wait = false;
  bool quiet = false;
  std::shared_ptr<ClusterFlags> cluster;
};

void RunPipeline(const RunOptions& options) {
  std::ifstream in(options.spec_path);
  if (!in) throw CommandFailed("cannot read spec " + options.spec_path, kExitUsage);
  std::stringstream text;
  text << in.rdbuf();
  auto spec = pipeline::ParsePipelineSpec(text.str(), options.spec_path);
  if (!spec.ok()) throw CommandFailed("invalid spec: " + spec.status().message(), kExitUsage);
  if (!options.cluster->name.empty()) {
    // The run's nodes are the cluster's live members now, fixed in its input.
    const std::string with_nodes = SpecWithClusterNodes(text.str(), !spec->nodes.empty(), *options.cluster);
    text.str(with_nodes);
    spec = pipeline::ParsePipelineSpec(text.str(), options.spec_path);
    if (!spec.ok()) throw CommandFailed("invalid spec: " + spec.status().message(), kExitUsage);
  }
  // Nothing starts for a spec that cannot run: its message points into the spec.
  const auto checked = pipeline::CheckSpec(*spec, text.str(), options.spec_path);
  if (!checked.ok()) throw CommandFailed(checked.message(), kExitUsage);
  const std::shared_ptr<observe::Tracer> tracer = StartTracerOrExit("flightdeck-run", nullptr);
  auto client = ConnectClient(*options.temporal);
  const std::string id = options.id.empty() ? NewRunId(spec->name) : options.id;
  auto result = RunPipelineWorkflow(*client, text.str(), options.spec_path, *spec, id,
                                    options.wait, !options.quiet, tracer.get());
  Check(result.status(), "pipeline " + id);
}

void AddRunCommand(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Validate a pipeline spec and start it on Temporal");
  cmd->add_option("spec", options->spec_path, "The pipeline spec (YAML)")->required();
  options->temporal = AddTemporalOptions(cmd);
  cmd->add_option("--id", options->id, "Workflow (and run) id; default: <name>-<random>");
  cmd->add_flag("--wait", options->wait, "Show progress and wait for the summary");
  cmd->add_flag("-q,--quiet", options->quiet, "With --wait: no progress lines, only the summary");
  options->cluster = AddClusterOptions(cmd,
                                       "The data nodes of a spec without 'nodes:': the live members of a cluster "
                                       "file or of etcd[s]://HOST:PORT[/PREFIX], fixed in the run's input when it "
                                       "starts",
                                       false);
  auto nodes = AddNodeClientOptions(cmd);
  cmd->callback([options, nodes] {
    UseNodeClient(*nodes);
    RunPipeline(*options);
  });
}

// One engine per activity slot, the machine's cores and memory shared out.
std::shared_ptr<frame::EnginePool> OpenSlotEngines(int slots, const std::string& memory, int threads,
                                                    const std::string& spill_dir) {
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  frame::EngineOptions options;
  options.threads = threads > 0 ? threads : std::max(1, cores / slots);
  options.spill_directory = spill_dir;
  options.track_progress = true;  // activities heartbeat it
  if (!memory.empty()) {
    auto bytes = frame::ParseByteSize(memory);
    if (!bytes.ok()) throw CommandFailed("--engine-memory: " + bytes.status().message(), kExitUsage);
    options.memory_limit = *bytes;
  } else {
    const int64_t physical = static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGE_SIZE);
    options.memory_limit = std::max<int64_t>(int64_t{256} << 20, physical / 10 * 8 / slots);
  }
  auto pool = frame::EnginePool::Open(slots, options);
  Check(pool.status(), "opening the activity slots' engines");
  return std::shared_ptr<frame::EnginePool>(std::move(*pool));
}

void AddWorkerCommand(CLI::App& app) {
  auto queue = std::make_shared<std::string>("flightdeck");
  auto slots = std::make_shared<int>(4);
  auto engine_memory = std::make_shared<std::string>();
  auto engine_threads = std::make_shared<int>(0);
  auto spill_dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "worker", "Serve PipelineWorkflow and the stage activities until SIGINT/SIGTERM");
  auto temporal_flags = AddTemporalOptions(cmd);
  cmd->add_option("--task-queue", *queue, "Task queue to poll")->capture_default_str();
  cmd->add_option("--activity-slots", *slots, "Activities run at once")
      ->capture_default_str()
      ->check(PositiveNumber());
  cmd->add_option("--engine-memory", *engine_memory,
                  "Memory limit of each activity slot's engine, e.g. 2GiB (default: 80% of RAM "
                  "divided by the slots); beyond it joins, aggregates and sorts spill");
  cmd->add_option("--engine-threads", *engine_threads,
                  "Threads of each activity slot's engine (default: cores divided by the slots)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--spill-dir", *spill_dir,
                  "Where the engines spill (engine-<slot>/ under it; default: a temporary folder)");
  auto beside = std::make_shared<std::string>();
  cmd->add_option("--node", *beside,
                  "The data node this worker runs beside: it also polls that node's task queue (<task-queue>@HOST:PORT), "
                  "where runs with `locality: true` send the steps whose data is there first, and its metrics count "
                  "local and remote bytes");
  auto nodes = AddNodeClientOptions(cmd);
  auto metrics_flags = AddMetricsOptions(cmd);
  cmd->callback([temporal_flags, queue, slots, engine_memory, engine_threads, spill_dir, nodes, metrics_flags,
                 beside] {
    UseNodeClient(*nodes);
    // Buffers received over Flight are not 64-byte aligned; x86 reads them fine.
    setenv("ACERO_ALIGNMENT_HANDLING", "ignore", /*overwrite=*/0);
    TemporalTarget target = ResolveTemporalOrExit(*temporal_flags);
    MetricsEndpoint metrics = StartMetricsOrExit(*metrics_flags);
    const auto sdk_metrics = SdkMetrics(metrics.metrics);
    std::shared_ptr<observe::Tracer> tracer = StartTracerOrExit("flightdeck-worker", metrics.metrics);
    target.connection.metrics = sdk_metrics;
    auto conn = temporal::Connection::Connect(target.connection);
    Check(conn.status(), "cannot connect to Temporal at " + target.connection.target);
    // Pipeline workflow tasks are short: a workflow left on the sticky queue
    // of a worker that died moves to the normal queue after 1 s, not 5 s.
    auto worker = temporal::Worker::Make(*conn, {.namespace_name = target.ns,
                                                 .task_queue = *queue,
                                                 .max_concurrent_activities = *slots,
                                                 .sticky_schedule_to_start_timeout =
                                                     std::chrono::seconds(1),
                                                 .metrics_handler = sdk_metrics,
                                                 .codecs = target.codecs,
                                                 .tracer = tracer});
    Check(worker.status(), "worker");
    auto engines = OpenSlotEngines(*slots, *engine_memory, *engine_threads, *spill_dir);
    Check(pipeline::RegisterPipeline(**worker, engines, metrics.metrics), "registering the pipeline");
    // Beside a node: the stage activities also on that node's queue, on the
    // same engines (so the same slots in total).
    std::unique_ptr<temporal::Worker> local;
    if (!beside->empty()) {
      if (beside->find("://") == std::string::npos) throw CommandFailed("--node: expected a location such as "
                                                                        "grpc+tcp://HOST:PORT", kExitUsage);
      auto made = temporal::Worker::Make(*conn, {.namespace_name = target.ns,
                                                 .task_queue = pipeline::LocalTaskQueue(*queue, *beside),
                                                 .max_concurrent_activities = *slots,
                                                 .metrics_handler = sdk_metrics,
                                                 .codecs = target.codecs,
                                                 .tracer = tracer});
      Check(made.status(), "worker beside " + *beside);
      local = std::move(*made);
      Check(pipeline::RegisterPipelineActivities(*local, engines, metrics.metrics), "registering the activities");
      pipeline::ObserveNodeTransfers(*beside, metrics.metrics);
    }
    std::signal(SIGTERM, OnStopSignal);
    std::signal(SIGINT, OnStopSignal);
    Check((*worker)->Start(), "starting the worker");
    if (local) Check(local->Start(), "starting the worker beside " + *beside);
    // The first stdout line is a contract: tests wait for it.
    std::cout << "flightdeck worker polling " << *queue
              << (local ? " and " + pipeline::LocalTaskQueue(*queue, *beside) : std::string()) << " on "
              << target.connection.target << " (namespace " << target.ns << ")" << std::endl;
    if (metrics.server) {
      std::cout << "flightdeck metrics at http://" << metrics_flags->host << ":" << metrics.server->port()
                << "/metrics" << std::endl;
    }
    while (!stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (local) Check(local->Shutdown(), "worker shutdown");
    Check((*worker)->Shutdown(), "worker shutdown");
  });
}

// Per stage (activity type): activities done, running and waiting, rows and
// bytes of their outputs, and their summed time; then the backlog.
void PrintStages(temporal::Client& client, const std::string& id, const temporal::CodecChain& codecs) {
  auto history = client.GetHistory({.workflow_id = id});
  if (!history.ok()) return;  // the status above says what there is to say
  if (!codecs.DecodeAll(&*history).ok()) return;
  const Run run = ReadRun(id, *history);
  struct Stage {
    int done = 0, running = 0, waiting = 0, failed = 0;
    int64_t rows = 0, bytes = 0;
    double ms = 0;
  };
  std::map<std::string, Stage> stages;
  for (const auto& bar : run.bars) {
    Stage& stage = stages[bar.activity];
    if (bar.outcome == "completed") {
      ++stage.done;
      stage.ms += bar.end_ms - bar.start_ms;
      stage.rows += std::max<int64_t>(bar.rows, 0);
      stage.bytes += std::max<int64_t>(bar.bytes, 0);
    } else if (bar.outcome == "running") {
      ++stage.running;
    } else if (bar.outcome == "scheduled") {
      ++stage.waiting;
    } else {
      ++stage.failed;
    }
  }
  if (stages.empty()) return;
  std::printf("  %-26s %5s %8s %8s %7s %12s %14s %10s\n", "stage", "done", "running", "waiting", "failed", "rows",
              "bytes", "time");
  int waiting = 0, running = 0;
  for (const auto& [name, stage] : stages) {
    std::printf("  %-26s %5d %8d %8d %7d %12lld %14lld %9.2fs\n", name.c_str(), stage.done, stage.running,
                stage.waiting, stage.failed, static_cast<long long>(stage.rows), static_cast<long long>(stage.bytes),
                stage.ms / 1000.0);
    waiting += stage.waiting;
    running += stage.running;
  }
  std::printf("  backlog: %d activities scheduled and not started, %d running\n", waiting, running);
}

void AddStatusCommand(CLI::App& app) {
  auto id = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>("text");
  CLI::App* cmd = app.add_subcommand("status", "Show a pipeline run's status and progress");
  cmd->add_option("id", *id, "Workflow id")->required();
  auto temporal_flags = AddTemporalOptions(cmd);
  cmd->add_option("-o,--output", *output, "text, or json: one object with status, progress and result")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->callback([temporal_flags, id, output] {
    const TemporalTarget target = ResolveTemporalOrExit(*temporal_flags);
    auto client = ConnectClientOrExit(target);
    const temporal::WorkflowHandle handle{.workflow_id = *id};
    auto described = client->Describe(handle);
    Check(described.status(), "describe " + *id);
    const auto status = described->workflow_execution_info().status();
    auto query = client->Query<nlohmann::json>(handle, pipeline::kProgressQuery);
    if (described->workflow_execution_info().type().name() == pipeline::kRepairWorkflow) {
      // The repair's own progress, as its query answers it.
      const nlohmann::json repair = query.ok() ? *query : nlohmann::json(nullptr);
      if (*output == "json") {
        std::printf("%s\n", nlohmann::json{{"id", *id}, {"status", temporal::StatusName(status)}, {"progress", repair}}
                                .dump(2)
                                .c_str());
      } else {
        std::printf("%s: %s\n", id->c_str(), temporal::StatusName(status).c_str());
        if (repair.is_object()) {
          std::printf("  %s, %s nodes, down: %s, gone: %s; %s copies made (%s bytes) in %s rounds\n",
                      repair.value("phase", std::string("?")).c_str(), repair["nodes"].dump().c_str(),
                      repair["down"].dump().c_str(), repair["gone"].dump().c_str(), repair["copied"].dump().c_str(),
                      repair["bytes"].dump().c_str(), repair["rounds"].dump().c_str());
        }
      }
      std::fflush(stdout);
      return;
    }
    std::optional<RunProgress> progress;
    if (query.ok()) progress = ReadRunProgress(*query, *described, UnixMillis());
    std::optional<nlohmann::json> result;
    if (status == enums::WORKFLOW_EXECUTION_STATUS_COMPLETED) {
      auto got = client->GetResult<nlohmann::json>(handle);
      Check(got.status(), "result of " + *id);
      result = *got;
    }
    if (*output == "json") {
      const nlohmann::json out = {{"id", *id},
                                  {"status", temporal::StatusName(status)},
                                  {"progress", progress ? progress->ToJson() : nlohmann::json(nullptr)},
                                  {"result", result ? *result : nlohmann::json(nullptr)}};
      std::printf("%s\n", out.dump(2).c_str());
      std::fflush(stdout);
      return;
    }
    std::printf("%s: %s\n", id->c_str(), temporal::StatusName(status).c_str());
    if (progress) {
      std::printf("  %s\n", ProgressLine(*progress).c_str());
      for (const auto& line : progress->waiting) std::printf("  %s\n", line.c_str());
    }
    PrintStages(*client, *id, target.codecs);
    if (result) PrintSummary(*result);
    std::fflush(stdout);
  });
}

void AddCancelCommand(CLI::App& app) {
  auto id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("cancel", "Ask a pipeline run to cancel");
  cmd->add_option("id", *id, "Workflow id")->required();
  auto temporal_flags = AddTemporalOptions(cmd);
  cmd->callback([temporal_flags, id] {
    auto client = ConnectClient(*temporal_flags);
    Check(client->Cancel({.workflow_id = *id}, "flightdeck cancel"), "cancel " + *id);
    std::printf("cancel requested: %s\n", id->c_str());
  });
}

// `flightdeck pause|resume ID`: the workflow's pause / resume signal.
void AddSignalCommand(CLI::App& app, const std::string& name, const std::string& help,
                      const std::string& signal) {
  auto id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(name, help);
  cmd->add_option("id", *id, "Workflow id")->required();
  auto temporal_flags = AddTemporalOptions(cmd);
  cmd->callback([temporal_flags, id, signal, name] {
    auto client = ConnectClient(*temporal_flags);
    Check(client->Signal(temporal::WorkflowHandle{.workflow_id = *id}, signal),
          name + " " + *id);
    std::printf("%s requested: %s\n", name.c_str(), id->c_str());
  });
}

void AddGcCommand(CLI::App& app) {
  auto node = std::make_shared<std::string>();
  auto tenant = std::make_shared<std::string>("default");
  auto dry_run = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "gc", "Drop the datasets that pipeline runs closed in Temporal left on a data node (terminated, "
            "timed out, history deleted), except within their spec's retention");
  cmd->add_option("--node", *node, "The data node, e.g. grpc+tcp://127.0.0.1:7100")->required();
  cmd->add_option("--tenant", *tenant, "The tenant whose datasets to collect")->capture_default_str();
  auto temporal_flags = AddTemporalOptions(cmd);
  cmd->add_flag("--dry-run", *dry_run, "Say what would be dropped, drop nothing");
  auto nodes = AddNodeClientOptions(cmd);
  cmd->callback([temporal_flags, node, tenant, dry_run, nodes] {
    UseNodeClient(*nodes);
    auto client = ConnectClient(*temporal_flags);
    auto runs = pipeline::CollectRunGarbage(*client, *node, *tenant, *dry_run);
    Check(runs.status(), "gc on " + *node);
    int64_t dropped = 0;
    for (const auto& run : *runs) {
      if (run.dropped) {
        dropped += run.count;
        std::printf("%s %lld datasets of run %s (%s)\n", *dry_run ? "would drop" : "dropped",
                    static_cast<long long>(run.count), run.run.c_str(), run.state.c_str());
      } else {
        std::printf("kept %lld datasets of run %s (%s)\n", static_cast<long long>(run.count), run.run.c_str(),
                    run.kept_because.c_str());
      }
    }
    std::printf("%s %lld datasets of %zu runs\n", *dry_run ? "would drop" : "dropped",
                static_cast<long long>(dropped), runs->size());
    std::fflush(stdout);
  });
}

void AddListCommand(CLI::App& app) {
  auto query = std::make_shared<std::string>();
  auto limit = std::make_shared<int>(100);
  auto output = std::make_shared<std::string>("text");
  CLI::App* cmd = app.add_subcommand("list", "List pipeline runs, newest first");
  auto temporal_flags = AddTemporalOptions(cmd);
  cmd->add_option("-q,--query", *query,
                  "A Temporal visibility query the runs must also match, e.g. "
                  "\"ExecutionStatus='Running'\" or \"StartTime > '2026-12-01T00:00:00Z'\"");
  cmd->add_option("--limit", *limit, "At most this many runs; 0: all")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("-o,--output", *output, "text, or json: one array of {id, run_id, status, start, close}")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->callback([temporal_flags, query, limit, output] {
    auto client = ConnectClient(*temporal_flags);
    std::string visibility = std::string("WorkflowType='") + pipeline::kPipelineWorkflow + "'";
    if (!query->empty()) visibility += " AND (" + *query + ")";
    // Page by page, until the limit.
    std::vector<::temporal::api::workflow::v1::WorkflowExecutionInfo> found;
    std::string token;
    do {
      auto page = client->ListPage(visibility, *limit > 0 ? std::min(*limit, 1000) : 1000, token);
      if (!page.ok() && page.status().IsInvalid()) {
        throw CommandFailed("--query '" + *query + "': " + page.status().message(), kExitUsage);
      }
      Check(page.status(), "list");
      for (auto& info : page->executions) {
        if (*limit > 0 && found.size() >= static_cast<size_t>(*limit)) break;
        found.push_back(std::move(info));
      }
      token = page->next_page_token;
    } while (!token.empty() && (*limit == 0 || found.size() < static_cast<size_t>(*limit)));
    const auto* runs = &found;
    const auto time_text = [](const google::protobuf::Timestamp& at) {
      return at.seconds() == 0 && at.nanos() == 0 ? std::string() : google::protobuf::util::TimeUtil::ToString(at);
    };
    if (*output == "json") {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& info : *runs) {
        out.push_back({{"id", info.execution().workflow_id()},
                       {"run_id", info.execution().run_id()},
                       {"status", temporal::StatusName(info.status())},
                       {"start", time_text(info.start_time())},
                       {"close", time_text(info.close_time())}});
      }
      std::printf("%s\n", out.dump(2).c_str());
    } else {
      for (const auto& info : *runs) {
        std::printf("%-40s %-12s %s\n", info.execution().workflow_id().c_str(),
                    temporal::StatusName(info.status()).c_str(), time_text(info.start_time()).c_str());
      }
    }
    std::fflush(stdout);
  });
}

}  // namespace

arrow::Result<nlohmann::json> RunPipelineWorkflow(temporal::Client& client,
                                                  const std::string& spec_text,
                                                  const std::string& origin,
                                                  const pipeline::PipelineSpec& spec,
                                                  const std::string& id, bool wait,
                                                  bool show_progress, SpanSink* tracer) {
  temporal::StartWorkflowOptions start{.id = id, .type = pipeline::kPipelineWorkflow,
                                       .task_queue = spec.task_queue,
                                       .task_timeout = pipeline::kPipelineTaskTimeout};
  // With a tracer, the run's trace begins here; the workflow continues it.
  std::optional<TraceContext> trace;
  if (tracer != nullptr) {
    trace = StartSpanContext(*tracer, std::nullopt);
    start.header[temporal::kTracerHeader] = temporal::TraceHeaderPayload(*trace);
  }
  const auto start_at = std::chrono::system_clock::now();
  ARROW_ASSIGN_OR_RAISE(auto handle, client.StartWorkflow(start, spec_text, origin, id));
  std::printf("workflow id: %s\n", id.c_str());
  if (trace && trace->sampled) {
    tracer->Export({.name = std::string("StartWorkflow:") + pipeline::kPipelineWorkflow,
                    .kind = SpanKind::kClient,
                    .context = *trace,
                    .start = start_at,
                    .end = std::chrono::system_clock::now(),
                    .attributes = {{"temporalWorkflowID", id}, {"temporalRunID", handle.run_id}}});
    std::printf("trace id: %s\n", trace->trace_id.c_str());
  }
  std::fflush(stdout);
  if (!wait) return nlohmann::json::object();
  // Progress until the run closes (a display refresh, not synchronization):
  // on a terminal one line redrawn in place, else a plain line when the
  // phase, the partitions done or what waits changes, at most one a second
  // otherwise.
  const bool terminal = show_progress && ::isatty(STDOUT_FILENO) != 0;
  std::string last_state, last_waiting;
  int64_t last_print_ms = 0;
  bool drawn = false;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto described, client.Describe(handle));
    if (described.workflow_execution_info().status() !=
        enums::WORKFLOW_EXECUTION_STATUS_RUNNING) {
      break;
    }
    auto query = show_progress ? client.Query<nlohmann::json>(handle, pipeline::kProgressQuery)
                               : arrow::Result<nlohmann::json>(arrow::Status::Cancelled("quiet"));
    if (query.ok()) {
      const int64_t now = UnixMillis();
      const RunProgress progress = ReadRunProgress(*query, described, now);
      const std::string line = ProgressLine(progress);
      std::string waiting;
      for (const auto& sentence : progress.waiting) waiting += "  " + sentence + "\n";
      const std::string state = query->value("phase", std::string()) + "/" +
                                std::to_string(query->value("partitions_done", int64_t{0}));
      if (terminal) {
        if (waiting != last_waiting && !waiting.empty()) std::printf("\r\033[K%s", waiting.c_str());
        std::printf("\r\033[K  %s", line.c_str());
        drawn = true;
      } else if (state != last_state || waiting != last_waiting || now - last_print_ms >= 1000) {
        std::printf("  %s\n%s", line.c_str(), waiting.c_str());
        last_print_ms = now;
      }
      std::fflush(stdout);
      last_state = state;
      last_waiting = waiting;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (drawn) std::printf("\n");
  ARROW_ASSIGN_OR_RAISE(auto result, client.GetResult<nlohmann::json>(handle));
  std::printf("pipeline %s done in %.2f s\n", id.c_str(),
              static_cast<double>(result.value("elapsed_ms", int64_t{0})) / 1000.0);
  PrintSummary(result);
  return result;
}

void AddPipelineCommands(CLI::App& app) {
  AddWorkerCommand(app);
  AddRunCommand(app);
  AddStatusCommand(app);
  AddCancelCommand(app);
  AddSignalCommand(app, "pause",
                   "Pause a pipeline run: no new partition or step starts until resumed",
                   pipeline::kPauseSignal);
  AddSignalCommand(app, "resume", "Resume a paused pipeline run", pipeline::kResumeSignal);
  AddListCommand(app);
  AddGcCommand(app);
}

}  // namespace flightdeck::cli
