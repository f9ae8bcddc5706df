// The stage activities' work on one partition or on all of them: extract,
// transform (from an extract or straight from a file source), combine,
// load into the sink's staging.
#include "flightdeck/pipeline/stages.h"

#include <filesystem>
#include <optional>

#include "flightdeck/pipeline/stages_internal.h"

namespace flightdeck::pipeline {

using namespace internal;
namespace fs = std::filesystem;
using frame::DataFrame;

arrow::Result<DatasetRef> Extract(const PipelineSpec& spec, const std::string& run,
                                  int32_t partition) {
  ARROW_RETURN_NOT_OK(CheckRun(run));
  ARROW_ASSIGN_OR_RAISE(std::string node, NodeFor(spec, partition));
  const auto needed = SourceColumnsNeeded(spec);
  if (spec.source.kind == SourceSpec::Kind::kGenerate) {
    // Generated rows are a table already: keep it without running a plan,
    // and make only the needed columns.
    std::vector<std::string> columns;
    if (needed) {
      for (const char* name : {"id", "customer", "amount", "category", "ts"}) {
        if (Mentions(*needed, name)) columns.push_back(name);
      }
      if (columns.empty()) columns.push_back("id");  // the rows still count
    }
    std::shared_ptr<arrow::Table> table;
    return PutStageOutput(
        spec, node, run + "-extract", std::to_string(partition),
        [&]() -> arrow::Result<DataFrame> {
          ARROW_ASSIGN_OR_RAISE(table,
                                GenerateTable(spec.source, partition, spec.partitions, columns));
          return DataFrame::FromTable(table);
        },
        /*keep_local=*/true, &table);
  }
  return PutStageOutput(
      spec, node, run + "-extract", std::to_string(partition),
      [&]() -> arrow::Result<DataFrame> {
        ARROW_ASSIGN_OR_RAISE(DataFrame rows, ReadSourcePartition(spec, partition));
        if (!needed) return rows;
        ARROW_ASSIGN_OR_RAISE(auto schema, rows.schema());
        std::vector<std::string> columns;
        for (const auto& field : schema->fields()) {
          if (Mentions(*needed, field->name())) columns.push_back(field->name());
        }
        if (columns.empty() && schema->num_fields() > 0) columns.push_back(schema->field(0)->name());
        if (static_cast<int>(columns.size()) == schema->num_fields()) return rows;
        // The scan of a file source reads only these columns.
        return rows.Select(columns);
      },
      /*keep_local=*/true);
}

namespace {

// A failure of stages `range` run for `where` ("partition 3", "combine"),
// naming them and their spec lines: an error that happens only at run time
// (a value that does not cast) comes from executing them as one query. A
// lost input stays as it is (the workflow recomputes it).
arrow::Result<DatasetRef> InStages(const PipelineSpec& spec, const std::string& where, StageRange range,
                                   arrow::Result<DatasetRef> result) {
  if (result.ok() || !LostInputOf(result.status()).empty()) return result;
  const auto& status = result.status();
  if (range.empty() || status.message().rfind("stage ", 0) == 0) {
    return status.WithMessage(where, ": ", status.message());
  }
  const auto& first = spec.stages[range.begin];
  const auto& last = spec.stages[std::min(range.end, spec.stages.size()) - 1];
  if (range.end - range.begin == 1) {
    return status.WithMessage(where, ", stage ", range.begin + 1, " (", KindName(first.kind), ", spec line ",
                              first.line, "): ", status.message());
  }
  return status.WithMessage(where, ", stages ", range.begin + 1, "-", range.end, " (spec lines ", first.line, "-",
                            last.line, "): ", status.message());
}

}  // namespace

arrow::Result<DatasetRef> TransformPartition(const PipelineSpec& spec, const std::string& run,
                                             int32_t partition, const DatasetRef& input,
                                             StageRange range, bool partial, bool keep_local) {
  ARROW_RETURN_NOT_OK(CheckRun(run));
  ARROW_ASSIGN_OR_RAISE(const StageRange with_partial, WithPartial(spec, range, partial));
  return InStages(spec, "partition " + std::to_string(partition), with_partial,
                  PutStageOutput(spec, input.node, TransformDataset(run, range), std::to_string(partition),
                                 [&]() -> arrow::Result<DataFrame> {
                                   ARROW_ASSIGN_OR_RAISE(DataFrame in,
                                                         ReadRef(spec, input, std::to_string(partition)));
                                   return ApplyStages(spec, std::move(in), with_partial);
                                 },
                                 keep_local));
}

bool SourceIsDurable(const SourceSpec& source) {
  return source.kind == SourceSpec::Kind::kParquet || source.kind == SourceSpec::Kind::kCsv ||
         source.kind == SourceSpec::Kind::kIpc;
}

arrow::Result<DatasetRef> TransformSourcePartition(const PipelineSpec& spec, const std::string& run,
                                                   int32_t partition, StageRange range,
                                                   bool partial, bool keep_local) {
  ARROW_RETURN_NOT_OK(CheckRun(run));
  if (!SourceIsDurable(spec.source)) {
    return arrow::Status::Invalid("source '", KindName(spec.source.kind),
                                  "' is not a file source; its partitions are extracted first");
  }
  ARROW_ASSIGN_OR_RAISE(const StageRange with_partial, WithPartial(spec, range, partial));
  ARROW_ASSIGN_OR_RAISE(std::string node, NodeFor(spec, partition));
  return InStages(spec, "partition " + std::to_string(partition), with_partial,
                  PutStageOutput(spec, node, TransformDataset(run, range), std::to_string(partition),
                                 [&]() -> arrow::Result<DataFrame> {
                                   ARROW_ASSIGN_OR_RAISE(DataFrame in, ReadSourcePartition(spec, partition));
                                   return ApplyStages(spec, std::move(in), with_partial);
                                 },
                                 keep_local));
}

arrow::Result<DatasetRef> Combine(const PipelineSpec& spec, const std::string& run,
                                  const std::vector<DatasetRef>& inputs, StageRange range,
                                  bool from_partials) {
  ARROW_RETURN_NOT_OK(CheckRun(run));
  if (inputs.empty()) return arrow::Status::Invalid("combine of run ", run, " has no input");
  if (from_partials && (range.empty() || range.end > spec.stages.size() ||
                        spec.stages[range.begin].kind != StageSpec::Kind::kAggregate)) {
    return arrow::Status::Invalid("stage range [", range.begin, ", ", range.end,
                                  ") does not start with an aggregate to combine partials of");
  }
  ARROW_ASSIGN_OR_RAISE(std::string node, NodeFor(spec, 0));
  return InStages(spec, "combine", range,
                  PutStageOutput(spec, node, run + "-combine", "0", [&]() -> arrow::Result<DataFrame> {
                    std::optional<DataFrame> all;
                    for (size_t i = 0; i < inputs.size(); ++i) {
                      ARROW_ASSIGN_OR_RAISE(DataFrame part, ReadRef(spec, inputs[i], std::to_string(i)));
                      all = all ? all->Union(part) : part;
                    }
                    if (!from_partials) return ApplyStages(spec, *all, range);
                    ARROW_ASSIGN_OR_RAISE(DataFrame combined, FinalAggregate(spec.stages[range.begin], *all));
                    return ApplyStages(spec, std::move(combined), {range.begin + 1, range.end});
                  }));
}

arrow::Result<std::string> Load(const PipelineSpec& spec, const std::string& run, int32_t part,
                                const DatasetRef& input) {
  ARROW_RETURN_NOT_OK(CheckRun(run));
  if (spec.sink.kind == SinkSpec::Kind::kFlight) {
    PipelineSpec durable = spec;
    durable.durable = false;  // always replace: an earlier run's part is stale
    ARROW_ASSIGN_OR_RAISE(DatasetRef ref,
                          PutStageOutput(durable, input.node, spec.sink.dataset,
                                         PartName(spec, part),
                                         [&] { return ReadRef(spec, input, std::to_string(part)); },
                                         /*keep_local=*/false, /*made_table=*/nullptr, /*leased=*/false));
    ARROW_ASSIGN_OR_RAISE(auto client, flight::NodeClient::For(input.node));
    ARROW_ASSIGN_OR_RAISE(ref, Persist(*client, spec, ref.ticket));
    return ref.ToJson();
  }
  ARROW_ASSIGN_OR_RAISE(auto format, FormatOf(spec.sink.kind));
  const fs::path staging = StagingFolder(spec, run);
  const fs::path staged = staging / PartName(spec, part);
  std::error_code ec;
  if (fs::exists(staged, ec)) return staged.string();  // written (renamed) by an earlier attempt
  fs::create_directories(staging, ec);
  if (ec) {
    return arrow::Status::IOError("cannot create staging folder ", staging.string(), ": ",
                                  ec.message());
  }
  ARROW_ASSIGN_OR_RAISE(DataFrame in, ReadRef(spec, input, std::to_string(part)));
  ARROW_RETURN_NOT_OK(in.WriteFile(staged.string(), format));
  return staged.string();
}

}  // namespace flightdeck::pipeline
