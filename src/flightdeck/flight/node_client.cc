#include "flightdeck/flight/node_client.h"

#include <map>
#include <mutex>

#include <arrow/buffer.h>
#include <arrow/table.h>

#include "flightdeck/common/trace_context.h"
#include "flightdeck/flight/caller.h"

namespace flightdeck::flight {
namespace {

namespace fl = arrow::flight;
using nlohmann::json;

constexpr char kDatasetLostTypeId[] = "flightdeck::DatasetLost";

// The node answers an unknown ticket or path with NOT_FOUND (KeyError).
arrow::Status LostIfMissing(const arrow::Status& status) {
  return status.IsKeyError() ? DatasetLost("", status) : status;
}

arrow::Result<json> ParseAnswer(const std::string& location, const std::string& what,
                                const std::string& body) {
  json answer = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!answer.is_object()) {
    return arrow::Status::IOError("the data node ", location, " answered ", what,
                                  " with no JSON object: '", body.substr(0, 80), "'");
  }
  return answer;
}

}  // namespace

std::string PutAbortMetadata(const std::string& reason) { return json{{"abort", reason}}.dump(); }

std::optional<std::string> PutAbortReason(const arrow::Buffer& app_metadata) {
  const std::string_view text(reinterpret_cast<const char*>(app_metadata.data()),
                              static_cast<size_t>(app_metadata.size()));
  if (text.rfind("{\"abort\"", 0) != 0) return std::nullopt;
  json message = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!message.is_object() || !message["abort"].is_string()) return std::nullopt;
  return message["abort"].get<std::string>();
}

const char* DatasetLostDetail::type_id() const { return kDatasetLostTypeId; }

std::string DatasetLostDetail::ToString() const { return "dataset lost: " + what_; }

arrow::Status DatasetLost(const std::string& what, const arrow::Status& cause) {
  std::string message = cause.message();
  // Re-labelled (a caller naming what was lost): keep the node's words once.
  constexpr std::string_view kPrefix = "dataset lost: ";
  if (IsDatasetLost(cause) && message.rfind(kPrefix, 0) == 0) {
    const size_t colon = message.find(": ", kPrefix.size());
    message = colon == std::string::npos ? message.substr(kPrefix.size()) : message.substr(colon + 2);
  }
  return arrow::Status(arrow::StatusCode::KeyError,
                       what.empty() ? "dataset lost: " + message : "dataset lost: " + what + ": " + message,
                       std::make_shared<DatasetLostDetail>(what));
}

bool IsDatasetLost(const arrow::Status& status) {
  return status.detail() != nullptr && status.detail()->type_id() == std::string_view(kDatasetLostTypeId);
}

std::optional<std::string> LostDatasetOf(const arrow::Status& status) {
  if (!IsDatasetLost(status)) return std::nullopt;
  return static_cast<const DatasetLostDetail&>(*status.detail()).what();
}

namespace {

// The process's node clients by location, and how they dial TLS.
struct ClientCache {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<NodeClient>> clients;
  ClientTls tls;
  std::string authorization;  // the header's value, or empty
};

ClientCache& Cache() {
  static auto* cache = new ClientCache();
  return *cache;
}

}  // namespace

arrow::Status NodeClient::UseTls(const ClientTls& tls) {
  fl::FlightClientOptions checked = fl::FlightClientOptions::Defaults();
  ARROW_RETURN_NOT_OK(ApplyClientTls(tls, &checked));
  ClientCache& cache = Cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.tls = tls;
  cache.clients.clear();
  return arrow::Status::OK();
}

void NodeClient::UseToken(std::string token) {
  ClientCache& cache = Cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.authorization = token.empty() ? std::string() : "Bearer " + token;
}

arrow::Result<std::shared_ptr<NodeClient>> NodeClient::For(const std::string& location) {
  ClientCache& cache = Cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  auto it = cache.clients.find(location);
  if (it != cache.clients.end()) return it->second;
  ARROW_ASSIGN_OR_RAISE(auto parsed, fl::Location::Parse(location));
  // A node that restarts is dialled again within a second: gRPC's default
  // reconnect back-off grows to two minutes, during which calls on the
  // shared connection would fail at once.
  auto options = fl::FlightClientOptions::Defaults();
  options.generic_options.emplace_back("grpc.initial_reconnect_backoff_ms", 100);
  options.generic_options.emplace_back("grpc.min_reconnect_backoff_ms", 100);
  options.generic_options.emplace_back("grpc.max_reconnect_backoff_ms", 1000);
  if (parsed.scheme() == "grpc+tls") ARROW_RETURN_NOT_OK(ApplyClientTls(cache.tls, &options));
  ARROW_ASSIGN_OR_RAISE(auto client, fl::FlightClient::Connect(parsed, options));
  std::shared_ptr<NodeClient> made(new NodeClient(location, std::move(client)));
  cache.clients.emplace(location, made);
  return made;
}

fl::FlightCallOptions NodeClient::CallOptions(const CallIdentity& who) const {
  fl::FlightCallOptions options;
  options.headers.emplace_back(kTenantHeader, who.tenant);
  ClientCache& cache = Cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  if (!cache.authorization.empty()) options.headers.emplace_back("authorization", cache.authorization);
  // The span the calling thread works for: the node's spans join its trace.
  if (const TraceContext* trace = CurrentTraceContext()) {
    options.headers.emplace_back("traceparent", trace->ToTraceparent());
    if (!trace->tracestate.empty()) options.headers.emplace_back("tracestate", trace->tracestate);
  }
  return options;
}

arrow::Result<DatasetRef> NodeClient::Put(const CallIdentity& who, const fl::FlightDescriptor& descriptor,
                                           arrow::RecordBatchReader& batches) {
  ARROW_ASSIGN_OR_RAISE(PutStreamResult put, PutStream(who, descriptor, batches));
  if (put.server_metadata.empty()) {
    return arrow::Status::IOError("the data node ", location_, " sent no summary for the put");
  }
  return DatasetRefFromNodeSummary(location_, put.server_metadata.front());
}

arrow::Result<PutStreamResult> NodeClient::PutStream(const CallIdentity& who, const fl::FlightDescriptor& descriptor,
                                                     arrow::RecordBatchReader& batches,
                                                     std::shared_ptr<arrow::RecordBatch> first) {
  ARROW_ASSIGN_OR_RAISE(auto put, client_->DoPut(CallOptions(who), descriptor, batches.schema()));
  PutStreamResult result;
  auto sent = [&]() -> arrow::Status {
    std::shared_ptr<arrow::RecordBatch> batch = std::move(first);
    if (!batch) ARROW_RETURN_NOT_OK(batches.ReadNext(&batch));
    while (batch) {
      ARROW_RETURN_NOT_OK(put.writer->WriteRecordBatch(*batch));
      result.rows += batch->num_rows();
      ++result.batches;
      ARROW_RETURN_NOT_OK(batches.ReadNext(&batch));
    }
    return arrow::Status::OK();
  }();
  if (!sent.ok()) {
    // Best effort: the stream may be broken already, and then the node saw
    // no clean end of it either.
    if (put.writer->WriteMetadata(arrow::Buffer::FromString(PutAbortMetadata(sent.message()))).ok()) {
      (void)put.writer->DoneWriting();
    }
    (void)put.writer->Close();
    return sent;
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

arrow::Result<std::unique_ptr<fl::FlightStreamReader>> NodeClient::Get(const CallIdentity& who,
                                                                       const std::string& ticket) {
  auto stream = client_->DoGet(CallOptions(who), fl::Ticket{ticket});
  if (!stream.ok()) return LostIfMissing(stream.status());
  // The node answers an unknown ticket when the stream starts: read the
  // schema now, so that a lost dataset fails here, not in the first batch.
  auto schema = (*stream)->GetSchema();
  if (!schema.ok()) return LostIfMissing(schema.status());
  return std::move(*stream);
}

arrow::Result<std::optional<std::string>> NodeClient::Find(const CallIdentity& who,
                                                           const std::vector<std::string>& path) {
  auto info = client_->GetFlightInfo(CallOptions(who), fl::FlightDescriptor::Path(path));
  if (!info.ok()) {
    if (info.status().IsKeyError()) return std::nullopt;
    return info.status();
  }
  if ((*info)->endpoints().empty()) return std::nullopt;
  return (*info)->endpoints()[0].ticket.ticket;
}

arrow::Result<std::optional<DatasetCopy>> NodeClient::FindCopy(const std::vector<std::string>& holders,
                                                               const CallIdentity& who,
                                                               const std::vector<std::string>& path,
                                                               arrow::Status* unreachable) {
  for (const auto& holder : holders) {
    auto client = For(holder);
    auto ticket = client.ok() ? (*client)->Find(who, path) : arrow::Result<std::optional<std::string>>(client.status());
    if (!ticket.ok()) {
      if (unreachable != nullptr) *unreachable = ticket.status();
      continue;
    }
    if (*ticket) return DatasetCopy{holder, **ticket};
  }
  return std::nullopt;
}

arrow::Result<DatasetRef> NodeClient::Persist(const CallIdentity& who, const std::string& ticket) {
  auto answer = Action(who, "persist", {{"ticket", ticket}});
  if (!answer.ok()) return LostIfMissing(answer.status());
  return DatasetRefFromNodeSummary(location_, answer->dump());
}

arrow::Status NodeClient::Drop(const CallIdentity& who, const std::string& ticket) {
  return LostIfMissing(Action(who, "drop", {{"ticket", ticket}}).status());
}

arrow::Result<int64_t> NodeClient::Expire(const CallIdentity& who, const std::vector<std::string>& datasets,
                                          int64_t ttl_ms) {
  ARROW_ASSIGN_OR_RAISE(json answer, Action(who, "expire", {{"datasets", datasets}, {"ttl_ms", ttl_ms}}));
  return answer.value("datasets", int64_t{0});
}

arrow::Result<json> NodeClient::Stats(const CallIdentity& who) { return Action(who, "stats", json::object()); }

arrow::Result<std::vector<fl::FlightInfo>> NodeClient::List(const CallIdentity& who, const std::string& prefix) {
  fl::Criteria criteria{prefix};
  ARROW_ASSIGN_OR_RAISE(auto listing, client_->ListFlights(CallOptions(who), criteria));
  std::vector<fl::FlightInfo> infos;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto info, listing->Next());
    if (!info) break;
    infos.push_back(std::move(*info));
  }
  return infos;
}

arrow::Result<std::shared_ptr<arrow::Table>> NodeClient::Exchange(const CallIdentity& who, const std::string& command,
                                                                  arrow::RecordBatchReader& input) {
  ARROW_ASSIGN_OR_RAISE(auto exchange,
                        client_->DoExchange(CallOptions(who), fl::FlightDescriptor::Command(command)));
  ARROW_RETURN_NOT_OK(exchange.writer->Begin(input.schema()));
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(input.ReadNext(&batch));
    if (!batch) break;
    ARROW_RETURN_NOT_OK(exchange.writer->WriteRecordBatch(*batch));
  }
  ARROW_RETURN_NOT_OK(exchange.writer->DoneWriting());
  ARROW_ASSIGN_OR_RAISE(auto table, exchange.reader->ToTable());
  ARROW_RETURN_NOT_OK(exchange.writer->Close());
  return table;
}

arrow::Result<json> NodeClient::Action(const CallIdentity& who, const std::string& type, const json& body) {
  ARROW_ASSIGN_OR_RAISE(auto results,
                        client_->DoAction(CallOptions(who), fl::Action{type, arrow::Buffer::FromString(body.dump())}));
  ARROW_ASSIGN_OR_RAISE(auto result, results->Next());
  if (!result) return arrow::Status::IOError("the data node ", location_, " answered ", type, " with nothing");
  ARROW_RETURN_NOT_OK(results->Drain());
  return ParseAnswer(location_, type, result->body->ToString());
}

}  // namespace flightdeck::flight
