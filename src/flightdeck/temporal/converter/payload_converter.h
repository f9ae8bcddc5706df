// flightdeck/temporal/converter/payload_converter.h: C++ values <-> Temporal
// Payloads, with the encodings the official SDKs share.
//
// | C++ value                               | encoding          |
// |-----------------------------------------|-------------------|
// | std::nullptr_t, std::monostate, nullopt | binary/null       |
// | Bytes                                   | binary/plain      |
// | protobuf messages                       | json/protobuf (or binary/protobuf, see ProtoEncoding) |
// | everything else (nlohmann::json-able)   | json/plain        |
//
// json/plain is compact JSON with sorted object keys, as Python writes it.
// User types convert through nlohmann's to_json/from_json (ADL), so a struct
// shared with Python or Go must agree on its JSON field names.
//
//   struct Order { std::string id; double amount; };
//   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Order, id, amount)
//   ARROW_ASSIGN_OR_RAISE(Payload p, ToPayload(Order{"a", 2.5}));
//   ARROW_ASSIGN_OR_RAISE(Order o, FromPayload<Order>(p));
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>
#include <google/protobuf/message.h>
#include <nlohmann/json.hpp>

#include "temporal/api/common/v1/message.pb.h"

namespace flightdeck::temporal {

using Payload = ::temporal::api::common::v1::Payload;
using Payloads = ::temporal::api::common::v1::Payloads;

/// Names of the standard encodings (metadata["encoding"]).
namespace encoding {
inline constexpr char kNull[] = "binary/null";
inline constexpr char kPlain[] = "binary/plain";
inline constexpr char kJson[] = "json/plain";
inline constexpr char kProtoJson[] = "json/protobuf";
inline constexpr char kProtoBinary[] = "binary/protobuf";
}  // namespace encoding

/// Raw bytes, carried as binary/plain.
struct Bytes {
  std::string data;
  bool operator==(const Bytes&) const = default;
};

/// How protobuf messages are encoded.
enum class ProtoEncoding { kJson, kBinary };

/// The `encoding` metadata of a payload; empty when absent.
std::string_view EncodingOf(const Payload& payload);

namespace internal {

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};

template <typename T>
concept ProtoMessage = std::derived_from<T, google::protobuf::Message>;

Payload MakePayload(std::string_view encoding, std::string data);
arrow::Result<Payload> ProtoToPayload(const google::protobuf::Message& message,
                                      ProtoEncoding proto_encoding);
arrow::Status ProtoFromPayload(const Payload& payload, google::protobuf::Message* message);
arrow::Result<nlohmann::json> JsonFromPayload(const Payload& payload);
arrow::Status ExpectEncoding(const Payload& payload, std::string_view expected,
                             std::string_view cpp_type);

}  // namespace internal

/// Encodes `value`. Fails with Invalid when it cannot be represented (for
/// example a json value holding invalid UTF-8).
template <typename T>
arrow::Result<Payload> ToPayload(const T& value,
                                 ProtoEncoding proto_encoding = ProtoEncoding::kJson) {
  if constexpr (std::is_same_v<T, std::nullptr_t> || std::is_same_v<T, std::monostate>) {
    return internal::MakePayload(encoding::kNull, "");
  } else if constexpr (internal::IsOptional<T>::value) {
    if (!value) return internal::MakePayload(encoding::kNull, "");
    return ToPayload(*value, proto_encoding);
  } else if constexpr (std::is_same_v<T, Bytes>) {
    return internal::MakePayload(encoding::kPlain, value.data);
  } else if constexpr (internal::ProtoMessage<T>) {
    return internal::ProtoToPayload(value, proto_encoding);
  } else {
    try {
      return internal::MakePayload(encoding::kJson, nlohmann::json(value).dump());
    } catch (const nlohmann::json::exception& e) {
      return arrow::Status::Invalid("cannot encode value as json/plain: ", e.what());
    }
  }
}

/// Decodes a payload into T. binary/null decodes into nullptr, monostate and
/// nullopt, and into nothing else. Fails with Invalid naming the encoding and
/// the C++ type when they do not fit, or when the data is malformed.
template <typename T>
arrow::Result<T> FromPayload(const Payload& payload) {
  const std::string_view enc = EncodingOf(payload);
  if constexpr (std::is_same_v<T, std::nullptr_t> || std::is_same_v<T, std::monostate>) {
    ARROW_RETURN_NOT_OK(internal::ExpectEncoding(payload, encoding::kNull, "null"));
    return T{};
  } else if constexpr (internal::IsOptional<T>::value) {
    if (enc == encoding::kNull) return T{std::nullopt};
    ARROW_ASSIGN_OR_RAISE(auto inner, FromPayload<typename T::value_type>(payload));
    return T{std::move(inner)};
  } else if constexpr (std::is_same_v<T, Bytes>) {
    ARROW_RETURN_NOT_OK(internal::ExpectEncoding(payload, encoding::kPlain, "Bytes"));
    return Bytes{payload.data()};
  } else if constexpr (internal::ProtoMessage<T>) {
    T message;
    ARROW_RETURN_NOT_OK(internal::ProtoFromPayload(payload, &message));
    return message;
  } else {
    ARROW_ASSIGN_OR_RAISE(nlohmann::json json, internal::JsonFromPayload(payload));
    try {
      return json.get<T>();
    } catch (const nlohmann::json::exception& e) {
      return arrow::Status::Invalid("json/plain payload ", json.dump(), " does not fit the C++ type: ",
                                    e.what());
    }
  }
}

/// Encodes each argument into one payload, in order (one payload per
/// positional argument, as the protocol requires).
template <typename... Args>
arrow::Result<Payloads> ToPayloads(const Args&... args) {
  Payloads payloads;
  arrow::Status status;
  [[maybe_unused]] auto add = [&](const auto& arg) {  // unused when Args is empty
    if (!status.ok()) return;
    auto payload = ToPayload(arg);
    if (!payload.ok()) {
      status = payload.status();
      return;
    }
    *payloads.add_payloads() = std::move(*payload);
  };
  (add(args), ...);
  ARROW_RETURN_NOT_OK(status);
  return payloads;
}

/// Decodes payload `index` of `payloads` into T; a missing payload decodes as
/// binary/null would (so optional arguments may be omitted by the sender).
template <typename T>
arrow::Result<T> FromPayloads(const Payloads& payloads, int index = 0) {
  if (index < payloads.payloads_size()) return FromPayload<T>(payloads.payloads(index));
  return FromPayload<T>(internal::MakePayload(encoding::kNull, ""));
}

}  // namespace flightdeck::temporal
