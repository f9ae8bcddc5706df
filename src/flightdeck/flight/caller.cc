#include "flightdeck/flight/caller.h"

#include <algorithm>

#include <arrow/flight/server.h>

#include <nlohmann/json.hpp>

#include "flightdeck/common/clock.h"
#include "flightdeck/common/crypto.h"
#include "flightdeck/common/trace_context.h"
#include "flightdeck/flight/jwt_verifier.h"
#include "flightdeck/flight/ticket.h"

namespace flightdeck::flight {

namespace fl = arrow::flight;

namespace {

arrow::Status Unauthenticated(const std::string& why) {
  return fl::MakeFlightError(fl::FlightStatusCode::Unauthenticated, why);
}

arrow::Status Denied(const std::string& why) { return fl::MakeFlightError(fl::FlightStatusCode::Unauthorized, why); }

std::optional<std::string_view> Header(const fl::ServerCallContext& context, const std::string& name) {
  auto [it, end] = context.incoming_headers().equal_range(name);
  if (it == end) return std::nullopt;
  return it->second;
}

// The principal of an `authorization` header value, or why there is none.
arrow::Result<Principal> Authenticate(AuthState& auth, const AuthConfig& config, std::string_view value,
                                      bool handshake) {
  if (value.rfind("Bearer ", 0) == 0) {
    const std::string_view token = value.substr(7);
    if (auto principal = config.FromToken(token)) return *principal;
    if (auto principal = auth.FromIssuedToken(token)) return *principal;
    if (config.jwt() != nullptr && JwtVerifier::LooksLikeJwt(token)) {
      auto principal = config.jwt()->Verify(token, UnixMillis() / 1000);
      if (principal.ok()) return *principal;
      return Unauthenticated(principal.status().message());
    }
    return Unauthenticated("the bearer token is not valid (unknown, revoked or expired)");
  }
  if (value.rfind("Basic ", 0) == 0) {
    if (!handshake) return Unauthenticated("basic credentials go to Handshake, which answers a bearer token");
    auto decoded = Base64Decode(value.substr(6));
    const size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) return Unauthenticated("malformed basic credentials");
    if (auto principal = config.FromPassword(decoded->substr(0, colon), decoded->substr(colon + 1))) {
      return *principal;
    }
    return Unauthenticated("wrong user name or password");
  }
  return Unauthenticated("unsupported authorization scheme (use Bearer, or Basic in Handshake)");
}

// The caller `principal` in the tenant it chose (`chosen`, the tenant
// header) or its only one; a handshake needs no tenant.
arrow::Status IdentifyAs(const AuthConfig& config, const Principal& principal,
                         std::optional<std::string_view> chosen, bool handshake,
                         std::shared_ptr<fl::ServerMiddleware>* middleware) {
  if (handshake) {
    *middleware = std::make_shared<CallerMiddleware>(principal.name, "", Grants());
    return arrow::Status::OK();
  }
  const std::vector<std::string> tenants = config.TenantsOf(principal);
  std::string tenant;
  if (chosen) {
    tenant = std::string(*chosen);
    if (std::find(tenants.begin(), tenants.end(), tenant) == tenants.end() &&
        std::find(tenants.begin(), tenants.end(), "*") == tenants.end()) {
      return Denied("principal '" + principal.name + "' may not use tenant '" + tenant + "'");
    }
  } else if (tenants.size() == 1 && tenants[0] != "*") {
    tenant = tenants[0];
  } else if (tenants.empty()) {
    return Denied("principal '" + principal.name + "' has no tenant");
  } else {
    std::string names;
    for (const auto& t : tenants) names += (names.empty() ? "" : ", ") + t;
    return arrow::Status::Invalid("principal '", principal.name, "' may use several tenants (", names,
                                  "): name one with the header ", kTenantHeader);
  }
  Grants grants = config.GrantsOf(principal, tenant);
  std::optional<Quota> quota = config.QuotaOf(tenant);
  *middleware = std::make_shared<CallerMiddleware>(principal.name, std::move(tenant), std::move(grants), "", 0, quota);
  return arrow::Status::OK();
}

}  // namespace

std::shared_ptr<const AuthConfig> AuthState::config() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return config_;
}

void AuthState::Replace(std::shared_ptr<const AuthConfig> config) {
  std::lock_guard<std::mutex> lock(mutex_);
  config_ = std::move(config);
}

std::string AuthState::IssueToken(const Principal& principal, int64_t* expires_ms) {
  std::string token = RandomToken();
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t now = UnixMillis();
  *expires_ms = now + std::chrono::duration_cast<std::chrono::milliseconds>(config_->session_ttl()).count();
  for (auto it = issued_.begin(); it != issued_.end();) {
    it = it->second.expires_ms <= now ? issued_.erase(it) : std::next(it);
  }
  issued_[Sha256Hex(token)] = Issued{principal, *expires_ms};
  return token;
}

std::optional<Principal> AuthState::FromIssuedToken(std::string_view token) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = issued_.find(Sha256Hex(token));
  if (it == issued_.end() || it->second.expires_ms <= UnixMillis()) return std::nullopt;
  return it->second.principal;
}

static const char* MethodName(fl::FlightMethod method) {
  switch (method) {
    case fl::FlightMethod::Handshake: return "Handshake";
    case fl::FlightMethod::ListFlights: return "ListFlights";
    case fl::FlightMethod::GetFlightInfo: return "GetFlightInfo";
    case fl::FlightMethod::GetSchema: return "GetSchema";
    case fl::FlightMethod::DoGet: return "DoGet";
    case fl::FlightMethod::DoPut: return "DoPut";
    case fl::FlightMethod::DoAction: return "DoAction";
    case fl::FlightMethod::ListActions: return "ListActions";
    case fl::FlightMethod::DoExchange: return "DoExchange";
    case fl::FlightMethod::PollFlightInfo: return "PollFlightInfo";
    default: return "Invalid";
  }
}

std::string GrpcCodeName(const arrow::Status& status) {
  if (status.ok()) return "OK";
  if (auto detail = fl::FlightStatusDetail::UnwrapStatus(status)) {
    switch (detail->code()) {
      case fl::FlightStatusCode::Internal: return "INTERNAL";
      case fl::FlightStatusCode::TimedOut: return "DEADLINE_EXCEEDED";
      case fl::FlightStatusCode::Cancelled: return "CANCELLED";
      case fl::FlightStatusCode::Unauthenticated: return "UNAUTHENTICATED";
      case fl::FlightStatusCode::Unauthorized: return "PERMISSION_DENIED";
      case fl::FlightStatusCode::Unavailable: return "UNAVAILABLE";
      case fl::FlightStatusCode::Failed: break;
    }
  }
  switch (status.code()) {
    case arrow::StatusCode::KeyError: return "NOT_FOUND";
    case arrow::StatusCode::Invalid:
    case arrow::StatusCode::TypeError: return "INVALID_ARGUMENT";
    case arrow::StatusCode::AlreadyExists: return "ALREADY_EXISTS";
    case arrow::StatusCode::NotImplemented: return "UNIMPLEMENTED";
    case arrow::StatusCode::Cancelled: return "CANCELLED";
    case arrow::StatusCode::CapacityError: return "RESOURCE_EXHAUSTED";
    case arrow::StatusCode::IOError: return "UNAVAILABLE";
    default: return "UNKNOWN";
  }
}

namespace {

// The trace id of a W3C traceparent header, or null when there is none or it
// is malformed (the same reading as the node's spans).
nlohmann::json TraceIdOf(const std::string& traceparent) {
  const std::optional<TraceContext> context = TraceContext::FromTraceparent(traceparent);
  return context ? nlohmann::json(context->trace_id) : nlohmann::json(nullptr);
}

}  // namespace

arrow::Status CallerMiddlewareFactory::StartCall(const fl::CallInfo& info, const fl::ServerCallContext& context,
                                                 std::shared_ptr<fl::ServerMiddleware>* middleware) {
  if (audit_ && !audit_fail_open_ && !audit_->healthy()) {
    return fl::MakeFlightError(fl::FlightStatusCode::Unavailable,
                               "the audit log cannot be written, so this node refuses calls (fail closed)");
  }
  const auto started = std::chrono::steady_clock::now();
  const auto started_at = std::chrono::system_clock::now();
  arrow::Status identified = Identify(info, context, middleware);
  const std::string traceparent(Header(context, "traceparent").value_or(""));
  const std::string tracestate(Header(context, "tracestate").value_or(""));
  if (identified.ok()) {
    static_cast<CallerMiddleware*>(middleware->get())
        ->ObserveWith(observer_, MethodName(info.method), traceparent, tracestate);
  } else if (observer_) {
    observer_({.action = MethodName(info.method),
               .code = GrpcCodeName(identified),
               .seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
               .started_at = started_at,
               .traceparent = traceparent,
               .tracestate = tracestate});
  }
  if (!audit_) return identified;
  if (!identified.ok()) {
    // Refused before any handler ran: the record says who tried what.
    nlohmann::json record{{"principal", nullptr}, {"tenant", nullptr}, {"action", MethodName(info.method)},
                          {"code", GrpcCodeName(identified)}, {"peer", context.peer()},
                          {"trace_id", TraceIdOf(traceparent)}};
    (void)audit_->Append(std::move(record));
    return identified;
  }
  static_cast<CallerMiddleware*>(middleware->get())
      ->AuditTo(audit_, MethodName(info.method), context.peer(), TraceIdOf(traceparent));
  return identified;
}

arrow::Status CallerMiddlewareFactory::Identify(const fl::CallInfo& info, const fl::ServerCallContext& context,
                                                std::shared_ptr<fl::ServerMiddleware>* middleware) {
  const std::optional<std::string_view> chosen = Header(context, kTenantHeader);
  if (chosen) {
    if (arrow::Status valid = ValidateTenant(std::string(*chosen)); !valid.ok()) {
      return arrow::Status::Invalid("header ", kTenantHeader, ": ", valid.message());
    }
  }
  if (!auth_) {
    *middleware = std::make_shared<CallerMiddleware>("", chosen ? std::string(*chosen) : kDefaultTenant, Grants::All());
    return arrow::Status::OK();
  }
  const std::shared_ptr<const AuthConfig> config = auth_->config();
  const bool handshake = info.method == fl::FlightMethod::Handshake;
  const std::optional<std::string_view> credentials = Header(context, "authorization");
  if (!credentials && !config->client_subject_header().empty()) {
    // Mutual TLS terminated by a trusted proxy: the certificate's subject.
    const auto proxy_token = Header(context, kProxyTokenHeader);
    const auto subject = Header(context, config->client_subject_header());
    if (proxy_token && subject) {
      auto principal = config->FromClientCertificate(*proxy_token, *subject);
      if (!principal) return Unauthenticated("the client certificate's subject names no principal, or the proxy is not trusted");
      return IdentifyAs(*config, *principal, chosen, handshake, middleware);
    }
  }
  if (!credentials) {
    return Unauthenticated(
        "this data node needs credentials: a bearer token (authorization: Bearer ...) or Flight's basic-token "
        "handshake");
  }
  ARROW_ASSIGN_OR_RAISE(Principal principal, Authenticate(*auth_, *config, *credentials, handshake));
  if (handshake && credentials->rfind("Basic ", 0) == 0) {
    int64_t expires_ms = 0;
    std::string token = auth_->IssueToken(principal, &expires_ms);
    *middleware = std::make_shared<CallerMiddleware>(principal.name, "", Grants(), std::move(token), expires_ms);
    return arrow::Status::OK();
  }
  return IdentifyAs(*config, principal, chosen, handshake, middleware);
}

void CallerMiddleware::AuditTo(std::shared_ptr<AuditLog> audit, std::string method, std::string peer,
                               nlohmann::json trace_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  audit_ = std::move(audit);
  method_ = std::move(method);
  peer_ = std::move(peer);
  trace_id_ = std::move(trace_id);
}

void CallerMiddleware::ObserveWith(CallObserver observer, std::string method, std::string traceparent,
                                   std::string tracestate) {
  std::lock_guard<std::mutex> lock(mutex_);
  observer_ = std::move(observer);
  traceparent_ = std::move(traceparent);
  tracestate_ = std::move(tracestate);
  if (method_.empty()) method_ = std::move(method);
}

void CallerMiddleware::Note(const CallNote& note) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!note.action.empty()) note_.action = note.action;
  if (!note.dataset.empty()) note_.dataset = note.dataset;
  if (note.rows >= 0) note_.rows = note.rows;
  if (note.bytes >= 0) note_.bytes = note.bytes;
}

void CallerMiddleware::CallCompleted(const arrow::Status& status) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (observer_) {
    observer_({.tenant = tenant_,
               .action = note_.action.empty() ? method_ : note_.action,
               .rows = note_.rows,
               .bytes = note_.bytes,
               .code = GrpcCodeName(status),
               .seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count(),
               .started_at = started_at_,
               .dataset = note_.dataset,
               .traceparent = traceparent_,
               .tracestate = tracestate_});
  }
  if (!audit_) return;
  nlohmann::json record{{"principal", principal_.empty() ? nlohmann::json() : nlohmann::json(principal_)},
                        {"tenant", tenant_.empty() ? nlohmann::json() : nlohmann::json(tenant_)},
                        {"action", note_.action.empty() ? method_ : note_.action},
                        {"dataset", note_.dataset.empty() ? nlohmann::json() : nlohmann::json(note_.dataset)},
                        {"rows", note_.rows >= 0 ? nlohmann::json(note_.rows) : nlohmann::json()},
                        {"bytes", note_.bytes >= 0 ? nlohmann::json(note_.bytes) : nlohmann::json()},
                        {"code", GrpcCodeName(status)},
                        {"peer", peer_},
                        {"trace_id", trace_id_}};
  (void)audit_->Append(std::move(record));
}

std::optional<Quota> QuotaOf(const fl::ServerCallContext& context) {
  auto* middleware = dynamic_cast<CallerMiddleware*>(context.GetMiddleware(kCallerMiddlewareKey));
  return middleware ? middleware->quota() : std::nullopt;
}

void Note(const fl::ServerCallContext& context, const CallNote& note) {
  if (auto* middleware = dynamic_cast<CallerMiddleware*>(context.GetMiddleware(kCallerMiddlewareKey))) {
    middleware->Note(note);
  }
}

void CallerMiddleware::SendingHeaders(fl::AddCallHeaders* headers) {
  if (issued_token_.empty()) return;
  headers->AddHeader("authorization", "Bearer " + issued_token_);
  headers->AddHeader(kTokenExpiresHeader, std::to_string(expires_ms_));
}

const std::string& TenantOf(const fl::ServerCallContext& context) {
  static const std::string kDefault = kDefaultTenant;
  auto* middleware = dynamic_cast<CallerMiddleware*>(context.GetMiddleware(kCallerMiddlewareKey));
  return middleware ? middleware->tenant() : kDefault;
}

arrow::Status Allow(const fl::ServerCallContext& context, Right right, std::string_view dataset) {
  auto* middleware = dynamic_cast<CallerMiddleware*>(context.GetMiddleware(kCallerMiddlewareKey));
  if (middleware == nullptr || middleware->grants().Allows(right, dataset)) return arrow::Status::OK();
  return Denied("principal '" + middleware->principal() + "' may not " + RightName(right) + " dataset '" +
                std::string(dataset) + "' of tenant '" + middleware->tenant() + "'");
}

}  // namespace flightdeck::flight
