// The stage functions against a real in-process data node: their output
// equals the same pipeline computed locally with the DataFrame.
#include "flightdeck/pipeline/stages.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/flight/client.h>
#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/flight/data_node.h"
#include "flightdeck/frame/generate.h"
#include "unit/pipeline/pipeline_test_util.h"

namespace flightdeck::pipeline {
namespace {

namespace fs = std::filesystem;
using frame::DataFrame;
using testing::ApproxSameTable;
using testing::ExpectSameRows;
using testing::Sorted;

class StagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = flightdeck::testing::FreshTestDir("fd-stages");
    fs::create_directories(dir_ / "node");
    flight::DataNodeOptions options;
    options.store.data_dir = (dir_ / "node").string();
    ASSERT_OK_AND_ASSIGN(node_, flight::DataNode::Start(options));
  }
  void TearDown() override {
    node_.reset();
    fs::remove_all(dir_);
  }

  PipelineSpec Spec(const std::string& yaml) {
    auto spec = ParsePipelineSpec(yaml, "test.yaml");
    EXPECT_TRUE(spec.ok()) << spec.status().ToString();
    spec->nodes = {node_->location().ToString()};
    spec->sink.path = (dir_ / "out").string();
    return *spec;
  }

  // Runs every stage function as the workflow does; returns the staged list.
  std::vector<std::string> RunAll(const PipelineSpec& spec, const std::string& run) {
    const StagePlan plan = PlanStages(spec);
    std::vector<DatasetRef> parts;
    for (int32_t p = 0; p < spec.partitions; ++p) {
      auto extracted = Extract(spec, run, p);
      EXPECT_TRUE(extracted.ok()) << extracted.status().ToString();
      auto transformed = TransformPartition(spec, run, p, *extracted, plan.per_partition,
                                            plan.partial_aggregate);
      EXPECT_TRUE(transformed.ok()) << transformed.status().ToString();
      parts.push_back(*transformed);
    }
    if (!plan.global.empty()) {
      auto combined = Combine(spec, run, parts, plan.global, plan.partial_aggregate);
      EXPECT_TRUE(combined.ok()) << combined.status().ToString();
      parts = {*combined};
    }
    std::vector<std::string> staged;
    for (size_t i = 0; i < parts.size(); ++i) {
      auto loaded = Load(spec, run, static_cast<int32_t>(i), parts[i]);
      EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
      staged.push_back(*loaded);
    }
    EXPECT_OK(Commit(spec, run, staged));
    return staged;
  }

  std::shared_ptr<arrow::Table> ReadSink() {
    auto frame = DataFrame::Read((dir_ / "out").string(), frame::FileFormat::kParquet);
    EXPECT_TRUE(frame.ok()) << frame.status().ToString();
    auto table = frame->Collect();
    EXPECT_TRUE(table.ok()) << table.status().ToString();
    return *table;
  }

  // The committed sink, rows sorted by category, equals `spec` computed
  // locally (up to the last bits of sums).
  void ExpectSinkByCategoryEqualsLocal(const PipelineSpec& spec) {
    auto expected_frame = ComputeLocally(spec);
    ASSERT_TRUE(expected_frame.ok()) << expected_frame.status().ToString();
    auto expected = expected_frame->Collect();
    ASSERT_TRUE(expected.ok()) << expected.status().ToString();
    auto a = Sorted(ReadSink(), {"category"});
    auto e = Sorted(*expected, {"category"});
    EXPECT_TRUE(ApproxSameTable(*a, *e)) << a->ToString() << "\n" << e->ToString();
  }

  fs::path dir_;
  std::unique_ptr<flight::DataNode> node_;
};

constexpr char kMapSpec[] = R"yaml(
name: map
tenant: acme
source:
  generate: {rows: 10000, seed: 7}
stages:
  - filter: "amount > 10 and category is not null"
  - with_column: {name: amount_eur, expr: "amount * 0.92"}
  - select: [id, customer, amount_eur, category]
sink:
  parquet: out
partitions: 3
durable: false
)yaml";

constexpr char kAggregateSpec[] = R"yaml(
name: agg
tenant: acme
source:
  generate: {rows: 12345, seed: 3}
stages:
  - filter: "amount > 10"
  - with_column: {name: amount_eur, expr: "amount * 0.92"}
  - aggregate: {by: [category], aggs: {total: "sum(amount_eur)", orders: "count(*)"}}
  - sort: [{column: total, descending: true}]
sink:
  parquet: out
partitions: 4
durable: true
)yaml";

// rename, drop and cast run per partition; distinct over all of them.
constexpr char kVocabularySpec[] = R"yaml(
name: vocabulary
tenant: acme
source:
  generate: {rows: 9000, seed: 5}
stages:
  - filter: "amount > 10"
  - rename: {category: kind, customer: buyer}
  - cast: {column: amount, type: "decimal(18,2)"}
  - drop: [id, ts]
  - select: [buyer, kind]
  - distinct: true
sink:
  parquet: out
partitions: 3
durable: false
)yaml";

TEST_F(StagesTest, RenameDropCastAndDistinctEqualTheLocalDataFrame) {
  PipelineSpec spec = Spec(kVocabularySpec);
  const StagePlan plan = PlanStages(spec);
  EXPECT_EQ(plan.per_partition.end, 5u);  // distinct needs every partition's rows
  EXPECT_EQ(plan.global.begin, 5u);
  // Extract reads only the columns the stages need, under their old names.
  const auto needed = SourceColumnsNeeded(spec);
  ASSERT_TRUE(needed.has_value());
  EXPECT_TRUE(needed->count("category") && needed->count("customer") && needed->count("amount"));
  EXPECT_TRUE(needed->count("id") && needed->count("ts"));  // dropped, so they must be there
  RunAll(spec, "run-vocab");
  ASSERT_OK_AND_ASSIGN(auto expected_frame, ComputeLocally(spec));
  ASSERT_OK_AND_ASSIGN(auto expected, expected_frame.Collect());
  auto actual = ReadSink();
  EXPECT_EQ(actual->schema()->field_names(), (std::vector<std::string>{"buyer", "kind"}));
  ASSERT_EQ(actual->num_rows(), expected->num_rows());
  EXPECT_GT(actual->num_rows(), 100);
  EXPECT_TRUE(Sorted(actual, {"buyer", "kind"})->Equals(*Sorted(expected, {"buyer", "kind"})));
}

TEST_F(StagesTest, GeneratedPartitionsAreDisjointAndDeterministic) {
  PipelineSpec spec = Spec(kMapSpec);
  int64_t rows = 0;
  std::vector<std::shared_ptr<arrow::Table>> tables;
  for (int32_t p = 0; p < spec.partitions; ++p) {
    ASSERT_OK_AND_ASSIGN(auto frame, ReadSourcePartition(spec, p));
    ASSERT_OK_AND_ASSIGN(auto table, frame.Collect());
    rows += table->num_rows();
    ASSERT_OK_AND_ASSIGN(auto again, ReadSourcePartition(spec, p));
    ASSERT_OK_AND_ASSIGN(auto table2, again.Collect());
    EXPECT_TRUE(table->Equals(*table2));
    tables.push_back(table);
  }
  EXPECT_EQ(rows, 10000);
  ASSERT_OK_AND_ASSIGN(auto all, arrow::ConcatenateTables(tables));
  ASSERT_OK_AND_ASSIGN(auto distinct, DataFrame::FromTable(all).Select({"id"}).Distinct().Collect());
  EXPECT_EQ(distinct->num_rows(), 10000);  // ids are globally unique
  ASSERT_RAISES(Invalid, ReadSourcePartition(spec, 3));
}

TEST_F(StagesTest, PerPartitionPipelineEqualsLocalDataFrame) {
  PipelineSpec spec = Spec(kMapSpec);
  auto staged = RunAll(spec, "run-map");
  ASSERT_EQ(staged.size(), 3u);
  EXPECT_TRUE(fs::exists(dir_ / "out" / "_SUCCESS"));
  EXPECT_FALSE(fs::exists(dir_ / "out" / "_staging"));
  ASSERT_OK_AND_ASSIGN(auto expected_frame, ComputeLocally(spec));
  ASSERT_OK_AND_ASSIGN(auto expected, expected_frame.Collect());
  EXPECT_GT(expected->num_rows(), 0);
  ExpectSameRows(ReadSink(), expected, {"id"});
}

TEST_F(StagesTest, AggregateAcrossPartitionsEqualsLocalDataFrame) {
  PipelineSpec spec = Spec(kAggregateSpec);
  const StagePlan plan = PlanStages(spec);
  EXPECT_EQ(plan.per_partition.end, 2u);
  EXPECT_EQ(plan.global.begin, 2u);
  // sum and count(*) combine: partitions aggregate partially.
  EXPECT_TRUE(plan.partial_aggregate);
  RunAll(spec, "run-agg");
  ASSERT_OK_AND_ASSIGN(auto expected_frame, ComputeLocally(spec));
  ASSERT_OK_AND_ASSIGN(auto expected, expected_frame.Collect());
  auto actual = ReadSink();
  ASSERT_EQ(actual->num_rows(), expected->num_rows());
  // Sums over differently ordered unions may differ in the last bits.
  auto a = Sorted(actual, {"category"});
  auto e = Sorted(expected, {"category"});
  EXPECT_TRUE(ApproxSameTable(*a, *e)) << a->ToString() << "\n" << e->ToString();
  auto orders = std::static_pointer_cast<arrow::Int64Array>(a->GetColumnByName("orders")->chunk(0));
  int64_t total = 0;
  for (int64_t i = 0; i < orders->length(); ++i) total += orders->Value(i);
  // Every row that passed the per-partition filter is counted exactly once.
  std::vector<std::shared_ptr<arrow::Table>> inputs;
  for (int32_t p = 0; p < spec.partitions; ++p) {
    ASSERT_OK_AND_ASSIGN(auto part, ReadSourcePartition(spec, p));
    ASSERT_OK_AND_ASSIGN(auto kept, part.Filter("amount > 10").Collect());
    total -= kept->num_rows();
  }
  EXPECT_EQ(total, 0);
}

TEST_F(StagesTest, DurableExtractIsReusedByARetry) {
  PipelineSpec spec = Spec(kAggregateSpec);
  ASSERT_OK_AND_ASSIGN(DatasetRef first, Extract(spec, "run-retry", 1));
  ASSERT_OK_AND_ASSIGN(DatasetRef again, Extract(spec, "run-retry", 1));
  EXPECT_EQ(again, first);  // same ticket: not recomputed
  EXPECT_GT(first.rows, 0);
  EXPECT_EQ(node_->stats().datasets_durable, 1);
  // Non-durable outputs are recomputed (a new ticket replaces the old one).
  PipelineSpec light = Spec(kMapSpec);
  ASSERT_OK_AND_ASSIGN(DatasetRef a, Extract(light, "run-light", 0));
  ASSERT_OK_AND_ASSIGN(DatasetRef b, Extract(light, "run-light", 0));
  EXPECT_NE(a.ticket, b.ticket);
  EXPECT_EQ(a.checksum, b.checksum);
}

TEST_F(StagesTest, CommitIsIdempotentAndReRunsNeverDuplicate) {
  PipelineSpec spec = Spec(kMapSpec);
  auto staged = RunAll(spec, "run-1");
  const int64_t rows = ReadSink()->num_rows();
  // The same run committed again: nothing changes.
  EXPECT_OK(Commit(spec, "run-1", staged));
  EXPECT_EQ(ReadSink()->num_rows(), rows);
  // A second run into the same sink replaces the output, with fewer parts.
  spec.partitions = 2;
  RunAll(spec, "run-2");
  ASSERT_OK_AND_ASSIGN(auto expected_frame, ComputeLocally(spec));
  ASSERT_OK_AND_ASSIGN(auto expected, expected_frame.Collect());
  ExpectSameRows(ReadSink(), expected, {"id"});
  EXPECT_FALSE(fs::exists(dir_ / "out" / "part-2.parquet"));
  std::ifstream success(dir_ / "out" / "_SUCCESS");
  std::string line;
  std::getline(success, line);
  EXPECT_EQ(line, "run-2");
}

std::string ReadSmallText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The names in `folder`, sorted.
std::vector<std::string> Entries(const fs::path& folder) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST_F(StagesTest, CommitRetriedAfterAPartialAttemptLeavesOneCopyOfEveryPart) {
  PipelineSpec spec = Spec(kMapSpec);
  RunAll(spec, "run-old");  // an earlier run's output in the sink
  const StagePlan plan = PlanStages(spec);
  std::vector<std::string> staged;
  std::vector<DatasetRef> outputs;
  for (int32_t p = 0; p < spec.partitions; ++p) {
    ASSERT_OK_AND_ASSIGN(auto ref, Extract(spec, "run-c", p));
    ASSERT_OK_AND_ASSIGN(ref, TransformPartition(spec, "run-c", p, ref, plan.per_partition));
    ASSERT_OK_AND_ASSIGN(auto path, Load(spec, "run-c", p, ref));
    // A retried load keeps the staged part.
    ASSERT_OK_AND_ASSIGN(auto again, Load(spec, "run-c", p, ref));
    EXPECT_EQ(again, path);
    EXPECT_EQ(fs::path(path).filename().string(), PartName(spec, p));
    staged.push_back(path);
    outputs.push_back(ref);
  }
  // A first attempt that crashed half-way: one part moved into the commit
  // folder, the others still staged. The sink is still the old run's.
  const fs::path next = CommitFolder(spec, "run-c");
  EXPECT_EQ(next.parent_path(), dir_);
  fs::create_directories(next);
  fs::rename(staged[1], next / fs::path(staged[1]).filename());
  EXPECT_EQ(ReadSmallText(dir_ / "out" / "_SUCCESS"), "run-old\n");

  EXPECT_OK(Commit(spec, "run-c", staged));
  const std::vector<std::string> published = {"_SUCCESS", "part-0.parquet", "part-1.parquet",
                                              "part-2.parquet"};
  EXPECT_EQ(Entries(dir_ / "out"), published);
  EXPECT_EQ(ReadSmallText(dir_ / "out" / "_SUCCESS"), "run-c\n");
  EXPECT_EQ(Entries(dir_), (std::vector<std::string>{"node", "out"}));
  ASSERT_OK_AND_ASSIGN(auto expected_frame, ComputeLocally(spec));
  ASSERT_OK_AND_ASSIGN(auto expected, expected_frame.Collect());
  ExpectSameRows(ReadSink(), expected, {"id"});

  // A retry after the publishing rename (its answer lost): a retried load
  // stages part 0 again and the commit folder is still there. The commit
  // succeeds without publishing anything twice and removes both.
  ASSERT_OK(Load(spec, "run-c", 0, outputs[0]).status());
  fs::create_directories(next);
  EXPECT_OK(Commit(spec, "run-c", staged));
  EXPECT_EQ(Entries(dir_ / "out"), published);
  EXPECT_EQ(Entries(dir_), (std::vector<std::string>{"node", "out"}));
  ExpectSameRows(ReadSink(), expected, {"id"});
}

TEST_F(StagesTest, ErrorsNameTheProblem) {
  PipelineSpec spec = Spec(kMapSpec);
  auto outside = Commit(spec, "run-x", {(dir_ / "elsewhere" / "part-0.parquet").string()});
  ASSERT_RAISES(Invalid, outside);
  EXPECT_NE(outside.message().find("not in the staging folder"), std::string::npos);
  ASSERT_RAISES(Invalid,
                Commit(spec, "run-x",
                       {(dir_ / "out" / "_staging" / "run-x" / "part-0.parquet").string()}));
  ASSERT_RAISES(Invalid, Extract(spec, "bad/run", 0));
  ASSERT_RAISES(Invalid, Combine(spec, "run-x", {}, {0, 0}));
  PipelineSpec nodeless = spec;
  nodeless.nodes.clear();
  auto no_node = Extract(nodeless, "run-x", 0);
  ASSERT_RAISES(Invalid, no_node);
  EXPECT_NE(no_node.status().message().find("names no data node"), std::string::npos);
  // A lost ticket is NOT_FOUND (KeyError).
  DatasetRef lost{node_->location().ToString(), "fdt1:acme:00000000000000000000000000000000",
                  1, 1, "f", "c"};
  ASSERT_RAISES(KeyError, TransformPartition(spec, "run-x", 0, lost, {0, 1}));
  PipelineSpec python = Spec(R"(
name: py
source:
  generate: {rows: 10}
stages:
  - python: {transform: add_discount, task_queue: py}
sink:
  parquet: out
)");
  ASSERT_OK_AND_ASSIGN(auto frame, ReadSourcePartition(python, 0));
  auto py = ApplyStages(python, frame, {0, 1});
  ASSERT_RAISES(Invalid, py);
  EXPECT_NE(py.status().message().find("Python stage worker"), std::string::npos);
  EXPECT_NE(py.status().message().find("stage 1 (python, spec line 6)"), std::string::npos) << py.status();
  // An error only the data shows (a value that does not cast) names the
  // partition and the stages' spec lines.
  PipelineSpec cast = Spec(R"yaml(
name: cast
source:
  generate: {rows: 100}
stages:
  - filter: "amount > 0"
  - with_column: {name: n, expr: "cast(category as integer)"}
sink:
  parquet: out
)yaml");
  ASSERT_OK_AND_ASSIGN(auto extracted, Extract(cast, "run-cast", 0));
  auto failed = TransformPartition(cast, "run-cast", 0, extracted, {0, 2});
  ASSERT_RAISES(Invalid, failed);
  EXPECT_NE(failed.status().message().find("partition 0, stages 1-2 (spec lines 6-7)"), std::string::npos)
      << failed.status();
  EXPECT_NE(failed.status().message().find("INT32"), std::string::npos) << failed.status();
}

TEST_F(StagesTest, FileSourceSplitsFilesRoundRobin) {
  fs::create_directories(dir_ / "in");
  for (int i = 0; i < 3; ++i) {
    auto part = DataFrame::FromTable(*frame::GenerateOrders({.rows = 100, .seed = uint64_t(i)}))
                    .WithColumn("id", std::string_view("id + " + std::to_string(i * 1000)));
    ASSERT_OK(part.WriteFile((dir_ / "in" / ("f" + std::to_string(i) + ".parquet")).string(),
                             frame::FileFormat::kParquet));
  }
  PipelineSpec spec = Spec("name: files\nsource:\n  parquet: " + (dir_ / "in").string() +
                           "\nsink:\n  parquet: out\npartitions: 2\ndurable: false\n");
  ASSERT_OK_AND_ASSIGN(auto p0, ReadSourcePartition(spec, 0));
  ASSERT_OK_AND_ASSIGN(auto p1, ReadSourcePartition(spec, 1));
  EXPECT_EQ((*p0.Collect())->num_rows(), 200);
  EXPECT_EQ((*p1.Collect())->num_rows(), 100);
  RunAll(spec, "run-files");
  EXPECT_EQ(ReadSink()->num_rows(), 300);
}

TEST_F(StagesTest, FileSourcesAreReadInPlaceAndJoinOnDifferentNames) {
  // Orders as files, customers as a lookup table whose key has another name.
  fs::create_directories(dir_ / "in");
  for (int i = 0; i < 2; ++i) {
    auto part = DataFrame::FromTable(*frame::GenerateOrders({.rows = 2000, .seed = uint64_t(i)}))
                    .WithColumn("id", std::string_view("id + " + std::to_string(i * 10000)));
    ASSERT_OK(part.WriteFile((dir_ / "in" / ("f" + std::to_string(i) + ".parquet")).string(),
                             frame::FileFormat::kParquet));
  }
  ASSERT_OK(DataFrame::Sql("select range as customer_id, 'tier-' || (range % 3) as tier from range(1, 100001)", {})
                .WriteFile((dir_ / "customers.parquet").string(), frame::FileFormat::kParquet));
  PipelineSpec spec = Spec("name: files\nsource:\n  parquet: " + (dir_ / "in").string() +
                           "\nstages:\n  - filter: \"amount > 100\"\n"
                           "  - join: {source: {parquet: " + (dir_ / "customers.parquet").string() +
                           "}, on: [customer], right_on: [customer_id]}\n"
                           "  - aggregate: {by: [tier], aggs: {total: \"sum(amount)\", n: \"count(*)\"}}\n"
                           "sink:\n  parquet: out\npartitions: 2\n");
  ASSERT_EQ(spec.stages[1].join.right_on, std::vector<std::string>{"customer_id"});
  ASSERT_TRUE(SourceIsDurable(spec.source));
  const StagePlan plan = PlanStages(spec);
  std::vector<DatasetRef> parts;
  for (int32_t p = 0; p < spec.partitions; ++p) {
    ASSERT_OK_AND_ASSIGN(auto part, TransformSourcePartition(spec, "run-in-place", p, plan.per_partition,
                                                             plan.partial_aggregate));
    parts.push_back(part);
  }
  ASSERT_OK_AND_ASSIGN(auto combined, Combine(spec, "run-in-place", parts, plan.global, plan.partial_aggregate));
  ASSERT_OK_AND_ASSIGN(auto staged, Load(spec, "run-in-place", 0, combined));
  ASSERT_OK(Commit(spec, "run-in-place", {staged}));
  ASSERT_OK_AND_ASSIGN(auto expected_frame, ComputeLocally(spec));
  ASSERT_OK_AND_ASSIGN(auto expected, expected_frame.Collect());
  auto actual = ReadSink();
  ASSERT_EQ(actual->num_rows(), 3);
  EXPECT_TRUE(ApproxSameTable(*Sorted(actual, {"tier"}), *Sorted(expected, {"tier"})));
  // Nothing was extracted: the files are the checkpoint of the source.
  auto client = arrow::flight::FlightClient::Connect(node_->location()).ValueOrDie();
  arrow::flight::FlightCallOptions options;
  options.headers = {{"x-flightdeck-tenant", spec.tenant}};
  auto listing = client->ListFlights(options, {}).ValueOrDie();
  int extracts = 0, transforms = 0;
  while (auto info = listing->Next().ValueOrDie()) {
    const std::string path = info->descriptor().ToString();
    extracts += path.find("-extract") != std::string::npos;
    transforms += path.find("-transform") != std::string::npos;
  }
  EXPECT_EQ(extracts, 0);
  EXPECT_EQ(transforms, 2);
}

TEST_F(StagesTest, ExtractPutsOnlyTheColumnsTheStagesRead) {
  using Columns = std::set<std::string>;
  // The source columns among the names needed (which may also hold SQL
  // keywords and names the stages make: Extract intersects with the source).
  auto source_columns = [](std::optional<Columns> needed) -> std::optional<Columns> {
    if (!needed) return std::nullopt;
    Columns out;
    for (const char* name : {"id", "customer", "amount", "category", "ts"}) {
      if (needed->count(name)) out.insert(name);
    }
    return out;
  };
  // aggregate <- with_column <- filter: by, the aggregate's input made from
  // amount, and the filter's column.
  EXPECT_EQ(source_columns(SourceColumnsNeeded(Spec(kAggregateSpec))), (Columns{"amount", "category"}));
  // A select fixes the columns (amount_eur is made from amount).
  EXPECT_EQ(source_columns(SourceColumnsNeeded(Spec(kMapSpec))),
            (Columns{"amount", "category", "customer", "id"}));
  // Filters only: the sink writes every column.
  PipelineSpec all = Spec(kMapSpec);
  all.stages.pop_back();
  EXPECT_EQ(SourceColumnsNeeded(all), std::nullopt);

  auto schema_of = [&](const DatasetRef& ref) {
    auto frame = DataFrame::FromFlight(ref.node, ref.ticket, {.tenant = "acme"});
    EXPECT_TRUE(frame.ok()) << frame.status().ToString();
    return *frame->schema();
  };
  ASSERT_OK_AND_ASSIGN(DatasetRef aggregated, Extract(Spec(kAggregateSpec), "run-proj", 0));
  EXPECT_EQ(schema_of(aggregated)->ToString(), "amount: double\ncategory: string");
  ASSERT_OK_AND_ASSIGN(DatasetRef whole, Extract(all, "run-proj-all", 0));
  EXPECT_EQ(schema_of(whole)->num_fields(), 5);

  // A file source: the scan reads only the needed columns, and the result
  // equals the local DataFrame over every column.
  fs::create_directories(dir_ / "in");
  ASSERT_OK(DataFrame::FromTable(*frame::GenerateOrders({.rows = 3000, .seed = 4}))
                .WriteFile((dir_ / "in" / "orders.parquet").string(), frame::FileFormat::kParquet));
  std::string yaml = kAggregateSpec;
  const std::string generated = "generate: {rows: 12345, seed: 3}";
  yaml.replace(yaml.find(generated), generated.size(), "parquet: " + (dir_ / "in").string());
  PipelineSpec files = Spec(yaml);
  ASSERT_OK_AND_ASSIGN(DatasetRef from_file, Extract(files, "run-proj-file", 0));
  EXPECT_EQ(schema_of(from_file)->ToString(), "amount: double\ncategory: string");
  RunAll(files, "run-proj-file-all");
  ExpectSinkByCategoryEqualsLocal(files);
}

TEST_F(StagesTest, PlanSplitsOnlyCombinableAggregatesAndNotOnePartition) {
  PipelineSpec spec = Spec(kAggregateSpec);
  spec.stages[2].aggregate.aggs.push_back({"avg", "mean(amount_eur)"});
  EXPECT_FALSE(PlanStages(spec).partial_aggregate);  // a mean of means is wrong
  spec = Spec(kAggregateSpec);
  spec.partitions = 1;
  const StagePlan one = PlanStages(spec);
  EXPECT_EQ(one.per_partition.end, spec.stages.size());
  EXPECT_TRUE(one.global.empty());
  // The partial-aggregate path runs on the plan's partitions, equal to the
  // local DataFrame; a mean (not split) still runs in the combine.
  spec = Spec(kAggregateSpec);
  spec.stages[2].aggregate.aggs.push_back({"avg", "mean(amount_eur)"});
  RunAll(spec, "run-mean");
  ExpectSinkByCategoryEqualsLocal(spec);
  // A lost input is DatasetLost naming it.
  DatasetRef lost{node_->location().ToString(), "fdt1:acme:00000000000000000000000000000000",
                  1, 1, "f", "c"};
  auto status = TransformPartition(spec, "run-x", 2, lost, {0, 2}).status();
  ASSERT_TRUE(status.IsKeyError()) << status.ToString();
  EXPECT_TRUE(flight::IsDatasetLost(status)) << status.ToString();
  EXPECT_EQ(LostInputOf(status), "2") << status.ToString();
  // Found by its detail, never by its words.
  EXPECT_EQ(LostInputOf(arrow::Status::KeyError("dataset lost: input 2: gone")), "");
}

constexpr char kShuffleSpec[] = R"yaml(
name: shuffled
tenant: acme
source:
  generate: {rows: 20000, seed: 9}
stages:
  - filter: "amount > 10"
  - aggregate: {by: [customer, category], aggs: {total: "sum(amount)", n: "count(*)"}}
  - with_column: {name: twice, expr: "n * 2"}
  - sort: [customer, category]
sink:
  parquet: out
partitions: 4
shuffle: 3
durable: true
)yaml";

TEST_F(StagesTest, ShufflePlanTakesTheKeyedStageAndTheRowWiseStagesAfterIt) {
  PipelineSpec spec = Spec(kShuffleSpec);
  StagePlan plan = PlanStages(spec);
  EXPECT_EQ(plan.shuffle, 3);
  EXPECT_EQ(plan.per_partition.end, 1u);
  EXPECT_EQ(plan.reduce.begin, 1u);
  EXPECT_EQ(plan.reduce.end, 3u);  // the aggregate and the with_column
  EXPECT_EQ(plan.global.begin, 3u);  // the sort, once, over the reduces
  EXPECT_TRUE(plan.partial_aggregate);
  // auto: no shuffle on one node, one reduce per partition on several.
  spec.shuffle = PipelineSpec::kShuffleAuto;
  EXPECT_EQ(PlanStages(spec).shuffle, 0);
  EXPECT_EQ(PlanStages(spec).global.begin, 1u);
  spec.nodes.push_back("grpc+tcp://127.0.0.1:1");
  EXPECT_EQ(PlanStages(spec).shuffle, 4);
  spec.shuffle = 0;  // off
  EXPECT_EQ(PlanStages(spec).shuffle, 0);
  // An aggregate without groups is one row: nothing to shuffle.
  spec = Spec(kShuffleSpec);
  spec.stages[1].aggregate.by.clear();
  EXPECT_EQ(PlanStages(spec).shuffle, 0);
  // One partition runs everything in its chain.
  spec = Spec(kShuffleSpec);
  spec.partitions = 1;
  EXPECT_EQ(PlanStages(spec).shuffle, 0);
  EXPECT_FALSE(ParsePipelineSpec("name: x\nsource: {generate: {rows: 1}}\nsink: {parquet: o}\nshuffle: some\n",
                                 "bad.yaml")
                   .ok());
  // A join with strategy: shuffle is the keyed stage, shuffled even on one
  // node; a broadcast join stays in the partitions.
  const std::string join = R"yaml(
name: joined
source: {generate: {rows: 100}}
stages:
  - filter: "amount > 1"
  - join: {source: {generate: {rows: 10}}, on: [customer], right_on: [id], strategy: STRATEGY}
  - select: [id, amount]
  - aggregate: {by: [id], aggs: {n: "count(*)"}}
sink: {parquet: o}
partitions: 3
)yaml";
  auto with = [&](const std::string& strategy, const std::string& extra = "") {
    std::string text = join;
    text.replace(text.find("STRATEGY"), 8, strategy);
    return ParsePipelineSpec(text + extra, "join.yaml");
  };
  ASSERT_OK_AND_ASSIGN(PipelineSpec shuffled, with("shuffle"));
  plan = PlanStages(shuffled);
  EXPECT_EQ(plan.shuffle, 3);
  EXPECT_EQ(plan.per_partition.end, 1u);
  EXPECT_EQ(plan.reduce.begin, 1u);
  EXPECT_EQ(plan.reduce.end, 3u);
  EXPECT_EQ(plan.global.begin, 3u);
  ASSERT_OK_AND_ASSIGN(PipelineSpec broadcast, with("broadcast"));
  EXPECT_EQ(PlanStages(broadcast).per_partition.end, 3u);
  EXPECT_EQ(PlanStages(broadcast).shuffle, 0);
  auto refused = with("shuffle", "shuffle: off\n");
  ASSERT_RAISES(Invalid, refused);
  EXPECT_NE(refused.status().message().find("join.yaml:6: a join with strategy: shuffle needs a shuffle"),
            std::string::npos)
      << refused.status().ToString();
  ASSERT_RAISES(Invalid, with("hash"));
  // replicas: never more copies than nodes, and not with Python stages yet.
  auto replicas = ParsePipelineSpec(
      "name: r\nsource: {generate: {rows: 1}}\nsink: {parquet: o}\nnodes: [grpc+tcp://a:1]\nreplicas: 2\n", "r.yaml");
  ASSERT_RAISES(Invalid, replicas);
  EXPECT_NE(replicas.status().message().find("replicas: 2 needs at least as many nodes"), std::string::npos)
      << replicas.status().ToString();
  auto python = ParsePipelineSpec(
      "name: r\nsource: {generate: {rows: 1}}\nstages:\n  - python: {transform: t}\nsink: {parquet: o}\n"
      "replicas: 2\n",
      "r.yaml");
  ASSERT_RAISES(Invalid, python);
  EXPECT_NE(python.status().message().find("r.yaml:4: python stages keep one copy"), std::string::npos)
      << python.status().ToString();
}

TEST_F(StagesTest, ShuffleMapsAndReducesEqualTheLocalDataFrameAndRetriesReuseBuckets) {
  PipelineSpec spec = Spec(kShuffleSpec);
  const StagePlan plan = PlanStages(spec);
  const std::string run = "run-shuffle";
  int64_t mapped_rows = 0;
  for (int32_t p = 0; p < spec.partitions; ++p) {
    ASSERT_OK_AND_ASSIGN(DatasetRef extracted, Extract(spec, run, p));
    ASSERT_OK_AND_ASSIGN(DatasetRef mapped, ShuffleMap(spec, run, p, extracted, plan.per_partition));
    EXPECT_TRUE(mapped.ticket.empty());
    mapped_rows += mapped.rows;
    if (p == 0) {
      // Map 1 has not run: every reduce misses its bucket and names it.
      auto status = Reduce(spec, run, 2).status();
      EXPECT_EQ(LostInputOf(status), "1") << status.ToString();
      // A retried map finds its buckets and reads nothing (its input may
      // even be gone).
      DatasetRef gone{node_->location().ToString(), "fdt1:acme:00000000000000000000000000000000", 1, 1, "f", "c"};
      ASSERT_OK_AND_ASSIGN(DatasetRef again, ShuffleMap(spec, run, p, gone, plan.per_partition));
      EXPECT_EQ(again.rows, mapped.rows);
    }
  }
  std::vector<DatasetRef> reduced;
  int64_t reduced_rows = 0;
  for (int32_t k = 0; k < plan.shuffle; ++k) {
    ASSERT_OK_AND_ASSIGN(DatasetRef out, Reduce(spec, run, k));
    reduced_rows += out.rows;
    reduced.push_back(out);
  }
  // Partials of one group meet in one reduce: fewer rows out than in.
  EXPECT_GT(mapped_rows, reduced_rows);
  ASSERT_RAISES(Invalid, Reduce(spec, run, 3));
  ASSERT_OK_AND_ASSIGN(DatasetRef combined, Combine(spec, run, reduced, plan.global));
  ASSERT_OK(Commit(spec, run, {*Load(spec, run, 0, combined)}));
  ASSERT_OK_AND_ASSIGN(auto expected_frame, ComputeLocally(spec));
  ASSERT_OK_AND_ASSIGN(auto expected, expected_frame.Collect());
  auto a = Sorted(ReadSink(), {"customer", "category"});
  auto e = Sorted(expected, {"customer", "category"});
  EXPECT_EQ(a->num_rows(), reduced_rows);
  EXPECT_TRUE(ApproxSameTable(*a, *e)) << a->Slice(0, 5)->ToString() << "\n" << e->Slice(0, 5)->ToString();
}

constexpr char kRangeSpec[] = R"yaml(
name: ranged
tenant: acme
source:
  generate: {rows: 20000, seed: 5}
stages:
  - filter: "amount > 10"
  - sort: [{column: category, descending: true}, amount, {column: id, nulls_first: true}]
  - with_column: {name: cents, expr: "amount * 100"}
sink:
  parquet: out
partitions: 4
shuffle: 3
durable: true
)yaml";

TEST_F(StagesTest, RangeShuffleSortsEachRangeInItsReduceAndThePartsInOrderAreTheSortedRows) {
  PipelineSpec spec = Spec(kRangeSpec);
  const StagePlan plan = PlanStages(spec);
  ASSERT_TRUE(plan.range);
  EXPECT_EQ(plan.shuffle, 3);
  EXPECT_EQ(plan.reduce.begin, 1u);
  EXPECT_EQ(plan.reduce.end, 3u);  // the sort and the with_column
  EXPECT_TRUE(plan.global.empty());
  EXPECT_EQ(PartCount(spec), 3);
  // A sort followed by a limit is a top-N: it stays in the combine.
  PipelineSpec top = spec;
  top.stages.insert(top.stages.begin() + 2, StageSpec{});
  top.stages[2].kind = StageSpec::Kind::kLimit;
  top.stages[2].limit = 5;
  EXPECT_FALSE(PlanStages(top).range);
  EXPECT_EQ(PlanStages(top).shuffle, 0);
  EXPECT_TRUE(PlanStages(top).partial_top);
  EXPECT_FALSE(plan.partial_top);

  const std::string run = "run-range";
  std::vector<DatasetRef> outputs;
  for (int32_t p = 0; p < spec.partitions; ++p) {
    ASSERT_OK_AND_ASSIGN(DatasetRef extracted, Extract(spec, run, p));
    ASSERT_OK_AND_ASSIGN(DatasetRef output, TransformPartition(spec, run, p, extracted, plan.per_partition));
    outputs.push_back(output);
    if (p < spec.partitions - 1) ASSERT_OK(PutSortSample(spec, run, p, output));
  }
  // The last map's sample is missing: the boundaries name it.
  auto status = SortBounds(spec, run).status();
  EXPECT_EQ(LostInputOf(status), "3") << status.ToString();
  ASSERT_OK(PutSortSample(spec, run, 3, outputs[3]));
  ASSERT_OK(PutSortSample(spec, run, 3, outputs[3]));  // a retry keeps the sample
  // No boundaries yet: the split names them.
  status = RangeSplit(spec, run, 0, outputs[0]).status();
  EXPECT_EQ(LostInputOf(status), "bounds") << status.ToString();
  ASSERT_OK_AND_ASSIGN(DatasetRef bounds, SortBounds(spec, run));
  EXPECT_EQ(bounds.rows, 2);
  int64_t split_rows = 0;
  for (int32_t p = 0; p < spec.partitions; ++p) {
    ASSERT_OK_AND_ASSIGN(DatasetRef split, RangeSplit(spec, run, p, outputs[p]));
    EXPECT_EQ(split.rows, outputs[p].rows);
    split_rows += split.rows;
    if (p == 0) {
      // Map 1 has not split: a reduce names it.
      EXPECT_EQ(LostInputOf(Reduce(spec, run, 1).status()), "1");
      // A retried split finds its buckets and reads nothing.
      DatasetRef gone{node_->location().ToString(), "fdt1:acme:00000000000000000000000000000000", 1, 1, "f", "c"};
      ASSERT_OK_AND_ASSIGN(DatasetRef again, RangeSplit(spec, run, p, gone));
      EXPECT_EQ(again.rows, split.rows);
    }
  }
  std::vector<std::string> staged;
  for (int32_t k = 0; k < plan.shuffle; ++k) {
    ASSERT_OK_AND_ASSIGN(DatasetRef reduced, Reduce(spec, run, k));
    // Every range holds a fair share of the rows.
    EXPECT_GT(reduced.rows, split_rows / 6) << "reduce " << k;
    EXPECT_LT(reduced.rows, split_rows / 2) << "reduce " << k;
    ASSERT_OK_AND_ASSIGN(std::string part, Load(spec, run, k, reduced));
    staged.push_back(part);
  }
  ASSERT_OK(Commit(spec, run, staged));
  // The parts read in name order are the rows in sort order.
  std::vector<std::shared_ptr<arrow::Table>> parts;
  for (int32_t k = 0; k < plan.shuffle; ++k) {
    ASSERT_OK_AND_ASSIGN(auto frame, DataFrame::Read((dir_ / "out" / PartName(spec, k)).string(),
                                                     frame::FileFormat::kParquet));
    ASSERT_OK_AND_ASSIGN(auto table, frame.Collect());
    parts.push_back(table);
  }
  ASSERT_OK_AND_ASSIGN(auto all, arrow::ConcatenateTables(parts));
  ASSERT_OK_AND_ASSIGN(all, all->CombineChunks());
  ASSERT_OK_AND_ASSIGN(auto expected_frame, ComputeLocally(spec));
  ASSERT_OK_AND_ASSIGN(auto expected, expected_frame.Collect());
  ASSERT_OK_AND_ASSIGN(expected, expected->CombineChunks());
  EXPECT_EQ(all->num_rows(), split_rows);
  EXPECT_TRUE(all->Equals(*expected)) << all->Slice(0, 5)->ToString() << "\n" << expected->Slice(0, 5)->ToString();
}

TEST_F(StagesTest, ATopNIsComputedPerPartitionAndAgainInTheCombine) {
  PipelineSpec spec = Spec(R"yaml(
name: top
tenant: acme
source:
  generate: {rows: 20000, seed: 3}
stages:
  - filter: "amount > 10"
  - sort: [{column: amount, descending: true}, id]
  - limit: 25
  - with_column: {name: cents, expr: "amount * 100"}
sink:
  parquet: out
partitions: 4
)yaml");
  const StagePlan plan = PlanStages(spec);
  ASSERT_TRUE(plan.partial_top);
  EXPECT_EQ(plan.per_partition.end, 1u);
  EXPECT_EQ(plan.global.begin, 1u);
  const std::string run = "run-top";
  std::vector<DatasetRef> tops;
  for (int32_t p = 0; p < spec.partitions; ++p) {
    ASSERT_OK_AND_ASSIGN(DatasetRef extracted, Extract(spec, run, p));
    ASSERT_OK_AND_ASSIGN(DatasetRef top, TransformPartition(spec, run, p, extracted, plan.per_partition, true));
    EXPECT_EQ(top.rows, 25);  // each partition keeps its own first 25
    tops.push_back(top);
  }
  // Only the step that ends the per-partition stages has partial stages.
  ASSERT_RAISES(Invalid, TransformPartition(spec, run, 0, tops[0], {0, 0}, true));
  ASSERT_OK_AND_ASSIGN(DatasetRef combined, Combine(spec, run, tops, plan.global));
  ASSERT_OK(Commit(spec, run, {*Load(spec, run, 0, combined)}));
  ASSERT_OK_AND_ASSIGN(auto expected_frame, ComputeLocally(spec));
  ASSERT_OK_AND_ASSIGN(auto expected, expected_frame.Collect());
  ASSERT_OK_AND_ASSIGN(expected, expected->CombineChunks());
  ASSERT_OK_AND_ASSIGN(auto got, ReadSink()->CombineChunks());
  EXPECT_EQ(got->num_rows(), 25);
  EXPECT_TRUE(got->Equals(*expected)) << got->Slice(0, 5)->ToString() << "\n" << expected->Slice(0, 5)->ToString();
}

TEST(PartNameTest, NumbersArePaddedToTheLastPartsWidth) {
  auto spec = ParsePipelineSpec("name: p\nsource: {generate: {rows: 1}}\nsink: {parquet: o}\npartitions: 12\n", "p.yaml");
  ASSERT_OK(spec.status());
  EXPECT_EQ(PartCount(*spec), 12);
  EXPECT_EQ(PartName(*spec, 7), "part-07.parquet");
  EXPECT_EQ(PartName(*spec, 11), "part-11.parquet");
  spec->partitions = 10;
  EXPECT_EQ(PartName(*spec, 7), "part-7.parquet");
  spec->sink.kind = SinkSpec::Kind::kFlight;
  spec->partitions = 100;  // parts 00 to 99
  EXPECT_EQ(PartName(*spec, 7), "part-07");
  spec->partitions = 101;
  EXPECT_EQ(PartName(*spec, 7), "part-007");
}

TEST_F(StagesTest, PythonStagesSplitTheChainIntoSteps) {
  PipelineSpec spec = Spec(R"yaml(
name: steps
source:
  generate: {rows: 10}
stages:
  - filter: "amount > 1"
  - python: {transform: a}
  - with_column: {name: x, expr: "amount * 2"}
  - python: {transform: b}
  - aggregate: {by: [category], aggs: {n: "count(*)"}}
sink:
  parquet: out
partitions: 2
)yaml");
  const auto steps = ChainSteps(spec);
  ASSERT_EQ(steps.size(), 5u);
  EXPECT_FALSE(steps[0].is_python());
  EXPECT_EQ(steps[0].range.begin, 0u);
  EXPECT_EQ(steps[0].range.end, 1u);
  EXPECT_EQ(steps[1].python, 1);
  EXPECT_EQ(steps[2].range.begin, 2u);
  EXPECT_EQ(steps[2].range.end, 3u);
  EXPECT_EQ(steps[3].python, 3);
  // The last step has no stage: it computes the partial aggregate.
  EXPECT_FALSE(steps[4].is_python());
  EXPECT_TRUE(steps[4].range.empty());
  EXPECT_EQ(steps[4].range.begin, 4u);
  EXPECT_EQ(spec.stages[1].task_queue, "flightdeck-python");
  EXPECT_EQ(TransformDataset("r", steps[0].range), "r-transform");
  EXPECT_EQ(TransformDataset("r", steps[2].range), "r-transform-2");
  // Without Python stages: one step, the per-partition stages.
  const auto plain = ChainSteps(Spec(kAggregateSpec));
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(plain[0].range.end, PlanStages(Spec(kAggregateSpec)).per_partition.end);
}

}  // namespace
}  // namespace flightdeck::pipeline

namespace flightdeck::pipeline {
namespace {

TEST(NodeForTest, PartitionsSpreadOverTheNodesByRendezvousPlacement) {
  PipelineSpec spec;
  spec.name = "orders";
  spec.tenant = "acme";
  spec.nodes = {"grpc+tcp://a:1", "grpc+tcp://b:1", "grpc+tcp://c:1"};
  std::map<std::string, int> load;
  for (int32_t p = 0; p < 300; ++p) {
    ASSERT_OK_AND_ASSIGN(std::string node, NodeFor(spec, p));
    ASSERT_OK_AND_ASSIGN(std::string again, NodeFor(spec, p));
    EXPECT_EQ(node, again);
    ++load[node];
  }
  ASSERT_EQ(load.size(), 3u);
  for (const auto& [node, count] : load) EXPECT_GT(count, 60) << node;
  // A fourth node takes partitions only from the others, about a quarter.
  PipelineSpec grown = spec;
  grown.nodes.push_back("grpc+tcp://d:1");
  int moved = 0;
  for (int32_t p = 0; p < 300; ++p) {
    const std::string before = *NodeFor(spec, p), after = *NodeFor(grown, p);
    if (before != after) {
      ++moved;
      EXPECT_EQ(after, "grpc+tcp://d:1");
    }
  }
  EXPECT_GT(moved, 40);
  EXPECT_LT(moved, 110);
  spec.nodes.push_back("grpc+tcp://a:1");
  ASSERT_RAISES(Invalid, NodeFor(spec, 0));
}

}  // namespace
}  // namespace flightdeck::pipeline
