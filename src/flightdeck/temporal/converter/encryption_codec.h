// flightdeck/temporal/converter/encryption_codec.h: AES-256-GCM payload
// encryption, wire-compatible with the encryption codec of Temporal's
// Python samples (samples-python/encryption): each payload is serialized,
// sealed as 12-byte nonce | ciphertext | 16-byte tag, and carried in a new
// payload with metadata encoding "binary/encrypted" and
// "encryption-key-id". Keys come from a key file (common/file_encryption.h):
// payloads are encrypted with the newest key and decrypted with the key
// their metadata names, so rotation is adding a key.
#pragma once

#include <memory>

#include "flightdeck/common/file_encryption.h"
#include "flightdeck/temporal/converter/payload_codec.h"

namespace flightdeck::temporal {

inline constexpr char kEncryptedEncoding[] = "binary/encrypted";
inline constexpr char kEncryptionKeyIdMetadata[] = "encryption-key-id";

class EncryptionCodec : public PayloadCodec {
 public:
  explicit EncryptionCodec(std::shared_ptr<const KeyRing> keys) : keys_(std::move(keys)) {}

  arrow::Result<std::vector<Payload>> Encode(std::vector<Payload> payloads) const override;
  /// KeyError naming the key id when the key file lacks it; Invalid when a
  /// payload does not authenticate (tampered, or another key of that id).
  arrow::Result<std::vector<Payload>> Decode(std::vector<Payload> payloads) const override;

 private:
  std::shared_ptr<const KeyRing> keys_;
};

}  // namespace flightdeck::temporal
