#include "flightdeck/pipeline/spec.h"

#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"

namespace flightdeck::pipeline {
namespace {

constexpr char kFullSpec[] = R"yaml(name: orders-etl
tenant: acme
source:
  generate: {rows: 20000000, seed: 7}
stages:
  - filter: "amount > 10 and category is not null"
  - with_column: {name: amount_eur, expr: "amount * 0.92"}
  - select: [id, customer, amount_eur, category]
  - python: {transform: add_discount, task_queue: py-stages}
  - join: {source: {parquet: customers.parquet}, on: [customer], how: left}
  - aggregate: {by: [category], aggs: {total: "sum(amount_eur)", orders: "count(id)"}}
  - sort: [{column: total, descending: true}, category]
  - limit: 100
sink:
  parquet: out/orders
partitions: 8
parallelism: 2
durable: false
deterministic: false
retry: {max_attempts: 5, initial_interval_ms: 200, backoff: 1.5, max_interval_ms: 5000}
nodes: [grpc+tcp://127.0.0.1:7100]
task_queue: etl
)yaml";

TEST(PipelineSpecTest, ParsesEveryField) {
  ASSERT_OK_AND_ASSIGN(auto spec, ParsePipelineSpec(kFullSpec, "orders.yaml"));
  EXPECT_EQ(spec.name, "orders-etl");
  EXPECT_EQ(spec.tenant, "acme");
  EXPECT_EQ(spec.source.kind, SourceSpec::Kind::kGenerate);
  EXPECT_EQ(spec.source.rows, 20'000'000);
  EXPECT_EQ(spec.source.seed, 7u);
  ASSERT_EQ(spec.stages.size(), 8u);
  EXPECT_EQ(spec.stages[0].kind, StageSpec::Kind::kFilter);
  EXPECT_EQ(spec.stages[0].expr, "amount > 10 and category is not null");
  EXPECT_EQ(spec.stages[0].line, 6);
  EXPECT_EQ(spec.stages[1].name, "amount_eur");
  EXPECT_EQ(spec.stages[2].columns, (std::vector<std::string>{"id", "customer", "amount_eur", "category"}));
  EXPECT_EQ(spec.stages[4].join.source.kind, SourceSpec::Kind::kParquet);
  EXPECT_EQ(spec.stages[4].join.source.path, "customers.parquet");
  EXPECT_EQ(spec.stages[4].join.how, "left");
  EXPECT_EQ(spec.stages[5].aggregate.by, (std::vector<std::string>{"category"}));
  ASSERT_EQ(spec.stages[5].aggregate.aggs.size(), 2u);
  EXPECT_EQ(spec.stages[5].aggregate.aggs[0].first, "total");
  EXPECT_EQ(spec.stages[5].aggregate.aggs[0].second, "sum(amount_eur)");
  ASSERT_EQ(spec.stages[6].sort.size(), 2u);
  EXPECT_TRUE(spec.stages[6].sort[0].descending);
  EXPECT_EQ(spec.stages[6].sort[1].column, "category");
  EXPECT_FALSE(spec.stages[6].sort[1].descending);
  EXPECT_EQ(spec.stages[7].limit, 100);
  EXPECT_EQ(spec.stages[3].kind, StageSpec::Kind::kPython);
  EXPECT_EQ(spec.stages[3].name, "add_discount");
  EXPECT_EQ(spec.stages[3].task_queue, "py-stages");
  EXPECT_EQ(spec.sink.kind, SinkSpec::Kind::kParquet);
  EXPECT_EQ(spec.sink.path, "out/orders");
  EXPECT_EQ(spec.partitions, 8);
  EXPECT_EQ(spec.parallelism, 2);
  EXPECT_FALSE(spec.durable);
  EXPECT_FALSE(spec.deterministic);
  EXPECT_EQ(spec.retry.max_attempts, 5);
  EXPECT_DOUBLE_EQ(spec.retry.backoff, 1.5);
  EXPECT_EQ(spec.nodes, (std::vector<std::string>{"grpc+tcp://127.0.0.1:7100"}));
  EXPECT_EQ(spec.task_queue, "etl");
}

TEST(PipelineSpecTest, PythonStageQueueDefaultsToTheSpecQueueWithSuffix) {
  ASSERT_OK_AND_ASSIGN(auto spec, ParsePipelineSpec(R"(name: py
source: {generate: {rows: 10}}
stages:
  - python: {transform: t}
  - python: {transform: u, task_queue: elsewhere, start_timeout_ms: 500}
sink: {parquet: out}
task_queue: etl
)",
                                                    "py.yaml"));
  ASSERT_EQ(spec.stages.size(), 2u);
  EXPECT_EQ(spec.stages[0].task_queue, "etl-python");
  EXPECT_EQ(spec.stages[0].start_timeout_ms, 60000);
  EXPECT_EQ(spec.stages[1].task_queue, "elsewhere");
  EXPECT_EQ(spec.stages[1].start_timeout_ms, 500);
}

TEST(PipelineSpecTest, DurationsTakeUnits) {
  for (const auto& [text, ms] : std::vector<std::pair<std::string, int64_t>>{
           {"0", 0}, {"90", 90'000}, {"250ms", 250}, {"90s", 90'000}, {"15m", 900'000}, {"2h", 7'200'000},
           {"7d", 604'800'000}}) {
    ASSERT_OK_AND_ASSIGN(auto spec, ParsePipelineSpec("name: a\nsource: {parquet: a}\nsink: {parquet: out}\n"
                                                      "retention: " + text + "\n",
                                                      "d.yaml"));
    EXPECT_EQ(spec.retention_ms, ms) << text;
    EXPECT_EQ(spec.dataset_lease_ms, 15 * 60 * 1000);
  }
}

TEST(PipelineSpecTest, DefaultsForAMinimalSpec) {
  ASSERT_OK_AND_ASSIGN(auto spec, ParsePipelineSpec(R"(name: tiny
source: {parquet: "in/*.parquet"}
sink: {flight: {dataset: result}}
)", "tiny.yaml"));
  EXPECT_EQ(spec.tenant, "default");
  EXPECT_EQ(spec.source.path, "in/*.parquet");
  EXPECT_TRUE(spec.stages.empty());
  EXPECT_EQ(spec.sink.kind, SinkSpec::Kind::kFlight);
  EXPECT_EQ(spec.sink.dataset, "result");
  EXPECT_EQ(spec.partitions, 1);
  EXPECT_TRUE(spec.durable);
  EXPECT_TRUE(spec.deterministic);
  EXPECT_EQ(spec.task_queue, "flightdeck");
}

// Each bad spec must fail with the line and the words of its reason.
struct BadSpec {
  const char* yaml;
  const char* expected;  // a substring of the message, starting with "x.yaml:<line>:"
};

class BadSpecTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(BadSpecTest, IsRejectedWithLineAndReason) {
  auto result = ParsePipelineSpec(GetParam().yaml, "x.yaml");
  ASSERT_RAISES(Invalid, result.status());
  EXPECT_NE(result.status().message().find(GetParam().expected), std::string::npos)
      << result.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadSpecTest,
    ::testing::Values(
        BadSpec{"", "x.yaml:1: the spec is empty"},
        BadSpec{"name: [unclosed\n", "x.yaml:2: not valid YAML"},
        BadSpec{"name: a\nsource: {generate: {rows: 1}}\nsink: {parquet: out}\nbogus: 1\n",
                "x.yaml:4: unknown key 'bogus' in the spec"},
        BadSpec{"source: {generate: {rows: 1}}\nsink: {parquet: out}\n", "needs a 'name'"},
        BadSpec{"name: a\nsink: {parquet: out}\n", "needs a 'source'"},
        BadSpec{"name: a\nsource: {generate: {rows: 1}}\n", "needs a 'sink'"},
        BadSpec{"name: a\nsource: {generate: {rows: -5}}\nsink: {parquet: out}\n",
                "x.yaml:2: generate.rows must be between 0"},
        BadSpec{"name: a\nsource: {generate: {rows: many}}\nsink: {parquet: out}\n",
                "generate.rows must be an integer"},
        BadSpec{"name: a\nsource: {s3: bucket}\nsink: {parquet: out}\n",
                "x.yaml:2: unknown key 's3' in source"},
        BadSpec{"name: a\nsource: {parquet: a, csv: b}\nsink: {parquet: out}\n",
                "source must have exactly one kind"},
        BadSpec{"name: a\nsource: {parquet: a}\nstages:\n  - filter: x > 1\n  - explode: y\nsink: {parquet: out}\n",
                "x.yaml:5: unknown key 'explode' in stage 2"},
        BadSpec{"name: a\nsource: {parquet: a}\nstages:\n  - with_column: {name: b}\nsink: {parquet: out}\n",
                "x.yaml:4: stage 1 (with_column) needs 'name' and 'expr'"},
        BadSpec{"name: a\nsource: {parquet: a}\nstages:\n  - join: {source: {parquet: b}, on: [k], how: sideways}\nsink: {parquet: out}\n",
                "how must be inner, left, right, full, semi or anti, got 'sideways'"},
        BadSpec{"name: a\nsource: {parquet: a}\nstages:\n  - join: {source: {parquet: b}, on: [k, j], right_on: [k]}\nsink: {parquet: out}\n",
                "x.yaml:4: stage 1 (join) right_on names 1 columns, on names 2; they pair up one to one"},
        BadSpec{"name: a\nsource: {parquet: a}\nstages:\n  - python: {task_queue: q}\nsink: {parquet: out}\n",
                "x.yaml:4: stage 1 (python) needs 'transform'"},
        BadSpec{"name: a\nsource: {parquet: a}\nstages:\n  - sort: [k]\n  - python: {transform: t}\n"
                "sink: {parquet: out}\npartitions: 2\n",
                "x.yaml:5: a python stage after an aggregate, sort, limit, distinct or shuffled join"},
        BadSpec{"name: a\nsource: {parquet: a}\nstages:\n  - aggregate: {by: [k]}\nsink: {parquet: out}\n",
                "needs 'aggs'"},
        BadSpec{"name: a\nsource: {parquet: a}\nstages:\n  - select: []\nsink: {parquet: out}\n",
                "must be a non-empty list of names"},
        BadSpec{"name: a\nsource: {parquet: a}\nsink: {parquet: out}\nretention: soon\n",
                "x.yaml:4: retention must be a duration such as 0, 90s, 15m, 2h or 7d, got 'soon'"},
        BadSpec{"name: a\nsource: {parquet: a}\nsink: {parquet: out}\nretention: 400d\n",
                "retention must be at most a year"},
        BadSpec{"name: a\nsource: {parquet: a}\nsink: {parquet: out}\ndataset_lease: 1s\n",
                "dataset_lease must be at least 3s"},
        BadSpec{"name: a\nsource: {parquet: a}\nsink: {parquet: out}\npartitions: 0\n",
                "x.yaml:4: partitions must be between 1 and 100000, got 0"},
        BadSpec{"name: a\nsource: {parquet: a}\nsink: {parquet: out}\ndurable: maybe\n",
                "durable must be true or false"},
        BadSpec{"name: a\nsource: {parquet: a}\nsink: {parquet: out}\ndeterministic: 1\n",
                "deterministic must be true or false"},
        BadSpec{"name: a\ntenant: a/b\nsource: {parquet: a}\nsink: {parquet: out}\n",
                "x.yaml:2: tenant may hold letters"},
        BadSpec{"name: a\nsource: {parquet: a}\nsink: {parquet: out}\nretry: {backoff: 0.5}\n",
                "retry.backoff must be >= 1"},
        BadSpec{"- just\n- a list\n", "the spec must be a mapping"}));

TEST(PipelineSpecTest, RenameDropCastAndDistinctStages) {
  ASSERT_OK_AND_ASSIGN(auto spec, ParsePipelineSpec(R"yaml(
name: v
source: {parquet: in}
stages:
  - rename: {a: b, c: d}
  - drop: [e]
  - cast: {column: b, type: "decimal(12,2)"}
  - distinct: true
sink: {parquet: out}
)yaml", "v.yaml"));
  ASSERT_EQ(spec.stages.size(), 4u);
  EXPECT_EQ(spec.stages[0].kind, StageSpec::Kind::kRename);
  EXPECT_EQ(spec.stages[0].renames,
            (std::vector<std::pair<std::string, std::string>>{{"a", "b"}, {"c", "d"}}));
  EXPECT_EQ(spec.stages[1].columns, std::vector<std::string>{"e"});
  EXPECT_EQ(spec.stages[2].name, "b");
  EXPECT_EQ(spec.stages[2].type, "decimal(12,2)");
  EXPECT_EQ(spec.stages[3].kind, StageSpec::Kind::kDistinct);
  EXPECT_TRUE(IsGlobalStage(StageSpec::Kind::kDistinct));
  EXPECT_FALSE(IsGlobalStage(StageSpec::Kind::kRename));
  for (const auto& [stage, reason] : std::vector<std::pair<std::string, std::string>>{
           {"rename: {}", "mapping of old name: new name"},
           {"rename: [a]", "mapping of old name: new name"},
           {"cast: {column: a}", "needs 'column' and 'type'"},
           {"distinct: false", "takes true"},
           {"drop: a", "list"}}) {
    auto bad = ParsePipelineSpec("name: v\nsource: {parquet: in}\nstages:\n  - " + stage + "\nsink: {parquet: out}\n",
                                 "v.yaml");
    ASSERT_FALSE(bad.ok()) << stage;
    EXPECT_NE(bad.status().message().find(reason), std::string::npos) << stage << ": " << bad.status().ToString();
  }
}

TEST(PipelineSpecTest, MissingFileIsIOError) {
  ASSERT_RAISES(IOError, ReadPipelineSpec("/nonexistent/spec.yaml").status());
}

}  // namespace
}  // namespace flightdeck::pipeline
