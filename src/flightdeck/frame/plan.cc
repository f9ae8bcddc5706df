#include <cstdlib>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include <arrow/acero/options.h>
#include <arrow/compute/api_scalar.h>
#include <arrow/compute/initialize.h>
#include <arrow/dataset/plan.h>
#include <arrow/dataset/dataset.h>
#include <arrow/dataset/scanner.h>
#include <arrow/memory_pool.h>
#include <arrow/table.h>
#include <arrow/util/thread_pool.h>

#include "flightdeck/frame/fused_aggregate.h"
#include "flightdeck/frame/plan_internal.h"

namespace flightdeck::frame::internal {

namespace ac = arrow::acero;
namespace cp = arrow::compute;
namespace ds = arrow::dataset;

namespace {

using Required = std::optional<std::set<std::string>>;

// The Acero declaration of one non-source node over already lowered inputs.
ac::Declaration LowerOne(const PlanNode& node, std::vector<ac::Declaration::Input> inputs) {
  switch (node.kind) {
    case NodeKind::kFilter:
      return ac::Declaration("filter", std::move(inputs), ac::FilterNodeOptions(node.predicate));
    case NodeKind::kProject:
      return ac::Declaration("project", std::move(inputs),
                             ac::ProjectNodeOptions(node.expressions, node.names));
    case NodeKind::kAggregate:
      return ac::Declaration("aggregate", std::move(inputs),
                             ac::AggregateNodeOptions(node.aggregates, node.keys));
    case NodeKind::kJoin:
      return ac::Declaration("hashjoin", std::move(inputs),
                             ac::HashJoinNodeOptions(node.join_type, node.left_keys, node.right_keys));
    case NodeKind::kOrderBy:
      return ac::Declaration("order_by", std::move(inputs),
                             ac::OrderByNodeOptions(cp::Ordering(node.sort_keys)));
    case NodeKind::kFetch:
      return ac::Declaration("fetch", std::move(inputs), ac::FetchNodeOptions(node.offset, node.count));
    case NodeKind::kUnion:
      return ac::Declaration("union", std::move(inputs), ac::ExecNodeOptions{});
    case NodeKind::kSource:
    case NodeKind::kScan:
      break;
  }
  return node.source;
}

// Adds the names `expression` reads to `required`; false if it reads a
// field by position (then nothing below can be pruned).
bool AddFields(const cp::Expression& expression, std::set<std::string>* required) {
  for (const arrow::FieldRef& ref : cp::FieldsInExpression(expression)) {
    if (ref.name() == nullptr) return false;
    required->insert(*ref.name());
  }
  return true;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) out += ", ";
    out += part;
  }
  return out;
}

class Lowering {
 public:
  Lowering(std::vector<std::string>* explain, bool use_threads)
      : explain_(explain), use_threads_(use_threads) {}

  arrow::Result<ac::Declaration> Lower(const PlanNode& node, Required required,
                                       cp::Expression pushed, int depth) {
    if (node.kind == NodeKind::kScan) return LowerScan(node, required, pushed, depth);
    if (node.kind == NodeKind::kAggregate) {
      if (auto fused = FusedAggregate::Match(node)) {
        if (!explain_) {
          // Runs now: an aggregate is a pipeline breaker anyway, and what
          // is above it gets its small result as a table.
          ARROW_ASSIGN_OR_RAISE(auto table, fused->Run(ExecutionPool()));
          return ac::Declaration("table_source", ac::TableSourceNodeOptions(std::move(table)));
        }
        Note(depth, node.label + " [" + fused->Describe() + "]");
        // The rest of the plan is described as Acero would run it (same
        // columns and pushed filter).
        return LowerBody(node, required, pushed, depth);
      }
    }
    Note(depth, node.label);
    return LowerBody(node, required, pushed, depth);
  }

 private:
  // Lowers `node` (not a scan) and its inputs; `required` as in Lower.
  arrow::Result<ac::Declaration> LowerBody(const PlanNode& node, Required required, const cp::Expression& pushed, int depth) {
    if (node.kind == NodeKind::kSource) return node.source;

    std::vector<Required> child_required(node.inputs.size());
    cp::Expression child_pushed = cp::literal(true);
    switch (node.kind) {
      case NodeKind::kFilter:
        if (required && AddFields(node.predicate, &*required)) child_required[0] = required;
        child_pushed = pushed.Equals(cp::literal(true)) ? node.predicate : cp::and_(pushed, node.predicate);
        break;
      case NodeKind::kProject: {
        // Only the outputs someone above reads are computed, and only the
        // columns those read are required below.
        if (required) {
          auto pruned = std::make_shared<PlanNode>(node);
          pruned->expressions.clear();
          pruned->names.clear();
          for (size_t i = 0; i < node.names.size(); ++i) {
            if (!required->count(node.names[i])) continue;
            pruned->expressions.push_back(node.expressions[i]);
            pruned->names.push_back(node.names[i]);
          }
          return LowerChildren(*pruned, depth);
        }
        break;
      }
      case NodeKind::kAggregate: {
        std::set<std::string> fields;
        bool by_name = true;
        for (const auto& key : node.keys) {
          by_name &= key.name() != nullptr;
          if (key.name()) fields.insert(*key.name());
        }
        for (const auto& aggregate : node.aggregates) {
          for (const auto& target : aggregate.target) {
            by_name &= target.name() != nullptr;
            if (target.name()) fields.insert(*target.name());
          }
        }
        if (by_name) child_required[0] = fields;
        break;
      }
      case NodeKind::kOrderBy:
        if (required) {
          bool by_name = true;
          for (const auto& key : node.sort_keys) {
            by_name &= key.target.name() != nullptr;
            if (key.target.name()) required->insert(*key.target.name());
          }
          if (by_name) child_required[0] = required;
        }
        break;
      case NodeKind::kFetch:
        child_required[0] = required;
        break;
      default:
        break;  // joins and unions read every column of their inputs
    }
    if (node.kind == NodeKind::kProject) return LowerChildren(node, depth);
    if (node.kind == NodeKind::kFetch && !Ordered(*node.inputs[0])) {
      return LowerFetchOverUnordered(node, child_required[0], depth);
    }
    std::vector<ac::Declaration::Input> inputs;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      ARROW_ASSIGN_OR_RAISE(auto input,
                            Lower(*node.inputs[i], child_required[i],
                                  node.kind == NodeKind::kFilter ? child_pushed : cp::literal(true),
                                  depth + 1));
      inputs.push_back(std::move(input));
    }
    return LowerOne(node, std::move(inputs));
  }

  // Lowers a projection whose input must provide what its expressions read.
  arrow::Result<ac::Declaration> LowerChildren(const PlanNode& project, int depth) {
    Required child_required = std::set<std::string>();
    for (const auto& expression : project.expressions) {
      if (!AddFields(expression, &*child_required)) {
        child_required.reset();
        break;
      }
    }
    ARROW_ASSIGN_OR_RAISE(auto input, Lower(*project.inputs[0], child_required, cp::literal(true), depth + 1));
    return LowerOne(project, {std::move(input)});
  }

  // Whether `node` yields batches in a defined order that Acero tracks.
  static bool Ordered(const PlanNode& node) {
    switch (node.kind) {
      case NodeKind::kSource:
      case NodeKind::kScan:
      case NodeKind::kOrderBy:
        return true;
      case NodeKind::kFilter:
      case NodeKind::kProject:
      case NodeKind::kFetch:
        return Ordered(*node.inputs[0]);
      default:
        return false;  // aggregates, joins and unions emit in no set order
    }
  }

  // Acero's fetch needs ordered input. Over an unordered one (after a
  // GroupBy, Join, Union or Distinct) the input runs as its own plan whose
  // stream, numbered in arrival order, feeds the fetch. Still streaming.
  arrow::Result<ac::Declaration> LowerFetchOverUnordered(const PlanNode& node, const Required& required,
                                                         int depth) {
    ARROW_ASSIGN_OR_RAISE(auto input, Lower(*node.inputs[0], required, cp::literal(true), depth + 1));
    if (explain_) return LowerOne(node, {std::move(input)});  // describe, never run
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::RecordBatchReader> reader,
                          ac::DeclarationToReader(std::move(input), use_threads_, ExecutionPool()));
    ac::Declaration source("record_batch_reader_source",
                           ac::RecordBatchReaderSourceNodeOptions(std::move(reader)));
    return LowerOne(node, {std::move(source)});
  }

  arrow::Result<ac::Declaration> LowerScan(const PlanNode& node, const Required& required,
                                           const cp::Expression& pushed, int depth) {
    std::vector<std::string> columns;
    for (const auto& field : node.schema->fields()) {
      if (!required || required->count(field->name())) columns.push_back(field->name());
    }
    auto options = std::make_shared<ds::ScanOptions>();
    options->dataset_schema = node.dataset->schema();
    options->use_threads = true;  // decode columns of a row group in parallel
    options->pool = ExecutionPool();
    // A short readahead bounds memory in flight (default 16 batches); it
    // costs no speed on our benchmarks and saves page-faulting fresh buffers.
    options->batch_readahead = 4;
    ARROW_ASSIGN_OR_RAISE(options->filter, pushed.Bind(*node.dataset->schema()));
    ARROW_ASSIGN_OR_RAISE(auto projection,
                          ds::ProjectionDescr::FromNames(columns, *node.dataset->schema()));
    ds::SetProjection(options.get(), std::move(projection));
    std::string line = node.label + " columns=[" + Join(columns) + "]";
    if (!pushed.Equals(cp::literal(true))) line += " filter=" + pushed.ToString();
    Note(depth, line);
    // Implicit ordering numbers batches in the order they leave the scan,
    // so that Limit above a scan is deterministic (and Acero's fetch has the
    // order it needs). Sequenced output makes that order the file order
    // across the files of a directory too: files are still read ahead
    // concurrently, but emitted one after another (within one file, row
    // groups are in order either way).
    ac::Declaration scan("scan", ds::ScanNodeOptions(node.dataset, options,
                                                     /*require_sequenced_output=*/true,
                                                     /*implicit_ordering=*/true));
    // The scan node adds fragment bookkeeping columns; keep only ours.
    std::vector<cp::Expression> refs;
    for (const auto& column : columns) refs.push_back(cp::field_ref(column));
    return ac::Declaration::Sequence(
        {std::move(scan), ac::Declaration("project", ac::ProjectNodeOptions(refs, columns))});
  }

  void Note(int depth, const std::string& line) {
    if (explain_) explain_->push_back(std::string(2 * depth, ' ') + line);
  }

  std::vector<std::string>* explain_;
  bool use_threads_;
};

// The output schema of `declaration`, planned (validated) but not run. A
// one-thread executor lets order-dependent aggregates (first, last) plan.
arrow::Result<std::shared_ptr<arrow::Schema>> SchemaOf(const ac::Declaration& declaration) {
  static auto* pool = new std::shared_ptr<arrow::internal::ThreadPool>(
      arrow::internal::ThreadPool::Make(1).ValueOrDie());
  cp::ExecContext context(arrow::default_memory_pool(), pool->get());
  ARROW_ASSIGN_OR_RAISE(auto plan, ac::ExecPlan::Make(context));
  ARROW_ASSIGN_OR_RAISE(ac::ExecNode * node, declaration.AddToPlan(plan.get()));
  return node->output_schema();
}

}  // namespace

arrow::Status EnsureInitialized() {
  static const arrow::Status status = [] {
    ARROW_RETURN_NOT_OK(cp::Initialize());
    ds::internal::Initialize();
    return arrow::Status::OK();
  }();
  return status;
}

arrow::MemoryPool* ExecutionPool() {
  static arrow::MemoryPool* const pool = [] {
    if (const char* chosen = std::getenv("ARROW_DEFAULT_MEMORY_POOL"); chosen && *chosen) {
      return arrow::default_memory_pool();
    }
    arrow::MemoryPool* jemalloc = nullptr;
    if (arrow::jemalloc_memory_pool(&jemalloc).ok() && jemalloc != nullptr) return jemalloc;
    return arrow::system_memory_pool();
  }();
  return pool;
}

arrow::Result<NodePtr> Finish(std::shared_ptr<PlanNode> node, const std::string& op) {
  ARROW_RETURN_NOT_OK(EnsureInitialized());
  if (node->kind != NodeKind::kSource && node->kind != NodeKind::kScan) {
    std::vector<ac::Declaration::Input> inputs;
    for (const auto& input : node->inputs) {
      node->needs_order |= input->needs_order;
      ARROW_ASSIGN_OR_RAISE(auto empty, arrow::Table::MakeEmpty(input->schema));
      inputs.push_back(ac::Declaration("table_source", ac::TableSourceNodeOptions(empty)));
    }
    auto schema = SchemaOf(LowerOne(*node, std::move(inputs)));
    if (!schema.ok()) {
      // Planning errors here come from the caller's arguments (unknown
      // columns, no kernel for the argument types): bad input.
      return arrow::Status::Invalid(op, ": ", schema.status().message());
    }
    node->schema = *schema;
  }
  return NodePtr(std::move(node));
}

arrow::Result<ac::Declaration> Lower(const NodePtr& root) {
  ARROW_RETURN_NOT_OK(EnsureInitialized());
  return Lowering(nullptr, !NeedsOrder(root)).Lower(*root, std::nullopt, cp::literal(true), 0);
}

bool NeedsOrder(const NodePtr& root) { return root->needs_order; }

std::string ExplainPlan(const NodePtr& root) {
  std::vector<std::string> lines;
  auto lowered = Lowering(&lines, !NeedsOrder(root)).Lower(*root, std::nullopt, cp::literal(true), 0);
  std::ostringstream out;
  for (const auto& line : lines) out << line << "\n";
  if (!lowered.ok()) out << "(cannot be lowered: " << lowered.status().ToString() << ")\n";
  return out.str();
}

arrow::Status CheckColumn(const arrow::Schema& schema, const std::string& name,
                          const std::string& op) {
  const auto indices = schema.GetAllFieldIndices(name);
  if (indices.size() == 1) return arrow::Status::OK();
  std::vector<std::string> names;
  for (const auto& field : schema.fields()) names.push_back(field->name());
  return arrow::Status::Invalid(op, ": ", indices.empty() ? "unknown" : "ambiguous", " column '",
                                name, "' (columns: ", Join(names), ")");
}

}  // namespace flightdeck::frame::internal
