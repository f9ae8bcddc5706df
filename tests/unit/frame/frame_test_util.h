// tests/unit/frame/frame_test_util.h: building tables from JSON rows and
// comparing DataFrame results, for the frame layer's tests.
#pragma once

#include <memory>
#include <string>

#include <arrow/api.h>
#include <arrow/compute/api_vector.h>
#include <arrow/compute/initialize.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"

namespace flightdeck::frame::testing {

/// A table of `schema` from JSON rows given as arrays, e.g. `[[1, "a"], [2, null]]`,
/// split into batches of at most `batch_rows` rows.
inline arrow::Result<std::shared_ptr<arrow::Table>> TableFromRows(
    const std::shared_ptr<arrow::Schema>& schema, const std::string& rows, int64_t batch_rows = 2) {
  ARROW_ASSIGN_OR_RAISE(auto array, arrow::json::ArrayFromJSONString(
                                        arrow::struct_(schema->fields()), rows));
  ARROW_ASSIGN_OR_RAISE(auto batch, arrow::RecordBatch::FromStructArray(array));
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (int64_t offset = 0; offset < batch->num_rows(); offset += batch_rows) {
    batches.push_back(batch->Slice(offset, batch_rows)->ReplaceSchema(schema).ValueOrDie());
  }
  return arrow::Table::FromRecordBatches(schema, batches);
}

/// The rows of `table` sorted by every column (nulls last), in one chunk.
inline arrow::Result<std::shared_ptr<arrow::Table>> Canonical(const std::shared_ptr<arrow::Table>& table) {
  ARROW_RETURN_NOT_OK(arrow::compute::Initialize());  // Arrow >= 21 registers its kernels on request
  std::vector<arrow::compute::SortKey> keys;
  for (const auto& field : table->schema()->fields()) keys.emplace_back(field->name());
  ARROW_ASSIGN_OR_RAISE(auto combined, table->CombineChunks());
  if (keys.empty() || table->num_rows() == 0) return combined;
  ARROW_ASSIGN_OR_RAISE(auto indices,
                        arrow::compute::SortIndices(arrow::Datum(combined),
                                                    arrow::compute::SortOptions(keys)));
  ARROW_ASSIGN_OR_RAISE(auto taken, arrow::compute::Take(combined, indices));
  return taken.table()->CombineChunks();
}

/// Expects `actual` to hold exactly `rows` (JSON arrays in the column order of
/// `actual`), in that order when `ordered`, in any order otherwise.
inline void ExpectRows(const std::shared_ptr<arrow::Table>& actual, const std::string& rows,
                       bool ordered = false) {
  auto expected_result = TableFromRows(actual->schema(), rows, 1 << 20);
  ASSERT_TRUE(expected_result.ok()) << expected_result.status().ToString();
  std::shared_ptr<arrow::Table> expected = *expected_result;
  std::shared_ptr<arrow::Table> got = actual;
  if (!ordered) {
    auto e = Canonical(expected);
    auto g = Canonical(actual);
    ASSERT_TRUE(e.ok() && g.ok()) << e.status().ToString() << g.status().ToString();
    expected = *e;
    got = *g;
  } else {
    got = *actual->CombineChunks();
    expected = *expected->CombineChunks();
  }
  EXPECT_TRUE(got->Equals(*expected)) << "got:\n"
                                       << got->ToString() << "\nexpected:\n"
                                       << expected->ToString();
}

}  // namespace flightdeck::frame::testing
