#include "flightdeck/pipeline/spec_check.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <string>
#include <system_error>
#include <vector>

#include <arrow/util/base64.h>

#include "flightdeck/frame/data_frame.h"
#include "flightdeck/frame/generate.h"
#include "flightdeck/frame/sql_text.h"
#include "flightdeck/pipeline/stages.h"

namespace flightdeck::pipeline {
namespace {

namespace fs = std::filesystem;
using frame::DataFrame;

// Line `line` (1-based) of `text`, without its newline.
std::string_view LineOf(std::string_view text, int line) {
  size_t begin = 0;
  for (int i = 1; i < line; ++i) {
    begin = text.find('\n', begin);
    if (begin == std::string_view::npos) return {};
    ++begin;
  }
  const size_t end = text.find('\n', begin);
  auto out = text.substr(begin, end == std::string_view::npos ? text.size() - begin : end - begin);
  if (!out.empty() && out.back() == '\r') out.remove_suffix(1);
  return out;
}

class Checker {
 public:
  Checker(const PipelineSpec& spec, std::string_view yaml, std::string_view origin)
      : spec_(spec), yaml_(yaml), origin_(origin) {}

  arrow::Status Run() {
    auto schema = SourceSchema(spec_.source, "source");
    if (!schema.ok()) return Unplace(schema.status());
    DataFrame frame = DataFrame::FromSchema(std::move(*schema));
    for (const StageSpec& stage : spec_.stages) {
      if (stage.kind == StageSpec::Kind::kPython) break;  // its output depends on its code
      auto opener = [this](const SourceSpec& source) -> arrow::Result<DataFrame> {
        ARROW_ASSIGN_OR_RAISE(auto right, SourceSchema(source, "join source"));
        return DataFrame::FromSchema(std::move(right));
      };
      auto applied = ApplyStage(spec_, stage, frame, opener);
      if (applied.ok() && !applied->status().ok()) applied = applied->status();
      if (applied.ok()) {
        // Binding the plan is what resolves the SQL expressions' columns and types.
        auto bound = applied->schema();
        if (!bound.ok()) return StageError(stage, bound.status(), frame);
        frame = DataFrame::FromSchema(*bound);
        continue;
      }
      // A join source's own problem is reported where that source is written.
      if (applied.status().detail() && applied.status().detail()->type_id() == std::string_view(kPlacedTypeId)) {
        return Unplace(applied.status());
      }
      return StageError(stage, applied.status(), frame);
    }
    return CheckSink(spec_.sink);
  }

 private:
  // Marks a status already formatted with its place (join source errors,
  // which travel through ApplyStage).
  static constexpr const char* kPlacedTypeId = "flightdeck::pipeline::PlacedSpecError";
  class Placed : public arrow::StatusDetail {
   public:
    const char* type_id() const override { return kPlacedTypeId; }
    std::string ToString() const override { return "spec check"; }
  };
  static arrow::Status Unplace(const arrow::Status& status) {
    return arrow::Status(status.code(), status.message());
  }

  // `status` (its code kept) as "<origin>:<line>:<column>: <reason>" with the
  // spec's line and a caret under `column`.
  arrow::Status At(const arrow::Status& status, SpecPosition at, const std::string& reason) const {
    std::string message = std::string(origin_) + ":" + std::to_string(at.line);
    if (at.column > 0) message += ":" + std::to_string(at.column);
    message += ": " + reason;
    const auto line = LineOf(yaml_, at.line);
    if (at.line > 0 && !line.empty()) {
      message.append("\n").append(line);
      if (at.column > 0) message.append("\n").append(static_cast<size_t>(at.column - 1), ' ').append("^");
    }
    const auto code = status.code() == arrow::StatusCode::OK ? arrow::StatusCode::Invalid : status.code();
    return arrow::Status(code, std::move(message));
  }

  // The first line of a message: what follows the frame layer's first line
  // is its own caret under the expression, which the spec's caret replaces.
  static std::string Reason(const arrow::Status& status) {
    const std::string& message = status.message();
    return message.substr(0, message.find('\n'));
  }

  // Where the text starting at `at` begins: past the opening quote of a
  // quoted YAML scalar.
  SpecPosition TextStart(SpecPosition at) const {
    const auto line = LineOf(yaml_, at.line);
    if (at.column > 0 && static_cast<size_t>(at.column) <= line.size()) {
      const char c = line[at.column - 1];
      if (c == '"' || c == '\'') ++at.column;
    }
    return at;
  }

  // Position `offset` into `text`, written at `at`, when the spec line shows
  // the text as written (no escapes or folding before that point).
  SpecPosition Into(SpecPosition at, const std::string& text, size_t offset) const {
    at = TextStart(at);
    const auto line = LineOf(yaml_, at.line);
    const size_t start = static_cast<size_t>(std::max(at.column - 1, 0));
    offset = std::min(offset, text.size());
    if (start + offset <= line.size() && line.substr(start, offset) == std::string_view(text).substr(0, offset)) {
      at.column += static_cast<int>(offset);
    }
    return at;
  }

  // The column of the stage's first token ("filter" of "- filter: ...").
  SpecPosition StageAt(const StageSpec& stage) const {
    const auto line = LineOf(yaml_, stage.line);
    size_t column = line.find_first_not_of(" -");
    return {stage.line, column == std::string_view::npos ? 0 : static_cast<int>(column) + 1};
  }

  // An aggregate stage's error comes from all its functions bound at once:
  // the first one that fails alone is the one to point at.
  arrow::Status StageError(const StageSpec& stage, const arrow::Status& status, const DataFrame& input) const {
    if (stage.kind == StageSpec::Kind::kAggregate && stage.aggregate.aggs.size() > 1 &&
        stage.aggs_at.size() == stage.aggregate.aggs.size()) {
      for (size_t i = 0; i < stage.aggregate.aggs.size(); ++i) {
        StageSpec one = stage;
        one.aggregate.aggs = {stage.aggregate.aggs[i]};
        one.aggs_at = {stage.aggs_at[i]};
        auto alone = ApplyStage(spec_, one, input);
        if (alone.ok() && alone->status().ok()) continue;
        return PlaceStageError(one, alone.ok() ? alone->status() : alone.status());
      }
    }
    return PlaceStageError(stage, status);
  }

  arrow::Status PlaceStageError(const StageSpec& stage, const arrow::Status& status) const {
    const std::string reason = Reason(status);
    // An error in an expression, at its position.
    if (const auto* text = frame::TextErrorOf(status)) {
      if (!stage.expr.empty() && stage.expr.find(text->text()) != std::string::npos) {
        return At(status, Into(stage.expr_at, stage.expr, stage.expr.find(text->text()) + text->position()),
                  reason);
      }
      for (size_t i = 0; i < stage.aggregate.aggs.size() && i < stage.aggs_at.size(); ++i) {
        const auto& agg = stage.aggregate.aggs[i].second;
        if (agg.find(text->text()) != std::string::npos) {
          return At(status, Into(stage.aggs_at[i], agg, agg.find(text->text()) + text->position()), reason);
        }
      }
    }
    // A column it names: where the stage names it.
    static const std::regex kColumn(R"((?:column|key) '([^']*)')");
    std::smatch match;
    if (std::regex_search(reason, match, kColumn)) {
      const std::string name = match[1].str();
      const bool right = reason.find("right key") != std::string::npos;
      const SpecPosition* found = nullptr;
      for (const auto& [written, at] : stage.names_at) {
        if (written == name && (found == nullptr || right)) found = &at;
      }
      if (found != nullptr) return At(status, TextStart(*found), reason);
      for (size_t i = 0; i < stage.aggregate.aggs.size() && i < stage.aggs_at.size(); ++i) {
        const auto& agg = stage.aggregate.aggs[i].second;
        const size_t mentioned = agg.find(name);
        if (mentioned != std::string::npos) return At(status, Into(stage.aggs_at[i], agg, mentioned), reason);
      }
      if (!stage.expr.empty() && stage.expr.find(name) != std::string::npos) {
        return At(status, Into(stage.expr_at, stage.expr, stage.expr.find(name)), reason);
      }
    }
    // An aggregate: at a name the reason quotes (its function), else at its start.
    static const std::regex kQuoted(R"('([^']+)')");
    for (size_t i = 0; i < stage.aggregate.aggs.size() && i < stage.aggs_at.size(); ++i) {
      const auto& [name, agg] = stage.aggregate.aggs[i];
      for (std::sregex_iterator it(reason.begin(), reason.end(), kQuoted), end; it != end; ++it) {
        const std::string quoted = (*it)[1].str();
        if (quoted == agg || quoted == name) return At(status, TextStart(stage.aggs_at[i]), reason);
        const size_t mentioned = agg.find(quoted);
        if (mentioned != std::string::npos) return At(status, Into(stage.aggs_at[i], agg, mentioned), reason);
      }
    }
    if (stage.aggregate.aggs.size() == 1 && stage.aggs_at.size() == 1) {
      return At(status, TextStart(stage.aggs_at[0]), reason);
    }
    if (!stage.expr.empty()) return At(status, TextStart(stage.expr_at), reason);
    // A cast's type (its column is found above).
    if (stage.kind == StageSpec::Kind::kCast) return At(status, TextStart(stage.expr_at), reason);
    return At(status, StageAt(stage), reason);
  }

  // The schema of `source` without reading its rows; `what` names it.
  arrow::Result<std::shared_ptr<arrow::Schema>> SourceSchema(const SourceSpec& source, const std::string& what) const {
    auto schema = ReadSchema(source);
    if (schema.ok()) return schema;
    const std::string reason = Reason(schema.status());
    const bool named = !source.path.empty() && reason.find(source.path) != std::string::npos;
    auto placed = At(schema.status(), TextStart(source.at), what + (named ? "" : " " + Describe(source)) + ": " + reason);
    return placed.WithDetail(std::make_shared<Placed>());
  }

  static std::string Describe(const SourceSpec& source) {
    switch (source.kind) {
      case SourceSpec::Kind::kGenerate:
        return "generate";
      case SourceSpec::Kind::kFlight:
        return "flight ticket '" + source.ticket + "'";
      default:
        return "'" + source.path + "'";
    }
  }

  arrow::Result<std::shared_ptr<arrow::Schema>> ReadSchema(const SourceSpec& source) const {
    switch (source.kind) {
      case SourceSpec::Kind::kGenerate: {
        ARROW_ASSIGN_OR_RAISE(auto table, frame::GenerateOrders({.rows = 0, .seed = source.seed}));
        return table->schema();
      }
      case SourceSpec::Kind::kFlight: {
        ARROW_ASSIGN_OR_RAISE(auto ticket, arrow::util::base64_decode(source.ticket));
        std::string node = source.node;
        if (node.empty()) {
          ARROW_ASSIGN_OR_RAISE(node, NodeFor(spec_, 0));
        }
        ARROW_ASSIGN_OR_RAISE(auto frame, DataFrame::FromFlight(node, std::move(ticket), {.tenant = spec_.tenant}));
        return frame.schema();
      }
      default: {
        ARROW_ASSIGN_OR_RAISE(auto files, SourceFiles(source.path));
        const auto format = source.kind == SourceSpec::Kind::kParquet ? frame::FileFormat::kParquet
                            : source.kind == SourceSpec::Kind::kCsv   ? frame::FileFormat::kCsv
                                                                      : frame::FileFormat::kIpc;
        // The first file: every file of a source must have its schema.
        ARROW_ASSIGN_OR_RAISE(auto frame, DataFrame::Read(files.front(), format));
        return frame.schema();
      }
    }
  }

  // A file sink's folder: the folder itself, or where it will be made, must
  // be a writable folder, and so must its parent (the commit renames there).
  arrow::Status CheckSink(const SinkSpec& sink) const {
    if (sink.kind == SinkSpec::Kind::kFlight) return arrow::Status::OK();
    const auto at = TextStart(sink.at);
    std::error_code ec;
    const fs::path path = fs::absolute(sink.path, ec);
    if (fs::exists(path, ec) && !fs::is_directory(path, ec)) {
      return At(arrow::Status::Invalid(""), at, "sink '" + sink.path + "' exists and is not a folder");
    }
    fs::path existing = fs::exists(path, ec) ? path.parent_path() : path;
    while (!existing.empty() && !fs::exists(existing, ec)) existing = existing.parent_path();
    if (existing.empty()) existing = "/";
    if (!fs::is_directory(existing, ec)) {
      return At(arrow::Status::Invalid(""), at,
                "sink '" + sink.path + "' cannot be created: " + existing.string() + " is not a folder");
    }
    if (::access(existing.c_str(), W_OK | X_OK) != 0) {
      return At(arrow::Status::IOError(""), at,
                "sink '" + sink.path + "' is not writable: " + existing.string() + ": " +
                    std::generic_category().message(errno));
    }
    return arrow::Status::OK();
  }

  const PipelineSpec& spec_;
  std::string_view yaml_;
  std::string_view origin_;
};

}  // namespace

arrow::Status CheckSpec(const PipelineSpec& spec, std::string_view yaml, std::string_view origin) {
  return Checker(spec, yaml, origin).Run();
}

}  // namespace flightdeck::pipeline
