// flightdeck/flight/caller.h: who calls the data node, for which tenant, and
// what they may do there.
//
// Without an auth config (a node on loopback for development), every caller
// may do everything, and the tenant comes from the call header
// `x-flightdeck-tenant` (kTenantHeader; "default" without it).
//
// With one (auth_config.h), every call must authenticate, else UNAUTHENTICATED:
//  - `authorization: Bearer TOKEN`: a token the config holds (hashed), or
//    one a handshake handed out and that has not expired;
//  - Flight's basic-token handshake: Handshake with `authorization: Basic
//    base64(user:password)` answers `authorization: Bearer TOKEN` (pyarrow's
//    authenticate_basic_token) and `x-flightdeck-token-expires` (Unix ms).
// The tenant then comes from the principal: the header only chooses among
// the tenants its bindings name (PERMISSION_DENIED for another one), and may
// be left out when there is one. Handlers check each action with Allow().
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <arrow/flight/server_middleware.h>

#include "flightdeck/flight/audit_log.h"
#include "flightdeck/flight/call_record.h"
#include "flightdeck/flight/auth_config.h"

namespace flightdeck::flight {

/// The call header naming (choosing) the caller's tenant.
inline constexpr char kTenantHeader[] = "x-flightdeck-tenant";
/// The header a TLS-terminating proxy proves itself with (auth_config.h,
/// client_certificates).
inline constexpr char kProxyTokenHeader[] = "x-flightdeck-proxy-token";
/// The tenant of calls without kTenantHeader on a node without auth.
inline constexpr char kDefaultTenant[] = "default";
/// The key the middleware is registered under.
inline constexpr char kCallerMiddlewareKey[] = "flightdeck-caller";
/// The answer header of a handshake: when its bearer token expires (Unix ms).
inline constexpr char kTokenExpiresHeader[] = "x-flightdeck-token-expires";

/// The auth config a node runs with, replaceable while it serves (SIGHUP),
/// and the bearer tokens its handshakes handed out. Thread-safe.
class AuthState {
 public:
  explicit AuthState(std::shared_ptr<const AuthConfig> config) : config_(std::move(config)) {}
  std::shared_ptr<const AuthConfig> config() const;
  /// Calls that start from now on use `config`; calls under way keep theirs.
  void Replace(std::shared_ptr<const AuthConfig> config);
  /// A new bearer token for `principal`, valid for the config's session TTL;
  /// its expiry in Unix ms in *expires_ms.
  std::string IssueToken(const Principal& principal, int64_t* expires_ms);
  /// The principal of an issued, unexpired token.
  std::optional<Principal> FromIssuedToken(std::string_view token);

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const AuthConfig> config_;
  struct Issued {
    Principal principal;
    int64_t expires_ms;
  };
  std::map<std::string, Issued> issued_;  // by SHA-256 of the token
};

/// Makes one CallerMiddleware per call; `auth` null: no authentication.
/// With `audit`, every call (refused ones included) appends one record when
/// it ends; while the log cannot be written, calls are refused UNAVAILABLE
/// unless `audit_fail_open`.

class CallerMiddlewareFactory : public arrow::flight::ServerMiddlewareFactory {
 public:
  CallerMiddlewareFactory(std::shared_ptr<AuthState> auth, std::shared_ptr<AuditLog> audit = nullptr,
                          bool audit_fail_open = false, CallObserver observer = nullptr)
      : auth_(std::move(auth)),
        audit_(std::move(audit)),
        audit_fail_open_(audit_fail_open),
        observer_(std::move(observer)) {}
  arrow::Status StartCall(const arrow::flight::CallInfo& info, const arrow::flight::ServerCallContext& context,
                          std::shared_ptr<arrow::flight::ServerMiddleware>* middleware) override;

 private:
  arrow::Status Identify(const arrow::flight::CallInfo& info, const arrow::flight::ServerCallContext& context,
                         std::shared_ptr<arrow::flight::ServerMiddleware>* middleware);

  std::shared_ptr<AuthState> auth_;
  std::shared_ptr<AuditLog> audit_;
  const bool audit_fail_open_;
  const CallObserver observer_;
};

/// What a call did, for its audit record; handlers fill it in with Note().
struct CallNote {
  std::string action;  // empty: the Flight method
  std::string dataset;
  int64_t rows = -1;
  int64_t bytes = -1;
};

/// The caller of one call. Immutable once made.
class CallerMiddleware : public arrow::flight::ServerMiddleware {
 public:
  CallerMiddleware(std::string principal, std::string tenant, Grants grants, std::string issued_token = "",
                   int64_t expires_ms = 0, std::optional<Quota> quota = std::nullopt)
      : principal_(std::move(principal)),
        tenant_(std::move(tenant)),
        grants_(std::move(grants)),
        quota_(quota),
        issued_token_(std::move(issued_token)),
        expires_ms_(expires_ms) {}
  const std::string& principal() const { return principal_; }
  const std::string& tenant() const { return tenant_; }
  const Grants& grants() const { return grants_; }
  const std::optional<Quota>& quota() const { return quota_; }

  /// Where the call's audit record goes when it ends (the factory sets it).
  /// `trace_id`: the call's W3C trace id (traceparent header), or null.
  void AuditTo(std::shared_ptr<AuditLog> audit, std::string method, std::string peer, nlohmann::json trace_id);
  /// Who is told when the call ends (the factory sets it).
  void ObserveWith(CallObserver observer, std::string method, std::string traceparent, std::string tracestate);
  /// Adds to the call's audit record. Thread-safe.
  void Note(const CallNote& note);

  void SendingHeaders(arrow::flight::AddCallHeaders* headers) override;
  void CallCompleted(const arrow::Status& status) override;
  std::string name() const override { return "CallerMiddleware"; }

 private:
  std::mutex mutex_;
  CallNote note_;
  std::shared_ptr<AuditLog> audit_;
  std::string method_;
  std::string peer_;
  nlohmann::json trace_id_;
  CallObserver observer_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  const std::chrono::system_clock::time_point started_at_ = std::chrono::system_clock::now();
  std::string traceparent_;
  std::string tracestate_;
  const std::string principal_;
  const std::string tenant_;
  const Grants grants_;
  const std::optional<Quota> quota_;
  const std::string issued_token_;  // a handshake's answer
  const int64_t expires_ms_;
};

/// The quota of the caller's tenant, if its auth config sets one.
std::optional<Quota> QuotaOf(const arrow::flight::ServerCallContext& context);

/// Adds `note` to the call's audit record (nothing without the middleware).
void Note(const arrow::flight::ServerCallContext& context, const CallNote& note);

/// The gRPC status name a call ending with `status` answers ("OK",
/// "PERMISSION_DENIED", ...).
std::string GrpcCodeName(const arrow::Status& status);

/// The tenant of the call: the middleware's, or kDefaultTenant without it.
const std::string& TenantOf(const arrow::flight::ServerCallContext& context);

/// OK when the caller may do `right` on dataset `dataset` of its tenant;
/// PERMISSION_DENIED naming the principal, the action and the dataset
/// otherwise.
arrow::Status Allow(const arrow::flight::ServerCallContext& context, Right right, std::string_view dataset);

}  // namespace flightdeck::flight
