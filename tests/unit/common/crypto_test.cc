// The security layer's hashes and encodings against published vectors.
#include "flightdeck/common/crypto.h"

#include <set>

#include <gtest/gtest.h>

namespace flightdeck {
namespace {

TEST(CryptoTest, KnownVectors) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  EXPECT_EQ(ToHex(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // PBKDF2-HMAC-SHA256, P="password", S="salt", c=1 and c=2 (RFC 7914's companion vectors).
  EXPECT_EQ(ToHex(Pbkdf2Sha256("password", "salt", 1)),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
  EXPECT_EQ(ToHex(Pbkdf2Sha256("password", "salt", 2)),
            "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43");
}

TEST(CryptoTest, Base64RoundTripsAndRefusesWhatIsNotBase64) {
  for (std::string data : {std::string(), std::string("f"), std::string("fo"), std::string("foo"),
                           std::string("foob"), std::string("\0\xff\x10", 3)}) {
    auto back = Base64Decode(Base64Encode(data));
    ASSERT_TRUE(back.has_value()) << data;
    EXPECT_EQ(*back, data);
  }
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_FALSE(Base64Decode("abc").has_value());
  EXPECT_FALSE(Base64Decode("ab!=").has_value());
}

TEST(CryptoTest, ConstantTimeEqualsAndTokens) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  std::set<std::string> tokens;
  for (int i = 0; i < 100; ++i) {
    const std::string token = RandomToken();
    EXPECT_EQ(token.size(), 43u);  // 32 bytes, unpadded base64url
    EXPECT_EQ(token.find_first_of("+/="), std::string::npos);
    tokens.insert(token);
  }
  EXPECT_EQ(tokens.size(), 100u);
}

}  // namespace
}  // namespace flightdeck
