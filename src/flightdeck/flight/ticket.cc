#include "flightdeck/flight/ticket.h"

#include <charconv>
#include <cstdint>

#include <arrow/util/string.h>

#include "flightdeck/common/random.h"

namespace flightdeck::flight {

namespace {

constexpr std::string_view kPrefix = "fdt1:";
constexpr size_t kIdHexDigits = 32;

bool IsTenantChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '.' || c == '-';
}

// Ticket ids are lowercase hex. arrow::HexEncode writes and
// arrow::ParseHexValues reads uppercase only, so the digits are spelt here.
constexpr char kLowerHexDigits[] = "0123456789abcdef";

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

std::string TicketId::Encode() const {
  std::string out;
  out.reserve(kPrefix.size() + tenant.size() + 1 + id.size());
  out.append(kPrefix).append(tenant).append(1, ':').append(id);
  return out;
}

TicketId NewTicket(const std::string& tenant) {
  std::string bytes(kTicketIdBytes, '\0');
  FillRandom(bytes.data(), bytes.size());
  // Cannot fail: `bytes` has kTicketIdBytes bytes.
  return TicketId{tenant, TicketIdFromBytes(bytes).ValueOrDie()};
}

arrow::Result<std::string> TicketIdToBytes(std::string_view id) {
  if (id.size() != kIdHexDigits) {
    return arrow::Status::Invalid("ticket id must have ", kIdHexDigits,
                                  " lowercase hex digits, not ", id.size(), " characters");
  }
  const auto value = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string bytes(kTicketIdBytes, '\0');
  for (size_t pos = 0; pos < id.size(); ++pos) {
    if (!IsLowerHex(id[pos])) {
      return arrow::Status::Invalid("ticket id holds '", arrow::Escape(id.substr(pos, 1)),
                                    "' at position ", pos,
                                    ": only lowercase hex digits [0-9a-f] are allowed");
    }
    bytes[pos / 2] = static_cast<char>(bytes[pos / 2] << 4 | value(id[pos]));
  }
  return bytes;
}

arrow::Result<std::string> TicketIdFromBytes(std::string_view bytes) {
  if (bytes.size() != kTicketIdBytes) {
    return arrow::Status::Invalid("ticket id bytes must be ", kTicketIdBytes, " bytes, not ",
                                  bytes.size());
  }
  std::string id;
  id.reserve(kIdHexDigits);
  for (unsigned char byte : bytes) {
    id.push_back(kLowerHexDigits[byte >> 4]);
    id.push_back(kLowerHexDigits[byte & 0xf]);
  }
  return id;
}

arrow::Result<TicketId> DecodeTicket(std::string_view bytes) {
  const auto not_found = [] { return arrow::Status::KeyError("no dataset for this ticket"); };
  if (bytes.substr(0, kPrefix.size()) != kPrefix) return not_found();
  bytes.remove_prefix(kPrefix.size());
  const size_t colon = bytes.rfind(':');
  if (colon == std::string_view::npos) return not_found();
  std::string_view tenant = bytes.substr(0, colon);
  std::string_view id = bytes.substr(colon + 1);
  if (!ValidateTenant(tenant).ok() || !TicketIdToBytes(id).ok()) return not_found();
  return TicketId{std::string(tenant), std::string(id)};
}

std::string TicketPart::Encode() const {
  std::string out = ticket.Encode();
  if (count == 1) return out;
  return out + ":" + std::to_string(index) + "/" + std::to_string(count);
}

arrow::Result<TicketPart> DecodeTicketPart(std::string_view bytes) {
  const size_t colon = bytes.rfind(':');
  const size_t slash = bytes.rfind('/');
  if (colon == std::string_view::npos || slash == std::string_view::npos || slash < colon) {
    ARROW_ASSIGN_OR_RAISE(TicketId whole, DecodeTicket(bytes));
    return TicketPart{std::move(whole), 0, 1};
  }
  const auto not_found = [] { return arrow::Status::KeyError("no dataset for this ticket"); };
  const auto number = [](std::string_view text, int* out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
    return ec == std::errc() && end == text.data() + text.size();
  };
  TicketPart part;
  if (!number(bytes.substr(colon + 1, slash - colon - 1), &part.index) ||
      !number(bytes.substr(slash + 1), &part.count) || part.count < 2 ||
      part.count > kMaxTicketParts || part.index < 0 || part.index >= part.count) {
    return not_found();
  }
  ARROW_ASSIGN_OR_RAISE(part.ticket, DecodeTicket(bytes.substr(0, colon)));
  // One spelling per part: "01/2" or "+1/2" are not tickets.
  if (part.Encode() != bytes) return not_found();
  return part;
}

arrow::Status ValidateTenant(std::string_view tenant) {
  if (tenant.empty() || tenant.size() > 64) {
    return arrow::Status::Invalid("tenant '", tenant, "' must have 1 to 64 characters");
  }
  for (char c : tenant) {
    if (!IsTenantChar(c)) {
      return arrow::Status::Invalid("tenant '", tenant,
                                    "' may only hold letters, digits, '_', '.' and '-'");
    }
  }
  return arrow::Status::OK();
}

}  // namespace flightdeck::flight
