#include "flightdeck/frame/snappy_row_group.h"

#include <string>
#include <utility>

#include <arrow/buffer.h>
#include <arrow/io/memory.h>
#include <parquet/column_page.h>
#include <parquet/column_reader.h>
#include <parquet/exception.h>
#include <parquet/metadata.h>
#include <parquet/properties.h>
#include <parquet/schema.h>

#if FLIGHTDECK_SNAP_CRATE
// rust/fd_snappy: the snap crate's raw Snappy decoder.
extern "C" bool fd_snappy_decompressed_length(const uint8_t* src, size_t length, size_t* out);
extern "C" bool fd_snappy_decompress(const uint8_t* src, size_t length, uint8_t* dst, size_t dst_length);
#else
#include <snappy.h>

// Debian's libsnappy, where cargo was not found (cmake/FdSnappy.cmake).
static bool fd_snappy_decompressed_length(const uint8_t* src, size_t length, size_t* out) {
  return snappy::GetUncompressedLength(reinterpret_cast<const char*>(src), length, out);
}
static bool fd_snappy_decompress(const uint8_t* src, size_t length, uint8_t* dst, size_t dst_length) {
  size_t expected = 0;
  return fd_snappy_decompressed_length(src, length, &expected) && expected == dst_length &&
         snappy::RawUncompress(reinterpret_cast<const char*>(src), length, reinterpret_cast<char*>(dst));
}
#endif

namespace flightdeck::frame::internal {

namespace {

// The data of `page` decompressed into `buffer` (resized to fit): `prefix`
// bytes copied as they are followed by the decompressed rest (data page v2
// keeps its levels uncompressed). `expected`: the total size the page
// header declares, or -1.
std::shared_ptr<arrow::Buffer> Decompress(const parquet::Page& page, int64_t prefix, int64_t expected,
                                          const std::shared_ptr<arrow::ResizableBuffer>& buffer) {
  const uint8_t* data = page.data();
  const int64_t size = page.size();
  if (prefix < 0 || prefix > size) throw parquet::ParquetException("Snappy page: levels longer than the page");
  size_t length = 0;
  if (!fd_snappy_decompressed_length(data + prefix, static_cast<size_t>(size - prefix), &length) ||
      (expected >= 0 && static_cast<int64_t>(length) + prefix != expected)) {
    throw parquet::ParquetException("Snappy page: corrupt length header");
  }
  PARQUET_THROW_NOT_OK(buffer->Resize(prefix + static_cast<int64_t>(length), /*shrink_to_fit=*/false));
  uint8_t* out = buffer->mutable_data();
  std::copy(data, data + prefix, out);
  if (!fd_snappy_decompress(data + prefix, static_cast<size_t>(size - prefix), out + prefix, length)) {
    throw parquet::ParquetException("Snappy page: corrupt compressed data");
  }
  return arrow::SliceBuffer(buffer, 0, prefix + static_cast<int64_t>(length));
}

// Pages of one column chunk: read as they are stored, then decompressed.
// A page's data lives until the next NextPage() (PageReader's contract), so
// one buffer serves every page.
class SnappyPageReader : public parquet::PageReader {
 public:
  SnappyPageReader(std::unique_ptr<parquet::PageReader> stored, std::shared_ptr<arrow::ResizableBuffer> buffer)
      : stored_(std::move(stored)), buffer_(std::move(buffer)) {}

  std::shared_ptr<parquet::Page> NextPage() override {
    auto page = stored_->NextPage();
    if (!page) return page;
    switch (page->type()) {
      case parquet::PageType::DICTIONARY_PAGE: {
        const auto& dictionary = static_cast<const parquet::DictionaryPage&>(*page);
        return std::make_shared<parquet::DictionaryPage>(Decompress(*page, 0, -1, buffer_), dictionary.num_values(),
                                                         dictionary.encoding(), dictionary.is_sorted());
      }
      case parquet::PageType::DATA_PAGE: {
        const auto& data = static_cast<const parquet::DataPageV1&>(*page);
        return std::make_shared<parquet::DataPageV1>(
            Decompress(*page, 0, data.uncompressed_size(), buffer_), data.num_values(), data.encoding(),
            data.definition_level_encoding(), data.repetition_level_encoding(), data.uncompressed_size(),
            data.statistics(), data.first_row_index(), data.size_statistics());
      }
      case parquet::PageType::DATA_PAGE_V2: {
        const auto& data = static_cast<const parquet::DataPageV2&>(*page);
        if (!data.is_compressed()) return page;
        const int64_t levels = int64_t{data.definition_levels_byte_length()} + data.repetition_levels_byte_length();
        return std::make_shared<parquet::DataPageV2>(
            Decompress(*page, levels, data.uncompressed_size(), buffer_), data.num_values(), data.num_nulls(),
            data.num_rows(), data.encoding(), data.definition_levels_byte_length(),
            data.repetition_levels_byte_length(), data.uncompressed_size(), /*is_compressed=*/false,
            data.statistics(), data.first_row_index(), data.size_statistics());
      }
      default:
        return page;
    }
  }

  void set_max_page_header_size(uint32_t size) override { stored_->set_max_page_header_size(size); }

 private:
  std::unique_ptr<parquet::PageReader> stored_;
  std::shared_ptr<arrow::ResizableBuffer> buffer_;
};

class SnappyRowGroupContents : public parquet::RowGroupReader::Contents {
 public:
  SnappyRowGroupContents(std::shared_ptr<arrow::io::RandomAccessFile> input,
                         std::unique_ptr<parquet::RowGroupMetaData> metadata, const parquet::ReaderProperties& properties)
      : input_(std::move(input)), metadata_(std::move(metadata)), properties_(properties) {}

  std::unique_ptr<parquet::PageReader> GetColumnPageReader(int i) override {
    const auto chunk = metadata_->ColumnChunk(i);
    int64_t start = chunk->data_page_offset();
    if (chunk->has_dictionary_page() && chunk->dictionary_page_offset() > 0 &&
        chunk->dictionary_page_offset() < start) {
      start = chunk->dictionary_page_offset();
    }
    PARQUET_ASSIGN_OR_THROW(auto stored, input_->ReadAt(start, chunk->total_compressed_size()));
    if (stored->size() != chunk->total_compressed_size()) {
      throw parquet::ParquetException("column chunk ", i, " ends past the end of the file");
    }
    // Snappy pages are read as stored and decompressed here; Parquet's page
    // reader decompresses any other codec itself.
    const bool snappy = chunk->compression() == parquet::Compression::SNAPPY;
    auto pages = parquet::PageReader::Open(std::make_shared<arrow::io::BufferReader>(std::move(stored)),
                                           chunk->num_values(),
                                           snappy ? parquet::Compression::UNCOMPRESSED : chunk->compression(),
                                           properties_, *metadata_->schema()->Column(i));
    if (!snappy) return pages;
    PARQUET_ASSIGN_OR_THROW(auto buffer, arrow::AllocateResizableBuffer(0, properties_.memory_pool()));
    return std::make_unique<SnappyPageReader>(std::move(pages), std::move(buffer));
  }

  const parquet::RowGroupMetaData* metadata() const override { return metadata_.get(); }
  const parquet::ReaderProperties* properties() const override { return &properties_; }

 private:
  std::shared_ptr<arrow::io::RandomAccessFile> input_;
  std::unique_ptr<parquet::RowGroupMetaData> metadata_;
  parquet::ReaderProperties properties_;
};

}  // namespace

bool SnappyRowGroupsServe(const parquet::FileMetaData& metadata) {
  return !metadata.is_encryption_algorithm_set() &&
         !metadata.writer_version().VersionLt(parquet::ApplicationVersion::PARQUET_816_FIXED_VERSION());
}

std::unique_ptr<parquet::RowGroupReader> OpenSnappyRowGroup(std::shared_ptr<arrow::io::RandomAccessFile> input,
                                                            const parquet::FileMetaData& metadata,
                                                            const parquet::ReaderProperties& properties,
                                                            int row_group) {
  return std::make_unique<parquet::RowGroupReader>(
      std::make_unique<SnappyRowGroupContents>(std::move(input), metadata.RowGroup(row_group), properties));
}

}  // namespace flightdeck::frame::internal
