// flightdeck/flight/exchange_transform.h: the server-side transform DoExchange
// applies to the batches a client streams in.
//
// The transform is given as JSON in the DoExchange command descriptor:
//
//   {"select": ["id", "amount"],                        // optional: all columns
//    "filter": [{"column": "amount", "op": ">", "value": 10},
//               {"column": "category", "op": "==", "value": "books"}]}
//
// Filter conditions are ANDed; ops are == != < <= > >=; a row whose
// condition is null is dropped. This simple format is a placeholder that the
// DataFrame issue replaces with the real expression language.
#pragma once

#include <memory>
#include <string_view>

#include <arrow/record_batch.h>
#include <arrow/result.h>

namespace flightdeck::flight {

/// A parsed projection and filter. Immutable after Make(); Apply() may be
/// called concurrently.
class ExchangeTransform {
 public:
  /// Parses `spec` against the schema of the input. Invalid, naming the
  /// problem, for bad JSON, unknown columns or ops, or values that do not fit
  /// their column.
  static arrow::Result<std::shared_ptr<ExchangeTransform>> Make(
      std::string_view spec, const std::shared_ptr<arrow::Schema>& input_schema);

  ~ExchangeTransform();

  const std::shared_ptr<arrow::Schema>& output_schema() const;

  /// The rows of `batch` that pass the filter, with the selected columns.
  /// REQUIRES: batch has the input schema given to Make().
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Apply(const arrow::RecordBatch& batch) const;

 private:
  struct Impl;
  explicit ExchangeTransform(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flightdeck::flight
