// pipeline_test_util.h: comparing pipeline outputs with what the DataFrame
// computes directly (order-insensitive, tolerant of float summation order).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/compute/initialize.h>
#include <gtest/gtest.h>

namespace flightdeck::pipeline::testing {

/// `table` sorted by `keys`, in one chunk per column.
inline std::shared_ptr<arrow::Table> Sorted(const std::shared_ptr<arrow::Table>& table,
                                     const std::vector<std::string>& keys) {
  EXPECT_TRUE(arrow::compute::Initialize().ok());  // Arrow >= 21 registers kernels on request
  std::vector<arrow::compute::SortKey> sort_keys;
  for (const auto& key : keys) sort_keys.emplace_back(key);
  auto indices = arrow::compute::SortIndices(table, arrow::compute::SortOptions(sort_keys));
  EXPECT_TRUE(indices.ok()) << indices.status().ToString();
  auto taken = arrow::compute::Take(table, *indices);
  EXPECT_TRUE(taken.ok()) << taken.status().ToString();
  auto combined = taken->table()->CombineChunks();
  return *combined;
}

/// Equal up to floating point rounding (sums over differently ordered inputs).
inline bool ApproxSameTable(const arrow::Table& a, const arrow::Table& b) {
  if (!a.schema()->Equals(*b.schema(), false) || a.num_rows() != b.num_rows()) return false;
  for (int i = 0; i < a.num_columns(); ++i) {
    if (!a.column(i)->ApproxEquals(*b.column(i), arrow::EqualOptions::Defaults().atol(1e-6))) {
      return false;
    }
  }
  return true;
}

/// Same rows, compared after sorting both by `keys`.
inline void ExpectSameRows(const std::shared_ptr<arrow::Table>& actual,
                    const std::shared_ptr<arrow::Table>& expected,
                    const std::vector<std::string>& keys) {
  ASSERT_EQ(actual->num_rows(), expected->num_rows());
  auto a = Sorted(actual, keys);
  auto e = Sorted(expected, keys);
  EXPECT_TRUE(a->Equals(*e, /*check_metadata=*/false))
      << "actual:\n" << a->Slice(0, 5)->ToString() << "\nexpected:\n" << e->Slice(0, 5)->ToString();
}

}  // namespace flightdeck::pipeline::testing
