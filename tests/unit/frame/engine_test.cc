#include "flightdeck/frame/engine.h"

#include <dlfcn.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/compute/initialize.h>
#include <arrow/io/memory.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/frame/data_frame.h"
#include "flightdeck/frame/generate.h"
#include "flightdeck/frame/session.h"
#include "unit/frame/frame_test_util.h"

namespace flightdeck::frame {
namespace {

// `rows` rows: k (int64, a permutation of 0..rows-1) and p (a 40-byte string).
std::shared_ptr<arrow::Table> KeysAndPayloads(int64_t rows) {
  arrow::Int64Builder keys;
  arrow::StringBuilder payloads;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t k = (i * 7919) % rows;  // 7919 is prime, coprime to the row counts used
    EXPECT_TRUE(keys.Append(k).ok());
    char buffer[48];
    std::snprintf(buffer, sizeof(buffer), "payload-%032lld", static_cast<long long>(k));
    EXPECT_TRUE(payloads.Append(buffer).ok());
  }
  auto schema = arrow::schema({arrow::field("k", arrow::int64()), arrow::field("p", arrow::utf8())});
  return arrow::Table::Make(schema, {keys.Finish().ValueOrDie(), payloads.Finish().ValueOrDie()});
}

int64_t Int(const std::shared_ptr<arrow::Table>& table, const std::string& column) {
  return std::static_pointer_cast<arrow::Int64Scalar>(table->GetColumnByName(column)->GetScalar(0).ValueOrDie())
      ->value;
}

// `rows` rows in batches of 64K (as they come from Flight or a file): k
// (int64, a permutation of 0..rows-1) and v = row number.
std::shared_ptr<arrow::Table> Keys(int64_t rows) {
  auto schema = arrow::schema({arrow::field("k", arrow::int64()), arrow::field("v", arrow::int64())});
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (int64_t start = 0; start < rows; start += 64 * 1024) {
    const int64_t end = std::min(rows, start + 64 * 1024);
    arrow::Int64Builder keys, values;
    EXPECT_TRUE(keys.Reserve(end - start).ok() && values.Reserve(end - start).ok());
    for (int64_t i = start; i < end; ++i) {
      keys.UnsafeAppend((i * 7919) % rows);
      values.UnsafeAppend(i);
    }
    batches.push_back(
        arrow::RecordBatch::Make(schema, end - start, {keys.Finish().ValueOrDie(), values.Finish().ValueOrDie()}));
  }
  return arrow::Table::FromRecordBatches(schema, batches).ValueOrDie();
}

int64_t ArrowBytes(const arrow::Table& table) {
  int64_t bytes = 0;
  for (const auto& column : table.columns()) {
    for (const auto& chunk : column->chunks()) {
      for (const auto& buffer : chunk->data()->buffers) bytes += buffer ? buffer->size() : 0;
    }
  }
  return bytes;
}

// Runs `frame` and checks that it spilled on the way: a file was created in
// `spill` (the engine's spill folder) while it ran (inotify; the engine
// removes its spill files before the query ends).
std::shared_ptr<arrow::Table> RunSpilling(const DataFrame& frame, const std::filesystem::path& spill) {
  std::filesystem::create_directories(spill);
  const int watcher = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  EXPECT_GE(watcher, 0);
  EXPECT_GE(::inotify_add_watch(watcher, spill.c_str(), IN_CREATE), 0) << spill;
  auto table = frame.Collect();
  EXPECT_TRUE(table.ok()) << table.status();
  alignas(inotify_event) char events[4096];
  EXPECT_GT(::read(watcher, events, sizeof(events)), 0) << "nothing was spilled to " << spill;
  ::close(watcher);
  return table.ok() ? *table : nullptr;
}

TEST(EngineTest, JoinAndAggregateBiggerThanTheMemoryLimitSpillAndFinish) {
  // 6M rows of two int64 columns: 92 MiB, which a hash join holds as its
  // build side and an aggregate as 6M groups (unconstrained, the engine
  // peaks at several times that). The join runs at a quarter of it, the
  // aggregate (whose per-group state is larger) at half.
  constexpr int64_t kRows = 6'000'000;
  auto table = Keys(kRows);
  const int64_t input = ArrowBytes(*table);
  const auto spill = ::flightdeck::testing::FreshTestDir("fd-engine-spill");
  ASSERT_OK_AND_ASSIGN(auto quarter, Engine::Open({.threads = 1,
                                                   .memory_limit = input / 4,
                                                   .spill_directory = (spill / "join").string()}));
  EXPECT_EQ(quarter->options().memory_limit, input / 4);
  auto a = DataFrame::FromTable(table).WithEngine(quarter);
  auto joined = RunSpilling(a.Join(DataFrame::FromTable(table), {"k"}, {"k"})
                                .Agg({CountAll("rows"), Sum("v", "left"), Sum("v_right", "right")}),
                            spill / "join");
  ASSERT_NE(joined, nullptr);
  EXPECT_EQ(Int(joined, "rows"), kRows);
  EXPECT_EQ(Int(joined, "left"), kRows * (kRows - 1) / 2);
  EXPECT_EQ(Int(joined, "right"), kRows * (kRows - 1) / 2);

  ASSERT_OK_AND_ASSIGN(auto half, Engine::Open({.threads = 1,
                                                .memory_limit = input / 2,
                                                .spill_directory = (spill / "aggregate").string()}));
  auto grouped = RunSpilling(DataFrame::FromTable(table)
                                 .WithEngine(half)
                                 .GroupBy({"k"})
                                 .Agg({Sum("v", "s"), Max("v", "m")})
                                 .Agg({CountAll("groups"), Sum("s", "total"), Max("m", "last")}),
                             spill / "aggregate");
  ASSERT_NE(grouped, nullptr);
  EXPECT_EQ(Int(grouped, "groups"), kRows);
  EXPECT_EQ(Int(grouped, "total"), kRows * (kRows - 1) / 2);
  EXPECT_EQ(Int(grouped, "last"), kRows - 1);
  std::filesystem::remove_all(spill);
}

TEST(EngineTest, MemoryLimitTooSmallIsAClearErrorNamingTheLimit) {
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::Open({.threads = 1, .memory_limit = 2 << 20}));
  auto result = DataFrame::FromTable(KeysAndPayloads(300'000))
                    .WithEngine(engine)
                    .GroupBy({"k"})
                    .Agg({Max("p", "p")})
                    .Collect();
  ASSERT_RAISES(OutOfMemory, result.status());
  EXPECT_NE(result.status().message().find("limit of 2.0 MiB"), std::string::npos) << result.status();
  // The engine still works for what fits.
  ASSERT_OK_AND_ASSIGN(auto small, DataFrame::FromTable(KeysAndPayloads(10)).WithEngine(engine).Agg(
                                       {CountAll("n")}).Collect());
  EXPECT_EQ(Int(small, "n"), 10);
}

TEST(EngineTest, DuckDbAndArrowShareAProcessWithoutInterposing) {
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::Open({.threads = 2}));
  // DuckDB's ~57,000 symbols (vendored ICU among them) are not visible to
  // the process: nothing can bind to them by accident, and they cannot
  // replace Arrow's.
  EXPECT_EQ(::dlsym(RTLD_DEFAULT, "duckdb_adbc_init"), nullptr);
  EXPECT_EQ(::dlsym(RTLD_DEFAULT, "duckdb_query"), nullptr);
  // DuckDB's ICU: a time zone conversion.
  ASSERT_OK_AND_ASSIGN(
      auto zoned,
      DataFrame::Sql("select timezone('America/New_York', timestamptz '2024-07-01 12:00:00+00')::varchar as t", {})
          .WithEngine(engine)
          .Collect());
  EXPECT_EQ(zoned->column(0)->GetScalar(0).ValueOrDie()->ToString(), "2024-07-01 08:00:00");
  // Arrow's compute kernels and Parquet, in the same process, on the same data.
  ASSERT_OK(arrow::compute::Initialize());
  auto table = KeysAndPayloads(1000);
  ASSERT_OK_AND_ASSIGN(auto sink, arrow::io::BufferOutputStream::Create());
  ASSERT_OK(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink, 100));
  ASSERT_OK_AND_ASSIGN(auto buffer, sink->Finish());
  ASSERT_OK_AND_ASSIGN(auto file_reader,
                       parquet::arrow::OpenFile(std::make_shared<arrow::io::BufferReader>(buffer),
                                                arrow::default_memory_pool()));
  std::shared_ptr<arrow::Table> back;
  ASSERT_OK(file_reader->ReadTable(&back));
  ASSERT_OK_AND_ASSIGN(auto arrow_sum, arrow::compute::Sum(back->GetColumnByName("k")));
  ASSERT_OK_AND_ASSIGN(auto engine_sum,
                       DataFrame::FromTable(back).WithEngine(engine).Agg({Sum("k", "s")}).Collect());
  EXPECT_EQ(arrow_sum.scalar()->ToString(), engine_sum->column(0)->GetScalar(0).ValueOrDie()->ToString());
}

TEST(EngineTest, OptionsAreResolvedAndChecked) {
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::Open());
  EXPECT_GE(engine->options().threads, 1);
  EXPECT_GT(engine->options().memory_limit, 0);
  const std::string spill = engine->options().spill_directory;
  EXPECT_FALSE(spill.empty());
  engine.reset();
  EXPECT_FALSE(std::filesystem::exists(spill)) << "a private spill folder goes with its engine";
  ASSERT_RAISES(Invalid, Engine::Open({.threads = -1}));
  ASSERT_RAISES(Invalid, Engine::Open({.memory_limit = -5}));
  ASSERT_OK_AND_ASSIGN(auto version, Engine::Version());
  EXPECT_EQ(version.rfind("v1.", 0), 0u) << version;
}

TEST(EngineTest, ThreadsChangeBetweenQueriesAndOneThreadGivesTheSameBitsEveryTime) {
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::Open({.threads = 2}));
  EXPECT_EQ(engine->threads(), 2);
  ASSERT_RAISES(Invalid, engine->SetThreads(0));
  ASSERT_OK(engine->SetThreads(1));
  EXPECT_EQ(engine->threads(), 1);
  EXPECT_EQ(engine->options().threads, 2) << "the configured figure stays";
  // Floating-point sums over many groups from a stream of many batches: on
  // one thread, rows and rounding are the same on every run.
  ASSERT_OK_AND_ASSIGN(auto table, GenerateOrders({.rows = 300'000}));
  std::shared_ptr<arrow::Table> first;
  for (int run = 0; run < 3; ++run) {
    ASSERT_OK_AND_ASSIGN(auto got, DataFrame::FromTable(table)
                                       .WithEngine(engine)
                                       .GroupBy({"customer"})
                                       .Agg({Sum("amount", "total")})
                                       .Collect());
    if (!first) {
      first = got;
      EXPECT_GT(first->num_rows(), 1000);
    } else {
      EXPECT_TRUE(got->Equals(*first)) << "run " << run;
    }
  }
  ASSERT_OK(engine->SetThreads(2));
  EXPECT_EQ(engine->threads(), 2);
  ASSERT_OK_AND_ASSIGN(auto locked, Engine::Open({.threads = 2, .external_access = false}));
  EXPECT_FALSE(locked->SetThreads(1).ok()) << "a locked configuration stays";
}

TEST(EngineTest, ProgressOfARunningQueryIsReadFromAnotherThread) {
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::Open({.threads = 1, .track_progress = true}));
  EXPECT_EQ(engine->Progress(), -1) << "no query runs";
  {
    // Tracked on every connection, and never printed to stdout.
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<internal::Session> session, engine->Connect());
    ASSERT_OK_AND_ASSIGN(auto reader, internal::Session::Query(
                                          session,
                                          "SELECT current_setting('enable_progress_bar') AS tracked, "
                                          "current_setting('enable_progress_bar_print') AS printed"));
    ASSERT_OK_AND_ASSIGN(auto settings, reader->ToTable());
    ASSERT_OK_AND_ASSIGN(auto tracked, settings->GetColumnByName("tracked")->GetScalar(0));
    ASSERT_OK_AND_ASSIGN(auto printed, settings->GetColumnByName("printed")->GetScalar(0));
    EXPECT_EQ(tracked->ToString(), "true");
    EXPECT_EQ(printed->ToString(), "false");
  }
  const auto path = std::filesystem::temp_directory_path() /
                    ("fd-progress-" + std::to_string(::getpid()) + ".parquet");
  ASSERT_OK_AND_ASSIGN(auto table, GenerateOrders({.rows = 3'000'000}));
  ASSERT_OK(DataFrame::FromTable(table).WithEngine(engine).WriteFile(path.string(), FileFormat::kParquet));
  std::atomic<bool> done{false};
  arrow::Status query_status;
  std::thread query([&] {
    auto read = DataFrame::Read(path.string(), FileFormat::kParquet);
    if (!read.ok()) {
      query_status = read.status();
      done = true;
      return;
    }
    auto result = read->WithEngine(engine)
                      .GroupBy({"id"})
                      .Agg({Sum("amount", "total")})
                      .Collect();
    query_status = result.status();
    done = true;
  });
  double seen = -1;
  while (!done) {
    const double progress = engine->Progress();
    EXPECT_LE(progress, 1.0);
    seen = std::max(seen, progress);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  query.join();
  std::filesystem::remove(path);
  ASSERT_OK(query_status);
  EXPECT_GT(seen, 0.0) << "DuckDB reported progress while the query read the file";
  EXPECT_EQ(engine->Progress(), -1) << "the query ended";
}

TEST(EngineTest, ProgressOfAStreamScanCountsTheRowsTaken) {
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::Open({.threads = 1}));
  ASSERT_OK_AND_ASSIGN(auto table, GenerateOrders({.rows = 4'000'000}));
  // A streamed result is computed as it is read: after its first batch the
  // scan has taken part of the table, not all of it.
  ASSERT_OK_AND_ASSIGN(auto reader,
                       DataFrame::FromTable(table).WithEngine(engine).Filter("amount > 0").Stream());
  std::shared_ptr<arrow::RecordBatch> batch;
  ASSERT_OK(reader->ReadNext(&batch));
  ASSERT_NE(batch, nullptr);
  const double progress = engine->Progress();
  EXPECT_GT(progress, 0.0);
  EXPECT_LT(progress, 1.0);
  while (batch) ASSERT_OK(reader->ReadNext(&batch));
  ASSERT_OK(reader->Close());
  reader.reset();
  EXPECT_EQ(engine->Progress(), -1);
}

TEST(EngineTest, PoolLeasesEachEngineToOneUserAtATime) {
  ASSERT_OK_AND_ASSIGN(auto pool, EnginePool::Open(2, {.threads = 1, .memory_limit = 64 << 20}));
  EXPECT_EQ(pool->size(), 2);
  auto a = pool->Acquire();
  auto b = pool->Acquire();
  EXPECT_NE(a.engine(), b.engine());
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto c = pool->Acquire();  // waits until one is returned
    got = true;
    EXPECT_EQ(c.engine()->options().memory_limit, 64 << 20);
  });
  EXPECT_FALSE(got.load());
  { auto returned = std::move(a); }
  waiter.join();
  EXPECT_TRUE(got.load());
  ASSERT_RAISES(Invalid, EnginePool::Open(0, {}));
}

TEST(EngineTest, ScopedEngineIsWhereUnboundFramesRun) {
  ASSERT_OK_AND_ASSIGN(auto engine, Engine::Open({.threads = 1, .memory_limit = 2 << 20}));
  auto big = DataFrame::FromTable(KeysAndPayloads(300'000)).GroupBy({"k"}).Agg({Max("p", "p")});
  {
    ScopedEngine scope(engine);
    ASSERT_NE(ScopedEngine::Current(), nullptr);
    // Runs on the 2 MiB engine, so it cannot finish.
    ASSERT_RAISES(OutOfMemory, big.Collect().status());
  }
  EXPECT_EQ(ScopedEngine::Current(), nullptr);
  ASSERT_OK(big.Collect().status());  // the default engine
}

TEST(EngineTest, ByteSizes) {
  ASSERT_OK_AND_ASSIGN(auto plain, ParseByteSize("512"));
  EXPECT_EQ(plain, 512);
  ASSERT_OK_AND_ASSIGN(auto mib, ParseByteSize("64MiB"));
  EXPECT_EQ(mib, 64 << 20);
  ASSERT_OK_AND_ASSIGN(auto gb, ParseByteSize("1.5 GB"));
  EXPECT_EQ(gb, int64_t{3} << 29);
  ASSERT_OK_AND_ASSIGN(auto g, ParseByteSize("2g"));
  EXPECT_EQ(g, int64_t{2} << 30);
  ASSERT_RAISES(Invalid, ParseByteSize("lots"));
  ASSERT_RAISES(Invalid, ParseByteSize("5 parsecs"));
  ASSERT_RAISES(Invalid, ParseByteSize("-3MB"));
}

}  // namespace
}  // namespace flightdeck::frame
