// flightdeck/frame/transform.h: a streaming projection / filter over a
// RecordBatchReader, driven by text. This is what a data node's DoExchange
// runs: the client sends batches and a command such as
//   "select id, amount * 0.92 as amount_eur where category = 'books'"
// and receives the transformed batches as they are produced.
//
// The command is [SELECT] items [WHERE predicate], or WHERE predicate alone,
// in DuckDB's SQL dialect: the items of a SELECT list (`*`, `expr [AS name]`)
// over the input's columns, and a predicate over them.
#pragma once

#include <memory>
#include <string_view>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "flightdeck/frame/engine.h"

namespace flightdeck::frame {

/// Applies `command` to `input` lazily on `engine` (Engine::Default() when
/// null): the returned reader pulls from `input` as it is read. Fails with
/// Invalid at once for a malformed command, unknown columns, type mismatches
/// or a non-boolean predicate (the schema is checked before any batch is
/// read); execution errors (e.g. a failing cast) come from the returned
/// reader. Consumes `input`; not thread-safe with other readers of `input`.
arrow::Result<std::unique_ptr<arrow::RecordBatchReader>> ApplyTransform(
    std::shared_ptr<arrow::RecordBatchReader> input, std::string_view command,
    std::shared_ptr<Engine> engine = nullptr);

}  // namespace flightdeck::frame
