#include "flightdeck/frame/fused_aggregate.h"

#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include <arrow/acero/exec_plan.h>
#include <arrow/acero/options.h>
#include <arrow/array.h>
#include <arrow/array/array_dict.h>
#include <arrow/array/concatenate.h>
#include <arrow/builder.h>
#include <arrow/compute/api_vector.h>
#include <arrow/compute/exec.h>
#include <arrow/compute/row/grouper.h>
#include <arrow/dataset/dataset.h>
#include <arrow/dataset/file_base.h>
#include <arrow/dataset/file_parquet.h>
#include <arrow/dataset/plan.h>
#include <arrow/dataset/scanner.h>
#include <arrow/util/bit_run_reader.h>
#include <arrow/util/bit_util.h>
#include <arrow/util/bitmap_ops.h>
#include <arrow/util/thread_pool.h>

#include "flightdeck/frame/parquet_column_scan.h"

namespace flightdeck::frame::internal {

namespace ac = arrow::acero;
namespace cp = arrow::compute;
namespace ds = arrow::dataset;

namespace {

enum class AggKind { kSum, kMean, kCount, kCountAll };

// An expression over the scan's columns, and whether evaluating it on every
// row could fail where the plan would only evaluate it on rows a filter kept.
struct Inlined {
  cp::Expression expression;
  bool unsafe = false;
};

// Functions that cannot fail whatever their (well-typed) input: evaluating
// them on rows a filter would have dropped is harmless.
bool SafeToEvaluateEverywhere(const cp::Expression& expression) {
  static const std::set<std::string> kSafe = {
      "add",          "subtract",      "multiply",       "negate",         "abs",
      "sign",         "equal",         "not_equal",      "less",           "less_equal",
      "greater",      "greater_equal", "and",            "or",             "and_kleene",
      "or_kleene",    "and_not",       "and_not_kleene", "xor",            "invert",
      "is_null",      "is_valid",      "is_nan",         "is_finite",      "is_inf",
      "true_unless_null", "if_else",   "coalesce",       "is_in",          "min_element_wise",
      "max_element_wise"};
  if (const auto* call = expression.call()) {
    if (!kSafe.count(call->function_name)) return false;
    for (const auto& argument : call->arguments) {
      if (!SafeToEvaluateEverywhere(argument)) return false;
    }
  }
  return true;
}

// `expression` with every field it reads replaced by its definition in
// `env`; nullopt if it reads a field by position or an unknown one.
std::optional<cp::Expression> Substitute(const cp::Expression& expression,
                                         const std::map<std::string, Inlined>& env, bool* unsafe) {
  if (expression.literal()) return expression;
  if (const auto* ref = expression.field_ref()) {
    if (ref->name() == nullptr) return std::nullopt;
    auto it = env.find(*ref->name());
    if (it == env.end()) return std::nullopt;
    *unsafe |= it->second.unsafe;
    return it->second.expression;
  }
  const auto* call = expression.call();
  if (call == nullptr) return std::nullopt;
  std::vector<cp::Expression> arguments;
  for (const auto& argument : call->arguments) {
    auto substituted = Substitute(argument, env, unsafe);
    if (!substituted) return std::nullopt;
    arguments.push_back(*std::move(substituted));
  }
  return cp::call(call->function_name, std::move(arguments), call->options);
}

bool IsSignedInteger(arrow::Type::type id) {
  return id == arrow::Type::INT8 || id == arrow::Type::INT16 || id == arrow::Type::INT32 ||
         id == arrow::Type::INT64;
}
bool IsFloating(arrow::Type::type id) { return id == arrow::Type::FLOAT || id == arrow::Type::DOUBLE; }

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

struct FusedAggregate::Impl {
  std::shared_ptr<ds::Dataset> dataset;
  // The dataset's schema with dictionary-read key columns typed as
  // dictionary<int32, string> (so the scan hands over codes, not strings).
  std::shared_ptr<arrow::Schema> scan_schema;
  std::vector<std::string> columns;  // decoded columns, in dataset order
  std::vector<cp::Expression> predicates;  // bound to scan_schema
  cp::Expression pushed = cp::literal(true);  // their conjunction, for row-group pruning
  // Keys: a dictionary column's index in scan_schema, or an expression.
  struct Key {
    int dictionary_column = -1;
    cp::Expression expression;
  };
  std::vector<Key> keys;
  std::vector<std::string> dictionary_keys;
  std::vector<cp::Expression> inputs;  // bound aggregate inputs
  struct Agg {
    AggKind kind;
    int input = -1;
    bool floating = false;
  };
  std::vector<Agg> aggs;
  std::shared_ptr<arrow::Schema> output_schema;
  // For ParquetColumnScan (plans without dictionary keys): the predicates'
  // `column OP constant` conjuncts, the other conjuncts, and the fields
  // that the other conjuncts, the inputs and the keys read.
  std::vector<ColumnPredicate> column_predicates;
  std::vector<cp::Expression> residual_predicates;
  std::vector<int> materialized;
  std::vector<int> every_row;  // of materialized
};

std::shared_ptr<const FusedAggregate> FusedAggregate::Match(const PlanNode& node) {
  if (node.kind != NodeKind::kAggregate || node.needs_order || node.aggregates.empty()) return nullptr;
  std::vector<const PlanNode*> chain;
  const PlanNode* at = node.inputs[0].get();
  while (at->kind == NodeKind::kFilter || at->kind == NodeKind::kProject) {
    chain.push_back(at);
    at = at->inputs[0].get();
  }
  if (at->kind != NodeKind::kScan || !at->dataset) return nullptr;
  const auto dataset_schema = at->dataset->schema();

  // Fold the projections into the expressions above them, bottom up.
  std::map<std::string, Inlined> env;
  for (const auto& field : dataset_schema->fields()) {
    if (!env.emplace(field->name(), Inlined{cp::field_ref(field->name()), false}).second) return nullptr;
  }
  bool filtered = false;
  std::vector<cp::Expression> predicates;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const PlanNode& step = **it;
    if (step.kind == NodeKind::kFilter) {
      bool unsafe = filtered && !SafeToEvaluateEverywhere(step.predicate);
      auto predicate = Substitute(step.predicate, env, &unsafe);
      if (!predicate || unsafe) return nullptr;
      predicates.push_back(*std::move(predicate));
      filtered = true;
      continue;
    }
    std::map<std::string, Inlined> next;
    for (size_t i = 0; i < step.expressions.size(); ++i) {
      bool unsafe = filtered && !SafeToEvaluateEverywhere(step.expressions[i]);
      auto value = Substitute(step.expressions[i], env, &unsafe);
      if (!value) return nullptr;
      if (!next.emplace(step.names[i], Inlined{*std::move(value), unsafe}).second) return nullptr;
    }
    env = std::move(next);
  }
  auto lookup = [&](const arrow::FieldRef& ref) -> std::optional<cp::Expression> {
    if (ref.name() == nullptr) return std::nullopt;
    auto it = env.find(*ref.name());
    if (it == env.end() || it->second.unsafe) return std::nullopt;
    return it->second.expression;
  };

  auto impl = std::make_shared<Impl>();
  impl->dataset = at->dataset;
  impl->output_schema = node.schema;
  // Aggregates.
  std::vector<cp::Expression> inputs;
  for (const auto& aggregate : node.aggregates) {
    std::string function = aggregate.function;
    if (function.rfind("hash_", 0) == 0) function = function.substr(5);
    Impl::Agg agg;
    if (function == "sum" || function == "mean") {
      if (aggregate.options) return nullptr;  // defaults only: skip nulls, min_count 1
      agg.kind = function == "sum" ? AggKind::kSum : AggKind::kMean;
    } else if (function == "count") {
      auto* options = dynamic_cast<const cp::CountOptions*>(aggregate.options.get());
      if (!options || options->mode != cp::CountOptions::ONLY_VALID) return nullptr;
      agg.kind = AggKind::kCount;
    } else if (function == "count_all") {
      agg.kind = AggKind::kCountAll;
    } else {
      return nullptr;
    }
    if (agg.kind != AggKind::kCountAll) {
      if (aggregate.target.size() != 1) return nullptr;
      auto input = lookup(aggregate.target[0]);
      if (!input) return nullptr;
      // Aggregates of the same input (sum and mean of a column) share it.
      agg.input = static_cast<int>(inputs.size());
      for (size_t i = 0; i < inputs.size(); ++i) {
        if (inputs[i].Equals(*input)) agg.input = static_cast<int>(i);
      }
      if (agg.input == static_cast<int>(inputs.size())) inputs.push_back(*std::move(input));
    }
    impl->aggs.push_back(agg);
  }
  // Keys: plain references to string columns the file stores
  // dictionary-encoded (and nothing else reads) are grouped by code.
  std::set<std::string> dictionary_columns;
  if (auto* files = dynamic_cast<ds::FileSystemDataset*>(at->dataset.get())) {
    if (auto parquet = std::dynamic_pointer_cast<ds::ParquetFileFormat>(files->format())) {
      dictionary_columns.insert(parquet->reader_options.dict_columns.begin(),
                                parquet->reader_options.dict_columns.end());
    }
  }
  std::set<std::string> read_elsewhere;
  auto note_reads = [&](const cp::Expression& expression) {
    for (const auto& ref : cp::FieldsInExpression(expression)) {
      if (ref.name()) read_elsewhere.insert(*ref.name());
    }
  };
  for (const auto& predicate : predicates) note_reads(predicate);
  for (const auto& input : inputs) note_reads(input);
  std::vector<std::optional<cp::Expression>> key_expressions;
  for (const auto& key : node.keys) {
    key_expressions.push_back(lookup(key));
    if (!key_expressions.back()) return nullptr;
  }
  auto fields = dataset_schema->fields();
  std::vector<std::string> key_columns(node.keys.size());
  for (size_t k = 0; k < node.keys.size(); ++k) {
    const auto* ref = key_expressions[k]->field_ref();
    const int index = ref && ref->name() ? dataset_schema->GetFieldIndex(*ref->name()) : -1;
    const bool dictionary =
        index >= 0 && dictionary_columns.count(*ref->name()) && !read_elsewhere.count(*ref->name()) &&
        (fields[index]->type()->id() == arrow::Type::STRING || fields[index]->type()->id() == arrow::Type::BINARY);
    if (dictionary) {
      key_columns[k] = *ref->name();
      if (!fields[index]->type()->Equals(arrow::dictionary(arrow::int32(), dataset_schema->field(index)->type()))) {
        fields[index] = fields[index]->WithType(arrow::dictionary(arrow::int32(), fields[index]->type()));
      }
    } else {
      note_reads(*key_expressions[k]);
    }
  }
  // A column both a dictionary key and read by another key expression
  // stays plain.
  for (auto& name : key_columns) {
    if (!name.empty() && read_elsewhere.count(name)) {
      const int index = dataset_schema->GetFieldIndex(name);
      fields[index] = dataset_schema->field(index);
      name.clear();
    }
  }
  impl->scan_schema = arrow::schema(fields, dataset_schema->metadata());
  const auto& scan_schema = *impl->scan_schema;

  // Bind everything to the scan's schema and check the types against the
  // output schema Acero planned.
  for (const auto& predicate : predicates) {
    auto bound = predicate.Bind(scan_schema);
    if (!bound.ok() || bound->type()->id() != arrow::Type::BOOL) return nullptr;
    impl->predicates.push_back(*bound);
  }
  for (const auto& input : inputs) {
    auto bound = input.Bind(scan_schema);
    if (!bound.ok()) return nullptr;
    impl->inputs.push_back(*bound);
  }
  std::set<std::string> read;
  for (size_t k = 0; k < node.keys.size(); ++k) {
    Impl::Key key;
    const auto& want = node.schema->field(static_cast<int>(k))->type();
    if (!key_columns[k].empty()) {
      key.dictionary_column = scan_schema.GetFieldIndex(key_columns[k]);
      if (!dataset_schema->field(key.dictionary_column)->type()->Equals(want)) return nullptr;
      impl->dictionary_keys.push_back(key_columns[k]);
      read.insert(key_columns[k]);
    } else {
      auto bound = key_expressions[k]->Bind(scan_schema);
      if (!bound.ok() || !bound->type()->Equals(want)) return nullptr;
      key.expression = *bound;
    }
    impl->keys.push_back(std::move(key));
  }
  for (size_t i = 0; i < impl->aggs.size(); ++i) {
    auto& agg = impl->aggs[i];
    const auto want = node.schema->field(static_cast<int>(node.keys.size() + i))->type()->id();
    if (agg.kind == AggKind::kCount || agg.kind == AggKind::kCountAll) {
      if (want != arrow::Type::INT64) return nullptr;
      continue;
    }
    const auto id = impl->inputs[agg.input].type()->id();
    agg.floating = IsFloating(id);
    if (!agg.floating && !IsSignedInteger(id)) return nullptr;
    const auto expected = agg.kind == AggKind::kMean || agg.floating ? arrow::Type::DOUBLE : arrow::Type::INT64;
    if (want != expected) return nullptr;
  }
  for (const auto& name : read_elsewhere) read.insert(name);
  for (const auto& field : scan_schema.fields()) {
    if (read.count(field->name())) impl->columns.push_back(field->name());
  }
  if (!predicates.empty()) {
    auto conjunction = cp::and_(predicates);
    auto bound = conjunction.Bind(scan_schema);
    if (!bound.ok()) return nullptr;
    impl->pushed = *bound;
  }
  if (impl->dictionary_keys.empty()) {
    SplitPredicates(impl->predicates, scan_schema, &impl->column_predicates, &impl->residual_predicates);
    std::set<int> materialized;
    auto note_fields = [&](const cp::Expression& expression) {
      for (const auto& ref : cp::FieldsInExpression(expression)) {
        if (ref.name()) materialized.insert(scan_schema.GetFieldIndex(*ref.name()));
      }
    };
    for (const auto& predicate : impl->residual_predicates) note_fields(predicate);
    for (const auto& key : impl->keys) note_fields(key.expression);
    // Aggregate inputs are summed over the selected rows only: other rows of
    // fields that only inputs which cannot fail read may hold anything.
    for (const auto& input : impl->inputs) {
      if (!SafeToEvaluateEverywhere(input)) note_fields(input);
    }
    impl->every_row.assign(materialized.begin(), materialized.end());
    for (const auto& input : impl->inputs) note_fields(input);
    impl->materialized.assign(materialized.begin(), materialized.end());
  }
  return std::make_shared<FusedAggregate>(std::move(impl));
}

std::string FusedAggregate::Describe() const {
  std::string out = "fused";
  if (!impl_->dictionary_keys.empty()) out += " dictionary-keys=[" + JoinNames(impl_->dictionary_keys) + "]";
  std::set<std::string> columns;
  for (const auto& predicate : impl_->column_predicates) {
    columns.insert(impl_->scan_schema->field(predicate.field)->name());
  }
  if (!columns.empty()) {
    out += " parquet-predicates=[" + JoinNames(std::vector<std::string>(columns.begin(), columns.end())) + "]";
  }
  return out;
}

namespace {

// Per-group running state: rows kept, and per aggregate input the sum of
// its non-null values among them and the number of nulls among them.
struct Partial {
  std::vector<int64_t> rows;
  std::vector<std::vector<double>> sums;        // floating-point inputs
  std::vector<std::vector<uint64_t>> int_sums;  // integer inputs (wrapping, like Arrow's sum)
  std::vector<std::vector<int64_t>> nulls;

  void Resize(const std::vector<bool>& floating, size_t groups) {
    sums.resize(floating.size());
    int_sums.resize(floating.size());
    nulls.resize(floating.size());
    if (rows.size() >= groups) return;
    rows.resize(groups, 0);
    for (size_t i = 0; i < floating.size(); ++i) {
      nulls[i].resize(groups, 0);
      if (floating[i]) {
        sums[i].resize(groups, 0.0);
      } else {
        int_sums[i].resize(groups, 0);
      }
    }
  }

  // Adds this state into `total`, which has at least as many groups.
  void MergeInto(Partial* total) const {
    for (size_t g = 0; g < rows.size(); ++g) total->rows[g] += rows[g];
    for (size_t i = 0; i < nulls.size(); ++i) {
      for (size_t g = 0; g < nulls[i].size(); ++g) total->nulls[i][g] += nulls[i][g];
      for (size_t g = 0; g < sums[i].size(); ++g) total->sums[i][g] += sums[i][g];
      for (size_t g = 0; g < int_sums[i].size(); ++g) total->int_sums[i][g] += int_sums[i][g];
    }
  }
};

// Batches whose rows fall into at most this many groups aggregate into a
// state of their own, merged afterwards (no lock held while adding).
constexpr uint32_t kLocalGroups = 4096;
// Batches where fewer than one row in this many passes the predicates are
// compacted to those rows before the inputs and keys are evaluated.
constexpr int64_t kCompactBelow = 8;
// Batches whose dictionary keys combine to at most this many local key
// tuples get their group ids from a per-batch table of those tuples.
constexpr int64_t kMaxCombinations = 4096;

template <typename T, typename Sum>
void AddValues(const arrow::ArrayData& input, const uint8_t* bitmap, int64_t bitmap_offset,
               const uint32_t* groups, Sum* sums) {
  const T* values = input.GetValues<T>(1);
  arrow::internal::VisitSetBitRunsVoid(bitmap, bitmap_offset, input.length, [&](int64_t position, int64_t length) {
    if (groups == nullptr) {
      Sum sum = 0;
      for (int64_t i = position; i < position + length; ++i) {
        if constexpr (std::is_floating_point_v<T>) {
          sum += static_cast<double>(values[i]);
        } else {
          sum += static_cast<uint64_t>(static_cast<int64_t>(values[i]));
        }
      }
      sums[0] += sum;
      return;
    }
    for (int64_t i = position; i < position + length; ++i) {
      if constexpr (std::is_floating_point_v<T>) {
        sums[groups[i]] += static_cast<double>(values[i]);
      } else {
        sums[groups[i]] += static_cast<uint64_t>(static_cast<int64_t>(values[i]));
      }
    }
  });
}

// The running aggregation. Consume() is called from several threads.
class Accumulator : public ac::SinkNodeConsumer {
 public:
  Accumulator(const FusedAggregate::Impl& plan, arrow::MemoryPool* pool)
      : plan_(plan), pool_(pool), context_(pool) {
    for (const auto& input : plan.inputs) floating_.push_back(IsFloating(input.type()->id()));
  }

  arrow::Status Prepare() {
    if (plan_.keys.empty()) {
      total_.Resize(floating_, 1);
      return arrow::Status::OK();
    }
    std::vector<arrow::TypeHolder> types;
    for (const auto& key : plan_.keys) {
      if (key.dictionary_column >= 0) {
        types.emplace_back(arrow::int32());
        const auto& type =
            static_cast<const arrow::DictionaryType&>(*plan_.scan_schema->field(key.dictionary_column)->type());
        ARROW_ASSIGN_OR_RAISE(auto unifier, arrow::DictionaryUnifier::Make(type.value_type(), pool_));
        unifiers_.push_back(std::move(unifier));
      } else {
        types.emplace_back(key.expression.type());
        unifiers_.push_back(nullptr);
      }
    }
    ARROW_ASSIGN_OR_RAISE(grouper_, cp::Grouper::Make(types, &context_));
    return arrow::Status::OK();
  }

  arrow::Status Init(const std::shared_ptr<arrow::Schema>&, ac::BackpressureControl*, ac::ExecPlan*) override {
    return arrow::Status::OK();
  }
  arrow::Future<> Finish() override { return arrow::Future<>::MakeFinished(); }

  arrow::Status Consume(cp::ExecBatch batch) override {
    return ConsumeSelected(std::move(batch), nullptr, plan_.predicates);
  }

  /// Aggregates the rows of `batch` that `preselected` (a bitmap, or null
  /// for every row) and every one of `predicates` keep.
  arrow::Status ConsumeSelected(cp::ExecBatch batch, const uint8_t* preselected,
                                const std::vector<cp::Expression>& predicates) {
    const int64_t length = batch.length;
    if (length == 0) return arrow::Status::OK();
    cp::ExecContext context(pool_);
    // The rows every predicate holds for (null counts as false).
    std::vector<uint8_t> selection;
    if (preselected) selection.assign(preselected, preselected + arrow::bit_util::BytesForBits(length));
    for (const auto& predicate : predicates) {
      ARROW_ASSIGN_OR_RAISE(auto value, cp::ExecuteScalarExpression(predicate, batch, &context));
      if (value.is_scalar()) {
        const auto& scalar = value.scalar_as<arrow::BooleanScalar>();
        if (!scalar.is_valid || !scalar.value) return arrow::Status::OK();
        continue;
      }
      const arrow::ArrayData& bits = *value.array();
      std::vector<uint8_t> kept(arrow::bit_util::BytesForBits(length));
      const uint8_t* values = bits.buffers[1]->data();
      if (bits.MayHaveNulls() && bits.buffers[0]) {
        arrow::internal::BitmapAnd(values, bits.offset, bits.buffers[0]->data(), bits.offset, length, 0,
                                   kept.data());
      } else {
        arrow::internal::CopyBitmap(values, bits.offset, length, kept.data(), 0);
      }
      if (selection.empty()) {
        selection = std::move(kept);
      } else {
        arrow::internal::BitmapAnd(selection.data(), 0, kept.data(), 0, length, 0, selection.data());
      }
    }
    const uint8_t* selected = selection.empty() ? nullptr : selection.data();
    if (selected) {
      const int64_t kept = arrow::internal::CountSetBits(selected, 0, length);
      if (kept == 0) return arrow::Status::OK();
      if (kept * kCompactBelow < length) {
        // Few rows kept: evaluate the inputs and keys on those rows only.
        ARROW_RETURN_NOT_OK(Compact(&batch, selection, kept, &context));
        return ConsumeSelected(std::move(batch), nullptr, {});
      }
    }

    std::vector<std::shared_ptr<arrow::ArrayData>> inputs;
    for (const auto& input : plan_.inputs) {
      ARROW_ASSIGN_OR_RAISE(auto value, cp::ExecuteScalarExpression(input, batch, &context));
      ARROW_ASSIGN_OR_RAISE(auto array, AsArray(value, length));
      inputs.push_back(std::move(array));
    }
    std::vector<std::shared_ptr<arrow::ArrayData>> keys;
    bool all_dictionary = true;
    int64_t combinations = 1;
    for (const auto& key : plan_.keys) {
      if (key.dictionary_column >= 0) {
        ARROW_ASSIGN_OR_RAISE(auto array, AsArray(batch.values[key.dictionary_column], length));
        if (array->type->id() != arrow::Type::DICTIONARY ||
            static_cast<const arrow::DictionaryType&>(*array->type).index_type()->id() != arrow::Type::INT32) {
          return arrow::Status::Invalid("fused aggregate: key column ", key.dictionary_column,
                                        " arrived as ", array->type->ToString());
        }
        combinations = std::min<int64_t>(combinations * (array->dictionary->length + 1), kMaxCombinations + 1);
        keys.push_back(std::move(array));
      } else {
        all_dictionary = false;
        ARROW_ASSIGN_OR_RAISE(auto value, cp::ExecuteScalarExpression(key.expression, batch, &context));
        ARROW_ASSIGN_OR_RAISE(auto array, AsArray(value, length));
        keys.push_back(std::move(array));
      }
    }

    // Group ids of the rows.
    uint32_t num_groups = 1;
    const uint32_t* groups = nullptr;
    arrow::Datum ids;
    std::vector<uint32_t> row_groups;
    if (grouper_) {
      if (all_dictionary && combinations <= kMaxCombinations) {
        std::vector<uint32_t> combination_groups;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          ARROW_ASSIGN_OR_RAISE(combination_groups, GroupCombinations(keys, combinations));
          num_groups = grouper_->num_groups();
        }
        row_groups = RowGroups(keys, combination_groups);
        groups = row_groups.data();
      } else {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<arrow::Datum> columns;
        for (size_t k = 0; k < keys.size(); ++k) {
          if (unifiers_[k]) {
            ARROW_ASSIGN_OR_RAISE(auto codes, Transpose(*keys[k], unifiers_[k].get()));
            columns.emplace_back(std::move(codes));
          } else {
            columns.emplace_back(keys[k]);
          }
        }
        cp::ExecBatch key_batch(std::move(columns), length);
        ARROW_ASSIGN_OR_RAISE(ids, grouper_->Consume(cp::ExecSpan(key_batch)));
        groups = ids.array()->GetValues<uint32_t>(1);
        num_groups = grouper_->num_groups();
      }
    }

    if (num_groups <= kLocalGroups) {
      Partial partial;
      partial.Resize(floating_, num_groups);
      ARROW_RETURN_NOT_OK(Add(&partial, inputs, selected, groups, length));
      std::lock_guard<std::mutex> lock(mutex_);
      total_.Resize(floating_, num_groups);
      partial.MergeInto(&total_);
      return arrow::Status::OK();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    total_.Resize(floating_, num_groups);
    return Add(&total_, inputs, selected, groups, length);
  }

  arrow::Result<std::shared_ptr<arrow::Table>> Result() {
    std::vector<int64_t> kept;
    if (!grouper_) {
      kept.push_back(0);
    } else {
      for (size_t g = 0; g < total_.rows.size(); ++g) {
        if (total_.rows[g] > 0) kept.push_back(static_cast<int64_t>(g));
      }
    }
    arrow::ArrayVector columns;
    if (grouper_) {
      ARROW_ASSIGN_OR_RAISE(auto uniques, grouper_->GetUniques());
      arrow::Int64Builder indices_builder(pool_);
      ARROW_RETURN_NOT_OK(indices_builder.AppendValues(kept));
      ARROW_ASSIGN_OR_RAISE(auto indices, indices_builder.Finish());
      for (size_t k = 0; k < plan_.keys.size(); ++k) {
        ARROW_ASSIGN_OR_RAISE(auto values, cp::Take(uniques.values[k], indices, cp::TakeOptions::Defaults(),
                                                    &context_));
        if (unifiers_[k]) {
          std::shared_ptr<arrow::DataType> type;
          std::shared_ptr<arrow::Array> dictionary;
          ARROW_RETURN_NOT_OK(unifiers_[k]->GetResult(&type, &dictionary));
          ARROW_ASSIGN_OR_RAISE(values, cp::Take(dictionary, values, cp::TakeOptions::Defaults(), &context_));
        }
        columns.push_back(values.make_array());
      }
    }
    for (const auto& agg : plan_.aggs) {
      auto count = [&](int64_t g) {
        return agg.kind == AggKind::kCountAll ? total_.rows[g] : total_.rows[g] - total_.nulls[agg.input][g];
      };
      if (agg.kind == AggKind::kCount || agg.kind == AggKind::kCountAll) {
        arrow::Int64Builder builder(pool_);
        for (int64_t g : kept) ARROW_RETURN_NOT_OK(builder.Append(count(g)));
        ARROW_ASSIGN_OR_RAISE(auto array, builder.Finish());
        columns.push_back(std::move(array));
        continue;
      }
      if (agg.kind == AggKind::kSum && !agg.floating) {
        arrow::Int64Builder builder(pool_);
        for (int64_t g : kept) {
          ARROW_RETURN_NOT_OK(count(g) > 0 ? builder.Append(static_cast<int64_t>(total_.int_sums[agg.input][g]))
                                            : builder.AppendNull());
        }
        ARROW_ASSIGN_OR_RAISE(auto array, builder.Finish());
        columns.push_back(std::move(array));
        continue;
      }
      arrow::DoubleBuilder builder(pool_);
      for (int64_t g : kept) {
        if (count(g) == 0) {
          ARROW_RETURN_NOT_OK(builder.AppendNull());
          continue;
        }
        double value = agg.floating ? total_.sums[agg.input][g]
                                    : static_cast<double>(static_cast<int64_t>(total_.int_sums[agg.input][g]));
        if (agg.kind == AggKind::kMean) value /= static_cast<double>(count(g));
        ARROW_RETURN_NOT_OK(builder.Append(value));
      }
      ARROW_ASSIGN_OR_RAISE(auto array, builder.Finish());
      columns.push_back(std::move(array));
    }
    return arrow::Table::Make(plan_.output_schema, std::move(columns), static_cast<int64_t>(kept.size()));
  }

 private:
  // Keeps the rows of `batch` whose bit is set in `selection` (`kept` of
  // them).
  static arrow::Status Compact(cp::ExecBatch* batch, const std::vector<uint8_t>& selection, int64_t kept,
                               cp::ExecContext* context) {
    auto mask = std::make_shared<arrow::BooleanArray>(
        batch->length, arrow::Buffer::Wrap(selection.data(), static_cast<int64_t>(selection.size())));
    for (auto& value : batch->values) {
      if (!value.is_array() && !value.is_chunked_array()) continue;  // scalars stay
      ARROW_ASSIGN_OR_RAISE(value, cp::Filter(value, mask, cp::FilterOptions::Defaults(), context));
    }
    batch->length = kept;
    return arrow::Status::OK();
  }

  arrow::Result<std::shared_ptr<arrow::ArrayData>> AsArray(const arrow::Datum& value, int64_t length) {
    if (value.is_array()) return value.array();
    if (value.is_scalar()) {
      ARROW_ASSIGN_OR_RAISE(auto array, arrow::MakeArrayFromScalar(*value.scalar(), length, pool_));
      return array->data();
    }
    if (value.is_chunked_array()) {
      ARROW_ASSIGN_OR_RAISE(auto array, arrow::Concatenate(value.chunked_array()->chunks(), pool_));
      return array->data();
    }
    return arrow::Status::Invalid("fused aggregate: unexpected value kind ", value.ToString());
  }

  // Adds the selected rows of `inputs` into `state`.
  arrow::Status Add(Partial* state, const std::vector<std::shared_ptr<arrow::ArrayData>>& inputs,
                    const uint8_t* selected, const uint32_t* groups, int64_t length) {
    arrow::internal::VisitSetBitRunsVoid(selected, 0, length, [&](int64_t position, int64_t run) {
      if (groups == nullptr) {
        state->rows[0] += run;
        return;
      }
      for (int64_t i = position; i < position + run; ++i) ++state->rows[groups[i]];
    });
    std::vector<uint8_t> valid_kept, null_kept;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const arrow::ArrayData& input = *inputs[i];
      const uint8_t* validity = input.MayHaveNulls() && input.buffers[0] ? input.buffers[0]->data() : nullptr;
      // Values go into sums over the kept valid rows; the kept null rows are
      // counted (count = rows kept - nulls kept).
      const uint8_t* bitmap = selected;
      int64_t offset = 0;
      if (validity) {
        valid_kept.resize(arrow::bit_util::BytesForBits(length));
        null_kept.resize(valid_kept.size());
        if (selected) {
          arrow::internal::BitmapAnd(selected, 0, validity, input.offset, length, 0, valid_kept.data());
          arrow::internal::BitmapAndNot(selected, 0, validity, input.offset, length, 0, null_kept.data());
        } else {
          arrow::internal::CopyBitmap(validity, input.offset, length, valid_kept.data(), 0);
          arrow::internal::InvertBitmap(validity, input.offset, length, null_kept.data(), 0);
        }
        bitmap = valid_kept.data();
        int64_t* nulls = state->nulls[i].data();
        arrow::internal::VisitSetBitRunsVoid(null_kept.data(), 0, length, [&](int64_t position, int64_t run) {
          if (groups == nullptr) {
            nulls[0] += run;
            return;
          }
          for (int64_t r = position; r < position + run; ++r) ++nulls[groups[r]];
        });
      }
      double* sums = state->sums[i].data();
      uint64_t* int_sums = state->int_sums[i].data();
      switch (input.type->id()) {
        case arrow::Type::DOUBLE:
          AddValues<double>(input, bitmap, offset, groups, sums);
          break;
        case arrow::Type::FLOAT:
          AddValues<float>(input, bitmap, offset, groups, sums);
          break;
        case arrow::Type::INT64:
          AddValues<int64_t>(input, bitmap, offset, groups, int_sums);
          break;
        case arrow::Type::INT32:
          AddValues<int32_t>(input, bitmap, offset, groups, int_sums);
          break;
        case arrow::Type::INT16:
          AddValues<int16_t>(input, bitmap, offset, groups, int_sums);
          break;
        case arrow::Type::INT8:
          AddValues<int8_t>(input, bitmap, offset, groups, int_sums);
          break;
        default:  // counted only (Match lets sum and mean through for numbers only)
          break;
      }
    }
    return arrow::Status::OK();
  }

  // Every dictionary keys: the group id of each combination of local
  // dictionary entries (index == dictionary length standing for null), in
  // mixed radix with the first key varying slowest. Call with mutex_ held.
  arrow::Result<std::vector<uint32_t>> GroupCombinations(const std::vector<std::shared_ptr<arrow::ArrayData>>& keys,
                                                         int64_t combinations) {
    std::vector<arrow::Datum> columns;
    int64_t stride = combinations;
    for (size_t k = 0; k < keys.size(); ++k) {
      std::shared_ptr<arrow::Buffer> transpose;
      ARROW_RETURN_NOT_OK(unifiers_[k]->Unify(*arrow::MakeArray(keys[k]->dictionary), &transpose));
      const auto* map = transpose->data_as<int32_t>();
      const int64_t size = keys[k]->dictionary->length + 1;
      stride /= size;
      arrow::Int32Builder builder(pool_);
      ARROW_RETURN_NOT_OK(builder.Reserve(combinations));
      for (int64_t c = 0; c < combinations; ++c) {
        const int64_t local = (c / stride) % size;
        if (local == size - 1) {
          builder.UnsafeAppendNull();
        } else {
          builder.UnsafeAppend(map[local]);
        }
      }
      ARROW_ASSIGN_OR_RAISE(auto codes, builder.Finish());
      columns.emplace_back(std::move(codes));
    }
    cp::ExecBatch batch(std::move(columns), combinations);
    ARROW_ASSIGN_OR_RAISE(auto ids, grouper_->Consume(cp::ExecSpan(batch)));
    const auto* values = ids.array()->GetValues<uint32_t>(1);
    return std::vector<uint32_t>(values, values + combinations);
  }

  // The group id of each row, from its keys' local dictionary indices.
  static std::vector<uint32_t> RowGroups(const std::vector<std::shared_ptr<arrow::ArrayData>>& keys,
                                         const std::vector<uint32_t>& combination_groups) {
    const int64_t length = keys[0]->length;
    std::vector<int32_t> combination(length, 0);
    for (const auto& key : keys) {
      const int32_t size = static_cast<int32_t>(key->dictionary->length + 1);
      const auto* indices = key->GetValues<int32_t>(1);
      const uint8_t* validity = key->MayHaveNulls() && key->buffers[0] ? key->buffers[0]->data() : nullptr;
      for (int64_t i = 0; i < length; ++i) {
        const int32_t local = validity && !arrow::bit_util::GetBit(validity, key->offset + i) ? size - 1 : indices[i];
        combination[i] = combination[i] * size + local;
      }
    }
    std::vector<uint32_t> groups(length);
    for (int64_t i = 0; i < length; ++i) groups[i] = combination_groups[combination[i]];
    return groups;
  }

  // The dictionary indices of `dictionary` mapped to codes of the unified
  // dictionary (an int32 array with the same nulls). Call with mutex_ held.
  arrow::Result<std::shared_ptr<arrow::ArrayData>> Transpose(const arrow::ArrayData& dictionary,
                                                            arrow::DictionaryUnifier* unifier) {
    std::shared_ptr<arrow::Buffer> transpose;
    ARROW_RETURN_NOT_OK(unifier->Unify(*arrow::MakeArray(dictionary.dictionary), &transpose));
    const auto* map = transpose->data_as<int32_t>();
    const int64_t length = dictionary.length;
    ARROW_ASSIGN_OR_RAISE(auto codes, arrow::AllocateBuffer(length * sizeof(int32_t), pool_));
    auto* out = codes->mutable_data_as<int32_t>();
    const auto* indices = dictionary.GetValues<int32_t>(1);
    const uint8_t* validity = dictionary.MayHaveNulls() && dictionary.buffers[0] ? dictionary.buffers[0]->data() : nullptr;
    for (int64_t i = 0; i < length; ++i) {
      out[i] = validity && !arrow::bit_util::GetBit(validity, dictionary.offset + i) ? 0 : map[indices[i]];
    }
    std::shared_ptr<arrow::Buffer> nulls;
    if (validity) {
      ARROW_ASSIGN_OR_RAISE(nulls, arrow::internal::CopyBitmap(pool_, validity, dictionary.offset, length));
    }
    return arrow::ArrayData::Make(arrow::int32(), length, {std::move(nulls), std::move(codes)},
                                  validity ? arrow::kUnknownNullCount : 0);
  }

  const FusedAggregate::Impl& plan_;
  arrow::MemoryPool* pool_;
  cp::ExecContext context_;
  std::vector<bool> floating_;  // per aggregate input
  std::mutex mutex_;
  std::unique_ptr<cp::Grouper> grouper_;
  std::vector<std::unique_ptr<arrow::DictionaryUnifier>> unifiers_;
  Partial total_;
};

}  // namespace

arrow::Result<std::shared_ptr<arrow::Table>> FusedAggregate::Run(arrow::MemoryPool* pool) const {
  const Impl& plan = *impl_;
  auto options = std::make_shared<ds::ScanOptions>();
  options->dataset_schema = plan.scan_schema;
  options->use_threads = true;
  options->pool = pool;
  options->batch_readahead = 4;
  options->filter = plan.pushed;
  ARROW_ASSIGN_OR_RAISE(auto projection, ds::ProjectionDescr::FromNames(plan.columns, *plan.scan_schema));
  ds::SetProjection(options.get(), std::move(projection));

  auto accumulator = std::make_shared<Accumulator>(plan, pool);
  ARROW_RETURN_NOT_OK(accumulator->Prepare());
  if (plan.dictionary_keys.empty()) {
    if (auto scan = ParquetColumnScan::Open(plan.dataset, plan.scan_schema, plan.column_predicates,
                                            plan.materialized, plan.every_row)) {
      ARROW_RETURN_NOT_OK(scan->Run(
          [&](cp::ExecBatch batch, const uint8_t* selection) {
            return accumulator->ConsumeSelected(std::move(batch), selection, plan.residual_predicates);
          },
          pool));
      return accumulator->Result();
    }
  }
  cp::ExecContext context(pool, arrow::internal::GetCpuThreadPool());
  ARROW_ASSIGN_OR_RAISE(auto exec_plan, ac::ExecPlan::Make(context));
  auto declaration = ac::Declaration::Sequence(
      {ac::Declaration("scan", ds::ScanNodeOptions(plan.dataset, options)),
       ac::Declaration("consuming_sink", ac::ConsumingSinkNodeOptions(accumulator))});
  ARROW_RETURN_NOT_OK(declaration.AddToPlan(exec_plan.get()));
  ARROW_RETURN_NOT_OK(exec_plan->Validate());
  exec_plan->StartProducing();
  ARROW_RETURN_NOT_OK(exec_plan->finished().status());
  return accumulator->Result();
}

}  // namespace flightdeck::frame::internal
