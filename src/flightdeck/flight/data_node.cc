#include "flightdeck/flight/data_node.h"

#include <condition_variable>
#include <csignal>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <arrow/flight/server.h>
#include <arrow/record_batch.h>
#include <arrow/util/byte_size.h>

#include "flightdeck/common/logging.h"

namespace flightdeck::flight {

namespace fl = arrow::flight;

namespace {

// One immutable dataset as stored: the batches exactly as they arrived.
struct Dataset {
  std::shared_ptr<arrow::Schema> schema;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t rows = 0;
  int64_t bytes = 0;
};

arrow::Result<std::string> PathOf(const fl::FlightDescriptor& descriptor) {
  if (descriptor.type != fl::FlightDescriptor::PATH || descriptor.path.empty()) {
    return arrow::Status::Invalid("expected a path descriptor such as tenant/dataset/partition, got ",
                                  descriptor.ToString());
  }
  std::string path;
  for (const auto& part : descriptor.path) {
    if (part.empty() || part.find('/') != std::string::npos) {
      return arrow::Status::Invalid("descriptor path element '", part,
                                    "' is empty or holds '/'");
    }
    if (!path.empty()) path += '/';
    path += part;
  }
  return path;
}

fl::FlightDescriptor DescriptorOf(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t end = path.find('/', start);
    parts.push_back(path.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return fl::FlightDescriptor::Path(parts);
}

class DataNodeService : public fl::FlightServerBase {
 public:
  arrow::Status DoPut(const fl::ServerCallContext& context,
                      std::unique_ptr<fl::FlightMessageReader> reader,
                      std::unique_ptr<fl::FlightMetadataWriter> writer) override {
    ARROW_ASSIGN_OR_RAISE(std::string path, PathOf(reader->descriptor()));
    auto dataset = std::make_shared<Dataset>();
    ARROW_ASSIGN_OR_RAISE(dataset->schema, reader->GetSchema());
    while (true) {
      ARROW_ASSIGN_OR_RAISE(fl::FlightStreamChunk chunk, reader->Next());
      if (!chunk.data) break;
      dataset->rows += chunk.data->num_rows();
      dataset->bytes += arrow::util::TotalBufferSize(*chunk.data);
      dataset->batches.push_back(std::move(chunk.data));
    }
    // The stream ended cleanly: only now does the dataset become visible.
    {
      std::lock_guard<std::mutex> lock(mutex_);
      datasets_[path] = dataset;
    }
    FD_LOG(kDebug) << "stored " << path << ": " << dataset->rows << " rows, " << dataset->bytes
                   << " bytes";
    return arrow::Status::OK();
  }

  arrow::Status DoGet(const fl::ServerCallContext& context, const fl::Ticket& request,
                      std::unique_ptr<fl::FlightDataStream>* stream) override {
    ARROW_ASSIGN_OR_RAISE(auto dataset, Find(request.ticket));
    ARROW_ASSIGN_OR_RAISE(auto reader,
                          arrow::RecordBatchReader::Make(dataset->batches, dataset->schema));
    *stream = std::make_unique<fl::RecordBatchStream>(std::move(reader));
    return arrow::Status::OK();
  }

  arrow::Status GetFlightInfo(const fl::ServerCallContext& context,
                              const fl::FlightDescriptor& request,
                              std::unique_ptr<fl::FlightInfo>* info) override {
    ARROW_ASSIGN_OR_RAISE(std::string path, PathOf(request));
    ARROW_ASSIGN_OR_RAISE(auto dataset, Find(path));
    ARROW_ASSIGN_OR_RAISE(auto made, MakeInfo(path, *dataset));
    *info = std::make_unique<fl::FlightInfo>(std::move(made));
    return arrow::Status::OK();
  }

  arrow::Status GetSchema(const fl::ServerCallContext& context,
                          const fl::FlightDescriptor& request,
                          std::unique_ptr<fl::SchemaResult>* schema) override {
    ARROW_ASSIGN_OR_RAISE(std::string path, PathOf(request));
    ARROW_ASSIGN_OR_RAISE(auto dataset, Find(path));
    ARROW_ASSIGN_OR_RAISE(*schema, fl::SchemaResult::Make(*dataset->schema));
    return arrow::Status::OK();
  }

  arrow::Status ListFlights(const fl::ServerCallContext& context, const fl::Criteria* criteria,
                            std::unique_ptr<fl::FlightListing>* listings) override {
    const std::string prefix = criteria ? criteria->expression : "";
    std::vector<std::pair<std::string, std::shared_ptr<Dataset>>> matching;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = datasets_.lower_bound(prefix);
           it != datasets_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
        matching.emplace_back(it->first, it->second);
      }
    }
    std::vector<fl::FlightInfo> infos;
    for (const auto& [path, dataset] : matching) {
      ARROW_ASSIGN_OR_RAISE(auto info, MakeInfo(path, *dataset));
      infos.push_back(std::move(info));
    }
    *listings = std::make_unique<fl::SimpleFlightListing>(std::move(infos));
    return arrow::Status::OK();
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return datasets_.size();
  }

  fl::Location location;

 private:
  arrow::Result<std::shared_ptr<Dataset>> Find(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = datasets_.find(path);
    if (it == datasets_.end()) {
      return arrow::Status::KeyError("no dataset for ticket '", path, "'");
    }
    return it->second;
  }

  arrow::Result<fl::FlightInfo> MakeInfo(const std::string& path, const Dataset& dataset) const {
    fl::FlightEndpoint endpoint;
    endpoint.ticket.ticket = path;
    endpoint.locations.push_back(location);
    return fl::FlightInfo::Make(*dataset.schema, DescriptorOf(path), {endpoint}, dataset.rows,
                                dataset.bytes);
  }

  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Dataset>> datasets_;  // guarded by mutex_
};

}  // namespace

struct DataNode::Impl {
  DataNodeOptions options;
  std::unique_ptr<DataNodeService> service;
  std::thread serve_thread;

  std::mutex mutex;
  std::condition_variable served_cv;
  bool served = false;     // Serve() returned; guarded by mutex
  bool shut_down = false;  // guarded by mutex
};

arrow::Result<std::unique_ptr<DataNode>> DataNode::Start(DataNodeOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->service = std::make_unique<DataNodeService>();
  ARROW_ASSIGN_OR_RAISE(auto listen, fl::Location::ForGrpcTcp(options.host, options.port));
  fl::FlightServerOptions server_options(listen);
  ARROW_RETURN_NOT_OK(impl->service->Init(server_options));
  ARROW_ASSIGN_OR_RAISE(impl->service->location,
                        fl::Location::ForGrpcTcp(options.host, impl->service->port()));
  if (options.shutdown_on_signals) {
    ARROW_RETURN_NOT_OK(impl->service->SetShutdownOnSignals({SIGINT, SIGTERM}));
  }
  impl->options = std::move(options);
  Impl* raw = impl.get();
  impl->serve_thread = std::thread([raw] {
    arrow::Status st = raw->service->Serve();
    if (!st.ok()) FD_LOG(kError) << "data node stopped serving: " << st.ToString();
    std::lock_guard<std::mutex> lock(raw->mutex);
    raw->served = true;
    raw->served_cv.notify_all();
  });
  return std::unique_ptr<DataNode>(new DataNode(std::move(impl)));
}

DataNode::DataNode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DataNode::~DataNode() { (void)Shutdown(); }

int DataNode::port() const { return impl_->service->port(); }
const fl::Location& DataNode::location() const { return impl_->service->location; }
size_t DataNode::dataset_count() const { return impl_->service->size(); }

arrow::Status DataNode::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (impl_->shut_down) return arrow::Status::OK();
    impl_->shut_down = true;
  }
  arrow::Status st = impl_->service->Shutdown();
  impl_->serve_thread.join();
  return st;
}

void DataNode::Wait() {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  impl_->served_cv.wait(lock, [this] { return impl_->served; });
}

}  // namespace flightdeck::flight
