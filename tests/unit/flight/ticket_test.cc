#include "flightdeck/flight/ticket.h"
#include "flightdeck/flight/ticket_signer.h"

#include <random>
#include <set>

#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"

namespace flightdeck::flight {
namespace {

TEST(TicketTest, NewTicketsAreDistinctAndRoundTrip) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    TicketId ticket = NewTicket("acme");
    EXPECT_EQ(ticket.id.size(), 32u);
    EXPECT_TRUE(seen.insert(ticket.id).second);
    ASSERT_OK_AND_ASSIGN(TicketId decoded, DecodeTicket(ticket.Encode()));
    EXPECT_EQ(decoded, ticket);
  }
}

TEST(TicketTest, MalformedTicketsAreKeyErrorsWithOneMessage) {
  const std::string good = NewTicket("acme").Encode();
  for (std::string bad : {std::string(""), std::string("acme/orders/0"), good.substr(1),
                          good + "0", std::string("fdt1:acme:") + std::string(32, 'G'),
                          std::string("fdt1::") + std::string(32, '0'),
                          std::string("fdt1:a b:") + std::string(32, '0')}) {
    auto decoded = DecodeTicket(bad);
    ASSERT_RAISES(KeyError, decoded);
    EXPECT_EQ(decoded.status().message(), "no dataset for this ticket") << bad;
  }
}

TEST(TicketTest, PartTicketsRoundTripAndWholeTicketsArePartZeroOfOne) {
  const TicketId ticket = NewTicket("acme");
  ASSERT_OK_AND_ASSIGN(TicketPart whole, DecodeTicketPart(ticket.Encode()));
  EXPECT_EQ(whole, (TicketPart{ticket, 0, 1}));
  EXPECT_EQ(whole.Encode(), ticket.Encode());
  for (TicketPart part : {TicketPart{ticket, 0, 2}, TicketPart{ticket, 1, 2},
                          TicketPart{ticket, 63, kMaxTicketParts}}) {
    const std::string wire = part.Encode();
    EXPECT_EQ(wire, ticket.Encode() + ":" + std::to_string(part.index) + "/" +
                        std::to_string(part.count));
    ASSERT_OK_AND_ASSIGN(TicketPart decoded, DecodeTicketPart(wire));
    EXPECT_EQ(decoded, part);
    // A part ticket is not a dataset ticket (actions take only those).
    ASSERT_RAISES(KeyError, DecodeTicket(wire));
  }
}

TEST(TicketTest, MalformedPartTicketsAreKeyErrorsWithOneMessage) {
  const std::string good = NewTicket("acme").Encode();
  for (std::string suffix : {":2/2", ":-1/2", ":0/1", ":0/65", ":01/2", ":+1/2", ":1/02",
                             ":1/", ":/2", ":1/2/3", ":a/2", ":1/2x", "/2"}) {
    auto decoded = DecodeTicketPart(good + suffix);
    ASSERT_RAISES(KeyError, decoded);
    EXPECT_EQ(decoded.status().message(), "no dataset for this ticket") << suffix;
  }
}

TEST(TicketTest, TicketIdBytesRoundTripWithTheFirstByteFromTheFirstDigits) {
  // Pinned: this spelling is the compact wire form of tickets in Temporal
  // history (pipeline/activities.h), so it must not change.
  const std::string id = "00112233445566778899aabbccddeeff";
  const std::string bytes("\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff",
                          kTicketIdBytes);
  ASSERT_OK_AND_ASSIGN(std::string to_bytes, TicketIdToBytes(id));
  EXPECT_EQ(to_bytes, bytes);
  ASSERT_OK_AND_ASSIGN(std::string from_bytes, TicketIdFromBytes(bytes));
  EXPECT_EQ(from_bytes, id);

  // Every byte value, both ways.
  for (int first = 0; first < 256; first += kTicketIdBytes) {
    std::string all(kTicketIdBytes, '\0');
    for (size_t i = 0; i < kTicketIdBytes; ++i) all[i] = static_cast<char>(first + i);
    ASSERT_OK_AND_ASSIGN(std::string hex, TicketIdFromBytes(all));
    ASSERT_OK_AND_ASSIGN(std::string back, TicketIdToBytes(hex));
    EXPECT_EQ(back, all) << hex;
  }
  // A fresh ticket's id too.
  const TicketId ticket = NewTicket("acme");
  ASSERT_OK_AND_ASSIGN(std::string fresh, TicketIdToBytes(ticket.id));
  ASSERT_OK_AND_ASSIGN(std::string fresh_id, TicketIdFromBytes(fresh));
  EXPECT_EQ(fresh_id, ticket.id);
}

TEST(TicketTest, TicketIdsOfTheWrongLengthAreInvalidAndNameTheLength) {
  for (size_t length : {size_t{0}, size_t{31}, size_t{33}, size_t{16}}) {
    auto bytes = TicketIdToBytes(std::string(length, 'a'));
    ASSERT_RAISES(Invalid, bytes);
    EXPECT_NE(bytes.status().message().find("not " + std::to_string(length) + " characters"),
              std::string::npos)
        << bytes.status().message();
  }
  for (size_t length : {size_t{0}, size_t{15}, size_t{17}, size_t{32}}) {
    auto id = TicketIdFromBytes(std::string(length, '\x7f'));
    ASSERT_RAISES(Invalid, id);
    EXPECT_NE(id.status().message().find("not " + std::to_string(length)), std::string::npos)
        << id.status().message();
  }
}

TEST(TicketTest, TicketIdsWithUppercaseOrNonHexDigitsAreInvalidAndNameTheCharacter) {
  const std::string good = "00112233445566778899aabbccddeeff";
  struct Case {
    size_t pos;
    char c;
    std::string named;
  };
  for (const Case& bad :
       {Case{0, 'A', "'A' at position 0"}, Case{31, 'F', "'F' at position 31"},
        Case{7, 'g', "'g' at position 7"}, Case{12, ':', "':' at position 12"},
        Case{20, ' ', "' ' at position 20"}}) {
    std::string id = good;
    id[bad.pos] = bad.c;
    auto bytes = TicketIdToBytes(id);
    ASSERT_RAISES(Invalid, bytes);
    EXPECT_NE(bytes.status().message().find(bad.named), std::string::npos)
        << bytes.status().message();
    // The id itself is a secret and stays out of the message.
    EXPECT_EQ(bytes.status().message().find(good.substr(0, 8)), std::string::npos)
        << bytes.status().message();
  }
}

TEST(TicketTest, TenantNames) {
  ASSERT_OK(ValidateTenant("acme-01_x.y"));
  ASSERT_RAISES(Invalid, ValidateTenant(""));
  ASSERT_RAISES(Invalid, ValidateTenant("a/b"));
  ASSERT_RAISES(Invalid, ValidateTenant(std::string(65, 'a')));
}

TEST(TicketTest, DecodersSurviveRandomAndMutatedInput) {
  // A ticket comes from the network: whatever bytes arrive, decoding answers
  // (a ticket that re-encodes to the same bytes, or KeyError), never crashes.
  std::mt19937_64 random(20261205);
  const std::string seeds[] = {NewTicket("acme").Encode(), TicketPart{NewTicket("t.1_x"), 3, 8}.Encode()};
  int decoded = 0;
  for (int i = 0; i < 100'000; ++i) {
    std::string bytes = seeds[i % 2];
    if (i % 3 == 0) {
      bytes.resize(random() % 96);
      for (char& c : bytes) c = static_cast<char>(random() % 256);
    } else {
      for (int edits = 1 + static_cast<int>(random() % 4); edits > 0 && !bytes.empty(); --edits) {
        const size_t at = random() % bytes.size();
        switch (random() % 3) {
          case 0: bytes[at] = static_cast<char>(random() % 256); break;
          case 1: bytes.erase(at, 1 + random() % 3); break;
          default: bytes.insert(at, 1, ":/0123456789abcdef"[random() % 18]); break;
        }
      }
    }
    auto part = DecodeTicketPart(bytes);
    if (part.ok()) {
      ++decoded;
      EXPECT_EQ(part->Encode(), bytes);
    } else {
      EXPECT_TRUE(part.status().IsKeyError()) << part.status().ToString();
    }
    auto ticket = DecodeTicket(bytes);
    if (ticket.ok()) EXPECT_EQ(ticket->Encode(), bytes);
  }
  EXPECT_GT(decoded, 0);  // some mutations keep a valid ticket
}

TEST(TicketSignerTest, SignedTicketsVerifyAndNoMutationPasses) {
  auto keys = *KeyRing::FromKeys({{"t1", std::string(32, 'k')}, {"t2", std::string(32, 'q')}}, "test");
  TicketSigner signer(keys);
  const TicketId id = NewTicket("acme");
  const std::string signed_ticket = signer.Sign(TicketPart{id, 2, 4}.Encode(), id, kTicketGet | kTicketDrop, 5000);
  ASSERT_OK_AND_ASSIGN(auto redeemed, signer.Verify(signed_ticket, 4999));
  EXPECT_EQ(redeemed.part, (TicketPart{id, 2, 4}));
  EXPECT_EQ(redeemed.rights, kTicketGet | kTicketDrop);
  EXPECT_NE(signer.Verify(signed_ticket, 5000).status().message().find("expired"), std::string::npos);
  EXPECT_NE(signer.Verify(id.Encode(), 0).status().message().find("only signed tickets"), std::string::npos);
  // An older key still verifies after rotation; a ring without it does not.
  TicketSigner older(*KeyRing::FromKeys({{"t1", std::string(32, 'k')}}, "old"));
  const std::string old_ticket = older.Sign(id.Encode(), id, kTicketGet, 0);
  EXPECT_TRUE(signer.Verify(old_ticket, 1).ok());
  EXPECT_FALSE(older.Verify(signer.Sign(id.Encode(), id, kTicketGet, 0), 1).ok());

  std::mt19937_64 random(20261206);
  for (int i = 0; i < 100'000; ++i) {
    std::string bytes = signed_ticket;
    for (int edits = 1 + static_cast<int>(random() % 4); edits > 0 && !bytes.empty(); --edits) {
      const size_t at = random() % bytes.size();
      switch (random() % 3) {
        case 0: bytes[at] = "!:/0123456789abcdefgdprt-_"[random() % 26]; break;
        case 1: bytes.erase(at, 1 + random() % 3); break;
        default: bytes.insert(at, 1, "!:/0123456789abcdefgdprt"[random() % 24]); break;
      }
    }
    auto got = signer.Verify(bytes, 0);
    // Only an edit that leaves the same ticket (e.g. a part number written
    // the same way) may pass; anything else fails its checks.
    if (got.ok()) EXPECT_EQ(got->part.ticket, id) << bytes;
  }
}

}  // namespace
}  // namespace flightdeck::flight
