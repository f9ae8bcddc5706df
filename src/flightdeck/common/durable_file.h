// flightdeck/common/durable_file.h: files that survive a crash or power cut.
//
// Every path that writes a file a later step relies on (the node's IPC files
// and manifest, a sink's parts and _SUCCESS marker, a history export, the
// DataFrame writers) goes through these: the data is fsynced before it gets
// its final name, and the directory is fsynced after the rename, so after a
// crash a name either points at complete contents or does not exist.
#pragma once

#include <string>

#include <arrow/status.h>

namespace flightdeck {

/// fsync of one file or directory. IOError naming the path.
arrow::Status SyncPath(const std::string& path);

/// fsync of every file and directory under `dir`, then `dir` itself.
arrow::Status SyncTree(const std::string& dir);

/// Renames `from` (a file or a directory whose contents were synced) to
/// `to` after syncing `from`, then syncs the directories of both names, so
/// the rename itself is durable. IOError naming both paths.
arrow::Status RenameDurably(const std::string& from, const std::string& to);

/// Writes `contents` to `path` atomically and durably: a temporary sibling
/// is written, fsynced and renamed over `path`, then the directory is
/// fsynced. On error `path` is untouched and no temporary is left.
arrow::Status WriteFileAtomically(const std::string& path, const std::string& contents);

/// A name next to `path` (same directory, hidden, unique in this process
/// and across processes) for writing a file or folder before it takes
/// `path`'s name.
std::string TemporarySibling(const std::string& path);

}  // namespace flightdeck
