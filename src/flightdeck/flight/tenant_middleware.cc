#include "flightdeck/flight/tenant_middleware.h"

#include <arrow/flight/server.h>

#include "flightdeck/flight/ticket.h"

namespace flightdeck::flight {

namespace fl = arrow::flight;

arrow::Status TenantMiddlewareFactory::StartCall(
    const fl::CallInfo&, const fl::ServerCallContext& context,
    std::shared_ptr<fl::ServerMiddleware>* middleware) {
  std::string tenant = kDefaultTenant;
  auto [it, end] = context.incoming_headers().equal_range(kTenantHeader);
  if (it != end) {
    tenant = std::string(it->second);
    if (arrow::Status valid = ValidateTenant(tenant); !valid.ok()) {
      return arrow::Status::Invalid("header ", kTenantHeader, ": ", valid.message());
    }
  }
  *middleware = std::make_shared<TenantMiddleware>(std::move(tenant));
  return arrow::Status::OK();
}

const std::string& TenantOf(const fl::ServerCallContext& context) {
  static const std::string kDefault = kDefaultTenant;
  auto* middleware =
      dynamic_cast<TenantMiddleware*>(context.GetMiddleware(kTenantMiddlewareKey));
  return middleware ? middleware->tenant() : kDefault;
}

}  // namespace flightdeck::flight
