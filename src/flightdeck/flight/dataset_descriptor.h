// flightdeck/flight/dataset_descriptor.h: which dataset a Flight descriptor
// names.
//
// Two forms name the same thing:
//  - a path descriptor of exactly three elements: tenant, dataset, partition;
//  - a command descriptor holding JSON:
//      {"tenant": "acme", "dataset": "orders", "partition": "0",
//       "durable": true, "ttl_seconds": 3600}
//    where "durable" (persist before the put returns) and "ttl_seconds"
//    (time to live; 0 forever) are optional and only mean something to DoPut,
//    and "endpoints" (1 to 64, default 1) only means something to
//    GetFlightInfo: how many endpoints to split the dataset's batches into,
//    for a client that fetches them concurrently (ticket.h, TicketPart).
// Each element is 1 to 256 characters without '/'; the tenant also follows
// ValidateTenant.
#pragma once

#include <chrono>
#include <string>

#include <arrow/flight/types.h>
#include <arrow/result.h>

namespace flightdeck::flight {

/// The largest command descriptor a node reads.
inline constexpr size_t kMaxCommandBytes = 4096;
/// The largest schema metadata (keys and values, every field's included) a
/// put may carry.
inline constexpr int64_t kMaxSchemaMetadataBytes = 64 * 1024;

struct DatasetDescriptor {
  std::string tenant;
  std::string dataset;
  std::string partition;
  bool durable = false;
  /// Negative: the node's default.
  std::chrono::milliseconds ttl{-1};
  /// Endpoints GetFlightInfo answers with (each a TicketPart); 1 to
  /// kMaxTicketParts.
  int endpoints = 1;

  /// "tenant/dataset/partition".
  std::string path() const { return tenant + "/" + dataset + "/" + partition; }
  /// The path descriptor of path().
  arrow::flight::FlightDescriptor ToFlightDescriptor() const {
    return arrow::flight::FlightDescriptor::Path({tenant, dataset, partition});
  }
};

/// Parses either form. Invalid (gRPC INVALID_ARGUMENT) naming what is wrong.
arrow::Result<DatasetDescriptor> ParseDatasetDescriptor(
    const arrow::flight::FlightDescriptor& descriptor);

}  // namespace flightdeck::flight
