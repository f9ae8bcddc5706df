// flightdeck/frame/generate.h: deterministic synthetic data for demos,
// benchmarks and the `generate` pipeline source.
#pragma once

#include <cstdint>
#include <memory>

#include <arrow/result.h>
#include <arrow/table.h>

namespace flightdeck::frame {

struct GenerateOptions {
  int64_t rows = 1'000'000;
  /// Rows per record batch of the resulting table.
  int64_t batch_rows = 64 * 1024;
  uint64_t seed = 42;
  /// Share of null values in the nullable columns, in [0, 1].
  double null_fraction = 0.05;
};

/// An "orders" table: id int64 (unique, never null), customer int64,
/// amount double, category utf8, ts timestamp[us, UTC], with nulls in
/// amount, category and ts. The same options always give the same table.
/// Fails with Invalid on negative rows or a batch size below 1.
arrow::Result<std::shared_ptr<arrow::Table>> GenerateOrders(const GenerateOptions& options);

}  // namespace flightdeck::frame
