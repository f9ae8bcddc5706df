// How a spec's stages become DataFrame plans: each stage applied, the split
// into per-partition and global stages, the chain steps around Python
// stages, and the whole pipeline computed locally (the tests' oracle).

#include "flightdeck/frame/type_names.h"
#include "flightdeck/pipeline/stages_internal.h"

namespace flightdeck::pipeline {
namespace internal {

using frame::DataFrame;

bool Combinable(const frame::Aggregation& agg) {
  return agg.function == "sum" || agg.function == "count" || agg.function == "count_all" ||
         agg.function == "min" || agg.function == "max";
}

arrow::Result<DataFrame> FinalAggregate(const StageSpec& stage, DataFrame partials) {
  std::vector<frame::Aggregation> aggs;
  for (const auto& [name, text] : stage.aggregate.aggs) {
    ARROW_ASSIGN_OR_RAISE(auto agg, ParseAggregation(name, text));
    const std::string function =
        agg.function == "min" || agg.function == "max" ? agg.function : "sum";
    aggs.push_back(frame::Aggregation{function, name, name});
  }
  if (stage.aggregate.by.empty()) return partials.Agg(aggs);
  return partials.GroupBy(stage.aggregate.by).Agg(aggs);
}

arrow::Result<StageRange> WithPartial(const PipelineSpec& spec, StageRange range, bool partial) {
  if (!partial) return range;
  const StagePlan plan = PlanStages(spec);
  if (range.end == plan.per_partition.end && plan.partial_aggregate) return StageRange{range.begin, range.end + 1};
  if (range.end == plan.per_partition.end && plan.partial_top) return StageRange{range.begin, range.end + 2};
  return arrow::Status::Invalid("no global stage to compute partially follows stage range [", range.begin, ", ",
                                range.end, ")");
}

}  // namespace internal

namespace {

using namespace internal;

// A join whose two sides are shuffled on their keys (strategy: shuffle).
bool IsShuffleJoin(const StageSpec& stage) { return stage.kind == StageSpec::Kind::kJoin && stage.join.shuffle; }

// A stage whose rows may be split by a hash of some of their columns, each
// part computed on its own: an aggregate with groups (by its keys), a
// distinct (by every column), a shuffled join (both sides by their keys).

bool ShuffleKeyed(const StageSpec& stage) {
  return (stage.kind == StageSpec::Kind::kAggregate && !stage.aggregate.by.empty()) ||
         stage.kind == StageSpec::Kind::kDistinct || IsShuffleJoin(stage);
}

// A stage that maps each row on its own (the same over any split of them).
bool RowWise(StageSpec::Kind kind) {
  switch (kind) {
    case StageSpec::Kind::kFilter:
    case StageSpec::Kind::kWithColumn:
    case StageSpec::Kind::kSelect:
    case StageSpec::Kind::kRename:
    case StageSpec::Kind::kDrop:
    case StageSpec::Kind::kCast:
      return true;
    default:
      return false;
  }
}

arrow::Result<DataFrame> ApplyOneStage(const PipelineSpec& spec, const StageSpec& stage, DataFrame input,
                                       const SourceOpener& open_join) {
  switch (stage.kind) {
    case StageSpec::Kind::kFilter:
      return input.Filter(stage.expr);
    case StageSpec::Kind::kWithColumn:
      return input.WithColumn(stage.name, std::string_view(stage.expr));
    case StageSpec::Kind::kSelect:
      return input.Select(stage.columns);
    case StageSpec::Kind::kAggregate: {
      std::vector<frame::Aggregation> aggs;
      for (const auto& [name, text] : stage.aggregate.aggs) {
        ARROW_ASSIGN_OR_RAISE(auto agg, ParseAggregation(name, text));
        aggs.push_back(std::move(agg));
      }
      if (stage.aggregate.by.empty()) return input.Agg(aggs);
      return input.GroupBy(stage.aggregate.by).Agg(aggs);
    }
    case StageSpec::Kind::kJoin: {
      ARROW_ASSIGN_OR_RAISE(auto right, open_join ? open_join(stage.join.source)
                                                   : ReadWholeSource(spec, stage.join.source));
      ARROW_ASSIGN_OR_RAISE(auto kind, frame::ParseJoinKind(stage.join.how));
      const auto& right_on = stage.join.right_on.empty() ? stage.join.on : stage.join.right_on;
      return input.Join(right, stage.join.on, right_on, kind);
    }
    case StageSpec::Kind::kSort: {
      std::vector<frame::SortKey> keys;
      for (const auto& key : stage.sort) {
        keys.push_back({key.column, key.descending, key.nulls_first});
      }
      return input.Sort(keys);
    }
    case StageSpec::Kind::kLimit:
      return input.Limit(stage.limit);
    case StageSpec::Kind::kRename:
      return input.Rename(stage.renames);
    case StageSpec::Kind::kDrop:
      return input.Drop(stage.columns);
    case StageSpec::Kind::kCast: {
      auto type = frame::ParseTypeName(stage.type);
      if (!type.ok()) return arrow::Status::Invalid("cast of '", stage.name, "': ", type.status().message());
      return input.Cast(stage.name, *type);
    }
    case StageSpec::Kind::kDistinct:
      return input.Distinct();
    case StageSpec::Kind::kPython:
      return arrow::Status::Invalid("python stage '", stage.name,
                                    "' runs on a Python stage worker (task queue '",
                                    stage.task_queue, "'), not in the C++ worker");
  }
  return arrow::Status::Invalid("unknown stage kind");
}

}  // namespace

using namespace internal;
using frame::DataFrame;

StagePlan PlanStages(const PipelineSpec& spec) {
  size_t split = 0;
  while (split < spec.stages.size()) {
    const StageSpec& stage = spec.stages[split];
    if (IsGlobalStage(stage.kind) || IsShuffleJoin(stage)) break;
    ++split;
  }
  // One partition: every stage runs in its transform, no combine.
  if (spec.partitions == 1) return {{0, spec.stages.size()}, {spec.stages.size(), spec.stages.size()}, false};
  StagePlan plan{{0, split}, {split, spec.stages.size()}, false};
  if (split < spec.stages.size() && spec.stages[split].kind == StageSpec::Kind::kAggregate) {
    plan.partial_aggregate = true;
    const StageSpec& stage = spec.stages[split];
    for (const auto& [name, text] : stage.aggregate.aggs) {
      auto agg = ParseAggregation(name, text);
      if (!agg.ok() || !Combinable(*agg)) plan.partial_aggregate = false;
    }
  }
  int32_t reduces = spec.shuffle == PipelineSpec::kShuffleAuto ? (spec.nodes.size() > 1 ? spec.partitions : 0)
                                                                : spec.shuffle;
  // A join that asks for a shuffle gets one (the parser refuses shuffle: off).
  if (split < spec.stages.size() && IsShuffleJoin(spec.stages[split]) && reduces <= 0) reduces = spec.partitions;
  // A sort followed by a limit is a top-N: the combine keeps it.
  const bool range = split < spec.stages.size() && spec.stages[split].kind == StageSpec::Kind::kSort &&
                     !(split + 1 < spec.stages.size() && spec.stages[split + 1].kind == StageSpec::Kind::kLimit);
  if (reduces > 0 && split < spec.stages.size() && (ShuffleKeyed(spec.stages[split]) || range)) {
    // The shuffled stage and the row-wise stages after it run per reduce.
    size_t end = split + 1;
    while (end < spec.stages.size() && RowWise(spec.stages[end].kind)) ++end;
    plan.shuffle = reduces;
    plan.reduce = {split, end};
    plan.global = {end, spec.stages.size()};
    plan.range = range;
  }
  plan.partial_top = plan.shuffle == 0 && split + 1 < spec.stages.size() &&
                     spec.stages[split].kind == StageSpec::Kind::kSort &&
                     spec.stages[split + 1].kind == StageSpec::Kind::kLimit;
  return plan;
}

std::vector<ChainStep> ChainSteps(const PipelineSpec& spec) {
  const StageRange all = PlanStages(spec).per_partition;
  std::vector<ChainStep> steps;
  size_t begin = all.begin;
  for (size_t i = all.begin; i < all.end; ++i) {
    if (spec.stages[i].kind != StageSpec::Kind::kPython) continue;
    steps.push_back({{begin, i}, -1});
    steps.push_back({{i, i + 1}, static_cast<int>(i)});
    begin = i + 1;
  }
  steps.push_back({{begin, all.end}, -1});
  return steps;
}

arrow::Result<DataFrame> ApplyStage(const PipelineSpec& spec, const StageSpec& stage, DataFrame input,
                                    const SourceOpener& open_join) {
  return ApplyOneStage(spec, stage, std::move(input), open_join);
}

arrow::Result<DataFrame> ApplyStages(const PipelineSpec& spec, DataFrame input, StageRange range) {
  if (range.end > spec.stages.size()) {
    return arrow::Status::Invalid("stage range [", range.begin, ", ", range.end,
                                  ") exceeds the spec's ", spec.stages.size(), " stages");
  }
  for (size_t i = range.begin; i < range.end; ++i) {
    const StageSpec& stage = spec.stages[i];
    auto applied = ApplyOneStage(spec, stage, std::move(input), nullptr);
    const arrow::Status status = applied.ok() ? applied->status() : applied.status();
    if (!status.ok()) {
      return status.WithMessage("stage ", i + 1, " (", KindName(stage.kind), ", spec line ", stage.line,
                                "): ", status.message());
    }
    input = std::move(*applied);
  }
  return input;
}

arrow::Result<DataFrame> ComputeLocally(const PipelineSpec& spec) {
  const StagePlan plan = PlanStages(spec);
  std::optional<DataFrame> all;
  for (int32_t p = 0; p < spec.partitions; ++p) {
    ARROW_ASSIGN_OR_RAISE(DataFrame part, ReadSourcePartition(spec, p));
    ARROW_ASSIGN_OR_RAISE(part, ApplyStages(spec, std::move(part), plan.per_partition));
    all = all ? all->Union(part) : part;
  }
  return ApplyStages(spec, *all, {plan.per_partition.end, spec.stages.size()});
}

}  // namespace flightdeck::pipeline
