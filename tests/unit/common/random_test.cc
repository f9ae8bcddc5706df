#include "flightdeck/common/random.h"

#include <regex>
#include <set>

#include <gtest/gtest.h>

namespace flightdeck {
namespace {

TEST(RandomTest, UuidsAreVersion4AndDistinct) {
  const std::regex uuid("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewUuidV4();
    ASSERT_TRUE(std::regex_match(id, uuid)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(RandomTest, HexHasTwoDigitsPerByteAndVaries) {
  const std::regex hex("^[0-9a-f]{16}$");
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string text = RandomHex(8);
    ASSERT_TRUE(std::regex_match(text, hex)) << text;
    seen.insert(text);
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(RandomHex(0), "");
}

TEST(RandomTest, UnitIsInHalfOpenRangeAndSpreads) {
  double low = 1, high = 0;
  for (int i = 0; i < 10000; ++i) {
    const double value = RandomUnit();
    ASSERT_GE(value, 0.0);
    ASSERT_LT(value, 1.0);
    low = std::min(low, value);
    high = std::max(high, value);
  }
  // 10,000 uniform draws all above 0.01 (or all below 0.99): p = 0.99^10000.
  EXPECT_LT(low, 0.01);
  EXPECT_GT(high, 0.99);
}

TEST(RandomTest, FillsLargeBuffersCompletely) {
  std::string bytes(1 << 20, '\0');
  FillRandom(bytes.data(), bytes.size());
  // A run of 64 zero bytes in 1 MiB of random bytes has p ~ 2^-500.
  EXPECT_EQ(bytes.find(std::string(64, '\0')), std::string::npos);
}

}  // namespace
}  // namespace flightdeck
