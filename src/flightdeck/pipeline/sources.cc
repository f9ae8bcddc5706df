// Pipeline sources: listing a file source, splitting it into partitions,
// sizing them from metadata, and generated rows.
#include <glob.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include <arrow/util/base64.h>

#include "flightdeck/flight/placement.h"
#include "flightdeck/frame/generate.h"
#include "flightdeck/frame/sql_text.h"
#include "flightdeck/pipeline/stages_internal.h"

namespace flightdeck::pipeline {
namespace internal {

namespace fs = std::filesystem;
using frame::DataFrame;

namespace {

bool IsGlob(const std::string& path) {
  return path.find_first_of("*?[") != std::string::npos;
}

uint64_t PartitionSeed(uint64_t seed, int32_t partition) {
  return seed + static_cast<uint64_t>(partition) * 0x9E3779B97F4A7C15ULL;
}

}  // namespace

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

// Generated rows [start, end) with ids start.. (globally unique).
arrow::Result<std::shared_ptr<arrow::Table>> GenerateTable(
    const SourceSpec& source, int32_t partition, int32_t partitions,
    std::vector<std::string> columns) {
  const int64_t start = source.rows * partition / partitions;
  const int64_t end = source.rows * (partition + 1) / partitions;
  return frame::GenerateOrders({.rows = end - start,
                                .seed = PartitionSeed(source.seed, partition),
                                .first_id = start,
                                .columns = std::move(columns)});
}

arrow::Result<DataFrame> ReadWholeSource(const PipelineSpec& spec, const SourceSpec& source) {
  switch (source.kind) {
    case SourceSpec::Kind::kGenerate: {
      ARROW_ASSIGN_OR_RAISE(auto table, GenerateTable(source, 0, 1));
      return DataFrame::FromTable(std::move(table));
    }
    case SourceSpec::Kind::kFlight: {
      ARROW_ASSIGN_OR_RAISE(auto ticket, arrow::util::base64_decode(source.ticket));
      std::string node = source.node;
      if (node.empty()) {
        ARROW_ASSIGN_OR_RAISE(node, NodeFor(spec, 0));
      }
      return DataFrame::FromFlight(node, std::move(ticket), Who(spec));
    }
    default: {
      ARROW_ASSIGN_OR_RAISE(auto format, FormatOf(source.kind));
      return DataFrame::Read(source.path, format);
    }
  }
}

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

}  // namespace internal

using namespace internal;
namespace fs = std::filesystem;
using frame::DataFrame;

std::string PartitionKey(const PipelineSpec& spec, int32_t partition) {
  return spec.tenant + "/" + spec.name + "/" + std::to_string(partition);
}

arrow::Result<std::string> NodeFor(const PipelineSpec& spec, int32_t partition) {
  return NodeForKey(spec, PartitionKey(spec, partition));
}

namespace internal {

arrow::Result<std::string> NodeForKey(const PipelineSpec& spec, const std::string& key) {
  ARROW_ASSIGN_OR_RAISE(auto ranked, RankedNodes(spec, key, 1));
  return ranked[0];
}

arrow::Result<std::vector<std::string>> RankedNodes(const PipelineSpec& spec, const std::string& key, size_t count) {
  if (spec.nodes.empty()) {
    return arrow::Status::Invalid("pipeline '", spec.name, "' names no data node (nodes: [...])");
  }
  // Rendezvous placement over the spec's nodes: the same partition of the
  // same pipeline always lands on the same node, and a node added to or
  // removed from the list moves only about 1/N of the partitions.
  std::vector<flight::PlacementNode> nodes;
  nodes.reserve(spec.nodes.size());
  for (size_t i = 0; i < spec.nodes.size(); ++i) {
    nodes.push_back({spec.nodes[i], i < spec.node_weights.size() ? spec.node_weights[i] : 1.0});
  }
  ARROW_ASSIGN_OR_RAISE(auto chosen, flight::PlaceKey(key, nodes, count == 0 ? nodes.size() : count));
  std::vector<std::string> ranked;
  for (size_t index : chosen) ranked.push_back(spec.nodes[index]);
  return ranked;
}

std::string PlacementKeyOf(const PipelineSpec& spec, const std::string& dataset, const std::string& partition) {
  const auto ends_with = [&](std::string_view suffix) {
    return dataset.size() >= suffix.size() && dataset.compare(dataset.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with("-reduce") || ends_with("-shuffle") || ends_with("-shuffle-right")) {
    // A reduce's output and its buckets ("M-K": reduce K) live with the reduce.
    const size_t dash = partition.rfind('-');
    return ReduceKey(spec, std::atoi(partition.c_str() + (dash == std::string::npos ? 0 : dash + 1)));
  }
  return spec.tenant + "/" + spec.name + "/" + partition;
}

}  // namespace internal

arrow::Result<DataFrame> ReadSourcePartition(const PipelineSpec& spec, int32_t partition) {
  return ReadPartitionOf(spec, spec.source, partition);
}

arrow::Result<DataFrame> internal::ReadPartitionOf(const PipelineSpec& spec, const SourceSpec& source,
                                                   int32_t partition) {
  if (partition < 0 || partition >= spec.partitions) {
    return arrow::Status::Invalid("partition ", partition, " out of range [0, ", spec.partitions,
                                  ")");
  }
  switch (source.kind) {
    case SourceSpec::Kind::kGenerate: {
      ARROW_ASSIGN_OR_RAISE(auto table, GenerateTable(source, partition, spec.partitions));
      return DataFrame::FromTable(std::move(table));
    }
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
      case StageSpec::Kind::kDrop:
        // The columns it drops must be there to be dropped.
        if (needed) needed->insert(stage->columns.begin(), stage->columns.end());
        break;
      case StageSpec::Kind::kRename:
        // What is needed under a new name is needed under its old one.
        if (needed) {
          for (auto rename = stage->renames.rbegin(); rename != stage->renames.rend(); ++rename) {
            if (Mentions(*needed, rename->second)) needed->insert(rename->first);
          }
        }
        break;
      case StageSpec::Kind::kCast:
        if (needed) needed->insert(stage->name);
        break;
      case StageSpec::Kind::kDistinct:
        // Every column that reaches it decides which rows are distinct.
        needed.reset();
        break;
      case StageSpec::Kind::kJoin:
      case StageSpec::Kind::kPython:
        return std::nullopt;
    }
  }
  return needed;
}

arrow::Result<std::vector<std::string>> SourceFiles(const std::string& path) { return ListSourceFiles(path); }

}  // namespace flightdeck::pipeline
