// flightdeck/flight/jwt_verifier.h: bearer JWTs from an identity provider,
// checked with libjwt (over OpenSSL) against keys from a key file or a JWKS
// file (the `jwt:` section of an auth config, auth_config.h):
//
//   jwt:
//     jwks: idp-keys.json        # {"keys": [{"kty": "RSA"|"EC"|"oct", "kid": .., ...}]}, or
//     key_file: idp-public.pem   # one PEM public key (RS256 or ES256), or an HS256 secret file
//     issuer: https://id.example.com   # `iss` must equal it (when set)
//     audience: flightdeck             # `aud` must name it (when set)
//     principal_claim: sub             # the principal's name
//     groups_claim: groups             # its groups, bound to roles like configured groups
//     leeway: 30s                      # clock skew allowed on exp and nbf
//
// A token's algorithm must be the one its key is for (HS256 for an `oct`
// key or a secret, RS256 for RSA, ES256 for P-256): "none", a token signed
// with the HMAC of a public key (algorithm confusion) and every other
// algorithm are refused before any signature is checked. `exp` is required.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

#include "flightdeck/flight/auth_config.h"

namespace flightdeck::flight {

/// One verification key.
struct JwtKey {
  /// Empty: matches tokens without a `kid` (and any kid when it is the only key).
  std::string kid;
  /// "HS256", "RS256" or "ES256".
  std::string alg;
  /// The HMAC secret, or the public key in PEM.
  std::string material;
};

struct JwtSettings {
  std::vector<JwtKey> keys;
  std::string issuer;
  std::string audience;
  std::string principal_claim = "sub";
  std::string groups_claim = "groups";
  std::chrono::seconds leeway{30};
};

/// The keys of a JWKS file (RFC 7517): RSA and P-256 EC public keys, and
/// `oct` secrets. Invalid naming the file and the key for anything else.
arrow::Result<std::vector<JwtKey>> LoadJwks(const std::string& path);

/// The key of a key file: a PEM public key (RSA: RS256, P-256: ES256), or
/// else the file's bytes as an HS256 secret (at least 32 bytes).
arrow::Result<JwtKey> LoadJwtKeyFile(const std::string& path);

class JwtVerifier {
 public:
  explicit JwtVerifier(JwtSettings settings) : settings_(std::move(settings)) {}

  /// Whether `token` has the shape of a JWT (three base64url parts).
  static bool LooksLikeJwt(std::string_view token);

  /// The principal of a valid token at unix time `now_s`; Invalid saying
  /// why not (the caller answers UNAUTHENTICATED). Never crashes on any
  /// input.
  arrow::Result<Principal> Verify(std::string_view token, int64_t now_s) const;

  const JwtSettings& settings() const { return settings_; }

 private:
  JwtSettings settings_;
};

}  // namespace flightdeck::flight
