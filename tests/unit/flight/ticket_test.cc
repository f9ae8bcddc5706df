#include "flightdeck/flight/ticket.h"

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

TEST(TicketTest, TenantNames) {
  ASSERT_OK(ValidateTenant("acme-01_x.y"));
  ASSERT_RAISES(Invalid, ValidateTenant(""));
  ASSERT_RAISES(Invalid, ValidateTenant("a/b"));
  ASSERT_RAISES(Invalid, ValidateTenant(std::string(65, 'a')));
}

}  // namespace
}  // namespace flightdeck::flight
