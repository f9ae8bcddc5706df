// BatchStore: atomic puts, tiers and spilling, durability and recovery from
// the manifest, corruption detection, TTL and drop.
#include "flightdeck/flight/batch_store.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <arrow/table.h>
#include <arrow/util/byte_size.h>
#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/frame/generate.h"

namespace flightdeck::flight {
namespace {

namespace fs = std::filesystem;

class BatchStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::flightdeck::testing::FreshTestDir("fd-batch-store");
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::vector<std::shared_ptr<arrow::RecordBatch>> Batches(const arrow::Table& table) {
    arrow::TableBatchReader reader(table);
    auto out = reader.ToRecordBatches();
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ValueOrDie();
  }

  static arrow::Result<DatasetSummary> Put(BatchStore& store, const std::string& path,
                                           const arrow::Table& table, PutOptions options = {}) {
    ARROW_ASSIGN_OR_RAISE(auto put, store.BeginPut("acme", path, table.schema(), options));
    for (auto& batch : Batches(table)) ARROW_RETURN_NOT_OK(put->Append(batch));
    return put->Commit();
  }

  static arrow::Result<std::shared_ptr<arrow::Table>> Read(BatchStore& store,
                                                           const TicketId& ticket) {
    ARROW_ASSIGN_OR_RAISE(auto data, store.Get(ticket));
    return arrow::Table::FromRecordBatches(data.schema, data.batches);
  }

  fs::path dir_;
};

TEST_F(BatchStoreTest, PutIsVisibleOnlyAfterCommitAndAbandonedPutLeavesNothing) {
  ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({}));
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 1000, .batch_rows = 100}));
  {
    ASSERT_OK_AND_ASSIGN(auto put, store->BeginPut("acme", "acme/o/0", table->schema(), {}));
    for (auto& batch : Batches(*table)) ASSERT_OK(put->Append(batch));
    EXPECT_TRUE(store->List("acme/").empty());
    EXPECT_EQ(store->Stats().puts_in_flight, 1);
    EXPECT_GT(store->Stats().memory_reserved_by_puts_bytes, 0);
  }  // abandoned
  EXPECT_TRUE(store->List("").empty());
  auto stats = store->Stats();
  EXPECT_EQ(stats.puts_in_flight, 0);
  EXPECT_EQ(stats.memory_used_bytes, 0);
  ASSERT_RAISES(KeyError, store->FindByPath("acme/o/0"));

  ASSERT_OK_AND_ASSIGN(auto summary, Put(*store, "acme/o/0", *table));
  EXPECT_EQ(summary.rows, 1000);
  EXPECT_EQ(summary.tier, Tier::kMemory);
  EXPECT_EQ(summary.checksum.substr(0, 5), "xxh3:");
  ASSERT_OK_AND_ASSIGN(auto read, Read(*store, summary.ticket));
  EXPECT_TRUE(read->Equals(*table));
  EXPECT_EQ(store->Stats().memory_used_bytes, summary.bytes);
}

TEST_F(BatchStoreTest, BatchWithAnotherSchemaIsRejected) {
  ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({}));
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10}));
  ASSERT_OK_AND_ASSIGN(auto other, table->RemoveColumn(0));
  ASSERT_OK_AND_ASSIGN(auto put, store->BeginPut("acme", "acme/o/0", table->schema(), {}));
  ASSERT_OK(put->Append(Batches(*table)[0]));
  arrow::Status st = put->Append(Batches(*other)[0]);
  ASSERT_RAISES(Invalid, st);
  EXPECT_NE(st.message().find("schema"), std::string::npos) << st.ToString();
  put.reset();
  EXPECT_EQ(store->Stats().datasets, 0);
}

TEST_F(BatchStoreTest, FullStoreWithoutDiskAnswersCapacityErrorWithNumbers) {
  ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({.memory_budget_bytes = 100'000}));
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 20'000, .batch_rows = 1000}));
  auto put = Put(*store, "acme/o/0", *table);
  ASSERT_RAISES(CapacityError, put);
  EXPECT_NE(put.status().message().find("100000"), std::string::npos) << put.status().ToString();
  EXPECT_EQ(store->Stats().memory_used_bytes, 0);
  EXPECT_EQ(store->Stats().datasets, 0);
}

TEST_F(BatchStoreTest, LeastRecentlyUsedSpillsToDiskAndReadsBackEqual) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10'000, .batch_rows = 1000}));
  const int64_t one = arrow::util::TotalBufferSize(*table);
  for (auto compression : {DiskCompression::kNone, DiskCompression::kZstd}) {
    fs::remove_all(dir_);
    ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({.memory_budget_bytes = one * 5 / 2,
                                                       .data_dir = dir_.string(),
                                                       .compression = compression}));
    std::vector<DatasetSummary> puts;
    for (int i = 0; i < 4; ++i) {
      ASSERT_OK_AND_ASSIGN(auto s, Put(*store, "acme/o/" + std::to_string(i), *table));
      puts.push_back(s);
    }
    auto stats = store->Stats();
    EXPECT_LE(stats.memory_used_bytes, one * 5 / 2);
    EXPECT_GE(stats.spills, 2);
    EXPECT_EQ(stats.datasets_on_disk, 2);
    ASSERT_OK_AND_ASSIGN(auto first, store->Describe(puts[0].ticket));
    EXPECT_EQ(first.tier, Tier::kDisk);  // the oldest went first
    EXPECT_EQ(stats.reloads, 0);
    for (const auto& s : puts) {
      ASSERT_OK_AND_ASSIGN(auto read, Read(*store, s.ticket));
      EXPECT_TRUE(read->Equals(*table));
    }
    // The two on disk were read back from it.
    EXPECT_EQ(store->Stats().reloads, 2);
    EXPECT_EQ(store->Stats().reloaded_bytes, puts[0].bytes + puts[1].bytes);
  }
}

TEST_F(BatchStoreTest, FullMemoryAndFullDiskFailThePutWithBothNumbers) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10'000, .batch_rows = 1000}));
  const int64_t one = arrow::util::TotalBufferSize(*table);
  // Memory for one and a half datasets, disk for one and a half spill files.
  ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({.memory_budget_bytes = one * 3 / 2,
                                                     .data_dir = dir_.string(),
                                                     .disk_budget_bytes = one * 3 / 2}));
  ASSERT_OK_AND_ASSIGN(auto first, Put(*store, "acme/o/0", *table));
  ASSERT_OK_AND_ASSIGN(auto second, Put(*store, "acme/o/1", *table));  // spills the first
  auto before = store->Stats();
  EXPECT_EQ(before.spills, 1);
  EXPECT_EQ(before.datasets_on_disk, 1);
  EXPECT_LE(before.disk_used_bytes, before.disk_budget_bytes);

  // The second cannot spill: the disk tier has no room for it.
  auto third = Put(*store, "acme/o/2", *table);
  ASSERT_RAISES(CapacityError, third);
  const std::string& message = third.status().message();
  EXPECT_NE(message.find("memory is full"), std::string::npos) << message;
  EXPECT_NE(message.find("disk tier is full"), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(one * 3 / 2)), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(before.disk_used_bytes)), std::string::npos) << message;

  // Nothing half-written: the same datasets, files and bytes as before.
  auto after = store->Stats();
  EXPECT_EQ(after.datasets, 2);
  EXPECT_EQ(after.memory_used_bytes, before.memory_used_bytes);
  EXPECT_EQ(after.disk_used_bytes, before.disk_used_bytes);
  EXPECT_EQ(after.puts_in_flight, 0);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "spill"), fs::directory_iterator{}), 1);
  EXPECT_TRUE(store->List("acme/o/2").empty());
  for (const auto& s : {first, second}) {
    ASSERT_OK_AND_ASSIGN(auto read, Read(*store, s.ticket));
    EXPECT_TRUE(read->Equals(*table));
  }

  // Persisting the in-memory one needs disk room too; it stays as it was.
  auto persisted = store->Persist(second.ticket);
  ASSERT_RAISES(CapacityError, persisted);
  EXPECT_NE(persisted.status().message().find("persist acme/o/1"), std::string::npos)
      << persisted.status();
  ASSERT_OK_AND_ASSIGN(auto described, store->Describe(second.ticket));
  EXPECT_FALSE(described.durable);
  EXPECT_TRUE(fs::is_empty(dir_ / "durable"));

  // Dropping the spilled one frees the disk: the put goes through.
  ASSERT_OK(store->Drop(first.ticket));
  ASSERT_OK(Put(*store, "acme/o/2", *table));
  EXPECT_EQ(store->Stats().datasets, 2);
}

TEST_F(BatchStoreTest, StatsAccountPerTenant) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 2000, .batch_rows = 500}));
  const int64_t one = arrow::util::TotalBufferSize(*table);
  ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({.memory_budget_bytes = one * 5 / 2,
                                                     .data_dir = dir_.string()}));
  ASSERT_OK(Put(*store, "acme/o/0", *table));
  ASSERT_OK(Put(*store, "acme/o/1", *table));
  {
    ASSERT_OK_AND_ASSIGN(auto put, store->BeginPut("globex", "globex/o/0", table->schema(), {}));
    for (auto& batch : Batches(*table)) ASSERT_OK(put->Append(batch));
    ASSERT_OK(put->Commit());  // spills acme/o/0
  }
  auto stats = store->Stats();
  ASSERT_EQ(stats.tenants.size(), 2u);
  const TenantUsage& acme = stats.tenants.at("acme");
  const TenantUsage& globex = stats.tenants.at("globex");
  EXPECT_EQ(acme.datasets, 2);
  EXPECT_EQ(acme.bytes, 2 * one);
  EXPECT_EQ(acme.memory_bytes, one);
  EXPECT_GT(acme.disk_bytes, 0);
  EXPECT_EQ(globex.datasets, 1);
  EXPECT_EQ(globex.bytes, one);
  EXPECT_EQ(globex.memory_bytes, one);
  EXPECT_EQ(globex.disk_bytes, 0);
  EXPECT_EQ(acme.memory_bytes + globex.memory_bytes, stats.memory_used_bytes);
  EXPECT_EQ(acme.disk_bytes + globex.disk_bytes, stats.disk_used_bytes);
}

TEST_F(BatchStoreTest, ConcurrentPutsReadsAndPersistsUnderASmallBudget) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 20'000, .batch_rows = 2000}));
  const int64_t one = arrow::util::TotalBufferSize(*table);
  // Room for every thread's put in flight plus one committed dataset: the
  // other committed ones must spill.
  constexpr int kThreads = 4;
  ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({.memory_budget_bytes = one * (kThreads + 1),
                                                     .data_dir = dir_.string()}));
  constexpr int kPutsPerThread = 3;
  std::vector<std::vector<DatasetSummary>> done(kThreads);
  std::vector<arrow::Status> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPutsPerThread && errors[t].ok(); ++i) {
        auto s = Put(*store, "acme/t" + std::to_string(t) + "/" + std::to_string(i), *table);
        if (!s.ok()) {
          errors[t] = s.status();
          break;
        }
        done[t].push_back(*s);
        if (i == 1) errors[t] = store->Persist(s->ticket).status();
        auto read = Read(*store, done[t][0].ticket);
        if (!read.ok()) errors[t] = read.status();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& st : errors) ASSERT_OK(st);
  auto stats = store->Stats();
  EXPECT_EQ(stats.datasets, kThreads * kPutsPerThread);
  EXPECT_EQ(stats.datasets_durable, kThreads);
  EXPECT_LE(stats.memory_used_bytes, one * (kThreads + 1));
  EXPECT_GT(stats.spills, 0);
  EXPECT_EQ(stats.puts_in_flight, 0);
  for (const auto& summaries : done) {
    for (const auto& s : summaries) {
      ASSERT_OK_AND_ASSIGN(auto read, Read(*store, s.ticket));
      EXPECT_TRUE(read->Equals(*table));
    }
  }
}

TEST_F(BatchStoreTest, DurableDatasetsSurviveReopenNonDurableAreGone) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 5000, .batch_rows = 700}));
  DatasetSummary durable, persisted, transient;
  {
    ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({.data_dir = dir_.string()}));
    ASSERT_OK_AND_ASSIGN(durable, Put(*store, "acme/o/0", *table, {.durable = true}));
    EXPECT_TRUE(durable.durable);
    ASSERT_OK_AND_ASSIGN(persisted, Put(*store, "acme/o/1", *table));
    ASSERT_OK_AND_ASSIGN(persisted, store->Persist(persisted.ticket));
    EXPECT_TRUE(persisted.durable);
    ASSERT_OK_AND_ASSIGN(transient, Put(*store, "acme/o/2", *table));
    EXPECT_TRUE(fs::exists(dir_ / "manifest.json"));
  }
  ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({.data_dir = dir_.string()}));
  for (const auto& s : {durable, persisted}) {
    ASSERT_OK_AND_ASSIGN(auto summary, store->Describe(s.ticket));
    EXPECT_EQ(summary.checksum, s.checksum);
    EXPECT_EQ(summary.rows, s.rows);
    ASSERT_OK_AND_ASSIGN(auto read, Read(*store, s.ticket));
    EXPECT_TRUE(read->Equals(*table));
  }
  ASSERT_RAISES(KeyError, store->Get(transient.ticket));
  ASSERT_RAISES(KeyError, store->FindByPath("acme/o/2"));
  EXPECT_EQ(store->List("acme/").size(), 2u);

  // Dropping a durable dataset removes it from the manifest too.
  ASSERT_OK(store->Drop(durable.ticket));
  store.reset();
  ASSERT_OK_AND_ASSIGN(store, BatchStore::Open({.data_dir = dir_.string()}));
  ASSERT_RAISES(KeyError, store->Get(durable.ticket));
  ASSERT_OK(store->Get(persisted.ticket));
}

TEST_F(BatchStoreTest, ExpirySetLaterSurvivesReopenOfADurableDataset) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 100}));
  const int64_t later = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count() +
                        3'600'000;
  DatasetSummary durable;
  {
    ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({.data_dir = dir_.string()}));
    ASSERT_OK_AND_ASSIGN(durable, Put(*store, "acme/o/0", *table, {.durable = true}));
    EXPECT_EQ(durable.expires_at_ms, 0);
    TicketId unknown = durable.ticket;
    unknown.id = std::string(32, '0');
    ASSERT_OK_AND_ASSIGN(auto changed, store->SetExpiry({durable.ticket, unknown}, later));
    ASSERT_EQ(changed.size(), 1u);  // the unknown ticket is skipped
    EXPECT_EQ(changed[0].expires_at_ms, later);
  }
  ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({.data_dir = dir_.string()}));
  ASSERT_OK_AND_ASSIGN(auto summary, store->Describe(durable.ticket));
  EXPECT_EQ(summary.expires_at_ms, later);
  // An expiry in the past: gone at once, and collected.
  ASSERT_OK(store->SetExpiry({durable.ticket}, 1).status());
  ASSERT_RAISES(KeyError, store->Get(durable.ticket));
  ASSERT_OK_AND_ASSIGN(int64_t collected, store->CollectGarbage());
  EXPECT_EQ(collected, 1);
}

TEST_F(BatchStoreTest, CorruptDurableFileIsReportedNotServed) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 5000}));
  DatasetSummary s;
  {
    ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({.data_dir = dir_.string()}));
    ASSERT_OK_AND_ASSIGN(s, Put(*store, "acme/o/0", *table, {.durable = true}));
  }
  fs::path file;
  for (const auto& entry : fs::directory_iterator(dir_ / "durable")) file = entry.path();
  ASSERT_FALSE(file.empty());
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    const auto middle = static_cast<std::streamoff>(fs::file_size(file) / 2);
    f.seekg(middle);
    const char byte = static_cast<char>(f.get() ^ 0xff);
    f.seekp(middle);
    f.put(byte);
  }
  ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({.data_dir = dir_.string()}));
  auto got = store->Get(s.ticket);
  ASSERT_RAISES(IOError, got);
  EXPECT_NE(got.status().message().find("corrupt"), std::string::npos) << got.status().ToString();
  EXPECT_EQ(store->Stats().datasets_corrupt, 1);
  EXPECT_TRUE(store->List("").empty());
}

TEST_F(BatchStoreTest, SpillFileCorruptedLaterIsDetectedOnRead) {
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10'000}));
  const int64_t one = arrow::util::TotalBufferSize(*table);
  ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({.memory_budget_bytes = one * 3 / 2,
                                                     .data_dir = dir_.string()}));
  ASSERT_OK_AND_ASSIGN(auto first, Put(*store, "acme/o/0", *table));
  ASSERT_OK(Put(*store, "acme/o/1", *table));  // spills the first
  ASSERT_OK_AND_ASSIGN(auto spilled, store->Describe(first.ticket));
  ASSERT_EQ(spilled.tier, Tier::kDisk);
  for (const auto& entry : fs::directory_iterator(dir_ / "spill")) {
    std::fstream f(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(64);
    const char byte = static_cast<char>(f.get() ^ 0xff);
    f.seekp(64);
    f.put(byte);
  }
  ASSERT_RAISES(IOError, store->Get(first.ticket));
  EXPECT_EQ(store->Stats().datasets_corrupt, 1);
}

TEST_F(BatchStoreTest, LeftoversOfAKilledWriterAreRemovedOnOpen) {
  fs::create_directories(dir_ / "durable");
  std::ofstream(dir_ / "durable" / "acme.0123.arrow.tmp") << "partial";
  std::ofstream(dir_ / "durable" / "acme.4567.arrow") << "never in the manifest";
  ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({.data_dir = dir_.string()}));
  EXPECT_TRUE(fs::is_empty(dir_ / "durable"));
  EXPECT_EQ(store->Stats().datasets, 0);
}

TEST_F(BatchStoreTest, ExpiredDatasetsAreGoneAndCollected) {
  ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({}));
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10}));
  ASSERT_OK_AND_ASSIGN(auto s, Put(*store, "acme/o/0", *table, {.ttl = std::chrono::milliseconds(1)}));
  ASSERT_OK_AND_ASSIGN(auto kept, Put(*store, "acme/o/1", *table));
  EXPECT_EQ(kept.expires_at_ms, 0);
  EXPECT_GT(s.expires_at_ms, 0);
  ASSERT_TRUE(testing::WaitFor([&] { return !store->Get(s.ticket).ok(); },
                              std::chrono::seconds(5)));
  ASSERT_RAISES(KeyError, store->Get(s.ticket));
  ASSERT_OK_AND_ASSIGN(int64_t collected, store->CollectGarbage());
  EXPECT_EQ(collected, 1);
  EXPECT_EQ(store->Stats().datasets, 1);
  ASSERT_OK(store->Drop(kept.ticket));
  ASSERT_RAISES(KeyError, store->Drop(kept.ticket));
  EXPECT_EQ(store->Stats().memory_used_bytes, 0);
}

TEST_F(BatchStoreTest, PutReplacesThePathsEarlierDataset) {
  ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({}));
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10}));
  ASSERT_OK_AND_ASSIGN(auto first, Put(*store, "acme/o/0", *table));
  ASSERT_OK_AND_ASSIGN(auto second, Put(*store, "acme/o/0", *table));
  EXPECT_NE(first.ticket, second.ticket);
  ASSERT_RAISES(KeyError, store->Get(first.ticket));
  ASSERT_OK_AND_ASSIGN(auto found, store->FindByPath("acme/o/0"));
  EXPECT_EQ(found.ticket, second.ticket);
  EXPECT_EQ(store->Stats().datasets, 1);
}

TEST_F(BatchStoreTest, DurablePutReplacingADurableDatasetKeepsOneFileAndEntry) {
  ASSERT_OK_AND_ASSIGN(auto first_table, frame::GenerateOrders({.rows = 100, .seed = 1}));
  ASSERT_OK_AND_ASSIGN(auto second_table, frame::GenerateOrders({.rows = 200, .seed = 2}));
  DatasetSummary first, second;
  {
    ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({.data_dir = dir_.string()}));
    ASSERT_OK_AND_ASSIGN(first, Put(*store, "acme/o/0", *first_table, {.durable = true}));
    ASSERT_OK_AND_ASSIGN(second, Put(*store, "acme/o/0", *second_table, {.durable = true}));
  }
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "durable")) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);
  ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({.data_dir = dir_.string()}));
  ASSERT_RAISES(KeyError, store->Get(first.ticket));
  ASSERT_OK_AND_ASSIGN(auto found, store->FindByPath("acme/o/0"));
  EXPECT_EQ(found.ticket, second.ticket);
  ASSERT_OK_AND_ASSIGN(auto read, Read(*store, second.ticket));
  EXPECT_TRUE(read->Equals(*second_table));
}

TEST_F(BatchStoreTest, PersistWithoutDataDirIsInvalid) {
  ASSERT_OK_AND_ASSIGN(auto store, BatchStore::Open({}));
  ASSERT_OK_AND_ASSIGN(auto table, frame::GenerateOrders({.rows = 10}));
  ASSERT_OK_AND_ASSIGN(auto s, Put(*store, "acme/o/0", *table));
  ASSERT_RAISES(Invalid, store->Persist(s.ticket));
  ASSERT_RAISES(Invalid, store->BeginPut("acme", "acme/o/1", table->schema(), {.durable = true}));
}

}  // namespace
}  // namespace flightdeck::flight
