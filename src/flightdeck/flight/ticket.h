// flightdeck/flight/ticket.h: opaque dataset tickets.
//
// A ticket names one immutable dataset on one data node. Its bytes are
// "fdt1:" TENANT ":" 32 lowercase hex digits (128 random bits from the OS).
// Clients must treat them as opaque: the format may change. A ticket is only
// valid for its tenant; the data node answers an unknown ticket, a malformed
// one and another tenant's ticket with the same NOT_FOUND.
#pragma once

#include <string>
#include <string_view>

#include <arrow/result.h>

namespace flightdeck::flight {

/// A decoded ticket. `id` is the 32 hex digit random part.
struct TicketId {
  std::string tenant;
  std::string id;

  /// The wire form, "fdt1:TENANT:ID".
  std::string Encode() const;

  bool operator==(const TicketId&) const = default;
};

/// A fresh ticket for `tenant` with 128 bits from std::random_device.
/// REQUIRES: ValidateTenant(tenant).ok(). Thread-safe.
TicketId NewTicket(const std::string& tenant);

/// Parses wire bytes. Fails with KeyError (gRPC NOT_FOUND) for anything that
/// is not a well-formed ticket, so that a malformed ticket cannot be told
/// apart from an unknown one.
arrow::Result<TicketId> DecodeTicket(std::string_view bytes);

/// Tenants are 1 to 64 characters of [A-Za-z0-9_.-]. Invalid names the value
/// otherwise.
arrow::Status ValidateTenant(std::string_view tenant);

}  // namespace flightdeck::flight
