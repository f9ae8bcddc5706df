// `flightdeck worker`, `run`, `status`, `cancel`, `pause`, `resume`, `list`: pipelines on a
// Temporal server (the PipelineWorkflow of pipeline/pipeline_workflow.h).
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "flightdeck/common/random.h"
#include "flightdeck/cli/commands.h"
#include "flightdeck/frame/engine.h"
#include "flightdeck/cli/pipeline_internal.h"
#include "flightdeck/pipeline/pipeline_workflow.h"
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

std::shared_ptr<temporal::Client> ConnectClient(const std::string& target) {
  auto conn = temporal::Connection::Connect({.target = target});
  Check(conn.status(), "cannot connect to Temporal at " + target);
  auto client = temporal::Client::Make(*conn);
  Check(client.status(), "Temporal client");
  return *client;
}

std::string NewRunId(const std::string& name) {
  return (name.empty() ? std::string("pipeline") : name) + "-" + RandomHex(8);
}

std::string StatusName(enums::WorkflowExecutionStatus status) {
  std::string name = enums::WorkflowExecutionStatus_Name(status);
  const std::string prefix = "WORKFLOW_EXECUTION_STATUS_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string FormatDuration(int64_t ms) {
  char text[32];
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

std::string ProgressLine(const nlohmann::json& progress) {
  const int64_t done = progress.value("partitions_done", int64_t{0});
  const int64_t total = progress.value("partitions", int64_t{0});
  const int width = 20;
  const int filled = total > 0 ? static_cast<int>(width * done / total) : 0;
  std::string bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
  std::string eta = "ETA ?";
  if (progress.contains("eta_ms") && progress["eta_ms"].is_number()) {
    eta = "ETA " + FormatDuration(progress["eta_ms"].get<int64_t>());
  }
  if (progress.value("paused", false)) eta = "paused";
  char line[256];
  std::snprintf(line, sizeof(line), "%s %-10s %lld/%lld partitions, %lld rows, %.0f rows/s, %s",
                bar.c_str(), progress.value("phase", std::string("?")).c_str(),
                static_cast<long long>(done), static_cast<long long>(total),
                static_cast<long long>(progress.value("rows", int64_t{0})),
                progress.value("rows_per_s", 0.0), eta.c_str());
  return line;
}

// What keeps a run waiting that its progress cannot tell: Python stage
// tasks scheduled that no worker has taken yet (their activity ids name the
// stage, pipeline_workflow.h; the progress names its queue), one line per
// stage, e.g. "waiting: stage 2 (python 'tag') has 3 tasks on task queue
// 'etl-python' that no worker has taken for 12s".
std::vector<std::string> WaitingLines(
    const ::temporal::api::workflowservice::v1::DescribeWorkflowExecutionResponse& described,
    const nlohmann::json& progress) {
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
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  for (const auto& [stage, entry] : waiting) {
    std::string transform = "?", queue = "?";
    for (const auto& python : progress.value("python", nlohmann::json::array())) {
      if (python.value("stage", 0) != stage) continue;
      transform = python.value("transform", transform);
      queue = python.value("queue", queue);
    }
    lines.push_back("waiting: stage " + std::to_string(stage) + " (python '" + transform + "') has " +
                    std::to_string(entry.tasks) + (entry.tasks == 1 ? " task" : " tasks") + " on task queue '" +
                    queue + "' that no worker has taken for " +
                    FormatDuration(std::max<int64_t>(0, now - entry.oldest_s) * 1000) +
                    "; is a Python stage worker polling it?");
  }
  return lines;
}

void PrintSummary(const nlohmann::json& result) {
  std::printf("  rows       %lld committed to the sink\n  bytes      %lld\n  partitions %lld\n"
              "  parts      %zu\n",
              static_cast<long long>(result.value("rows", int64_t{0})),
              static_cast<long long>(result.value("bytes", int64_t{0})),
              static_cast<long long>(result.value("partitions", int64_t{0})),
              result.contains("parts") ? result["parts"].size() : size_t{0});
  std::fflush(stdout);
}

struct RunOptions {
  std::string spec_path;
  std::string target = "127.0.0.1:7233";
  std::string id;
  bool wait = false;
};

void RunPipeline(const RunOptions& options) {
  std::ifstream in(options.spec_path);
  if (!in) throw CommandFailed("cannot read spec " + options.spec_path, kExitUsage);
  std::stringstream text;
  text << in.rdbuf();
  auto spec = pipeline::ParsePipelineSpec(text.str(), options.spec_path);
  if (!spec.ok()) throw CommandFailed("invalid spec: " + spec.status().message(), kExitUsage);
  // Nothing starts for a spec that cannot run: its message points into the spec.
  const auto checked = pipeline::CheckSpec(*spec, text.str(), options.spec_path);
  if (!checked.ok()) throw CommandFailed(checked.message(), kExitUsage);
  auto client = ConnectClient(options.target);
  const std::string id = options.id.empty() ? NewRunId(spec->name) : options.id;
  auto result = RunPipelineWorkflow(*client, text.str(), options.spec_path, *spec, id,
                                    options.wait);
  Check(result.status(), "pipeline " + id);
}

void AddRunCommand(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Validate a pipeline spec and start it on Temporal");
  cmd->add_option("spec", options->spec_path, "The pipeline spec (YAML)")->required();
  cmd->add_option("--target", options->target, "Temporal frontend host:port")
      ->capture_default_str();
  cmd->add_option("--id", options->id, "Workflow (and run) id; default: <name>-<random>");
  cmd->add_flag("--wait", options->wait, "Show progress and wait for the summary");
  cmd->callback([options] { RunPipeline(*options); });
}

// One engine per activity slot, the machine's cores and memory shared out.
std::shared_ptr<frame::EnginePool> OpenSlotEngines(int slots, const std::string& memory, int threads,
                                                    const std::string& spill_dir) {
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  frame::EngineOptions options;
  options.threads = threads > 0 ? threads : std::max(1, cores / slots);
  options.spill_directory = spill_dir;
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
  auto target = std::make_shared<std::string>("127.0.0.1:7233");
  auto queue = std::make_shared<std::string>("flightdeck");
  auto slots = std::make_shared<int>(4);
  auto engine_memory = std::make_shared<std::string>();
  auto engine_threads = std::make_shared<int>(0);
  auto spill_dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "worker", "Serve PipelineWorkflow and the stage activities until SIGINT/SIGTERM");
  cmd->add_option("--target", *target, "Temporal frontend host:port")->capture_default_str();
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
  cmd->callback([target, queue, slots, engine_memory, engine_threads, spill_dir] {
    // Buffers received over Flight are not 64-byte aligned; x86 reads them fine.
    setenv("ACERO_ALIGNMENT_HANDLING", "ignore", /*overwrite=*/0);
    auto conn = temporal::Connection::Connect({.target = *target});
    Check(conn.status(), "cannot connect to Temporal at " + *target);
    // Pipeline workflow tasks are short: a workflow left on the sticky queue
    // of a worker that died moves to the normal queue after 1 s, not 5 s.
    auto worker = temporal::Worker::Make(*conn, {.task_queue = *queue,
                                                 .max_concurrent_activities = *slots,
                                                 .sticky_schedule_to_start_timeout =
                                                     std::chrono::seconds(1)});
    Check(worker.status(), "worker");
    auto engines = OpenSlotEngines(*slots, *engine_memory, *engine_threads, *spill_dir);
    Check(pipeline::RegisterPipeline(**worker, engines), "registering the pipeline");
    std::signal(SIGTERM, OnStopSignal);
    std::signal(SIGINT, OnStopSignal);
    Check((*worker)->Start(), "starting the worker");
    // The first stdout line is a contract: tests wait for it.
    std::cout << "flightdeck worker polling " << *queue << " on " << *target << std::endl;
    while (!stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Check((*worker)->Shutdown(), "worker shutdown");
  });
}

void AddStatusCommand(CLI::App& app) {
  auto target = std::make_shared<std::string>("127.0.0.1:7233");
  auto id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("status", "Show a pipeline run's status and progress");
  cmd->add_option("id", *id, "Workflow id")->required();
  cmd->add_option("--target", *target, "Temporal frontend host:port")->capture_default_str();
  cmd->callback([target, id] {
    auto client = ConnectClient(*target);
    const temporal::WorkflowHandle handle{.workflow_id = *id};
    auto described = client->Describe(handle);
    Check(described.status(), "describe " + *id);
    const auto status = described->workflow_execution_info().status();
    std::printf("%s: %s\n", id->c_str(), StatusName(status).c_str());
    auto progress = client->Query<nlohmann::json>(handle, pipeline::kProgressQuery);
    if (progress.ok()) {
      std::printf("  %s\n", ProgressLine(*progress).c_str());
      for (const auto& line : WaitingLines(*described, *progress)) std::printf("  %s\n", line.c_str());
    }
    if (status == enums::WORKFLOW_EXECUTION_STATUS_COMPLETED) {
      auto result = client->GetResult<nlohmann::json>(handle);
      Check(result.status(), "result of " + *id);
      PrintSummary(*result);
    }
    std::fflush(stdout);
  });
}

void AddCancelCommand(CLI::App& app) {
  auto target = std::make_shared<std::string>("127.0.0.1:7233");
  auto id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("cancel", "Ask a pipeline run to cancel");
  cmd->add_option("id", *id, "Workflow id")->required();
  cmd->add_option("--target", *target, "Temporal frontend host:port")->capture_default_str();
  cmd->callback([target, id] {
    auto client = ConnectClient(*target);
    Check(client->Cancel({.workflow_id = *id}, "flightdeck cancel"), "cancel " + *id);
    std::printf("cancel requested: %s\n", id->c_str());
  });
}

// `flightdeck pause|resume ID`: the workflow's pause / resume signal.
void AddSignalCommand(CLI::App& app, const std::string& name, const std::string& help,
                      const std::string& signal) {
  auto target = std::make_shared<std::string>("127.0.0.1:7233");
  auto id = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(name, help);
  cmd->add_option("id", *id, "Workflow id")->required();
  cmd->add_option("--target", *target, "Temporal frontend host:port")->capture_default_str();
  cmd->callback([target, id, signal, name] {
    auto client = ConnectClient(*target);
    Check(client->Signal(temporal::WorkflowHandle{.workflow_id = *id}, signal),
          name + " " + *id);
    std::printf("%s requested: %s\n", name.c_str(), id->c_str());
  });
}

void AddGcCommand(CLI::App& app) {
  auto target = std::make_shared<std::string>("127.0.0.1:7233");
  auto node = std::make_shared<std::string>();
  auto tenant = std::make_shared<std::string>("default");
  auto dry_run = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "gc", "Drop the datasets that pipeline runs closed in Temporal left on a data node (terminated, "
            "timed out, history deleted), except within their spec's retention");
  cmd->add_option("--node", *node, "The data node, e.g. grpc+tcp://127.0.0.1:7100")->required();
  cmd->add_option("--tenant", *tenant, "The tenant whose datasets to collect")->capture_default_str();
  cmd->add_option("--target", *target, "Temporal frontend host:port")->capture_default_str();
  cmd->add_flag("--dry-run", *dry_run, "Say what would be dropped, drop nothing");
  cmd->callback([target, node, tenant, dry_run] {
    auto client = ConnectClient(*target);
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
  auto target = std::make_shared<std::string>("127.0.0.1:7233");
  CLI::App* cmd = app.add_subcommand("list", "List pipeline runs");
  cmd->add_option("--target", *target, "Temporal frontend host:port")->capture_default_str();
  cmd->callback([target] {
    auto client = ConnectClient(*target);
    auto runs = client->List(std::string("WorkflowType='") + pipeline::kPipelineWorkflow + "'");
    Check(runs.status(), "list");
    for (const auto& info : *runs) {
      std::printf("%-40s %s\n", info.execution().workflow_id().c_str(),
                  StatusName(info.status()).c_str());
    }
    std::fflush(stdout);
  });
}

}  // namespace

arrow::Result<nlohmann::json> RunPipelineWorkflow(temporal::Client& client,
                                                  const std::string& spec_text,
                                                  const std::string& origin,
                                                  const pipeline::PipelineSpec& spec,
                                                  const std::string& id, bool wait) {
  ARROW_ASSIGN_OR_RAISE(
      auto handle,
      client.StartWorkflow({.id = id, .type = pipeline::kPipelineWorkflow,
                            .task_queue = spec.task_queue,
                            .task_timeout = pipeline::kPipelineTaskTimeout},
                           spec_text, origin, id));
  std::printf("workflow id: %s\n", id.c_str());
  std::fflush(stdout);
  if (!wait) return nlohmann::json::object();
  // Progress until the run closes (a display refresh, not synchronization).
  std::string last;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto described, client.Describe(handle));
    if (described.workflow_execution_info().status() !=
        enums::WORKFLOW_EXECUTION_STATUS_RUNNING) {
      break;
    }
    auto progress = client.Query<nlohmann::json>(handle, pipeline::kProgressQuery);
    if (progress.ok()) {
      std::string line = ProgressLine(*progress);
      for (const auto& waiting : WaitingLines(described, *progress)) line += "\n  " + waiting;
      if (line != last) std::printf("  %s\n", line.c_str());
      std::fflush(stdout);
      last = line;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
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
