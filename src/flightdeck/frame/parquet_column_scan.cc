#include "flightdeck/frame/parquet_column_scan.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include <arrow/array/data.h>
#include <arrow/buffer.h>
#include <arrow/dataset/dataset.h>
#include <arrow/dataset/file_base.h>
#include <arrow/dataset/file_parquet.h>
#include <arrow/filesystem/localfs.h>
#include <arrow/io/file.h>
#include <arrow/util/bit_util.h>
#include <arrow/util/bitmap_generate.h>
#include <arrow/util/bit_run_reader.h>
#include <arrow/util/bitmap_ops.h>
#include <arrow/util/parallel.h>
#include <parquet/column_reader.h>
#include <parquet/exception.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/properties.h>
#include <parquet/schema.h>
#include <parquet/statistics.h>

#include "flightdeck/frame/snappy_row_group.h"

namespace flightdeck::frame::internal {

namespace cp = arrow::compute;
namespace ds = arrow::dataset;
using Op = ColumnPredicate::Op;

namespace {

// Rows per chunk: the arrays of one chunk stay in the CPU's caches.
constexpr int64_t kChunkRows = 64 * 1024;

bool Supported(arrow::Type::type id) {
  return id == arrow::Type::INT32 || id == arrow::Type::INT64 || id == arrow::Type::DATE32 ||
         id == arrow::Type::FLOAT || id == arrow::Type::DOUBLE;
}

// The comparison `name` as `field OP constant`; `flipped` when the call
// reads `constant OP field`.
std::optional<Op> ComparisonOf(const std::string& name, bool flipped) {
  if (name == "equal") return Op::kEqual;
  if (name == "not_equal") return Op::kNotEqual;
  if (name == "less") return flipped ? Op::kGreater : Op::kLess;
  if (name == "less_equal") return flipped ? Op::kGreaterEqual : Op::kLessEqual;
  if (name == "greater") return flipped ? Op::kLess : Op::kGreater;
  if (name == "greater_equal") return flipped ? Op::kLessEqual : Op::kGreaterEqual;
  return std::nullopt;
}

void Conjuncts(const cp::Expression& expression, std::vector<cp::Expression>* out) {
  const auto* call = expression.call();
  if (call && (call->function_name == "and" || call->function_name == "and_kleene")) {
    for (const auto& argument : call->arguments) Conjuncts(argument, out);
    return;
  }
  out->push_back(expression);
}

std::optional<ColumnPredicate> AsColumnPredicate(const cp::Expression& expression, const arrow::Schema& schema) {
  const auto* call = expression.call();
  if (!call || call->arguments.size() != 2) return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    const auto* ref = call->arguments[side].field_ref();
    const auto* constant = call->arguments[1 - side].literal();
    if (!ref || !ref->name() || !constant || !constant->is_scalar()) continue;
    const int field = schema.GetFieldIndex(*ref->name());
    if (field < 0 || !Supported(schema.field(field)->type()->id())) return std::nullopt;
    const auto& scalar = constant->scalar();
    if (!scalar->is_valid || !scalar->type->Equals(*schema.field(field)->type())) return std::nullopt;
    auto op = ComparisonOf(call->function_name, side == 1);
    if (!op) return std::nullopt;
    return ColumnPredicate{field, *op, scalar};
  }
  return std::nullopt;
}

bool IsSignedInt(const parquet::LogicalType& logical, int bits) {
  if (!logical.is_int()) return false;
  const auto& integer = static_cast<const parquet::IntLogicalType&>(logical);
  return integer.bit_width() == bits && integer.is_signed();
}

// Whether Parquet column `descr` holds `type` as Arrow's reader reads it,
// flat and at most optional.
bool Stores(const parquet::ColumnDescriptor& descr, const arrow::DataType& type) {
  if (descr.max_repetition_level() != 0 || descr.max_definition_level() > 1) return false;
  const auto& logical = *descr.logical_type();
  const bool plain = logical.is_none();
  switch (type.id()) {
    case arrow::Type::INT32:
      return descr.physical_type() == parquet::Type::INT32 && (plain || IsSignedInt(logical, 32));
    case arrow::Type::DATE32:
      return descr.physical_type() == parquet::Type::INT32 && logical.is_date();
    case arrow::Type::INT64:
      return descr.physical_type() == parquet::Type::INT64 && (plain || IsSignedInt(logical, 64));
    case arrow::Type::FLOAT:
      return descr.physical_type() == parquet::Type::FLOAT && plain;
    case arrow::Type::DOUBLE:
      return descr.physical_type() == parquet::Type::DOUBLE && plain;
    default:
      return false;
  }
}

// Calls `f` with the standard comparison function object of `op`, so that
// a loop written once inside `f` is compiled per comparison.
template <typename F>
auto VisitComparison(Op op, F&& f) {
  switch (op) {
    case Op::kEqual:
      return f(std::equal_to<>());
    case Op::kNotEqual:
      return f(std::not_equal_to<>());
    case Op::kLess:
      return f(std::less<>());
    case Op::kLessEqual:
      return f(std::less_equal<>());
    case Op::kGreater:
      return f(std::greater<>());
    case Op::kGreaterEqual:
      break;
  }
  return f(std::greater_equal<>());
}

template <typename T>
bool Holds(Op op, T value, T constant) {
  return VisitComparison(op, [&](auto compare) { return compare(value, constant); });
}

// keep[i] &= values[i] OP constant, as one loop per comparison that the
// compiler vectorizes.
template <typename T>
void KeepWhere(Op op, const T* values, int64_t rows, T constant, uint8_t* keep) {
  VisitComparison(op, [&](auto compare) {
    for (int64_t i = 0; i < rows; ++i) keep[i] &= static_cast<uint8_t>(compare(values[i], constant));
  });
}

// The per-row loops over dictionary indices, compiled for AVX2 and for the
// x86-64 baseline; the dynamic loader picks the one the CPU runs.
#if defined(__x86_64__) && defined(__GNUC__)
#define FD_PER_ROW_LOOP __attribute__((target_clones("avx2", "default")))
#else
#define FD_PER_ROW_LOOP
#endif

// Whether every one of `count` indices is below `length`.
FD_PER_ROW_LOOP bool IndicesBelow(const int32_t* indices, int64_t count, int32_t length) {
  uint32_t outside = 0;
  for (int64_t i = 0; i < count; ++i) {
    outside |= static_cast<uint32_t>(static_cast<uint32_t>(indices[i]) >= static_cast<uint32_t>(length));
  }
  return outside == 0;
}

// keep[i] &= table[indices[i]]. (`keep` aliases neither input: without
// __restrict every store to it would order the next table load after it.)
FD_PER_ROW_LOOP void KeepWhereTable(const int32_t* __restrict indices, int64_t rows,
                                    const uint8_t* __restrict table, uint8_t* __restrict keep) {
  for (int64_t i = 0; i < rows; ++i) keep[i] &= table[indices[i]];
}

// keep[i] &= bit indices[i] of `mask`, for indices below 64: the table of
// a small dictionary as one word, so that the loop needs no memory lookup
// and vectorizes.
FD_PER_ROW_LOOP void KeepWhereBits(const int32_t* __restrict indices, int64_t rows, uint64_t mask,
                                   uint8_t* __restrict keep) {
  for (int64_t i = 0; i < rows; ++i) {
    keep[i] &= static_cast<uint8_t>((mask >> static_cast<uint32_t>(indices[i])) & 1);
  }
}

template <typename T>
T ValueOf(const arrow::Scalar& scalar) {
  return *static_cast<const T*>(static_cast<const arrow::internal::PrimitiveScalarBase&>(scalar).data());
}

// What the scan does with one column.
struct Slot {
  int field = -1;
  std::string name;
  std::shared_ptr<arrow::DataType> type;
  std::vector<ColumnPredicate> predicates;
  bool materialize = false;
  bool every_row = false;  // materialized on every row, not only selected ones
};

struct File {
  std::string path;
  std::shared_ptr<arrow::io::RandomAccessFile> input;
  std::shared_ptr<parquet::ParquetFileReader> reader;
  bool snappy_row_groups = false;  // read through OpenSnappyRowGroup
  std::vector<int> row_groups;
  std::vector<int> columns;  // per slot, the Parquet leaf column
};

// Reads one column of one row group, chunk by chunk: Load() reads the next
// chunk and applies the column's predicates; Materialize() then turns the
// loaded chunk into an Arrow array.
class ChunkReader {
 public:
  virtual ~ChunkReader() = default;
  /// Reads the next `rows` rows; when `keep` is given, clears keep[i] where
  /// a predicate fails or the value is null.
  virtual arrow::Status Load(int64_t rows, uint8_t* keep) = 0;
  /// The loaded rows as an array of the slot's type. With `only` (a bitmap
  /// of the rows), rows whose bit is clear may hold any value: for columns
  /// that only expressions which cannot fail read, on rows the aggregate
  /// skips.
  virtual arrow::Result<std::shared_ptr<arrow::ArrayData>> Materialize(const uint8_t* only) = 0;
  /// Moves past the next `rows` rows.
  virtual arrow::Status Skip(int64_t rows) = 0;
};

// Per-column working memory of a chunk reader, kept by each thread from row
// group to row group (allocating it anew for each one costs page faults).
struct Scratch {
  std::vector<int16_t> levels;
  std::vector<int32_t> indices;
};

// T: the Arrow C type (int32_t also for date32); DType: Parquet's type.
template <typename T, typename DType>
class TypedChunkReader : public ChunkReader {
 public:
  TypedChunkReader(const Slot& slot, const File& file, std::shared_ptr<parquet::ColumnReader> reader,
                   bool optional, Scratch* scratch, arrow::MemoryPool* pool)
      : slot_(slot),
        file_(file),
        levels_(scratch->levels),
        indices_(scratch->indices),
        reader_(std::static_pointer_cast<parquet::TypedColumnReader<DType>>(std::move(reader))),
        dictionary_(reader_->GetExposedEncoding() == parquet::ExposedEncoding::DICTIONARY),
        optional_(optional),
        pool_(pool) {}

  arrow::Status Load(int64_t rows, uint8_t* keep) override {
    rows_ = rows;
    present_ = 0;
    if (optional_) levels_.resize(rows);
    int16_t* levels = optional_ ? levels_.data() : nullptr;
    if (dictionary_) {
      indices_.resize(rows);
      ARROW_RETURN_NOT_OK(ReadIndices(rows, levels));
      ARROW_RETURN_NOT_OK(Space(indices_.data(), levels));
      // Indices come from the file: a corrupt one must not read past the
      // dictionary. With no value present (all null) there may be no
      // dictionary yet: the null rows are dropped below.
      if (present_ > 0 && !IndicesBelow(indices_.data(), rows, dictionary_length_)) {
        return arrow::Status::IOError("Parquet file ", file_.path, ": column ", slot_.name,
                                      " has a dictionary index past its dictionary of ", dictionary_length_,
                                      " values");
      }
      if (keep && present_ > 0) {
        if (dictionary_length_ <= 64) {
          KeepWhereBits(indices_.data(), rows, table_bits_, keep);
        } else {
          KeepWhereTable(indices_.data(), rows, table_.data(), keep);
        }
      }
    } else {
      ARROW_RETURN_NOT_OK(Reuse(&values_, rows * sizeof(T)));
      T* values = values_->template mutable_data_as<T>();
      ARROW_RETURN_NOT_OK(ReadValues(rows, levels, values));
      ARROW_RETURN_NOT_OK(Space(values, levels));
      if (keep) {
        for (const auto& predicate : slot_.predicates) {
          KeepWhere(predicate.op, values, rows, ValueOf<T>(*predicate.constant), keep);
        }
      }
    }
    if (keep && present_ < rows) {
      const int16_t* levels_read = levels_.data();
      for (int64_t i = 0; i < rows; ++i) keep[i] &= static_cast<uint8_t>(levels_read[i] > 0);
    }
    return arrow::Status::OK();
  }

  arrow::Result<std::shared_ptr<arrow::ArrayData>> Materialize(const uint8_t* only) override {
    if (dictionary_) {
      ARROW_RETURN_NOT_OK(Reuse(&values_, rows_ * sizeof(T)));
      T* out = values_->template mutable_data_as<T>();
      const int32_t* indices = indices_.data();
      const T* dictionary = dictionary_values_.data();
      if (present_ == 0) {
        std::fill(out, out + rows_, T{});
      } else if (only) {
        arrow::internal::VisitSetBitRunsVoid(only, 0, rows_, [&](int64_t position, int64_t length) {
          for (int64_t i = position; i < position + length; ++i) out[i] = dictionary[indices[i]];
        });
      } else {
        for (int64_t i = 0; i < rows_; ++i) out[i] = dictionary[indices[i]];
      }
    }
    std::shared_ptr<arrow::Buffer> validity;
    if (present_ < rows_) {
      ARROW_ASSIGN_OR_RAISE(validity, arrow::AllocateBitmap(rows_, pool_));
      const int16_t* levels = levels_.data();
      int64_t i = 0;
      arrow::internal::GenerateBitsUnrolled(validity->mutable_data(), 0, rows_, [&] { return levels[i++] > 0; });
    }
    return arrow::ArrayData::Make(slot_.type, rows_, {std::move(validity), values_}, rows_ - present_);
  }

  arrow::Status Skip(int64_t rows) override {
    int64_t skipped = 0;
    while (skipped < rows) {
      const int64_t step = reader_->Skip(rows - skipped);
      if (step <= 0) return Truncated(rows);
      skipped += step;
    }
    return arrow::Status::OK();
  }

 private:
  // Makes `buffer` a mutable buffer of `size` bytes, reusing it when no
  // array handed out by an earlier Materialize() holds it any more.
  arrow::Status Reuse(std::shared_ptr<arrow::ResizableBuffer>* buffer, int64_t size) {
    if (!*buffer || buffer->use_count() > 1) {
      ARROW_ASSIGN_OR_RAISE(*buffer, arrow::AllocateResizableBuffer(size, pool_));
      return arrow::Status::OK();
    }
    return (*buffer)->Resize(size, /*shrink_to_fit=*/false);
  }

  arrow::Status Truncated(int64_t rows) const {
    return arrow::Status::IOError("Parquet file ", file_.path, ": column ", slot_.name,
                                  " ends before the rows its row group declares (", rows, " more expected)");
  }

  // Reads `rows` levels and the dictionary indices of the present values.
  arrow::Status ReadIndices(int64_t rows, int16_t* levels) {
    int64_t read = 0;
    while (read < rows) {
      int64_t indices_read = 0;
      const T* dictionary = nullptr;
      int32_t dictionary_length = 0;
      const int64_t step = reader_->ReadBatchWithDictionary(
          rows - read, levels ? levels + read : nullptr, nullptr, indices_.data() + present_, &indices_read,
          &dictionary, &dictionary_length);
      if (step <= 0) return Truncated(rows - read);
      if (dictionary && (dictionary != dictionary_seen_ || dictionary_length != dictionary_length_)) {
        SetDictionary(dictionary, dictionary_length);
      }
      read += step;
      present_ += indices_read;
    }
    return arrow::Status::OK();
  }

  void SetDictionary(const T* dictionary, int32_t length) {
    dictionary_seen_ = dictionary;
    dictionary_length_ = length;
    dictionary_values_.assign(dictionary, dictionary + length);
    table_.assign(length, 1);
    for (const auto& predicate : slot_.predicates) {
      const T constant = ValueOf<T>(*predicate.constant);
      for (int32_t k = 0; k < length; ++k) table_[k] &= static_cast<uint8_t>(Holds(predicate.op, dictionary[k], constant));
    }
    table_bits_ = 0;
    for (int32_t k = 0; k < std::min(length, 64); ++k) table_bits_ |= uint64_t{table_[k]} << k;
  }

  arrow::Status ReadValues(int64_t rows, int16_t* levels, T* values) {
    static_assert(sizeof(T) == sizeof(typename DType::c_type));
    auto* out = reinterpret_cast<typename DType::c_type*>(values);
    int64_t read = 0;
    while (read < rows) {
      int64_t values_read = 0;
      const int64_t step =
          reader_->ReadBatch(rows - read, levels ? levels + read : nullptr, nullptr, out + present_, &values_read);
      if (step <= 0) return Truncated(rows - read);
      read += step;
      present_ += values_read;
    }
    return arrow::Status::OK();
  }

  // Moves the present_ leading entries of `data` to the rows whose level
  // says present (back to front, in place); null rows get a zero entry.
  template <typename U>
  arrow::Status Space(U* data, const int16_t* levels) const {
    if (present_ == rows_) return arrow::Status::OK();
    if (!levels || present_ > rows_) return Truncated(rows_ - present_);
    int64_t next = present_;
    for (int64_t i = rows_ - 1; i >= 0; --i) {
      data[i] = levels[i] > 0 ? data[--next] : U{};
    }
    if (next != 0) {
      return arrow::Status::IOError("Parquet file ", file_.path, ": column ", slot_.name,
                                    " has definition levels that disagree with its values");
    }
    return arrow::Status::OK();
  }

  const Slot& slot_;
  const File& file_;
  std::vector<int16_t>& levels_;
  std::vector<int32_t>& indices_;
  std::shared_ptr<parquet::TypedColumnReader<DType>> reader_;
  const bool dictionary_;
  const bool optional_;
  arrow::MemoryPool* pool_;
  // The loaded chunk: its rows, the values present (not null), their
  // definition levels (optional columns), and the dictionary indices
  // (dictionary mode) or the values (otherwise), one per row.
  int64_t rows_ = 0;
  int64_t present_ = 0;
  std::shared_ptr<arrow::ResizableBuffer> values_;
  const T* dictionary_seen_ = nullptr;
  int32_t dictionary_length_ = 0;
  std::vector<T> dictionary_values_;
  std::vector<uint8_t> table_;  // per dictionary entry: every predicate holds
  uint64_t table_bits_ = 0;     // table_ as bits, for dictionaries of at most 64 entries
};

// Whether the statistics of a column chunk show that no row of it passes
// the slot's predicates (every value null, or no value in [min, max] can).
template <typename T, typename DType>
bool RuledOut(const parquet::ColumnChunkMetaData& chunk, const Slot& slot) {
  if (slot.predicates.empty() || !chunk.is_stats_set()) return false;
  auto statistics = std::dynamic_pointer_cast<parquet::TypedStatistics<DType>>(chunk.statistics());
  if (!statistics) return false;
  if (statistics->HasNullCount() && statistics->null_count() >= chunk.num_values()) return true;
  if (!statistics->HasMinMax()) return false;
  const T low = static_cast<T>(statistics->min());
  const T high = static_cast<T>(statistics->max());
  if (low != low || high != high) return false;  // NaN bounds say nothing
  for (const auto& predicate : slot.predicates) {
    const T constant = ValueOf<T>(*predicate.constant);
    switch (predicate.op) {
      case Op::kEqual:
        if (constant < low || constant > high) return true;
        break;
      case Op::kNotEqual:
        break;
      case Op::kLess:
        if (!(low < constant)) return true;
        break;
      case Op::kLessEqual:
        if (!(low <= constant)) return true;
        break;
      case Op::kGreater:
        if (!(high > constant)) return true;
        break;
      case Op::kGreaterEqual:
        if (!(high >= constant)) return true;
        break;
    }
  }
  return false;
}

// Dispatches on the slot's Arrow type: F is called with (T{}, DType{}).
template <typename F>
auto VisitSlotType(const Slot& slot, F&& f) {
  switch (slot.type->id()) {
    case arrow::Type::INT64:
      return f(int64_t{}, parquet::Int64Type{});
    case arrow::Type::FLOAT:
      return f(float{}, parquet::FloatType{});
    case arrow::Type::DOUBLE:
      return f(double{}, parquet::DoubleType{});
    default:  // int32, date32
      return f(int32_t{}, parquet::Int32Type{});
  }
}

}  // namespace

void SplitPredicates(const std::vector<cp::Expression>& predicates, const arrow::Schema& schema,
                     std::vector<ColumnPredicate>* column_predicates, std::vector<cp::Expression>* residual) {
  std::vector<cp::Expression> conjuncts;
  for (const auto& predicate : predicates) Conjuncts(predicate, &conjuncts);
  for (auto& conjunct : conjuncts) {
    auto folded = cp::FoldConstants(conjunct);
    auto column_predicate = folded.ok() ? AsColumnPredicate(*folded, schema) : std::nullopt;
    if (column_predicate) {
      column_predicates->push_back(*std::move(column_predicate));
    } else {
      residual->push_back(std::move(conjunct));
    }
  }
}

struct ParquetColumnScan::Impl {
  std::vector<Slot> slots;  // predicate columns first
  std::vector<File> files;
  std::vector<std::shared_ptr<arrow::Scalar>> nulls;  // per scan field
  parquet::ReaderProperties properties = parquet::default_reader_properties();

  // Parquet's readers throw on corrupt data: the error names the place.
  arrow::Status ReadRowGroup(const File& file, int row_group, const ChunkConsumer& consume,
                             arrow::MemoryPool* pool) const {
    try {
      return ReadRowGroupOrThrow(file, row_group, consume, pool);
    } catch (const parquet::ParquetStatusException& e) {
      return e.status().WithMessage("Parquet file ", file.path, ", row group ", row_group, ": ",
                                    e.status().message());
    } catch (const parquet::ParquetException& e) {
      return arrow::Status::IOError("Parquet file ", file.path, ", row group ", row_group, ": ", e.what());
    }
  }

  arrow::Status ReadRowGroupOrThrow(const File& file, int row_group, const ChunkConsumer& consume,
                                    arrow::MemoryPool* pool) const {
    const auto& file_metadata = *file.reader->metadata();
    const auto metadata = file_metadata.RowGroup(row_group);
    std::vector<std::unique_ptr<parquet::ColumnChunkMetaData>> chunks;  // per slot
    for (size_t s = 0; s < slots.size(); ++s) {
      chunks.push_back(metadata->ColumnChunk(file.columns[s]));
      const bool ruled_out = VisitSlotType(slots[s], [&](auto t, auto d) {
        return RuledOut<decltype(t), decltype(d)>(*chunks[s], slots[s]);
      });
      if (ruled_out) return arrow::Status::OK();
    }
    std::shared_ptr<parquet::RowGroupReader> reader =
        file.snappy_row_groups ? OpenSnappyRowGroup(file.input, file_metadata, properties, row_group)
                               : file.reader->RowGroup(row_group);
    thread_local std::vector<Scratch> scratch;
    if (scratch.size() < slots.size()) scratch.resize(slots.size());
    std::vector<std::unique_ptr<ChunkReader>> columns;
    for (size_t s = 0; s < slots.size(); ++s) {
      const Slot& slot = slots[s];
      const int column = file.columns[s];
      // Definition levels are skipped where the chunk's statistics count
      // no null. A file whose statistics lie fails to read (its pages hold
      // fewer values than the reader then asks for); it is not misread.
      const auto statistics = chunks[s]->is_stats_set() ? chunks[s]->statistics() : nullptr;
      const bool optional = file_metadata.schema()->Column(column)->max_definition_level() > 0 &&
                            !(statistics && statistics->HasNullCount() && statistics->null_count() == 0);
      auto column_reader = slot.predicates.empty()
                               ? reader->Column(column)
                               : reader->ColumnWithExposeEncoding(column, parquet::ExposedEncoding::DICTIONARY);
      columns.push_back(VisitSlotType(slot, [&](auto t, auto d) -> std::unique_ptr<ChunkReader> {
        return std::make_unique<TypedChunkReader<decltype(t), decltype(d)>>(slot, file, std::move(column_reader),
                                                                           optional, &scratch[s], pool);
      }));
    }
    const int64_t rows = metadata->num_rows();
    thread_local std::vector<uint8_t> keep;
    keep.resize(kChunkRows);
    for (int64_t start = 0; start < rows; start += kChunkRows) {
      const int64_t length = std::min(kChunkRows, rows - start);
      std::fill(keep.begin(), keep.begin() + length, 1);
      size_t s = 0;
      for (; s < slots.size() && !slots[s].predicates.empty(); ++s) {
        ARROW_RETURN_NOT_OK(columns[s]->Load(length, keep.data()));
      }
      std::vector<uint8_t> selection(arrow::bit_util::BytesForBits(length));
      int64_t i = 0;
      arrow::internal::GenerateBitsUnrolled(selection.data(), 0, length, [&] { return keep[i++] != 0; });
      if (arrow::internal::CountSetBits(selection.data(), 0, length) == 0) {
        for (; s < slots.size(); ++s) ARROW_RETURN_NOT_OK(columns[s]->Skip(length));
        continue;
      }
      for (; s < slots.size(); ++s) ARROW_RETURN_NOT_OK(columns[s]->Load(length, nullptr));
      std::vector<arrow::Datum> values(nulls.begin(), nulls.end());
      for (size_t m = 0; m < slots.size(); ++m) {
        if (!slots[m].materialize) continue;
        ARROW_ASSIGN_OR_RAISE(auto array, columns[m]->Materialize(slots[m].every_row ? nullptr : selection.data()));
        values[slots[m].field] = std::move(array);
      }
      ARROW_RETURN_NOT_OK(consume(cp::ExecBatch(std::move(values), length), selection.data()));
    }
    return arrow::Status::OK();
  }
};

ParquetColumnScan::ParquetColumnScan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ParquetColumnScan::~ParquetColumnScan() = default;

std::unique_ptr<ParquetColumnScan> ParquetColumnScan::Open(const std::shared_ptr<ds::Dataset>& dataset,
                                                           std::shared_ptr<arrow::Schema> scan_schema,
                                                           std::vector<ColumnPredicate> predicates,
                                                           std::vector<int> materialized,
                                                           std::vector<int> every_row) {
  auto* files = dynamic_cast<ds::FileSystemDataset*>(dataset.get());
  if (!files || !dataset->partition_expression().Equals(cp::literal(true))) return nullptr;
  auto format = std::dynamic_pointer_cast<ds::ParquetFileFormat>(files->format());
  if (!format) return nullptr;
  auto impl = std::make_unique<Impl>();
  // Slots: predicate columns first, so that a chunk no row of passes skips
  // the rest.
  std::vector<int> fields;
  for (const auto& predicate : predicates) fields.push_back(predicate.field);
  for (int field : materialized) fields.push_back(field);
  for (int field : fields) {
    if (std::any_of(impl->slots.begin(), impl->slots.end(), [&](const Slot& s) { return s.field == field; })) continue;
    Slot slot;
    slot.field = field;
    slot.name = scan_schema->field(field)->name();
    slot.type = scan_schema->field(field)->type();
    if (!Supported(slot.type->id())) return nullptr;
    for (const auto& predicate : predicates) {
      if (predicate.field == field) slot.predicates.push_back(predicate);
    }
    slot.materialize = std::find(materialized.begin(), materialized.end(), field) != materialized.end();
    slot.every_row = std::find(every_row.begin(), every_row.end(), field) != every_row.end();
    impl->slots.push_back(std::move(slot));
  }
  auto& properties = impl->properties;
  if (auto options = std::dynamic_pointer_cast<ds::ParquetFragmentScanOptions>(format->default_fragment_scan_options);
      options && options->reader_properties) {
    properties = *options->reader_properties;
  }
  auto fragments = files->GetFragments();
  if (!fragments.ok()) return nullptr;
  for (auto next : *fragments) {
    if (!next.ok()) return nullptr;
    auto fragment = std::dynamic_pointer_cast<ds::ParquetFileFragment>(*next);
    if (!fragment || !fragment->partition_expression().Equals(cp::literal(true))) return nullptr;
    const auto& source = fragment->source();
    File file;
    file.path = source.path();
    std::shared_ptr<arrow::io::RandomAccessFile> input;
    if (std::dynamic_pointer_cast<arrow::fs::LocalFileSystem>(source.filesystem()) && !source.path().empty()) {
      auto mapped = arrow::io::MemoryMappedFile::Open(source.path(), arrow::io::FileMode::READ);
      if (!mapped.ok()) return nullptr;
      input = *std::move(mapped);
    } else {
      auto opened = source.Open();
      if (!opened.ok()) return nullptr;
      input = *std::move(opened);
    }
    try {
      file.input = input;
      file.reader = parquet::ParquetFileReader::Open(std::move(input), properties);
    } catch (const parquet::ParquetException&) {
      return nullptr;
    }
    const auto metadata = file.reader->metadata();
    file.snappy_row_groups = SnappyRowGroupsServe(*metadata);
    for (const auto& slot : impl->slots) {
      const int column = metadata->schema()->ColumnIndex(slot.name);
      if (column < 0) return nullptr;
      const auto* descr = metadata->schema()->Column(column);
      if (descr->path()->ToDotVector().size() != 1 || !Stores(*descr, *slot.type)) return nullptr;
      file.columns.push_back(column);
    }
    file.row_groups = fragment->row_groups();
    for (int g : file.row_groups) {
      if (g < 0 || g >= metadata->num_row_groups()) return nullptr;
    }
    if (file.row_groups.empty()) {
      for (int g = 0; g < metadata->num_row_groups(); ++g) file.row_groups.push_back(g);
    }
    impl->files.push_back(std::move(file));
  }
  for (const auto& field : scan_schema->fields()) impl->nulls.push_back(arrow::MakeNullScalar(field->type()));
  return std::make_unique<ParquetColumnScan>(std::move(impl));
}

arrow::Status ParquetColumnScan::Run(const ChunkConsumer& consume, arrow::MemoryPool* pool) const {
  std::vector<std::pair<const File*, int>> tasks;
  for (const auto& file : impl_->files) {
    for (int row_group : file.row_groups) tasks.emplace_back(&file, row_group);
  }
  return arrow::internal::OptionalParallelFor(tasks.size() > 1, static_cast<int>(tasks.size()), [&](int task) {
    return impl_->ReadRowGroup(*tasks[task].first, tasks[task].second, consume, pool);
  });
}

}  // namespace flightdeck::frame::internal
