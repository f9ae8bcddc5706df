// Bearer JWTs: each accepted algorithm against its key, the refusals an
// attacker tries, and a verifier that survives random and mutated tokens.
#include "flightdeck/flight/jwt_verifier.h"

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "flightdeck/common/crypto.h"
#include "flightdeck/common/testing/gtest_util.h"

namespace flightdeck::flight {
namespace {

constexpr int64_t kNow = 1'800'000'000;
const std::string kSecret = "an-hs256-secret-that-is-32-bytes-or-longer";

std::string Pem(EVP_PKEY* key, bool private_key) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (private_key) {
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PUBKEY(bio, key);
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return pem;
}

// A token signed by libjwt with `key` (a secret or a private key PEM).
std::string Sign(jwt_alg_t alg, const std::string& key, const std::string& claims, const std::string& kid = "") {
  jwt_t* jwt = nullptr;
  jwt_new(&jwt);
  jwt_add_grants_json(jwt, claims.c_str());
  if (!kid.empty()) jwt_add_header(jwt, "kid", kid.c_str());
  jwt_set_alg(jwt, alg, reinterpret_cast<const unsigned char*>(key.data()), static_cast<int>(key.size()));
  char* text = jwt_encode_str(jwt);
  std::string token = text ? text : "";
  free(text);
  jwt_free(jwt);
  return token;
}

std::string Claims(const std::string& extra = "") {
  return R"({"sub": "carol", "groups": ["analysts"], "iss": "idp", "aud": ["flightdeck"], "exp": )" +
         std::to_string(kNow + 300) + extra + "}";
}

class JwtVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EVP_PKEY* rsa = EVP_RSA_gen(2048);
    EVP_PKEY* ec = EVP_EC_gen("P-256");
    rsa_private_ = Pem(rsa, true);
    ec_private_ = Pem(ec, true);
    const auto dir = std::filesystem::temp_directory_path() / ("jwt-test-" + RandomToken(6));
    std::filesystem::create_directories(dir);
    for (auto [name, text] : {std::pair{"rsa.pem", Pem(rsa, false)}, {"ec.pem", Pem(ec, false)}, {"hs.key", kSecret}}) {
      std::ofstream(dir / name) << text;
    }
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    JwtSettings settings{.issuer = "idp", .audience = "flightdeck"};
    for (auto [kid, file] : {std::pair{"r", "rsa.pem"}, {"e", "ec.pem"}, {"h", "hs.key"}}) {
      ASSERT_OK_AND_ASSIGN(auto key, LoadJwtKeyFile((dir / file).string()));
      key.kid = kid;
      settings.keys.push_back(key);
    }
    std::filesystem::remove_all(dir);
    EXPECT_EQ(settings.keys[0].alg, "RS256");
    EXPECT_EQ(settings.keys[1].alg, "ES256");
    EXPECT_EQ(settings.keys[2].alg, "HS256");
    verifier_ = std::make_unique<JwtVerifier>(settings);
  }

  std::string Refusal(const std::string& token) {
    auto got = verifier_->Verify(token, kNow);
    return got.ok() ? "accepted" : got.status().message();
  }

  std::string rsa_private_, ec_private_;
  std::unique_ptr<JwtVerifier> verifier_;
};

TEST_F(JwtVerifierTest, EachAlgorithmVerifiesWithItsKey) {
  for (auto [alg, key, kid] : {std::tuple{JWT_ALG_RS256, rsa_private_, "r"}, {JWT_ALG_ES256, ec_private_, "e"},
                               {JWT_ALG_HS256, kSecret, "h"}}) {
    const std::string token = Sign(alg, key, Claims(), kid);
    ASSERT_TRUE(JwtVerifier::LooksLikeJwt(token)) << token;
    ASSERT_OK_AND_ASSIGN(auto principal, verifier_->Verify(token, kNow));
    EXPECT_EQ(principal.name, "carol");
    EXPECT_EQ(principal.groups, std::vector<std::string>{"analysts"});
  }
}

TEST_F(JwtVerifierTest, RefusesWhatAnAttackerTries) {
  EXPECT_NE(Refusal(Sign(JWT_ALG_RS256, rsa_private_, Claims(), "e")).find("algorithm confusion"), std::string::npos);
  // HS256 made with the RSA public key's PEM as the secret, named as the RSA key.
  const std::string header = Base64UrlEncode(R"({"alg":"HS256","kid":"r"})");
  const std::string body = Base64UrlEncode(Claims());
  EXPECT_NE(Refusal(header + "." + body + "." + Base64UrlEncode(HmacSha256(kSecret, header + "." + body)))
                .find("algorithm confusion"),
            std::string::npos);
  EXPECT_NE(Refusal(Base64UrlEncode(R"({"alg":"none"})") + "." + body + ".").find("not accepted"), std::string::npos);
  EXPECT_NE(Refusal(Sign(JWT_ALG_HS256, kSecret + "x", Claims(), "h")).find("does not verify"), std::string::npos);
  const std::string expired = R"({"sub": "c", "iss": "idp", "aud": "flightdeck", "exp": )" + std::to_string(kNow - 31) + "}";
  EXPECT_NE(Refusal(Sign(JWT_ALG_HS256, kSecret, expired, "h")).find("expired"), std::string::npos);
  const std::string skewed = R"({"sub": "c", "iss": "idp", "aud": "flightdeck", "exp": )" + std::to_string(kNow - 29) + "}";
  EXPECT_EQ(Refusal(Sign(JWT_ALG_HS256, kSecret, skewed, "h")), "accepted");  // within the leeway
  EXPECT_NE(Refusal(Sign(JWT_ALG_HS256, kSecret, Claims(", \"nbf\": " + std::to_string(kNow + 60)), "h"))
                .find("not valid yet"),
            std::string::npos);
  EXPECT_NE(Refusal(Sign(JWT_ALG_HS256, kSecret, R"({"sub": "c", "iss": "idp", "aud": "flightdeck"})", "h"))
                .find("no \"exp\""),
            std::string::npos);
  const std::string other_aud = R"({"sub": "c", "iss": "idp", "aud": "x", "exp": )" + std::to_string(kNow + 9) + "}";
  EXPECT_NE(Refusal(Sign(JWT_ALG_HS256, kSecret, other_aud, "h")).find("audience"), std::string::npos);
  EXPECT_NE(Refusal(Sign(JWT_ALG_HS256, kSecret, Claims(), "zz")).find("no key with kid 'zz'"), std::string::npos);
}

TEST_F(JwtVerifierTest, SurvivesRandomAndMutatedTokens) {
  std::mt19937_64 random(20261206);
  const std::string valid = Sign(JWT_ALG_HS256, kSecret, Claims(), "h");
  const std::string alphabet = "eyJ.-_=+/ABCabc0123{}\":,\\";
  int accepted = 0;
  for (int i = 0; i < 100'000; ++i) {
    std::string token = valid;
    if (i % 2 == 0) {
      const int edits = 1 + static_cast<int>(random() % 6);
      for (int e = 0; e < edits && !token.empty(); ++e) {
        const size_t at = random() % token.size();
        switch (random() % 3) {
          case 0: token[at] = alphabet[random() % alphabet.size()]; break;
          case 1: token.erase(at, 1 + random() % 8); break;
          default: token.insert(at, 1, alphabet[random() % alphabet.size()]); break;
        }
      }
    } else {
      token = "eyJ" + std::string(random() % 96, '\0');
      for (size_t c = 3; c < token.size(); ++c) token[c] = static_cast<char>(random() % 256);
    }
    accepted += verifier_->Verify(token, kNow).ok() ? 1 : 0;
  }
  EXPECT_LT(accepted, 50);  // only edits the base64 padding cannot see survive; none crashes
}

TEST(JwtKeyFileTest, RefusesPrivateKeysAndShortSecrets) {
  const auto dir = std::filesystem::temp_directory_path() / ("jwt-keys-" + RandomToken(6));
  std::filesystem::create_directories(dir);
  EVP_PKEY* rsa = EVP_RSA_gen(2048);
  std::ofstream(dir / "private.pem") << Pem(rsa, true);
  std::ofstream(dir / "short.key") << "too-short";
  EVP_PKEY_free(rsa);
  EXPECT_NE(LoadJwtKeyFile((dir / "private.pem").string()).status().message().find("private key"), std::string::npos);
  EXPECT_NE(LoadJwtKeyFile((dir / "short.key").string()).status().message().find("32 bytes"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace flightdeck::flight
