#include "flightdeck/temporal/converter/payload_converter.h"

#include <google/protobuf/util/json_util.h>

namespace flightdeck::temporal {

std::string_view EncodingOf(const Payload& payload) {
  auto it = payload.metadata().find("encoding");
  if (it == payload.metadata().end()) return {};
  return it->second;
}

namespace internal {

Payload MakePayload(std::string_view encoding, std::string data) {
  Payload payload;
  (*payload.mutable_metadata())["encoding"] = std::string(encoding);
  payload.set_data(std::move(data));
  return payload;
}

// For a payload that a codec encoded (binary/encrypted, ...) and nobody
// decoded: what to do about it.
std::string CodecHint(std::string_view enc) {
  if (enc == encoding::kNull || enc == encoding::kPlain || enc == encoding::kJson ||
      enc == encoding::kProtoJson || enc == encoding::kProtoBinary || enc.empty()) {
    return "";
  }
  return "; it was encoded by a payload codec this client or worker does not have (give it the same "
         "codec, e.g. flightdeck's --codec-key-file)";
}

arrow::Status ExpectEncoding(const Payload& payload, std::string_view expected,
                             std::string_view cpp_type) {
  std::string_view actual = EncodingOf(payload);
  if (actual == expected) return arrow::Status::OK();
  return arrow::Status::Invalid("cannot decode a '", actual.empty() ? "(none)" : actual,
                                "' payload into ", cpp_type, " (expects '", expected, "')", CodecHint(actual));
}

arrow::Result<Payload> ProtoToPayload(const google::protobuf::Message& message,
                                      ProtoEncoding proto_encoding) {
  Payload payload;
  if (proto_encoding == ProtoEncoding::kBinary) {
    payload = MakePayload(encoding::kProtoBinary, message.SerializeAsString());
  } else {
    std::string json;
    auto status = google::protobuf::util::MessageToJsonString(message, &json);
    if (!status.ok()) {
      return arrow::Status::Invalid("cannot encode ", message.GetTypeName(),
                                    " as json/protobuf: ", status.ToString());
    }
    payload = MakePayload(encoding::kProtoJson, std::move(json));
  }
  (*payload.mutable_metadata())["messageType"] = message.GetTypeName();
  return payload;
}

arrow::Status ProtoFromPayload(const Payload& payload, google::protobuf::Message* message) {
  const std::string_view enc = EncodingOf(payload);
  auto type = payload.metadata().find("messageType");
  if (type != payload.metadata().end() && type->second != message->GetTypeName()) {
    return arrow::Status::Invalid("payload holds ", type->second, ", not ",
                                  message->GetTypeName());
  }
  if (enc == encoding::kProtoBinary) {
    if (!message->ParseFromString(payload.data())) {
      return arrow::Status::Invalid("malformed binary/protobuf payload for ",
                                    message->GetTypeName());
    }
    return arrow::Status::OK();
  }
  if (enc == encoding::kProtoJson) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    auto status = google::protobuf::util::JsonStringToMessage(payload.data(), message, options);
    if (!status.ok()) {
      return arrow::Status::Invalid("malformed json/protobuf payload for ",
                                    message->GetTypeName(), ": ", status.ToString());
    }
    return arrow::Status::OK();
  }
  return arrow::Status::Invalid("cannot decode a '", enc.empty() ? "(none)" : enc,
                                "' payload into protobuf ", message->GetTypeName(), CodecHint(enc));
}

arrow::Result<nlohmann::json> JsonFromPayload(const Payload& payload) {
  const std::string_view enc = EncodingOf(payload);
  if (enc == encoding::kNull) return nlohmann::json(nullptr);
  if (enc != encoding::kJson) {
    return arrow::Status::Invalid("cannot decode a '", enc.empty() ? "(none)" : enc,
                                  "' payload as json/plain", CodecHint(enc));
  }
  auto json = nlohmann::json::parse(payload.data(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return arrow::Status::Invalid("malformed json/plain payload: ", payload.data().substr(0, 200));
  }
  return json;
}

}  // namespace internal
}  // namespace flightdeck::temporal
