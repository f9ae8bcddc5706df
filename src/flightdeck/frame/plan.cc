#include "flightdeck/frame/plan_internal.h"

#include <algorithm>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include <arrow/record_batch.h>
#include <arrow/array.h>
#include <arrow/scalar.h>
#include <arrow/table.h>
#include <arrow/type.h>

#include "flightdeck/common/random.h"
#include "flightdeck/frame/engine.h"
#include "flightdeck/frame/session.h"
#include "flightdeck/frame/sql_text.h"

namespace flightdeck::frame::internal {
namespace {

std::string RandomTag() {
  return RandomHex(8);
}

bool ReadsStreams(const PlanNode& node) {
  if (node.kind == NodeKind::kStream) return true;
  for (const auto& input : node.inputs) {
    if (ReadsStreams(*input)) return true;
  }
  for (const auto& [name, scalar] : node.scalars) {
    if (ReadsStreams(*scalar)) return true;
  }
  return false;
}

// How many places of the plan's SQL read each node: one per edge from a
// distinct parent (a node under a shared parent is written once, in the
// parent's CTE), and one for the root.
void CountReferences(const NodePtr& node, std::map<const PlanNode*, int>& references,
                     std::set<const PlanNode*>& visited) {
  if (!visited.insert(node.get()).second) return;
  for (const auto& input : node->inputs) {
    ++references[input.get()];
    CountReferences(input, references, visited);
  }
  for (const auto& [name, scalar] : node->scalars) {
    ++references[scalar.get()];
    CountReferences(scalar, references, visited);
  }
}

class Lowering {
 public:
  Lowering(Session& session, LowerMode mode) : session_(session), mode_(mode), tag_(RandomTag()) {}

  arrow::Result<std::string> Statement(const NodePtr& root) {
    std::set<const PlanNode*> visited;
    references_[root.get()] = 1;
    CountReferences(root, references_, visited);
    root_ = root.get();
    ARROW_ASSIGN_OR_RAISE(std::string body, Relation(root));
    if (ctes_.empty()) return "SELECT * FROM " + body + " AS \"fd_result\"";
    std::string sql = "WITH ";
    for (size_t i = 0; i < ctes_.size(); ++i) sql += (i ? ",\n" : "") + ctes_[i];
    return sql + "\nSELECT * FROM " + body + " AS \"fd_result\"";
  }

 private:
  // A join or filter folded with the joins below it into one FROM clause
  // (PlanNode::Flat); nullopt when `node` does not fold.
  struct Block {
    std::string from;
    std::vector<std::string> where;
  };
  arrow::Result<std::optional<Block>> TryBlock(const NodePtr& node) {
    using Kind = PlanNode::Flat::Kind;
    if (mode_ == LowerMode::kBindNode || node->flat.kind == Kind::kNone) return std::nullopt;
    // A node read in several places is written once, as a CTE, not folded.
    if (node.get() != root_ && references_[node.get()] > 1) return std::nullopt;
    if (node->flat.kind == Kind::kFilter) {
      // A filter over joins filters the block (the joins after it in the
      // block are inner, left or cross: the same rows either way).
      ARROW_ASSIGN_OR_RAISE(auto inner, TryBlock(node->inputs[0]));
      if (inner) inner->where.push_back("(" + node->flat.where + ")");
      return inner;
    }
    ARROW_ASSIGN_OR_RAISE(auto left, TryBlock(node->inputs[0]));
    Block block;
    if (left) {
      block = *std::move(left);
    } else {
      ARROW_ASSIGN_OR_RAISE(std::string relation, Relation(node->inputs[0], false));
      block.from = relation + " AS " + QuoteIdentifier("fd_j" + std::to_string(aliases_++));
    }
    ARROW_ASSIGN_OR_RAISE(std::string right, Relation(node->inputs[1], false));
    block.from += "\n" + node->flat.join + " JOIN (SELECT " + node->flat.right_select + " FROM " + right +
                  " AS \"fd_rr\") AS " + QuoteIdentifier("fd_j" + std::to_string(aliases_++));
    if (!node->flat.on.empty()) block.from += " ON " + node->flat.on;
    return block;
  }

  // The node's SQL as a parenthesized query; `order_matters` when some
  // operation above passes its row order on to the result.
  arrow::Result<std::string> Relation(const NodePtr& node, bool order_matters = true) {
    if (mode_ == LowerMode::kBindNode && node.get() != root_) {
      // Binding one node: its inputs are known by their schemas.
      ARROW_ASSIGN_OR_RAISE(std::string scan, session_.ScanEmpty(node->schema));
      return "(SELECT * FROM " + scan + ")";
    }
    if (mode_ != LowerMode::kBindNode && node->kind == NodeKind::kQuery && references_[node.get()] > 1) {
      // A sub-plan the plan reads more than once is computed once, as a
      // CTE (held in memory when it reads streams, which scan once;
      // otherwise as the engine judges).
      auto it = shared_.find(node.get());
      if (it != shared_.end()) return "(SELECT * FROM " + it->second + ")";
      ARROW_ASSIGN_OR_RAISE(std::string body, Fresh(node, /*order_matters=*/true));
      const std::string name = QuoteIdentifier("fd_" + tag_ + "_c" + std::to_string(ctes_.size()));
      ctes_.push_back(name + (ReadsStreams(*node) ? " AS MATERIALIZED " : " AS ") + body);
      shared_[node.get()] = name;
      return "(SELECT * FROM " + name + ")";
    }
    return Fresh(node, order_matters);
  }

  // The node's SQL, written out (not shared).
  arrow::Result<std::string> Fresh(const NodePtr& node, bool order_matters) {
    ARROW_ASSIGN_OR_RAISE(auto block, TryBlock(node));
    if (block) {
      std::string where;
      for (const auto& condition : block->where) where += (where.empty() ? "\nWHERE " : " AND ") + condition;
      return "(\nSELECT * FROM " + block->from + where + "\n)";
    }
    switch (node->kind) {
      case NodeKind::kStream:
        return StreamRelation(node);
      case NodeKind::kFile:
      case NodeKind::kQuery: {
        std::string text;
        const bool inputs_order = order_matters && node->keeps_order;
        const auto& parts = order_matters || node->unordered_sql.empty() ? node->sql : node->unordered_sql;
        for (const auto& part : parts) {
          if (part.input < 0) {
            text += part.text;
          } else {
            ARROW_ASSIGN_OR_RAISE(std::string input, Relation(node->inputs.at(part.input), inputs_order));
            text += input;
          }
        }
        if (!node->scalars.empty()) {
          std::map<std::string, std::string> replacements;
          for (const auto& [name, scalar] : node->scalars) {
            ARROW_ASSIGN_OR_RAISE(std::string sub, Relation(scalar, false));
            replacements[name] = "(SELECT * FROM " + sub + " AS \"fd_scalar\")";
          }
          ARROW_ASSIGN_OR_RAISE(text, ReplacePlaceholders(text, replacements));
        }
        if (node->kind == NodeKind::kFile) return "(SELECT * FROM " + text + ")";
        return "(\n" + text + "\n)";
      }
    }
    return arrow::Status::Invalid("unknown plan node");
  }

  arrow::Result<std::string> StreamRelation(const NodePtr& node) {
    const bool shared = references_[node.get()] > 1;
    const bool once = node->consumed != nullptr;
    if (once && shared) {
      // Read once into a materialized CTE every reference reads.
      auto it = materialized_.find(node.get());
      if (it != materialized_.end()) return "(SELECT * FROM " + it->second + ")";
      ARROW_ASSIGN_OR_RAISE(std::string scan, Register(node));
      const std::string cte = QuoteIdentifier("fd_" + tag_ + "_m" + std::to_string(ctes_.size()));
      ctes_.push_back(cte + " AS MATERIALIZED (SELECT * FROM " + scan + ")");
      materialized_[node.get()] = cte;
      return "(SELECT * FROM " + cte + ")";
    }
    // A stream is read once: every reference gets a scan of its own.
    ARROW_ASSIGN_OR_RAISE(std::string scan, Register(node));
    return "(SELECT * FROM " + scan + ")";
  }

  arrow::Result<std::string> Register(const NodePtr& node) {
    if (mode_ != LowerMode::kExecute) return session_.ScanEmpty(node->schema);
    ARROW_ASSIGN_OR_RAISE(auto reader, node->open());
    return session_.Scan(std::move(reader), node->rows);
  }

  Session& session_;
  LowerMode mode_;
  std::string tag_;
  const PlanNode* root_ = nullptr;
  int aliases_ = 0;
  std::map<const PlanNode*, int> references_;
  std::map<const PlanNode*, std::string> materialized_;
  std::map<const PlanNode*, std::string> shared_;
  std::vector<std::string> ctes_;
};

arrow::Status ClaimSources(const PlanNode& node) {
  if (node.consumed && node.consumed->exchange(true)) {
    return arrow::Status::Invalid(
        "this DataFrame reads a one-shot stream (RecordBatchReader or Flight ticket) that an "
        "earlier execution already consumed");
  }
  for (const auto& input : node.inputs) ARROW_RETURN_NOT_OK(ClaimSources(*input));
  for (const auto& [name, scalar] : node.scalars) ARROW_RETURN_NOT_OK(ClaimSources(*scalar));
  return arrow::Status::OK();
}

void ExplainInto(const NodePtr& node, int depth, std::string& out) {
  out += std::string(static_cast<size_t>(depth) * 2, ' ') + node->label + "\n";
  for (const auto& input : node->inputs) ExplainInto(input, depth + 1, out);
  for (const auto& [name, scalar] : node->scalars) {
    out += std::string(static_cast<size_t>(depth + 1) * 2, ' ') + "$" + name + " :=\n";
    ExplainInto(scalar, depth + 2, out);
  }
}

std::string JoinNames(const std::vector<std::string>& names, size_t limit = 50) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < limit; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > limit) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

// File scans of the plan (their labels), for errors that do not say which
// input failed.
void FileLabels(const NodePtr& node, std::vector<std::string>& labels) {
  if (node->kind == NodeKind::kFile) labels.push_back(node->label);
  for (const auto& input : node->inputs) FileLabels(input, labels);
  for (const auto& [name, scalar] : node->scalars) FileLabels(scalar, labels);
}

arrow::Status WithInputs(const arrow::Status& status, const NodePtr& root) {
  if (status.ok()) return status;
  std::vector<std::string> labels;
  FileLabels(root, labels);
  if (labels.empty()) return status;
  for (const auto& label : labels) {
    const auto path = label.substr(label.find(' ', 5) + 1);
    if (status.message().find(path.substr(0, path.find(" ("))) != std::string::npos) return status;
  }
  std::string inputs;
  for (size_t i = 0; i < labels.size() && i < 5; ++i) inputs += (i ? "; " : "") + labels[i];
  return status.WithMessage(status.message(), " (inputs: ", inputs, labels.size() > 5 ? "; ..." : "", ")");
}

// Errors of a result name the file inputs of the plan.
class AnnotatedReader : public arrow::RecordBatchReader {
 public:
  AnnotatedReader(std::unique_ptr<arrow::RecordBatchReader> inner, NodePtr root)
      : inner_(std::move(inner)), root_(std::move(root)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    return WithInputs(inner_->ReadNext(batch), root_);
  }
  arrow::Status Close() override { return inner_->Close(); }

 private:
  std::unique_ptr<arrow::RecordBatchReader> inner_;
  NodePtr root_;
};

// The engine hands results over a vector (2048 rows) at a time; sinks and
// Flight streams work better with larger batches, so consecutive ones are
// joined into batches of about kCoalescedRows rows (a copy at memory speed).
class CoalescingReader : public arrow::RecordBatchReader {
 public:
  static constexpr int64_t kCoalescedRows = 64 * 1024;
  explicit CoalescingReader(std::unique_ptr<arrow::RecordBatchReader> inner) : inner_(std::move(inner)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    std::vector<std::shared_ptr<arrow::RecordBatch>> pending;
    int64_t rows = 0;
    while (!done_ && rows < kCoalescedRows) {
      std::shared_ptr<arrow::RecordBatch> next;
      ARROW_RETURN_NOT_OK(inner_->ReadNext(&next));
      if (!next) {
        done_ = true;
      } else if (next->num_rows() > 0) {
        rows += next->num_rows();
        pending.push_back(std::move(next));
      }
    }
    if (pending.empty()) {
      *batch = nullptr;
    } else if (pending.size() == 1) {
      *batch = std::move(pending[0]);
    } else {
      ARROW_ASSIGN_OR_RAISE(*batch, arrow::ConcatenateRecordBatches(pending));
    }
    return arrow::Status::OK();
  }
  arrow::Status Close() override { return inner_->Close(); }

 private:
  std::unique_ptr<arrow::RecordBatchReader> inner_;
  bool done_ = false;
};

}  // namespace

arrow::Result<std::string> LowerToSql(const NodePtr& root, Session& session, LowerMode mode) {
  return Lowering(session, mode).Statement(root);
}

arrow::Result<std::shared_ptr<Engine>> BindEngine(bool external_access) {
  // Never destroyed, like Engine::Default(). Binding never spills.
  static std::once_flag once[2];
  static arrow::Result<std::shared_ptr<Engine>>* engines[2] = {nullptr, nullptr};
  const int which = external_access ? 1 : 0;
  std::call_once(once[which], [&] {
    engines[which] = new arrow::Result<std::shared_ptr<Engine>>(Engine::Open(
        {.threads = 1, .memory_limit = int64_t{256} << 20, .external_access = external_access}));
    if (engines[which]->ok()) new std::shared_ptr<Engine>(**engines[which]);
  });
  return *engines[which];
}

arrow::Result<std::shared_ptr<arrow::Schema>> BindSchema(const NodePtr& node, const std::string& op,
                                                         bool external_access) {
  ARROW_ASSIGN_OR_RAISE(auto engine, BindEngine(external_access));
  ARROW_ASSIGN_OR_RAISE(auto session, engine->Connect());
  auto bound = [&]() -> arrow::Result<std::shared_ptr<arrow::Schema>> {
    ARROW_ASSIGN_OR_RAISE(std::string sql, LowerToSql(node, *session, LowerMode::kBindNode));
    return session->Schema(sql);
  }();
  if (!bound.ok()) return bound.status().WithMessage(op, ": ", bound.status().message());
  return bound;
}

arrow::Result<NodePtr> Finish(std::shared_ptr<PlanNode> node, const std::string& op, bool external_access) {
  ARROW_ASSIGN_OR_RAISE(node->schema, BindSchema(node, op, external_access));
  return node;
}

// The batches of a stream as they are, behind the RecordBatchReader
// interface sinks take.
class PassThroughReader : public arrow::RecordBatchReader {
 public:
  explicit PassThroughReader(std::shared_ptr<arrow::RecordBatchReader> inner) : inner_(std::move(inner)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override { return inner_->ReadNext(batch); }
  arrow::Status Close() override { return inner_->Close(); }

 private:
  std::shared_ptr<arrow::RecordBatchReader> inner_;
};

arrow::Result<std::unique_ptr<arrow::RecordBatchReader>> Execute(const NodePtr& root,
                                                                 const std::shared_ptr<Engine>& engine) {
  ARROW_RETURN_NOT_OK(ClaimSources(*root));
  if (root->kind == NodeKind::kStream) {
    // Nothing to compute: the source's own batches, types and nullability
    // as they are.
    ARROW_ASSIGN_OR_RAISE(auto reader, root->open());
    return std::make_unique<PassThroughReader>(std::move(reader));
  }
  ARROW_ASSIGN_OR_RAISE(std::unique_ptr<Session> connected, engine->Connect());
  std::shared_ptr<Session> session = std::move(connected);
  ARROW_ASSIGN_OR_RAISE(std::string sql, LowerToSql(root, *session, LowerMode::kExecute));
  auto reader = Session::Query(std::move(session), sql);
  if (!reader.ok()) return WithInputs(reader.status(), root);
  return std::make_unique<CoalescingReader>(std::make_unique<AnnotatedReader>(*std::move(reader), root));
}

arrow::Status ExecuteStatement(const NodePtr& root, const std::shared_ptr<Engine>& engine,
                               const std::function<std::string(const std::string&)>& make_statement) {
  ARROW_RETURN_NOT_OK(ClaimSources(*root));
  ARROW_ASSIGN_OR_RAISE(auto session, engine->Connect());
  ARROW_ASSIGN_OR_RAISE(std::string sql, LowerToSql(root, *session, LowerMode::kExecute));
  return WithInputs(session->Execute(make_statement(sql)), root);
}

arrow::Result<std::string> ExplainPlan(const NodePtr& root, bool external_access) {
  std::string out;
  ExplainInto(root, 0, out);
  ARROW_ASSIGN_OR_RAISE(auto engine, BindEngine(external_access));
  ARROW_ASSIGN_OR_RAISE(std::unique_ptr<Session> connected, engine->Connect());
  std::shared_ptr<Session> session = std::move(connected);
  ARROW_ASSIGN_OR_RAISE(std::string sql, LowerToSql(root, *session, LowerMode::kBindPlan));
  ARROW_ASSIGN_OR_RAISE(auto reader, Session::Query(session, "EXPLAIN " + sql));
  ARROW_ASSIGN_OR_RAISE(auto table, reader->ToTable());
  out += "\nEngine plan (DuckDB, over empty inputs):\n";
  if (table->num_columns() >= 2) {
    for (const auto& chunk : table->column(1)->chunks()) {
      for (int64_t i = 0; i < chunk->length(); ++i) {
        ARROW_ASSIGN_OR_RAISE(auto value, chunk->GetScalar(i));
        if (value->is_valid) out += value->ToString() + "\n";
      }
    }
  }
  return out;
}

arrow::Status CheckColumn(const arrow::Schema& schema, const std::string& name, const std::string& op) {
  if (schema.GetFieldIndex(name) >= 0) return arrow::Status::OK();
  if (!schema.GetAllFieldIndices(name).empty()) {
    return arrow::Status::Invalid(op, ": column '", name, "' is ambiguous (", schema.GetAllFieldIndices(name).size(),
                                  " columns have that name)");
  }
  const auto names = schema.field_names();
  const auto closest = ClosestNames(name, names);
  return arrow::Status::Invalid(op, ": unknown column '", name, "'",
                                closest.empty() ? "" : " (did you mean " + JoinNames(closest) + "?)",
                                "; columns: ", JoinNames(names));
}

arrow::Status ExplainBindError(const arrow::Status& error, const std::string& raw, const std::string& op,
                               const std::string& text, const std::string& sql, size_t offset,
                               const arrow::Schema* schema) {
  const std::string& message = error.message();
  std::string where;
  size_t at = std::string::npos;  // in `text`
  const size_t position = ErrorPosition(raw, sql);
  // Up to two characters past the text: the engine points at what follows
  // an expression cut short (our newline and closing parenthesis).
  if (position != std::string::npos && offset != std::string::npos && position >= offset &&
      position <= offset + text.size() + 2) {
    at = std::min(position - offset, text.size());
    where.append("\n").append(CaretUnder(text, at));
    if (position - offset >= text.size() && message.find("syntax error") != std::string::npos) {
      return WithTextPosition(
          arrow::Status::Invalid(op, " '", text, "': syntax error: the expression ends too early", where), text, at);
    }
  }
  static const std::regex kUnknownColumn(R"re(Referenced column "([^"]*)" not found)re");
  std::smatch match;
  if (schema != nullptr && std::regex_search(message, match, kUnknownColumn)) {
    const auto names = schema->field_names();
    const auto closest = ClosestNames(match[1].str(), names);
    if (at == std::string::npos) {
      const auto mentioned = text.find(match[1].str());
      if (mentioned != std::string::npos) at = mentioned;
    }
    return WithTextPosition(
        arrow::Status::Invalid(op, " '", text, "': unknown column '", match[1].str(), "'",
                               closest.empty() ? "" : " (did you mean " + JoinNames(closest) + "?)",
                               "; columns: ", JoinNames(names), where),
        text, at);
  }
  return WithTextPosition(error.WithMessage(op, " '", text, "': ", message, where), text, at);
}

}  // namespace flightdeck::frame::internal
