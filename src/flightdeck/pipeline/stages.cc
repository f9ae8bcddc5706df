#include "flightdeck/pipeline/stages.h"

#include <fcntl.h>
#include <glob.h>
#include <stdio.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <list>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <unordered_map>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/flight/client.h>
#include <arrow/util/base64.h>
#include <nlohmann/json.hpp>

#include "flightdeck/common/durable_file.h"
#include "flightdeck/frame/data_frame.h"
#include "flightdeck/frame/sql_text.h"
#include "flightdeck/frame/generate.h"

namespace flightdeck::pipeline {
namespace {

namespace fs = std::filesystem;
namespace fl = arrow::flight;
using frame::DataFrame;

constexpr char kTenantHeader[] = "x-flightdeck-tenant";

frame::FlightHeaders Headers(const PipelineSpec& spec) {
  return {{kTenantHeader, spec.tenant}};
}

fl::FlightCallOptions CallOptions(const PipelineSpec& spec) {
  fl::FlightCallOptions options;
  options.headers = Headers(spec);
  return options;
}

arrow::Result<std::unique_ptr<fl::FlightClient>> Connect(const std::string& node) {
  ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::Parse(node));
  return fl::FlightClient::Connect(location);
}

arrow::Result<frame::FileFormat> FormatOf(SourceSpec::Kind kind) {
  switch (kind) {
    case SourceSpec::Kind::kParquet: return frame::FileFormat::kParquet;
    case SourceSpec::Kind::kCsv: return frame::FileFormat::kCsv;
    case SourceSpec::Kind::kIpc: return frame::FileFormat::kIpc;
    default: return arrow::Status::Invalid("source '", KindName(kind), "' is not a file source");
  }
}

arrow::Result<frame::FileFormat> FormatOf(SinkSpec::Kind kind) {
  switch (kind) {
    case SinkSpec::Kind::kParquet: return frame::FileFormat::kParquet;
    case SinkSpec::Kind::kCsv: return frame::FileFormat::kCsv;
    case SinkSpec::Kind::kIpc: return frame::FileFormat::kIpc;
    default: return arrow::Status::Invalid("sink '", KindName(kind), "' is not a file sink");
  }
}

std::string ExtensionOf(SinkSpec::Kind kind) {
  switch (kind) {
    case SinkSpec::Kind::kCsv: return "csv";
    case SinkSpec::Kind::kIpc: return "arrow";
    default: return "parquet";
  }
}

bool IsGlob(const std::string& path) {
  return path.find_first_of("*?[") != std::string::npos;
}

// The files of a file source, sorted, so every worker assigns them alike.
arrow::Result<std::vector<std::string>> ListSourceFiles(const std::string& path) {
  std::vector<std::string> files;
  if (IsGlob(path)) {
    glob_t matches{};
    const int rc = glob(path.c_str(), 0, nullptr, &matches);
    if (rc == 0) {
      for (size_t i = 0; i < matches.gl_pathc; ++i) files.emplace_back(matches.gl_pathv[i]);
    }
    globfree(&matches);
  } else {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      for (const auto& entry : fs::recursive_directory_iterator(path, ec)) {
        const std::string name = entry.path().filename().string();
        if (entry.is_regular_file() && !name.empty() && name[0] != '.' && name[0] != '_') {
          files.push_back(entry.path().string());
        }
      }
      if (ec) return arrow::Status::IOError("cannot list source directory ", path, ": ", ec.message());
    } else if (fs::exists(path, ec)) {
      files.push_back(path);
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) return arrow::Status::IOError("source ", path, " matches no file");
  return files;
}

uint64_t PartitionSeed(uint64_t seed, int32_t partition) {
  return seed + static_cast<uint64_t>(partition) * 0x9E3779B97F4A7C15ULL;
}

// Generated rows [start, end) with ids start.. (globally unique).
// `columns` empty: all of them.
arrow::Result<std::shared_ptr<arrow::Table>> GenerateTable(
    const SourceSpec& source, int32_t partition, int32_t partitions,
    std::vector<std::string> columns = {}) {
  const int64_t start = source.rows * partition / partitions;
  const int64_t end = source.rows * (partition + 1) / partitions;
  return frame::GenerateOrders({.rows = end - start,
                                .seed = PartitionSeed(source.seed, partition),
                                .first_id = start,
                                .columns = std::move(columns)});
}

arrow::Result<DataFrame> GeneratePartition(const SourceSpec& source, int32_t partition,
                                           int32_t partitions) {
  ARROW_ASSIGN_OR_RAISE(auto table, GenerateTable(source, partition, partitions));
  return DataFrame::FromTable(std::move(table));
}

// A whole source (join sides).
arrow::Result<DataFrame> ReadWholeSource(const PipelineSpec& spec, const SourceSpec& source) {
  switch (source.kind) {
    case SourceSpec::Kind::kGenerate:
      return GeneratePartition(source, 0, 1);
    case SourceSpec::Kind::kFlight: {
      ARROW_ASSIGN_OR_RAISE(auto ticket, arrow::util::base64_decode(source.ticket));
      std::string node = source.node;
      if (node.empty()) {
        ARROW_ASSIGN_OR_RAISE(node, NodeFor(spec, 0));
      }
      return DataFrame::FromFlight(node, std::move(ticket), Headers(spec));
    }
    default: {
      ARROW_ASSIGN_OR_RAISE(auto format, FormatOf(source.kind));
      return DataFrame::Read(source.path, format);
    }
  }
}

// "sum(amount)" -> Aggregation; "count(*)" / "count()" count rows.
arrow::Result<frame::Aggregation> ParseAggregation(const std::string& name,
                                                   const std::string& text) {
  static const std::regex kCall(R"(^\s*([A-Za-z_]+)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*|\*)?\s*\)\s*$)");
  std::smatch match;
  if (!std::regex_match(text, match, kCall)) {
    return arrow::Status::Invalid("aggregate '", name, "' = '", text,
                                  "' is not of the form function(column)");
  }
  const std::string function = match[1].str();
  const std::string column = match[2].str();
  if (column.empty() || column == "*") {
    if (function != "count") {
      return arrow::Status::Invalid("aggregate '", name, "': ",
                                    function, " needs a column");
    }
    return frame::CountAll(name);
  }
  return frame::Aggregation{function, column, name};
}

bool Combinable(const frame::Aggregation& agg) {
  return agg.function == "sum" || agg.function == "count" || agg.function == "count_all" ||
         agg.function == "min" || agg.function == "max";
}

// An aggregate stage as the final combine of partial aggregates that had the
// same output columns: counts and sums add up, min and max stay.
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
    case StageSpec::Kind::kPython:
      return arrow::Status::Invalid("python stage '", stage.name,
                                    "' runs on a Python stage worker (task queue '",
                                    stage.task_queue, "'), not in the C++ worker");
  }
  return arrow::Status::Invalid("unknown stage kind");
}

// Datasets this process put as extract outputs, by ticket, for the transform
// that usually follows in the same worker: it takes them from here instead
// of reading them back from the node (the node still holds them, durable or
// not, exactly as without the cache). Least recently put first out.
class LocalDatasets {
 public:
  static LocalDatasets& Instance() {
    static LocalDatasets* instance = new LocalDatasets();
    return *instance;
  }
  void Put(const std::string& ticket, std::shared_ptr<arrow::Table> table, int64_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes > kCapacityBytes || entries_.count(ticket)) return;
    order_.push_back(ticket);
    entries_[ticket] = {std::move(table), bytes, std::prev(order_.end())};
    used_ += bytes;
    while (used_ > kCapacityBytes) {
      auto oldest = entries_.find(order_.front());
      used_ -= oldest->second.bytes;
      entries_.erase(oldest);
      order_.pop_front();
    }
  }
  // Removes and returns the table of `ticket`, or null.
  std::shared_ptr<arrow::Table> Take(const std::string& ticket) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(ticket);
    if (it == entries_.end()) return nullptr;
    auto table = std::move(it->second.table);
    used_ -= it->second.bytes;
    order_.erase(it->second.position);
    entries_.erase(it);
    return table;
  }

 private:
  static constexpr int64_t kCapacityBytes = int64_t{1} << 30;
  struct Entry {
    std::shared_ptr<arrow::Table> table;
    int64_t bytes = 0;
    std::list<std::string>::iterator position;
  };
  std::mutex mutex_;
  std::list<std::string> order_;
  std::unordered_map<std::string, Entry> entries_;
  int64_t used_ = 0;
};

// GetFlightInfo of `path`; nullopt when the node has no dataset there.
arrow::Result<std::optional<std::string>> TicketAt(fl::FlightClient& client,
                                                   const PipelineSpec& spec,
                                                   const std::vector<std::string>& path) {
  auto info = client.GetFlightInfo(CallOptions(spec), fl::FlightDescriptor::Path(path));
  if (!info.ok()) {
    if (info.status().IsKeyError()) return std::nullopt;
    return info.status();
  }
  if ((*info)->endpoints().empty()) return std::nullopt;
  return (*info)->endpoints()[0].ticket.ticket;
}

arrow::Result<DatasetRef> Persist(fl::FlightClient& client, const PipelineSpec& spec,
                                  const std::string& node, const std::string& ticket) {
  const std::string body = nlohmann::json{{"ticket", ticket}}.dump();
  ARROW_ASSIGN_OR_RAISE(auto results,
                        client.DoAction(CallOptions(spec), fl::Action{"persist",
                                                                      arrow::Buffer::FromString(body)}));
  ARROW_ASSIGN_OR_RAISE(auto result, results->Next());
  if (!result) return arrow::Status::IOError("persist on ", node, " answered nothing");
  return DatasetRefFromNodeSummary(node, result->body->ToString());
}

// Puts the frame `make()` builds under [tenant, dataset, partition] on
// `node`; with a durable spec, reuses a dataset an earlier attempt left there
// and persists before returning. A run's own datasets (`leased`) expire
// after the spec's dataset lease unless the run renews it (RenewRunDatasets).
template <typename MakeFrame>
arrow::Result<DatasetRef> PutStageOutput(const PipelineSpec& spec, const std::string& node,
                                         const std::string& dataset, const std::string& partition,
                                         MakeFrame make, bool keep_local = false,
                                         std::shared_ptr<arrow::Table>* made_table = nullptr,
                                         bool leased = true) {
  const std::vector<std::string> path = {spec.tenant, dataset, partition};
  std::unique_ptr<fl::FlightClient> client;
  if (spec.durable) {
    ARROW_ASSIGN_OR_RAISE(client, Connect(node));
    ARROW_ASSIGN_OR_RAISE(auto existing, TicketAt(*client, spec, path));
    // Puts are atomic, so a dataset there is a complete earlier output.
    if (existing) return Persist(*client, spec, node, *existing);
  }
  ARROW_ASSIGN_OR_RAISE(DataFrame frame, make());
  std::shared_ptr<arrow::Table> table;
  if (keep_local) {
    if (made_table != nullptr && *made_table) {
      table = *made_table;  // make() built the frame from this table
    } else {
      ARROW_ASSIGN_OR_RAISE(table, frame.Collect());
      frame = DataFrame::FromTable(table);
    }
  }
  fl::FlightDescriptor descriptor = fl::FlightDescriptor::Path(path);
  if (leased) {
    descriptor = fl::FlightDescriptor::Command(
        nlohmann::json{{"tenant", path[0]},
                       {"dataset", path[1]},
                       {"partition", path[2]},
                       {"ttl_seconds", (spec.dataset_lease_ms + 999) / 1000}}
            .dump());
  }
  ARROW_ASSIGN_OR_RAISE(auto put, frame.PutToFlight(node, descriptor, Headers(spec)));
  if (put.server_metadata.empty()) {
    return arrow::Status::IOError("the data node ", node, " sent no summary for the put of ",
                                  dataset, "/", partition);
  }
  ARROW_ASSIGN_OR_RAISE(DatasetRef ref, DatasetRefFromNodeSummary(node, put.server_metadata[0]));
  if (table) LocalDatasets::Instance().Put(ref.ticket, table, ref.bytes);
  if (!spec.durable) return ref;
  return Persist(*client, spec, node, ref.ticket);
}

// The dataset of `ref` (input `input` of the stage); DatasetLost when the
// node no longer has it.
arrow::Result<DataFrame> ReadRef(const PipelineSpec& spec, const DatasetRef& ref,
                                 const std::string& input) {
  if (auto table = LocalDatasets::Instance().Take(ref.ticket)) {
    return DataFrame::FromTable(std::move(table));
  }
  auto frame = DataFrame::FromFlight(ref.node, ref.ticket, Headers(spec));
  if (!frame.ok() && frame.status().IsKeyError()) return DatasetLost(input, frame.status());
  return frame;
}

// Whether `needed` names `column`; SQL identifiers are case-insensitive.
bool Mentions(const std::set<std::string>& needed, const std::string& column) {
  if (needed.count(column)) return true;
  auto lower = [](std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  };
  const std::string wanted = lower(column);
  for (const auto& name : needed) {
    if (lower(name) == wanted) return true;
  }
  return false;
}

arrow::Status CheckRun(const std::string& run) {
  if (run.empty() || run.size() > 200 || run.find_first_of("/\\") != std::string::npos ||
      run == "." || run == "..") {
    return arrow::Status::Invalid("run id '", run,
                                  "' must be 1 to 200 characters without '/' or '\\'");
  }
  return arrow::Status::OK();
}

std::string ReadSmallFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

StagePlan PlanStages(const PipelineSpec& spec) {
  size_t split = 0;
  while (split < spec.stages.size()) {
    const auto kind = spec.stages[split].kind;
    if (kind == StageSpec::Kind::kAggregate || kind == StageSpec::Kind::kSort ||
        kind == StageSpec::Kind::kLimit) {
      break;
    }
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

std::string TransformDataset(const std::string& run, StageRange range) {
  return range.begin == 0 ? run + "-transform" : run + "-transform-" + std::to_string(range.begin);
}

std::vector<std::string> RunDatasets(const PipelineSpec& spec, const std::string& run) {
  std::vector<std::string> names = {run + "-extract"};
  for (const auto& step : ChainSteps(spec)) {
    names.push_back(step.is_python() ? run + "-s" + std::to_string(step.python) : TransformDataset(run, step.range));
  }
  names.push_back(run + "-combine");
  return names;
}

arrow::Result<int64_t> ExpireDatasets(const PipelineSpec& spec, const std::vector<std::string>& datasets,
                                      int64_t ttl_ms) {
  const std::string body = nlohmann::json{{"datasets", datasets}, {"ttl_ms", ttl_ms}}.dump();
  int64_t count = 0;
  arrow::Status first_error;
  for (const auto& node : spec.nodes) {
    auto done = [&]() -> arrow::Result<int64_t> {
      ARROW_ASSIGN_OR_RAISE(auto client, Connect(node));
      ARROW_ASSIGN_OR_RAISE(auto results,
                            client->DoAction(CallOptions(spec), fl::Action{"expire", arrow::Buffer::FromString(body)}));
      ARROW_ASSIGN_OR_RAISE(auto result, results->Next());
      if (!result) return arrow::Status::IOError("expire on ", node, " answered nothing");
      auto answer = nlohmann::json::parse(result->body->ToString(), nullptr, /*allow_exceptions=*/false);
      if (!answer.is_object()) return arrow::Status::IOError("expire on ", node, " answered no JSON object");
      return answer.value("datasets", int64_t{0});
    }();
    // Every node is tried; the first failure is reported.
    if (done.ok()) {
      count += *done;
    } else if (first_error.ok()) {
      first_error = done.status().WithMessage("node ", node, ": ", done.status().message());
    }
  }
  ARROW_RETURN_NOT_OK(first_error);
  return count;
}

arrow::Status DatasetLost(const std::string& input, const arrow::Status& cause) {
  return arrow::Status::KeyError("dataset lost: input ", input, ": ", cause.message());
}

std::string LostInputOf(std::string_view message) {
  constexpr std::string_view kPrefix = "dataset lost: input ";
  const size_t at = message.find(kPrefix);
  if (at == std::string_view::npos) return "";
  const size_t begin = at + kPrefix.size();
  const size_t end = message.find(':', begin);
  return std::string(message.substr(begin, end == std::string_view::npos ? end : end - begin));
}

arrow::Result<std::string> NodeFor(const PipelineSpec& spec, int32_t partition) {
  if (spec.nodes.empty()) {
    return arrow::Status::Invalid("pipeline '", spec.name, "' names no data node (nodes: [...])");
  }
  return spec.nodes[static_cast<size_t>(partition) % spec.nodes.size()];
}

arrow::Result<DataFrame> ReadSourcePartition(const PipelineSpec& spec, int32_t partition) {
  if (partition < 0 || partition >= spec.partitions) {
    return arrow::Status::Invalid("partition ", partition, " out of range [0, ", spec.partitions,
                                  ")");
  }
  const SourceSpec& source = spec.source;
  switch (source.kind) {
    case SourceSpec::Kind::kGenerate:
      return GeneratePartition(source, partition, spec.partitions);
    case SourceSpec::Kind::kFlight: {
      ARROW_ASSIGN_OR_RAISE(DataFrame all, ReadWholeSource(spec, source));
      return partition == 0 ? all : all.Limit(0);
    }
    default: {
      ARROW_ASSIGN_OR_RAISE(auto format, FormatOf(source.kind));
      ARROW_ASSIGN_OR_RAISE(auto files, ListSourceFiles(source.path));
      std::optional<DataFrame> frame;
      for (size_t i = static_cast<size_t>(partition); i < files.size();
           i += static_cast<size_t>(spec.partitions)) {
        ARROW_ASSIGN_OR_RAISE(DataFrame one, DataFrame::Read(files[i], format));
        frame = frame ? frame->Union(one) : one;
      }
      if (!frame) {
        // No file for this partition: no rows, the source's schema.
        ARROW_ASSIGN_OR_RAISE(DataFrame first, DataFrame::Read(files[0], format));
        frame = first.Limit(0);
      }
      return *frame;
    }
  }
}

arrow::Result<SourceSize> PartitionSourceSize(const PipelineSpec& spec, int32_t partition) {
  if (partition < 0 || partition >= spec.partitions) {
    return arrow::Status::Invalid("partition ", partition, " out of range [0, ", spec.partitions, ")");
  }
  const SourceSpec& source = spec.source;
  SourceSize size;
  switch (source.kind) {
    case SourceSpec::Kind::kGenerate:
      size.rows = source.rows * (partition + 1) / spec.partitions - source.rows * partition / spec.partitions;
      return size;
    case SourceSpec::Kind::kFlight:
      return size;
    default: {
      ARROW_ASSIGN_OR_RAISE(auto format, FormatOf(source.kind));
      ARROW_ASSIGN_OR_RAISE(auto files, ListSourceFiles(source.path));
      for (size_t i = static_cast<size_t>(partition); i < files.size(); i += static_cast<size_t>(spec.partitions)) {
        ARROW_ASSIGN_OR_RAISE(int64_t rows, DataFrame::FileRows(files[i], format));
        size.rows = rows < 0 || size.rows < 0 ? -1 : size.rows + rows;
        std::error_code ec;
        const auto bytes = fs::file_size(files[i], ec);
        if (!ec) size.bytes += static_cast<int64_t>(bytes);
      }
      size.rows = std::max<int64_t>(size.rows, 0);
      return size;
    }
  }
}

std::optional<std::set<std::string>> SourceColumnsNeeded(const PipelineSpec& spec) {
  std::optional<std::set<std::string>> needed;  // nullopt: every column
  // Every identifier an expression mentions (keywords and function names
  // too): a superset of the columns it reads, which Extract intersects with
  // the source's columns.
  auto read = [&](const std::string& text) -> bool {
    if (!frame::CheckExpressionText(text, "expression").ok()) return false;
    for (const auto& name : frame::MentionedIdentifiers(text)) needed->insert(name);
    return true;
  };
  for (auto stage = spec.stages.rbegin(); stage != spec.stages.rend(); ++stage) {
    switch (stage->kind) {
      case StageSpec::Kind::kAggregate: {
        needed.emplace(stage->aggregate.by.begin(), stage->aggregate.by.end());
        for (const auto& [name, text] : stage->aggregate.aggs) {
          auto agg = ParseAggregation(name, text);
          if (!agg.ok()) return std::nullopt;
          if (!agg->column.empty()) needed->insert(agg->column);
        }
        break;
      }
      case StageSpec::Kind::kSelect: {
        std::set<std::string> kept;
        for (const auto& column : stage->columns) {
          if (!needed || needed->count(column)) kept.insert(column);
        }
        needed = std::move(kept);
        break;
      }
      case StageSpec::Kind::kFilter:
        if (needed && !read(stage->expr)) return std::nullopt;
        break;
      case StageSpec::Kind::kWithColumn:
        if (needed) {
          needed->erase(stage->name);
          if (!read(stage->expr)) return std::nullopt;
        }
        break;
      case StageSpec::Kind::kSort:
        if (needed) {
          for (const auto& key : stage->sort) needed->insert(key.column);
        }
        break;
      case StageSpec::Kind::kLimit:
        break;
      case StageSpec::Kind::kJoin:
      case StageSpec::Kind::kPython:
        return std::nullopt;
    }
  }
  return needed;
}

arrow::Result<DataFrame> ApplyStage(const PipelineSpec& spec, const StageSpec& stage, DataFrame input,
                                    const SourceOpener& open_join) {
  return ApplyOneStage(spec, stage, std::move(input), open_join);
}

arrow::Result<std::vector<std::string>> SourceFiles(const std::string& path) { return ListSourceFiles(path); }

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
  return ApplyStages(spec, *all, plan.global);
}

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
  if (result.ok() || !LostInputOf(result.status().message()).empty()) return result;
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
                                             StageRange range, bool partial_aggregate) {
  ARROW_RETURN_NOT_OK(CheckRun(run));
  if (partial_aggregate && (range.end >= spec.stages.size() ||
                            spec.stages[range.end].kind != StageSpec::Kind::kAggregate)) {
    return arrow::Status::Invalid("no aggregate stage follows stage range [", range.begin, ", ",
                                  range.end, ") to compute partially");
  }
  StageRange with_partial = range;
  if (partial_aggregate) with_partial.end += 1;
  return InStages(spec, "partition " + std::to_string(partition), with_partial,
                  PutStageOutput(spec, input.node, TransformDataset(run, range), std::to_string(partition),
                                 [&]() -> arrow::Result<DataFrame> {
                                   ARROW_ASSIGN_OR_RAISE(DataFrame in,
                                                         ReadRef(spec, input, std::to_string(partition)));
                                   return ApplyStages(spec, std::move(in), with_partial);
                                 }));
}

bool SourceIsDurable(const SourceSpec& source) {
  return source.kind == SourceSpec::Kind::kParquet || source.kind == SourceSpec::Kind::kCsv ||
         source.kind == SourceSpec::Kind::kIpc;
}

arrow::Result<DatasetRef> TransformSourcePartition(const PipelineSpec& spec, const std::string& run,
                                                   int32_t partition, StageRange range,
                                                   bool partial_aggregate) {
  ARROW_RETURN_NOT_OK(CheckRun(run));
  if (!SourceIsDurable(spec.source)) {
    return arrow::Status::Invalid("source '", KindName(spec.source.kind),
                                  "' is not a file source; its partitions are extracted first");
  }
  if (partial_aggregate && (range.end >= spec.stages.size() ||
                            spec.stages[range.end].kind != StageSpec::Kind::kAggregate)) {
    return arrow::Status::Invalid("no aggregate stage follows stage range [", range.begin, ", ",
                                  range.end, ") to compute partially");
  }
  ARROW_ASSIGN_OR_RAISE(std::string node, NodeFor(spec, partition));
  StageRange with_partial = range;
  if (partial_aggregate) with_partial.end += 1;
  return InStages(spec, "partition " + std::to_string(partition), with_partial,
                  PutStageOutput(spec, node, TransformDataset(run, range), std::to_string(partition),
                                 [&]() -> arrow::Result<DataFrame> {
                                   ARROW_ASSIGN_OR_RAISE(DataFrame in, ReadSourcePartition(spec, partition));
                                   return ApplyStages(spec, std::move(in), with_partial);
                                 }));
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
                                         "part-" + std::to_string(part),
                                         [&] { return ReadRef(spec, input, std::to_string(part)); },
                                         /*keep_local=*/false, /*made_table=*/nullptr, /*leased=*/false));
    ARROW_ASSIGN_OR_RAISE(auto client, Connect(input.node));
    ARROW_ASSIGN_OR_RAISE(ref, Persist(*client, spec, input.node, ref.ticket));
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

namespace {

// The sink folder without a trailing separator.
fs::path SinkFolder(const PipelineSpec& spec) {
  fs::path sink = fs::path(spec.sink.path).lexically_normal();
  if (sink.filename().empty()) sink = sink.parent_path();
  return sink;
}

bool Published(const fs::path& sink, const std::string& run) {
  std::error_code ec;
  const fs::path success = sink / "_SUCCESS";
  return fs::exists(success, ec) && ReadSmallFile(success) == run + "\n";
}

// Swaps two existing folders atomically (renameat2 RENAME_EXCHANGE). Where
// the file system cannot, moves `to` aside to `aside` first: a crash between
// the two renames leaves no sink (never a partial one), and the retried
// commit publishes `from` (it still has every part).
arrow::Status Exchange(const fs::path& from, const fs::path& to, const fs::path& aside) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) == 0) {
    return arrow::Status::OK();
  }
  const int error = errno;
  if (error != EINVAL && error != ENOSYS && error != EOPNOTSUPP) {
    return arrow::Status::IOError("cannot publish ", from.string(), " as ", to.string(), ": ",
                                  std::strerror(error));
  }
  std::error_code ec;
  fs::remove_all(aside, ec);
  fs::rename(to, aside, ec);
  if (!ec) fs::rename(from, to, ec);
  if (ec) {
    return arrow::Status::IOError("cannot publish ", from.string(), " as ", to.string(), ": ",
                                  ec.message());
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Status Commit(const PipelineSpec& spec, const std::string& run,
                     const std::vector<std::string>& staged) {
  ARROW_RETURN_NOT_OK(CheckRun(run));
  if (spec.sink.kind == SinkSpec::Kind::kFlight) return arrow::Status::OK();
  const fs::path sink = SinkFolder(spec);
  const fs::path staging_root = sink / "_staging";
  const fs::path staging = staging_root / run;
  const fs::path next = CommitFolder(spec, run);
  const fs::path aside = next.string() + ".old";
  std::set<std::string> names;
  for (const auto& path : staged) {
    const fs::path p = path;
    if (p.parent_path().lexically_normal() != staging.lexically_normal()) {
      return arrow::Status::Invalid("staged part ", path, " is not in the staging folder ",
                                    staging.string(), " of run ", run);
    }
    names.insert(p.filename().string());
  }
  std::error_code ec;
  // What a commit leaves behind besides the published sink: this run's
  // staging (a retried load may have staged a part again), the swapped-out
  // old sink.
  const auto clean_up = [&] {
    fs::remove_all(staging, ec);
    fs::remove(staging_root, ec);  // only when empty
    fs::remove_all(next, ec);
    fs::remove_all(aside, ec);
  };
  if (Published(sink, run)) {
    clean_up();  // committed before (a retry after the swap)
    return arrow::Status::OK();
  }
  // The next sink, complete, in `next`: the parts (moved from staging, or
  // moved by an earlier attempt already) and _SUCCESS.
  fs::create_directories(next, ec);
  if (ec) {
    return arrow::Status::IOError("cannot create commit folder ", next.string(), ": ",
                                  ec.message());
  }
  for (const auto& name : names) {
    const fs::path from = staging / name;
    const fs::path to = next / name;
    if (fs::exists(from, ec)) {
      fs::rename(from, to, ec);
      if (ec) {
        return arrow::Status::IOError("cannot move ", from.string(), " to ", next.string(), ": ",
                                      ec.message());
      }
    } else if (!fs::exists(to, ec)) {
      return arrow::Status::Invalid("staged part ", from.string(),
                                    " is missing: it was neither staged nor published");
    }
  }
  // Every part's data reached the disk when it was written; the moves into
  // `next` and the marker are made durable before `next` is published.
  ARROW_RETURN_NOT_OK(SyncPath(next.string()));
  if (fs::exists(staging, ec)) ARROW_RETURN_NOT_OK(SyncPath(staging.string()));
  ARROW_RETURN_NOT_OK(WriteFileAtomically((next / "_SUCCESS").string(), run + "\n"));
  // Publish with one rename: readers see the old sink or the new one, never
  // a mix. Other runs' staging moves along with the sink.
  if (fs::exists(sink, ec)) {
    if (fs::exists(staging_root, ec) && !fs::exists(next / "_staging", ec)) {
      fs::rename(staging_root, next / "_staging", ec);
      if (ec) {
        return arrow::Status::IOError("cannot move ", staging_root.string(), ": ", ec.message());
      }
    }
    ARROW_RETURN_NOT_OK(Exchange(next, sink, aside));
  } else {
    fs::create_directories(sink.parent_path(), ec);
    fs::rename(next, sink, ec);
    if (ec) {
      return arrow::Status::IOError("cannot publish ", next.string(), " as ", sink.string(), ": ",
                                    ec.message());
    }
  }
  // The publishing rename is durable before the commit reports success.
  ARROW_RETURN_NOT_OK(SyncPath(fs::absolute(sink, ec).parent_path().string()));
  clean_up();
  return arrow::Status::OK();
}

std::string CommitFolder(const PipelineSpec& spec, const std::string& run) {
  const fs::path sink = SinkFolder(spec);
  return (sink.parent_path() / ("." + sink.filename().string() + ".commit-" + run)).string();
}

std::string PartName(const PipelineSpec& spec, int32_t part) {
  if (spec.sink.kind == SinkSpec::Kind::kFlight) return "part-" + std::to_string(part);
  return "part-" + std::to_string(part) + "." + ExtensionOf(spec.sink.kind);
}

std::string StagingFolder(const PipelineSpec& spec, const std::string& run) {
  return (fs::path(spec.sink.path) / "_staging" / run).string();
}

namespace {

// FNV-1a, 64 bits: names a spec text (not a security boundary: the tenant's
// own specs share the key space).
std::string TextHash(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

// Parsed specs by key, for the life of the process (a key names one text).
class SpecCache {
 public:
  static SpecCache& Instance() {
    static SpecCache* instance = new SpecCache();
    return *instance;
  }
  std::shared_ptr<const PipelineSpec> Get(const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = specs_.find(key);
    return it == specs_.end() ? nullptr : it->second;
  }
  void Put(const std::string& key, std::shared_ptr<const PipelineSpec> spec) {
    std::lock_guard<std::mutex> lock(mutex_);
    specs_.emplace(key, std::move(spec));
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    specs_.clear();
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const PipelineSpec>> specs_;
};

struct SpecKey {
  std::string tenant;
  std::string dataset;
  std::string node;
};

// Left out of keys (they travel in every stage task).
constexpr std::string_view kDefaultScheme = "grpc+tcp://";

arrow::Result<SpecKey> ParseSpecKey(const std::string& key) {
  const size_t at = key.find('@');
  const size_t slash = key.find('/');
  const size_t run_end = at == std::string::npos ? std::string::npos : key.rfind('/', at);
  if (at == std::string::npos || slash == std::string::npos || slash == 0 || run_end == slash ||
      run_end == std::string::npos || run_end > at || at + 1 == key.size()) {
    return arrow::Status::Invalid("spec key '", key, "' is not <tenant>/<run>/<hash>@<node>");
  }
  std::string node = key.substr(at + 1);
  if (node.find("://") == std::string::npos) node = std::string(kDefaultScheme) + node;
  return SpecKey{key.substr(0, slash),
                 key.substr(slash + 1, run_end - slash - 1) + "-spec-" + key.substr(run_end + 1, at - run_end - 1),
                 std::move(node)};
}

}  // namespace

arrow::Result<std::string> SpecKeyOf(const PipelineSpec& spec, const std::string& yaml, const std::string& run) {
  ARROW_RETURN_NOT_OK(CheckRun(run));
  ARROW_ASSIGN_OR_RAISE(std::string node, NodeFor(spec, 0));
  if (node.rfind(kDefaultScheme, 0) == 0) node = node.substr(kDefaultScheme.size());
  return spec.tenant + "/" + run + "/" + TextHash(yaml) + "@" + node;
}

arrow::Result<std::string> StoreSpec(const PipelineSpec& spec, const std::string& yaml, const std::string& run) {
  ARROW_ASSIGN_OR_RAISE(std::string key, SpecKeyOf(spec, yaml, run));
  ARROW_ASSIGN_OR_RAISE(std::string node, NodeFor(spec, 0));
  ARROW_ASSIGN_OR_RAISE(SpecKey parsed, ParseSpecKey(key));
  const std::string& dataset = parsed.dataset;
  ARROW_RETURN_NOT_OK(PutStageOutput(spec, node, dataset, "0", [&]() -> arrow::Result<DataFrame> {
                        arrow::StringBuilder builder;
                        ARROW_RETURN_NOT_OK(builder.Append(yaml));
                        ARROW_ASSIGN_OR_RAISE(auto column, builder.Finish());
                        auto schema = arrow::schema({arrow::field("spec", arrow::utf8())});
                        return DataFrame::FromTable(arrow::Table::Make(schema, {column}));
                      }).status());
  SpecCache::Instance().Put(key, std::make_shared<const PipelineSpec>(spec));
  return key;
}

arrow::Result<std::shared_ptr<const PipelineSpec>> LoadSpec(const std::string& key) {
  if (auto cached = SpecCache::Instance().Get(key)) return cached;
  ARROW_ASSIGN_OR_RAISE(SpecKey parsed, ParseSpecKey(key));
  PipelineSpec access;
  access.tenant = parsed.tenant;
  ARROW_ASSIGN_OR_RAISE(auto client, Connect(parsed.node));
  ARROW_ASSIGN_OR_RAISE(auto ticket, TicketAt(*client, access, {parsed.tenant, parsed.dataset, "0"}));
  if (!ticket) {
    return DatasetLost("spec", arrow::Status::KeyError("no spec ", key, " on ", parsed.node));
  }
  auto frame = DataFrame::FromFlight(parsed.node, *ticket, Headers(access));
  if (!frame.ok() && frame.status().IsKeyError()) return DatasetLost("spec", frame.status());
  ARROW_ASSIGN_OR_RAISE(auto table, frame->Collect());
  auto column = table->GetColumnByName("spec");
  if (!column || table->num_rows() != 1 || column->type()->id() != arrow::Type::STRING) {
    return arrow::Status::Invalid("spec dataset ", key, " is not one row of a 'spec' string");
  }
  ARROW_ASSIGN_OR_RAISE(auto scalar, column->GetScalar(0));
  const std::string yaml(static_cast<const arrow::StringScalar&>(*scalar).view());
  ARROW_ASSIGN_OR_RAISE(PipelineSpec spec, ParsePipelineSpec(yaml, key));
  auto shared = std::make_shared<const PipelineSpec>(std::move(spec));
  SpecCache::Instance().Put(key, shared);
  return shared;
}

void ForgetCachedSpecs() { SpecCache::Instance().Clear(); }

arrow::Result<int64_t> RenewRun(const PipelineSpec& spec, const std::string& spec_key, const std::string& run) {
  std::vector<std::string> datasets = RunDatasets(spec, run);
  ARROW_ASSIGN_OR_RAISE(SpecKey parsed, ParseSpecKey(spec_key));
  datasets.push_back(parsed.dataset);
  return ExpireDatasets(spec, datasets, spec.dataset_lease_ms);
}

arrow::Result<int64_t> ReleaseRun(const PipelineSpec& spec, const std::string& spec_key, const std::string& run) {
  std::vector<std::string> datasets = RunDatasets(spec, run);
  ARROW_ASSIGN_OR_RAISE(SpecKey parsed, ParseSpecKey(spec_key));
  datasets.push_back(parsed.dataset);
  return ExpireDatasets(spec, datasets, spec.retention_ms);
}

}  // namespace flightdeck::pipeline
