// flightdeck/frame/generate.h: deterministic synthetic data for demos,
// benchmarks and the `generate` pipeline source.
//
// The values come from a counter-based stream (splitmix64), so row i depends
// only on the seed and i: batches are filled straight into their Arrow
// buffers, in parallel, and the batch size does not change the values.
// bench/support/orders_generator.py reproduces the table in numpy, value for
// value.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/table.h>

namespace flightdeck::frame {

struct GenerateOptions {
  int64_t rows = 1'000'000;
  /// Rows per record batch of the resulting table, in [1, 2^28].
  int64_t batch_rows = 64 * 1024;
  uint64_t seed = 42;
  /// Share of null values in the nullable columns, in [0, 1] (honoured to
  /// 1/65536 per row draw).
  double null_fraction = 0.05;
  /// The id of the first row (ids are first_id, first_id + 1, ...).
  int64_t first_id = 0;
  /// Fill the batches on Arrow's CPU thread pool.
  bool use_threads = true;
  /// The columns to make, in table order whatever the order here; empty
  /// makes all five. A column's values do not depend on which others are
  /// made (projection pushdown of the `generate` source).
  std::vector<std::string> columns;
};

/// An "orders" table: id int64 (unique, never null), customer int64 in
/// [1, 100000], amount double in [0, 1000) with two decimals, category utf8
/// (one of eight words), ts timestamp[us, UTC] (2026-01-01 + id seconds),
/// with nulls in amount, category and ts. Row i is drawn from outputs 2i
/// and 2i+1 of splitmix64 seeded with `seed`:
///   a = out[2i]:   customer = 1 + (lo32(a) * 100000 >> 32),
///                  amount = (hi32(a) * 100000 >> 32) / 100
///   b = out[2i+1]: amount null when bits 0-15 < T, category null when
///                  bits 16-31 < T, ts null when bits 32-47 < T, category
///                  word = bits 61-63, where T = round(null_fraction * 65536).
/// The same options always give the same table (whatever batch_rows and
/// use_threads, and of the columns made). Fails with Invalid on negative
/// rows, a batch size outside [1, 2^28], a null fraction outside [0, 1] or
/// an unknown column name. Thread-safe.
arrow::Result<std::shared_ptr<arrow::Table>> GenerateOrders(const GenerateOptions& options);

}  // namespace flightdeck::frame
