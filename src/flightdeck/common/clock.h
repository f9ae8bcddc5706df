// flightdeck/common/clock.h: wall-clock time as the data node, its clients
// and the CLI exchange it (expiries, lease ends, progress stamps).
#pragma once

#include <chrono>
#include <cstdint>

namespace flightdeck {

/// Milliseconds since the Unix epoch, now (system clock).
inline int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace flightdeck
