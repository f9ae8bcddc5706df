#include "flightdeck/common/random.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace flightdeck {

void FillRandom(void* out, size_t size) {
  auto* bytes = static_cast<unsigned char*>(out);
  while (size > 0) {
    const ssize_t got = getrandom(bytes, size, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      std::perror("flightdeck: getrandom");
      std::abort();
    }
    bytes += got;
    size -= static_cast<size_t>(got);
  }
}

uint64_t RandomU64() {
  uint64_t value = 0;
  FillRandom(&value, sizeof(value));
  return value;
}

double RandomUnit() {
  // The top 53 bits, so every value is exactly representable.
  return static_cast<double>(RandomU64() >> 11) * 0x1.0p-53;
}

std::string RandomHex(size_t bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string raw(bytes, '\0');
  FillRandom(raw.data(), raw.size());
  std::string text;
  text.reserve(2 * bytes);
  for (unsigned char byte : raw) {
    text.push_back(kDigits[byte >> 4]);
    text.push_back(kDigits[byte & 0xf]);
  }
  return text;
}

std::string NewUuidV4() {
  unsigned char b[16];
  FillRandom(b, sizeof(b));
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // variant 10
  char text[37];
  std::snprintf(text, sizeof(text),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return text;
}

}  // namespace flightdeck
