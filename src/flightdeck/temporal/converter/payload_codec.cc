#include "flightdeck/temporal/converter/payload_codec.h"

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

}  // namespace flightdeck::temporal
