// flightdeck/frame/transform.h: a streaming projection / filter over a
// RecordBatchReader, driven by text. This is what a data node's DoExchange
// runs: the client sends batches and a spec such as
//   "select id, amount * 0.92 as amount_eur where category = 'books'"
// and receives the transformed batches as they are produced.
#pragma once

#include <memory>
#include <string_view>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "flightdeck/frame/expression_parser.h"

namespace flightdeck::frame {

/// Applies `spec` to `input` lazily: the returned reader pulls from `input`
/// as it is read. The filter sees the input columns; the projection follows.
/// Fails with Invalid at once for unknown columns, type mismatches or a
/// non-boolean predicate (the schema is checked before any batch is read);
/// execution errors (e.g. a failing cast) come from the returned reader.
/// Consumes `input`; not thread-safe with other readers of `input`.
arrow::Result<std::unique_ptr<arrow::RecordBatchReader>> ApplyTransform(
    std::shared_ptr<arrow::RecordBatchReader> input, const SelectSpec& spec);

/// ParseSelect, then ApplyTransform.
arrow::Result<std::unique_ptr<arrow::RecordBatchReader>> ApplyTransform(
    std::shared_ptr<arrow::RecordBatchReader> input, std::string_view spec);

}  // namespace flightdeck::frame
