// flightdeck/flight/auth_config.h: who may call a data node and what they
// may do there, from one YAML file (`flightdeck node --auth-config FILE`).
//
//   session_ttl: 1h            # bearer tokens Flight's handshake hands out
//   principals:
//     alice:
//       tokens: ["sha256:9f86d0..."]       # flightdeck auth hash-token
//       password: "pbkdf2-sha256$600000$SALT$HASH"  # flightdeck auth hash-password
//       groups: [engineers]
//   roles:
//     owner:  {actions: [put, get, list, drop, persist, exchange, stats], datasets: ["*"]}
//     reader: {actions: [get, list], datasets: ["orders*"]}
//   bindings:
//     - {role: owner, principals: [alice], tenants: [acme]}
//     - {role: reader, groups: [analysts], tenants: [acme, globex]}
//     - {role: owner, principals: [pipelines], tenants: ["*"]}   # every tenant
//   quotas:
//     acme: {memory_bytes: 512MiB, disk_bytes: 2GiB, datasets: 1000}
//   jwt: {jwks: idp-keys.json, issuer: "https://id.example.com", audience: flightdeck}
//   client_certificates:       # mutual TLS terminated by a proxy (nginx, Envoy) in front of the node
//     proxy_token: "sha256:..."          # the proxy sends x-flightdeck-proxy-token: TOKEN
//     subject_header: x-client-subject   # and the verified certificate's subject DN here
//     subjects: {"CN=alice,O=acme": alice}
//     cn_as_principal: true              # else the subject's CN names the principal
//
// Secrets are stored hashed only: a token as the SHA-256 of its text, a
// password as PBKDF2-HMAC-SHA256 with a salt. A principal may use the tenants
// its bindings (direct, or through a group) name, with the union of their
// roles' actions on datasets matching the roles' patterns (fnmatch globs on
// the dataset name). Nothing is granted otherwise. Bearer JWTs of an
// identity provider (jwt_verifier.h) name their principal and its groups in
// claims; bindings then name those principals and groups.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>

namespace flightdeck::flight {

class JwtVerifier;

/// What a call does, for authorization.
enum class Right { kPut, kGet, kList, kDrop, kPersist, kExchange, kStats, kAdmin };
const char* RightName(Right right);
arrow::Result<Right> ParseRight(std::string_view name);

/// An authenticated caller.
struct Principal {
  std::string name;
  std::vector<std::string> groups;
};

/// What a tenant may hold on a node; -1: no limit. memory_bytes bounds the
/// data it holds in memory plus what a put brings; disk_bytes the files of
/// its datasets on disk plus what a persist writes; datasets their number.
struct Quota {
  int64_t memory_bytes = -1;
  int64_t disk_bytes = -1;
  int64_t datasets = -1;
};

/// What a principal may do within one tenant.
class Grants {
 public:
  /// Everything (a node without an auth config).
  static Grants All();
  bool all() const { return all_; }
  /// Whether `right` is granted on dataset `dataset` (empty: on any).
  bool Allows(Right right, std::string_view dataset) const;
  void Add(const std::set<Right>& rights, const std::vector<std::string>& patterns);

 private:
  bool all_ = false;
  std::vector<std::pair<std::set<Right>, std::vector<std::string>>> grants_;
};

class AuthConfig {
 public:
  /// Invalid naming `origin:LINE:COL` and what is wrong; a secret written
  /// in plain text is refused without echoing it.
  static arrow::Result<std::shared_ptr<const AuthConfig>> Parse(std::string_view yaml, std::string_view origin);
  static arrow::Result<std::shared_ptr<const AuthConfig>> Load(const std::string& path);

  /// The principal holding bearer token `token`, if any.
  std::optional<Principal> FromToken(std::string_view token) const;
  /// The principal of a client certificate that a TLS-terminating proxy
  /// verified: `proxy_token` must be the proxy's (the
  /// `client_certificates:` section), `subject` is the certificate's
  /// subject DN as the proxy forwards it. nullopt otherwise.
  std::optional<Principal> FromClientCertificate(std::string_view proxy_token, std::string_view subject) const;
  /// The headers a proxy forwards a client certificate in; empty without a
  /// `client_certificates:` section.
  const std::string& client_subject_header() const { return client_certs_.subject_header; }
  /// The verifier of bearer JWTs (the `jwt:` section); null without one.
  const JwtVerifier* jwt() const { return jwt_.get(); }
  /// The principal `user` when `password` is theirs.
  std::optional<Principal> FromPassword(std::string_view user, std::string_view password) const;
  /// The tenants `principal` may use, sorted; "*" when a binding names
  /// every tenant (the call then names one with the tenant header).
  std::vector<std::string> TenantsOf(const Principal& principal) const;
  /// What `principal` may do in `tenant` (nothing outside its tenants).
  Grants GrantsOf(const Principal& principal, const std::string& tenant) const;
  std::chrono::seconds session_ttl() const { return session_ttl_; }
  /// The quota of `tenant`, if the config sets one.
  std::optional<Quota> QuotaOf(const std::string& tenant) const;

 private:
  struct Account {
    std::vector<std::string> token_hashes;  // hex SHA-256
    std::string password;                   // "pbkdf2-sha256$ITER$SALT$HASH" or empty
    std::vector<std::string> groups;
  };
  struct Role {
    std::set<Right> rights;
    std::vector<std::string> datasets;
  };
  struct Binding {
    std::string role;
    std::set<std::string> principals, groups, tenants;
  };
  bool Bound(const Binding& binding, const Principal& principal) const;

  std::map<std::string, Account> accounts_;
  std::map<std::string, Role> roles_;
  std::vector<Binding> bindings_;
  std::map<std::string, Quota> quotas_;
  struct ClientCertificates {
    std::string proxy_token_hash;  // hex SHA-256
    std::string subject_header;
    std::map<std::string, std::string> subjects;  // subject DN -> principal
    bool cn_as_principal = false;
  };
  std::chrono::seconds session_ttl_{3600};
  std::shared_ptr<const JwtVerifier> jwt_;
  ClientCertificates client_certs_;
};

/// "sha256:<hex>" of a token, as the config stores it.
std::string HashToken(std::string_view token);
/// "pbkdf2-sha256$600000$<salt>$<hash>" (base64) of a password, fresh salt.
std::string HashPassword(std::string_view password);

}  // namespace flightdeck::flight
