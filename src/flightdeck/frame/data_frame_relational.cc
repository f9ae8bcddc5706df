// The DataFrame's relational operations: group and aggregate, join, sort,
// limit, distinct and union.
#include "flightdeck/frame/data_frame.h"

#include <map>
#include <regex>
#include <set>
#include <utility>

#include "flightdeck/frame/data_frame_internal.h"
#include "flightdeck/frame/plan_internal.h"
#include "flightdeck/frame/sql_text.h"

namespace flightdeck::frame {

using internal::BindExplained;
using internal::In;
using internal::JoinNames;
using internal::NewQuery;
using internal::NodePtr;
using internal::OwnLines;
using internal::PlanNode;
using internal::Quoted;
using internal::UnusedName;

namespace {

// Whether the plan below `node` holds a join.
bool HasJoin(const NodePtr& node) {
  if (node->join) return true;
  for (const auto& input : node->inputs) {
    if (HasJoin(input)) return true;
  }
  return false;
}


// The right side's columns of a join: each right column's output name
// (colliding names suffixed) and its "name AS out" select items. A semi or
// anti join outputs the left columns only; its suffixed names are the ones
// the condition sees.
struct RightNames {
  std::map<std::string, std::string> out_name;
  std::vector<std::string> items;
};

arrow::Result<RightNames> RightColumns(const arrow::Schema& left, const arrow::Schema& right, bool left_only,
                                       const std::string& suffix) {
  RightNames names;
  std::set<std::string> taken;
  for (const auto& field : left.fields()) taken.insert(field->name());
  for (const auto& field : right.fields()) {
    std::string out = field->name();
    if (taken.count(out)) {
      out += suffix;
      if (!left_only && (taken.count(out) || right.GetFieldIndex(out) >= 0)) {
        return arrow::Status::Invalid("Join: the right column '", field->name(), "' would be named '", out,
                                      "', which is taken; choose another suffix");
      }
    }
    taken.insert(out);
    names.out_name[field->name()] = out;
    names.items.push_back(QuoteIdentifier(field->name()) + " AS " + QuoteIdentifier(out));
  }
  return names;
}

}  // namespace

arrow::Result<JoinKind> ParseJoinKind(std::string_view name) {
  if (name == "inner") return JoinKind::kInner;
  if (name == "left") return JoinKind::kLeft;
  if (name == "right") return JoinKind::kRight;
  if (name == "full" || name == "outer") return JoinKind::kFull;
  if (name == "semi") return JoinKind::kSemi;
  if (name == "anti") return JoinKind::kAnti;
  if (name == "cross") return JoinKind::kCross;
  return arrow::Status::Invalid("unknown join type '", name,
                                "' (expected inner, left, right, full, semi, anti or cross)");
}

namespace {
Aggregation MakeAggregation(const char* function, std::string column, std::string name) {
  if (name.empty()) name = std::string(function) + "_" + column;
  return Aggregation{function, std::move(column), std::move(name)};
}
}  // namespace

Aggregation Sum(std::string c, std::string n) { return MakeAggregation("sum", std::move(c), std::move(n)); }
Aggregation Mean(std::string c, std::string n) { return MakeAggregation("mean", std::move(c), std::move(n)); }
Aggregation Min(std::string c, std::string n) { return MakeAggregation("min", std::move(c), std::move(n)); }
Aggregation Max(std::string c, std::string n) { return MakeAggregation("max", std::move(c), std::move(n)); }
Aggregation Count(std::string c, std::string n) { return MakeAggregation("count", std::move(c), std::move(n)); }
Aggregation CountAll(std::string n) { return Aggregation{"count_all", "", std::move(n)}; }

arrow::Result<Aggregation> ParseAggregation(std::string name, const std::string& text) {
  static const std::regex kCall(R"(^\s*([A-Za-z_]+)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*|\*)?\s*\)\s*$)");
  std::smatch match;
  if (!std::regex_match(text, match, kCall)) {
    return arrow::Status::Invalid("aggregate '", name, "' = '", text, "' is not of the form function(column)");
  }
  const std::string function = match[1].str();
  const std::string column = match[2].str();
  if (column.empty() || column == "*") {
    if (function != "count") return arrow::Status::Invalid("aggregate '", name, "': ", function, " needs a column");
    return CountAll(std::move(name));
  }
  return Aggregation{function, column, std::move(name)};
}
Aggregation CountDistinct(std::string c, std::string n) {
  return MakeAggregation("count_distinct", std::move(c), std::move(n));
}
Aggregation Stddev(std::string c, std::string n) { return MakeAggregation("stddev", std::move(c), std::move(n)); }
Aggregation Variance(std::string c, std::string n) {
  return MakeAggregation("variance", std::move(c), std::move(n));
}
Aggregation First(std::string c, std::string n) { return MakeAggregation("first", std::move(c), std::move(n)); }
Aggregation Last(std::string c, std::string n) { return MakeAggregation("last", std::move(c), std::move(n)); }

SortKey Asc(std::string column, bool nulls_first) { return SortKey{std::move(column), false, nulls_first}; }
SortKey Desc(std::string column, bool nulls_first) { return SortKey{std::move(column), true, nulls_first}; }

GroupedFrame DataFrame::GroupBy(std::vector<std::string> keys) const {
  return GroupedFrame(*this, std::move(keys));
}

namespace {

bool IsInteger(const arrow::DataType& type) { return arrow::is_integer(type.id()); }

// Types whose values a join key comparison can match without a cast that
// could fail on the data: numbers with numbers, text with text, times with
// times; otherwise the same type.
std::string KeyFamily(const arrow::DataType& type) {
  const auto id = type.id();
  if (arrow::is_integer(id) || arrow::is_floating(id) || arrow::is_decimal(id)) return "number";
  if (arrow::is_string(id) || id == arrow::Type::STRING_VIEW) return "text";
  if (arrow::is_binary(id) || id == arrow::Type::BINARY_VIEW) return "binary";
  if (id == arrow::Type::DATE32 || id == arrow::Type::DATE64 || id == arrow::Type::TIMESTAMP) return "time";
  if (id == arrow::Type::DICTIONARY) {
    return KeyFamily(*static_cast<const arrow::DictionaryType&>(type).value_type());
  }
  return type.ToString();
}

// The SQL of one aggregate over `schema`; `ordinal` is the input-order
// column first / last use.
arrow::Result<std::string> AggregateSql(const Aggregation& a, const arrow::Schema& schema,
                                        const std::string& ordinal) {
  if (a.function == "count_all") return std::string("count(*)");
  ARROW_RETURN_NOT_OK(internal::CheckColumn(schema, a.column, "Agg " + a.function));
  const std::string c = QuoteIdentifier(a.column);
  const auto& type = *schema.GetFieldByName(a.column)->type();
  if (a.function == "sum") {
    if (IsInteger(type)) {
      return "CAST(sum(" + c + ") AS " + (arrow::is_unsigned_integer(type.id()) ? "UBIGINT" : "BIGINT") + ")";
    }
    return "sum(" + c + ")";
  }
  if (a.function == "mean") return "avg(" + c + ")";
  if (a.function == "min" || a.function == "max" || a.function == "count") return a.function + "(" + c + ")";
  if (a.function == "count_distinct") return "count(DISTINCT " + c + ")";
  if (a.function == "stddev") return "stddev_samp(" + c + ")";
  if (a.function == "variance") return "var_samp(" + c + ")";
  if (a.function == "first" || a.function == "last") {
    return std::string(a.function == "first" ? "arg_min(" : "arg_max(") + c + ", " + QuoteIdentifier(ordinal) +
           ") FILTER (WHERE " + c + " IS NOT NULL)";
  }
  bool identifier = !a.function.empty() && !std::isdigit(static_cast<unsigned char>(a.function[0]));
  for (char ch : a.function) identifier = identifier && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_');
  if (!identifier) return arrow::Status::Invalid("Agg: '", a.function, "' is not an aggregate function name");
  return a.function + "(" + c + ")";
}

}  // namespace

DataFrame GroupedFrame::Agg(const std::vector<Aggregation>& aggregations) const {
  if (!frame_.ok()) return frame_;
  const NodePtr& input = frame_.node_;
  const arrow::Schema& schema = *input->schema;
  if (keys_.empty() && aggregations.empty()) {
    return frame_.Failing(arrow::Status::Invalid("Agg: no aggregations and no keys"));
  }
  std::vector<std::string> items, parts;
  std::set<std::string> names;
  for (const auto& key : keys_) {
    auto st = internal::CheckColumn(schema, key, "GroupBy");
    if (!st.ok()) return frame_.Failing(st);
    items.push_back(QuoteIdentifier(key));
    names.insert(key);
  }
  // The input-order column first / last use, named unlike any input column.
  const std::string ordinal = UnusedName(schema, "fd_row");
  bool ordered = false;
  for (const auto& a : aggregations) {
    auto sql = AggregateSql(a, schema, ordinal);
    if (!sql.ok()) return frame_.Failing(sql.status());
    if (a.name.empty()) return frame_.Failing(arrow::Status::Invalid("Agg: ", a.function, " has no output name"));
    if (!names.insert(a.name).second) {
      return frame_.Failing(arrow::Status::Invalid("Agg: two output columns named '", a.name, "'"));
    }
    items.push_back(*sql + " AS " + QuoteIdentifier(a.name));
    parts.push_back(a.function + "(" + a.column + ") AS " + a.name);
    ordered = ordered || a.function == "first" || a.function == "last";
  }
  const std::string group = keys_.empty() ? "" : " GROUP BY " + Quoted(keys_);
  const std::string label = "Aggregate keys=[" + JoinNames(keys_) + "] " + JoinNames(parts);
  auto node = ordered ? NewQuery({input},
                                 internal::Sql("SELECT " + JoinNames(items) + " FROM (SELECT *, row_number() OVER () AS " +
                                                   QuoteIdentifier(ordinal) + " FROM ",
                                               In{0}, " AS \"fd_i\") AS \"fd_t\"" + group),
                                 label)
                      : NewQuery({input}, internal::Sql("SELECT " + JoinNames(items) + " FROM ", In{0},
                                                        " AS \"fd_t\"" + group),
                                 label);
  auto finished = internal::Finish(std::move(node), "Agg", frame_.ExternalAccess());
  static const std::regex kUnknownFunction(R"(Function with name (\S+) does not exist)");
  std::smatch unknown;
  if (!finished.ok() && std::regex_search(finished.status().message(), unknown, kUnknownFunction)) {
    return frame_.Failing(arrow::Status::Invalid(
        "Agg: unknown aggregate function '", unknown[1].str(),
        "' (built in: sum, mean, min, max, count, count_all, count_distinct, stddev, variance, first, last; "
        "the engine's other aggregate functions work too)"));
  }
  if (finished.ok()) {
    std::const_pointer_cast<PlanNode>(*finished)->ordered = false;
    std::const_pointer_cast<PlanNode>(*finished)->keeps_order = false;
  }
  return frame_.Then(std::move(finished));
}

DataFrame DataFrame::Agg(const std::vector<Aggregation>& aggregations) const {
  return GroupedFrame(*this, {}).Agg(aggregations);
}

DataFrame DataFrame::Join(const DataFrame& right, const std::vector<std::string>& left_keys,
                          const std::vector<std::string>& right_keys, JoinKind kind,
                          const std::string& right_suffix) const {
  return Join(right, left_keys, right_keys, JoinOptions{kind, right_suffix, std::nullopt});
}

DataFrame DataFrame::Join(const DataFrame& right, const std::vector<std::string>& left_keys,
                          const std::vector<std::string>& right_keys, const JoinOptions& options) const {
  if (!ok()) return *this;
  if (!right.ok()) return Failing(right.status());
  const JoinKind kind = options.kind;
  if (left_keys.size() != right_keys.size()) {
    return Failing(arrow::Status::Invalid("Join: need as many left keys as right keys, got ", left_keys.size(),
                                          " and ", right_keys.size()));
  }
  if (kind == JoinKind::kCross && (!left_keys.empty() || options.condition)) {
    return Failing(arrow::Status::Invalid("Join: a cross join takes no keys and no condition"));
  }
  if (kind != JoinKind::kCross && left_keys.empty() && !options.condition) {
    return Failing(arrow::Status::Invalid("Join: need keys or a condition (or a cross join)"));
  }
  const arrow::Schema& left_schema = *node_->schema;
  const arrow::Schema& right_schema = *right.node_->schema;
  for (const auto& key : left_keys) {
    auto st = internal::CheckColumn(left_schema, key, "Join (left key)");
    if (!st.ok()) return Failing(st);
  }
  for (const auto& key : right_keys) {
    auto st = internal::CheckColumn(right_schema, key, "Join (right key)");
    if (!st.ok()) return Failing(st);
  }
  for (size_t i = 0; i < left_keys.size(); ++i) {
    const auto& a = *left_schema.GetFieldByName(left_keys[i])->type();
    const auto& b = *right_schema.GetFieldByName(right_keys[i])->type();
    if (KeyFamily(a) != KeyFamily(b)) {
      return Failing(arrow::Status::Invalid("Join: key '", left_keys[i], "' (", a.ToString(), ") cannot match key '",
                                            right_keys[i], "' (", b.ToString(), "); cast one of them first"));
    }
  }
  const bool left_only = kind == JoinKind::kSemi || kind == JoinKind::kAnti;
  auto right_side = RightColumns(left_schema, right_schema, left_only, options.right_suffix);
  if (!right_side.ok()) return Failing(right_side.status());
  auto& [right_name, right_items] = *right_side;
  std::vector<std::string> conditions, flat_conditions, described;
  for (size_t i = 0; i < left_keys.size(); ++i) {
    conditions.push_back("\"fd_l\"." + QuoteIdentifier(left_keys[i]) + " = \"fd_r\"." +
                         QuoteIdentifier(right_name[right_keys[i]]));
    flat_conditions.push_back(QuoteIdentifier(left_keys[i]) + " = " + QuoteIdentifier(right_name[right_keys[i]]));
    described.push_back(left_keys[i] + " = " + right_name[right_keys[i]]);
  }
  if (options.condition) {
    if (!options.condition->status().ok()) {
      return Failing(options.condition->status().WithMessage("Join condition: ", options.condition->status().message()));
    }
    conditions.push_back("(" + OwnLines(options.condition->sql()) + ")");
    flat_conditions.push_back(conditions.back());
    described.push_back(options.condition->sql());
  }
  static const char* kNames[] = {"INNER", "LEFT", "RIGHT", "FULL", "SEMI", "ANTI", "CROSS"};
  const char* name = kNames[static_cast<int>(kind)];
  std::string head = left_only ? "SELECT \"fd_l\".* FROM " : "SELECT \"fd_l\".*, \"fd_r\".* FROM ";
  std::string join = std::string(" AS \"fd_l\" ") + name + " JOIN (SELECT " + JoinNames(right_items) + " FROM ";
  std::string tail = " AS \"fd_rr\") AS \"fd_r\"";
  if (kind != JoinKind::kCross) tail += " ON " + JoinNames(conditions, " AND ");
  auto node = NewQuery({node_, right.node_}, internal::Sql(head, In{0}, join, In{1}, tail),
                       std::string("Join ") + name + (described.empty() ? "" : " on " + JoinNames(described, " and ")));
  std::vector<std::string> texts;
  if (options.condition) {
    node->scalars = options.condition->scalars();
    texts.push_back(options.condition->sql());
  }
  auto schema = BindExplained(node, "Join", texts, nullptr, ExternalAccess());
  if (!schema.ok()) return Failing(schema.status());
  node->schema = *schema;
  node->join = true;
  // Folded into the chain below it only when the right side is no join
  // itself: partly nested joins leave DuckDB with estimates it misorders
  // (TPC-H Q5 written with a joined right side took 9x longer folded).
  if ((kind == JoinKind::kInner || kind == JoinKind::kLeft || kind == JoinKind::kCross) && node->scalars.empty() &&
      !HasJoin(right.node_)) {
    node->flat.kind = PlanNode::Flat::Kind::kJoin;
    node->flat.join = name;
    node->flat.right_select = JoinNames(right_items);
    node->flat.on = JoinNames(flat_conditions, " AND ");
  }
  return Then(NodePtr(std::move(node)));
}

DataFrame DataFrame::Sort(const std::vector<SortKey>& keys) const {
  if (!ok()) return *this;
  if (keys.empty()) return Failing(arrow::Status::Invalid("Sort: no sort keys"));
  std::vector<std::string> items, parts;
  for (const auto& key : keys) {
    auto st = internal::CheckColumn(*node_->schema, key.column, "Sort");
    if (!st.ok()) return Failing(st);
    const std::string order = std::string(key.descending ? " DESC" : " ASC") +
                              (key.nulls_first ? " NULLS FIRST" : " NULLS LAST");
    items.push_back(QuoteIdentifier(key.column) + order);
    parts.push_back(key.column + order);
  }
  auto node = NewQuery({node_}, internal::Sql("SELECT * FROM ", In{0}, " AS \"fd_t\" ORDER BY " + JoinNames(items)),
                       "Sort " + JoinNames(parts));
  node->schema = node_->schema;
  node->ordered = true;
  node->keeps_order = false;
  return Then(NodePtr(std::move(node)));
}

DataFrame DataFrame::Limit(int64_t count, int64_t offset) const {
  if (!ok()) return *this;
  if (count < 0 || offset < 0) {
    return Failing(arrow::Status::Invalid("Limit: count and offset must be >= 0, got count=", count,
                                          " offset=", offset));
  }
  auto node = NewQuery({node_},
                       internal::Sql("SELECT * FROM ", In{0},
                                     " AS \"fd_t\" LIMIT " + std::to_string(count) + " OFFSET " + std::to_string(offset)),
                       "Limit " + std::to_string(count) + (offset ? " offset " + std::to_string(offset) : std::string()));
  node->schema = node_->schema;
  return Then(NodePtr(std::move(node)));
}

DataFrame DataFrame::Distinct() const {
  if (!ok()) return *this;
  auto node = NewQuery({node_}, internal::Sql("SELECT DISTINCT * FROM ", In{0}, " AS \"fd_t\""), "Distinct");
  node->schema = node_->schema;
  node->ordered = false;
  node->keeps_order = false;
  return Then(NodePtr(std::move(node)));
}

DataFrame DataFrame::Union(const DataFrame& other) const {
  if (!ok()) return *this;
  if (!other.ok()) return Failing(other.status());
  const auto& a = *node_->schema;
  const auto& b = *other.node_->schema;
  bool same = a.num_fields() == b.num_fields();
  for (int i = 0; same && i < a.num_fields(); ++i) {
    same = a.field(i)->name() == b.field(i)->name() && a.field(i)->type()->Equals(*b.field(i)->type());
  }
  if (!same) {
    return Failing(arrow::Status::Invalid("Union: schemas differ: [", a.ToString(), "] vs [", b.ToString(), "]"));
  }
  auto node = NewQuery({node_, other.node_},
                       internal::Sql("SELECT * FROM ", In{0}, " AS \"fd_a\" UNION ALL SELECT * FROM ", In{1},
                                     " AS \"fd_b\""),
                       "Union");
  node->schema = node_->schema;
  return Then(NodePtr(std::move(node)));
}

}  // namespace flightdeck::frame
