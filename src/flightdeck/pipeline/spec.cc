#include "flightdeck/pipeline/spec.h"

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace flightdeck::pipeline {
namespace {

// Reads one YAML document, remembering the origin for error messages.
class SpecReader {
 public:
  explicit SpecReader(std::string_view origin) : origin_(origin) {}

  template <typename... Args>
  arrow::Status Error(const YAML::Node& node, Args&&... args) const {
    const int line = node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
    return arrow::Status::Invalid(origin_, ":", line, ": ", std::forward<Args>(args)...);
  }

  static SpecPosition At(const YAML::Node& node) {
    const auto mark = node.Mark();
    if (mark.line < 0) return {};
    return {mark.line + 1, mark.column + 1};
  }

  // Strings(node, what), remembering where each is written.
  arrow::Result<std::vector<std::string>> Names(const YAML::Node& node, std::string_view what,
                                                StageSpec& stage) const {
    ARROW_ASSIGN_OR_RAISE(auto names, Strings(node, what));
    if (node.IsSequence()) {
      for (size_t i = 0; i < node.size() && i < names.size(); ++i) stage.names_at.emplace_back(names[i], At(node[i]));
    }
    return names;
  }

  arrow::Status ExpectMap(const YAML::Node& node, std::string_view what,
                          const std::set<std::string>& allowed) const {
    if (!node.IsMap()) return Error(node, what, " must be a mapping");
    for (const auto& entry : node) {
      const std::string key = entry.first.as<std::string>();
      if (!allowed.count(key)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        return Error(entry.first, "unknown key '", key, "' in ", what, " (expected one of: ",
                     list, ")");
      }
    }
    return arrow::Status::OK();
  }

  arrow::Result<std::string> String(const YAML::Node& node, std::string_view what) const {
    if (!node.IsScalar()) return Error(node, what, " must be a string");
    std::string value = node.as<std::string>();
    if (value.empty()) return Error(node, what, " must not be empty");
    return value;
  }

  arrow::Result<int64_t> Integer(const YAML::Node& node, std::string_view what, int64_t min,
                                 int64_t max) const {
    int64_t value = 0;
    if (!node.IsScalar() || !YAML::convert<int64_t>::decode(node, value)) {
      return Error(node, what, " must be an integer");
    }
    if (value < min || value > max) {
      return Error(node, what, " must be between ", min, " and ", max, ", got ", value);
    }
    return value;
  }

  arrow::Result<double> Number(const YAML::Node& node, std::string_view what) const {
    double value = 0;
    if (!node.IsScalar() || !YAML::convert<double>::decode(node, value)) {
      return Error(node, what, " must be a number");
    }
    return value;
  }

  // A duration: whole seconds (an integer), or a number with a unit, "250ms",
  // "90s", "15m", "2h", "7d"; at most a year.
  arrow::Result<int64_t> DurationMs(const YAML::Node& node, std::string_view what) const {
    static const std::regex kDuration(R"(^\s*(\d+)\s*(ms|s|m|h|d)?\s*$)");
    std::smatch match;
    const std::string text = node.IsScalar() ? node.Scalar() : "";
    if (!std::regex_match(text, match, kDuration)) {
      return Error(node, what, " must be a duration such as 0, 90s, 15m, 2h or 7d, got '", text, "'");
    }
    const std::string unit = match[2].str();
    const int64_t scale = unit == "ms" ? 1 : unit == "m" ? 60'000 : unit == "h" ? 3'600'000
                          : unit == "d" ? 86'400'000 : 1000;
    const std::string digits = match[1].str();
    constexpr int64_t kYearMs = int64_t{366} * 86'400'000;
    if (digits.size() > 12 || std::stoll(digits) * scale > kYearMs) {
      return Error(node, what, " must be at most a year, got '", text, "'");
    }
    return std::stoll(digits) * scale;
  }

  arrow::Result<bool> Boolean(const YAML::Node& node, std::string_view what) const {
    bool value = false;
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
      return Error(node, what, " must be true or false");
    }
    return value;
  }

  arrow::Result<std::vector<std::string>> Strings(const YAML::Node& node,
                                                  std::string_view what) const {
    if (!node.IsSequence() || node.size() == 0) {
      return Error(node, what, " must be a non-empty list of names");
    }
    std::vector<std::string> out;
    for (const auto& item : node) {
      ARROW_ASSIGN_OR_RAISE(auto value, String(item, what));
      out.push_back(std::move(value));
    }
    return out;
  }

  // A mapping with exactly one key, naming the kind: `parquet: path`.
  arrow::Result<std::pair<std::string, YAML::Node>> OneOf(const YAML::Node& node,
                                                          std::string_view what,
                                                          const std::set<std::string>& kinds) const {
    ARROW_RETURN_NOT_OK(ExpectMap(node, what, kinds));
    if (node.size() != 1) {
      return Error(node, what, " must have exactly one kind, got ", node.size());
    }
    auto entry = *node.begin();
    return std::make_pair(entry.first.as<std::string>(), YAML::Node(entry.second));
  }

  arrow::Result<SourceSpec> Source(const YAML::Node& node, std::string_view what) const {
    ARROW_ASSIGN_OR_RAISE(auto kind_value,
                          OneOf(node, what, {"generate", "parquet", "csv", "ipc", "flight"}));
    auto& [kind, value] = kind_value;
    SourceSpec source;
    source.at = At(value);
    if (kind == "generate") {
      source.kind = SourceSpec::Kind::kGenerate;
      ARROW_RETURN_NOT_OK(ExpectMap(value, "generate", {"rows", "seed"}));
      if (!value["rows"]) return Error(value, "generate needs 'rows'");
      ARROW_ASSIGN_OR_RAISE(source.rows, Integer(value["rows"], "generate.rows", 0,
                                                 int64_t{1} << 40));
      if (value["seed"]) {
        ARROW_ASSIGN_OR_RAISE(auto seed, Integer(value["seed"], "generate.seed", 0,
                                                 std::numeric_limits<int64_t>::max()));
        source.seed = static_cast<uint64_t>(seed);
      }
    } else if (kind == "flight") {
      source.kind = SourceSpec::Kind::kFlight;
      ARROW_RETURN_NOT_OK(ExpectMap(value, "flight source", {"ticket", "node"}));
      if (!value["ticket"]) return Error(value, "flight source needs 'ticket'");
      ARROW_ASSIGN_OR_RAISE(source.ticket, String(value["ticket"], "flight.ticket"));
      if (value["node"]) {
        ARROW_ASSIGN_OR_RAISE(source.node, String(value["node"], "flight.node"));
      }
    } else {
      source.kind = kind == "parquet" ? SourceSpec::Kind::kParquet
                    : kind == "csv"   ? SourceSpec::Kind::kCsv
                                      : SourceSpec::Kind::kIpc;
      ARROW_ASSIGN_OR_RAISE(source.path, String(value, kind + " source path"));
    }
    return source;
  }

  arrow::Result<StageSpec> Stage(const YAML::Node& node, size_t index) const {
    const std::string what = "stage " + std::to_string(index + 1);
    ARROW_ASSIGN_OR_RAISE(auto kind_value,
                          OneOf(node, what, {"filter", "with_column", "select", "aggregate", "join", "sort",
                                             "limit", "python", "rename", "drop", "cast", "distinct"}));
    auto& [kind, value] = kind_value;
    StageSpec stage;
    stage.line = node.Mark().line + 1;
    const std::string label = what + " (" + kind + ")";
    if (kind == "filter") {
      stage.kind = StageSpec::Kind::kFilter;
      ARROW_ASSIGN_OR_RAISE(stage.expr, String(value, label + " expression"));
      stage.expr_at = At(value);
    } else if (kind == "with_column") {
      stage.kind = StageSpec::Kind::kWithColumn;
      ARROW_RETURN_NOT_OK(ExpectMap(value, label, {"name", "expr"}));
      if (!value["name"] || !value["expr"]) return Error(value, label, " needs 'name' and 'expr'");
      ARROW_ASSIGN_OR_RAISE(stage.name, String(value["name"], label + " name"));
      ARROW_ASSIGN_OR_RAISE(stage.expr, String(value["expr"], label + " expr"));
      stage.names_at.emplace_back(stage.name, At(value["name"]));
      stage.expr_at = At(value["expr"]);
    } else if (kind == "select") {
      stage.kind = StageSpec::Kind::kSelect;
      ARROW_ASSIGN_OR_RAISE(stage.columns, Names(value, label, stage));
    } else if (kind == "aggregate") {
      stage.kind = StageSpec::Kind::kAggregate;
      ARROW_RETURN_NOT_OK(ExpectMap(value, label, {"by", "aggs"}));
      if (value["by"]) {
        ARROW_ASSIGN_OR_RAISE(stage.aggregate.by, Names(value["by"], label + " by", stage));
      }
      const YAML::Node aggs = value["aggs"];
      if (!aggs || !aggs.IsMap() || aggs.size() == 0) {
        return Error(aggs ? aggs : value, label, " needs 'aggs': a mapping of name: expression");
      }
      for (const auto& entry : aggs) {
        ARROW_ASSIGN_OR_RAISE(auto name, String(entry.first, label + " output name"));
        ARROW_ASSIGN_OR_RAISE(auto expr, String(entry.second, label + " aggregate " + name));
        stage.aggregate.aggs.emplace_back(std::move(name), std::move(expr));
        stage.aggs_at.push_back(At(entry.second));
      }
    } else if (kind == "join") {
      stage.kind = StageSpec::Kind::kJoin;
      ARROW_RETURN_NOT_OK(ExpectMap(value, label, {"source", "on", "right_on", "how", "strategy"}));
      if (!value["source"] || !value["on"]) return Error(value, label, " needs 'source' and 'on'");
      ARROW_ASSIGN_OR_RAISE(stage.join.source, Source(value["source"], label + " source"));
      ARROW_ASSIGN_OR_RAISE(stage.join.on, Names(value["on"], label + " on", stage));
      stage.join.right_on = stage.join.on;
      if (value["right_on"]) {
        ARROW_ASSIGN_OR_RAISE(stage.join.right_on, Names(value["right_on"], label + " right_on", stage));
        if (stage.join.right_on.size() != stage.join.on.size()) {
          return Error(value["right_on"], label, " right_on names ", stage.join.right_on.size(),
                       " columns, on names ", stage.join.on.size(), "; they pair up one to one");
        }
      }
      if (value["how"]) {
        ARROW_ASSIGN_OR_RAISE(stage.join.how, String(value["how"], label + " how"));
        static const std::set<std::string> kHows = {"inner", "left", "right", "full", "semi", "anti"};
        if (!kHows.count(stage.join.how)) {
          return Error(value["how"], label, " how must be inner, left, right, full, semi or anti, got '",
                       stage.join.how, "'");
        }
      }
      if (value["strategy"]) {
        ARROW_ASSIGN_OR_RAISE(std::string strategy, String(value["strategy"], label + " strategy"));
        if (strategy != "broadcast" && strategy != "shuffle") {
          return Error(value["strategy"], label, " strategy must be broadcast or shuffle, got '", strategy, "'");
        }
        stage.join.shuffle = strategy == "shuffle";
      }
    } else if (kind == "sort") {
      stage.kind = StageSpec::Kind::kSort;
      if (!value.IsSequence() || value.size() == 0) {
        return Error(value, label, " must be a non-empty list of columns or {column, descending, nulls_first}");
      }
      for (const auto& key : value) {
        SortKeySpec sort_key;
        if (key.IsScalar()) {
          ARROW_ASSIGN_OR_RAISE(sort_key.column, String(key, label + " column"));
          stage.names_at.emplace_back(sort_key.column, At(key));
        } else {
          ARROW_RETURN_NOT_OK(ExpectMap(key, label + " key", {"column", "descending", "nulls_first"}));
          if (!key["column"]) return Error(key, label, " key needs 'column'");
          ARROW_ASSIGN_OR_RAISE(sort_key.column, String(key["column"], label + " column"));
          stage.names_at.emplace_back(sort_key.column, At(key["column"]));
          if (key["descending"]) {
            ARROW_ASSIGN_OR_RAISE(sort_key.descending, Boolean(key["descending"], label + " descending"));
          }
          if (key["nulls_first"]) {
            ARROW_ASSIGN_OR_RAISE(sort_key.nulls_first, Boolean(key["nulls_first"], label + " nulls_first"));
          }
        }
        stage.sort.push_back(std::move(sort_key));
      }
    } else if (kind == "rename") {
      stage.kind = StageSpec::Kind::kRename;
      if (!value.IsMap() || value.size() == 0) {
        return Error(value, label, " must be a mapping of old name: new name");
      }
      for (const auto& entry : value) {
        ARROW_ASSIGN_OR_RAISE(auto from, String(entry.first, label + " column"));
        ARROW_ASSIGN_OR_RAISE(auto to, String(entry.second, label + " new name of " + from));
        stage.names_at.emplace_back(from, At(entry.first));
        stage.renames.emplace_back(std::move(from), std::move(to));
      }
    } else if (kind == "drop") {
      stage.kind = StageSpec::Kind::kDrop;
      ARROW_ASSIGN_OR_RAISE(stage.columns, Names(value, label, stage));
    } else if (kind == "cast") {
      stage.kind = StageSpec::Kind::kCast;
      ARROW_RETURN_NOT_OK(ExpectMap(value, label, {"column", "type"}));
      if (!value["column"] || !value["type"]) return Error(value, label, " needs 'column' and 'type'");
      ARROW_ASSIGN_OR_RAISE(stage.name, String(value["column"], label + " column"));
      ARROW_ASSIGN_OR_RAISE(stage.type, String(value["type"], label + " type"));
      stage.names_at.emplace_back(stage.name, At(value["column"]));
      stage.expr_at = At(value["type"]);
    } else if (kind == "distinct") {
      stage.kind = StageSpec::Kind::kDistinct;
      ARROW_ASSIGN_OR_RAISE(bool on, Boolean(value, label));
      if (!on) return Error(value, label, " takes true (leave the stage out for no distinct)");
    } else if (kind == "python") {
      stage.kind = StageSpec::Kind::kPython;
      ARROW_RETURN_NOT_OK(ExpectMap(value, label, {"transform", "task_queue", "start_timeout_ms"}));
      if (!value["transform"]) return Error(value, label, " needs 'transform'");
      ARROW_ASSIGN_OR_RAISE(stage.name, String(value["transform"], label + " transform"));
      if (value["task_queue"]) {  // default: "<the spec's task_queue>-python", set by Spec()
        ARROW_ASSIGN_OR_RAISE(stage.task_queue, String(value["task_queue"], label + " task_queue"));
      }
      if (value["start_timeout_ms"]) {
        ARROW_ASSIGN_OR_RAISE(stage.start_timeout_ms,
                              Integer(value["start_timeout_ms"], label + " start_timeout_ms", 1, 86400000));
      }
    } else {
      stage.kind = StageSpec::Kind::kLimit;
      ARROW_ASSIGN_OR_RAISE(stage.limit, Integer(value, label, 0, std::numeric_limits<int64_t>::max()));
    }
    return stage;
  }

  arrow::Result<SinkSpec> Sink(const YAML::Node& node) const {
    ARROW_ASSIGN_OR_RAISE(auto kind_value, OneOf(node, "sink", {"parquet", "csv", "ipc", "flight"}));
    auto& [kind, value] = kind_value;
    SinkSpec sink;
    sink.at = At(value);
    if (kind == "flight") {
      sink.kind = SinkSpec::Kind::kFlight;
      ARROW_RETURN_NOT_OK(ExpectMap(value, "flight sink", {"dataset"}));
      if (!value["dataset"]) return Error(value, "flight sink needs 'dataset'");
      ARROW_ASSIGN_OR_RAISE(sink.dataset, String(value["dataset"], "flight sink dataset"));
    } else {
      sink.kind = kind == "parquet" ? SinkSpec::Kind::kParquet
                  : kind == "csv"   ? SinkSpec::Kind::kCsv
                                    : SinkSpec::Kind::kIpc;
      ARROW_ASSIGN_OR_RAISE(sink.path, String(value, kind + " sink directory"));
    }
    return sink;
  }

  arrow::Result<PipelineSpec> Spec(const YAML::Node& root) const {
    ARROW_RETURN_NOT_OK(ExpectMap(root, "the spec",
                                  {"name", "tenant", "source", "stages", "sink", "partitions",
                                   "parallelism", "durable", "retry", "nodes", "task_queue",
                                   "continue_as_new_after", "retention", "dataset_lease",
                                   "deterministic", "shuffle", "replicas", "locality"}));
    PipelineSpec spec;
    if (!root["name"]) return Error(root, "the spec needs a 'name'");
    ARROW_ASSIGN_OR_RAISE(spec.name, String(root["name"], "name"));
    if (root["tenant"]) {
      ARROW_ASSIGN_OR_RAISE(spec.tenant, String(root["tenant"], "tenant"));
    }
    for (char c : spec.tenant) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
        return Error(root["tenant"], "tenant may hold letters, digits, '-' and '_' only, got '",
                     spec.tenant, "'");
      }
    }
    if (!root["source"]) return Error(root, "the spec needs a 'source'");
    ARROW_ASSIGN_OR_RAISE(spec.source, Source(root["source"], "source"));
    if (root["stages"]) {
      const YAML::Node stages = root["stages"];
      if (!stages.IsSequence()) return Error(stages, "stages must be a list");
      for (size_t i = 0; i < stages.size(); ++i) {
        ARROW_ASSIGN_OR_RAISE(auto stage, Stage(stages[i], i));
        spec.stages.push_back(std::move(stage));
      }
    }
    if (!root["sink"]) return Error(root, "the spec needs a 'sink'");
    ARROW_ASSIGN_OR_RAISE(spec.sink, Sink(root["sink"]));
    if (root["partitions"]) {
      ARROW_ASSIGN_OR_RAISE(auto v, Integer(root["partitions"], "partitions", 1, 100000));
      spec.partitions = static_cast<int32_t>(v);
    }
    if (root["shuffle"]) {
      const YAML::Node shuffle = root["shuffle"];
      const std::string text = shuffle.IsScalar() ? shuffle.Scalar() : "";
      if (text == "auto") {
        spec.shuffle = PipelineSpec::kShuffleAuto;
      } else if (text == "off") {
        spec.shuffle = 0;
      } else {
        auto v = Integer(shuffle, "shuffle", 1, 100000);
        if (!v.ok()) return Error(shuffle, "shuffle must be auto, off or a number of reduce partitions (1 to 100000)");
        spec.shuffle = static_cast<int32_t>(*v);
      }
    }
    if (root["replicas"]) {
      ARROW_ASSIGN_OR_RAISE(auto v, Integer(root["replicas"], "replicas", 1, 16));
      spec.replicas = static_cast<int32_t>(v);
    }
    if (root["parallelism"]) {
      ARROW_ASSIGN_OR_RAISE(auto v, Integer(root["parallelism"], "parallelism", 1, 1000));
      spec.parallelism = static_cast<int32_t>(v);
    }
    if (root["continue_as_new_after"]) {
      ARROW_ASSIGN_OR_RAISE(auto v, Integer(root["continue_as_new_after"], "continue_as_new_after", 1, 100000));
      spec.continue_as_new_after = static_cast<int32_t>(v);
    }
    if (root["deterministic"]) {
      ARROW_ASSIGN_OR_RAISE(spec.deterministic, Boolean(root["deterministic"], "deterministic"));
    }
    if (root["locality"]) {
      ARROW_ASSIGN_OR_RAISE(spec.locality, Boolean(root["locality"], "locality"));
    }
    if (root["durable"]) {
      ARROW_ASSIGN_OR_RAISE(spec.durable, Boolean(root["durable"], "durable"));
    }
    if (root["retry"]) {
      const YAML::Node retry = root["retry"];
      ARROW_RETURN_NOT_OK(ExpectMap(retry, "retry", {"max_attempts", "initial_interval_ms",
                                                     "backoff", "max_interval_ms"}));
      if (retry["max_attempts"]) {
        ARROW_ASSIGN_OR_RAISE(auto v, Integer(retry["max_attempts"], "retry.max_attempts", 0, 1000));
        spec.retry.max_attempts = static_cast<int32_t>(v);
      }
      if (retry["initial_interval_ms"]) {
        ARROW_ASSIGN_OR_RAISE(spec.retry.initial_interval_ms,
                              Integer(retry["initial_interval_ms"], "retry.initial_interval_ms", 1, 86400000));
      }
      if (retry["max_interval_ms"]) {
        ARROW_ASSIGN_OR_RAISE(spec.retry.max_interval_ms,
                              Integer(retry["max_interval_ms"], "retry.max_interval_ms", 1, 86400000));
      }
      if (retry["backoff"]) {
        ARROW_ASSIGN_OR_RAISE(spec.retry.backoff, Number(retry["backoff"], "retry.backoff"));
        if (spec.retry.backoff < 1) return Error(retry["backoff"], "retry.backoff must be >= 1");
      }
    }
    if (root["nodes"]) {
      const YAML::Node nodes = root["nodes"];
      if (!nodes.IsSequence() || nodes.size() == 0) return Error(nodes, "nodes must be a non-empty list");
      for (const auto& item : nodes) {
        // A location, or {location: LOC, weight: W} (a capacity for placement).
        double weight = 1;
        std::string location;
        if (item.IsMap()) {
          ARROW_RETURN_NOT_OK(ExpectMap(item, "node", {"location", "weight"}));
          if (!item["location"]) return Error(item, "a node needs 'location'");
          ARROW_ASSIGN_OR_RAISE(location, String(item["location"], "node location"));
          if (item["weight"]) {
            ARROW_ASSIGN_OR_RAISE(weight, Number(item["weight"], "node weight"));
            if (!(weight > 0)) return Error(item["weight"], "node weight must be > 0");
          }
        } else {
          ARROW_ASSIGN_OR_RAISE(location, String(item, "nodes"));
        }
        spec.nodes.push_back(std::move(location));
        spec.node_weights.push_back(weight);
      }
    }
    if (root["task_queue"]) {
      ARROW_ASSIGN_OR_RAISE(spec.task_queue, String(root["task_queue"], "task_queue"));
    }
    if (root["retention"]) {
      ARROW_ASSIGN_OR_RAISE(spec.retention_ms, DurationMs(root["retention"], "retention"));
    }
    if (root["dataset_lease"]) {
      ARROW_ASSIGN_OR_RAISE(spec.dataset_lease_ms, DurationMs(root["dataset_lease"], "dataset_lease"));
      if (spec.dataset_lease_ms < 3000) {
        return Error(root["dataset_lease"], "dataset_lease must be at least 3s (the run renews it every third)");
      }
    }
    if (spec.replicas > 1 && !spec.nodes.empty() && spec.replicas > static_cast<int32_t>(spec.nodes.size())) {
      return Error(root["replicas"], "replicas: ", spec.replicas, " needs at least as many nodes; the spec names ",
                   spec.nodes.size());
    }
    bool global = false;
    for (auto& stage : spec.stages) {
      if (stage.kind == StageSpec::Kind::kPython && spec.replicas > 1) {
        return arrow::Status::Invalid(origin_, ":", stage.line, ": python stages keep one copy of their output; ",
                                      "replicas: ", spec.replicas, " is not supported with them yet");
      }
      const bool shuffle_join = stage.kind == StageSpec::Kind::kJoin && stage.join.shuffle;
      if (shuffle_join && spec.shuffle == 0) {
        return arrow::Status::Invalid(origin_, ":", stage.line, ": a join with strategy: shuffle needs a shuffle, ",
                                      "but the spec says shuffle: off");
      }
      global = global || IsGlobalStage(stage.kind) || shuffle_join;
      if (stage.kind != StageSpec::Kind::kPython) continue;
      if (stage.task_queue.empty()) stage.task_queue = spec.task_queue + "-python";
      if (global && spec.partitions > 1) {
        return arrow::Status::Invalid(origin_, ":", stage.line, ": a python stage after an aggregate, sort, limit, ",
                                      "distinct or shuffled join ",
                                      "runs once over all partitions' rows, which only 'partitions: 1' does; "
                                      "move it before them or set partitions: 1");
      }
    }
    return spec;
  }

 private:
  std::string origin_;
};

}  // namespace

arrow::Result<PipelineSpec> ParsePipelineSpec(std::string_view yaml, std::string_view origin) {
  SpecReader reader(origin);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    return arrow::Status::Invalid(origin, ":", e.mark.line + 1, ": not valid YAML: ", e.msg);
  }
  if (!root || root.IsNull()) return arrow::Status::Invalid(origin, ":1: the spec is empty");
  try {
    return reader.Spec(root);
  } catch (const YAML::Exception& e) {  // yaml-cpp throws on odd shapes; keep it at this edge
    return arrow::Status::Invalid(origin, ":", e.mark.line + 1, ": ", e.msg);
  }
}

arrow::Result<PipelineSpec> ReadPipelineSpec(const std::string& path) {
  std::ifstream in(path);
  if (!in) return arrow::Status::IOError("cannot read pipeline spec ", path);
  std::stringstream text;
  text << in.rdbuf();
  return ParsePipelineSpec(text.str(), path);
}

std::string_view KindName(SourceSpec::Kind kind) {
  switch (kind) {
    case SourceSpec::Kind::kGenerate: return "generate";
    case SourceSpec::Kind::kParquet: return "parquet";
    case SourceSpec::Kind::kCsv: return "csv";
    case SourceSpec::Kind::kIpc: return "ipc";
    case SourceSpec::Kind::kFlight: return "flight";
  }
  return "?";
}

std::string_view KindName(StageSpec::Kind kind) {
  switch (kind) {
    case StageSpec::Kind::kFilter: return "filter";
    case StageSpec::Kind::kWithColumn: return "with_column";
    case StageSpec::Kind::kSelect: return "select";
    case StageSpec::Kind::kAggregate: return "aggregate";
    case StageSpec::Kind::kJoin: return "join";
    case StageSpec::Kind::kSort: return "sort";
    case StageSpec::Kind::kLimit: return "limit";
    case StageSpec::Kind::kPython: return "python";
    case StageSpec::Kind::kRename: return "rename";
    case StageSpec::Kind::kDrop: return "drop";
    case StageSpec::Kind::kCast: return "cast";
    case StageSpec::Kind::kDistinct: return "distinct";
  }
  return "?";
}

bool IsGlobalStage(StageSpec::Kind kind) {
  return kind == StageSpec::Kind::kAggregate || kind == StageSpec::Kind::kSort ||
         kind == StageSpec::Kind::kLimit || kind == StageSpec::Kind::kDistinct;
}

std::string_view KindName(SinkSpec::Kind kind) {
  switch (kind) {
    case SinkSpec::Kind::kParquet: return "parquet";
    case SinkSpec::Kind::kCsv: return "csv";
    case SinkSpec::Kind::kIpc: return "ipc";
    case SinkSpec::Kind::kFlight: return "flight";
  }
  return "?";
}

}  // namespace flightdeck::pipeline
