// The auth config: grants, credentials, errors that point into the file,
// and a parser that survives random and mutated input.
#include "flightdeck/flight/auth_config.h"

#include <random>

#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"

namespace flightdeck::flight {
namespace {

const std::string kConfig = R"(session_ttl: 30m
principals:
  alice: {tokens: [")" + HashToken("alice-token") + R"("], groups: [engineers]}
  bob: {tokens: [")" + HashToken("bob-token") + R"("]}
roles:
  owner: {actions: [put, get, list, drop, persist, exchange, stats]}
  orders-reader: {actions: [get, list], datasets: ["orders*"]}
  operator: {actions: [admin]}
bindings:
  - {role: owner, principals: [alice], tenants: [acme]}
  - {role: orders-reader, groups: [engineers], tenants: [globex]}
  - {role: orders-reader, principals: [bob], tenants: [globex]}
  - {role: operator, principals: [bob], tenants: [ops]}
)";

TEST(AuthConfigTest, TokensNamePrincipalsWhoseBindingsGrantActionsOnDatasets) {
  ASSERT_OK_AND_ASSIGN(auto config, AuthConfig::Parse(kConfig, "auth.yaml"));
  EXPECT_EQ(config->session_ttl(), std::chrono::minutes(30));
  auto alice = config->FromToken("alice-token");
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->name, "alice");
  EXPECT_FALSE(config->FromToken("alice-token ").has_value());
  EXPECT_FALSE(config->FromToken("").has_value());
  EXPECT_EQ(config->TenantsOf(*alice), (std::vector<std::string>{"acme", "globex"}));

  const Grants acme = config->GrantsOf(*alice, "acme");
  EXPECT_TRUE(acme.Allows(Right::kDrop, "anything"));
  EXPECT_FALSE(acme.Allows(Right::kAdmin, ""));
  const Grants globex = config->GrantsOf(*alice, "globex");  // through the group
  EXPECT_TRUE(globex.Allows(Right::kGet, "orders-2026"));
  EXPECT_FALSE(globex.Allows(Right::kGet, "customers"));
  EXPECT_FALSE(globex.Allows(Right::kPut, "orders-2026"));
  EXPECT_FALSE(config->GrantsOf(*alice, "ops").Allows(Right::kGet, "x"));

  auto bob = config->FromToken("bob-token");
  ASSERT_TRUE(bob.has_value());
  // admin implies every action.
  EXPECT_TRUE(config->GrantsOf(*bob, "ops").Allows(Right::kDrop, "x"));
}

TEST(AuthConfigTest, QuotasPerTenant) {
  ASSERT_OK_AND_ASSIGN(auto config, AuthConfig::Parse("quotas:\n  acme: {memory_bytes: 512MiB, disk_bytes: 2GB, "
                                                      "datasets: 7}\n  globex: {datasets: 0}\n",
                                                      "auth.yaml"));
  auto acme = config->QuotaOf("acme");
  ASSERT_TRUE(acme.has_value());
  EXPECT_EQ(acme->memory_bytes, int64_t{512} << 20);
  EXPECT_EQ(acme->disk_bytes, 2'000'000'000);
  EXPECT_EQ(acme->datasets, 7);
  EXPECT_EQ(config->QuotaOf("globex")->memory_bytes, -1);
  EXPECT_EQ(config->QuotaOf("globex")->datasets, 0);
  EXPECT_FALSE(config->QuotaOf("initech").has_value());
}

TEST(AuthConfigTest, PasswordsAreCheckedAgainstTheirPbkdf2Hash) {
  const std::string config_text =
      "principals: {carol: {password: \"" + HashPassword("correct horse") + "\"}}\n";
  ASSERT_OK_AND_ASSIGN(auto config, AuthConfig::Parse(config_text, "auth.yaml"));
  EXPECT_TRUE(config->FromPassword("carol", "correct horse").has_value());
  EXPECT_FALSE(config->FromPassword("carol", "correct horse ").has_value());
  EXPECT_FALSE(config->FromPassword("dave", "correct horse").has_value());
  EXPECT_NE(HashPassword("x"), HashPassword("x"));  // a fresh salt each time
}

TEST(AuthConfigTest, ErrorsPointIntoTheFileAndNeverEchoASecret) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"principals:\n  a: {tokens: [\"plain-secret\"]}\n", "auth.yaml:2:"},
      {"principals:\n  a: {password: \"plain-secret\"}\n", "store passwords hashed"},
      {"roles: {r: {actions: [get, fly]}}\n", "auth.yaml:1:"},
      {"bindings:\n  - {role: r, principals: [a], tenants: [t]}\n", "no role named 'r'"},
      {"roles: {r: {actions: [get]}}\nbindings:\n  - {role: r, principals: [ghost], tenants: [t]}\n",
       "no principal named 'ghost'"},
      {"roles: {r: {actions: [get]}}\nprincipals: {a: {}}\nbindings:\n  - {role: r, principals: [a]}\n",
       "needs the tenants"},
      {"session_ttl: soon\n", "session_ttl must be a duration"},
      {"sesion_ttl: 1h\n", "unknown key 'sesion_ttl'"},
      {"principals: [\n", "auth.yaml:"},
      {"quotas: {acme: {memory_bytes: lots}}\n", "must be a size"},
      {"quotas: {acme: {datasets: -1}}\n", "whole number"},
      {"quotas: {acme: {files: 3}}\n", "unknown key 'files'"},
      {"", "the auth config is empty"},
  };
  for (const auto& [text, expected] : cases) {
    auto parsed = AuthConfig::Parse(text, "auth.yaml");
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_NE(parsed.status().message().find(expected), std::string::npos) << parsed.status().ToString();
    EXPECT_EQ(parsed.status().message().find("plain-secret"), std::string::npos) << parsed.status().ToString();
  }
}

TEST(AuthConfigTest, ClientCertificatesForwardedByATrustedProxyNamePrincipals) {
  const std::string config = R"(client_certificates:
  proxy_token: ")" + HashToken("proxy-secret") + R"("
  subjects: {"CN=svc,O=ops": loader}
  cn_as_principal: true
principals:
  alice: {groups: [engineers]}
roles:
  owner: {actions: [put, get]}
bindings:
  - {role: owner, principals: [loader, carol], tenants: [acme]}
)";
  ASSERT_OK_AND_ASSIGN(auto auth, AuthConfig::Parse(config, "test.yaml"));
  EXPECT_EQ(auth->client_subject_header(), "x-client-subject");
  EXPECT_EQ(auth->FromClientCertificate("proxy-secret", "CN=svc,O=ops")->name, "loader");
  auto alice = auth->FromClientCertificate("proxy-secret", "O=acme,CN=alice");
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->groups, std::vector<std::string>{"engineers"});
  EXPECT_FALSE(auth->FromClientCertificate("guessed", "CN=alice").has_value());
  EXPECT_FALSE(auth->FromClientCertificate("proxy-secret", "O=nobody").has_value());
  // The proxy's token in clear is refused without being echoed.
  auto plain = AuthConfig::Parse("client_certificates: {proxy_token: hunter2}\n", "bad.yaml");
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.status().message().find("hunter2"), std::string::npos);
}

TEST(AuthConfigTest, SurvivesRandomAndMutatedInput) {
  std::mt19937_64 random(20261205);
  const std::string alphabet = "abz:{}[]-\"', \n\t#&*!|>%@`$0123456789\\";
  int parsed = 0;
  for (int i = 0; i < 100'000; ++i) {
    std::string text = kConfig;
    if (i % 2 == 0) {
      const int edits = 1 + static_cast<int>(random() % 8);
      for (int e = 0; e < edits && !text.empty(); ++e) {
        const size_t at = random() % text.size();
        switch (random() % 3) {
          case 0: text[at] = alphabet[random() % alphabet.size()]; break;
          case 1: text.erase(at, 1 + random() % 4); break;
          default: text.insert(at, 1, alphabet[random() % alphabet.size()]); break;
        }
      }
    } else {
      text.resize(random() % 64);
      for (char& c : text) c = static_cast<char>(random() % 256);
    }
    parsed += AuthConfig::Parse(text, "fuzz.yaml").ok() ? 1 : 0;
  }
  EXPECT_GT(parsed, 0);  // some mutations keep it valid; none crashes
}

}  // namespace
}  // namespace flightdeck::flight
