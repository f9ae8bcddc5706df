// `flightdeck frame-query`: runs a DataFrame plan (or one SQL query) over
// files and writes the result to a file. Used by scripts, the TPC-H
// benchmark and the oracle tests, which compare its answers with DuckDB and
// Polars.
//
// One command line (shown wrapped):
//   flightdeck frame-query --input sales=/data/sales.parquet
//       --input regions=/data/regions.arrow
//       --plan '{"from": "sales", "steps": [
//                 {"op": "filter", "expr": "amount > 10"},
//                 {"op": "join", "right": "regions", "on": ["region"], "how": "left"},
//                 {"op": "group_by", "keys": ["manager"],
//                  "aggs": [{"fn": "sum", "column": "amount", "name": "total"}]},
//                 {"op": "sort", "by": [{"column": "total", "descending": true}]}]}' --output /tmp/result.arrow
//
// A plan is {"from": INPUT, "steps": [...], "with": {NAME: PLAN},
// "scalars": {NAME: PLAN}}, where INPUT is an --input name, the name of a
// "with" sub-plan of this plan or an enclosing one (computed once however
// often it is read), or a plan object (a sub-plan), and steps are:
// select {columns} | project {columns: [[name, expr], ...]} | filter {expr} |
// with_column {name, expr} | rename {map} | drop {columns} |
// cast {column, type} | aggregate {by?, aggs: {NAME: "fn(column)"}} (as in a
// pipeline spec) | group_by {keys, aggs: [{fn, column, name}]} |
// agg {aggs} | join {right: INPUT, on?, right_on?, how?, suffix?,
// condition?} (how: inner, left, right, full, semi, anti, cross) |
// sort {by: [COLUMN | {column, descending?, nulls_first?}]} | limit {count, offset?} |
// distinct | union {other: INPUT}. Expressions are SQL in DuckDB's dialect;
// `$NAME` in one stands for the single value of the scalar sub-plan NAME of
// this plan or an enclosing one. --sql runs one SQL query instead, reading
// the inputs by name. Inputs are files or directories; the format comes from
// the extension (.parquet, .arrow/.ipc/.feather, .csv) or NAME=PATH@FORMAT.
// Prints one JSON line: {"rows": N, "seconds": S, "engine": "duckdb vX.Y.Z"},
// S being the time from start to the result written (opening inputs,
// planning, executing).
// --repeat N runs the whole query (inputs opened again each time) N times in
// one process and reports the fastest run, as a benchmark times an engine
// that runs inside a warm process; "runs" then lists every run's seconds.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <arrow/array.h>
#include <arrow/scalar.h>
#include <nlohmann/json.hpp>

#include "flightdeck/cli/commands.h"
#include "flightdeck/frame/data_frame.h"
#include "flightdeck/frame/engine.h"
#include "flightdeck/frame/type_names.h"

namespace flightdeck::cli {
namespace {

// Ordered: a plan's named sub-plans ("with") are built in the order written.
using json = nlohmann::ordered_json;
namespace fr = flightdeck::frame;

struct FrameQueryOptions {
  std::vector<std::string> inputs;
  std::string plan;
  std::string sql;
  std::string memory_limit;
  int threads = 0;
  std::string spill_directory;
  std::string output;
  std::string output_format;
  bool explain = false;
  int repeat = 1;
};

// The extension of `path`, or for a directory of its first file (in the
// order DataFrame::Read reads them).
std::string ExtensionOf(const std::string& path) {
  std::string file = path;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    std::vector<std::string> files;
    for (auto it = std::filesystem::recursive_directory_iterator(path, ec); !ec && it != std::filesystem::end(it);
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (!name.empty() && name[0] != '.' && name[0] != '_' && it->is_regular_file()) {
        files.push_back(it->path().string());
      }
    }
    if (!files.empty()) file = *std::min_element(files.begin(), files.end());
  }
  const auto slash = file.find_last_of('/');
  const auto dot = file.find_last_of('.');
  return dot == std::string::npos || (slash != std::string::npos && dot < slash) ? "" : file.substr(dot + 1);
}

fr::FileFormat FormatOf(const std::string& path, const std::string& given) {
  std::string name = given;
  if (name.empty()) {
    name = ExtensionOf(path);
    if (name == "feather" || name == "ipc") name = "arrow";
  }
  auto format = fr::ParseFileFormat(name);
  if (!format.ok()) {
    throw CommandFailed("cannot tell the format of '" + path + "' (" + format.status().message() +
                            "); name it as NAME=PATH@FORMAT",
                        kExitUsage);
  }
  return *format;
}

std::vector<std::string> Strings(const json& step, const char* key) {
  if (!step.contains(key)) throw CommandFailed(std::string("step needs \"") + key + "\": " + step.dump());
  return step.at(key).get<std::vector<std::string>>();
}

std::vector<fr::Aggregation> Aggregations(const json& step) {
  std::vector<fr::Aggregation> out;
  for (const auto& a : step.at("aggs")) {
    fr::Aggregation aggregation{a.at("fn").get<std::string>(), a.value("column", ""), a.value("name", "")};
    if (aggregation.name.empty()) aggregation.name = aggregation.function + "_" + aggregation.column;
    out.push_back(std::move(aggregation));
  }
  return out;
}

// Names visible to a plan: the --input frames, and the scalar sub-plans of
// this plan and the plans around it.
struct Scope {
  /// The --input frames and the named sub-plans ("with") in view.
  std::map<std::string, fr::DataFrame> inputs;
  std::map<std::string, fr::DataFrame> scalars;
};

fr::DataFrame BuildPlan(const json& plan, const Scope& outer, const std::string& default_from);

fr::Expr Expression(const json& step, const char* key, const Scope& scope) {
  if (!step.contains(key)) throw CommandFailed(std::string("step needs \"") + key + "\": " + step.dump());
  auto parsed = fr::ParseExpression(step.at(key).get<std::string>(), scope.scalars);
  Check(parsed.status(), step.value("op", "step"));
  return *parsed;
}

// An input name or a sub-plan object.
fr::DataFrame Input(const json& value, const Scope& scope, const std::string& op) {
  if (value.is_object()) return BuildPlan(value, scope, "");
  const std::string name = value.get<std::string>();
  auto it = scope.inputs.find(name);
  if (it == scope.inputs.end()) throw CommandFailed("step " + op + " names unknown input '" + name + "'");
  return it->second;
}

fr::DataFrame Apply(const fr::DataFrame& frame, const json& step, const Scope& scope) {
  const std::string op = step.at("op").get<std::string>();
  if (op == "select") return frame.Select(Strings(step, "columns"));
  if (op == "project") {
    std::vector<std::pair<std::string, fr::Expr>> columns;
    for (const auto& pair : step.at("columns")) {
      auto parsed = fr::ParseExpression(pair.at(1).get<std::string>(), scope.scalars);
      Check(parsed.status(), "project " + pair.at(0).get<std::string>());
      columns.emplace_back(pair.at(0).get<std::string>(), *parsed);
    }
    return frame.Project(columns);
  }
  if (op == "filter") return frame.Filter(Expression(step, "expr", scope));
  if (op == "with_column") return frame.WithColumn(step.at("name").get<std::string>(), Expression(step, "expr", scope));
  if (op == "rename") {
    std::vector<std::pair<std::string, std::string>> renames;
    for (const auto& [from, to] : step.at("map").items()) renames.emplace_back(from, to.get<std::string>());
    return frame.Rename(renames);
  }
  if (op == "drop") return frame.Drop(Strings(step, "columns"));
  if (op == "cast") {
    auto type = fr::ParseTypeName(step.at("type").get<std::string>());
    Check(type.status(), "cast");
    return frame.Cast(step.at("column").get<std::string>(), *type);
  }
  if (op == "aggregate") {
    // As a pipeline spec's aggregate stage: {"by": [...], "aggs": {NAME: "fn(column)"}}.
    std::vector<fr::Aggregation> aggs;
    if (!step.contains("aggs") || !step.at("aggs").is_object()) {
      throw CommandFailed("aggregate needs \"aggs\": {NAME: \"fn(column)\"}: " + step.dump(), kExitUsage);
    }
    for (const auto& [name, text] : step.at("aggs").items()) {
      auto agg = fr::ParseAggregation(name, text.get<std::string>());
      if (!agg.ok()) throw CommandFailed(agg.status().message(), kExitUsage);
      aggs.push_back(std::move(*agg));
    }
    const auto by = step.contains("by") ? Strings(step, "by") : std::vector<std::string>{};
    return by.empty() ? frame.Agg(aggs) : frame.GroupBy(by).Agg(aggs);
  }
  if (op == "group_by") return frame.GroupBy(Strings(step, "keys")).Agg(Aggregations(step));
  if (op == "agg") return frame.Agg(Aggregations(step));
  if (op == "join") {
    auto kind = fr::ParseJoinKind(step.value("how", "inner"));
    Check(kind.status(), "join");
    auto on = step.contains("on") ? Strings(step, "on") : std::vector<std::string>{};
    auto right_on = step.contains("right_on") ? Strings(step, "right_on") : on;
    fr::JoinOptions options{*kind, step.value("suffix", "_right"), std::nullopt};
    if (step.contains("condition")) options.condition = Expression(step, "condition", scope);
    return frame.Join(Input(step.at("right"), scope, op), on, right_on, options);
  }
  if (op == "sort") {
    std::vector<fr::SortKey> keys;
    for (const auto& key : step.at("by")) {
      // A column name alone sorts ascending, as in a pipeline spec.
      if (key.is_string()) {
        keys.push_back({key.get<std::string>(), false, false});
        continue;
      }
      keys.push_back({key.at("column").get<std::string>(), key.value("descending", false),
                      key.value("nulls_first", false)});
    }
    return frame.Sort(keys);
  }
  if (op == "limit") return frame.Limit(step.at("count").get<int64_t>(), step.value("offset", int64_t{0}));
  if (op == "distinct") return frame.Distinct();
  if (op == "union") return frame.Union(Input(step.at("other"), scope, op));
  throw CommandFailed("unknown step op '" + op + "'", kExitUsage);
}

fr::DataFrame BuildPlan(const json& plan, const Scope& outer, const std::string& default_from) {
  if (!plan.is_object()) throw CommandFailed("a plan is a JSON object, got " + plan.dump(), kExitUsage);
  Scope scope = outer;
  // Named sub-plans, each readable by name (as an input) by those after it
  // and by the plan: a sub-plan the plan reads twice is computed once.
  const json named = plan.value("with", json::object());
  for (const auto& [name, sub] : named.items()) {
    fr::DataFrame frame = BuildPlan(sub, scope, "");
    Check(frame.status(), "sub-plan '" + name + "'");
    scope.inputs.insert_or_assign(name, frame);
  }
  const json scalars = plan.value("scalars", json::object());
  for (const auto& [name, sub] : scalars.items()) {
    fr::DataFrame scalar = BuildPlan(sub, scope, "");
    Check(scalar.status(), "scalar sub-plan $" + name);
    scope.scalars.insert_or_assign(name, scalar);
  }
  if (!plan.contains("from") && default_from.empty()) {
    throw CommandFailed("a sub-plan needs \"from\": " + plan.dump(), kExitUsage);
  }
  fr::DataFrame frame = plan.contains("from") ? Input(plan.at("from"), scope, "from")
                                              : scope.inputs.at(default_from);
  for (const auto& step : plan.value("steps", json::array())) {
    frame = Apply(frame, step, scope);
    if (!frame.ok()) break;
  }
  return frame;
}

std::string TextOrFile(const std::string& text, const char* what) {
  if (text.empty() || text[0] != '@') return text;
  std::ifstream file(text.substr(1));
  if (!file) throw CommandFailed(std::string("cannot read ") + what + " file '" + text.substr(1) + "'");
  std::stringstream buffer;
  buffer << file.rdbuf();
  return buffer.str();
}

std::shared_ptr<fr::Engine> EngineFor(const FrameQueryOptions& options) {
  if (options.memory_limit.empty() && options.threads == 0 && options.spill_directory.empty()) return nullptr;
  fr::EngineOptions engine_options;
  engine_options.threads = options.threads;
  engine_options.spill_directory = options.spill_directory;
  if (!options.memory_limit.empty()) {
    auto bytes = fr::ParseByteSize(options.memory_limit);
    if (!bytes.ok()) throw CommandFailed("--memory-limit: " + bytes.status().message(), kExitUsage);
    engine_options.memory_limit = *bytes;
  }
  auto engine = fr::Engine::Open(engine_options);
  Check(engine.status(), "engine");
  return *engine;
}

struct QueryRun {
  int64_t rows = 0;
  double seconds = 0;
};

QueryRun RunFrameQueryOnce(const FrameQueryOptions& options, const std::shared_ptr<fr::Engine>& engine,
                           bool explain) {
  const auto start = std::chrono::steady_clock::now();
  std::map<std::string, fr::DataFrame> inputs;
  std::string first;
  for (const auto& spec : options.inputs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos) throw CommandFailed("--input wants NAME=PATH, got '" + spec + "'", kExitUsage);
    const std::string name = spec.substr(0, eq);
    std::string path = spec.substr(eq + 1), format_name;
    if (const auto at = path.rfind('@'); at != std::string::npos) {
      format_name = path.substr(at + 1);
      path = path.substr(0, at);
    }
    auto frame = fr::DataFrame::Read(path, FormatOf(path, format_name));
    Check(frame.status(), "input " + name);
    inputs.emplace(name, engine ? frame->WithEngine(engine) : *frame);
    if (first.empty()) first = name;
  }
  try {
    fr::DataFrame frame = fr::DataFrame::FromSchema(nullptr);
    if (!options.sql.empty()) {
      frame = fr::DataFrame::Sql(TextOrFile(options.sql, "SQL"), inputs);
    } else {
      const std::string text = TextOrFile(options.plan, "plan");
      const json plan = text.empty() ? json::object() : json::parse(text);
      if (inputs.empty()) throw CommandFailed("a plan needs at least one --input", kExitUsage);
      if (plan.contains("from") && plan.at("from").is_string() && !inputs.count(plan.at("from").get<std::string>()) &&
          !plan.value("with", json::object()).contains(plan.at("from").get<std::string>())) {
        throw CommandFailed("plan reads unknown input '" + plan.at("from").get<std::string>() + "'", kExitUsage);
      }
      frame = BuildPlan(plan, Scope{inputs, {}}, first);
    }
    if (engine) frame = frame.WithEngine(engine);
    Check(frame.status(), "plan");
    if (explain) {
      auto explained = frame.Explain();
      Check(explained.status(), "explain");
      std::cerr << *explained;
    }
    int64_t rows = 0;
    double seconds = 0;
    auto elapsed = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    if (!options.output.empty()) {
      Check(frame.WriteFile(options.output, FormatOf(options.output, options.output_format)), "query");
      seconds = elapsed();
      auto back = fr::DataFrame::Read(options.output, FormatOf(options.output, options.output_format));
      Check(back.status(), "reading the result back");
      auto counted = back->Agg({fr::CountAll("n")}).Collect();
      Check(counted.status(), "counting the result");
      rows = std::stoll((*counted)->column(0)->GetScalar(0).ValueOrDie()->ToString());
    } else {
      auto table = frame.Collect();
      Check(table.status(), "query");
      seconds = elapsed();
      rows = (*table)->num_rows();
    }
    return {rows, seconds};
  } catch (const json::exception& e) {
    throw CommandFailed(std::string("bad plan JSON: ") + e.what(), kExitUsage);
  }
}

void RunFrameQuery(const FrameQueryOptions& options) {
  if (options.repeat < 1) throw CommandFailed("--repeat wants a count of at least 1", kExitUsage);
  if (!options.sql.empty() && !options.plan.empty()) {
    throw CommandFailed("give --plan or --sql, not both", kExitUsage);
  }
  const auto engine = EngineFor(options);
  QueryRun best;
  json runs = json::array();
  for (int i = 0; i < options.repeat; ++i) {
    const QueryRun run = RunFrameQueryOnce(options, engine, options.explain && i == 0);
    if (i == 0 || run.seconds < best.seconds) best = run;
    runs.push_back(run.seconds);
  }
  auto version = fr::Engine::Version();
  json out{{"rows", best.rows}, {"seconds", best.seconds},
           {"engine", "duckdb " + (version.ok() ? *version : std::string("?"))}};
  if (options.repeat > 1) out["runs"] = runs;
  std::cout << out.dump() << std::endl;
}

}  // namespace

void AddFrameQueryCommand(CLI::App& app) {
  auto options = std::make_shared<FrameQueryOptions>();
  auto* cmd = app.add_subcommand("frame-query", "run a DataFrame plan (or a SQL query) over files");
  cmd->add_option("--input", options->inputs, "NAME=PATH[@FORMAT], repeatable; the first is the default source");
  cmd->add_option("--plan", options->plan, "the plan as JSON, or @FILE");
  cmd->add_option("--sql", options->sql, "one SQL query (DuckDB dialect) over the inputs by name, or @FILE");
  cmd->add_option("--memory-limit", options->memory_limit,
                  "engine memory before it spills, e.g. 2GiB (default: 80% of RAM)");
  cmd->add_option("--threads", options->threads, "engine threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--spill-dir", options->spill_directory,
                  "where joins, aggregates and sorts beyond the memory limit spill (default: a temporary folder)");
  cmd->add_option("--output", options->output, "result file (.parquet, .arrow, .csv); none: count only");
  cmd->add_option("--output-format", options->output_format, "parquet, ipc or csv (default: by extension)");
  cmd->add_flag("--explain", options->explain, "print the plan to stderr");
  cmd->add_option("--repeat", options->repeat, "run the query N times, report the fastest run")
      ->check(CLI::PositiveNumber);
  cmd->callback([options] { RunFrameQuery(*options); });
}

}  // namespace flightdeck::cli
