#include "flightdeck/flight/ipc_file_internal.h"

#include <filesystem>

#include <arrow/buffer.h>
#include <arrow/io/file.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/compression.h>

#include "flightdeck/common/durable_file.h"
#include "flightdeck/flight/checksum_internal.h"

namespace flightdeck::flight::internal {

namespace {

arrow::Result<WrittenFile> WriteTemporary(
    const std::string& tmp, const std::shared_ptr<arrow::Schema>& schema,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
    DiskCompression compression, const KeyRing* keys) {
  auto options = arrow::ipc::IpcWriteOptions::Defaults();
  if (compression != DiskCompression::kNone) {
    ARROW_ASSIGN_OR_RAISE(options.codec,
                          arrow::util::Codec::Create(compression == DiskCompression::kLz4
                                                         ? arrow::Compression::LZ4_FRAME
                                                         : arrow::Compression::ZSTD));
  }
  std::shared_ptr<arrow::io::OutputStream> out;
  ARROW_ASSIGN_OR_RAISE(out, arrow::io::FileOutputStream::Open(tmp));
  if (keys != nullptr) {
    ARROW_ASSIGN_OR_RAISE(out, OpenEncryptingStream(out, keys->Newest()));
  }
  ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeFileWriter(out, schema, options));
  for (const auto& batch : batches) ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*batch));
  ARROW_RETURN_NOT_OK(writer->Close());
  ARROW_RETURN_NOT_OK(out->Close());
  WrittenFile written;
  written.size = static_cast<int64_t>(std::filesystem::file_size(tmp));
  ARROW_ASSIGN_OR_RAISE(written.checksum, HashFile(tmp));
  return written;
}

}  // namespace

arrow::Result<WrittenFile> WriteIpcFile(
    const std::string& path, const std::shared_ptr<arrow::Schema>& schema,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
    DiskCompression compression, const KeyRing* keys) {
  const std::string tmp = path + ".tmp";
  auto written = WriteTemporary(tmp, schema, batches, compression, keys);
  arrow::Status st = written.status();
  if (st.ok()) st = RenameDurably(tmp, path);
  if (!st.ok()) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    return st.WithMessage("writing ", path, ": ", st.message());
  }
  return written;
}

arrow::Result<ReadFile> ReadIpcFile(const std::string& path, uint64_t expected_checksum,
                                    const KeyRing* keys) {
  ARROW_ASSIGN_OR_RAISE(auto file,
                        arrow::io::MemoryMappedFile::Open(path, arrow::io::FileMode::READ));
  ARROW_ASSIGN_OR_RAISE(int64_t size, file->GetSize());
  ARROW_ASSIGN_OR_RAISE(auto bytes, file->ReadAt(0, size));
  Hasher hasher;
  hasher.Update(bytes->data(), static_cast<size_t>(bytes->size()));
  if (hasher.Digest() != expected_checksum) {
    return arrow::Status::IOError("file ", path, " is corrupt: checksum ",
                                  FormatChecksum(hasher.Digest()), ", expected ",
                                  FormatChecksum(expected_checksum));
  }
  std::shared_ptr<arrow::io::RandomAccessFile> source = file;
  if (IsEncryptedFile(*bytes)) {
    ARROW_ASSIGN_OR_RAISE(auto plain, DecryptFile(*bytes, keys, path));
    source = std::make_shared<arrow::io::BufferReader>(std::move(plain));
  }
  // A plain file is served even with keys: a store that gains a key file
  // keeps the durable files it wrote before.
  ARROW_ASSIGN_OR_RAISE(auto reader, arrow::ipc::RecordBatchFileReader::Open(source));
  ReadFile read{reader->schema(), {}};
  read.batches.reserve(reader->num_record_batches());
  for (int i = 0; i < reader->num_record_batches(); ++i) {
    ARROW_ASSIGN_OR_RAISE(auto batch, reader->ReadRecordBatch(i));
    read.batches.push_back(std::move(batch));
  }
  return read;
}

}  // namespace flightdeck::flight::internal
