// flightdeck/flight/ticket_signer.h: tickets as capabilities.
//
// A node with ticket keys hands out only signed tickets and redeems only
// signed tickets. A signed ticket is the plain ticket (ticket.h, a part
// ticket included) followed by
//
//   "!" KEY_ID "!" EXPIRES_MS "!" RIGHTS "!" MAC
//
// where RIGHTS are letters of what the ticket may be used for (g: get,
// d: drop, p: persist, r: renew its lease), EXPIRES_MS is unix milliseconds
// (0: as long as the dataset lives) and MAC is HMAC-SHA256 (base64url, first
// 16 bytes) under the key KEY_ID over the tenant, the dataset id, the expiry,
// the rights and the key id. A forged or altered ticket fails its MAC, an
// expired one its expiry, another tenant's the tenant check, whatever the
// store holds. Keys come from a key file (common/file_encryption.h's
// format): the newest signs, all verify, so keys rotate by adding one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <arrow/result.h>

#include "flightdeck/common/file_encryption.h"
#include "flightdeck/flight/auth_config.h"
#include "flightdeck/flight/ticket.h"

namespace flightdeck::flight {

/// What a signed ticket allows, as bits.
enum TicketRight : uint8_t { kTicketGet = 1, kTicketDrop = 2, kTicketPersist = 4, kTicketRenew = 8 };

/// The ticket right a node action needs: get for DoGet, drop, persist, and
/// renew for RenewFlightEndpoint (which the node authorizes as put).
uint8_t TicketRightFor(Right right);

struct RedeemedTicket {
  TicketPart part;
  uint8_t rights = 0;
  int64_t expires_ms = 0;
};

class TicketSigner {
 public:
  explicit TicketSigner(std::shared_ptr<const KeyRing> keys) : keys_(std::move(keys)) {}

  /// `plain` (the wire form of `ticket` or of a part of it) signed with the
  /// newest key.
  std::string Sign(const std::string& plain, const TicketId& ticket, uint8_t rights, int64_t expires_ms) const;

  /// The ticket a signed wire form names, once its MAC, expiry (against
  /// `now_ms`) and form check out. Unauthorized-class errors
  /// (arrow::Status::Invalid tagged by the caller) saying which check failed;
  /// never the MAC or the key.
  arrow::Result<RedeemedTicket> Verify(std::string_view wire, int64_t now_ms) const;

 private:
  std::string Mac(const AtRestKey& key, const TicketId& ticket, int64_t expires_ms, std::string_view rights) const;
  std::shared_ptr<const KeyRing> keys_;
};

}  // namespace flightdeck::flight
