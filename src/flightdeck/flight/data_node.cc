#include "flightdeck/flight/data_node.h"
#include "flightdeck/flight/node_backup.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <arrow/buffer.h>
#include <arrow/flight/server.h>
#include <arrow/flight/server_auth.h>
#include <arrow/record_batch.h>
#include <arrow/util/byte_size.h>
#include <nlohmann/json.hpp>

#include "flightdeck/common/clock.h"
#include "flightdeck/common/logging.h"
#include "flightdeck/flight/caller.h"
#include "flightdeck/flight/dataset_descriptor.h"
#include "flightdeck/flight/node_client.h"
#include "flightdeck/flight/node_protocol_internal.h"
#include "flightdeck/flight/ticket.h"

namespace flightdeck::flight {

namespace fl = arrow::flight;
using json = nlohmann::json;

namespace {

using internal::Actions;
using internal::CheckMetadataSize;
using internal::DatasetOfPath;
using internal::JsonResult;
using internal::ReturnFreedMemoryAboveBudget;
using internal::TicketNotFound;
using internal::ToFlight;

class DataNodeService : public fl::FlightServerBase {
 public:
  DataNodeService(std::unique_ptr<BatchStore> store, ExchangeTransform exchange_transform,
                  std::shared_ptr<const KeyRing> ticket_keys, std::chrono::milliseconds ticket_ttl)
      : store_(std::move(store)),
        exchange_transform_(std::move(exchange_transform)),
        tickets_(std::move(ticket_keys), ticket_ttl) {}

  arrow::Status DoPut(const fl::ServerCallContext& context,
                      std::unique_ptr<fl::FlightMessageReader> reader,
                      std::unique_ptr<fl::FlightMetadataWriter> writer) override {
    ARROW_ASSIGN_OR_RAISE(DatasetDescriptor target, ParseDatasetDescriptor(reader->descriptor()));
    const std::string& tenant = TenantOf(context);
    if (target.tenant != tenant) {
      return fl::MakeFlightError(fl::FlightStatusCode::Unauthorized,
                                 "tenant '" + tenant + "' cannot put into tenant '" +
                                     target.tenant + "'");
    }
    Note(context, {.dataset = target.dataset});
    ARROW_RETURN_NOT_OK(Allow(context, Right::kPut, target.dataset));
    ARROW_ASSIGN_OR_RAISE(auto schema, reader->GetSchema());
    ARROW_RETURN_NOT_OK(CheckMetadataSize(*schema));
    const std::optional<Quota> quota = QuotaOf(context);
    const TenantUsage usage = quota ? UsageOf(tenant) : TenantUsage{};
    if (quota && quota->datasets >= 0 && usage.datasets + 1 > quota->datasets) {
      return ToFlight(arrow::Status::CapacityError("tenant '", tenant, "' is at its quota of ", quota->datasets,
                                                   " datasets; drop some first"));
    }
    int64_t put_bytes = 0;
    ARROW_ASSIGN_OR_RAISE(auto put, store_->BeginPut(tenant, target.path(), schema,
                                                     {target.durable, target.ttl}));
    // Any early return below destroys `put`, which discards what it held.
    while (true) {
      ARROW_ASSIGN_OR_RAISE(fl::FlightStreamChunk chunk, reader->Next());
      if (chunk.app_metadata) {
        if (auto reason = PutAbortReason(*chunk.app_metadata)) {
          return arrow::Status::Cancelled("put of ", target.path(), " was abandoned by the client: ", *reason);
        }
      }
      if (!chunk.data) {
        if (chunk.app_metadata) continue;  // a metadata-only message
        break;
      }
      if (quota && quota->memory_bytes >= 0) {
        put_bytes += arrow::util::TotalBufferSize(*chunk.data);
        if (usage.memory_bytes + put_bytes > quota->memory_bytes) {
          return ToFlight(arrow::Status::CapacityError(
              "tenant '", tenant, "' is over its memory quota: ", usage.memory_bytes, " of ", quota->memory_bytes,
              " bytes held, and this put brings ", put_bytes, " so far; nothing of it is kept"));
        }
      }
      ARROW_RETURN_NOT_OK(ToFlight(put->Append(std::move(chunk.data))));
    }
    // A client that vanished also ends the stream; only a clean end commits.
    if (context.is_cancelled()) {
      return arrow::Status::Cancelled("put of ", target.path(), " was cancelled by the client");
    }
    auto committed = put->Commit();
    if (!committed.ok()) return ToFlight(committed.status());
    const DatasetSummary& summary = *committed;
    Note(context, {.rows = summary.rows, .bytes = summary.bytes});
    FD_LOG(kDebug) << "stored " << summary.path << ": " << summary.rows << " rows, "
                   << summary.bytes << " bytes" << (summary.durable ? ", durable" : "");
    return writer->WriteMetadata(*arrow::Buffer::FromString(SummaryJson(context, summary)));
  }

  arrow::Status DoGet(const fl::ServerCallContext& context, const fl::Ticket& request,
                      std::unique_ptr<fl::FlightDataStream>* stream) override {
    ARROW_ASSIGN_OR_RAISE(TicketPart part, tickets_.Redeem(context, request.ticket, Right::kGet));
    auto data = store_->Get(part.ticket);
    if (!data.ok()) return ToFlight(data.status());
    Note(context, {.dataset = DatasetOfPath(data->summary.path)});
    ARROW_RETURN_NOT_OK(Allow(context, Right::kGet, DatasetOfPath(data->summary.path)));
    // This part's share of the batches (all of them for part 0 of 1).
    std::vector<std::shared_ptr<arrow::RecordBatch>>& batches = data->batches;
    const auto n = static_cast<int64_t>(batches.size());
    batches.erase(batches.begin() + (part.index + 1) * n / part.count, batches.end());
    batches.erase(batches.begin(), batches.begin() + part.index * n / part.count);
    // The stream serializes the stored buffers by reference: no copy.
    // Alignment at the client (measured, Arrow 26 C++/pyarrow client): a
    // multi-MB message arrives in many gRPC slices, which the client copies
    // into one 64-byte aligned buffer and slices the IPC body out of at the
    // offset the protobuf framing gives it: tag and length of data_header,
    // the flatbuffer header (a multiple of 8), the optional app_metadata,
    // then the body's tag and length. That offset is 1 mod 8 here (the
    // pyarrow reference server's too), so every buffer arrives unaligned.
    // IpcWriteOptions::alignment only pads buffers inside the body, relative
    // to its start, so no write option moves it; padding app_metadata would
    // (5 bytes gives 8-alignment) but relies on the client's copy path (small
    // single-slice messages keep gRPC's arbitrary alignment) and shows
    // clients metadata that means nothing. Aligning is the reader's choice:
    // IpcReadOptions::ensure_alignment (a copy), or Acero's
    // ACERO_ALIGNMENT_HANDLING=ignore where unaligned loads are fine (x86).
    int64_t rows = 0, bytes = 0;
    for (const auto& batch : batches) {
      rows += batch->num_rows();
      bytes += arrow::util::TotalBufferSize(*batch);
    }
    Note(context, {.rows = rows, .bytes = bytes});
    ARROW_ASSIGN_OR_RAISE(auto reader,
                          arrow::RecordBatchReader::Make(std::move(batches), data->schema));
    *stream = std::make_unique<fl::RecordBatchStream>(std::move(reader));
    return arrow::Status::OK();
  }

  arrow::Status GetFlightInfo(const fl::ServerCallContext& context,
                              const fl::FlightDescriptor& request,
                              std::unique_ptr<fl::FlightInfo>* info) override {
    ARROW_ASSIGN_OR_RAISE(DatasetDescriptor target, ParseDatasetDescriptor(request));
    ARROW_ASSIGN_OR_RAISE(DatasetSummary summary, Find(context, target));
    ARROW_ASSIGN_OR_RAISE(auto made, MakeInfo(context, summary, target.endpoints));
    *info = std::make_unique<fl::FlightInfo>(std::move(made));
    return arrow::Status::OK();
  }

  arrow::Status GetSchema(const fl::ServerCallContext& context,
                          const fl::FlightDescriptor& request,
                          std::unique_ptr<fl::SchemaResult>* schema) override {
    ARROW_ASSIGN_OR_RAISE(DatasetDescriptor target, ParseDatasetDescriptor(request));
    ARROW_ASSIGN_OR_RAISE(DatasetSummary summary, Find(context, target));
    ARROW_ASSIGN_OR_RAISE(auto s, SchemaOf(summary));
    ARROW_ASSIGN_OR_RAISE(*schema, fl::SchemaResult::Make(*s));
    return arrow::Status::OK();
  }

  arrow::Status ListFlights(const fl::ServerCallContext& context, const fl::Criteria* criteria,
                            std::unique_ptr<fl::FlightListing>* listings) override {
    const std::string own = TenantOf(context) + "/";
    std::string prefix = criteria ? criteria->expression : "";
    std::vector<fl::FlightInfo> infos;
    // Only the caller's own tenant is visible.
    if (prefix.compare(0, own.size(), own) == 0 || own.compare(0, prefix.size(), prefix) == 0) {
      if (prefix.size() < own.size()) prefix = own;
      for (const auto& summary : store_->List(prefix)) {
        if (!Allow(context, Right::kList, DatasetOfPath(summary.path)).ok()) continue;
        auto info = MakeInfo(context, summary);
        if (info.ok()) infos.push_back(std::move(*info));  // dropped meanwhile: skip
      }
    }
    *listings = std::make_unique<fl::SimpleFlightListing>(std::move(infos));
    return arrow::Status::OK();
  }

  arrow::Status DoExchange(const fl::ServerCallContext& context,
                           std::unique_ptr<fl::FlightMessageReader> reader,
                           std::unique_ptr<fl::FlightMessageWriter> writer) override {
    ARROW_RETURN_NOT_OK(Allow(context, Right::kExchange, ""));
    if (!exchange_transform_) {
      return arrow::Status::NotImplemented(
          "this data node has no DoExchange transform (start it with `flightdeck node`, or set "
          "DataNodeOptions::exchange_transform)");
    }
    const fl::FlightDescriptor& descriptor = reader->descriptor();
    if (descriptor.type != fl::FlightDescriptor::CMD || descriptor.cmd.empty()) {
      return arrow::Status::Invalid(
          "DoExchange needs a command descriptor holding the transform, e.g. "
          "\"select id, amount * 2 as doubled where amount > 10\"");
    }
    const std::string command = descriptor.cmd;
    std::shared_ptr<fl::FlightMessageReader> shared_reader(std::move(reader));
    ARROW_ASSIGN_OR_RAISE(auto input, fl::MakeRecordBatchReader(shared_reader));
    ARROW_ASSIGN_OR_RAISE(auto output, exchange_transform_(command, std::move(input)));
    if (!output) return arrow::Status::Invalid("DoExchange transform returned no reader");
    // The transform may read the client's stream on other threads: close it
    // (which waits for them) before the call, and its stream, go away.
    arrow::Status streamed = [&]() -> arrow::Status {
      ARROW_RETURN_NOT_OK(writer->Begin(output->schema()));
      while (true) {
        std::shared_ptr<arrow::RecordBatch> batch;
        ARROW_RETURN_NOT_OK(output->ReadNext(&batch));
        if (!batch) return arrow::Status::OK();
        ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*batch));
      }
    }();
    arrow::Status closed = output->Close();
    output.reset();
    ARROW_RETURN_NOT_OK(streamed);
    return closed;
  }

  arrow::Status ListActions(const fl::ServerCallContext&,
                            std::vector<fl::ActionType>* actions) override {
    *actions = Actions();
    return arrow::Status::OK();
  }

  arrow::Status DoAction(const fl::ServerCallContext& context, const fl::Action& action,
                         std::unique_ptr<fl::ResultStream>* result) override {
    Note(context, {.action = action.type.substr(0, 64)});
    if (action.type == "drop") {
      ARROW_ASSIGN_OR_RAISE(TicketId ticket, TicketFromBody(context, action.body, Right::kDrop));
      ARROW_RETURN_NOT_OK(AllowOnTicket(context, Right::kDrop, ticket));
      ARROW_RETURN_NOT_OK(ToFlight(store_->Drop(ticket)));
      ReturnFreedMemoryAboveBudget(*store_);
      *result = JsonResult(json{{"dropped", ticket.Encode()}}.dump());
    } else if (action.type == "persist") {
      ARROW_ASSIGN_OR_RAISE(TicketId ticket, TicketFromBody(context, action.body, Right::kPersist));
      ARROW_RETURN_NOT_OK(AllowOnTicket(context, Right::kPersist, ticket));
      ARROW_RETURN_NOT_OK(CheckDiskQuota(context, ticket));
      auto summary = store_->Persist(ticket);
      if (!summary.ok()) return ToFlight(summary.status());
      *result = JsonResult(SummaryJson(context, *summary));
    } else if (action.type == "stats") {
      ARROW_RETURN_NOT_OK(Allow(context, Right::kStats, ""));
      *result = JsonResult(StatsFor(TenantOf(context)));
    } else if (action.type == "health") {
      const auto uptime = std::chrono::steady_clock::now() - started_;
      *result = JsonResult(
          json{{"status", "ok"},
               {"uptime_seconds",
                std::chrono::duration_cast<std::chrono::seconds>(uptime).count()},
               {"location", location.ToString()}}
              .dump());
    } else if (action.type == "gc") {
      ARROW_RETURN_NOT_OK(Allow(context, Right::kAdmin, ""));
      ARROW_ASSIGN_OR_RAISE(int64_t dropped, store_->CollectGarbage());
      if (dropped > 0) ReturnFreedMemoryAboveBudget(*store_);
      *result = JsonResult(json{{"dropped", dropped}}.dump());
    } else if (action.type == "backup") {
      ARROW_RETURN_NOT_OK(Allow(context, Right::kAdmin, ""));
      json body = json::parse(action.body ? action.body->ToString() : std::string(), nullptr, false);
      if (!body.is_object() || !body.contains("to") || !body["to"].is_string()) {
        return arrow::Status::Invalid("backup: body must be {\"to\": URI}");
      }
      ARROW_ASSIGN_OR_RAISE(BackupSummary done, BackupDurable(store_->SnapshotDurable(), body["to"].get<std::string>()));
      *result = JsonResult(
          json{{"datasets", done.datasets}, {"copied", done.copied}, {"skipped", done.skipped}, {"bytes", done.bytes}}
              .dump());
    } else if (action.type == "expire") {
      ARROW_ASSIGN_OR_RAISE(*result, Expire(context, action.body));
    } else if (action.type == fl::ActionType::kRenewFlightEndpoint.type) {
      ARROW_ASSIGN_OR_RAISE(*result, RenewEndpoint(context, action.body));
    } else if (action.type == fl::ActionType::kCancelFlightInfo.type) {
      ARROW_ASSIGN_OR_RAISE(*result, CancelInfo(context, action.body));
    } else {
      return arrow::Status::Invalid("unknown action '", action.type,
                                    "' (known: drop, persist, stats, health, gc, backup, expire, ",
                                    fl::ActionType::kRenewFlightEndpoint.type, ", ",
                                    fl::ActionType::kCancelFlightInfo.type, ")");
    }
    return arrow::Status::OK();
  }

  // "expire": the caller's datasets of the named datasets, every partition,
  // expire in ttl_ms (a lease the pipeline renews) or are dropped (0).
  arrow::Result<std::unique_ptr<fl::ResultStream>> Expire(const fl::ServerCallContext& context,
                                                          const std::shared_ptr<arrow::Buffer>& body) {
    const std::string text = body ? body->ToString() : "";
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("datasets") || !j["datasets"].is_array() ||
        !j.contains("ttl_ms") || !j["ttl_ms"].is_number_integer() || j["ttl_ms"].get<int64_t>() < 0) {
      return arrow::Status::Invalid(
          "expire body must be {\"datasets\": [NAME, ...], \"ttl_ms\": MILLISECONDS >= 0}, got '",
          text.substr(0, 200), "'");
    }
    const std::string tenant = TenantOf(context);
    std::vector<TicketId> tickets;
    for (const auto& name : j["datasets"]) {
      if (!name.is_string() || name.get<std::string>().empty() ||
          name.get<std::string>().find('/') != std::string::npos) {
        return arrow::Status::Invalid("expire: a dataset name is a non-empty string without '/', got ",
                                      name.dump());
      }
      ARROW_RETURN_NOT_OK(Allow(context, Right::kDrop, name.get<std::string>()));
      for (const auto& summary : store_->List(tenant + "/" + name.get<std::string>() + "/")) {
        tickets.push_back(summary.ticket);
      }
    }
    const int64_t ttl_ms = j["ttl_ms"].get<int64_t>();
    int64_t expires_at_ms = 0;
    int64_t count = 0;
    if (ttl_ms == 0) {
      for (const auto& ticket : tickets) count += store_->Drop(ticket).ok() ? 1 : 0;
      if (count > 0) ReturnFreedMemoryAboveBudget(*store_);
    } else {
      expires_at_ms = UnixMillis() + ttl_ms;
      auto changed = store_->SetExpiry(tickets, expires_at_ms);
      if (!changed.ok()) return ToFlight(changed.status());
      count = static_cast<int64_t>(changed->size());
    }
    return JsonResult(json{{"datasets", count}, {"expires_at_ms", expires_at_ms}}.dump());
  }

  // Flight's RenewFlightEndpoint: the endpoint's dataset lives until the
  // requested expiration_time (the lease of the node's default TTL, or an
  // hour, when none is asked); answers the endpoint with it.
  arrow::Result<std::unique_ptr<fl::ResultStream>> RenewEndpoint(const fl::ServerCallContext& context,
                                                                 const std::shared_ptr<arrow::Buffer>& body) {
    ARROW_ASSIGN_OR_RAISE(auto request,
                          fl::RenewFlightEndpointRequest::Deserialize(body ? body->ToString() : ""));
    ARROW_ASSIGN_OR_RAISE(TicketPart part, tickets_.Redeem(context, request.endpoint.ticket.ticket, Right::kPut));
    ARROW_RETURN_NOT_OK(AllowOnTicket(context, Right::kPut, part.ticket));
    int64_t until_ms = 0;
    if (request.endpoint.expiration_time) {
      until_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     request.endpoint.expiration_time->time_since_epoch())
                     .count();
    } else {
      const auto lease = store_->options().default_ttl.count() > 0 ? store_->options().default_ttl
                                                                     : std::chrono::milliseconds(3'600'000);
      until_ms = UnixMillis() + lease.count();
    }
    auto changed = store_->SetExpiry({part.ticket}, until_ms);
    if (!changed.ok()) return ToFlight(changed.status());
    if (changed->empty()) return TicketNotFound();
    fl::FlightEndpoint endpoint = request.endpoint;
    endpoint.expiration_time = ExpirationOf(changed->front());
    ARROW_ASSIGN_OR_RAISE(std::string answer, endpoint.SerializeToString());
    std::vector<fl::Result> results;
    results.push_back(fl::Result{arrow::Buffer::FromString(std::move(answer))});
    return std::make_unique<fl::SimpleResultStream>(std::move(results));
  }

  // Flight's CancelFlightInfo: the datasets of the info's endpoints are
  // released (dropped) at once; answers CANCEL_STATUS_CANCELLED, or
  // NOT_CANCELLABLE when none of them is (or is any longer) the caller's.
  arrow::Result<std::unique_ptr<fl::ResultStream>> CancelInfo(const fl::ServerCallContext& context,
                                                              const std::shared_ptr<arrow::Buffer>& body) {
    ARROW_ASSIGN_OR_RAISE(auto request, fl::CancelFlightInfoRequest::Deserialize(body ? body->ToString() : ""));
    bool dropped = false;
    if (request.info) {
      for (const auto& endpoint : request.info->endpoints()) {
        auto part = tickets_.Redeem(context, endpoint.ticket.ticket, Right::kDrop);
        if (!part.ok()) continue;
        ARROW_RETURN_NOT_OK(AllowOnTicket(context, Right::kDrop, part->ticket));
        dropped = store_->Drop(part->ticket).ok() || dropped;
      }
    }
    if (dropped) ReturnFreedMemoryAboveBudget(*store_);
    fl::CancelFlightInfoResult answer{dropped ? fl::CancelStatus::kCancelled : fl::CancelStatus::kNotCancellable};
    ARROW_ASSIGN_OR_RAISE(std::string serialized, answer.SerializeToString());
    std::vector<fl::Result> results;
    results.push_back(fl::Result{arrow::Buffer::FromString(std::move(serialized))});
    return std::make_unique<fl::SimpleResultStream>(std::move(results));
  }

  static std::optional<fl::Timestamp> ExpirationOf(const DatasetSummary& summary) {
    if (summary.expires_at_ms == 0) return std::nullopt;
    return fl::Timestamp(std::chrono::duration_cast<fl::Timestamp::duration>(
        std::chrono::milliseconds(summary.expires_at_ms)));
  }

  BatchStore& store() { return *store_; }
  internal::NodeTickets& tickets() { return tickets_; }

  // The node totals and the caller's own usage; other tenants' figures are
  // not shown (they are as invisible as their tickets).
  std::string StatsFor(const std::string& tenant) {
    StoreStats stats = store_->Stats();
    json j = json::parse(stats.ToJson());
    auto usage = stats.tenants.find(tenant);
    json own = json::parse(usage == stats.tenants.end() ? TenantUsage{}.ToJson()
                                                        : usage->second.ToJson());
    own["name"] = tenant;
    j["tenant"] = std::move(own);
    j["tenants"] = stats.tenants.size();
    return j.dump();
  }

  fl::Location location;

 private:
  arrow::Result<DatasetSummary> Find(const fl::ServerCallContext& context,
                                     const DatasetDescriptor& target) {
    if (target.tenant != TenantOf(context)) {
      return arrow::Status::KeyError("no dataset at path '", target.path(), "'");
    }
    auto summary = store_->FindByPath(target.path());
    if (!summary.ok()) return ToFlight(summary.status());
    Note(context, {.dataset = target.dataset});
    ARROW_RETURN_NOT_OK(Allow(context, Right::kGet, target.dataset));
    return summary;
  }

  TenantUsage UsageOf(const std::string& tenant) {
    const StoreStats stats = store_->Stats();
    auto it = stats.tenants.find(tenant);
    return it == stats.tenants.end() ? TenantUsage{} : it->second;
  }

  // RESOURCE_EXHAUSTED when making `ticket` durable would take its tenant's
  // files on disk over the tenant's quota.
  arrow::Status CheckDiskQuota(const fl::ServerCallContext& context, const TicketId& ticket) {
    const std::optional<Quota> quota = QuotaOf(context);
    if (!quota || quota->disk_bytes < 0) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(DatasetSummary summary, ToFlightResult(store_->Describe(ticket)));
    if (summary.durable) return arrow::Status::OK();
    const TenantUsage usage = UsageOf(ticket.tenant);
    if (usage.disk_bytes + summary.bytes <= quota->disk_bytes) return arrow::Status::OK();
    return ToFlight(arrow::Status::CapacityError("tenant '", ticket.tenant, "' is over its disk quota: ",
                                                 usage.disk_bytes, " of ", quota->disk_bytes,
                                                 " bytes on disk, and persisting ", summary.path, " needs ",
                                                 summary.bytes, " more"));
  }

  template <typename T>
  static arrow::Result<T> ToFlightResult(arrow::Result<T> result) {
    if (!result.ok()) return ToFlight(result.status());
    return result;
  }

  // Allow() on the dataset a ticket names; an unknown ticket is NOT_FOUND.
  arrow::Status AllowOnTicket(const fl::ServerCallContext& context, Right right, const TicketId& ticket) {
    auto summary = store_->Describe(ticket);
    if (!summary.ok()) return ToFlight(summary.status());
    Note(context, {.dataset = DatasetOfPath(summary->path), .rows = summary->rows, .bytes = summary->bytes});
    return Allow(context, right, DatasetOfPath(summary->path));
  }

  arrow::Result<std::shared_ptr<arrow::Schema>> SchemaOf(const DatasetSummary& summary) {
    auto schema = store_->GetSchema(summary.ticket);
    if (!schema.ok()) return ToFlight(schema.status());
    return schema;
  }

  // The ticket of an action body {"ticket": "..."}, redeemed for `right`.
  arrow::Result<TicketId> TicketFromBody(const fl::ServerCallContext& context,
                                         const std::shared_ptr<arrow::Buffer>& body, Right right) const {
    ARROW_ASSIGN_OR_RAISE(std::string text, internal::TicketTextOfBody(body));
    ARROW_ASSIGN_OR_RAISE(TicketPart part, tickets_.Redeem(context, text, right));
    if (part.count != 1) return TicketNotFound();  // actions take the dataset's ticket, not a part's
    return part.ticket;
  }

  // A summary as the caller sees it: with its ticket issued to them.
  std::string SummaryJson(const fl::ServerCallContext& context, const DatasetSummary& summary) const {
    json j = json::parse(summary.ToJson());
    j["ticket"] = tickets_.Issue(context, summary.ticket.Encode(), summary.ticket, DatasetOfPath(summary.path));
    return j.dump();
  }

  // One endpoint per part; every one on this node.
  arrow::Result<fl::FlightInfo> MakeInfo(const fl::ServerCallContext& context, const DatasetSummary& summary,
                                         int parts = 1) {
    ARROW_ASSIGN_OR_RAISE(auto schema, SchemaOf(summary));
    std::vector<fl::FlightEndpoint> endpoints(parts);
    for (int i = 0; i < parts; ++i) {
      endpoints[i].ticket.ticket = tickets_.Issue(context, TicketPart{summary.ticket, i, parts}.Encode(), summary.ticket,
                                                  DatasetOfPath(summary.path));
      endpoints[i].locations.push_back(location);
      endpoints[i].expiration_time = ExpirationOf(summary);
    }
    auto slash1 = summary.path.find('/');
    auto slash2 = summary.path.find('/', slash1 + 1);
    auto descriptor = fl::FlightDescriptor::Path(
        {summary.path.substr(0, slash1), summary.path.substr(slash1 + 1, slash2 - slash1 - 1),
         summary.path.substr(slash2 + 1)});
    // app_metadata: the summary (durable, checksum, ...), as a put answers it.
    return fl::FlightInfo::Make(*schema, descriptor, endpoints, summary.rows, summary.bytes,
                                /*ordered=*/true, SummaryJson(context, summary));
  }

  std::unique_ptr<BatchStore> store_;
  const ExchangeTransform exchange_transform_;
  internal::NodeTickets tickets_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace

struct DataNode::Impl {
  DataNodeOptions options;
  std::shared_ptr<AuthState> auth;  // null: no authentication
  std::unique_ptr<DataNodeService> service;
  std::thread serve_thread;
  std::thread gc_thread;

  std::mutex mutex;
  std::condition_variable served_cv;
  bool served = false;     // Serve() returned; guarded by mutex
  bool shut_down = false;  // guarded by mutex
  std::condition_variable shut_down_cv;

  void CollectGarbageUntilShutDown() {
    std::unique_lock<std::mutex> lock(mutex);
    while (!shut_down_cv.wait_for(lock, options.gc_interval, [this] { return shut_down; })) {
      lock.unlock();
      auto dropped = service->store().CollectGarbage();
      if (!dropped.ok()) FD_LOG(kWarning) << "background gc: " << dropped.status().ToString();
      if (dropped.ok() && *dropped > 0) ReturnFreedMemoryAboveBudget(service->store());
      lock.lock();
    }
  }
};

arrow::Result<std::unique_ptr<DataNode>> DataNode::Start(DataNodeOptions options) {
  auto impl = std::make_unique<Impl>();
  ARROW_ASSIGN_OR_RAISE(auto store, BatchStore::Open(options.store));
  if (options.auth && !options.ticket_keys) {
    ARROW_ASSIGN_OR_RAISE(options.ticket_keys, internal::DefaultTicketKeys(options.store.data_dir));
  }
  impl->service = std::make_unique<DataNodeService>(std::move(store), options.exchange_transform,
                                                    options.ticket_keys, options.ticket_ttl);
  // Checked before binding, so a bad --advertise fails without serving.
  ARROW_RETURN_NOT_OK(AdvertisedLocation(options, std::max(options.port, 1)).status());
  ARROW_RETURN_NOT_OK(CheckExposure(options));
  ARROW_ASSIGN_OR_RAISE(auto listen, options.tls.enabled() ? fl::Location::ForGrpcTls(options.host, options.port)
                                                            : fl::Location::ForGrpcTcp(options.host, options.port));
  fl::FlightServerOptions server_options(listen);
  ARROW_RETURN_NOT_OK(ApplyServerTls(options.tls, &server_options));
  std::shared_ptr<AuthState> auth;
  if (options.auth) {
    auth = std::make_shared<AuthState>(options.auth);
    // Flight answers Handshake only with an auth handler; the caller
    // middleware does the authentication, for Handshake and every call.
    server_options.auth_handler = std::make_shared<fl::NoOpAuthHandler>();
  }
  impl->auth = auth;
  server_options.middleware.emplace_back(
      kCallerMiddlewareKey, std::make_shared<CallerMiddlewareFactory>(auth, options.audit, options.audit_fail_open,
                                                                     options.call_observer));
  ARROW_RETURN_NOT_OK(impl->service->Init(server_options));
  ARROW_ASSIGN_OR_RAISE(impl->service->location,
                        AdvertisedLocation(options, impl->service->port()));
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
  impl->gc_thread = std::thread([raw] { raw->CollectGarbageUntilShutDown(); });
  return std::unique_ptr<DataNode>(new DataNode(std::move(impl)));
}

DataNode::DataNode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DataNode::~DataNode() { (void)Shutdown(); }

int DataNode::port() const { return impl_->service->port(); }
const fl::Location& DataNode::location() const { return impl_->service->location; }
size_t DataNode::dataset_count() const {
  return static_cast<size_t>(impl_->service->store().Stats().datasets);
}
StoreStats DataNode::stats() const { return impl_->service->store().Stats(); }

arrow::Status DataNode::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (impl_->shut_down) return arrow::Status::OK();
    impl_->shut_down = true;
  }
  impl_->shut_down_cv.notify_all();
  impl_->gc_thread.join();
  arrow::Status st = impl_->service->Shutdown();
  impl_->serve_thread.join();
  return st;
}

arrow::Status DataNode::ReloadAuth(std::shared_ptr<const AuthConfig> auth) {
  if (!impl_->auth) return arrow::Status::Invalid("this data node runs without an auth config");
  if (!auth) return arrow::Status::Invalid("ReloadAuth: no config");
  impl_->auth->Replace(std::move(auth));
  return arrow::Status::OK();
}

arrow::Status DataNode::ReloadTicketKeys(std::shared_ptr<const KeyRing> keys) {
  return impl_->service->tickets().ReplaceKeys(std::move(keys));
}

arrow::Status DataNode::ReloadKeys(std::shared_ptr<const KeyRing> keys) {
  auto& store = impl_->service->store();
  if (!store.options().keys) return arrow::Status::Invalid("this data node runs without a key file");
  return store.ReplaceKeys(std::move(keys));
}

void DataNode::Wait() {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  impl_->served_cv.wait(lock, [this] { return impl_->served; });
}

}  // namespace flightdeck::flight
