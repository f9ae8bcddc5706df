// The pipeline's calls to its data nodes (through flight::NodeClient) and
// the small file helpers the stage files share.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "flightdeck/common/logging.h"
#include "flightdeck/pipeline/stages_internal.h"

namespace flightdeck::pipeline::internal {
namespace {

namespace fl = arrow::flight;
using frame::DataFrame;

// Datasets this process put as extract outputs, by ticket, for the transform
// that usually follows in the same worker: it takes them from here instead
// of reading them back from the node (the node still holds them, durable or
// not, exactly as without the cache). Least recently put first out.
class LocalDatasets {
 public:
  static LocalDatasets& Instance() {
    static LocalDatasets* instance = new LocalDatasets();
    return *instance;
  }
  void Put(const std::string& ticket, std::shared_ptr<arrow::Table> table, int64_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes > kCapacityBytes || entries_.count(ticket)) return;
    order_.push_back(ticket);
    entries_[ticket] = {std::move(table), bytes, std::prev(order_.end())};
    used_ += bytes;
    while (used_ > kCapacityBytes) {
      auto oldest = entries_.find(order_.front());
      used_ -= oldest->second.bytes;
      entries_.erase(oldest);
      order_.pop_front();
    }
  }
  // Removes and returns the table of `ticket`, or null.
  std::shared_ptr<arrow::Table> Take(const std::string& ticket) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(ticket);
    if (it == entries_.end()) return nullptr;
    auto table = std::move(it->second.table);
    used_ -= it->second.bytes;
    order_.erase(it->second.position);
    entries_.erase(it);
    return table;
  }

 private:
  static constexpr int64_t kCapacityBytes = int64_t{1} << 30;
  struct Entry {
    std::shared_ptr<arrow::Table> table;
    int64_t bytes = 0;
    std::list<std::string>::iterator position;
  };
  std::mutex mutex_;
  std::list<std::string> order_;
  std::unordered_map<std::string, Entry> entries_;
  int64_t used_ = 0;
};

}  // namespace

namespace {

using WriteObserver = std::function<void(const std::string&, int64_t)>;
std::mutex write_observer_mutex;
std::shared_ptr<const WriteObserver> write_observer;

void NoteWrite(const DatasetRef& ref) {
  std::shared_ptr<const WriteObserver> observer;
  {
    std::lock_guard<std::mutex> lock(write_observer_mutex);
    observer = write_observer;
  }
  if (observer) (*observer)(ref.node, ref.bytes);
}

}  // namespace

void SetWriteObserver(std::function<void(const std::string& node, int64_t bytes)> observer) {
  std::lock_guard<std::mutex> lock(write_observer_mutex);
  write_observer = observer ? std::make_shared<const WriteObserver>(std::move(observer)) : nullptr;
}

flight::CallIdentity Who(const PipelineSpec& spec) { return {.tenant = spec.tenant}; }

arrow::Result<frame::FileFormat> FormatOf(SourceSpec::Kind kind) {
  switch (kind) {
    case SourceSpec::Kind::kParquet: return frame::FileFormat::kParquet;
    case SourceSpec::Kind::kCsv: return frame::FileFormat::kCsv;
    case SourceSpec::Kind::kIpc: return frame::FileFormat::kIpc;
    default: return arrow::Status::Invalid("source '", KindName(kind), "' is not a file source");
  }
}

arrow::Result<frame::FileFormat> FormatOf(SinkSpec::Kind kind) {
  switch (kind) {
    case SinkSpec::Kind::kParquet: return frame::FileFormat::kParquet;
    case SinkSpec::Kind::kCsv: return frame::FileFormat::kCsv;
    case SinkSpec::Kind::kIpc: return frame::FileFormat::kIpc;
    default: return arrow::Status::Invalid("sink '", KindName(kind), "' is not a file sink");
  }
}

std::string ExtensionOf(SinkSpec::Kind kind) {
  switch (kind) {
    case SinkSpec::Kind::kCsv: return "csv";
    case SinkSpec::Kind::kIpc: return "arrow";
    default: return "parquet";
  }
}

arrow::Result<DatasetRef> Persist(flight::NodeClient& client, const PipelineSpec& spec, const std::string& ticket) {
  return client.Persist(Who(spec), ticket);
}

arrow::Result<std::optional<DatasetRef>> FindPersisted(flight::NodeClient& client, const PipelineSpec& spec,
                                                       const std::vector<std::string>& path) {
  ARROW_ASSIGN_OR_RAISE(auto existing, client.Find(Who(spec), path));
  if (!existing) return std::nullopt;
  return Persist(client, spec, *existing);
}

arrow::Result<DatasetRef> PutFrame(const flight::CallIdentity& who, const std::string& node, const DataFrame& frame,
                                   const fl::FlightDescriptor& descriptor, const std::string& what) {
  ARROW_ASSIGN_OR_RAISE(auto put, frame.PutToFlight(node, descriptor, who));
  if (put.server_metadata.empty()) {
    return arrow::Status::IOError("the data node ", node, " sent no summary for the put of ", what);
  }
  ARROW_ASSIGN_OR_RAISE(DatasetRef ref, DatasetRefFromNodeSummary(node, put.server_metadata[0]));
  NoteWrite(ref);
  return ref;
}

namespace {

fl::FlightDescriptor DescriptorOf(const PipelineSpec& spec, const std::vector<std::string>& path, bool leased) {
  if (!leased) return fl::FlightDescriptor::Path(path);
  return fl::FlightDescriptor::Command(nlohmann::json{{"tenant", path[0]},
                                                      {"dataset", path[1]},
                                                      {"partition", path[2]},
                                                      {"ttl_seconds", (spec.dataset_lease_ms + 999) / 1000}}
                                           .dump());
}

// PutStageOutput with spec.replicas copies: along the ranking of the
// dataset's placement key, each node that answers holds a copy (a durable
// one found there is kept, else the table is put), until spec.replicas do;
// a node that fails is skipped. The first copy's ref; IOError (retryable)
// when fewer nodes than spec.replicas could take one.
arrow::Result<DatasetRef> PutReplicas(const PipelineSpec& spec, const std::string& dataset,
                                      const std::string& partition,
                                      const std::function<arrow::Result<DataFrame>()>& make, bool keep_local,
                                      std::shared_ptr<arrow::Table>* made_table) {
  const std::vector<std::string> path = {spec.tenant, dataset, partition};
  ARROW_ASSIGN_OR_RAISE(auto ranked, RankedNodes(spec, PlacementKeyOf(spec, dataset, partition)));
  std::shared_ptr<arrow::Table> table;
  std::optional<DatasetRef> first;
  int32_t held = 0;
  arrow::Status skipped;
  for (const auto& node : ranked) {
    if (held >= spec.replicas) break;
    auto copy = [&]() -> arrow::Result<DatasetRef> {
      ARROW_ASSIGN_OR_RAISE(auto client, flight::NodeClient::For(node));
      if (spec.durable) {
        ARROW_ASSIGN_OR_RAISE(auto existing, FindPersisted(*client, spec, path));
        if (existing) return *existing;
      }
      if (!table) {
        if (made_table != nullptr && *made_table) {
          table = *made_table;
        } else {
          ARROW_ASSIGN_OR_RAISE(DataFrame frame, make());
          ARROW_ASSIGN_OR_RAISE(table, frame.Collect());
        }
      }
      ARROW_ASSIGN_OR_RAISE(DatasetRef ref, PutFrame(Who(spec), node, DataFrame::FromTable(table),
                                                     DescriptorOf(spec, path, true), dataset + "/" + partition));
      if (!spec.durable) return ref;
      return Persist(*client, spec, ref.ticket);
    }();
    if (!copy.ok()) {
      // Computing the rows failed (not a node): no other node does better.
      if (!table && !copy.status().IsIOError()) return copy.status();
      FD_LOG(kWarning) << "copy of " << dataset << "/" << partition << " on " << node
                       << " failed, trying the next node: " << copy.status().ToString();
      skipped = copy.status();
      continue;
    }
    held += 1;
    if (!first) first = std::move(*copy);
  }
  if (held < spec.replicas) {
    return arrow::Status::IOError(held, " of the ", spec.replicas, " copies of ", dataset, "/", partition,
                                  " could be written (", ranked.size(), " nodes): ", skipped.message());
  }
  if (keep_local && table) LocalDatasets::Instance().Put(first->ticket, table, first->bytes);
  return *first;
}

}  // namespace

arrow::Result<DatasetRef> PutStageOutput(const PipelineSpec& spec, const std::string& node,
                                         const std::string& dataset, const std::string& partition,
                                         const std::function<arrow::Result<DataFrame>()>& make,
                                         bool keep_local, std::shared_ptr<arrow::Table>* made_table,
                                         bool leased) {
  // A run's own datasets get the spec's copies (not a sink's).
  if (spec.replicas > 1 && leased) return PutReplicas(spec, dataset, partition, make, keep_local, made_table);
  const std::vector<std::string> path = {spec.tenant, dataset, partition};
  ARROW_ASSIGN_OR_RAISE(auto client, flight::NodeClient::For(node));
  if (spec.durable) {
    // Puts are atomic, so a dataset there is a complete earlier output.
    ARROW_ASSIGN_OR_RAISE(auto existing, FindPersisted(*client, spec, path));
    if (existing) return *existing;
  }
  ARROW_ASSIGN_OR_RAISE(DataFrame frame, make());
  std::shared_ptr<arrow::Table> table;
  if (keep_local) {
    if (made_table != nullptr && *made_table) {
      table = *made_table;  // make() built the frame from this table
    } else {
      ARROW_ASSIGN_OR_RAISE(table, frame.Collect());
      frame = DataFrame::FromTable(table);
    }
  }
  ARROW_ASSIGN_OR_RAISE(DatasetRef ref,
                        PutFrame(Who(spec), node, frame, DescriptorOf(spec, path, leased), dataset + "/" + partition));
  if (table) LocalDatasets::Instance().Put(ref.ticket, table, ref.bytes);
  if (!spec.durable) return ref;
  return Persist(*client, spec, ref.ticket);
}

arrow::Result<DataFrame> ReadRef(const PipelineSpec& spec, const DatasetRef& ref,
                                 const std::string& input) {
  if (auto table = LocalDatasets::Instance().Take(ref.ticket)) {
    return DataFrame::FromTable(std::move(table));
  }
  auto frame = DataFrame::FromFlight(ref.node, ref.ticket, Who(spec));
  if (!frame.ok() && spec.replicas > 1 && !ref.path.empty()) {
    // Its node is gone or lost it: a copy along its placement ranking.
    const size_t first = ref.path.find('/'), last = ref.path.rfind('/');
    if (first != std::string::npos && last > first) {
      const std::string dataset = ref.path.substr(first + 1, last - first - 1);
      const std::string partition = ref.path.substr(last + 1);
      ARROW_ASSIGN_OR_RAISE(auto holders, RankedNodes(spec, PlacementKeyOf(spec, dataset, partition)));
      holders.erase(std::remove(holders.begin(), holders.end(), ref.node), holders.end());
      while (true) {
        ARROW_ASSIGN_OR_RAISE(auto copy, flight::NodeClient::FindCopy(holders, Who(spec),
                                                                        {spec.tenant, dataset, partition}));
        if (!copy) break;
        auto read = DataFrame::FromFlight(copy->node, copy->ticket, Who(spec));
        if (read.ok()) {
          FD_LOG(kInfo) << ref.path << ": read the copy on " << copy->node << " (" << ref.node << ": "
                        << frame.status().message() << ")";
          return read;
        }
        // It failed to stream: the next holder.
        holders.erase(std::find(holders.begin(), holders.end(), copy->node));
      }
      // No node holds a copy any more: lost, computed again from lineage.
      return DatasetLost(input, arrow::Status::KeyError("no copy of ", ref.path, " is left on the spec's nodes (",
                                                        ref.node, ": ", frame.status().message(), ")"));
    }
  }
  if (!frame.ok() && flight::IsDatasetLost(frame.status())) return DatasetLost(input, frame.status());
  return frame;
}

arrow::Result<DatasetRef> FindByPath(const PipelineSpec& spec, const std::string& dataset,
                                     const std::string& partition, const std::string& input) {
  // Where copies are: the placement's first node, then (with replicas) the
  // next ones of its ranking.
  ARROW_ASSIGN_OR_RAISE(auto ranked, RankedNodes(spec, PlacementKeyOf(spec, dataset, partition),
                                                 spec.replicas > 1 ? 0 : 1));
  const std::vector<std::string> path = {spec.tenant, dataset, partition};
  DatasetRef ref;
  ref.path = spec.tenant + "/" + dataset + "/" + partition;
  arrow::Status unreachable;
  ARROW_ASSIGN_OR_RAISE(auto copy, flight::NodeClient::FindCopy(ranked, Who(spec), path, &unreachable));
  if (copy) {
    ref.node = copy->node;
    ref.ticket = copy->ticket;
    return ref;
  }
  // One copy only: its node's failure is the answer (retried).
  if (ranked.size() == 1 && !unreachable.ok()) return unreachable;
  return DatasetLost(input, arrow::Status::KeyError(ref.path, " is on none of ", ranked.size(), " nodes",
                                                    unreachable.ok() ? "" : " that answered"));
}

arrow::Status CheckRun(const std::string& run) {
  if (run.empty() || run.size() > 200 || run.find_first_of("/\\") != std::string::npos ||
      run == "." || run == "..") {
    return arrow::Status::Invalid("run id '", run,
                                  "' must be 1 to 200 characters without '/' or '\\'");
  }
  return arrow::Status::OK();
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace flightdeck::pipeline::internal
