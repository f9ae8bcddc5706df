// The data node's side of its protocol, apart from the service itself:
// store errors as Flight statuses, ticket and name checks, the list of
// actions and their answers.
#include "flightdeck/flight/node_protocol_internal.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <filesystem>

#include <arrow/buffer.h>
#include <arrow/flight/server.h>
#include <arrow/type.h>
#include <arrow/util/key_value_metadata.h>
#include <nlohmann/json.hpp>

#include "flightdeck/common/clock.h"
#include "flightdeck/common/random.h"
#include "flightdeck/flight/caller.h"
#include "flightdeck/flight/dataset_descriptor.h"

namespace flightdeck::flight::internal {

namespace fl = arrow::flight;
using json = nlohmann::json;

namespace {

// gRPC's code for a full node (google.rpc.Code RESOURCE_EXHAUSTED).
constexpr uint32_t kGrpcResourceExhausted = 8;

void AppendVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// A serialized google.rpc.Status{code, message}: gRPC's rich error model, sent
// in the grpc-status-details-bin trailer. Two scalar fields do not justify a
// protobuf dependency in this layer: field 1 (varint), field 2 (bytes).
std::string GrpcStatusDetails(uint32_t code, const std::string& message) {
  std::string out;
  out.push_back(0x08);
  AppendVarint(out, code);
  out.push_back(0x12);
  AppendVarint(out, message.size());
  out += message;
  return out;
}

}  // namespace

// Store errors as Flight statuses: corrupt data and failed disk writes are
// INTERNAL. A full node stays CapacityError (Arrow clients get that code
// back) and carries google.rpc.Status{RESOURCE_EXHAUSTED, message} as the
// Flight extra info: Arrow's gRPC transport cannot send RESOURCE_EXHAUSTED as
// the call's status code (see data_node.h), so this is where clients find it.
arrow::Status ToFlight(const arrow::Status& st) {
  if (st.IsIOError()) return fl::MakeFlightError(fl::FlightStatusCode::Internal, st.message());
  if (st.IsCapacityError()) {
    return st.WithDetail(std::make_shared<fl::FlightStatusDetail>(
        fl::FlightStatusCode::Failed, GrpcStatusDetails(kGrpcResourceExhausted, st.message())));
  }
  return st;
}

// Invalid when the schema's metadata (its own and its fields') exceeds
// kMaxSchemaMetadataBytes: a put stores the schema with every dataset.
arrow::Status CheckMetadataSize(const arrow::Schema& schema) {
  int64_t bytes = 0;
  auto add = [&bytes](const std::shared_ptr<const arrow::KeyValueMetadata>& metadata) {
    if (!metadata) return;
    for (int64_t i = 0; i < metadata->size(); ++i) bytes += metadata->key(i).size() + metadata->value(i).size();
  };
  add(schema.metadata());
  for (const auto& field : schema.fields()) add(field->metadata());
  if (bytes > kMaxSchemaMetadataBytes) {
    return arrow::Status::Invalid("the schema carries ", bytes, " bytes of metadata; at most ",
                                  kMaxSchemaMetadataBytes);
  }
  return arrow::Status::OK();
}

// The dataset name of a "tenant/dataset/partition" path.
std::string DatasetOfPath(const std::string& path) {
  const size_t first = path.find('/');
  const size_t second = path.find('/', first + 1);
  if (first == std::string::npos) return path;
  return path.substr(first + 1, second == std::string::npos ? std::string::npos : second - first - 1);
}

// The same answer for unknown, malformed and foreign tickets.
arrow::Status TicketNotFound() { return arrow::Status::KeyError("no dataset for this ticket"); }

arrow::Result<std::string> TicketTextOfBody(const std::shared_ptr<arrow::Buffer>& body) {
  const std::string text = body ? body->ToString() : "";
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ticket") || !j["ticket"].is_string()) {
    return arrow::Status::Invalid("action body must be {\"ticket\": \"...\"}, got '",
                                  text.substr(0, 200), "'");
  }
  return j["ticket"].get<std::string>();
}

NodeTickets::NodeTickets(std::shared_ptr<const KeyRing> keys, std::chrono::milliseconds ttl)
    : signer_(keys ? std::make_shared<TicketSigner>(keys) : nullptr), keys_(std::move(keys)), ttl_(ttl) {}

std::shared_ptr<const TicketSigner> NodeTickets::Signer() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return signer_;
}

arrow::Status NodeTickets::ReplaceKeys(std::shared_ptr<const KeyRing> keys) {
  if (!keys) return arrow::Status::Invalid("ReplaceKeys: no key ring");
  std::lock_guard<std::mutex> lock(mutex_);
  if (!keys_) return arrow::Status::Invalid("this data node does not sign its tickets");
  for (const auto& key : keys_->keys()) {
    if (keys->Find(key.id) == nullptr) {
      return arrow::Status::Invalid("the ticket key file ", keys->source(), " no longer holds key '", key.id,
                                    "'; keys are rotated by adding one, never by removing");
    }
  }
  signer_ = std::make_shared<TicketSigner>(keys);
  keys_ = std::move(keys);
  return arrow::Status::OK();
}

std::string NodeTickets::Issue(const fl::ServerCallContext& context, const std::string& plain,
                               const TicketId& ticket, const std::string& dataset) const {
  const auto signer = Signer();
  if (!signer) return plain;
  uint8_t rights = 0;
  for (Right right : {Right::kGet, Right::kDrop, Right::kPersist, Right::kPut}) {
    if (Allow(context, right, dataset).ok()) rights |= TicketRightFor(right);
  }
  const int64_t expires_ms = ttl_.count() > 0 ? UnixMillis() + ttl_.count() : 0;
  return signer->Sign(plain, ticket, rights, expires_ms);
}

arrow::Result<TicketPart> NodeTickets::Redeem(const fl::ServerCallContext& context, std::string_view bytes,
                                              Right right) const {
  const auto signer = Signer();
  if (!signer) {
    auto part = DecodeTicketPart(bytes);
    if (!part.ok() || part->ticket.tenant != TenantOf(context)) return TicketNotFound();
    return part;
  }
  auto redeemed = signer->Verify(bytes, UnixMillis());
  if (!redeemed.ok()) return fl::MakeFlightError(fl::FlightStatusCode::Unauthorized, redeemed.status().message());
  if (redeemed->part.ticket.tenant != TenantOf(context)) {
    return fl::MakeFlightError(fl::FlightStatusCode::Unauthorized,
                               "the ticket is for another tenant than '" + TenantOf(context) + "'");
  }
  if ((redeemed->rights & TicketRightFor(right)) == 0) {
    return fl::MakeFlightError(fl::FlightStatusCode::Unauthorized,
                               std::string("the ticket does not allow ") + RightName(right));
  }
  return redeemed->part;
}

arrow::Result<std::shared_ptr<const KeyRing>> DefaultTicketKeys(const std::string& data_dir) {
  if (data_dir.empty()) {
    std::string key(32, '\0');
    FillRandom(key.data(), key.size());
    return KeyRing::FromKeys({{"m1", std::move(key)}}, "(in memory)");
  }
  const std::string path = (std::filesystem::path(data_dir) / "ticket.keys").string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    std::filesystem::create_directories(data_dir, ec);
    ARROW_RETURN_NOT_OK(AddKeyToFile(path, "t1").status());
  }
  return KeyRing::Load(path);
}

// After drop/gc, freed memory goes back to the system only while what the
// node holds plus what malloc keeps exceeds the memory budget. Below it the
// freed memory stays for the next put: profiling puts showed most of their
// time in page faults when every drop handed all freed pages back. (Whether
// free() also trims on its own is the process's malloc policy, which the
// owner of the process sets: `flightdeck node` keeps freed memory.)
void ReturnFreedMemoryAboveBudget(const BatchStore& store) {
#ifdef __GLIBC__
  const StoreStats stats = store.Stats();
  const struct mallinfo2 info = ::mallinfo2();
  const int64_t kept = static_cast<int64_t>(info.fordblks);
  if (stats.memory_used_bytes + kept > stats.memory_budget_bytes) ::malloc_trim(0);
#else
  (void)store;
#endif
}

std::unique_ptr<fl::ResultStream> JsonResult(const std::string& text) {
  std::vector<fl::Result> results;
  results.push_back(fl::Result{arrow::Buffer::FromString(text)});
  return std::make_unique<fl::SimpleResultStream>(std::move(results));
}

const std::vector<fl::ActionType>& Actions() {
  static const std::vector<fl::ActionType> kActions = {
      {"drop", "Drop a dataset. Body: {\"ticket\": T}. Result: {\"dropped\": T}."},
      {"persist", "Make a dataset durable (fsync, manifest). Body: {\"ticket\": T}. "
                  "Result: the dataset summary."},
      {"stats", "Node-wide memory and disk accounting and dataset counts, as JSON, and under "
                "\"tenant\" the caller's own datasets and bytes (memory and disk)."},
      {"health", "{\"status\": \"ok\", ...} while the node serves."},
      {"gc", "Drop expired datasets. Result: {\"dropped\": N}."},
      {"backup", "Copy every durable dataset (files encrypted at rest, and the manifest) to an Arrow "
                 "filesystem URI, incrementally. Body: {\"to\": \"file:///PATH\" or \"s3://BUCKET/PREFIX\"}. "
                 "Result: {\"datasets\": N, \"copied\": n, \"skipped\": s, \"bytes\": b}. Admin."},
      {"expire", "Set when the caller's datasets of the given names (every partition) expire: "
                 "Body: {\"datasets\": [NAME, ...], \"ttl_ms\": T}; T > 0: T ms from now; 0: drop "
                 "them now. Result: {\"datasets\": N, \"expires_at_ms\": t}."},
      fl::ActionType::kRenewFlightEndpoint,
      fl::ActionType::kCancelFlightInfo,
  };
  return kActions;
}

}  // namespace flightdeck::flight::internal
