// flightdeck/frame/snappy_row_group.h: a Parquet RowGroupReader whose
// Snappy-compressed pages are decompressed by the snap crate
// (rust/fd_snappy). Internal to the frame layer.
//
// Decompression is most of the CPU a selective scan of Snappy-compressed
// Parquet spends. On the pages of floating-point data in bench/frame.py's
// lineitem, the snap crate decompresses about 2x as fast as the Snappy the
// Arrow wheel bundles and 1.4x as fast as Debian's libsnappy (measured on
// the bench machine), so ParquetColumnScan reads such row groups through
// this reader (builds without cargo use Debian's libsnappy: see
// cmake/FdSnappy.cmake). Pages are read with Parquet's own page reader, unchanged, and
// then decompressed; the column readers above see ordinary uncompressed
// pages.
#pragma once

#include <memory>

#include <arrow/io/interfaces.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/properties.h>

namespace flightdeck::frame::internal {

/// Whether OpenSnappyRowGroup can read the file with footer `metadata`: not
/// an encrypted file, nor one from a writer whose column chunk sizes
/// Parquet must correct (parquet-mr before PARQUET-816).
bool SnappyRowGroupsServe(const parquet::FileMetaData& metadata);

/// A reader of row group `row_group` of the file with footer `metadata`
/// (opened from `input` with `properties`; SnappyRowGroupsServe holds) that
/// decompresses its Snappy pages with the snap crate; Parquet's page reader
/// decompresses chunks of other codecs. Its readers throw
/// parquet::ParquetException on corrupt pages, as Parquet's own do.
std::unique_ptr<parquet::RowGroupReader> OpenSnappyRowGroup(std::shared_ptr<arrow::io::RandomAccessFile> input,
                                                            const parquet::FileMetaData& metadata,
                                                            const parquet::ReaderProperties& properties,
                                                            int row_group);

}  // namespace flightdeck::frame::internal
