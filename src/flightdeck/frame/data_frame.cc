#include "flightdeck/frame/data_frame.h"

#include <atomic>
#include <map>
#include <utility>

#include <arrow/dataset/dataset.h>

#include "flightdeck/frame/data_frame_internal.h"
#include "flightdeck/frame/plan_internal.h"
#include "flightdeck/frame/session.h"
#include "flightdeck/frame/sql_text.h"

namespace flightdeck::frame {

using internal::In;
using internal::NodeKind;
using internal::NodePtr;
using internal::PlanNode;

// --- helpers shared by the DataFrame's files ------------------------------------

namespace internal {

std::string JoinNames(const std::vector<std::string>& names, const std::string& separator) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : separator) + name;
  return out;
}

std::string Quoted(const std::vector<std::string>& names) {
  std::vector<std::string> quoted;
  for (const auto& name : names) quoted.push_back(QuoteIdentifier(name));
  return JoinNames(quoted);
}

std::shared_ptr<PlanNode> NewQuery(std::vector<NodePtr> inputs, std::vector<internal::SqlPart> sql,
                                   std::string label) {
  auto node = std::make_shared<PlanNode>();
  node->kind = NodeKind::kQuery;
  // One input: the operation keeps its order unless it says otherwise.
  node->ordered = inputs.size() == 1 && inputs[0]->ordered;
  node->keeps_order = inputs.size() == 1;
  node->inputs = std::move(inputs);
  node->sql = std::move(sql);
  node->label = std::move(label);
  return node;
}

std::shared_ptr<PlanNode> NewStream(
    std::shared_ptr<arrow::Schema> schema, std::string label,
    std::function<arrow::Result<std::shared_ptr<arrow::RecordBatchReader>>()> open, bool once) {
  auto node = std::make_shared<PlanNode>();
  node->kind = NodeKind::kStream;
  node->schema = std::move(schema);
  node->label = std::move(label);
  node->open = std::move(open);
  if (once) node->consumed = std::make_shared<std::atomic<bool>>(false);
  return node;
}

NodePtr SingleUseSource(std::shared_ptr<arrow::RecordBatchReader> reader, std::string label) {
  auto schema = reader->schema();
  return NewStream(std::move(schema), std::move(label),
                   [reader]() -> arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> { return reader; },
                   /*once=*/true);
}

// User-written SQL goes into generated statements on lines of its own
// ("\n" + text + "\n"), so that an engine error's LINE excerpt maps back
// into it.
std::string OwnLines(const std::string& text) { return "\n" + text + "\n"; }

// Binds `node`; a failure is explained against the user-written `texts`
// placed in it with OwnLines: the one the engine's error points into (or
// the only one) gets a caret, and an unknown column the closest names of
// `columns`.
arrow::Result<std::shared_ptr<arrow::Schema>> BindExplained(const NodePtr& node, const std::string& op,
                                                            const std::vector<std::string>& texts,
                                                            const arrow::Schema* columns, bool external_access) {
  ARROW_ASSIGN_OR_RAISE(auto engine, internal::BindEngine(external_access));
  ARROW_ASSIGN_OR_RAISE(auto session, engine->Connect());
  std::string sql;
  auto bound = [&]() -> arrow::Result<std::shared_ptr<arrow::Schema>> {
    ARROW_ASSIGN_OR_RAISE(sql, internal::LowerToSql(node, *session, internal::LowerMode::kBindNode));
    return session->Schema(sql);
  }();
  if (bound.ok() || texts.empty()) {
    if (!bound.ok()) return bound.status().WithMessage(op, ": ", bound.status().message());
    return bound;
  }
  const std::string& raw = session->last_error();
  const size_t at = ErrorPosition(raw, sql);
  for (const auto& text : texts) {
    for (size_t found = sql.find(OwnLines(text)); found != std::string::npos;
         found = sql.find(OwnLines(text), found + 1)) {
      const size_t begin = found + 1;
      if (at != std::string::npos && at >= begin && at <= begin + text.size() + 2) {
        return internal::ExplainBindError(bound.status(), raw, op, text, sql, begin, columns);
      }
    }
  }
  if (texts.size() == 1) {
    return internal::ExplainBindError(bound.status(), raw, op, texts[0], sql, std::string::npos, columns);
  }
  return bound.status().WithMessage(op, ": ", bound.status().message());
}

// A name for an internal column that no column of `schema` has.
std::string UnusedName(const arrow::Schema& schema, std::string name) {
  while (schema.GetFieldIndex(name) >= 0 || !schema.GetAllFieldIndices(name).empty()) name += "_";
  return name;
}


}  // namespace internal

using internal::BindExplained;
using internal::JoinNames;
using internal::NewQuery;
using internal::NewStream;
using internal::OwnLines;
using internal::Quoted;
using internal::SingleUseSource;
using internal::UnusedName;

namespace {

// sub-plans: the engine may plan a scalar as a join, which does not keep
// row order, so the rows are numbered on the way in and put back in that
// order. `head`
// is the SELECT list (without "SELECT"), `tail` what follows FROM.
std::vector<internal::SqlPart> OrderedSelect(const PlanNode& input, bool has_scalars, const std::string& head,
                                             const std::string& tail, bool star) {
  if (!has_scalars || !input.ordered) {
    return internal::Sql("SELECT " + head + " FROM ", In{0}, " AS \"fd_t\"" + tail);
  }
  const std::string ordinal = QuoteIdentifier(UnusedName(*input.schema, "fd_ord"));
  std::string list = head;
  if (star) list.replace(0, 1, "* EXCLUDE (" + ordinal + ")");
  return internal::Sql("SELECT " + list + " FROM (SELECT *, row_number() OVER () AS " + ordinal + " FROM ", In{0},
                       ") AS \"fd_t\"" + tail + " ORDER BY \"fd_t\"." + ordinal);
}

// The projection "SELECT (e1) AS n1, ... FROM input", bound.
arrow::Result<NodePtr> BindProjection(const NodePtr& input,
                                      const std::vector<std::pair<std::string, Expr>>& items,
                                      const std::string& op, const std::string& label, bool external_access) {
  std::string select;
  Expr::Scalars scalars;
  std::vector<std::string> texts;
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& [name, expr] = items[i];
    if (!expr.status().ok()) return expr.status().WithMessage(op, ": ", expr.status().message());
    select += std::string(i ? "," : "") + "\n(" + OwnLines(expr.sql()) + ") AS " + QuoteIdentifier(name);
    scalars.insert(scalars.end(), expr.scalars().begin(), expr.scalars().end());
    texts.push_back(expr.sql());
  }
  auto node = NewQuery({input}, OrderedSelect(*input, !scalars.empty(), select + "\n", "", false), label);
  node->unordered_sql = internal::Sql("SELECT " + select + "\n FROM ", In{0}, " AS \"fd_t\"");
  node->scalars = std::move(scalars);
  ARROW_ASSIGN_OR_RAISE(node->schema, BindExplained(node, op, texts, input->schema.get(), external_access));
  return node;
}

arrow::Result<std::shared_ptr<arrow::Schema>> ReplaceOrAppend(const arrow::Schema& schema,
                                                              const std::shared_ptr<arrow::Field>& field) {
  const int index = schema.GetFieldIndex(field->name());
  if (index >= 0) return schema.SetField(index, field);
  return schema.AddField(schema.num_fields(), field);
}

// Whether the plan below `node` reads an Arrow stream (tables, readers,
// Flight, IPC files), which a statement can scan only once.
bool ReadsStreams(const NodePtr& node) {
  if (node->kind == NodeKind::kStream) return true;
  for (const auto& input : node->inputs) {
    if (ReadsStreams(input)) return true;
  }
  for (const auto& [name, scalar] : node->scalars) {
    if (ReadsStreams(scalar)) return true;
  }
  return false;
}

}  // namespace

// --- construction --------------------------------------------------------------

DataFrame::DataFrame(NodePtr node, arrow::Status status)
    : node_(std::move(node)), status_(std::move(status)) {}

DataFrame DataFrame::Failed(arrow::Status status) { return DataFrame(nullptr, std::move(status)); }

DataFrame DataFrame::Failing(arrow::Status status) const {
  DataFrame out = Failed(std::move(status));
  out.engine_ = engine_;
  return out;
}

DataFrame DataFrame::Then(arrow::Result<NodePtr> next) const {
  if (!next.ok()) return Failing(next.status());
  DataFrame out(*std::move(next), arrow::Status::OK());
  out.engine_ = engine_;
  return out;
}

DataFrame DataFrame::FromTable(std::shared_ptr<arrow::Table> table) {
  if (!table) return Failed(arrow::Status::Invalid("FromTable: null table"));
  auto schema = table->schema();
  std::string label = "Table rows=" + std::to_string(table->num_rows()) +
                      " columns=" + std::to_string(table->num_columns());
  auto node = NewStream(std::move(schema), std::move(label),
                        [table]() -> arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> {
                          return std::make_shared<arrow::TableBatchReader>(table);
                        },
                        /*once=*/false);
  node->rows = table->num_rows();
  return DataFrame(std::move(node), arrow::Status::OK());
}

DataFrame DataFrame::FromSchema(std::shared_ptr<arrow::Schema> schema) {
  if (!schema) return Failed(arrow::Status::Invalid("FromSchema: null schema"));
  auto open = [schema]() -> arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> {
    return arrow::RecordBatchReader::Make({}, schema);
  };
  return DataFrame(NewStream(schema, "Empty " + schema->ToString(), std::move(open), /*once=*/false),
                   arrow::Status::OK());
}

DataFrame DataFrame::FromReader(std::shared_ptr<arrow::RecordBatchReader> reader) {
  if (!reader) return Failed(arrow::Status::Invalid("FromReader: null reader"));
  return DataFrame(SingleUseSource(std::move(reader), "RecordBatchReader"), arrow::Status::OK());
}

DataFrame DataFrame::Sql(const std::string& query, const std::map<std::string, DataFrame>& inputs) {
  std::string text = query;
  while (!text.empty() && (text.back() == ';' || std::isspace(static_cast<unsigned char>(text.back())))) {
    text.pop_back();
  }
  // The query's own WITH clause (if it has one) continues the inputs'.
  std::string head = "WITH ";
  std::string body = text;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && FindTopLevelKeyword(text, "with") == first) {
    body = text.substr(first + 4);
    const size_t next = body.find_first_not_of(" \t\r\n");
    if (next != std::string::npos && FindTopLevelKeyword(body, "recursive") == next) {
      head = "WITH RECURSIVE ";
      body = body.substr(next + 9);
    }
    body = ",\n" + body;
  }
  std::vector<NodePtr> nodes;
  std::vector<internal::SqlPart> parts;
  std::shared_ptr<Engine> engine;
  for (const auto& [name, frame] : inputs) {
    if (!frame.ok()) return Failed(frame.status().WithMessage("Sql input '", name, "': ", frame.status().message()));
    if (!engine) engine = frame.engine_;
    // An input the query reads twice is computed twice rather than held in
    // memory, unless it reads an Arrow stream (which can be read only once).
    const bool inline_twice = !ReadsStreams(frame.node_);
    parts.push_back({(nodes.empty() ? head : ",\n") + QuoteIdentifier(name) +
                         (inline_twice ? " AS NOT MATERIALIZED " : " AS "),
                     -1});
    parts.push_back({"", static_cast<int>(nodes.size())});
    nodes.push_back(frame.node_);
  }
  DataFrame out(nullptr, arrow::Status::OK());
  out.engine_ = engine;
  auto checked = CheckQueryText(text, "Sql");
  if (!checked.ok()) return out.Failing(checked);
  if (nodes.empty()) {
    body = text;
  } else if (body == text) {
    body = OwnLines(text);
  } else {
    body = body.substr(0, 2) + OwnLines(body.substr(2));
  }
  parts.push_back({body, -1});
  auto node = NewQuery(std::move(nodes), std::move(parts), "Sql " + text);
  auto schema = BindExplained(node, "Sql", {text}, nullptr, out.ExternalAccess());
  if (!schema.ok()) return out.Failing(schema.status());
  node->schema = *schema;
  return out.Then(NodePtr(std::move(node)));
}

// --- transformations ---------------------------------------------------------------

DataFrame DataFrame::Select(const std::vector<std::string>& columns) const {
  if (!ok()) return *this;
  if (columns.empty()) return Failing(arrow::Status::Invalid("Select: no columns"));
  auto node = NewQuery({node_}, internal::Sql("SELECT " + Quoted(columns) + " FROM ", In{0}, " AS \"fd_t\""),
                       "Select " + JoinNames(columns));
  std::vector<std::shared_ptr<arrow::Field>> fields;
  for (const auto& column : columns) {
    auto st = internal::CheckColumn(*node_->schema, column, "Select");
    if (!st.ok()) return Failing(st);
    fields.push_back(node_->schema->GetFieldByName(column));
  }
  node->schema = arrow::schema(std::move(fields));
  return Then(NodePtr(std::move(node)));
}

DataFrame DataFrame::Project(const std::vector<std::pair<std::string, Expr>>& columns) const {
  if (!ok()) return *this;
  if (columns.empty()) return Failing(arrow::Status::Invalid("Project: no columns"));
  std::vector<std::string> parts;
  for (const auto& [name, expr] : columns) parts.push_back(name + " := " + expr.sql());
  return Then(BindProjection(node_, columns, "Project", "Project " + JoinNames(parts), ExternalAccess()));
}

DataFrame DataFrame::Filter(const Expr& predicate) const {
  if (!ok()) return *this;
  auto probe = BindProjection(node_, {{"fd_predicate", predicate}}, "Filter", "", ExternalAccess());
  if (!probe.ok()) return Failing(probe.status());
  const auto& type = *(*probe)->schema->field(0)->type();
  if (type.id() != arrow::Type::BOOL && type.id() != arrow::Type::NA) {
    return Failing(arrow::Status::Invalid("Filter '", predicate.sql(), "': the predicate is ",
                                          type.ToString(), ", not boolean"));
  }
  auto node = NewQuery({node_},
                       OrderedSelect(*node_, !predicate.scalars().empty(), "*",
                                     " WHERE (" + OwnLines(predicate.sql()) + ")", true),
                       "Filter " + predicate.sql());
  node->unordered_sql = internal::Sql("SELECT * FROM ", In{0}, " AS \"fd_t\" WHERE (" + OwnLines(predicate.sql()) + ")");
  node->scalars = predicate.scalars();
  node->schema = node_->schema;
  if (node->scalars.empty()) {
    node->flat.kind = PlanNode::Flat::Kind::kFilter;
    node->flat.where = OwnLines(predicate.sql());
  }
  NodePtr filtered(std::move(node));
  // The probe binds the predicate in a projection, where aggregates and
  // window functions are allowed; a WHERE clause refuses them.
  auto bound = BindExplained(filtered, "Filter", {predicate.sql()}, node_->schema.get(), ExternalAccess());
  if (!bound.ok()) return Failing(bound.status());
  return Then(std::move(filtered));
}

DataFrame DataFrame::Filter(std::string_view predicate) const {
  return Filter(Expr::Sql(std::string(predicate)));
}

DataFrame DataFrame::WithColumn(const std::string& name, const Expr& value) const {
  if (!ok()) return *this;
  auto probe = BindProjection(node_, {{name, value}}, "WithColumn " + name, "", ExternalAccess());
  if (!probe.ok()) return Failing(probe.status());
  const bool replaces = node_->schema->GetFieldIndex(name) >= 0;
  const std::string item = "(" + OwnLines(value.sql()) + ") AS " + QuoteIdentifier(name);
  auto node = NewQuery({node_},
                       OrderedSelect(*node_, !value.scalars().empty(),
                                     replaces ? "* REPLACE (" + item + ")" : "*, " + item, "", true),
                       "WithColumn " + name + " := " + value.sql());
  node->unordered_sql = internal::Sql("SELECT " + (replaces ? "* REPLACE (" + item + ")" : "*, " + item) + " FROM ",
                                      In{0}, " AS \"fd_t\"");
  node->scalars = value.scalars();
  auto schema = ReplaceOrAppend(*node_->schema, (*probe)->schema->field(0));
  if (!schema.ok()) return Failing(schema.status());
  node->schema = *schema;
  return Then(NodePtr(std::move(node)));
}

DataFrame DataFrame::WithColumn(const std::string& name, std::string_view expression) const {
  return WithColumn(name, Expr::Sql(std::string(expression)));
}

DataFrame DataFrame::Rename(const std::vector<std::pair<std::string, std::string>>& renames) const {
  if (!ok()) return *this;
  std::map<std::string, std::string> to;
  for (const auto& [from, name] : renames) {
    auto st = internal::CheckColumn(*node_->schema, from, "Rename");
    if (!st.ok()) return Failing(st);
    if (name.empty()) return Failing(arrow::Status::Invalid("Rename: empty new name for '", from, "'"));
    to[from] = name;
  }
  std::vector<std::string> items, parts;
  std::vector<std::shared_ptr<arrow::Field>> fields;
  std::set<std::string> seen;
  for (const auto& field : node_->schema->fields()) {
    auto it = to.find(field->name());
    const std::string out = it == to.end() ? field->name() : it->second;
    if (!seen.insert(out).second) {
      return Failing(arrow::Status::Invalid("Rename: two columns would be named '", out, "'"));
    }
    items.push_back(QuoteIdentifier(field->name()) + " AS " + QuoteIdentifier(out));
    fields.push_back(field->WithName(out));
  }
  for (const auto& [from, name] : renames) parts.push_back(from + " -> " + name);
  auto node = NewQuery({node_}, internal::Sql("SELECT " + JoinNames(items) + " FROM ", In{0}, " AS \"fd_t\""),
                       "Rename " + JoinNames(parts));
  node->schema = arrow::schema(std::move(fields));
  return Then(NodePtr(std::move(node)));
}

DataFrame DataFrame::Drop(const std::vector<std::string>& columns) const {
  if (!ok()) return *this;
  std::set<std::string> dropped;
  for (const auto& column : columns) {
    auto st = internal::CheckColumn(*node_->schema, column, "Drop");
    if (!st.ok()) return Failing(st);
    dropped.insert(column);
  }
  std::vector<std::string> kept;
  for (const auto& field : node_->schema->fields()) {
    if (!dropped.count(field->name())) kept.push_back(field->name());
  }
  if (kept.empty()) return Failing(arrow::Status::Invalid("Drop: no column would be left"));
  auto out = Select(kept);
  if (!out.ok()) return out;
  auto node = std::const_pointer_cast<PlanNode>(out.node_);
  node->label = "Drop " + JoinNames(columns);
  return out;
}

DataFrame DataFrame::Cast(const std::string& column, std::shared_ptr<arrow::DataType> type) const {
  if (!ok()) return *this;
  auto st = internal::CheckColumn(*node_->schema, column, "Cast");
  if (!st.ok()) return Failing(st);
  if (!type) return Failing(arrow::Status::Invalid("Cast: null type for column '", column, "'"));
  return WithColumn(column, col(column).Cast(std::move(type)));
}

DataFrame DataFrame::WithEngine(std::shared_ptr<Engine> engine) const {
  DataFrame out = *this;
  out.engine_ = std::move(engine);
  return out;
}

Expr Scalar(const DataFrame& plan) {
  static std::atomic<uint64_t> next{0};
  const std::string name = "fd_scalar_" + std::to_string(next.fetch_add(1));
  if (!plan.ok()) return Expr::Placeholder(name, nullptr, plan.status());
  if (plan.node_->schema->num_fields() != 1) {
    return Expr::Placeholder(name, nullptr,
                             arrow::Status::Invalid("Scalar: the sub-plan has ", plan.node_->schema->num_fields(),
                                                    " columns; a scalar sub-plan has one"));
  }
  return Expr::Placeholder(name, plan.node_, arrow::Status::OK());
}

arrow::Result<Expr> ParseExpression(std::string_view text, const std::map<std::string, DataFrame>& scalars) {
  const std::string source(text);
  ARROW_RETURN_NOT_OK(CheckExpressionText(source, "expression"));
  std::map<std::string, std::string> replacements;
  Expr::Scalars plans;
  for (const auto& name : PlaceholderNames(source)) {
    if (replacements.count(name)) continue;
    auto it = scalars.find(name);
    if (it == scalars.end()) {
      return arrow::Status::Invalid("expression '", source, "' uses $", name,
                                    ", which names no scalar sub-plan");
    }
    Expr scalar = Scalar(it->second);
    ARROW_RETURN_NOT_OK(scalar.status().ok() ? arrow::Status::OK()
                                             : scalar.status().WithMessage("$", name, ": ", scalar.status().message()));
    replacements[name] = scalar.sql();
    plans.insert(plans.end(), scalar.scalars().begin(), scalar.scalars().end());
  }
  if (plans.empty()) return Expr::Sql(source);
  ARROW_ASSIGN_OR_RAISE(std::string sql, ReplacePlaceholders(source, replacements));
  return Expr::WithScalars(std::move(sql), std::move(plans));
}

// --- inspection and sinks ---------------------------------------------------------

arrow::Result<std::shared_ptr<arrow::Schema>> DataFrame::schema() const {
  ARROW_RETURN_NOT_OK(status_);
  return node_->schema;
}

arrow::Result<std::string> DataFrame::Explain() const {
  ARROW_RETURN_NOT_OK(status_);
  return internal::ExplainPlan(node_, ExternalAccess());
}

arrow::Result<std::string> DataFrame::ToSql() const {
  ARROW_RETURN_NOT_OK(status_);
  ARROW_ASSIGN_OR_RAISE(auto engine, internal::BindEngine(ExternalAccess()));
  ARROW_ASSIGN_OR_RAISE(auto session, engine->Connect());
  return internal::LowerToSql(node_, *session, internal::LowerMode::kBindPlan);
}

bool DataFrame::ExternalAccess() const {
  if (engine_) return engine_->options().external_access;
  if (const auto* scoped = ScopedEngine::Current()) return (*scoped)->options().external_access;
  return true;
}

arrow::Result<std::shared_ptr<Engine>> DataFrame::ExecutionEngine() const {
  if (engine_) return engine_;
  if (const auto* scoped = ScopedEngine::Current()) return *scoped;
  return Engine::Default();
}

arrow::Result<std::shared_ptr<arrow::Table>> DataFrame::Collect() const {
  ARROW_ASSIGN_OR_RAISE(auto reader, Stream());
  return reader->ToTable();
}

arrow::Result<std::unique_ptr<arrow::RecordBatchReader>> DataFrame::Stream() const {
  ARROW_RETURN_NOT_OK(status_);
  // An unmodified source streams as it is, without an engine.
  if (node_->kind == NodeKind::kStream) return internal::Execute(node_, nullptr);
  ARROW_ASSIGN_OR_RAISE(auto engine, ExecutionEngine());
  return internal::Execute(node_, engine);
}

}  // namespace flightdeck::frame
