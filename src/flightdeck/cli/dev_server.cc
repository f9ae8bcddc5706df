// `flightdeck dev-server`: the embedded Temporal dev server in the
// foreground, stopped cleanly on SIGINT/SIGTERM.
#include <signal.h>

#include <iostream>

#include "flightdeck/cli/commands.h"
#include "flightdeck/temporal/testing/embedded_temporal.h"

namespace flightdeck::cli {

void AddDevServerCommand(CLI::App& app) {
  auto options = std::make_shared<temporal::EmbeddedTemporalOptions>();
  options->port = 7233;
  options->extra_args = LowLatencyDevServerArgs();
  CLI::App* cmd = app.add_subcommand(
      "dev-server", "Run a Temporal dev server (temporal server start-dev) with SQLite state");
  cmd->add_option("--port", options->port, "Frontend gRPC port; 0 picks a free one")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--ip", options->ip, "Interface to listen on")->capture_default_str();
  cmd->add_option("--state-dir", options->state_dir,
                  "Folder for the SQLite file and log (default: a temporary folder)");
  cmd->add_option("--namespace", options->namespaces, "Extra namespaces to create");
  cmd->add_option("--temporal-bin", options->temporal_binary, "The temporal CLI to run");
  cmd->add_option("--metrics-port", options->metrics_port,
                  "Port of the server's own Prometheus /metrics (0 picks a free one; printed)")
      ->check(CLI::Range(0, 65535));
  cmd->add_flag("--ui", options->ui, "Serve the Temporal Web UI (printed URL)");
  cmd->add_option("--ui-port", options->ui_port, "Web UI port (with --ui); 0 picks a free one")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--ui-codec-endpoint", options->ui_codec_endpoint,
                  "Codec server the Web UI decodes payloads with (with --ui), e.g. the URL `flightdeck "
                  "codec-server` prints");
  cmd->callback([options] {
    // Block the signals before any thread starts, then wait for one of them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    auto server = temporal::EmbeddedTemporal::Start(*options);
    Check(server.status(), "cannot start the Temporal dev server");
    std::cout << "temporal dev server ready at " << (*server)->target() << " (state "
              << (*server)->state_dir() << ", pid " << (*server)->pid() << ")" << std::endl;
    std::cout << "temporal metrics at http://" << options->ip << ":" << (*server)->metrics_port() << "/metrics"
              << std::endl;
    if ((*server)->ui_port() != 0) {
      std::cout << "temporal web ui at http://" << options->ip << ":" << (*server)->ui_port()
                << (options->ui_codec_endpoint.empty() ? "" : " (payloads decoded by " + options->ui_codec_endpoint + ")")
                << std::endl;
    }
    const timespec poll_interval{1, 0};
    while (sigtimedwait(&signals, nullptr, &poll_interval) < 0) {
      if (!(*server)->Running()) {
        throw CommandFailed("the temporal dev server exited on its own; log: " +
                            (*server)->log_path());
      }
    }
    std::cout << "stopping temporal dev server" << std::endl;
    Check((*server)->Stop(), "temporal dev server stop");
  });
}

}  // namespace flightdeck::cli
