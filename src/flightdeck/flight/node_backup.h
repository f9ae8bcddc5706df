// flightdeck/flight/node_backup.h: backup and restore of a data node's
// durable datasets to an Arrow filesystem URI.
//
// A backup is the node's durable files exactly as they are on disk (so
// encrypted with its at-rest keys: a node without them is refused) under
// URI/files/, and the manifest that lists them (tickets, paths, checksums,
// expiries) as URI/manifest.json, written last. It is incremental by
// checksum: a file the previous backup at URI holds with the same file
// checksum and size is not copied again. Restore copies them into an empty
// data folder; a node started on it with the same --key-file recovers every
// dataset under its ticket, as after a restart. URIs: file:///ABSOLUTE/PATH
// and s3://BUCKET/PREFIX (Arrow's S3 filesystem: credentials from the AWS
// environment variables or profile; ?endpoint_override=HOST:PORT&scheme=http
// for an S3-compatible server).
#pragma once

#include <cstdint>
#include <string>

#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/flight/batch_store.h"

namespace flightdeck::flight {

struct BackupSummary {
  int64_t datasets = 0;  // in the backup's manifest
  int64_t copied = 0;    // files copied this time
  int64_t skipped = 0;   // files the previous backup had already
  int64_t bytes = 0;     // bytes copied
};

/// Invalid unless `uri` is file:// or s3://.
arrow::Status CheckBackupUri(const std::string& uri);

/// Writes `snapshot` (BatchStore::SnapshotDurable) to `uri`. Invalid when
/// the files are not encrypted at rest; IOError naming the file or URI that
/// failed (the previous manifest at `uri` stays until the new one is
/// complete).
arrow::Result<BackupSummary> BackupDurable(const BatchStore::DurableSnapshot& snapshot, const std::string& uri);

/// Copies the backup at `uri` into `data_dir` (created when missing).
/// Invalid when `data_dir` holds a manifest already (restore goes onto a new
/// or wiped node, never over one); IOError when the backup has no manifest
/// or a file is missing or of the wrong size. Returns the datasets restored.
arrow::Result<int64_t> RestoreDurable(const std::string& uri, const std::string& data_dir);

/// Releases Arrow's S3 client if it was used; call once before the process
/// exits (Arrow requires it).
void FinalizeBackupFilesystems();

}  // namespace flightdeck::flight
