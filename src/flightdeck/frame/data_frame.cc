#include "flightdeck/frame/data_frame.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <utility>

#include <arrow/compute/initialize.h>
#include <arrow/dataset/dataset.h>
#include <arrow/dataset/discovery.h>
#include <arrow/dataset/file_base.h>
#include <arrow/dataset/file_csv.h>
#include <arrow/dataset/file_ipc.h>
#include <arrow/dataset/file_parquet.h>
#include <arrow/dataset/partition.h>
#include <arrow/dataset/plan.h>
#include <arrow/dataset/scanner.h>
#include <arrow/filesystem/api.h>
#include <arrow/flight/client.h>
#include <arrow/io/file.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/cancel.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>

#include "flightdeck/common/durable_file.h"
#include "flightdeck/frame/plan_internal.h"
#include "flightdeck/frame/session.h"
#include "flightdeck/frame/sql_text.h"

namespace flightdeck::frame {

namespace ds = arrow::dataset;
namespace fl = arrow::flight;
namespace fsys = std::filesystem;
using internal::In;
using internal::NodeKind;
using internal::NodePtr;
using internal::PlanNode;

namespace {

std::string JoinNames(const std::vector<std::string>& names, const std::string& separator = ", ") {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : separator) + name;
  return out;
}

std::string Quoted(const std::vector<std::string>& names) {
  std::vector<std::string> quoted;
  for (const auto& name : names) quoted.push_back(QuoteIdentifier(name));
  return JoinNames(quoted);
}

// A RecordBatchReader over a Flight DoGet stream that keeps its client alive.
class FlightSourceReader : public arrow::RecordBatchReader {
 public:
  FlightSourceReader(std::shared_ptr<flight::NodeClient> client,
                     std::unique_ptr<fl::FlightStreamReader> stream,
                     std::shared_ptr<arrow::Schema> schema)
      : client_(std::move(client)), stream_(std::move(stream)), schema_(std::move(schema)) {}
  ~FlightSourceReader() override { stream_->Cancel(); }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    ARROW_ASSIGN_OR_RAISE(fl::FlightStreamChunk chunk, stream_->Next());
    *batch = std::move(chunk.data);
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<flight::NodeClient> client_;
  std::unique_ptr<fl::FlightStreamReader> stream_;
  std::shared_ptr<arrow::Schema> schema_;
};

// Arrow's dataset scanner and writer (IPC files, WriteDataset) run on
// Arrow's compute kernels, which Arrow >= 21 registers only on request.
arrow::Status EnsureArrowDatasets() {
  static const arrow::Status status = [] {
    ARROW_RETURN_NOT_OK(arrow::compute::Initialize());
    ds::internal::Initialize();
    return arrow::Status::OK();
  }();
  return status;
}

const char* FormatName(FileFormat format) {
  switch (format) {
    case FileFormat::kParquet: return "parquet";
    case FileFormat::kIpc: return "arrow";
    case FileFormat::kCsv: return "csv";
  }
  return "?";
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

// Operations that keep their (ordered) input's order and hold scalar
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

// Files of a path: the file itself, or a directory's files (recursively,
// sorted, skipping names that start with '.' or '_').
arrow::Result<std::vector<std::string>> ListFiles(const std::string& path, bool* directory) {
  std::error_code ec;
  const fsys::path absolute = fsys::absolute(path, ec);
  if (ec) return arrow::Status::IOError("Read: cannot resolve '", path, "': ", ec.message());
  const auto status = fsys::status(absolute, ec);
  if (ec || !fsys::exists(status)) return arrow::Status::IOError("Read: no file or directory at '", path, "'");
  std::vector<std::string> files;
  *directory = fsys::is_directory(status);
  if (!*directory) {
    files.push_back(absolute.string());
    return files;
  }
  for (auto it = fsys::recursive_directory_iterator(absolute, ec); !ec && it != fsys::end(it);
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.empty() && (name[0] == '.' || name[0] == '_')) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) files.push_back(it->path().string());
  }
  if (ec) return arrow::Status::IOError("Read: cannot list '", path, "': ", ec.message());
  std::sort(files.begin(), files.end());
  if (files.empty()) return arrow::Status::IOError("Read: '", path, "' holds no files");
  return files;
}

// Whether the plan below `node` holds a join.
bool HasJoin(const NodePtr& node) {
  if (node->join) return true;
  for (const auto& input : node->inputs) {
    if (HasJoin(input)) return true;
  }
  return false;
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

std::string StripFileUri(const std::string& path) {
  if (path.rfind("file://", 0) == 0) return path.substr(7);
  return path;
}

arrow::Result<std::shared_ptr<ds::Dataset>> IpcDataset(const std::string& path, bool directory) {
  ARROW_RETURN_NOT_OK(EnsureArrowDatasets());
  auto fs = std::make_shared<arrow::fs::LocalFileSystem>();
  ds::FileSystemFactoryOptions options;
  std::shared_ptr<ds::DatasetFactory> factory;
  auto format = std::make_shared<ds::IpcFileFormat>();
  if (directory) {
    options.partitioning = ds::HivePartitioning::MakeFactory();
    options.partition_base_dir = path;
    arrow::fs::FileSelector selector;
    selector.base_dir = path;
    selector.recursive = true;
    ARROW_ASSIGN_OR_RAISE(factory, ds::FileSystemDatasetFactory::Make(fs, selector, format, options));
  } else {
    ARROW_ASSIGN_OR_RAISE(factory, ds::FileSystemDatasetFactory::Make(fs, {path}, format, options));
  }
  return factory->Finish();
}

}  // namespace

// --- names ---------------------------------------------------------------------

arrow::Result<FileFormat> ParseFileFormat(std::string_view name) {
  if (name == "parquet") return FileFormat::kParquet;
  if (name == "ipc" || name == "arrow" || name == "feather") return FileFormat::kIpc;
  if (name == "csv") return FileFormat::kCsv;
  return arrow::Status::Invalid("unknown file format '", name, "' (expected parquet, ipc or csv)");
}

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

DataFrame DataFrame::FromDataset(std::shared_ptr<ds::Dataset> dataset) {
  if (!dataset) return Failed(arrow::Status::Invalid("FromDataset: null dataset"));
  if (auto st = EnsureArrowDatasets(); !st.ok()) return Failed(st);
  auto schema = dataset->schema();
  auto open = [dataset]() -> arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> {
    ARROW_ASSIGN_OR_RAISE(auto builder, dataset->NewScan());
    ARROW_RETURN_NOT_OK(builder->UseThreads(true));
    ARROW_ASSIGN_OR_RAISE(auto scanner, builder->Finish());
    return scanner->ToRecordBatchReader();
  };
  return DataFrame(NewStream(std::move(schema), "Scan " + dataset->type_name(), std::move(open),
                             /*once=*/false),
                   arrow::Status::OK());
}

arrow::Result<int64_t> DataFrame::FileRows(const std::string& given_path, FileFormat format) {
  const std::string path = StripFileUri(given_path);
  switch (format) {
    case FileFormat::kCsv:
      return -1;
    case FileFormat::kParquet: {
      ARROW_ASSIGN_OR_RAISE(auto file, arrow::io::ReadableFile::Open(path));
      try {
        return parquet::ParquetFileReader::Open(file)->metadata()->num_rows();
      } catch (const std::exception& e) {
        return arrow::Status::Invalid("'", given_path, "' is not a Parquet file: ", e.what());
      }
    }
    case FileFormat::kIpc: {
      ARROW_ASSIGN_OR_RAISE(auto file, arrow::io::ReadableFile::Open(path));
      ARROW_ASSIGN_OR_RAISE(auto reader, arrow::ipc::RecordBatchFileReader::Open(file));
      return reader->CountRows();
    }
  }
  return arrow::Status::Invalid("FileRows: unknown format");
}

arrow::Result<DataFrame> DataFrame::Read(const std::string& given_path, FileFormat format) {
  const std::string path = StripFileUri(given_path);
  bool directory = false;
  ARROW_ASSIGN_OR_RAISE(auto files, ListFiles(path, &directory));
  const std::string label = std::string("Scan ") + FormatName(format) + " " + given_path +
                            (files.size() > 1 ? " (" + std::to_string(files.size()) + " files)" : "");
  if (format == FileFormat::kIpc) {
    auto dataset = IpcDataset(directory ? fsys::absolute(path).string() : files[0], directory);
    if (!dataset.ok()) {
      return dataset.status().WithMessage("Read '", given_path, "' as arrow: ", dataset.status().message());
    }
    DataFrame frame = FromDataset(*dataset);
    auto node = std::const_pointer_cast<PlanNode>(frame.node_);
    node->label = label;
    return frame;
  }
  std::vector<std::string> quoted;
  for (const auto& file : files) quoted.push_back(QuoteString(file));
  // Hive partition columns only where a folder below `path` is named
  // key=value (otherwise the engine would parse every path for nothing).
  bool hive = false;
  if (directory) {
    const std::string base = fsys::absolute(path).string();
    for (const auto& file : files) {
      const std::string relative = file.substr(std::min(file.size(), base.size()));
      const size_t last_slash = relative.rfind('/');
      if (last_slash != std::string::npos && relative.substr(0, last_slash).find('=') != std::string::npos) {
        hive = true;
        break;
      }
    }
  }
  std::string call = format == FileFormat::kParquet ? "read_parquet([" : "read_csv([";
  call += JoinNames(quoted) + "], hive_partitioning = " + (hive ? "true" : "false");
  if (format == FileFormat::kCsv) call += ", header = true";
  call += ")";
  auto node = std::make_shared<PlanNode>();
  node->kind = NodeKind::kFile;
  node->sql = internal::Sql(call);
  node->label = label;
  auto finished = internal::Finish(std::move(node), std::string("Read '") + given_path + "' as " +
                                                        FormatName(format), /*external_access=*/true);
  ARROW_RETURN_NOT_OK(finished.status());
  return DataFrame(*std::move(finished), arrow::Status::OK());
}

arrow::Result<DataFrame> DataFrame::FromFlight(const std::string& location, std::string ticket,
                                               const flight::CallIdentity& who) {
  ARROW_ASSIGN_OR_RAISE(auto client, flight::NodeClient::For(location));
  ARROW_ASSIGN_OR_RAISE(auto stream, client->Get(who, ticket));
  ARROW_ASSIGN_OR_RAISE(auto schema, stream->GetSchema());
  auto reader = std::make_shared<FlightSourceReader>(std::move(client), std::move(stream), schema);
  return DataFrame(SingleUseSource(std::move(reader), "Flight DoGet " + location), arrow::Status::OK());
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
  // The right side, its colliding names suffixed.
  std::map<std::string, std::string> right_name;
  std::vector<std::string> right_items;
  std::set<std::string> taken;
  for (const auto& field : left_schema.fields()) taken.insert(field->name());
  const bool left_only = kind == JoinKind::kSemi || kind == JoinKind::kAnti;
  for (const auto& field : right_schema.fields()) {
    std::string out = field->name();
    if (taken.count(out) && !left_only) {
      out += options.right_suffix;
      if (taken.count(out) || right_schema.GetFieldIndex(out) >= 0) {
        return Failing(arrow::Status::Invalid("Join: the right column '", field->name(), "' would be named '", out,
                                              "', which is taken; choose another suffix"));
      }
    } else if (taken.count(out)) {
      out += options.right_suffix;  // semi / anti: names the condition sees only
    }
    taken.insert(out);
    right_name[field->name()] = out;
    right_items.push_back(QuoteIdentifier(field->name()) + " AS " + QuoteIdentifier(out));
  }
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

namespace {

arrow::Status WriteIpc(arrow::RecordBatchReader* reader, const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::FileOutputStream::Open(path));
  ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeFileWriter(sink, reader->schema()));
  for (auto batch : *reader) {
    ARROW_ASSIGN_OR_RAISE(auto b, std::move(batch));
    ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*b));
  }
  ARROW_RETURN_NOT_OK(writer->Close());
  return sink->Close();
}

}  // namespace

arrow::Status DataFrame::WriteFile(const std::string& given_path, FileFormat format) const {
  ARROW_RETURN_NOT_OK(status_);
  std::error_code ec;
  const std::string path = fsys::absolute(StripFileUri(given_path), ec).string();
  if (ec) return arrow::Status::IOError("WriteFile: cannot resolve '", given_path, "'");
  const std::string tmp = TemporarySibling(path);
  auto written = [&]() -> arrow::Status {
    if (format == FileFormat::kIpc) {
      ARROW_ASSIGN_OR_RAISE(auto reader, Stream());
      ARROW_RETURN_NOT_OK(WriteIpc(reader.get(), tmp));
    } else {
      ARROW_ASSIGN_OR_RAISE(auto engine, ExecutionEngine());
      const std::string options = format == FileFormat::kParquet ? "(FORMAT parquet)" : "(FORMAT csv, HEADER true)";
      ARROW_RETURN_NOT_OK(internal::ExecuteStatement(node_, engine, [&](const std::string& sql) {
        return "COPY (\n" + sql + "\n) TO " + QuoteString(tmp) + " " + options;
      }));
    }
    return RenameDurably(tmp, path);
  }();
  if (!written.ok()) {
    fsys::remove(tmp, ec);
    return written.WithMessage("WriteFile '", given_path, "': ", written.message());
  }
  return arrow::Status::OK();
}

arrow::Status DataFrame::WriteDataset(const std::string& directory, const WriteDatasetOptions& options) const {
  ARROW_RETURN_NOT_OK(status_);
  ARROW_RETURN_NOT_OK(EnsureArrowDatasets());
  std::error_code ec;
  const std::string path = fsys::absolute(StripFileUri(directory), ec).string();
  if (fsys::exists(path, ec)) return arrow::Status::AlreadyExists("WriteDataset: '", directory, "' already exists");
  arrow::FieldVector partition_fields;
  for (const auto& column : options.partition_by) {
    ARROW_RETURN_NOT_OK(internal::CheckColumn(*node_->schema, column, "WriteDataset partition_by"));
    partition_fields.push_back(node_->schema->GetFieldByName(column));
  }
  std::shared_ptr<ds::FileFormat> format;
  switch (options.format) {
    case FileFormat::kParquet: format = std::make_shared<ds::ParquetFileFormat>(); break;
    case FileFormat::kIpc: format = std::make_shared<ds::IpcFileFormat>(); break;
    case FileFormat::kCsv: format = std::make_shared<ds::CsvFileFormat>(); break;
  }
  ds::FileSystemDatasetWriteOptions write;
  write.file_write_options = format->DefaultWriteOptions();
  write.filesystem = std::make_shared<arrow::fs::LocalFileSystem>();
  write.base_dir = TemporarySibling(path);
  write.partitioning = std::make_shared<ds::HivePartitioning>(arrow::schema(partition_fields));
  write.basename_template = std::string("part-{i}.") + FormatName(options.format);
  write.existing_data_behavior = ds::ExistingDataBehavior::kError;
  if (options.max_rows_per_file > 0) {
    write.max_rows_per_file = static_cast<uint64_t>(options.max_rows_per_file);
    write.max_rows_per_group = std::min<uint64_t>(write.max_rows_per_group, write.max_rows_per_file);
  }
  auto st = [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto reader, Stream());
    std::shared_ptr<arrow::RecordBatchReader> shared = std::move(reader);
    auto builder = ds::ScannerBuilder::FromRecordBatchReader(shared);
    ARROW_ASSIGN_OR_RAISE(auto scanner, builder->Finish());
    ARROW_RETURN_NOT_OK(ds::FileSystemDataset::Write(write, scanner));
    fsys::create_directories(write.base_dir, ec);  // an empty result still makes the folder
    ARROW_RETURN_NOT_OK(SyncTree(write.base_dir));
    return RenameDurably(write.base_dir, path);
  }();
  if (!st.ok()) {
    fsys::remove_all(write.base_dir, ec);
    return st.WithMessage("WriteDataset '", directory, "': ", st.message());
  }
  return arrow::Status::OK();
}

arrow::Result<FlightPutResult> DataFrame::PutToFlight(const std::string& location, const std::string& path,
                                                      const flight::CallIdentity& who) const {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = path.find('/', start);
    parts.push_back(path.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return PutToFlight(location, fl::FlightDescriptor::Path(parts), who);
}

arrow::Result<FlightPutResult> DataFrame::PutToFlight(const std::string& location,
                                                      const fl::FlightDescriptor& descriptor,
                                                      const flight::CallIdentity& who) const {
  ARROW_RETURN_NOT_OK(status_);
  const std::string path = descriptor.type == fl::FlightDescriptor::PATH
                               ? [&] {
                                   std::string joined;
                                   for (const auto& part : descriptor.path) joined += (joined.empty() ? "" : "/") + part;
                                   return joined;
                                 }()
                               : descriptor.cmd;
  ARROW_ASSIGN_OR_RAISE(auto client, flight::NodeClient::For(location));
  ARROW_ASSIGN_OR_RAISE(auto reader, Stream());
  // Pull the first batch before the call starts: most plan errors (bad
  // casts, unreadable inputs) surface here and then nothing is uploaded.
  std::shared_ptr<arrow::RecordBatch> first;
  auto st = reader->ReadNext(&first);
  if (!st.ok()) return st.WithMessage("PutToFlight ", path, ": ", st.message());
  arrow::StopSource stop;
  fl::FlightCallOptions call_options = client->CallOptions(who);
  call_options.stop_token = stop.token();
  ARROW_ASSIGN_OR_RAISE(auto put, client->flight().DoPut(call_options, descriptor, reader->schema()));
  FlightPutResult result;
  auto sent = [&]() -> arrow::Status {
    for (auto batch = first; batch;) {
      ARROW_RETURN_NOT_OK(put.writer->WriteRecordBatch(*batch));
      result.rows += batch->num_rows();
      ++result.batches;
      ARROW_RETURN_NOT_OK(reader->ReadNext(&batch));
    }
    return arrow::Status::OK();
  }();
  if (!sent.ok()) {
    // Ask the transport to cancel the call. Arrow Flight offers no explicit
    // abort for DoPut writers, so a server may still see the batches sent
    // before the failure followed by an end of stream.
    stop.RequestStop();
    put.writer.reset();
    put.reader.reset();
    return sent.WithMessage("PutToFlight ", path, ": ", sent.message());
  }
  ARROW_RETURN_NOT_OK(put.writer->DoneWriting());
  while (true) {
    std::shared_ptr<arrow::Buffer> metadata;
    ARROW_RETURN_NOT_OK(put.reader->ReadMetadata(&metadata));
    if (!metadata) break;
    result.server_metadata.push_back(metadata->ToString());
  }
  ARROW_RETURN_NOT_OK(put.writer->Close());
  return result;
}

}  // namespace flightdeck::frame
