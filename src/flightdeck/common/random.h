// flightdeck/common/random.h: the one source of random ids and jitter.
//
// Every value comes from the kernel's CSPRNG (getrandom(2)), so ids made in
// different processes, threads or forks never share a seed. Not for
// workflow code: a workflow's randomness must replay, and comes from its
// history-seeded generator instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace flightdeck {

/// Fills `size` bytes at `out`. Blocks only until the kernel's pool is
/// initialized at boot; aborts the process if getrandom fails otherwise
/// (no caller could continue safely without unique ids). Thread-safe.
void FillRandom(void* out, size_t size);

/// A uniformly random 64-bit value.
uint64_t RandomU64();

/// A uniformly random double in [0, 1).
double RandomUnit();

/// `bytes` random bytes spelt as 2*bytes lower-case hex digits.
std::string RandomHex(size_t bytes);

/// A random (version 4, RFC 9562) UUID in its canonical lower-case text.
std::string NewUuidV4();

}  // namespace flightdeck
