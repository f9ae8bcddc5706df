#include "flightdeck/temporal/converter/payload_codec.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>

namespace flightdeck::temporal {

arrow::Result<std::vector<Payload>> CodecChain::Encode(std::vector<Payload> payloads) const {
  for (auto it = codecs_.rbegin(); it != codecs_.rend(); ++it) {
    ARROW_ASSIGN_OR_RAISE(payloads, (*it)->Encode(std::move(payloads)));
  }
  return payloads;
}

arrow::Result<std::vector<Payload>> CodecChain::Decode(std::vector<Payload> payloads) const {
  for (const auto& codec : codecs_) {
    ARROW_ASSIGN_OR_RAISE(payloads, codec->Decode(std::move(payloads)));
  }
  return payloads;
}

namespace {

template <typename Transform>
arrow::Status InPlace(Payloads* payloads, Transform transform) {
  std::vector<Payload> list(payloads->payloads().begin(), payloads->payloads().end());
  ARROW_ASSIGN_OR_RAISE(list, transform(std::move(list)));
  payloads->clear_payloads();
  for (auto& p : list) *payloads->add_payloads() = std::move(p);
  return arrow::Status::OK();
}

}  // namespace

arrow::Status CodecChain::Encode(Payloads* payloads) const {
  if (empty()) return arrow::Status::OK();
  return InPlace(payloads, [this](std::vector<Payload> l) { return Encode(std::move(l)); });
}

arrow::Status CodecChain::Decode(Payloads* payloads) const {
  if (empty()) return arrow::Status::OK();
  return InPlace(payloads, [this](std::vector<Payload> l) { return Decode(std::move(l)); });
}

namespace {

namespace pb = google::protobuf;

// Calls `on_payloads` for every Payloads message and `on_payload` for every
// memo value inside `message`, depth first.
template <typename OnPayloads, typename OnPayload>
arrow::Status Visit(pb::Message* message, const OnPayloads& on_payloads, const OnPayload& on_payload) {
  const pb::Reflection* reflection = message->GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  reflection->ListFields(*message, &fields);
  for (const pb::FieldDescriptor* field : fields) {
    if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const std::string& type = field->message_type()->full_name();
    if (type == "temporal.api.common.v1.Header" || type == "temporal.api.common.v1.SearchAttributes" ||
        type == "google.protobuf.Any") {
      continue;
    }
    const int count = field->is_repeated() ? reflection->FieldSize(*message, field) : 1;
    for (int i = 0; i < count; ++i) {
      pb::Message* child = field->is_repeated() ? reflection->MutableRepeatedMessage(message, field, i)
                                                : reflection->MutableMessage(message, field);
      if (type == "temporal.api.common.v1.Payloads") {
        ARROW_RETURN_NOT_OK(on_payloads(static_cast<Payloads*>(child)));
      } else if (type == "temporal.api.common.v1.Memo") {
        auto* fields_map = static_cast<::temporal::api::common::v1::Memo*>(child)->mutable_fields();
        for (auto& [key, value] : *fields_map) ARROW_RETURN_NOT_OK(on_payload(&value));
      } else if (type != "temporal.api.common.v1.Payload") {
        ARROW_RETURN_NOT_OK(Visit(child, on_payloads, on_payload));
      }
    }
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Status CodecChain::EncodeAll(google::protobuf::Message* message) const {
  return TransformAll(message, /*encode=*/true);
}

arrow::Status CodecChain::DecodeAll(google::protobuf::Message* message) const {
  return TransformAll(message, /*encode=*/false);
}

arrow::Status CodecChain::TransformAll(google::protobuf::Message* message, bool encode) const {
  if (empty()) return arrow::Status::OK();
  return Visit(
      message, [&](Payloads* p) { return encode ? Encode(p) : Decode(p); },
      [&](Payload* p) -> arrow::Status {
        std::vector<Payload> one{std::move(*p)};
        ARROW_ASSIGN_OR_RAISE(one, encode ? Encode(std::move(one)) : Decode(std::move(one)));
        if (one.size() != 1) return arrow::Status::Invalid("payload codec changed the number of memo payloads");
        *p = std::move(one[0]);
        return arrow::Status::OK();
      });
}

}  // namespace flightdeck::temporal
