#include "flightdeck/flight/dataset_ref.h"

#include <arrow/status.h>
#include <arrow/util/base64.h>
#include <nlohmann/json.hpp>

namespace flightdeck::flight {
namespace {

using nlohmann::json;

template <typename T>
arrow::Result<T> Field(const json& obj, const char* name, std::string_view where) {
  auto it = obj.find(name);
  if (it == obj.end()) return arrow::Status::Invalid(where, ": field '", name, "' is missing");
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) {
      return arrow::Status::Invalid(where, ": field '", name, "' must be a string");
    }
  } else {
    if (!it->is_number_integer()) {
      return arrow::Status::Invalid(where, ": field '", name, "' must be an integer");
    }
  }
  return it->get<T>();
}

arrow::Result<json> ParseObject(std::string_view text, std::string_view where) {
  json obj = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (obj.is_discarded() || !obj.is_object()) {
    return arrow::Status::Invalid(where, ": not a JSON object: ", text.substr(0, 200));
  }
  return obj;
}

arrow::Status FillSummary(const json& obj, std::string_view where, DatasetRef* ref) {
  ARROW_ASSIGN_OR_RAISE(ref->rows, Field<int64_t>(obj, "rows", where));
  ARROW_ASSIGN_OR_RAISE(ref->bytes, Field<int64_t>(obj, "bytes", where));
  ARROW_ASSIGN_OR_RAISE(ref->schema_fingerprint,
                        Field<std::string>(obj, "schema_fingerprint", where));
  ARROW_ASSIGN_OR_RAISE(ref->checksum, Field<std::string>(obj, "checksum", where));
  return arrow::Status::OK();
}

}  // namespace

std::string DatasetRef::ToJson() const {
  return json{{"node", node},
              {"ticket", arrow::util::base64_encode(ticket)},
              {"rows", rows},
              {"bytes", bytes},
              {"schema_fingerprint", schema_fingerprint},
              {"checksum", checksum}}
      .dump();
}

arrow::Result<DatasetRef> DatasetRefFromJson(std::string_view text) {
  constexpr std::string_view kWhere = "dataset ref";
  ARROW_ASSIGN_OR_RAISE(json obj, ParseObject(text, kWhere));
  DatasetRef ref;
  ARROW_ASSIGN_OR_RAISE(ref.node, Field<std::string>(obj, "node", kWhere));
  ARROW_ASSIGN_OR_RAISE(auto encoded, Field<std::string>(obj, "ticket", kWhere));
  auto decoded = arrow::util::base64_decode(encoded);
  if (!decoded.ok()) {
    return arrow::Status::Invalid(kWhere, ": field 'ticket' is not base64: ",
                                  encoded.substr(0, 80));
  }
  ref.ticket = std::move(*decoded);
  if (ref.ticket.empty()) return arrow::Status::Invalid(kWhere, ": field 'ticket' is empty");
  ARROW_RETURN_NOT_OK(FillSummary(obj, kWhere, &ref));
  return ref;
}

arrow::Result<DatasetRef> DatasetRefFromNodeSummary(const std::string& node,
                                                    std::string_view summary_json) {
  constexpr std::string_view kWhere = "data node summary";
  ARROW_ASSIGN_OR_RAISE(json obj, ParseObject(summary_json, kWhere));
  DatasetRef ref;
  ref.node = node;
  ARROW_ASSIGN_OR_RAISE(ref.ticket, Field<std::string>(obj, "ticket", kWhere));
  if (ref.ticket.empty()) return arrow::Status::Invalid(kWhere, ": field 'ticket' is empty");
  ARROW_RETURN_NOT_OK(FillSummary(obj, kWhere, &ref));
  if (auto path = obj.find("path"); path != obj.end() && path->is_string()) ref.path = path->get<std::string>();
  if (auto durable = obj.find("durable"); durable != obj.end() && durable->is_boolean()) {
    ref.durable = durable->get<bool>();
  }
  return ref;
}

}  // namespace flightdeck::flight
