#include "flightdeck/common/file_encryption.h"

#include <openssl/evp.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "flightdeck/common/crypto.h"
#include "flightdeck/common/durable_file.h"
#include "flightdeck/common/random.h"

namespace flightdeck {

namespace {

constexpr char kMagic[8] = {'F', 'D', 'E', 'N', 'C', '0', '0', '1'};
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr size_t kKeySize = 32;
constexpr size_t kMaxIdSize = 64;
constexpr int64_t kChunk = 1 << 20;

bool ValidId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdSize) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

struct CipherFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using Cipher = std::unique_ptr<EVP_CIPHER_CTX, CipherFree>;

std::string Header(const AtRestKey& key, const unsigned char* nonce) {
  std::string header(kMagic, sizeof(kMagic));
  header.push_back(static_cast<char>(key.id.size()));
  header += key.id;
  header.append(reinterpret_cast<const char*>(nonce), kNonceSize);
  return header;
}

class EncryptingStream final : public arrow::io::OutputStream {
 public:
  EncryptingStream(std::shared_ptr<arrow::io::OutputStream> sink, Cipher cipher)
      : sink_(std::move(sink)), cipher_(std::move(cipher)) {}

  ~EncryptingStream() override {
    if (!closed_) (void)sink_->Close();  // abandoned: no tag, never decrypts
  }

  arrow::Status Write(const void* data, int64_t nbytes) override {
    if (closed_) return arrow::Status::Invalid("write to a closed encrypting stream");
    const auto* in = static_cast<const unsigned char*>(data);
    while (nbytes > 0) {
      const int64_t n = std::min(nbytes, kChunk);
      scratch_.resize(static_cast<size_t>(n));
      int out = 0;
      if (EVP_EncryptUpdate(cipher_.get(), scratch_.data(), &out, in, static_cast<int>(n)) != 1) {
        return arrow::Status::IOError("AES-256-GCM encryption failed");
      }
      ARROW_RETURN_NOT_OK(sink_->Write(scratch_.data(), out));
      in += n;
      nbytes -= n;
      position_ += n;
    }
    return arrow::Status::OK();
  }

  arrow::Status Close() override {
    if (closed_) return arrow::Status::OK();
    closed_ = true;
    unsigned char tail[16];
    int out = 0;
    unsigned char tag[kTagSize];
    if (EVP_EncryptFinal_ex(cipher_.get(), tail, &out) != 1 ||
        EVP_CIPHER_CTX_ctrl(cipher_.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, tag) != 1) {
      (void)sink_->Close();
      return arrow::Status::IOError("AES-256-GCM encryption failed");
    }
    if (out > 0) ARROW_RETURN_NOT_OK(sink_->Write(tail, out));
    ARROW_RETURN_NOT_OK(sink_->Write(tag, kTagSize));
    return sink_->Close();
  }

  bool closed() const override { return closed_; }
  arrow::Result<int64_t> Tell() const override { return position_; }

 private:
  std::shared_ptr<arrow::io::OutputStream> sink_;
  Cipher cipher_;
  std::vector<unsigned char> scratch_;
  int64_t position_ = 0;  // plaintext bytes written
  bool closed_ = false;
};

}  // namespace

arrow::Result<std::shared_ptr<const KeyRing>> KeyRing::FromKeys(std::vector<AtRestKey> keys,
                                                                std::string source) {
  if (keys.empty()) return arrow::Status::Invalid("key file ", source, " holds no key");
  std::set<std::string> ids;
  for (const auto& key : keys) {
    if (!ValidId(key.id)) {
      return arrow::Status::Invalid("key file ", source, ": bad key id '", key.id,
                                    "' (1 to 64 letters, digits, '.', '_', '-')");
    }
    if (key.key.size() != kKeySize) {
      return arrow::Status::Invalid("key file ", source, ": key '", key.id, "' is ",
                                    key.key.size(), " bytes, AES-256 needs 32");
    }
    if (!ids.insert(key.id).second) {
      return arrow::Status::Invalid("key file ", source, ": key id '", key.id, "' appears twice");
    }
  }
  return std::shared_ptr<const KeyRing>(new KeyRing(std::move(keys), std::move(source)));
}

arrow::Result<std::shared_ptr<const KeyRing>> KeyRing::Load(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return arrow::Status::IOError("cannot read the key file ", path, ": ", std::strerror(errno));
  }
  if ((st.st_mode & 077) != 0) {
    return arrow::Status::IOError("the key file ", path, " is readable by group or others (mode ",
                                  (st.st_mode & 0777) >> 6, (st.st_mode & 077) >> 3, st.st_mode & 7,
                                  "); chmod 600 it");
  }
  std::ifstream in(path);
  if (!in) return arrow::Status::IOError("cannot read the key file ", path);
  std::vector<AtRestKey> keys;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    line = line.substr(0, line.find('#'));
    std::istringstream fields(line);
    std::string id, encoded, extra;
    if (!(fields >> id)) continue;  // blank or comment
    if (!(fields >> encoded) || (fields >> extra)) {
      return arrow::Status::Invalid("key file ", path, ":", number,
                                    ": expected '<id> <base64 of 32 bytes>'");
    }
    auto raw = Base64Decode(encoded);
    if (!raw) {
      return arrow::Status::Invalid("key file ", path, ":", number, ": key '", id,
                                    "' is not base64");
    }
    keys.push_back({id, std::move(*raw)});
  }
  return FromKeys(std::move(keys), path);
}

const AtRestKey* KeyRing::Find(std::string_view id) const {
  for (const auto& key : keys_) {
    if (key.id == id) return &key;
  }
  return nullptr;
}

arrow::Result<std::string> NewKeyLine(const std::string& id) {
  if (!ValidId(id)) {
    return arrow::Status::Invalid("bad key id '", id, "' (1 to 64 letters, digits, '.', '_', '-')");
  }
  std::string raw(kKeySize, '\0');
  FillRandom(raw.data(), raw.size());
  return id + " " + Base64Encode(raw) + "\n";
}

arrow::Result<std::string> AddKeyToFile(const std::string& path, std::string id) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    ARROW_ASSIGN_OR_RAISE(auto ring, KeyRing::Load(path));
    if (!id.empty() && ring->Find(id) != nullptr) {
      return arrow::Status::AlreadyExists("key id '", id, "' is already in ", path);
    }
    for (size_t n = ring->keys().size(); id.empty() || ring->Find(id) != nullptr;) id = "k" + std::to_string(++n);
  } else if (id.empty()) {
    id = "k1";
  }
  ARROW_ASSIGN_OR_RAISE(std::string line, NewKeyLine(id));
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return arrow::Status::IOError("cannot open the key file ", path, ": ", std::strerror(errno));
  const bool written =
      ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written) return arrow::Status::IOError("cannot write the key file ", path, ": ", std::strerror(errno));
  const std::string folder = std::filesystem::path(path).parent_path().string();
  ARROW_RETURN_NOT_OK(SyncPath(folder.empty() ? "." : folder));
  return id;
}

arrow::Result<std::shared_ptr<arrow::io::OutputStream>> OpenEncryptingStream(
    std::shared_ptr<arrow::io::OutputStream> sink, const AtRestKey& key) {
  unsigned char nonce[kNonceSize];
  FillRandom(nonce, sizeof(nonce));
  const std::string header = Header(key, nonce);
  Cipher cipher(EVP_CIPHER_CTX_new());
  int ignored = 0;
  if (!cipher ||
      EVP_EncryptInit_ex(cipher.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(cipher.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr) != 1 ||
      EVP_EncryptInit_ex(cipher.get(), nullptr, nullptr,
                         reinterpret_cast<const unsigned char*>(key.key.data()), nonce) != 1 ||
      EVP_EncryptUpdate(cipher.get(), nullptr, &ignored,
                        reinterpret_cast<const unsigned char*>(header.data()),
                        static_cast<int>(header.size())) != 1) {
    return arrow::Status::IOError("cannot set up AES-256-GCM encryption");
  }
  ARROW_RETURN_NOT_OK(sink->Write(header.data(), static_cast<int64_t>(header.size())));
  return std::make_shared<EncryptingStream>(std::move(sink), std::move(cipher));
}

bool IsEncryptedFile(const arrow::Buffer& contents) {
  return contents.size() >= static_cast<int64_t>(sizeof(kMagic)) &&
         std::memcmp(contents.data(), kMagic, sizeof(kMagic)) == 0;
}

arrow::Result<std::shared_ptr<arrow::Buffer>> DecryptFile(const arrow::Buffer& contents,
                                                          const KeyRing* keys,
                                                          const std::string& name) {
  const uint8_t* data = contents.data();
  const int64_t size = contents.size();
  const int64_t fixed = static_cast<int64_t>(sizeof(kMagic) + 1);
  if (!IsEncryptedFile(contents) || size < fixed) {
    return arrow::Status::IOError("file ", name, " is corrupt: not an encrypted flightdeck file");
  }
  const size_t id_size = data[sizeof(kMagic)];
  const int64_t header_size = fixed + static_cast<int64_t>(id_size + kNonceSize);
  if (size < header_size + static_cast<int64_t>(kTagSize)) {
    return arrow::Status::IOError("file ", name, " is corrupt: truncated encrypted file");
  }
  const std::string id(reinterpret_cast<const char*>(data + fixed), id_size);
  if (keys == nullptr) {
    return arrow::Status::IOError("file ", name, " is encrypted with key '", id,
                                  "' and no key file was given (--key-file)");
  }
  const AtRestKey* key = keys->Find(id);
  if (key == nullptr) {
    return arrow::Status::IOError("file ", name, " is encrypted with key '", id,
                                  "', which the key file ", keys->source(), " does not hold");
  }
  const unsigned char* nonce = data + fixed + id_size;
  const int64_t cipher_size = size - header_size - static_cast<int64_t>(kTagSize);
  ARROW_ASSIGN_OR_RAISE(auto plain, arrow::AllocateResizableBuffer(cipher_size));
  Cipher cipher(EVP_CIPHER_CTX_new());
  int out = 0;
  bool ok = cipher &&
            EVP_DecryptInit_ex(cipher.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(cipher.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr) == 1 &&
            EVP_DecryptInit_ex(cipher.get(), nullptr, nullptr,
                               reinterpret_cast<const unsigned char*>(key->key.data()), nonce) == 1 &&
            EVP_DecryptUpdate(cipher.get(), nullptr, &out, data, static_cast<int>(header_size)) == 1;
  for (int64_t done = 0; ok && done < cipher_size;) {
    const int64_t n = std::min(cipher_size - done, kChunk);
    ok = EVP_DecryptUpdate(cipher.get(), plain->mutable_data() + done, &out,
                           data + header_size + done, static_cast<int>(n)) == 1;
    done += n;
  }
  unsigned char tag[kTagSize];
  std::memcpy(tag, data + size - kTagSize, kTagSize);
  unsigned char tail[16];
  ok = ok && EVP_CIPHER_CTX_ctrl(cipher.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag) == 1 &&
       EVP_DecryptFinal_ex(cipher.get(), tail, &out) == 1;
  if (!ok) {
    return arrow::Status::IOError("file ", name, " is corrupt: its AES-256-GCM tag does not "
                                  "authenticate (tampered, or not written with key '", id, "')");
  }
  return std::shared_ptr<arrow::Buffer>(std::move(plain));
}

}  // namespace flightdeck
