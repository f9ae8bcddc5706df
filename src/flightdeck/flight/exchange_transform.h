// flightdeck/flight/exchange_transform.h: the hook a DataNode's DoExchange
// runs over the batches a client streams in.
//
// The flight layer does not know any expression language (the frame layer,
// which sits above it, does). Whoever starts a node decides what a DoExchange
// command means by setting DataNodeOptions::exchange_transform; the
// `flightdeck node` command wires frame::ApplyTransform, so the command text
// is e.g. "select id, amount * 0.92 as amount_eur where category = 'books'":
//
//   options.exchange_transform = [](std::string_view command,
//                                   std::shared_ptr<arrow::RecordBatchReader> input) {
//     return frame::ApplyTransform(std::move(input), command);
//   };
//
// A node without a hook answers DoExchange with NotImplemented
// (gRPC UNIMPLEMENTED).
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include <arrow/record_batch.h>
#include <arrow/result.h>

namespace flightdeck::flight {

/// Turns the client's input stream into the stream sent back.
///
/// `command` is the DoExchange command descriptor's text (valid only during
/// the call). `input` yields the client's batches as they arrive; the
/// returned reader should pull from it lazily. The node reads the returned
/// reader to its end (or until a failure) and then closes and destroys it
/// before the call ends: neither reader may be used afterwards.
///
/// Errors: return Invalid for a bad command or one that does not fit the
/// input schema (the client sees INVALID_ARGUMENT with the message); errors
/// from the returned reader end the call with that status.
/// Thread safety: called concurrently for concurrent calls.
using ExchangeTransform = std::function<arrow::Result<std::unique_ptr<arrow::RecordBatchReader>>(
    std::string_view command, std::shared_ptr<arrow::RecordBatchReader> input)>;

}  // namespace flightdeck::flight
