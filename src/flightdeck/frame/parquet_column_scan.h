// flightdeck/frame/parquet_column_scan.h: a scan of Parquet files for the
// fused aggregate path (fused_aggregate.h) that reads fixed-width columns
// with Parquet's own column readers and evaluates `column OP constant`
// predicates where the data sits. Internal to the frame layer.
//
// Arrow's scanner decodes every column it reads into an Arrow array before
// any predicate runs: a dictionary-encoded column (the usual encoding of a
// date, a quantity or a discount) is expanded value by value, then compared
// value by value. This scan instead compares each distinct value of a
// column chunk's dictionary once and then looks the result up by the row's
// dictionary index; a column only such predicates read is never
// materialized, and a row group whose statistics rule a predicate out is
// not read at all. Columns that other expressions read are materialized as
// Arrow arrays, chunk by chunk.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <arrow/compute/exec.h>
#include <arrow/compute/expression.h>
#include <arrow/dataset/type_fwd.h>
#include <arrow/memory_pool.h>
#include <arrow/scalar.h>
#include <arrow/status.h>
#include <arrow/type_fwd.h>

namespace flightdeck::frame::internal {

/// `field OP constant` over a column of type int32, int64, date32, float or
/// double. Rows where the field is null never pass (SQL's filter semantics).
struct ColumnPredicate {
  enum class Op { kEqual, kNotEqual, kLess, kLessEqual, kGreater, kGreaterEqual };
  int field = -1;  ///< index in the scan schema
  Op op = Op::kEqual;
  std::shared_ptr<arrow::Scalar> constant;  ///< valid, of the field's type
};

/// Splits the conjuncts of `predicates` (bound to `schema`; a row passes
/// when every one is true) into column predicates and the other conjuncts,
/// which still have to be evaluated on materialized columns.
void SplitPredicates(const std::vector<arrow::compute::Expression>& predicates, const arrow::Schema& schema,
                     std::vector<ColumnPredicate>* column_predicates,
                     std::vector<arrow::compute::Expression>* residual);

/// Receives one chunk of rows of one row group. `batch` has one value per
/// field of the scan schema: an array for each materialized field and a
/// null scalar for every other field. `selection` is a bitmap of
/// batch.length bits: the rows every column predicate holds for; chunks
/// where no row does are not passed on. Called from several threads at once.
using ChunkConsumer = std::function<arrow::Status(arrow::compute::ExecBatch batch, const uint8_t* selection)>;

/// A scan of every row group of a Parquet dataset. Immutable once opened.
class ParquetColumnScan {
 public:
  ~ParquetColumnScan();

  /// The scan of `dataset` that evaluates `predicates` and materializes the
  /// fields `materialized` (indices in `scan_schema`). Those also listed in
  /// `every_row` hold their value on every row; the others only on the
  /// selected rows (any value elsewhere: for fields that only expressions
  /// which cannot fail read, and only for the rows they aggregate).
  /// Returns null when this scan
  /// cannot serve the dataset: not a dataset of Parquet files, fragments
  /// with partition fields, a file that cannot be opened, or a column that
  /// a file lacks, stores nested, repeated, or in a type other than the scan
  /// schema's (only int32, int64, date32, float and double are read). Null
  /// is not an error: the caller falls back to Arrow's scanner, which
  /// reports whatever is wrong with the files.
  static std::unique_ptr<ParquetColumnScan> Open(const std::shared_ptr<arrow::dataset::Dataset>& dataset,
                                                 std::shared_ptr<arrow::Schema> scan_schema,
                                                 std::vector<ColumnPredicate> predicates,
                                                 std::vector<int> materialized, std::vector<int> every_row);

  /// Reads every row group, several at once on Arrow's CPU thread pool, and
  /// hands each chunk to `consume`. Errors: a corrupt file (IOError naming
  /// the file and column), and the first error `consume` returns, which
  /// stops the scan.
  arrow::Status Run(const ChunkConsumer& consume, arrow::MemoryPool* pool) const;

  struct Impl;
  explicit ParquetColumnScan(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace flightdeck::frame::internal
