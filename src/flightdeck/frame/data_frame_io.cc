// The DataFrame's files and Flight: reading Parquet, CSV and IPC files
// (and their row counts from metadata), Flight DoGet sources, and writing
// files, datasets and Flight DoPut streams.
#include "flightdeck/frame/data_frame.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
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
#include <arrow/util/byte_size.h>
#include <arrow/ipc/writer.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>

#include "flightdeck/common/durable_file.h"
#include "flightdeck/frame/data_frame_internal.h"
#include "flightdeck/frame/plan_internal.h"
#include "flightdeck/frame/sql_text.h"

namespace flightdeck::frame {

namespace ds = arrow::dataset;
namespace fl = arrow::flight;
namespace fsys = std::filesystem;
using internal::In;
using internal::NodeKind;
using internal::NodePtr;
using internal::PlanNode;
using internal::JoinNames;
using internal::NewStream;
using internal::SingleUseSource;

namespace {

// A RecordBatchReader over a Flight DoGet stream that keeps its client alive.
using FlightReadObserver = std::function<void(const std::string&, int64_t)>;
std::shared_ptr<const FlightReadObserver>& ReadObserver() {
  static auto* observer = new std::shared_ptr<const FlightReadObserver>();
  return *observer;
}
std::mutex read_observer_mutex;

class FlightSourceReader : public arrow::RecordBatchReader {
 public:
  FlightSourceReader(std::shared_ptr<flight::NodeClient> client,
                     std::unique_ptr<fl::FlightStreamReader> stream,
                     std::shared_ptr<arrow::Schema> schema, std::string location)
      : client_(std::move(client)), stream_(std::move(stream)), schema_(std::move(schema)),
        location_(std::move(location)) {
    std::lock_guard<std::mutex> lock(read_observer_mutex);
    observer_ = ReadObserver();
  }
  ~FlightSourceReader() override { stream_->Cancel(); }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    ARROW_ASSIGN_OR_RAISE(fl::FlightStreamChunk chunk, stream_->Next());
    *batch = std::move(chunk.data);
    if (observer_ && *batch) (*observer_)(location_, arrow::util::TotalBufferSize(**batch));
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<flight::NodeClient> client_;
  std::unique_ptr<fl::FlightStreamReader> stream_;
  std::shared_ptr<arrow::Schema> schema_;
  std::string location_;
  std::shared_ptr<const FlightReadObserver> observer_;
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

arrow::Result<FileFormat> ParseFileFormat(std::string_view name) {
  if (name == "parquet") return FileFormat::kParquet;
  if (name == "ipc" || name == "arrow" || name == "feather") return FileFormat::kIpc;
  if (name == "csv") return FileFormat::kCsv;
  return arrow::Status::Invalid("unknown file format '", name, "' (expected parquet, ipc or csv)");
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

void SetFlightReadObserver(std::function<void(const std::string& location, int64_t bytes)> observer) {
  std::lock_guard<std::mutex> lock(read_observer_mutex);
  ReadObserver() = observer ? std::make_shared<const FlightReadObserver>(std::move(observer)) : nullptr;
}

arrow::Result<DataFrame> DataFrame::FromFlight(const std::string& location, std::string ticket,
                                               const flight::CallIdentity& who) {
  ARROW_ASSIGN_OR_RAISE(auto client, flight::NodeClient::For(location));
  ARROW_ASSIGN_OR_RAISE(auto stream, client->Get(who, ticket));
  ARROW_ASSIGN_OR_RAISE(auto schema, stream->GetSchema());
  auto reader = std::make_shared<FlightSourceReader>(std::move(client), std::move(stream), schema, location);
  return DataFrame(SingleUseSource(std::move(reader), "Flight DoGet " + location), arrow::Status::OK());
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
  auto put = client->PutStream(who, descriptor, *reader, std::move(first));
  if (!put.ok()) return put.status().WithMessage("PutToFlight ", path, ": ", put.status().message());
  return put;
}

}  // namespace flightdeck::frame
