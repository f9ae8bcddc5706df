#include "flightdeck/frame/generate.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string_view>
#include <vector>

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>
#include <arrow/util/bitmap_generate.h>
#include <arrow/util/parallel.h>
#include <arrow/util/thread_pool.h>

namespace flightdeck::frame {

namespace {

constexpr std::array<std::string_view, 8> kCategories = {
    "books", "games", "garden", "grocery", "music", "outdoor", "tools", "toys"};
constexpr int64_t kLongestCategory = 7;
constexpr int64_t kMaxBatchRows = int64_t{1} << 28;
constexpr int64_t kEpochUs = 1'767'225'600'000'000;  // 2026-01-01T00:00:00Z
constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ULL;

// splitmix64's output function: output n (from 0) of the generator seeded
// with s is Mix(s + (n + 1) * kGamma).
inline uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// x in [0, 2^32) scaled to [0, bound): (x * bound) >> 32.
inline int64_t Scale32(uint64_t x, uint64_t bound) {
  return static_cast<int64_t>((x * bound) >> 32);
}

std::shared_ptr<arrow::DataType> TsType() {
  return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
}

std::shared_ptr<arrow::Schema> OrdersSchema() {
  return arrow::schema({
      arrow::field("id", arrow::int64(), /*nullable=*/false),
      arrow::field("customer", arrow::int64(), false),
      arrow::field("amount", arrow::float64()),
      arrow::field("category", arrow::utf8()),
      arrow::field("ts", TsType()),
  });
}

// A validity bitmap with bit j set when the 16 bits of b[j] at `shift` are
// >= threshold (not null); null when nothing is null.
arrow::Result<std::shared_ptr<arrow::Buffer>> Validity(const std::vector<uint64_t>& b, int shift,
                                                       uint32_t threshold, int64_t* null_count) {
  const int64_t n = static_cast<int64_t>(b.size());
  *null_count = 0;
  if (threshold == 0) return nullptr;
  ARROW_ASSIGN_OR_RAISE(auto bitmap, arrow::AllocateBitmap(n));
  int64_t valid = 0;
  int64_t j = 0;
  arrow::internal::GenerateBitsUnrolled(bitmap->mutable_data(), 0, n, [&] {
    const bool is_valid = ((b[j++] >> shift) & 0xFFFF) >= threshold;
    valid += is_valid;
    return is_valid;
  });
  *null_count = n - valid;
  return bitmap;
}

enum Column { kId, kCustomer, kAmount, kCategory, kTs, kColumns };

// Rows [begin, begin + n) of the columns `wanted` (by Column) as one batch.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> MakeBatch(
    const std::shared_ptr<arrow::Schema>& schema, const std::array<bool, kColumns>& wanted,
    const GenerateOptions& options, int64_t begin, int64_t n, uint32_t threshold) {
  std::array<std::shared_ptr<arrow::Array>, kColumns> arrays;
  // Draws: a per row for customer and amount, b for nulls and the category.
  const bool need_a = wanted[kCustomer] || wanted[kAmount];
  const bool need_b = wanted[kAmount] || wanted[kCategory] || wanted[kTs];
  std::vector<uint64_t> a(need_a ? n : 0), b(need_b ? n : 0);
  uint64_t state = options.seed + static_cast<uint64_t>(2 * begin) * kGamma;
  for (int64_t j = 0; j < n; ++j) {
    if (need_a) a[j] = Mix(state + kGamma);
    if (need_b) b[j] = Mix(state + 2 * kGamma);
    state += 2 * kGamma;
  }
  const int64_t first_id = options.first_id + begin;
  if (wanted[kId]) {
    ARROW_ASSIGN_OR_RAISE(auto ids, arrow::AllocateBuffer(n * sizeof(int64_t)));
    auto* id = reinterpret_cast<int64_t*>(ids->mutable_data());
    for (int64_t j = 0; j < n; ++j) id[j] = first_id + j;
    arrays[kId] = std::make_shared<arrow::Int64Array>(n, std::move(ids));
  }
  if (wanted[kCustomer]) {
    ARROW_ASSIGN_OR_RAISE(auto customers, arrow::AllocateBuffer(n * sizeof(int64_t)));
    auto* customer = reinterpret_cast<int64_t*>(customers->mutable_data());
    for (int64_t j = 0; j < n; ++j) customer[j] = 1 + Scale32(a[j] & 0xFFFFFFFFULL, 100'000);
    arrays[kCustomer] = std::make_shared<arrow::Int64Array>(n, std::move(customers));
  }
  if (wanted[kAmount]) {
    ARROW_ASSIGN_OR_RAISE(auto amounts, arrow::AllocateBuffer(n * sizeof(double)));
    auto* amount = reinterpret_cast<double*>(amounts->mutable_data());
    for (int64_t j = 0; j < n; ++j) {
      amount[j] = static_cast<double>(Scale32(a[j] >> 32, 100'000)) / 100;
    }
    int64_t nulls;
    ARROW_ASSIGN_OR_RAISE(auto valid, Validity(b, 0, threshold, &nulls));
    arrays[kAmount] = std::make_shared<arrow::DoubleArray>(n, std::move(amounts), valid, nulls);
  }
  if (wanted[kCategory]) {
    ARROW_ASSIGN_OR_RAISE(auto offsets, arrow::AllocateBuffer((n + 1) * sizeof(int32_t)));
    ARROW_ASSIGN_OR_RAISE(auto chars, arrow::AllocateResizableBuffer(n * kLongestCategory));
    auto* offset = reinterpret_cast<int32_t*>(offsets->mutable_data());
    uint8_t* text = chars->mutable_data();
    int32_t length = 0;
    offset[0] = 0;
    for (int64_t j = 0; j < n; ++j) {
      if (((b[j] >> 16) & 0xFFFF) >= threshold) {
        const std::string_view word = kCategories[b[j] >> 61];
        std::memcpy(text + length, word.data(), word.size());
        length += static_cast<int32_t>(word.size());
      }
      offset[j + 1] = length;
    }
    ARROW_RETURN_NOT_OK(chars->Resize(length, /*shrink_to_fit=*/true));
    int64_t nulls;
    ARROW_ASSIGN_OR_RAISE(auto valid, Validity(b, 16, threshold, &nulls));
    arrays[kCategory] = std::make_shared<arrow::StringArray>(n, std::move(offsets),
                                                             std::move(chars), valid, nulls);
  }
  if (wanted[kTs]) {
    ARROW_ASSIGN_OR_RAISE(auto stamps, arrow::AllocateBuffer(n * sizeof(int64_t)));
    auto* ts = reinterpret_cast<int64_t*>(stamps->mutable_data());
    for (int64_t j = 0; j < n; ++j) ts[j] = kEpochUs + (first_id + j) * 1'000'000;
    int64_t nulls;
    ARROW_ASSIGN_OR_RAISE(auto valid, Validity(b, 32, threshold, &nulls));
    arrays[kTs] =
        std::make_shared<arrow::TimestampArray>(TsType(), n, std::move(stamps), valid, nulls);
  }
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (int c = 0; c < kColumns; ++c) {
    if (wanted[c]) columns.push_back(std::move(arrays[c]));
  }
  return arrow::RecordBatch::Make(schema, n, std::move(columns));
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::Table>> GenerateOrders(const GenerateOptions& options) {
  if (options.rows < 0) return arrow::Status::Invalid("rows must be >= 0, got ", options.rows);
  if (options.batch_rows < 1) {
    return arrow::Status::Invalid("batch_rows must be >= 1, got ", options.batch_rows);
  }
  if (options.batch_rows > kMaxBatchRows) {
    // The category column's int32 offsets must hold 7 bytes per row.
    return arrow::Status::Invalid("batch_rows must be <= ", kMaxBatchRows, ", got ",
                                  options.batch_rows);
  }
  if (!(options.null_fraction >= 0 && options.null_fraction <= 1)) {
    return arrow::Status::Invalid("null_fraction must be in [0, 1], got ", options.null_fraction);
  }
  auto schema = OrdersSchema();
  std::array<bool, kColumns> wanted;
  wanted.fill(options.columns.empty());
  for (const auto& name : options.columns) {
    const int index = schema->GetFieldIndex(name);
    if (index < 0) {
      return arrow::Status::Invalid("generate: unknown column '", name, "' (columns: ",
                                    "id, customer, amount, category, ts)");
    }
    wanted[index] = true;
  }
  if (!options.columns.empty()) {
    arrow::FieldVector fields;
    for (int c = 0; c < kColumns; ++c) {
      if (wanted[c]) fields.push_back(schema->field(c));
    }
    schema = arrow::schema(std::move(fields));
  }
  const auto threshold = static_cast<uint32_t>(std::llround(options.null_fraction * 65536));
  const int64_t num_batches = (options.rows + options.batch_rows - 1) / options.batch_rows;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches(static_cast<size_t>(num_batches));
  auto* pool = arrow::internal::GetCpuThreadPool();
  // Not from one of the pool's own threads: waiting there could deadlock.
  const bool parallel = options.use_threads && num_batches > 1 && !pool->OwnsThisThread();
  ARROW_RETURN_NOT_OK(arrow::internal::OptionalParallelFor(
      parallel, static_cast<int>(num_batches), [&](int index) -> arrow::Status {
        const int64_t begin = index * options.batch_rows;
        const int64_t n = std::min(options.batch_rows, options.rows - begin);
        ARROW_ASSIGN_OR_RAISE(batches[index], MakeBatch(schema, wanted, options, begin, n, threshold));
        return arrow::Status::OK();
      }));
  return arrow::Table::FromRecordBatches(schema, batches);
}

}  // namespace flightdeck::frame
