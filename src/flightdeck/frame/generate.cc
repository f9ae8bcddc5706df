#include "flightdeck/frame/generate.h"

#include <array>
#include <random>
#include <vector>

#include <arrow/builder.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

namespace flightdeck::frame {

namespace {

constexpr std::array<const char*, 8> kCategories = {
    "books", "games", "garden", "grocery", "music", "outdoor", "tools", "toys"};

std::shared_ptr<arrow::Schema> OrdersSchema() {
  return arrow::schema({
      arrow::field("id", arrow::int64(), /*nullable=*/false),
      arrow::field("customer", arrow::int64(), false),
      arrow::field("amount", arrow::float64()),
      arrow::field("category", arrow::utf8()),
      arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
  });
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::Table>> GenerateOrders(const GenerateOptions& options) {
  if (options.rows < 0) return arrow::Status::Invalid("rows must be >= 0, got ", options.rows);
  if (options.batch_rows < 1) {
    return arrow::Status::Invalid("batch_rows must be >= 1, got ", options.batch_rows);
  }
  if (!(options.null_fraction >= 0 && options.null_fraction <= 1)) {
    return arrow::Status::Invalid("null_fraction must be in [0, 1], got ", options.null_fraction);
  }
  auto schema = OrdersSchema();
  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int64_t> customer(1, 100'000);
  std::uniform_int_distribution<size_t> category(0, kCategories.size() - 1);
  constexpr int64_t kEpochUs = 1'767'225'600'000'000;  // 2026-01-01T00:00:00Z

  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (int64_t start = 0; start < options.rows; start += options.batch_rows) {
    const int64_t n = std::min(options.batch_rows, options.rows - start);
    arrow::Int64Builder ids, customers;
    arrow::DoubleBuilder amounts;
    arrow::StringBuilder categories;
    arrow::TimestampBuilder stamps(schema->field(4)->type(), arrow::default_memory_pool());
    ARROW_RETURN_NOT_OK(ids.Reserve(n));
    ARROW_RETURN_NOT_OK(customers.Reserve(n));
    ARROW_RETURN_NOT_OK(amounts.Reserve(n));
    ARROW_RETURN_NOT_OK(categories.Reserve(n));
    ARROW_RETURN_NOT_OK(stamps.Reserve(n));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t id = start + i;
      ids.UnsafeAppend(id);
      customers.UnsafeAppend(customer(rng));
      if (unit(rng) < options.null_fraction) {
        amounts.UnsafeAppendNull();
      } else {
        amounts.UnsafeAppend(static_cast<double>(static_cast<int64_t>(unit(rng) * 100000)) / 100);
      }
      if (unit(rng) < options.null_fraction) {
        ARROW_RETURN_NOT_OK(categories.AppendNull());
      } else {
        ARROW_RETURN_NOT_OK(categories.Append(kCategories[category(rng)]));
      }
      if (unit(rng) < options.null_fraction) {
        stamps.UnsafeAppendNull();
      } else {
        stamps.UnsafeAppend(kEpochUs + id * 1'000'000);
      }
    }
    std::vector<std::shared_ptr<arrow::Array>> columns(5);
    ARROW_RETURN_NOT_OK(ids.Finish(&columns[0]));
    ARROW_RETURN_NOT_OK(customers.Finish(&columns[1]));
    ARROW_RETURN_NOT_OK(amounts.Finish(&columns[2]));
    ARROW_RETURN_NOT_OK(categories.Finish(&columns[3]));
    ARROW_RETURN_NOT_OK(stamps.Finish(&columns[4]));
    batches.push_back(arrow::RecordBatch::Make(schema, n, std::move(columns)));
  }
  return arrow::Table::FromRecordBatches(schema, batches);
}

}  // namespace flightdeck::frame
