// flightdeck/flight/tenant_middleware.h: how the data node learns the tenant
// of a call.
//
// Until the security layer authenticates callers, the tenant is taken from
// the call header `x-flightdeck-tenant` (kTenantHeader); a call without it
// belongs to the tenant "default". A header that is not a valid tenant name
// (see ValidateTenant) fails the call with INVALID_ARGUMENT before any
// handler runs. Handlers read the result with TenantOf(context). The security
// issue replaces the header with the authenticated identity; handlers do not
// change.
//
//   pyarrow: client.do_get(ticket, flight.FlightCallOptions(
//                headers=[(b"x-flightdeck-tenant", b"acme")]))
#pragma once

#include <memory>
#include <string>

#include <arrow/flight/server_middleware.h>

namespace flightdeck::flight {

/// The call header naming the caller's tenant.
inline constexpr char kTenantHeader[] = "x-flightdeck-tenant";
/// The tenant of calls without kTenantHeader.
inline constexpr char kDefaultTenant[] = "default";
/// The key the middleware is registered under.
inline constexpr char kTenantMiddlewareKey[] = "flightdeck-tenant";

/// Makes one TenantMiddleware per call. Thread-safe (stateless).
class TenantMiddlewareFactory : public arrow::flight::ServerMiddlewareFactory {
 public:
  /// Rejects a call whose header is not a valid tenant with Invalid.
  arrow::Status StartCall(const arrow::flight::CallInfo& info,
                          const arrow::flight::ServerCallContext& context,
                          std::shared_ptr<arrow::flight::ServerMiddleware>* middleware) override;
};

/// Holds the tenant of one call. Immutable once made.
class TenantMiddleware : public arrow::flight::ServerMiddleware {
 public:
  explicit TenantMiddleware(std::string tenant) : tenant_(std::move(tenant)) {}
  const std::string& tenant() const { return tenant_; }

  void SendingHeaders(arrow::flight::AddCallHeaders*) override {}
  void CallCompleted(const arrow::Status&) override {}
  std::string name() const override { return "TenantMiddleware"; }

 private:
  const std::string tenant_;
};

/// The tenant of the call `context` belongs to: the middleware's value, or
/// kDefaultTenant when the server runs without the middleware.
const std::string& TenantOf(const arrow::flight::ServerCallContext& context);

}  // namespace flightdeck::flight
