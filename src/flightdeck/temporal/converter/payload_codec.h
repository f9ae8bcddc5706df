// flightdeck/temporal/converter/payload_codec.h: byte-level transforms of
// payloads after conversion (compression, encryption).
//
// A codec sees every user payload on the wire: inputs, results, signal and
// query arguments, memo, heartbeat details, failure details. Codecs wrap the
// whole serialized Payload into a new one with their own encoding (the
// official SDKs' convention, e.g. "binary/encrypted"), and on decode touch
// only payloads of that encoding.
#pragma once

#include <memory>
#include <vector>

#include <arrow/result.h>

#include "flightdeck/temporal/converter/payload_converter.h"

namespace flightdeck::temporal {

/// Implementations must be thread-safe: workers call them concurrently.
class PayloadCodec {
 public:
  virtual ~PayloadCodec() = default;
  /// Transforms payloads on their way to the server.
  virtual arrow::Result<std::vector<Payload>> Encode(std::vector<Payload> payloads) const = 0;
  /// Undoes Encode; leaves payloads it does not recognize unchanged.
  virtual arrow::Result<std::vector<Payload>> Decode(std::vector<Payload> payloads) const = 0;
};

/// An ordered list of codecs. As in the official SDKs, Encode runs them from
/// last to first and Decode from first to last, so codecs[0] makes the
/// outermost layer on the wire. Thread-safe once constructed.
class CodecChain {
 public:
  CodecChain() = default;
  explicit CodecChain(std::vector<std::shared_ptr<const PayloadCodec>> codecs)
      : codecs_(std::move(codecs)) {}

  bool empty() const { return codecs_.empty(); }

  arrow::Result<std::vector<Payload>> Encode(std::vector<Payload> payloads) const;
  arrow::Result<std::vector<Payload>> Decode(std::vector<Payload> payloads) const;

  /// Encodes / decodes a Payloads message in place.
  arrow::Status Encode(Payloads* payloads) const;
  arrow::Status Decode(Payloads* payloads) const;

  /// Encodes / decodes, in place, every user payload anywhere inside
  /// `message` (a command, a history event, a whole request): each Payloads
  /// field at any depth (maps and failures' causes included) and memo
  /// values. Headers and search attributes are left alone, as the official
  /// SDKs do (the server and interceptors read them). How a worker applies
  /// the same data converter as its clients.
  arrow::Status EncodeAll(google::protobuf::Message* message) const;
  arrow::Status DecodeAll(google::protobuf::Message* message) const;

 private:
  arrow::Status TransformAll(google::protobuf::Message* message, bool encode) const;
  std::vector<std::shared_ptr<const PayloadCodec>> codecs_;
};

}  // namespace flightdeck::temporal
