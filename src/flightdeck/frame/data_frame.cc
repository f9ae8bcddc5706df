#include "flightdeck/frame/data_frame.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include <arrow/acero/exec_plan.h>
#include <arrow/acero/options.h>
#include <arrow/compute/api_aggregate.h>
#include <arrow/compute/api_scalar.h>
#include <arrow/csv/writer.h>
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
#include <arrow/ipc/writer.h>
#include <arrow/util/cancel.h>
#include <parquet/arrow/writer.h>
#include <parquet/metadata.h>

#include "flightdeck/frame/expression_parser.h"
#include "flightdeck/frame/plan_internal.h"

namespace flightdeck::frame {

namespace ac = arrow::acero;
namespace cp = arrow::compute;
namespace ds = arrow::dataset;
namespace fl = arrow::flight;
using internal::NodeKind;
using internal::NodePtr;
using internal::PlanNode;

namespace {

void EnsureDatasetNodes() { (void)internal::EnsureInitialized(); }

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

arrow::Status ClaimSources(const PlanNode& node) {
  if (node.consumed && node.consumed->exchange(true)) {
    return arrow::Status::Invalid(
        "this DataFrame reads a one-shot stream (RecordBatchReader or Flight ticket) that an "
        "earlier execution already consumed");
  }
  for (const auto& input : node.inputs) ARROW_RETURN_NOT_OK(ClaimSources(*input));
  return arrow::Status::OK();
}

// A RecordBatchReader over a Flight DoGet stream that keeps its client alive.
class FlightSourceReader : public arrow::RecordBatchReader {
 public:
  FlightSourceReader(std::unique_ptr<fl::FlightClient> client,
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
  std::unique_ptr<fl::FlightClient> client_;
  std::unique_ptr<fl::FlightStreamReader> stream_;
  std::shared_ptr<arrow::Schema> schema_;
};

std::shared_ptr<ds::FileFormat> DatasetFormat(FileFormat format) {
  switch (format) {
    case FileFormat::kParquet:
      return std::make_shared<ds::ParquetFileFormat>();
    case FileFormat::kIpc:
      return std::make_shared<ds::IpcFileFormat>();
    case FileFormat::kCsv:
      return std::make_shared<ds::CsvFileFormat>();
  }
  return nullptr;
}

const char* FormatName(FileFormat format) {
  switch (format) {
    case FileFormat::kParquet:
      return "parquet";
    case FileFormat::kIpc:
      return "arrow";
    case FileFormat::kCsv:
      return "csv";
  }
  return "?";
}

std::shared_ptr<PlanNode> NewNode(NodeKind kind, const NodePtr& input, std::string label) {
  auto node = std::make_shared<PlanNode>();
  node->kind = kind;
  if (input) node->inputs.push_back(input);
  node->label = std::move(label);
  return node;
}

// Directory and name parts of a filesystem path.
std::pair<std::string, std::string> SplitPath(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

std::string TempSibling(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  auto [dir, name] = SplitPath(path);
  std::string tmp = "." + name + ".tmp-" + std::to_string(::getpid()) + "-" +
                    std::to_string(counter.fetch_add(1));
  return dir.empty() ? tmp : dir + "/" + tmp;
}

arrow::Status WriteBatches(arrow::RecordBatchReader* reader, FileFormat format,
                           std::shared_ptr<arrow::io::OutputStream> sink) {
  auto schema = reader->schema();
  if (format == FileFormat::kParquet) {
    ARROW_ASSIGN_OR_RAISE(auto writer, parquet::arrow::FileWriter::Open(
                                           *schema, arrow::default_memory_pool(), sink));
    for (auto batch : *reader) {
      ARROW_ASSIGN_OR_RAISE(auto b, std::move(batch));
      ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*b));
    }
    ARROW_RETURN_NOT_OK(writer->Close());
  } else {
    std::shared_ptr<arrow::ipc::RecordBatchWriter> writer;
    if (format == FileFormat::kIpc) {
      ARROW_ASSIGN_OR_RAISE(writer, arrow::ipc::MakeFileWriter(sink, schema));
    } else {
      ARROW_ASSIGN_OR_RAISE(writer, arrow::csv::MakeCSVWriter(sink, schema));
    }
    for (auto batch : *reader) {
      ARROW_ASSIGN_OR_RAISE(auto b, std::move(batch));
      ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*b));
    }
    ARROW_RETURN_NOT_OK(writer->Close());
  }
  return sink->Close();
}


// Whether every data page of `chunk` is dictionary-encoded. Writers that
// omit page encoding statistics are trusted when no plain-like data
// encoding is listed.
bool FullyDictionaryEncoded(const parquet::ColumnChunkMetaData& chunk) {
  if (!chunk.has_dictionary_page()) return false;
  auto dictionary_encoding = [](parquet::Encoding::type encoding) {
    return encoding == parquet::Encoding::PLAIN_DICTIONARY ||
           encoding == parquet::Encoding::RLE_DICTIONARY;
  };
  if (!chunk.encoding_stats().empty()) {
    for (const auto& stats : chunk.encoding_stats()) {
      const bool data_page = stats.page_type == parquet::PageType::DATA_PAGE ||
                             stats.page_type == parquet::PageType::DATA_PAGE_V2;
      if (data_page && stats.count > 0 && !dictionary_encoding(stats.encoding)) return false;
    }
    return true;
  }
  for (auto encoding : chunk.encodings()) {
    if (!dictionary_encoding(encoding) && encoding != parquet::Encoding::RLE &&
        encoding != parquet::Encoding::BIT_PACKED) {
      return false;
    }
  }
  return true;
}

// Low-cardinality string columns are usually dictionary-encoded in Parquet.
// Decoding them straight to dense strings copies every value through a
// builder; reading the dictionary and the indices and expanding them when
// the scan casts to the dataset's (string) type costs a fraction of that.
// The scan's output types do not change. Decided from the first file's
// footer: string columns dictionary-encoded in all its row groups. (A later
// file that falls back to plain pages is still read correctly, only slower.)
// Returns the columns chosen.
arrow::Result<std::vector<std::string>> DecodeStringsThroughDictionary(ds::Dataset& dataset) {
  std::vector<std::string> chosen;
  auto* files = dynamic_cast<ds::FileSystemDataset*>(&dataset);
  if (files == nullptr) return chosen;
  auto parquet_format = std::dynamic_pointer_cast<ds::ParquetFileFormat>(files->format());
  if (!parquet_format) return chosen;
  ARROW_ASSIGN_OR_RAISE(auto fragments, files->GetFragments());
  ARROW_ASSIGN_OR_RAISE(auto first, fragments.Next());
  auto fragment = std::dynamic_pointer_cast<ds::ParquetFileFragment>(first);
  if (!fragment) return chosen;
  ARROW_RETURN_NOT_OK(fragment->EnsureCompleteMetadata());
  const auto metadata = fragment->metadata();
  if (!metadata || metadata->num_row_groups() == 0) return chosen;
  for (const auto& field : dataset.schema()->fields()) {
    const auto id = field->type()->id();
    if (id != arrow::Type::STRING && id != arrow::Type::LARGE_STRING && id != arrow::Type::BINARY &&
        id != arrow::Type::LARGE_BINARY) {
      continue;
    }
    const int column = metadata->schema()->ColumnIndex(field->name());
    if (column < 0) continue;  // a partition column, or nested
    bool dictionary = true;
    for (int group = 0; group < metadata->num_row_groups() && dictionary; ++group) {
      dictionary = FullyDictionaryEncoded(*metadata->RowGroup(group)->ColumnChunk(column));
    }
    if (dictionary) {
      parquet_format->reader_options.dict_columns.insert(field->name());
      chosen.push_back(field->name());
    }
  }
  return chosen;
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
  return arrow::Status::Invalid("unknown join type '", name,
                                "' (expected inner, left, right, full, semi or anti)");
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

DataFrame DataFrame::Then(arrow::Result<NodePtr> next) const {
  if (!next.ok()) return Failed(next.status());
  return DataFrame(*std::move(next), arrow::Status::OK());
}

DataFrame DataFrame::FromTable(std::shared_ptr<arrow::Table> table) {
  if (!table) return Failed(arrow::Status::Invalid("FromTable: null table"));
  auto node = NewNode(NodeKind::kSource, nullptr,
                      "Table rows=" + std::to_string(table->num_rows()) +
                          " columns=" + std::to_string(table->num_columns()));
  node->schema = table->schema();
  node->source = ac::Declaration("table_source", ac::TableSourceNodeOptions(std::move(table)));
  return DataFrame(std::move(node), arrow::Status::OK());
}

namespace {
NodePtr SingleUseSource(std::shared_ptr<arrow::RecordBatchReader> reader, std::string label) {
  auto node = std::make_shared<PlanNode>();
  node->kind = NodeKind::kSource;
  node->label = std::move(label);
  node->schema = reader->schema();
  node->source = ac::Declaration("record_batch_reader_source",
                                 ac::RecordBatchReaderSourceNodeOptions(std::move(reader)));
  node->consumed = std::make_shared<std::atomic<bool>>(false);
  return node;
}
}  // namespace

DataFrame DataFrame::FromReader(std::shared_ptr<arrow::RecordBatchReader> reader) {
  if (!reader) return Failed(arrow::Status::Invalid("FromReader: null reader"));
  return DataFrame(SingleUseSource(std::move(reader), "RecordBatchReader"), arrow::Status::OK());
}

DataFrame DataFrame::FromDataset(std::shared_ptr<ds::Dataset> dataset) {
  if (!dataset) return Failed(arrow::Status::Invalid("FromDataset: null dataset"));
  EnsureDatasetNodes();
  auto node = NewNode(NodeKind::kScan, nullptr, "Scan " + dataset->type_name());
  node->schema = dataset->schema();
  node->dataset = std::move(dataset);
  return DataFrame(std::move(node), arrow::Status::OK());
}

namespace {
// Local paths may be relative; Arrow's filesystems want absolute ones.
// File reads allocate from the execution pool too (internal::ExecutionPool).
arrow::Result<std::shared_ptr<arrow::fs::FileSystem>> FileSystemOf(const std::string& path,
                                                                  std::string* inner) {
  const arrow::io::IOContext io_context(internal::ExecutionPool());
  if (path.find("://") == std::string::npos && !path.empty() && path[0] != '/') {
    std::error_code error;
    const auto absolute = std::filesystem::absolute(path, error);
    if (error) return arrow::Status::IOError("cannot resolve path '", path, "': ", error.message());
    return arrow::fs::FileSystemFromUriOrPath(absolute.string(), io_context, inner);
  }
  return arrow::fs::FileSystemFromUriOrPath(path, io_context, inner);
}
}  // namespace

arrow::Result<DataFrame> DataFrame::Read(const std::string& path, FileFormat format) {
  EnsureDatasetNodes();
  std::string inner;
  ARROW_ASSIGN_OR_RAISE(auto fs, FileSystemOf(path, &inner));
  ARROW_ASSIGN_OR_RAISE(auto info, fs->GetFileInfo(inner));
  if (info.type() == arrow::fs::FileType::NotFound) {
    return arrow::Status::IOError("Read: no file or directory at '", path, "'");
  }
  ds::FileSystemFactoryOptions options;
  std::shared_ptr<ds::DatasetFactory> factory;
  if (info.IsDirectory()) {
    options.partitioning = ds::HivePartitioning::MakeFactory();
    options.partition_base_dir = inner;
    arrow::fs::FileSelector selector;
    selector.base_dir = inner;
    selector.recursive = true;
    ARROW_ASSIGN_OR_RAISE(factory, ds::FileSystemDatasetFactory::Make(fs, selector,
                                                                      DatasetFormat(format), options));
  } else {
    ARROW_ASSIGN_OR_RAISE(factory, ds::FileSystemDatasetFactory::Make(fs, {inner},
                                                                      DatasetFormat(format), options));
  }
  auto dataset = factory->Finish();
  if (!dataset.ok()) {
    return dataset.status().WithMessage("Read '", path, "' as ", FormatName(format), ": ",
                                        dataset.status().message());
  }
  std::string label = std::string("Scan ") + FormatName(format) + " " + path;
  if (format == FileFormat::kParquet) {
    ARROW_ASSIGN_OR_RAISE(auto dictionary_columns, DecodeStringsThroughDictionary(**dataset));
    if (!dictionary_columns.empty()) label += " via-dictionary=[" + JoinNames(dictionary_columns) + "]";
  }
  auto node = NewNode(NodeKind::kScan, nullptr, std::move(label));
  node->schema = (*dataset)->schema();
  node->dataset = *dataset;
  return DataFrame(std::move(node), arrow::Status::OK());
}

arrow::Result<DataFrame> DataFrame::FromFlight(const std::string& location, std::string ticket,
                                               const FlightHeaders& headers) {
  ARROW_ASSIGN_OR_RAISE(auto parsed, fl::Location::Parse(location));
  ARROW_ASSIGN_OR_RAISE(auto client, fl::FlightClient::Connect(parsed));
  fl::FlightCallOptions call_options;
  call_options.headers = headers;
  ARROW_ASSIGN_OR_RAISE(auto stream, client->DoGet(call_options, fl::Ticket{ticket}));
  ARROW_ASSIGN_OR_RAISE(auto schema, stream->GetSchema());
  auto reader = std::make_shared<FlightSourceReader>(std::move(client), std::move(stream), schema);
  return DataFrame(SingleUseSource(std::move(reader), "Flight DoGet " + location + " ticket=" + ticket),
                   arrow::Status::OK());
}

// --- transformations ---------------------------------------------------------------

DataFrame DataFrame::Select(const std::vector<std::string>& columns) const {
  if (!ok()) return *this;
  std::vector<std::pair<std::string, Expr>> named;
  for (const auto& column : columns) {
    auto st = internal::CheckColumn(*node_->schema, column, "Select");
    if (!st.ok()) return Failed(st);
    named.emplace_back(column, col(column));
  }
  auto node = NewNode(NodeKind::kProject, node_, "Select " + JoinNames(columns));
  for (auto& [name, expr] : named) {
    node->names.push_back(name);
    node->expressions.push_back(expr.expression());
  }
  return Then(internal::Finish(std::move(node), "Select"));
}

DataFrame DataFrame::Project(const std::vector<std::pair<std::string, Expr>>& columns) const {
  if (!ok()) return *this;
  std::vector<std::string> parts;
  auto node = NewNode(NodeKind::kProject, node_, "");
  for (const auto& [name, expr] : columns) {
    node->names.push_back(name);
    node->expressions.push_back(expr.expression());
    parts.push_back(name + " := " + expr.ToString());
  }
  node->label = "Project " + JoinNames(parts);
  return Then(internal::Finish(std::move(node), "Project"));
}

DataFrame DataFrame::Filter(const Expr& predicate) const {
  if (!ok()) return *this;
  auto node = NewNode(NodeKind::kFilter, node_, "Filter " + predicate.ToString());
  node->predicate = predicate.expression();
  // A predicate of type null (`where null`) keeps no row.
  if (auto bound = node->predicate.Bind(*node_->schema); bound.ok() && bound->type()->id() == arrow::Type::NA) {
    node->predicate = cp::literal(false);
  }
  return Then(internal::Finish(std::move(node), "Filter"));
}

DataFrame DataFrame::Filter(std::string_view predicate) const {
  if (!ok()) return *this;
  auto parsed = ParseExpression(predicate);
  if (!parsed.ok()) return Failed(parsed.status().WithMessage("Filter: ", parsed.status().message()));
  return Filter(*parsed);
}

DataFrame DataFrame::WithColumn(const std::string& name, const Expr& value) const {
  if (!ok()) return *this;
  auto node = NewNode(NodeKind::kProject, node_, "WithColumn " + name + " := " + value.ToString());
  bool replaced = false;
  for (const auto& field : node_->schema->fields()) {
    node->names.push_back(field->name());
    if (field->name() == name) {
      node->expressions.push_back(value.expression());
      replaced = true;
    } else {
      node->expressions.push_back(cp::field_ref(field->name()));
    }
  }
  if (!replaced) {
    node->names.push_back(name);
    node->expressions.push_back(value.expression());
  }
  return Then(internal::Finish(std::move(node), "WithColumn " + name));
}

DataFrame DataFrame::WithColumn(const std::string& name, std::string_view expression) const {
  if (!ok()) return *this;
  auto parsed = ParseExpression(expression);
  if (!parsed.ok()) {
    return Failed(parsed.status().WithMessage("WithColumn ", name, ": ", parsed.status().message()));
  }
  return WithColumn(name, *parsed);
}

DataFrame DataFrame::Rename(const std::vector<std::pair<std::string, std::string>>& renames) const {
  if (!ok()) return *this;
  std::map<std::string, std::string> to;
  std::vector<std::string> parts;
  for (const auto& [from, new_name] : renames) {
    auto st = internal::CheckColumn(*node_->schema, from, "Rename");
    if (!st.ok()) return Failed(st);
    to[from] = new_name;
    parts.push_back(from + " -> " + new_name);
  }
  auto node = NewNode(NodeKind::kProject, node_, "Rename " + JoinNames(parts));
  for (const auto& field : node_->schema->fields()) {
    auto it = to.find(field->name());
    node->names.push_back(it == to.end() ? field->name() : it->second);
    node->expressions.push_back(cp::field_ref(field->name()));
  }
  return Then(internal::Finish(std::move(node), "Rename"));
}

DataFrame DataFrame::Drop(const std::vector<std::string>& columns) const {
  if (!ok()) return *this;
  std::set<std::string> dropped;
  for (const auto& column : columns) {
    auto st = internal::CheckColumn(*node_->schema, column, "Drop");
    if (!st.ok()) return Failed(st);
    dropped.insert(column);
  }
  auto node = NewNode(NodeKind::kProject, node_, "Drop " + JoinNames(columns));
  for (const auto& field : node_->schema->fields()) {
    if (dropped.count(field->name())) continue;
    node->names.push_back(field->name());
    node->expressions.push_back(cp::field_ref(field->name()));
  }
  return Then(internal::Finish(std::move(node), "Drop"));
}

DataFrame DataFrame::Cast(const std::string& column, std::shared_ptr<arrow::DataType> type) const {
  if (!ok()) return *this;
  auto st = internal::CheckColumn(*node_->schema, column, "Cast");
  if (!st.ok()) return Failed(st);
  if (!type) return Failed(arrow::Status::Invalid("Cast: null type for column '", column, "'"));
  return WithColumn(column, col(column).Cast(std::move(type)));
}

GroupedFrame DataFrame::GroupBy(std::vector<std::string> keys) const {
  return GroupedFrame(*this, std::move(keys));
}

namespace {

arrow::Result<cp::Aggregate> ToArrowAggregate(const Aggregation& aggregation, bool grouped,
                                              const arrow::Schema& schema) {
  static const std::set<std::string> kKnown = {"sum",    "mean",     "min",   "max",
                                               "count",  "count_all", "count_distinct",
                                               "stddev", "variance", "first", "last"};
  if (!kKnown.count(aggregation.function)) {
    return arrow::Status::Invalid("Agg: unknown aggregate function '", aggregation.function,
                                  "' (expected one of sum, mean, min, max, count, count_all, "
                                  "count_distinct, stddev, variance, first, last)");
  }
  const std::string function = (grouped ? "hash_" : "") + aggregation.function;
  std::shared_ptr<cp::FunctionOptions> options;
  if (aggregation.function == "count" || aggregation.function == "count_distinct") {
    options = std::make_shared<cp::CountOptions>(cp::CountOptions::ONLY_VALID);
  } else if (aggregation.function == "stddev" || aggregation.function == "variance") {
    options = std::make_shared<cp::VarianceOptions>(/*ddof=*/1);
  }
  if (aggregation.function == "count_all") {
    return cp::Aggregate(function, aggregation.name);
  }
  ARROW_RETURN_NOT_OK(internal::CheckColumn(schema, aggregation.column, "Agg " + aggregation.function));
  return cp::Aggregate(function, std::move(options), arrow::FieldRef(aggregation.column),
                       aggregation.name);
}

std::string DescribeAggregations(const std::vector<Aggregation>& aggregations) {
  std::vector<std::string> parts;
  for (const auto& a : aggregations) parts.push_back(a.function + "(" + a.column + ") AS " + a.name);
  return JoinNames(parts);
}

}  // namespace

DataFrame GroupedFrame::Agg(const std::vector<Aggregation>& aggregations) const {
  if (!frame_.ok()) return frame_;
  const auto& input = frame_.node_;
  auto node = NewNode(NodeKind::kAggregate, input,
                      "Aggregate keys=[" + JoinNames(keys_) + "] " + DescribeAggregations(aggregations));
  for (const auto& key : keys_) {
    auto st = internal::CheckColumn(*input->schema, key, "GroupBy");
    if (!st.ok()) return DataFrame::Failed(st);
    node->keys.emplace_back(key);
  }
  for (const auto& aggregation : aggregations) {
    auto made = ToArrowAggregate(aggregation, !keys_.empty(), *input->schema);
    if (!made.ok()) return DataFrame::Failed(made.status());
    node->aggregates.push_back(*std::move(made));
    if (aggregation.function == "first" || aggregation.function == "last") node->needs_order = true;
  }
  if (keys_.empty() && aggregations.empty()) {
    return DataFrame::Failed(arrow::Status::Invalid("Agg: no aggregations and no keys"));
  }
  return frame_.Then(internal::Finish(std::move(node), "Agg"));
}

DataFrame DataFrame::Agg(const std::vector<Aggregation>& aggregations) const {
  return GroupedFrame(*this, {}).Agg(aggregations);
}

DataFrame DataFrame::Join(const DataFrame& right, const std::vector<std::string>& left_keys,
                          const std::vector<std::string>& right_keys, JoinKind kind,
                          const std::string& right_suffix) const {
  if (!ok()) return *this;
  if (!right.ok()) return right;
  if (left_keys.empty() || left_keys.size() != right_keys.size()) {
    return Failed(arrow::Status::Invalid("Join: need the same positive number of left and right "
                                         "keys, got ", left_keys.size(), " and ", right_keys.size()));
  }
  for (const auto& key : left_keys) {
    auto st = internal::CheckColumn(*node_->schema, key, "Join (left key)");
    if (!st.ok()) return Failed(st);
  }
  for (const auto& key : right_keys) {
    auto st = internal::CheckColumn(*right.node_->schema, key, "Join (right key)");
    if (!st.ok()) return Failed(st);
  }
  // Rename right columns whose names collide with left ones.
  std::map<std::string, std::string> renamed;
  std::vector<std::pair<std::string, std::string>> renames;
  for (const auto& field : right.node_->schema->fields()) {
    if (node_->schema->GetFieldIndex(field->name()) >= 0 ||
        node_->schema->GetAllFieldIndices(field->name()).size() > 0) {
      renamed[field->name()] = field->name() + right_suffix;
      renames.emplace_back(field->name(), field->name() + right_suffix);
    }
  }
  DataFrame right_side = renames.empty() ? right : right.Rename(renames);
  if (!right_side.ok()) return right_side;
  static const char* kNames[] = {"INNER", "LEFT", "RIGHT", "FULL", "SEMI", "ANTI"};
  static const ac::JoinType kTypes[] = {ac::JoinType::INNER,      ac::JoinType::LEFT_OUTER,
                                        ac::JoinType::RIGHT_OUTER, ac::JoinType::FULL_OUTER,
                                        ac::JoinType::LEFT_SEMI,  ac::JoinType::LEFT_ANTI};
  const int k = static_cast<int>(kind);
  std::vector<std::string> conditions;
  auto node = NewNode(NodeKind::kJoin, node_, "");
  node->inputs.push_back(right_side.node_);
  node->join_type = kTypes[k];
  for (size_t i = 0; i < left_keys.size(); ++i) {
    auto it = renamed.find(right_keys[i]);
    const std::string right_name = it == renamed.end() ? right_keys[i] : it->second;
    node->left_keys.emplace_back(left_keys[i]);
    node->right_keys.emplace_back(right_name);
    conditions.push_back(left_keys[i] + " = " + right_name);
  }
  node->label = std::string("Join ") + kNames[k] + " on " + JoinNames(conditions);
  return Then(internal::Finish(std::move(node), "Join"));
}

DataFrame DataFrame::Sort(const std::vector<SortKey>& keys) const {
  if (!ok()) return *this;
  if (keys.empty()) return Failed(arrow::Status::Invalid("Sort: no sort keys"));
  std::vector<std::string> parts;
  auto node = NewNode(NodeKind::kOrderBy, node_, "");
  for (const auto& key : keys) {
    auto st = internal::CheckColumn(*node_->schema, key.column, "Sort");
    if (!st.ok()) return Failed(st);
    node->sort_keys.emplace_back(arrow::FieldRef(key.column),
                                 key.descending ? cp::SortOrder::Descending : cp::SortOrder::Ascending,
                                 key.nulls_first ? cp::NullPlacement::AtStart : cp::NullPlacement::AtEnd);
    parts.push_back(key.column + (key.descending ? " DESC" : " ASC") +
                    (key.nulls_first ? " NULLS FIRST" : " NULLS LAST"));
  }
  node->label = "Sort " + JoinNames(parts);
  return Then(internal::Finish(std::move(node), "Sort"));
}

DataFrame DataFrame::Limit(int64_t count, int64_t offset) const {
  if (!ok()) return *this;
  if (count < 0 || offset < 0) {
    return Failed(arrow::Status::Invalid("Limit: count and offset must be >= 0, got count=", count,
                                         " offset=", offset));
  }
  auto node = NewNode(NodeKind::kFetch, node_,
                      "Limit " + std::to_string(count) +
                          (offset ? " offset " + std::to_string(offset) : std::string()));
  node->count = count;
  node->offset = offset;
  return Then(internal::Finish(std::move(node), "Limit"));
}

DataFrame DataFrame::Distinct() const {
  if (!ok()) return *this;
  auto node = NewNode(NodeKind::kAggregate, node_, "Distinct");
  for (const auto& field : node_->schema->fields()) node->keys.emplace_back(field->name());
  return Then(internal::Finish(std::move(node), "Distinct"));
}

DataFrame DataFrame::Union(const DataFrame& other) const {
  if (!ok()) return *this;
  if (!other.ok()) return other;
  if (!node_->schema->Equals(*other.node_->schema, /*check_metadata=*/false)) {
    return Failed(arrow::Status::Invalid("Union: schemas differ: [", node_->schema->ToString(),
                                         "] vs [", other.node_->schema->ToString(), "]"));
  }
  auto node = NewNode(NodeKind::kUnion, node_, "Union");
  node->inputs.push_back(other.node_);
  return Then(internal::Finish(std::move(node), "Union"));
}

// --- inspection and sinks ---------------------------------------------------------

arrow::Result<std::shared_ptr<arrow::Schema>> DataFrame::schema() const {
  ARROW_RETURN_NOT_OK(status_);
  return node_->schema;
}

arrow::Result<std::string> DataFrame::Explain() const {
  ARROW_RETURN_NOT_OK(status_);
  return internal::ExplainPlan(node_);
}

arrow::Result<std::shared_ptr<arrow::Table>> DataFrame::Collect() const {
  ARROW_RETURN_NOT_OK(status_);
  ARROW_ASSIGN_OR_RAISE(auto declaration, internal::Lower(node_));
  ARROW_RETURN_NOT_OK(ClaimSources(*node_));
  return ac::DeclarationToTable(std::move(declaration), !internal::NeedsOrder(node_),
                                internal::ExecutionPool());
}

arrow::Result<std::unique_ptr<arrow::RecordBatchReader>> DataFrame::Stream() const {
  ARROW_RETURN_NOT_OK(status_);
  ARROW_ASSIGN_OR_RAISE(auto declaration, internal::Lower(node_));
  ARROW_RETURN_NOT_OK(ClaimSources(*node_));
  return ac::DeclarationToReader(std::move(declaration), !internal::NeedsOrder(node_),
                                 internal::ExecutionPool());
}

arrow::Status DataFrame::WriteFile(const std::string& path, FileFormat format) const {
  ARROW_RETURN_NOT_OK(status_);
  std::string inner;
  ARROW_ASSIGN_OR_RAISE(auto fs, FileSystemOf(path, &inner));
  const std::string tmp = TempSibling(inner);
  ARROW_ASSIGN_OR_RAISE(auto reader, Stream());
  auto written = [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto sink, fs->OpenOutputStream(tmp));
    ARROW_RETURN_NOT_OK(WriteBatches(reader.get(), format, std::move(sink)));
    return fs->Move(tmp, inner);
  }();
  if (!written.ok()) {
    (void)reader->Close();
    (void)fs->DeleteFile(tmp);
    return written.WithMessage("WriteFile '", path, "': ", written.message());
  }
  return arrow::Status::OK();
}

arrow::Status DataFrame::WriteDataset(const std::string& directory,
                                      const WriteDatasetOptions& options) const {
  ARROW_RETURN_NOT_OK(status_);
  EnsureDatasetNodes();
  std::string inner;
  ARROW_ASSIGN_OR_RAISE(auto fs, FileSystemOf(directory, &inner));
  ARROW_ASSIGN_OR_RAISE(auto info, fs->GetFileInfo(inner));
  if (info.type() != arrow::fs::FileType::NotFound) {
    return arrow::Status::AlreadyExists("WriteDataset: '", directory, "' already exists");
  }
  arrow::FieldVector partition_fields;
  for (const auto& column : options.partition_by) {
    ARROW_RETURN_NOT_OK(internal::CheckColumn(*node_->schema, column, "WriteDataset partition_by"));
    partition_fields.push_back(node_->schema->GetFieldByName(column));
  }
  auto format = DatasetFormat(options.format);
  ds::FileSystemDatasetWriteOptions write;
  write.file_write_options = format->DefaultWriteOptions();
  write.filesystem = fs;
  write.base_dir = TempSibling(inner);
  write.partitioning = std::make_shared<ds::HivePartitioning>(arrow::schema(partition_fields));
  write.basename_template = std::string("part-{i}.") + FormatName(options.format);
  write.existing_data_behavior = ds::ExistingDataBehavior::kError;
  if (options.max_rows_per_file > 0) {
    write.max_rows_per_file = static_cast<uint64_t>(options.max_rows_per_file);
    write.max_rows_per_group = std::min<uint64_t>(write.max_rows_per_group, write.max_rows_per_file);
  }
  ARROW_ASSIGN_OR_RAISE(auto declaration, internal::Lower(node_));
  ARROW_RETURN_NOT_OK(ClaimSources(*node_));
  auto plan = ac::Declaration::Sequence(
      {std::move(declaration), ac::Declaration("write", ds::WriteNodeOptions(write))});
  arrow::Status st = ac::DeclarationToStatus(std::move(plan), !internal::NeedsOrder(node_),
                                                internal::ExecutionPool());
  if (st.ok()) {
    ARROW_RETURN_NOT_OK(fs->CreateDir(write.base_dir, /*recursive=*/true));  // empty results
    st = fs->Move(write.base_dir, inner);
  }
  if (!st.ok()) {
    (void)fs->DeleteDir(write.base_dir);
    return st.WithMessage("WriteDataset '", directory, "': ", st.message());
  }
  return arrow::Status::OK();
}

arrow::Result<FlightPutResult> DataFrame::PutToFlight(const std::string& location,
                                                      const std::string& path,
                                                      const FlightHeaders& headers) const {
  ARROW_RETURN_NOT_OK(status_);
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = path.find('/', start);
    parts.push_back(path.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  ARROW_ASSIGN_OR_RAISE(auto parsed, fl::Location::Parse(location));
  ARROW_ASSIGN_OR_RAISE(auto client, fl::FlightClient::Connect(parsed));
  ARROW_ASSIGN_OR_RAISE(auto reader, Stream());
  // Pull the first batch before the call starts: most plan errors (bad
  // casts, unreadable inputs) surface here and then nothing is uploaded.
  std::shared_ptr<arrow::RecordBatch> first;
  auto st = reader->ReadNext(&first);
  if (!st.ok()) return st.WithMessage("PutToFlight ", path, ": ", st.message());
  arrow::StopSource stop;
  fl::FlightCallOptions call_options;
  call_options.headers = headers;
  call_options.stop_token = stop.token();
  ARROW_ASSIGN_OR_RAISE(auto put, client->DoPut(call_options, fl::FlightDescriptor::Path(parts),
                                                reader->schema()));
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
    (void)client->Close();
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
