#include "flightdeck/temporal/client/history_export.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <google/protobuf/util/json_util.h>

#include "flightdeck/common/durable_file.h"

namespace flightdeck::temporal {

namespace history_v1 = ::temporal::api::history::v1;

arrow::Result<std::string> HistoryToJson(const history_v1::History& history) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = false;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(history, &json, options);
  if (!status.ok()) {
    return arrow::Status::SerializationError("cannot write history as JSON: ", status.ToString());
  }
  return json;
}

arrow::Result<history_v1::History> HistoryFromJson(std::string_view json) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  history_v1::History history;
  auto status = google::protobuf::util::JsonStringToMessage(json, &history, options);
  if (!status.ok()) {
    return arrow::Status::SerializationError("not a Temporal history JSON: ", status.ToString());
  }
  return history;
}

arrow::Status WriteHistoryJsonFile(const history_v1::History& history, const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(std::string json, HistoryToJson(history));
  auto written = WriteFileAtomically(path, json + "\n");
  if (!written.ok()) return written.WithMessage("cannot write history: ", written.message());
  return arrow::Status::OK();
}

arrow::Result<history_v1::History> ReadHistoryJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return arrow::Status::IOError("cannot read history file ", path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto history = HistoryFromJson(buffer.str());
  if (!history.ok()) return history.status().WithMessage(path, ": ", history.status().message());
  return history;
}

}  // namespace flightdeck::temporal
