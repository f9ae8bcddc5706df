#include "flightdeck/temporal/testing/embedded_temporal.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "flightdeck/common/logging.h"
#include "flightdeck/common/net.h"
#include "flightdeck/common/subprocess.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/client/grpc_status.h"

namespace flightdeck::temporal {

namespace fs = std::filesystem;
namespace wfs = ::temporal::api::workflowservice::v1;

struct EmbeddedTemporal::Impl {
  EmbeddedTemporalOptions options;
  std::string target;
  std::string db_path;
  std::string log_path;
  bool remove_state_dir = false;
  std::unique_ptr<Subprocess> process;
};

std::string DefaultTemporalBinary() {
  if (const char* env = std::getenv("FLIGHTDECK_TEMPORAL_BIN"); env && *env) return env;
#ifdef FLIGHTDECK_DEFAULT_TEMPORAL_BIN
  if (::access(FLIGHTDECK_DEFAULT_TEMPORAL_BIN, X_OK) == 0) return FLIGHTDECK_DEFAULT_TEMPORAL_BIN;
#endif
  return "temporal";
}

namespace {

std::string TailOfFile(const std::string& path, size_t max_bytes = 2000) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "(no log)";
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  return text;
}

// True once the frontend answers and the default namespace is registered.
arrow::Status Probe(Connection& conn) {
  ARROW_RETURN_NOT_OK(conn.GetSystemInfo().status());
  wfs::DescribeNamespaceRequest request;
  request.set_namespace_("default");
  wfs::DescribeNamespaceResponse response;
  auto context = conn.NewContext("default", std::chrono::milliseconds(2000));
  return FromGrpcStatus(
      conn.workflow_service().DescribeNamespace(context.get(), request, &response),
      "DescribeNamespace");
}

}  // namespace

arrow::Result<std::unique_ptr<EmbeddedTemporal>> EmbeddedTemporal::Start(
    EmbeddedTemporalOptions options) {
  auto impl = std::make_unique<Impl>();
  if (options.temporal_binary.empty()) options.temporal_binary = DefaultTemporalBinary();
  if (options.state_dir.empty()) {
    std::string pattern = (fs::temp_directory_path() / "flightdeck-temporal-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return arrow::Status::IOError("cannot create a temporary state directory");
    }
    options.state_dir = pattern;
    impl->remove_state_dir = true;
  }
  std::error_code ec;
  fs::create_directories(options.state_dir, ec);
  if (ec) {
    return arrow::Status::IOError("cannot create state directory ", options.state_dir, ": ",
                                  ec.message());
  }
  // The ports clients use are chosen and reserved here (--headless: no UI
  // port), so that they are known and cannot go to another dev server
  // starting at the same time.
  if (!options.ui && (options.ui_port != 0 || !options.ui_codec_endpoint.empty())) {
    return arrow::Status::Invalid("a UI port or codec endpoint needs the Web UI on");
  }
  for (int* port : {&options.port, &options.http_port, &options.metrics_port, &options.ui_port}) {
    if (port == &options.ui_port && !options.ui) continue;
    if (*port == 0) {
      ARROW_ASSIGN_OR_RAISE(*port, FindFreeTcpPort(options.ip));
    }
  }
  impl->db_path = (fs::path(options.state_dir) / "temporal.sqlite").string();
  impl->log_path = (fs::path(options.state_dir) / "temporal.log").string();
  impl->target = options.ip + ":" + std::to_string(options.port);

  SubprocessOptions process;
  process.argv = {options.temporal_binary, "server", "start-dev",
                  "--ip", options.ip, "--port", std::to_string(options.port),
                  "--http-port", std::to_string(options.http_port),
                  "--metrics-port", std::to_string(options.metrics_port),
                  "--db-filename", impl->db_path, "--log-level", options.log_level};
  if (options.ui) {
    process.argv.insert(process.argv.end(), {"--ui-port", std::to_string(options.ui_port)});
    if (!options.ui_codec_endpoint.empty()) {
      process.argv.insert(process.argv.end(), {"--ui-codec-endpoint", options.ui_codec_endpoint});
    }
  } else {
    process.argv.push_back("--headless");
  }
  for (const auto& ns : options.namespaces) {
    process.argv.insert(process.argv.end(), {"--namespace", ns});
  }
  constexpr std::string_view kEagerKey = "system.enableActivityEagerExecution";
  if (std::none_of(options.extra_args.begin(), options.extra_args.end(),
                   [&](const std::string& arg) { return arg.find(kEagerKey) != std::string::npos; })) {
    process.argv.insert(process.argv.end(),
                        {"--dynamic-config-value", std::string(kEagerKey) + "=true"});
  }
  process.argv.insert(process.argv.end(), options.extra_args.begin(), options.extra_args.end());
  process.log_path = impl->log_path;
  ARROW_ASSIGN_OR_RAISE(impl->process, Subprocess::Start(std::move(process)));
  impl->options = std::move(options);

  ARROW_ASSIGN_OR_RAISE(auto conn, Connection::Connect({.target = impl->target}));
  const auto deadline = std::chrono::steady_clock::now() + impl->options.startup_timeout;
  arrow::Status last;
  auto pause = std::chrono::milliseconds(20);
  while (true) {
    if (!impl->process->Running()) {
      return arrow::Status::IOError(
          "temporal dev server exited during start-up (",
          DescribeWaitStatus(*impl->process->wait_status()), "); log ", impl->log_path, ":\n",
          TailOfFile(impl->log_path));
    }
    last = Probe(*conn);
    if (last.ok()) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      (void)impl->process->Stop(std::chrono::seconds(2));
      return arrow::Status::IOError("temporal dev server at ", impl->target, " not ready after ",
                                    impl->options.startup_timeout.count(), " ms: ",
                                    last.message(), "; log:\n", TailOfFile(impl->log_path));
    }
    std::this_thread::sleep_for(pause);  // backoff between probes
    pause = std::min(pause * 2, std::chrono::milliseconds(250));
  }
  FD_LOG(kDebug) << "temporal dev server ready at " << impl->target << " (pid "
                 << impl->process->pid() << ")";
  return std::unique_ptr<EmbeddedTemporal>(new EmbeddedTemporal(std::move(impl)));
}

EmbeddedTemporal::EmbeddedTemporal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EmbeddedTemporal::~EmbeddedTemporal() {
  (void)Stop();
  if (impl_->remove_state_dir) {
    std::error_code ec;
    fs::remove_all(impl_->options.state_dir, ec);
  }
}

const std::string& EmbeddedTemporal::target() const { return impl_->target; }
int EmbeddedTemporal::port() const { return impl_->options.port; }
int EmbeddedTemporal::http_port() const { return impl_->options.http_port; }
int EmbeddedTemporal::metrics_port() const { return impl_->options.metrics_port; }

int EmbeddedTemporal::ui_port() const { return impl_->options.ui ? impl_->options.ui_port : 0; }
pid_t EmbeddedTemporal::pid() const { return impl_->process->pid(); }
const std::string& EmbeddedTemporal::state_dir() const { return impl_->options.state_dir; }
const std::string& EmbeddedTemporal::db_path() const { return impl_->db_path; }
const std::string& EmbeddedTemporal::log_path() const { return impl_->log_path; }
bool EmbeddedTemporal::Running() { return impl_->process->Running(); }

arrow::Status EmbeddedTemporal::Stop() {
  return impl_->process->Stop(std::chrono::seconds(15));
}

arrow::Status EmbeddedTemporal::Kill() {
  ARROW_RETURN_NOT_OK(impl_->process->Signal(SIGKILL));
  return impl_->process->Wait(std::chrono::seconds(30)).status();
}

}  // namespace flightdeck::temporal
