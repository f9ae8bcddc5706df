#include "flightdeck/pipeline/activities.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string_view>

#include <arrow/util/base64.h>
#include <nlohmann/json.hpp>

#include "flightdeck/common/logging.h"
#include "flightdeck/flight/ticket.h"
#include "flightdeck/frame/engine.h"
#include "flightdeck/pipeline/activity_keep_alive.h"
#include "flightdeck/pipeline/spec_check.h"
#include "flightdeck/pipeline/stages.h"
#include "flightdeck/pipeline/stages_internal.h"
#include "flightdeck/temporal/converter/failure.h"
#include "flightdeck/temporal/worker/worker.h"

namespace flightdeck::pipeline {
namespace {

using temporal::ActivityContext;

// Invalid becomes the non-retryable InvalidPipeline error, a lost input the
// non-retryable DatasetLost error; others stay.
arrow::Status Classify(arrow::Status status) {
  if (status.IsInvalid()) {
    return temporal::ApplicationError(kInvalidPipelineError, status.message(),
                                      /*non_retryable=*/true);
  }
  if (const std::string input = LostInputOf(status); !input.empty()) {
    // The lost input travels as the failure's details, for the workflow.
    temporal::Failure failure;
    failure.set_message(status.message());
    auto* info = failure.mutable_application_failure_info();
    info->set_type(kDatasetLostError);
    info->set_non_retryable(true);
    auto details = temporal::ToPayloads(nlohmann::json{{"input", input}});
    if (details.ok()) *info->mutable_details() = std::move(*details);
    return temporal::FailureToStatus(failure);
  }
  return status;
}

template <typename T>
arrow::Result<T> Classify(arrow::Result<T> result) {
  if (!result.ok()) return Classify(result.status());
  return result;
}

arrow::Status Invalid(const std::string& message) {
  return temporal::ApplicationError(kInvalidPipelineError, message, /*non_retryable=*/true);
}

arrow::Result<std::shared_ptr<const PipelineSpec>> SpecOf(const StageTask& task) {
  return Classify(LoadSpec(task.spec));
}

// The ref of `ticket`, input of partition `partition` (with `reduced`, the
// output of reduce `partition` of the shuffle).
arrow::Result<DatasetRef> RefOf(const PipelineSpec& spec, int32_t partition,
                                const std::string& ticket, bool reduced = false) {
  if (ticket.empty()) return Invalid("stage task without a valid base64 input ticket");
  const int32_t count = reduced ? PlanStages(spec).shuffle : std::max<int32_t>(spec.partitions, 1);
  if (partition < 0 || partition >= count) {
    return Invalid(std::string(reduced ? "reduce " : "partition ") + std::to_string(partition) +
                   " out of range [0, " + std::to_string(count) + ")");
  }
  ARROW_ASSIGN_OR_RAISE(std::string node,
                        Classify(reduced ? ReduceNodeFor(spec, partition) : NodeFor(spec, partition)));
  DatasetRef ref;
  ref.node = std::move(node);
  ref.ticket = ExpandTicket(spec.tenant, ticket);
  return ref;
}

// Unpadded base64 (tickets in history).
std::string Base64(const std::string& bytes) {
  std::string text = arrow::util::base64_encode(bytes);
  while (!text.empty() && text.back() == '=') text.pop_back();
  return text;
}

// The bytes of unpadded or padded base64 text in `field`; throws naming the
// field when the text is not base64 (never a silent empty string).
std::string Unbase64(const std::string& given, const char* field) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const size_t data = given.find_last_not_of('=') + 1;  // 0 when all '=' or empty
  bool valid = given.size() - data <= 2 && data % 4 != 1;
  for (size_t i = 0; valid && i < data; ++i) valid = kAlphabet.find(given[i]) != std::string_view::npos;
  std::string padded = given.substr(0, data);
  while (padded.size() % 4 != 0) padded.push_back('=');
  auto decoded = arrow::util::base64_decode(padded);
  if (!valid || !decoded.ok()) {
    throw nlohmann::json::other_error::create(
        501, std::string("field '") + field + "' is not base64: '" + given.substr(0, 40) + "'", nullptr);
  }
  return *decoded;
}

// `json[name]` as T, or `fallback` when absent; throws naming the field when
// it has another type.
template <typename T>
T Optional(const nlohmann::json& json, const char* name, T fallback, const char* what) {
  const auto it = json.find(name);
  if (it == json.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw nlohmann::json::type_error::create(
        302, std::string(what) + ": field '" + name + "' has the wrong type (" + it->dump().substr(0, 80) + ")",
        nullptr);
  }
}

void ExpectObject(const nlohmann::json& json, const char* what, const char* required) {
  if (!json.is_object()) {
    throw nlohmann::json::type_error::create(302, std::string(what) + " must be a JSON object, got " +
                                                      json.dump().substr(0, 80),
                                             nullptr);
  }
  if (!json.contains(required)) {
    throw nlohmann::json::out_of_range::create(403, std::string(what) + ": missing field '" + required + "'",
                                               nullptr);
  }
}

// The run a task names: its own, or the workflow id of the activity.
std::string RunOf(const ActivityContext& ctx, const StageTask& task) {
  return task.run.empty() ? ctx.info().workflow_id : task.run;
}

}  // namespace

void to_json(nlohmann::json& json, const StageTask& task) {
  json = nlohmann::json::object();
  json["spec"] = task.spec;
  if (!task.run.empty()) json["run"] = task.run;
  json["partition"] = task.partition;
  if (!task.input.empty()) json["input"] = Base64(task.input);
  if (!task.inputs.empty()) {
    json["inputs"] = nlohmann::json::array();
    for (const auto& ticket : task.inputs) json["inputs"].push_back(Base64(ticket));
  }
  if (!task.parts.empty()) json["parts"] = task.parts;
  if (!task.yaml.empty()) json["yaml"] = task.yaml;
  if (!task.origin.empty()) json["origin"] = task.origin;
  if (!task.range.empty()) json["range"] = task.range;
}

void from_json(const nlohmann::json& json, StageTask& task) {
  constexpr const char* kWhat = "stage task";
  ExpectObject(json, kWhat, "spec");
  task.spec = Optional<std::string>(json, "spec", "", kWhat);
  task.run = Optional<std::string>(json, "run", "", kWhat);
  task.partition = Optional<int32_t>(json, "partition", 0, kWhat);
  task.input = Unbase64(Optional<std::string>(json, "input", "", kWhat), "input");
  task.inputs.clear();
  for (const auto& ticket : Optional<std::vector<std::string>>(json, "inputs", {}, kWhat)) {
    task.inputs.push_back(Unbase64(ticket, "inputs"));
  }
  task.parts = Optional<std::vector<std::string>>(json, "parts", {}, kWhat);
  task.yaml = Optional<std::string>(json, "yaml", "", kWhat);
  task.origin = Optional<std::string>(json, "origin", "", kWhat);
  task.range = Optional<std::vector<int32_t>>(json, "range", {}, kWhat);
}

void DatasetRefToHistory(nlohmann::json& json, const DatasetRef& ref) {
  json = {{"ticket", Base64(ref.ticket)}, {"rows", ref.rows}, {"bytes", ref.bytes}, {"checksum", ref.checksum}};
  if (ref.source_rows != 0) json["source_rows"] = ref.source_rows;
  if (ref.source_bytes != 0) json["source_bytes"] = ref.source_bytes;
}

void DatasetRefFromHistory(const nlohmann::json& json, DatasetRef& ref) {
  constexpr const char* kWhat = "dataset ref";
  ExpectObject(json, kWhat, "ticket");
  ref.node.clear();
  ref.schema_fingerprint.clear();
  ref.ticket = Unbase64(Optional<std::string>(json, "ticket", "", kWhat), "ticket");
  ref.rows = Optional<int64_t>(json, "rows", 0, kWhat);
  ref.bytes = Optional<int64_t>(json, "bytes", 0, kWhat);
  ref.checksum = Optional<std::string>(json, "checksum", "", kWhat);
  ref.source_rows = Optional<int64_t>(json, "source_rows", 0, kWhat);
  ref.source_bytes = Optional<int64_t>(json, "source_bytes", 0, kWhat);
}

std::string LostInputOfFailure(const arrow::Status& status) {
  for (const temporal::Failure* failure = temporal::FailureOf(status); failure != nullptr;
       failure = failure->has_cause() ? &failure->cause() : nullptr) {
    if (!failure->has_application_failure_info()) continue;
    const auto& info = failure->application_failure_info();
    if (info.type() != kDatasetLostError || info.details().payloads_size() == 0) continue;
    auto details = temporal::FromPayloads<nlohmann::json>(info.details(), 0);
    if (details.ok() && details->is_object()) return details->value("input", std::string());
  }
  return "";
}

std::string CompactTicket(const std::string& tenant, const std::string& ticket) {
  // DecodeTicket accepts exactly "fdt1:TENANT:ID" with a 32 lowercase hex
  // digit ID, which is what TicketIdToBytes takes. A signed ticket keeps
  // its signature ("!KEY!EXPIRES!RIGHTS!MAC") after the 16 bytes.
  const size_t bang = ticket.find('!');
  const std::string plain = ticket.substr(0, bang);
  auto decoded = flight::DecodeTicket(plain);
  if (!decoded.ok() || decoded->tenant != tenant) return ticket;
  auto bytes = flight::TicketIdToBytes(decoded->id);
  if (!bytes.ok()) return ticket;
  return *bytes + (bang == std::string::npos ? "" : ticket.substr(bang));
}

std::string ExpandTicket(const std::string& tenant, const std::string& compact) {
  // Anything but 16 bytes, alone or before a signature, is not a compact
  // ticket and travels unchanged.
  const bool is_signed = compact.size() > flight::kTicketIdBytes && compact[flight::kTicketIdBytes] == '!' &&
                         std::count(compact.begin() + flight::kTicketIdBytes, compact.end(), '!') == 4;
  if (compact.size() != flight::kTicketIdBytes && !is_signed) return compact;
  auto id = flight::TicketIdFromBytes(compact.substr(0, flight::kTicketIdBytes));
  if (!id.ok()) return compact;
  return flight::TicketId{tenant, *std::move(id)}.Encode() + compact.substr(flight::kTicketIdBytes);
}

namespace {

// What a stage activity answers: its output's ref without what the workflow
// knows already (the node is NodeFor(partition)) or does not need (the
// schema fingerprint), with a compact ticket, to keep history small.
DatasetRef ForHistory(const PipelineSpec& spec, DatasetRef ref) {
  ref.node.clear();
  ref.schema_fingerprint.clear();
  ref.ticket = CompactTicket(spec.tenant, ref.ticket);
  return ref;
}

// The stages `range` of one partition's chain from its source (see
// flightdeck.partition in the header): its output's ref (on NodeFor(spec,
// partition)). With `last` (the range ends the per-partition stages), the
// partial aggregate and the load follow as the plan says.
arrow::Result<DatasetRef> RunChain(const PipelineSpec& spec, const std::string& run,
                                   int32_t partition, StageRange range, bool last) {
  const StagePlan plan = PlanStages(spec);
  const bool load = last && plan.global.empty() && plan.shuffle == 0;
  const bool partial = last && (plan.partial_aggregate || plan.partial_top);
  // A range shuffle's map: its output checkpointed as usual, then sampled
  // (from this process's copy of it).
  const bool sample = last && plan.range;
  if (last && plan.shuffle > 0 && !plan.range) {
    // The chain ends as the shuffle's map: its rows go to the reduces'
    // buckets instead of a checkpoint of their own.
    for (int recomputes = 0;; ++recomputes) {
      std::optional<DatasetRef> extracted;
      if (!SourceIsDurable(spec.source)) {
        ARROW_ASSIGN_OR_RAISE(extracted, Extract(spec, run, partition));
      }
      auto mapped = ShuffleMap(spec, run, partition, extracted, range);
      if (!mapped.ok() && !LostInputOf(mapped.status()).empty() && recomputes < kMaxChainRecomputes) continue;
      return mapped;
    }
  }
  for (int recomputes = 0;; ++recomputes) {
    // A lost intermediate output: the chain goes again from the stage that
    // made it (Extract and TransformPartition find the outputs that remain).
    const auto lost = [&](const arrow::Status& status) {
      return !LostInputOf(status).empty() && recomputes < kMaxChainRecomputes;
    };
    // File sources are durable already: the first stages read them in place
    // and only their output is checkpointed. Other sources are extracted
    // (and checkpointed) first.
    arrow::Result<DatasetRef> transformed;
    if (SourceIsDurable(spec.source)) {
      transformed = TransformSourcePartition(spec, run, partition, range, partial, sample);
    } else {
      ARROW_ASSIGN_OR_RAISE(DatasetRef extracted, Extract(spec, run, partition));
      // No stage to run (a Python stage comes first): the extract is the output.
      transformed = range.empty() && !partial
                        ? arrow::Result<DatasetRef>(extracted)
                        : TransformPartition(spec, run, partition, extracted, range, partial, sample);
    }
    if (!transformed.ok() && lost(transformed.status())) continue;
    ARROW_RETURN_NOT_OK(transformed.status());
    if (load) {
      auto staged = Load(spec, run, partition, *transformed);
      if (!staged.ok() && lost(staged.status())) continue;
      ARROW_RETURN_NOT_OK(staged.status());
    }
    if (sample) {
      const arrow::Status sampled = PutSortSample(spec, run, partition, *transformed);
      if (!sampled.ok() && lost(sampled)) continue;
      ARROW_RETURN_NOT_OK(sampled);
    }
    return transformed;
  }
}

// A later step of a partition's chain: stages `range` over `input` (the
// Python stage's output before them), then as RunChain when `last`.
arrow::Result<DatasetRef> ContinueChain(const PipelineSpec& spec, const std::string& run, int32_t partition,
                                        const DatasetRef& input, StageRange range, bool last) {
  const StagePlan plan = PlanStages(spec);
  const bool partial = last && (plan.partial_aggregate || plan.partial_top);
  const bool sample = last && plan.range;
  if (last && plan.shuffle > 0 && !plan.range) {
    return ShuffleMap(spec, run, partition, input, range);
  }
  DatasetRef output = input;
  if (!range.empty() || partial) {
    ARROW_ASSIGN_OR_RAISE(output, TransformPartition(spec, run, partition, input, range, partial, sample));
  }
  if (last && plan.global.empty() && plan.shuffle == 0) {
    ARROW_RETURN_NOT_OK(Load(spec, run, partition, output).status());
  }
  if (sample) ARROW_RETURN_NOT_OK(PutSortSample(spec, run, partition, output));
  return output;
}

// The dataset a partition's chain leaves its output under (as RunChain and
// ContinueChain put it): the last C++ step's transform, or, when that step
// has no stage and no partial aggregate to compute, the Python stage's
// output before it or the extract.
std::string ChainOutputDataset(const PipelineSpec& spec, const std::string& run) {
  const auto steps = ChainSteps(spec);
  const ChainStep& last = steps.back();
  const StagePlan plan = PlanStages(spec);
  if (!last.range.empty() || plan.partial_aggregate || plan.partial_top) return TransformDataset(run, last.range);
  if (steps.size() > 1) return run + "-s" + std::to_string(steps[steps.size() - 2].python);
  return SourceIsDurable(spec.source) ? TransformDataset(run, last.range) : run + "-extract";
}

// The step a partition task names: its range, or the whole chain.
arrow::Result<StageRange> StepOf(const PipelineSpec& spec, const StageTask& task) {
  const StageRange all = PlanStages(spec).per_partition;
  if (task.range.empty()) return all;
  const auto bad = [&] {
    return Invalid("partition: stage range [" + std::to_string(task.range[0]) + ", " +
                   std::to_string(task.range.size() > 1 ? task.range[1] : -1) +
                   ") is not a C++ step of the spec's chain");
  };
  if (task.range.size() != 2 || task.range[0] < 0 || task.range[1] < task.range[0]) return bad();
  const StageRange range{static_cast<size_t>(task.range[0]), static_cast<size_t>(task.range[1])};
  for (const auto& step : ChainSteps(spec)) {
    if (!step.is_python() && step.range.begin == range.begin && step.range.end == range.end) return range;
  }
  return bad();
}

// The engine of the activity slot for the activity's duration.
struct SlotEngine {
  std::optional<frame::EnginePool::Lease> lease;
  std::shared_ptr<frame::Engine> shared;  // no pool: the one-thread engine of deterministic specs
  std::optional<frame::ScopedEngine> scope;
  explicit SlotEngine(const std::shared_ptr<frame::EnginePool>& pool) {
    if (!pool) return;
    lease.emplace(pool->Acquire());
    scope.emplace(lease->engine());
  }
  // A deterministic spec's queries run on one thread (see
  // PipelineSpec::deterministic); others on all the engine's threads.
  // Without a pool (a worker embedded in another program), a deterministic
  // spec's queries run on a process-wide one-thread engine.
  arrow::Status For(const PipelineSpec& spec) {
    if (!lease) {
      if (!spec.deterministic || scope) return arrow::Status::OK();
      // Never destroyed, like Engine::Default(): at exit DuckDB's
      // thread-local state is gone before static destructors run, and
      // closing the engine then touched freed memory.
      static const auto* one_thread = new arrow::Result<std::shared_ptr<frame::Engine>>(
          frame::Engine::Open({.threads = 1, .track_progress = true}));
      ARROW_RETURN_NOT_OK(one_thread->status());
      shared = **one_thread;
      scope.emplace(shared);
      return arrow::Status::OK();
    }
    const auto& engine = lease->engine();
    return engine->SetThreads(spec.deterministic ? 1 : engine->options().threads);
  }
  // The heartbeat details of a stage activity: how far its query is (0 to
  // 1, "done"), and what it reads of the source when it reads the source.
  void ReportProgress(const ActivityKeepAlive& keep_alive, int32_t partition,
                      std::optional<SourceSize> source) const {
    std::shared_ptr<frame::Engine> running = lease ? lease->engine() : shared;
    keep_alive.SetDetails([running, partition, source] {
      nlohmann::json details = {{"partition", partition}};
      const double done = running ? running->Progress() : -1;
      if (done >= 0) details["done"] = done;
      if (source) {
        details["source_rows"] = source->rows;
        details["source_bytes"] = source->bytes;
      }
      return details;
    });
  }
};

// What a stage activity over a stored spec holds while it runs: its
// heartbeats, its slot's engine set up for the spec, and the spec.
struct SpecActivity {
  ActivityKeepAlive keep_alive;
  SlotEngine engine;
  std::shared_ptr<const PipelineSpec> spec;

  SpecActivity(ActivityContext& ctx, const std::shared_ptr<frame::EnginePool>& engines)
      : keep_alive(ctx), engine(engines) {}
  // Loads the task's spec and sets the engine up for it; with `progress_of`,
  // the heartbeats report the query's progress for that partition.
  arrow::Status Start(const StageTask& task, std::optional<int32_t> progress_of = std::nullopt) {
    ARROW_ASSIGN_OR_RAISE(spec, SpecOf(task));
    ARROW_RETURN_NOT_OK(engine.For(*spec));
    if (progress_of) engine.ReportProgress(keep_alive, *progress_of, std::nullopt);
    return arrow::Status::OK();
  }
};

arrow::Result<std::string> Prepare(ActivityContext& ctx, const std::shared_ptr<frame::EnginePool>& engines,
                                   const std::string& yaml, const std::string& origin, const std::string& run) {
  SlotEngine engine(engines);
  ARROW_ASSIGN_OR_RAISE(auto spec, Classify(ParsePipelineSpec(yaml, origin)));
  ARROW_RETURN_NOT_OK(Classify(CheckSpec(spec, yaml, origin)));
  return Classify(StoreSpec(spec, yaml, run.empty() ? ctx.info().workflow_id : run));
}

arrow::Result<DatasetRef> Partition(ActivityContext& ctx, const std::shared_ptr<frame::EnginePool>& engines,
                                    const StageTask& task) {
  const ActivityKeepAlive keep_alive(ctx);
  SlotEngine engine(engines);
  if (!task.yaml.empty()) {
    // No prepare ran: store the spec first, as prepare would have.
    ARROW_ASSIGN_OR_RAISE(auto parsed, Classify(ParsePipelineSpec(task.yaml, task.origin)));
    ARROW_RETURN_NOT_OK(Classify(CheckSpec(parsed, task.yaml, task.origin)));
    ARROW_ASSIGN_OR_RAISE(std::string key, Classify(SpecKeyOf(parsed, task.yaml, RunOf(ctx, task))));
    if (key != task.spec) {
      return Invalid("partition: spec key '" + task.spec +
                     "' does not name the spec text given (" + key + ")");
    }
    ARROW_RETURN_NOT_OK(Classify(StoreSpec(parsed, task.yaml, RunOf(ctx, task))));
  }
  ARROW_ASSIGN_OR_RAISE(auto spec, SpecOf(task));
  ARROW_RETURN_NOT_OK(engine.For(*spec));
  if (task.partition < 0 || task.partition >= std::max<int32_t>(spec->partitions, 1)) {
    return Invalid("partition " + std::to_string(task.partition) + " out of range [0, " +
                   std::to_string(spec->partitions) + ")");
  }
  ARROW_ASSIGN_OR_RAISE(const StageRange range, StepOf(*spec, task));
  const bool last = range.end == PlanStages(*spec).per_partition.end;
  if (task.input.empty()) {
    if (range.begin != PlanStages(*spec).per_partition.begin) {
      return Invalid("partition: a step after a Python stage needs the Python stage's output as input");
    }
    // For progress only: a source that cannot be sized fails when read.
    const SourceSize source = PartitionSourceSize(*spec, task.partition).ValueOr(SourceSize{});
    engine.ReportProgress(keep_alive, task.partition, source);
    ARROW_ASSIGN_OR_RAISE(auto output,
                          Classify(RunChain(*spec, RunOf(ctx, task), task.partition, range, last)));
    output.source_rows = source.rows;
    output.source_bytes = source.bytes;
    return ForHistory(*spec, std::move(output));
  }
  engine.ReportProgress(keep_alive, task.partition, std::nullopt);
  ARROW_ASSIGN_OR_RAISE(DatasetRef input, RefOf(*spec, task.partition, task.input));
  ARROW_ASSIGN_OR_RAISE(
      auto output, Classify(ContinueChain(*spec, RunOf(ctx, task), task.partition, input, range, last)));
  return ForHistory(*spec, std::move(output));
}

arrow::Result<DatasetRef> CombineAll(ActivityContext& ctx, const std::shared_ptr<frame::EnginePool>& engines,
                                     const StageTask& task) {
  SpecActivity activity(ctx, engines);
  ARROW_RETURN_NOT_OK(activity.Start(task, 0));
  const auto& spec = activity.spec;
  const StagePlan plan = PlanStages(*spec);
  const bool reduced = plan.shuffle > 0;
  const std::string run = RunOf(ctx, task);
  const std::string dataset = reduced ? run + "-reduce" : ChainOutputDataset(*spec, run);
  std::vector<DatasetRef> inputs;
  for (size_t i = 0; i < task.inputs.size(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto ref, RefOf(*spec, static_cast<int32_t>(i), task.inputs[i], reduced));
    ref.path = spec->tenant + "/" + dataset + "/" + std::to_string(i);  // where copies are looked for
    inputs.push_back(std::move(ref));
  }
  ARROW_ASSIGN_OR_RAISE(auto output, Classify(Combine(*spec, RunOf(ctx, task), inputs, plan.global,
                                                      plan.partial_aggregate && !reduced)));
  return ForHistory(*spec, std::move(output));
}

// Reduce `task.partition` of the shuffle; without global stages after it,
// loaded as that part of the sink.
arrow::Result<DatasetRef> ReduceOne(ActivityContext& ctx, const std::shared_ptr<frame::EnginePool>& engines,
                                    const StageTask& task) {
  SpecActivity activity(ctx, engines);
  ARROW_RETURN_NOT_OK(activity.Start(task, task.partition));
  const auto& spec = activity.spec;
  const StagePlan plan = PlanStages(*spec);
  if (plan.shuffle == 0) return Invalid("reduce: the spec has no shuffle");
  ARROW_ASSIGN_OR_RAISE(auto output, Classify(Reduce(*spec, RunOf(ctx, task), task.partition)));
  if (plan.global.empty()) {
    ARROW_RETURN_NOT_OK(Classify(Load(*spec, RunOf(ctx, task), task.partition, output).status()));
  }
  return ForHistory(*spec, std::move(output));
}

// The boundaries of the range shuffle from every map's sample.
arrow::Result<DatasetRef> BoundsOfSamples(ActivityContext& ctx, const std::shared_ptr<frame::EnginePool>& engines,
                                          const StageTask& task) {
  SpecActivity activity(ctx, engines);
  ARROW_RETURN_NOT_OK(activity.Start(task));
  const auto& spec = activity.spec;
  if (!PlanStages(*spec).range) return Invalid("bounds: the spec has no range shuffle");
  ARROW_ASSIGN_OR_RAISE(auto output, Classify(SortBounds(*spec, RunOf(ctx, task))));
  return ForHistory(*spec, std::move(output));
}

// Map `task.partition`'s output (`task.input`) split into the range
// shuffle's buckets.
arrow::Result<DatasetRef> SplitRanges(ActivityContext& ctx, const std::shared_ptr<frame::EnginePool>& engines,
                                      const StageTask& task) {
  SpecActivity activity(ctx, engines);
  ARROW_RETURN_NOT_OK(activity.Start(task, task.partition));
  const auto& spec = activity.spec;
  if (!PlanStages(*spec).range) return Invalid("split: the spec has no range shuffle");
  const std::string run = RunOf(ctx, task);
  ARROW_ASSIGN_OR_RAISE(DatasetRef input, RefOf(*spec, task.partition, task.input));
  input.path = spec->tenant + "/" + ChainOutputDataset(*spec, run) + "/" + std::to_string(task.partition);
  ARROW_ASSIGN_OR_RAISE(auto output, Classify(RangeSplit(*spec, run, task.partition, input)));
  return ForHistory(*spec, std::move(output));
}

arrow::Result<std::string> LoadPart(ActivityContext& ctx, const std::shared_ptr<frame::EnginePool>& engines,
                                    const StageTask& task) {
  SpecActivity activity(ctx, engines);
  ARROW_RETURN_NOT_OK(activity.Start(task));
  const auto& spec = activity.spec;
  ARROW_ASSIGN_OR_RAISE(DatasetRef input, RefOf(*spec, task.partition, task.input));
  input.path = spec->tenant + "/" + RunOf(ctx, task) + "-combine/0";  // the combine's output
  ARROW_ASSIGN_OR_RAISE(std::string staged,
                        Classify(Load(*spec, RunOf(ctx, task), task.partition, input)));
  if (spec->sink.kind == SinkSpec::Kind::kFlight) return staged;
  return std::filesystem::path(staged).filename().string();
}

arrow::Status CommitRun(ActivityContext& ctx, const std::shared_ptr<frame::EnginePool>& engines,
                        const StageTask& task) {
  const ActivityKeepAlive keep_alive(ctx);
  SlotEngine engine(engines);
  ARROW_ASSIGN_OR_RAISE(auto spec, SpecOf(task));
  std::vector<std::string> staged;
  for (const auto& name : task.parts) {
    if (name.find('/') != std::string::npos && spec->sink.kind != SinkSpec::Kind::kFlight) {
      return Invalid("staged part name '" + name + "' must not contain '/'");
    }
    staged.push_back((std::filesystem::path(StagingFolder(*spec, RunOf(ctx, task))) / name).string());
  }
  ARROW_RETURN_NOT_OK(Classify(Commit(*spec, RunOf(ctx, task), staged)));
  // The run is over: its datasets go now, saving the workflow a round
  // trip. Best effort: what stays expires with its lease.
  auto released = ReleaseRun(*spec, task.spec, RunOf(ctx, task));
  if (!released.ok()) {
    FD_LOG(kWarning) << "run " << RunOf(ctx, task) << " committed; releasing its datasets failed (they "
                     << "expire with their lease): " << released.status().ToString();
  }
  return arrow::Status::OK();
}

}  // namespace

namespace {

// flightdeck_pipeline_* of one activity attempt: its duration by activity,
// retries (attempts after the first), failures, and the partitions in
// flight. Nothing without metrics.
class ActivityMeter {
 public:
  ActivityMeter(const std::shared_ptr<observe::Metrics>& metrics, const char* activity, const ActivityContext& ctx)
      : metrics_(metrics.get()), activity_(activity) {
    if (metrics_ == nullptr) return;
    if (ctx.info().attempt > 1) metrics_->Count("flightdeck_pipeline_retries", {{"activity", activity_}});
    if (std::string_view(activity_) == kPartitionActivity) {
      metrics_->Set("flightdeck_pipeline_partitions_in_flight", {}, static_cast<double>(++partitions_in_flight_));
    }
  }
  ~ActivityMeter() {
    if (metrics_ == nullptr) return;
    metrics_->Observe("flightdeck_pipeline_activity_duration_seconds", {{"activity", activity_}},
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin_).count(),
                      observe::kSecondsBuckets);
    if (!ok_) metrics_->Count("flightdeck_pipeline_activity_failures", {{"activity", activity_}});
    if (std::string_view(activity_) == kPartitionActivity) {
      metrics_->Set("flightdeck_pipeline_partitions_in_flight", {}, static_cast<double>(--partitions_in_flight_));
    }
  }
  ActivityMeter(const ActivityMeter&) = delete;
  ActivityMeter& operator=(const ActivityMeter&) = delete;

  arrow::Status Done(arrow::Status status) {
    ok_ = status.ok();
    return status;
  }

  // The attempt's outcome; a partition's output adds to the pipeline's
  // partitions done, source rows and bytes, and checkpoint bytes.
  template <typename T>
  arrow::Result<T> Done(arrow::Result<T> result) {
    ok_ = result.ok();
    if constexpr (std::is_same_v<T, DatasetRef>) {
      if (metrics_ != nullptr && result.ok() && std::string_view(activity_) == kPartitionActivity) {
        metrics_->Count("flightdeck_pipeline_partitions_done", {});
        metrics_->Count("flightdeck_pipeline_source_rows", {}, static_cast<double>(result->source_rows));
        metrics_->Count("flightdeck_pipeline_source_bytes", {}, static_cast<double>(result->source_bytes));
        if (result->durable) metrics_->Count("flightdeck_pipeline_checkpoint_bytes", {}, static_cast<double>(result->bytes));
      }
    }
    return result;
  }

 private:
  static inline std::atomic<int64_t> partitions_in_flight_{0};
  observe::Metrics* metrics_;
  const char* activity_;
  bool ok_ = false;
  const std::chrono::steady_clock::time_point begin_ = std::chrono::steady_clock::now();
};

}  // namespace

namespace {

// A node location without its scheme (grpc+tcp:// or grpc+tls://): HOST:PORT.
std::string WithoutScheme(const std::string& location) {
  const size_t scheme = location.find("://");
  return scheme == std::string::npos ? location : location.substr(scheme + 3);
}

}  // namespace

std::string LocalTaskQueue(const std::string& queue, const std::string& node) {
  return queue + "@" + WithoutScheme(node);
}

void ObserveNodeTransfers(const std::string& local_node, std::shared_ptr<observe::Metrics> metrics) {
  if (!metrics) return;
  // Locations compare without their scheme.
  const std::string local = WithoutScheme(local_node);
  const auto count = [metrics, local](const char* direction, const std::string& node, int64_t bytes) {
    metrics->Count("flightdeck_pipeline_node_bytes",
                   {{"locality", WithoutScheme(node) == local ? "local" : "remote"}, {"direction", direction}},
                   static_cast<double>(bytes));
  };
  frame::SetFlightReadObserver([count](const std::string& node, int64_t bytes) { count("read", node, bytes); });
  internal::SetWriteObserver([count](const std::string& node, int64_t bytes) { count("write", node, bytes); });
}

arrow::Status RegisterPipelineActivities(temporal::Worker& worker, std::shared_ptr<frame::EnginePool> engines,
                                         std::shared_ptr<observe::Metrics> metrics) {
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(
      kPrepareActivity,
      [engines, metrics](ActivityContext& ctx, std::string yaml, std::string origin, std::string run) {
        ActivityMeter meter(metrics, kPrepareActivity, ctx);
        return meter.Done(Prepare(ctx, engines, yaml, origin, run));
      }));
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(kPartitionActivity, [engines, metrics](ActivityContext& ctx, StageTask task) {
    ActivityMeter meter(metrics, kPartitionActivity, ctx);
    return meter.Done(Partition(ctx, engines, task));
  }));
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(kCombineActivity, [engines, metrics](ActivityContext& ctx, StageTask task) {
    ActivityMeter meter(metrics, kCombineActivity, ctx);
    return meter.Done(CombineAll(ctx, engines, task));
  }));
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(kReduceActivity, [engines, metrics](ActivityContext& ctx, StageTask task) {
    ActivityMeter meter(metrics, kReduceActivity, ctx);
    return meter.Done(ReduceOne(ctx, engines, task));
  }));
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(kBoundsActivity, [engines, metrics](ActivityContext& ctx, StageTask task) {
    ActivityMeter meter(metrics, kBoundsActivity, ctx);
    return meter.Done(BoundsOfSamples(ctx, engines, task));
  }));
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(kSplitActivity, [engines, metrics](ActivityContext& ctx, StageTask task) {
    ActivityMeter meter(metrics, kSplitActivity, ctx);
    return meter.Done(SplitRanges(ctx, engines, task));
  }));
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(kLoadActivity, [engines, metrics](ActivityContext& ctx, StageTask task) {
    ActivityMeter meter(metrics, kLoadActivity, ctx);
    return meter.Done(LoadPart(ctx, engines, task));
  }));
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(
      kRenewActivity, [](ActivityContext& ctx, StageTask task) -> arrow::Result<int64_t> {
        ARROW_ASSIGN_OR_RAISE(auto spec, SpecOf(task));
        return Classify(RenewRun(*spec, task.spec, RunOf(ctx, task)));
      }));
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(
      kReleaseActivity, [](ActivityContext& ctx, StageTask task) -> arrow::Result<int64_t> {
        ARROW_ASSIGN_OR_RAISE(auto spec, SpecOf(task));
        return Classify(ReleaseRun(*spec, task.spec, RunOf(ctx, task)));
      }));
  return worker.RegisterActivity(kCommitActivity, [engines, metrics](ActivityContext& ctx, StageTask task) {
    ActivityMeter meter(metrics, kCommitActivity, ctx);
    return meter.Done(CommitRun(ctx, engines, task));
  });
}

}  // namespace flightdeck::pipeline
