#include "flightdeck/temporal/converter/encryption_codec.h"

#include "flightdeck/common/crypto.h"

namespace flightdeck::temporal {

arrow::Result<std::vector<Payload>> EncryptionCodec::Encode(std::vector<Payload> payloads) const {
  const AtRestKey& key = keys_->Newest();
  for (auto& payload : payloads) {
    Payload sealed;
    (*sealed.mutable_metadata())["encoding"] = kEncryptedEncoding;
    (*sealed.mutable_metadata())[kEncryptionKeyIdMetadata] = key.id;
    sealed.set_data(Aes256GcmSeal(key.key, payload.SerializeAsString()));
    payload = std::move(sealed);
  }
  return payloads;
}

arrow::Result<std::vector<Payload>> EncryptionCodec::Decode(std::vector<Payload> payloads) const {
  for (auto& payload : payloads) {
    const auto& metadata = payload.metadata();
    auto encoding = metadata.find("encoding");
    if (encoding == metadata.end() || encoding->second != kEncryptedEncoding) continue;
    auto id = metadata.find(kEncryptionKeyIdMetadata);
    const std::string key_id = id == metadata.end() ? "" : id->second;
    const AtRestKey* key = keys_->Find(key_id);
    if (key == nullptr) {
      return arrow::Status::KeyError("payload encrypted with key '", key_id, "', which the codec key file ",
                                     keys_->source(), " does not hold");
    }
    auto plain = Aes256GcmOpen(key->key, payload.data());
    Payload inner;
    if (!plain || !inner.ParseFromString(*plain)) {
      return arrow::Status::Invalid("payload encrypted with key '", key_id,
                                    "' does not authenticate (tampered, or another key of that id)");
    }
    payload = std::move(inner);
  }
  return payloads;
}

}  // namespace flightdeck::temporal
