#include "flightdeck/flight/ticket_signer.h"

#include <charconv>
#include <vector>

#include "flightdeck/common/crypto.h"

namespace flightdeck::flight {

namespace {

constexpr size_t kMacBytes = 16;
constexpr std::pair<uint8_t, char> kLetters[] = {
    {kTicketGet, 'g'}, {kTicketDrop, 'd'}, {kTicketPersist, 'p'}, {kTicketRenew, 'r'}};

std::string Letters(uint8_t rights) {
  std::string out;
  for (auto [bit, letter] : kLetters) {
    if (rights & bit) out.push_back(letter);
  }
  return out;
}

arrow::Result<uint8_t> Bits(std::string_view letters) {
  uint8_t rights = 0;
  size_t next = 0;  // letters come in kLetters order, each once
  for (char c : letters) {
    while (next < std::size(kLetters) && kLetters[next].second != c) ++next;
    if (next == std::size(kLetters)) return arrow::Status::Invalid("the ticket's rights are malformed");
    rights |= kLetters[next++].first;
  }
  return rights;
}

}  // namespace

uint8_t TicketRightFor(Right right) {
  switch (right) {
    case Right::kGet: return kTicketGet;
    case Right::kDrop: return kTicketDrop;
    case Right::kPersist: return kTicketPersist;
    case Right::kPut: return kTicketRenew;
    default: return 0;
  }
}

std::string TicketSigner::Mac(const AtRestKey& key, const TicketId& ticket, int64_t expires_ms,
                              std::string_view rights) const {
  const std::string message = "flightdeck-ticket-v1|" + ticket.tenant + "|" + ticket.id + "|" +
                              std::to_string(expires_ms) + "|" + std::string(rights) + "|" + key.id;
  return Base64UrlEncode(HmacSha256(key.key, message).substr(0, kMacBytes));
}

std::string TicketSigner::Sign(const std::string& plain, const TicketId& ticket, uint8_t rights,
                               int64_t expires_ms) const {
  const AtRestKey& key = keys_->Newest();
  const std::string letters = Letters(rights);
  return plain + "!" + key.id + "!" + std::to_string(expires_ms) + "!" + letters + "!" +
         Mac(key, ticket, expires_ms, letters);
}

arrow::Result<RedeemedTicket> TicketSigner::Verify(std::string_view wire, int64_t now_ms) const {
  std::vector<std::string_view> fields;
  for (size_t start = 0;;) {
    const size_t bang = wire.find('!', start);
    fields.push_back(wire.substr(start, bang == std::string_view::npos ? std::string_view::npos : bang - start));
    if (bang == std::string_view::npos || fields.size() > 5) break;
    start = bang + 1;
  }
  if (fields.size() == 1) return arrow::Status::Invalid("this node redeems only signed tickets (it signs every ticket it hands out)");
  if (fields.size() != 5) return arrow::Status::Invalid("the ticket's signature is malformed");
  auto part = DecodeTicketPart(fields[0]);
  if (!part.ok()) return arrow::Status::Invalid("the ticket is malformed");
  const AtRestKey* key = keys_->Find(fields[1]);
  if (key == nullptr) return arrow::Status::Invalid("the ticket was signed with a key this node does not hold");
  int64_t expires_ms = -1;
  const auto [end, error] = std::from_chars(fields[2].data(), fields[2].data() + fields[2].size(), expires_ms);
  if (error != std::errc() || end != fields[2].data() + fields[2].size() || expires_ms < 0 ||
      std::to_string(expires_ms) != fields[2]) {
    return arrow::Status::Invalid("the ticket's expiry is malformed");
  }
  if (!ConstantTimeEquals(Mac(*key, part->ticket, expires_ms, fields[3]), fields[4])) {
    return arrow::Status::Invalid("the ticket's signature does not verify (forged or altered)");
  }
  ARROW_ASSIGN_OR_RAISE(uint8_t rights, Bits(fields[3]));
  if (expires_ms != 0 && now_ms >= expires_ms) {
    return arrow::Status::Invalid("the ticket expired ", (now_ms - expires_ms) / 1000, " s ago");
  }
  return RedeemedTicket{*std::move(part), rights, expires_ms};
}

}  // namespace flightdeck::flight
