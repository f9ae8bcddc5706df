// flightdeck/flight/dataset_ref.h: a dataset on a data node, named by its
// ticket, plus its summary: what NodeClient answers for a put, a persist or
// a find, and what a pipeline stage activity hands the next one (the one
// representation of a dataset reference in flight/ and pipeline/).
//
// This is the only thing about data that enters Temporal's history (a few
// hundred bytes whatever the data size). Its JSON form is shared with the
// Python stage worker (python/flightdeck_stage/dataset_ref.py):
//   {"node": "grpc+tcp://127.0.0.1:7100", "ticket": "<base64 of the ticket bytes>",
//    "rows": 10, "bytes": 80, "schema_fingerprint": "...", "checksum": "xxh3:..."}
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <arrow/result.h>


namespace flightdeck::flight {

/// One immutable dataset on one data node. A plain value; thread-compatible.
struct DatasetRef {
  /// The node's Flight location, e.g. "grpc+tcp://127.0.0.1:7100".
  std::string node;
  /// The ticket's bytes (opaque; the node's wire form).
  std::string ticket;
  int64_t rows = 0;
  int64_t bytes = 0;
  std::string schema_fingerprint;
  std::string checksum;
  /// From the node's summary only (not in the JSON form, nor in history):
  /// the dataset's path (tenant/dataset/partition) and whether it is durable.
  std::string path;
  bool durable = false;
  /// What the step that made the dataset read from the pipeline's source
  /// (a partition's first step; 0 otherwise or when not known): rows and
  /// bytes of the source files. Not part of the node's summary.
  int64_t source_rows = 0;
  int64_t source_bytes = 0;

  /// The JSON object form described in the file comment.
  std::string ToJson() const;

  bool operator==(const DatasetRef&) const = default;
};

/// Parses the JSON object form. Invalid naming the field that is missing,
/// has the wrong type, or (ticket) is not base64 or empty.
arrow::Result<DatasetRef> DatasetRefFromJson(std::string_view json);

/// Builds a ref from a data node's JSON put / persist summary (whose
/// "ticket" is the wire form as a plain string), `node` being the node's
/// location. Invalid naming a field that is missing or mistyped.
arrow::Result<DatasetRef> DatasetRefFromNodeSummary(const std::string& node,
                                                    std::string_view summary_json);

}  // namespace flightdeck::flight
