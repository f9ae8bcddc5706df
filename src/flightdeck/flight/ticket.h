// flightdeck/flight/ticket.h: opaque dataset tickets.
//
// A ticket names one immutable dataset on one data node. Its bytes are
// "fdt1:" TENANT ":" 32 lowercase hex digits (128 random bits from the OS).
// Clients must treat them as opaque: the format may change. A ticket is only
// valid for its tenant; the data node answers an unknown ticket, a malformed
// one and another tenant's ticket with the same NOT_FOUND.
//
// A part ticket names a share of a dataset's batches, for clients that fetch
// one dataset over several streams at once: GetFlightInfo hands out `count`
// endpoints when a command descriptor asks for them (dataset_descriptor.h),
// each with the ticket "fdt1:" TENANT ":" ID ":" INDEX "/" COUNT. Only DoGet
// accepts part tickets; actions (drop, persist) take the dataset's ticket.
#pragma once

#include <cstddef>
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

/// Most parts one dataset can be fetched in.
inline constexpr int kMaxTicketParts = 64;

/// Part `index` of `count` of a dataset: the batches [index * n / count,
/// (index + 1) * n / count) of its n batches, in order (so parts may be
/// empty when count > n). The whole dataset is part 0 of 1.
struct TicketPart {
  TicketId ticket;
  int index = 0;
  int count = 1;

  /// The wire form: ticket.Encode() for part 0 of 1, otherwise
  /// "fdt1:TENANT:ID:INDEX/COUNT". REQUIRES: 0 <= index < count <=
  /// kMaxTicketParts.
  std::string Encode() const;

  bool operator==(const TicketPart&) const = default;
};

/// Parses the wire bytes of a dataset ticket (part 0 of 1) or of a part
/// ticket. Fails like DecodeTicket for anything else, including parts out
/// of range and numbers not written as Encode writes them.
arrow::Result<TicketPart> DecodeTicketPart(std::string_view bytes);

/// Parses wire bytes. Fails with KeyError (gRPC NOT_FOUND) for anything that
/// is not a well-formed dataset ticket (a part ticket is not one), so that a
/// malformed ticket cannot be told apart from an unknown one.
arrow::Result<TicketId> DecodeTicket(std::string_view bytes);

/// Bytes in a ticket id: the 128 random bits of a ticket.
inline constexpr size_t kTicketIdBytes = 16;

/// The 16 raw bytes (kTicketIdBytes) a ticket id (`TicketId::id`: 32
/// lowercase hex digits) spells, first byte from the first two digits; for
/// compact forms such as Temporal payloads. The inverse of TicketIdFromBytes.
/// Invalid, naming the length or the first offending character and its
/// position (never the whole id), when `id` does not have 32 characters or
/// holds anything but [0-9a-f] (uppercase digits are rejected: a ticket has
/// one spelling). Pure, thread-safe.
arrow::Result<std::string> TicketIdToBytes(std::string_view id);

/// The ticket id (32 lowercase hex digits) of 16 raw bytes: the inverse of
/// TicketIdToBytes. Invalid, naming the length, unless `bytes` has exactly
/// kTicketIdBytes bytes (any values). Pure, thread-safe.
arrow::Result<std::string> TicketIdFromBytes(std::string_view bytes);

/// Tenants are 1 to 64 characters of [A-Za-z0-9_.-]. Invalid names the value
/// otherwise.
arrow::Status ValidateTenant(std::string_view tenant);

}  // namespace flightdeck::flight
