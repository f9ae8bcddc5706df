// The `flightdeck` binary's command line: `--help` of every subcommand exits
// 0 and names its options; wrong usage exits 2 with a message in words; and
// `flightdeck cancel` on a real run (dev server, node and worker processes):
// the run ends canceled, `status` says so, nothing reaches the sink.
#include <csignal>
#include <fstream>
#include <sstream>

#include "integration/pipeline/pipeline_processes.h"

namespace flightdeck::pipeline::testing {
namespace {

struct HelpCase {
  std::string command;
  std::vector<std::string> mentions;
};

class CliUsageTest : public PipelineProcessTest {
 protected:
  // No server, node or worker: the command line alone.
  void SetUp() override {
    const char* binary = std::getenv("FLIGHTDECK_BINARY");
    ASSERT_NE(binary, nullptr) << "FLIGHTDECK_BINARY is not set";
    binary_ = binary;
    dir_ = flightdeck::testing::FreshTestDir("fd-cli-usage");
  }
};

TEST_F(CliUsageTest, HelpOfEverySubcommandExitsZeroAndNamesItsOptions) {
  const std::vector<HelpCase> cases = {
      {"", {"node", "auth", "audit", "keys", "codec-server", "timeline", "dev-server", "demo", "frame-query", "worker",
            "run", "status", "cancel", "list", "gc", "--log-level", "--log-format", "--version"}},
      {"node", {"--host", "--port", "--advertise", "--memory-budget", "--data-dir", "--compression",
                "--default-ttl", "--gc-interval", "--tls-cert", "--tls-key", "--tls-client-ca", "--insecure", "--auth-config", "--audit-log", "--audit-key-file", "--audit-fail-open",
                "--key-file", "--ticket-key-file", "--ticket-ttl", "--metrics-port", "--metrics-host"}},
      {"keys add", {"file", "--id"}},
      {"codec-server", {"--codec-key-file", "--host", "--port", "--token-file", "--cors-origin", "--tls-cert"}},
      {"timeline", {"id", "--output", "--address", "--codec-key-file"}},
      {"audit verify", {"file", "--key-file"}},
      {"auth", {"new-token", "hash-token", "hash-password"}},
      {"dev-server", {"--port", "--ip", "--state-dir", "--namespace", "--temporal-bin", "--metrics-port", "--ui",
                      "--ui-port", "--ui-codec-endpoint"}},
      {"demo", {"--rows", "--partitions", "--state-dir", "--jaeger"}},
      {"frame-query", {"--input", "--plan", "--output", "--output-format", "--explain"}},
      {"worker", {"--target", "--task-queue", "--activity-slots", "--tls-ca", "--tls-cert", "--tls-key", "--token-file",
                  "--codec-key-file", "--metrics-port", "--metrics-host"}},
      {"run", {"spec", "--target", "--address", "--namespace", "--api-key", "--tls-cert-path", "--tls-key-path",
               "--tls-ca-path", "--tls-server-name", "--profile", "--id", "--wait", "--quiet", "--tls-ca",
               "--node-tls-server-name"}},
      {"status", {"id", "--target", "--output"}},
      {"cancel", {"id", "--target"}},
      {"list", {"--target", "--query", "--limit", "--output"}},
      {"gc", {"--node", "--tenant", "--target", "--dry-run", "--tls-ca"}},
  };
  for (const auto& help : cases) {
    std::vector<std::string> args;  // the command's words ("audit verify"), then --help
    std::istringstream words(help.command);
    for (std::string word; words >> word;) args.push_back(word);
    args.push_back("--help");
    std::string out;
    EXPECT_EQ(RunCli(args, &out), 0) << help.command << ":\n" << out;
    for (const auto& mention : help.mentions) {
      EXPECT_NE(out.find(mention), std::string::npos)
          << "flightdeck " << help.command << " --help does not mention " << mention << ":\n"
          << out;
    }
  }
}

TEST_F(CliUsageTest, VersionNamesFlightdeckArrowAndDuckDb) {
  std::string out;
  ASSERT_EQ(RunCli({"--version"}, &out), 0) << out;
  EXPECT_NE(out.find("flightdeck 0."), std::string::npos) << out;
  EXPECT_NE(out.find("Arrow "), std::string::npos) << out;
  EXPECT_NE(out.find("DuckDB v1."), std::string::npos) << out;
}

TEST_F(CliUsageTest, WrongUsageExitsTwoWithAMessageInWords) {
  // A spec that parses but cannot run: refused before anything starts (no
  // Temporal server here), pointing at the column it names.
  const auto bad_spec = dir_ / "spec.yaml";
  std::ofstream(bad_spec) << "name: bad\nsource:\n  generate: {rows: 10}\nstages:\n"
                          << "  - filter: \"amont > 10\"\nsink:\n  parquet: " << (dir_ / "out").string()
                          << "\nnodes: [grpc+tcp://127.0.0.1:1]\n";
  // Each wrong command line, and a word its message must hold.
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "subcommand"},
      {{"launch"}, "launch"},
      {{"run"}, "spec"},
      {{"status"}, "id"},
      {{"cancel"}, "id"},
      {{"cancel", "a", "b"}, "b"},
      {{"list", "--bogus"}, "--bogus"},
      {{"node", "--port", "99999"}, "99999"},
      {{"node", "--compression", "gzip"}, "gzip"},
      {{"worker", "--activity-slots", "0"}, "activity-slots"},
      {{"demo", "--partitions", "0"}, "partitions"},
      {{"run", (dir_ / "missing.yaml").string()}, "cannot read spec"},
      {{"run", bad_spec.string()}, "spec.yaml:5:14: "},
      {{"run", bad_spec.string()}, "did you mean amount"},
  };
  for (const auto& [args, word] : cases) {
    std::string out;
    std::string line = "flightdeck";
    for (const auto& arg : args) line += " " + arg;
    EXPECT_EQ(RunCli(args, &out), 2) << line << ":\n" << out;
    EXPECT_NE(out.find(word), std::string::npos) << line << " says:\n" << out;
    EXPECT_EQ(out.find("terminate called"), std::string::npos) << line << ":\n" << out;
  }
}

class PipelineCancelCliTest : public PipelineProcessTest {};

TEST_F(PipelineCancelCliTest, CancelStopsARunningPipelineAndNothingIsCommitted) {
  ASSERT_OK(StartWorker("only"));
  SpecOptions options;
  options.partitions = 12;
  const std::string id = "cancel-me";
  StartRun(id, SpecText("out", options));
  WaitForPartialProgress(id, options.partitions);
  ASSERT_FALSE(HasFailure());
  // Freeze the worker so the run cannot finish before the cancel arrives.
  ASSERT_OK(workers_.at("only")->Signal(SIGSTOP));
  std::string out;
  const int cancel_exit = RunCli({"cancel", id, "--target", server_->target()}, &out);
  ASSERT_OK(workers_.at("only")->Signal(SIGCONT));
  ASSERT_EQ(cancel_exit, 0) << out;
  EXPECT_NE(out.find("cancel requested: " + id), std::string::npos) << out;

  ASSERT_TRUE(flightdeck::testing::WaitFor(
      [&] {
        return RunCli({"status", id, "--target", server_->target()}, &out) == 0 &&
               out.find(id + ": canceled") != std::string::npos;
      },
      120s))
      << out;
  auto result = WaitResult(id);
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(result.status().IsCancelled()) << result.status().ToString();
  const SinkListing sink = ListSink(dir_ / "out");
  EXPECT_TRUE(sink.success.empty()) << sink.success;
  EXPECT_TRUE(sink.parts.empty()) << sink.parts.front();
  EXPECT_EQ(ScheduledByType(id).count("flightdeck.commit"), 0u);

  ASSERT_TRUE(flightdeck::testing::WaitFor(
      [&] {
        return RunCli({"list", "--target", server_->target()}, &out) == 0 &&
               out.find("canceled") != std::string::npos;
      },
      30s))
      << out;
  // An unknown run: the command ran and failed, the message names the run.
  EXPECT_EQ(RunCli({"cancel", "no-such-run", "--target", server_->target()}, &out), 1) << out;
  EXPECT_NE(out.find("no-such-run"), std::string::npos) << out;
}

}  // namespace
}  // namespace flightdeck::pipeline::testing
