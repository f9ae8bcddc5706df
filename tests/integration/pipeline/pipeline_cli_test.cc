// The pipeline through the `flightdeck` binary: a real dev server, a
// `flightdeck node` process, a `flightdeck worker` process, and
// `flightdeck run --wait`, `status`, `list`; the committed output equals the
// DataFrame computed directly.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "flightdeck/common/subprocess.h"
#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/frame/data_frame.h"
#include "flightdeck/pipeline/stages.h"
#include "flightdeck/temporal/testing/embedded_temporal.h"
#include "unit/pipeline/pipeline_test_util.h"

namespace flightdeck::pipeline {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class PipelineCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* binary = std::getenv("FLIGHTDECK_BINARY");
    ASSERT_NE(binary, nullptr) << "FLIGHTDECK_BINARY is not set";
    binary_ = binary;
    dir_ = flightdeck::testing::FreshTestDir("fd-pipeline-cli");
    fs::create_directories(dir_ / "node");
    ASSERT_OK_AND_ASSIGN(server_, temporal::EmbeddedTemporal::Start({}));
    ASSERT_OK_AND_ASSIGN(node_, Subprocess::Start({.argv = {binary_, "node", "--data-dir",
                                                            (dir_ / "node").string()},
                                                   .log_path = (dir_ / "node.log").string()}));
    ASSERT_TRUE(flightdeck::testing::WaitFor(
        [&] { return ReadAll(dir_ / "node.log").find('\n') != std::string::npos; }, 30s));
    const std::string first = ReadAll(dir_ / "node.log");
    const std::string marker = "listening on ";
    const size_t at = first.find(marker);
    ASSERT_NE(at, std::string::npos) << first;
    location_ = first.substr(at + marker.size(), first.find('\n', at) - at - marker.size());
    ASSERT_OK_AND_ASSIGN(worker_, StartWorker("worker.log"));
  }

  void TearDown() override {
    if (worker_) EXPECT_OK(worker_->Stop());
    if (node_) EXPECT_OK(node_->Stop());
    if (server_) EXPECT_OK(server_->Stop());
    fs::remove_all(dir_);
  }

  arrow::Result<std::unique_ptr<Subprocess>> StartWorker(const std::string& log) {
    ARROW_ASSIGN_OR_RAISE(auto worker,
                          Subprocess::Start({.argv = {binary_, "worker", "--target",
                                                      server_->target(), "--task-queue",
                                                      "cli-pipelines"},
                                             .log_path = (dir_ / log).string()}));
    if (!flightdeck::testing::WaitFor(
            [&] { return ReadAll(dir_ / log).find("worker polling") != std::string::npos; },
            30s)) {
      return arrow::Status::IOError("worker did not start: ", ReadAll(dir_ / log));
    }
    return worker;
  }

  // Runs the CLI to its end; returns the exit code, the output in `out`.
  int RunCli(std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), binary_);
    const fs::path log = dir_ / ("cli-" + std::to_string(++cli_calls_) + ".log");
    auto process = Subprocess::Start({.argv = args, .log_path = log.string()});
    EXPECT_TRUE(process.ok()) << process.status().ToString();
    auto status = (*process)->Wait(120s);
    EXPECT_TRUE(status.ok()) << status.status().ToString();
    *out = ReadAll(log);
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  }

  std::string WriteSpec(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  std::string SpecText() {
    return "name: cli\ntenant: acme\nsource:\n  generate: {rows: 50000, seed: 5}\nstages:\n"
           "  - filter: \"amount > 20\"\n"
           "  - with_column: {name: amount_eur, expr: \"amount * 0.92\"}\n"
           "  - rename: {category: kind}\n"
           "  - cast: {column: amount_eur, type: \"decimal(18,4)\"}\n"
           "  - drop: [ts, customer]\n"
           "  - select: [id, kind, amount_eur]\n"
           "sink:\n  parquet: " + (dir_ / "out").string() +
           "\npartitions: 3\nparallelism: 2\ndurable: true\nnodes: [" + location_ +
           "]\ntask_queue: cli-pipelines\n";
  }

  std::string binary_;
  fs::path dir_;
  std::string location_;
  int cli_calls_ = 0;
  std::unique_ptr<temporal::EmbeddedTemporal> server_;
  std::unique_ptr<Subprocess> node_;
  std::unique_ptr<Subprocess> worker_;
};

TEST_F(PipelineCliTest, RunWaitStatusAndListThroughTheBinary) {
  const std::string spec_text = SpecText();
  const std::string spec_path = WriteSpec("cli.yaml", spec_text);
  std::string out;
  ASSERT_EQ(RunCli({"run", spec_path, "--target", server_->target(), "--id", "cli-run", "--wait"},
                   &out),
            0)
      << out;
  EXPECT_NE(out.find("workflow id: cli-run"), std::string::npos) << out;
  EXPECT_NE(out.find("rows/s"), std::string::npos) << out;
  EXPECT_NE(out.find("ETA"), std::string::npos) << out;
  EXPECT_NE(out.find("pipeline cli-run done"), std::string::npos) << out;

  ASSERT_OK_AND_ASSIGN(auto spec, ParsePipelineSpec(spec_text, "cli.yaml"));
  ASSERT_OK_AND_ASSIGN(auto local, ComputeLocally(spec));
  ASSERT_OK_AND_ASSIGN(auto expected, local.Collect());
  ASSERT_OK_AND_ASSIGN(auto output,
                       frame::DataFrame::Read((dir_ / "out").string(), frame::FileFormat::kParquet));
  ASSERT_OK_AND_ASSIGN(auto actual, output.Collect());
  testing::ExpectSameRows(actual, expected, {"id"});
  EXPECT_NE(out.find("output     " + std::to_string(expected->num_rows()) + " rows"), std::string::npos)
      << out;
  EXPECT_NE(out.find("source     " + std::to_string(spec.source.rows) + " rows read"), std::string::npos)
      << out;

  ASSERT_EQ(RunCli({"status", "cli-run", "--target", server_->target()}, &out), 0) << out;
  EXPECT_NE(out.find("cli-run: completed"), std::string::npos) << out;
  ASSERT_TRUE(flightdeck::testing::WaitFor(
      [&] {
        return RunCli({"list", "--target", server_->target()}, &out) == 0 &&
               out.find("cli-run") != std::string::npos;
      },
      30s))
      << out;
  EXPECT_EQ(RunCli({"status", "no-such-run", "--target", server_->target()}, &out), 1) << out;

  // Machine-readable forms, a limit and a visibility query.
  ASSERT_EQ(RunCli({"status", "cli-run", "-o", "json", "--target", server_->target()}, &out), 0) << out;
  const auto status = nlohmann::json::parse(out);
  EXPECT_EQ(status.at("status"), "completed");
  EXPECT_EQ(status.at("result").at("rows").get<int64_t>(), expected->num_rows());
  EXPECT_EQ(status.at("result").at("source_rows").get<int64_t>(), spec.source.rows);
  ASSERT_EQ(RunCli({"list", "-o", "json", "--limit", "1", "--query", "ExecutionStatus='Completed'",
                    "--target", server_->target()},
                   &out),
            0)
      << out;
  const auto listed = nlohmann::json::parse(out);
  ASSERT_EQ(listed.size(), 1u) << out;
  EXPECT_EQ(listed[0].at("id"), "cli-run");
  EXPECT_EQ(listed[0].at("status"), "completed");
  ASSERT_EQ(RunCli({"list", "-o", "json", "--query", "ExecutionStatus='Running'", "--target", server_->target()},
                   &out),
            0)
      << out;
  EXPECT_EQ(nlohmann::json::parse(out).size(), 0u) << out;
  EXPECT_EQ(RunCli({"list", "--query", "NoSuchField = 3", "--target", server_->target()}, &out), 2) << out;
  EXPECT_NE(out.find("--query"), std::string::npos) << out;
}

TEST_F(PipelineCliTest, InvalidSpecExitsTwoWithLineAndReason) {
  const std::string bad = WriteSpec("bad.yaml", "name: bad\nsource:\n  generate: {rows: -5}\n"
                                                "sink:\n  parquet: out\n");
  std::string out;
  EXPECT_EQ(RunCli({"run", bad, "--target", server_->target()}, &out), 2) << out;
  EXPECT_NE(out.find("bad.yaml:3"), std::string::npos) << out;
  EXPECT_EQ(out.find("workflow id"), std::string::npos) << out;  // nothing started
  EXPECT_EQ(RunCli({"run", (dir_ / "missing.yaml").string()}, &out), 2) << out;
}

TEST_F(PipelineCliTest, PauseAndResumeThroughTheBinary) {
  // No worker yet: the pause signal is recorded before the run's first task.
  ASSERT_OK(worker_->Stop());
  worker_.reset();
  const std::string spec_path = WriteSpec("pause.yaml", SpecText());
  std::string out;
  ASSERT_EQ(RunCli({"run", spec_path, "--target", server_->target(), "--id", "cli-paused"}, &out),
            0)
      << out;
  ASSERT_EQ(RunCli({"pause", "cli-paused", "--target", server_->target()}, &out), 0) << out;
  EXPECT_NE(out.find("pause requested: cli-paused"), std::string::npos) << out;
  ASSERT_OK_AND_ASSIGN(worker_, StartWorker("worker-2.log"));
  ASSERT_TRUE(flightdeck::testing::WaitFor(
      [&] {
        return RunCli({"status", "cli-paused", "--target", server_->target()}, &out) == 0 &&
               out.find("paused") != std::string::npos &&
               out.find("0/3 partitions") != std::string::npos;
      },
      60s))
      << out;
  EXPECT_NE(out.find("cli-paused: running"), std::string::npos) << out;
  ASSERT_EQ(RunCli({"resume", "cli-paused", "--target", server_->target()}, &out), 0) << out;
  ASSERT_TRUE(flightdeck::testing::WaitFor(
      [&] {
        return RunCli({"status", "cli-paused", "--target", server_->target()}, &out) == 0 &&
               out.find("cli-paused: completed") != std::string::npos;
      },
      60s))
      << out;
  EXPECT_NE(out.find("3/3 partitions"), std::string::npos) << out;
  // Signals to a run that does not exist fail in words.
  EXPECT_EQ(RunCli({"pause", "no-such-run", "--target", server_->target()}, &out), 1) << out;
  EXPECT_NE(out.find("no-such-run"), std::string::npos) << out;
}

}  // namespace
}  // namespace flightdeck::pipeline
