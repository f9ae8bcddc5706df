// flightdeck/common/crypto.h: the hashes and encodings the security layer
// needs, all from OpenSSL (EVP, HMAC, PKCS5_PBKDF2_HMAC); none written here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/result.h>

namespace flightdeck {

/// `raw` as lower-case hex digits.
std::string ToHex(std::string_view raw);

/// SHA-256 of `data`, as 64 lower-case hex digits.
std::string Sha256Hex(std::string_view data);

/// HMAC-SHA256 of `data` under `key`, raw (32 bytes).
std::string HmacSha256(std::string_view key, std::string_view data);

/// PBKDF2-HMAC-SHA256 of `password` with `salt`, `iterations` rounds, raw
/// (32 bytes).
std::string Pbkdf2Sha256(std::string_view password, std::string_view salt, int iterations);

/// Equality in time that depends on the lengths only.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

/// Standard base64 (RFC 4648, with padding) and back; nullopt for text that
/// is not base64.
std::string Base64Encode(std::string_view data);
std::optional<std::string> Base64Decode(std::string_view text);
/// Base64url (RFC 4648 section 5) without padding, as JWTs and JWKs spell
/// it, and back; nullopt for text that is not base64url.
std::string Base64UrlEncode(std::string_view data);
std::optional<std::string> Base64UrlDecode(std::string_view text);

/// AES-256-GCM as Temporal's Python samples' encryption codec does it:
/// a fresh random 12-byte nonce, then the ciphertext, then the 16-byte
/// tag. `key` is 32 bytes.
std::string Aes256GcmSeal(std::string_view key, std::string_view plaintext);
/// The plaintext of Aes256GcmSeal's output; nullopt when it does not
/// authenticate under `key` (tampered, truncated or another key).
std::optional<std::string> Aes256GcmOpen(std::string_view key, std::string_view sealed);

/// `bytes` random bytes (getrandom) as unpadded base64url: a bearer token.
std::string RandomToken(size_t bytes = 32);

}  // namespace flightdeck
