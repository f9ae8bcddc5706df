#include "flightdeck/flight/jwt_verifier.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "flightdeck/common/crypto.h"

namespace flightdeck::flight {

namespace {

using json = nlohmann::json;
constexpr size_t kMaxTokenBytes = 16 << 10;

arrow::Result<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return arrow::Status::Invalid("cannot read the ", what, " ", path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string ToPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return pem;
}

// A public key from OpenSSL parameters (RSA n and e, or an EC point).
Pkey FromParams(const char* type, const std::function<void(OSSL_PARAM_BLD*)>& push) {
  OSSL_PARAM_BLD* builder = OSSL_PARAM_BLD_new();
  push(builder);
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(builder);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* key = nullptr;
  if (ctx == nullptr || params == nullptr || EVP_PKEY_fromdata_init(ctx) != 1 ||
      EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    key = nullptr;
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(builder);
  return Pkey(key);
}

// One JWK as a key, or why it is not usable.
arrow::Result<JwtKey> FromJwk(const json& jwk) {
  auto text = [&](const char* name) -> std::optional<std::string> {
    auto it = jwk.find(name);
    if (it == jwk.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  auto bytes = [&](const char* name) -> std::optional<std::string> {
    auto value = text(name);
    return value ? Base64UrlDecode(*value) : std::nullopt;
  };
  JwtKey key;
  key.kid = text("kid").value_or("");
  const std::string kty = text("kty").value_or("");
  const std::string alg = text("alg").value_or("");
  if (kty == "oct") {
    auto k = bytes("k");
    if (!k || k->size() < 32) return arrow::Status::Invalid("an oct key needs \"k\" of at least 32 bytes");
    key.alg = "HS256";
    key.material = *k;
  } else if (kty == "RSA") {
    auto n = bytes("n"), e = bytes("e");
    if (!n || !e) return arrow::Status::Invalid("an RSA key needs \"n\" and \"e\" in base64url");
    BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr);
    BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr);
    Pkey pkey = FromParams("RSA", [&](OSSL_PARAM_BLD* b) {
      OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn_n);
      OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, bn_e);
    });
    BN_free(bn_n);
    BN_free(bn_e);
    if (!pkey) return arrow::Status::Invalid("not a usable RSA public key");
    key.alg = "RS256";
    key.material = ToPem(pkey.get());
  } else if (kty == "EC") {
    auto x = bytes("x"), y = bytes("y");
    if (text("crv").value_or("") != "P-256" || !x || !y || x->size() != 32 || y->size() != 32) {
      return arrow::Status::Invalid("an EC key must be P-256 with 32-byte \"x\" and \"y\"");
    }
    const std::string point = std::string(1, '\x04') + *x + *y;
    Pkey pkey = FromParams("EC", [&](OSSL_PARAM_BLD* b) {
      OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
      OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
    });
    if (!pkey) return arrow::Status::Invalid("not a point on P-256");
    key.alg = "ES256";
    key.material = ToPem(pkey.get());
  } else {
    return arrow::Status::Invalid("key type \"", kty, "\" is not supported (RSA, EC P-256, oct)");
  }
  if (!alg.empty() && alg != key.alg) {
    return arrow::Status::Invalid("\"alg\": \"", alg, "\" does not fit the key (", key.alg, ")");
  }
  return key;
}

struct JwtFree {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};

jwt_alg_t AlgOf(const std::string& alg) {
  if (alg == "HS256") return JWT_ALG_HS256;
  if (alg == "RS256") return JWT_ALG_RS256;
  if (alg == "ES256") return JWT_ALG_ES256;
  return JWT_ALG_INVAL;
}

arrow::Status Refused(const std::string& why) { return arrow::Status::Invalid("JWT refused: ", why); }

}  // namespace

arrow::Result<std::vector<JwtKey>> LoadJwks(const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto text, ReadFile(path, "JWKS file"));
  const json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object() || !root.contains("keys") || !root["keys"].is_array()) {
    return arrow::Status::Invalid("JWKS file ", path, " is not {\"keys\": [...]}");
  }
  std::vector<JwtKey> keys;
  for (size_t i = 0; i < root["keys"].size(); ++i) {
    const json& jwk = root["keys"][i];
    if (!jwk.is_object()) return arrow::Status::Invalid("JWKS file ", path, ": key ", i, " is not an object");
    auto key = FromJwk(jwk);
    if (!key.ok()) {
      return arrow::Status::Invalid("JWKS file ", path, ": key ", i, " (kid '", jwk.value("kid", ""),
                                    "'): ", key.status().message());
    }
    keys.push_back(std::move(*key));
  }
  if (keys.empty()) return arrow::Status::Invalid("JWKS file ", path, " holds no key");
  return keys;
}

arrow::Result<JwtKey> LoadJwtKeyFile(const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto text, ReadFile(path, "JWT key file"));
  JwtKey key;
  if (text.find("-----BEGIN PUBLIC KEY-----") != std::string::npos) {
    BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
    Pkey pkey(PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    if (!pkey) return arrow::Status::Invalid("JWT key file ", path, " is not a readable PEM public key");
    if (EVP_PKEY_is_a(pkey.get(), "RSA")) {
      key.alg = "RS256";
    } else if (EVP_PKEY_is_a(pkey.get(), "EC")) {
      char group[64] = {0};
      size_t size = 0;
      EVP_PKEY_get_utf8_string_param(pkey.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &size);
      if (std::string(group) != "prime256v1") {
        return arrow::Status::Invalid("JWT key file ", path, ": EC keys must be P-256 (ES256), not ", group);
      }
      key.alg = "ES256";
    } else {
      return arrow::Status::Invalid("JWT key file ", path, ": only RSA (RS256) and P-256 (ES256) public keys");
    }
    key.material = ToPem(pkey.get());
    return key;
  }
  if (text.find("PRIVATE KEY") != std::string::npos) {
    return arrow::Status::Invalid("JWT key file ", path, " holds a private key; give the public key only");
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.size() < 32) {
    return arrow::Status::Invalid("JWT key file ", path, ": an HS256 secret needs at least 32 bytes");
  }
  key.alg = "HS256";
  key.material = std::move(text);
  return key;
}

bool JwtVerifier::LooksLikeJwt(std::string_view token) {
  return std::count(token.begin(), token.end(), '.') == 2 && token.rfind("ey", 0) == 0;
}

arrow::Result<Principal> JwtVerifier::Verify(std::string_view token, int64_t now_s) const {
  if (token.size() > kMaxTokenBytes) return Refused("longer than 16 KiB");
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos || token.find('.', dot + 1) == std::string_view::npos) {
    return Refused("not three dot-separated parts");
  }
  auto header_text = Base64UrlDecode(token.substr(0, dot));
  const json header = header_text ? json::parse(*header_text, nullptr, false) : json();
  if (!header.is_object() || !header.contains("alg") || !header["alg"].is_string()) {
    return Refused("its header is not JSON with an \"alg\"");
  }
  const std::string alg = header["alg"].get<std::string>();
  if (AlgOf(alg) == JWT_ALG_INVAL) return Refused("algorithm \"" + alg + "\" is not accepted (HS256, RS256, ES256)");
  const std::string kid = header.contains("kid") && header["kid"].is_string() ? header["kid"].get<std::string>() : "";
  const JwtKey* key = nullptr;
  for (const auto& candidate : settings_.keys) {
    if (candidate.kid == kid || (settings_.keys.size() == 1 && candidate.kid.empty())) key = &candidate;
  }
  if (key == nullptr) return Refused("no key with kid '" + kid + "'");
  if (key->alg != alg) {
    return Refused("it is signed " + alg + " but its key is for " + key->alg + " (algorithm confusion)");
  }
  jwt_t* raw = nullptr;
  const std::string text(token);
  if (jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char*>(key->material.data()),
                 static_cast<int>(key->material.size())) != 0 ||
      raw == nullptr) {
    if (raw != nullptr) jwt_free(raw);
    return Refused("its signature does not verify");
  }
  std::unique_ptr<jwt_t, JwtFree> jwt(raw);
  if (jwt_get_alg(jwt.get()) != AlgOf(alg)) return Refused("its signature does not verify");
  char* grants = jwt_get_grants_json(jwt.get(), nullptr);
  const json claims = grants ? json::parse(grants, nullptr, false) : json();
  std::free(grants);
  if (!claims.is_object()) return Refused("its claims are not a JSON object");
  const int64_t leeway = settings_.leeway.count();
  if (!claims.contains("exp") || !claims["exp"].is_number()) return Refused("it has no \"exp\"");
  if (now_s > claims["exp"].get<double>() + static_cast<double>(leeway)) return Refused("it has expired");
  if (claims.contains("nbf") && (!claims["nbf"].is_number() ||
                                 now_s + leeway < claims["nbf"].get<double>())) {
    return Refused("it is not valid yet (nbf)");
  }
  if (!settings_.issuer.empty() &&
      (!claims.contains("iss") || !claims["iss"].is_string() || claims["iss"] != settings_.issuer)) {
    return Refused("its issuer is not " + settings_.issuer);
  }
  if (!settings_.audience.empty()) {
    const json aud = claims.value("aud", json());
    const bool ok = (aud.is_string() && aud == settings_.audience) ||
                    (aud.is_array() && std::find(aud.begin(), aud.end(), json(settings_.audience)) != aud.end());
    if (!ok) return Refused("its audience does not include " + settings_.audience);
  }
  const json name = claims.value(settings_.principal_claim, json());
  if (!name.is_string() || name.get<std::string>().empty()) {
    return Refused("it has no \"" + settings_.principal_claim + "\" naming the principal");
  }
  Principal principal{name.get<std::string>(), {}};
  const json groups = claims.value(settings_.groups_claim, json());
  if (groups.is_string()) principal.groups.push_back(groups.get<std::string>());
  if (groups.is_array()) {
    for (const auto& group : groups) {
      if (group.is_string()) principal.groups.push_back(group.get<std::string>());
    }
  }
  return principal;
}

}  // namespace flightdeck::flight
