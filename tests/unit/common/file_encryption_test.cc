// Encryption at rest: round trips through the encrypting stream, key lookup
// by id, and every way a file can fail to decrypt.
#include "flightdeck/common/file_encryption.h"

#include <arrow/io/memory.h>
#include <gtest/gtest.h>

#include "flightdeck/common/crypto.h"

namespace flightdeck {
namespace {

std::shared_ptr<const KeyRing> Ring(std::vector<std::string> ids) {
  std::vector<AtRestKey> keys;
  for (auto& id : ids) keys.push_back({id, std::string(32, static_cast<char>('a' + keys.size()))});
  return *KeyRing::FromKeys(std::move(keys), "test");
}

std::shared_ptr<arrow::Buffer> Encrypt(const AtRestKey& key, const std::string& plain, size_t pieces = 3) {
  auto sink = *arrow::io::BufferOutputStream::Create();
  auto stream = *OpenEncryptingStream(sink, key);
  for (size_t i = 0; i < pieces; ++i) {
    const size_t begin = plain.size() * i / pieces, end = plain.size() * (i + 1) / pieces;
    EXPECT_TRUE(stream->Write(plain.data() + begin, static_cast<int64_t>(end - begin)).ok());
  }
  EXPECT_EQ(*stream->Tell(), static_cast<int64_t>(plain.size()));
  EXPECT_TRUE(stream->Close().ok());
  return *sink->Finish();
}

TEST(FileEncryptionTest, RoundTripsWithTheKeyItsHeaderNames) {
  auto ring = Ring({"old", "new"});
  const std::string plain(3 << 20, 'x');  // several encryption chunks
  auto file = Encrypt(ring->Newest(), plain);
  ASSERT_TRUE(IsEncryptedFile(*file));
  EXPECT_EQ(file->ToString().find("xxxxxxxx"), std::string::npos);
  auto back = DecryptFile(*file, ring.get(), "f");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)->ToString(), plain);
  // A file of the older key still reads; two files never share a nonce.
  auto older = Encrypt(*ring->Find("old"), plain);
  EXPECT_EQ((*DecryptFile(*older, ring.get(), "g"))->ToString(), plain);
  EXPECT_NE(Encrypt(ring->Newest(), "same")->ToString(), Encrypt(ring->Newest(), "same")->ToString());
  EXPECT_EQ((*DecryptFile(*Encrypt(ring->Newest(), ""), ring.get(), "e"))->size(), 0);
}

TEST(FileEncryptionTest, TamperingMissingKeysAndTruncationAreRefused) {
  auto ring = Ring({"k1"});
  auto file = Encrypt(ring->Newest(), "the quarterly numbers");
  const std::string bytes = file->ToString();
  for (size_t at : {size_t{9}, size_t{20}, bytes.size() / 2, bytes.size() - 1}) {
    std::string bad = bytes;
    bad[at] ^= 1;
    auto got = DecryptFile(arrow::Buffer(bad), ring.get(), "f");
    ASSERT_FALSE(got.ok()) << at;
    // An altered key id names a key the ring lacks; anything else fails the tag.
    const auto& message = got.status().message();
    EXPECT_TRUE(message.find(at == 9 ? "does not hold" : "corrupt") != std::string::npos) << got.status();
  }
  auto truncated = DecryptFile(arrow::Buffer(bytes.substr(0, bytes.size() - 5)), ring.get(), "f");
  EXPECT_NE(truncated.status().message().find("corrupt"), std::string::npos);
  auto other = DecryptFile(*file, Ring({"k2"}).get(), "f");
  EXPECT_NE(other.status().message().find("encrypted with key 'k1', which the key file test does not hold"),
            std::string::npos)
      << other.status();
  auto none = DecryptFile(*file, nullptr, "f");
  EXPECT_NE(none.status().message().find("no key file was given"), std::string::npos);
}

TEST(FileEncryptionTest, KeyRingsRefuseBadKeys) {
  EXPECT_FALSE(KeyRing::FromKeys({}, "x").ok());
  EXPECT_FALSE(KeyRing::FromKeys({{"k", "short"}}, "x").ok());
  EXPECT_FALSE(KeyRing::FromKeys({{"bad id", std::string(32, 'a')}}, "x").ok());
  EXPECT_FALSE(KeyRing::FromKeys({{"k", std::string(32, 'a')}, {"k", std::string(32, 'b')}}, "x").ok());
  EXPECT_TRUE(NewKeyLine("k-1.2_x").ok());
  EXPECT_FALSE(NewKeyLine("../etc").ok());
}

TEST(FileEncryptionTest, SealedPayloadsAsTemporalsPythonCodecSample) {
  const std::string key(32, 'k');
  const std::string sealed = Aes256GcmSeal(key, "payload");
  EXPECT_EQ(sealed.size(), 12 + 7 + 16);
  EXPECT_EQ(Aes256GcmOpen(key, sealed), "payload");
  std::string bad = sealed;
  bad[15] ^= 1;
  EXPECT_FALSE(Aes256GcmOpen(key, bad).has_value());
  EXPECT_FALSE(Aes256GcmOpen(std::string(32, 'j'), sealed).has_value());
  EXPECT_FALSE(Aes256GcmOpen(key, sealed.substr(0, 20)).has_value());
}

}  // namespace
}  // namespace flightdeck
