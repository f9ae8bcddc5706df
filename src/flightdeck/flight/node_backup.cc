#include "flightdeck/flight/node_backup.h"

#include <atomic>
#include <filesystem>
#include <map>

#include <arrow/filesystem/api.h>
#include <arrow/filesystem/s3fs.h>
#include <arrow/io/file.h>
#include <nlohmann/json.hpp>

#include "flightdeck/common/durable_file.h"
#include "flightdeck/flight/batch_store_internal.h"

namespace flightdeck::flight {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::atomic<bool> s3_used{false};

// The filesystem of `uri` and the path of its root folder in it.
arrow::Result<std::pair<std::shared_ptr<arrow::fs::FileSystem>, std::string>> Open(const std::string& uri) {
  ARROW_RETURN_NOT_OK(CheckBackupUri(uri));
  if (uri.rfind("s3://", 0) == 0) {
    ARROW_RETURN_NOT_OK(arrow::fs::EnsureS3Initialized());
    s3_used = true;
  }
  std::string root;
  auto filesystem = arrow::fs::FileSystemFromUri(uri, &root);
  if (!filesystem.ok()) return filesystem.status().WithMessage("backup URI ", uri, ": ", filesystem.status().message());
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return std::make_pair(*filesystem, root);
}

arrow::Status CopyStream(arrow::io::InputStream& in, arrow::io::OutputStream& out, int64_t* copied) {
  constexpr int64_t kChunk = 4 << 20;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto chunk, in.Read(kChunk));
    if (chunk->size() == 0) break;
    ARROW_RETURN_NOT_OK(out.Write(chunk));
    *copied += chunk->size();
  }
  return out.Close();
}

arrow::Result<json> ReadManifest(arrow::fs::FileSystem& filesystem, const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto in, filesystem.OpenInputStream(path));
  std::string text;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto chunk, in->Read(1 << 20));
    if (chunk->size() == 0) break;
    text.append(reinterpret_cast<const char*>(chunk->data()), static_cast<size_t>(chunk->size()));
  }
  json manifest = json::parse(text, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object() || !manifest.contains("datasets") ||
      !manifest["datasets"].is_array()) {
    return arrow::Status::IOError(path, " is not a flightdeck manifest");
  }
  return manifest;
}

// A manifest entry's file name, checked to be a plain name (never a path).
arrow::Result<std::string> FileOf(const json& entry) {
  const std::string file = entry.value("file", std::string());
  if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
    return arrow::Status::IOError("manifest entry with a bad file name '", file, "'");
  }
  return file;
}

}  // namespace

arrow::Status CheckBackupUri(const std::string& uri) {
  if (uri.rfind("file:///", 0) == 0 || (uri.rfind("s3://", 0) == 0 && uri.size() > 5)) return arrow::Status::OK();
  return arrow::Status::Invalid("backup URI '", uri, "': expected file:///ABSOLUTE/PATH or s3://BUCKET[/PREFIX]");
}

arrow::Result<BackupSummary> BackupDurable(const BatchStore::DurableSnapshot& snapshot, const std::string& uri) {
  if (!snapshot.encrypted) {
    return arrow::Status::Invalid("backup needs encryption at rest: start the node with --key-file, so that the "
                                  "backup holds its files encrypted");
  }
  ARROW_ASSIGN_OR_RAISE(auto opened, Open(uri));
  auto& [filesystem, root] = opened;
  json manifest = json::parse(snapshot.manifest_json);
  // What the previous backup here holds: file -> checksum.
  std::map<std::string, std::string> previous;
  if (auto old = ReadManifest(*filesystem, root + "/manifest.json"); old.ok()) {
    for (const auto& entry : (*old)["datasets"]) {
      previous[entry.value("file", std::string())] = entry.value("file_checksum", std::string());
    }
  }
  ARROW_RETURN_NOT_OK(filesystem->CreateDir(root + "/files", /*recursive=*/true));
  BackupSummary summary;
  json kept = json::array();
  for (const auto& entry : manifest["datasets"]) {
    ARROW_ASSIGN_OR_RAISE(std::string file, FileOf(entry));
    const std::string target = root + "/files/" + file;
    const std::string checksum = entry.value("file_checksum", std::string());
    ARROW_ASSIGN_OR_RAISE(auto info, filesystem->GetFileInfo(target));
    if (previous.count(file) && previous[file] == checksum && info.type() == arrow::fs::FileType::File &&
        info.size() == entry.value("file_size", int64_t{-1})) {
      summary.skipped += 1;
      kept.push_back(entry);
      continue;
    }
    auto in = arrow::io::ReadableFile::Open((fs::path(snapshot.durable_dir) / file).string());
    if (!in.ok()) continue;  // dropped since the snapshot: not in this backup
    ARROW_ASSIGN_OR_RAISE(auto out, filesystem->OpenOutputStream(target));
    auto copied = CopyStream(**in, *out, &summary.bytes);
    if (!copied.ok()) return copied.WithMessage("backing up ", file, " to ", uri, ": ", copied.message());
    summary.copied += 1;
    kept.push_back(entry);
  }
  manifest["datasets"] = kept;
  summary.datasets = static_cast<int64_t>(kept.size());
  // Last: a backup interrupted before this keeps the previous manifest.
  ARROW_ASSIGN_OR_RAISE(auto out, filesystem->OpenOutputStream(root + "/manifest.json"));
  const std::string text = manifest.dump(1);
  ARROW_RETURN_NOT_OK(out->Write(text.data(), static_cast<int64_t>(text.size())));
  ARROW_RETURN_NOT_OK(out->Close());
  return summary;
}

arrow::Result<int64_t> RestoreDurable(const std::string& uri, const std::string& data_dir) {
  const fs::path folder(data_dir);
  std::error_code ec;
  if (fs::exists(folder / internal::kManifestName, ec)) {
    return arrow::Status::Invalid("restore into ", data_dir, ": it holds a node's manifest already; restore goes "
                                  "onto a new or wiped data folder");
  }
  ARROW_ASSIGN_OR_RAISE(auto opened, Open(uri));
  auto& [filesystem, root] = opened;
  auto manifest = ReadManifest(*filesystem, root + "/manifest.json");
  if (!manifest.ok()) return manifest.status().WithMessage("no backup at ", uri, ": ", manifest.status().message());
  fs::create_directories(folder / "durable", ec);
  if (ec) return arrow::Status::IOError("cannot create ", (folder / "durable").string(), ": ", ec.message());
  int64_t restored = 0;
  for (const auto& entry : (*manifest)["datasets"]) {
    ARROW_ASSIGN_OR_RAISE(std::string file, FileOf(entry));
    const fs::path target = folder / "durable" / file;
    ARROW_ASSIGN_OR_RAISE(auto in, filesystem->OpenInputStream(root + "/files/" + file));
    ARROW_ASSIGN_OR_RAISE(auto out, arrow::io::FileOutputStream::Open(target.string()));
    int64_t bytes = 0;
    ARROW_RETURN_NOT_OK(CopyStream(*in, *out, &bytes));
    if (bytes != entry.value("file_size", int64_t{-1})) {
      return arrow::Status::IOError("backup file ", file, " has ", bytes, " bytes, its manifest says ",
                                    entry.value("file_size", int64_t{-1}));
    }
    restored += 1;
  }
  // The manifest last: a restore cut short leaves no node state to start from.
  ARROW_RETURN_NOT_OK(WriteFileAtomically((folder / internal::kManifestName).string(), manifest->dump(1)));
  return restored;
}

void FinalizeBackupFilesystems() {
  if (s3_used.exchange(false)) (void)arrow::fs::FinalizeS3();
}

}  // namespace flightdeck::flight
