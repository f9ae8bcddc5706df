// flightdeck/common/file_encryption.h: files encrypted at rest with
// AES-256-GCM (OpenSSL EVP, AES-NI where the CPU has it).
//
// An encrypted file is
//
//   "FDENC001" | u8 key-id length | key id | 12-byte nonce | ciphertext | 16-byte tag
//
// where everything before the ciphertext is authenticated as associated
// data, and the nonce is fresh random bytes per file. A reader finds the key
// by the id in the header, so a key ring rotated by adding a key still reads
// every older file; new files take the newest key.
//
// Keys live in a key file of lines "<id> <base64 of 32 bytes>" ('#' starts a
// comment); the last line is the newest key. `flightdeck keys add FILE`
// appends one. The file must not be readable by group or others.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/buffer.h>
#include <arrow/io/interfaces.h>
#include <arrow/result.h>

namespace flightdeck {

struct AtRestKey {
  std::string id;
  /// 32 raw bytes.
  std::string key;
};

class KeyRing {
 public:
  /// Reads a key file. Invalid naming the file and line for a malformed
  /// line, a key that is not 32 bytes, a repeated id or no key at all;
  /// IOError when it cannot be read or is readable by group or others.
  static arrow::Result<std::shared_ptr<const KeyRing>> Load(const std::string& path);
  static arrow::Result<std::shared_ptr<const KeyRing>> FromKeys(std::vector<AtRestKey> keys,
                                                                std::string source);

  /// The key new files are written with (the last one).
  const AtRestKey& Newest() const { return keys_.back(); }
  /// nullptr when the ring has no key of that id.
  const AtRestKey* Find(std::string_view id) const;
  /// Where the keys came from (a path), for messages.
  const std::string& source() const { return source_; }
  const std::vector<AtRestKey>& keys() const { return keys_; }

 private:
  KeyRing(std::vector<AtRestKey> keys, std::string source)
      : keys_(std::move(keys)), source_(std::move(source)) {}
  std::vector<AtRestKey> keys_;
  std::string source_;
};

/// A key-file line for a new random key named `id` ("<id> <base64>\n").
/// Invalid for an id that is empty, longer than 64 bytes or not made of
/// letters, digits, '.', '_' and '-'.
arrow::Result<std::string> NewKeyLine(const std::string& id);

/// Appends a new random key to the key file `path`, made (mode 0600) when
/// missing; the file and its folder are fsynced. `id` empty: "k<N+1>" for a
/// file of N keys (the next free such id). Returns the key's id.
/// AlreadyExists when the file holds `id`; what KeyRing::Load says of a file
/// that does not load; IOError when it cannot be written.
arrow::Result<std::string> AddKeyToFile(const std::string& path, std::string id = "");

/// A stream that encrypts everything written to it with `key` and writes
/// the encrypted file's bytes to `sink`; Close() writes the tag and closes
/// `sink`. Writes are encrypted in place of copying, chunk by chunk.
arrow::Result<std::shared_ptr<arrow::io::OutputStream>> OpenEncryptingStream(
    std::shared_ptr<arrow::io::OutputStream> sink, const AtRestKey& key);

/// Whether `contents` starts like an encrypted file.
bool IsEncryptedFile(const arrow::Buffer& contents);

/// The plaintext of an encrypted file's `contents`. IOError naming `name`:
/// "encrypted with key K, which <keys> does not hold" when the key is
/// missing (or "no key file was given" when `keys` is null), "corrupt" when
/// the header is malformed or the tag does not authenticate (tampered, or
/// not written with that key). Nothing of a file that fails is returned.
arrow::Result<std::shared_ptr<arrow::Buffer>> DecryptFile(const arrow::Buffer& contents,
                                                          const KeyRing* keys,
                                                          const std::string& name);

}  // namespace flightdeck
