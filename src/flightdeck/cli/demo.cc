// `flightdeck demo`: the main job on the embedded default. Starts a Temporal
// dev server, a data node and a worker in this process tree, runs an ETL
// pipeline (generated orders -> filter -> derive -> aggregate -> Parquet)
// as a PipelineWorkflow, checks the output against the DataFrame computed
// directly, prints a summary and stops what it started.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include <arrow/array.h>
#include <arrow/scalar.h>
#include <arrow/table.h>

#include "flightdeck/cli/commands.h"
#include "flightdeck/cli/demo_jaeger.h"
#include "flightdeck/cli/metrics_options.h"
#include "flightdeck/cli/tracing_options.h"
#include "flightdeck/cli/pipeline_internal.h"
#include "flightdeck/common/crypto.h"
#include "flightdeck/common/durable_file.h"
#include "flightdeck/common/throwaway_ca.h"
#include "flightdeck/flight/auth_config.h"
#include "flightdeck/flight/data_node.h"
#include "flightdeck/flight/node_client.h"
#include "flightdeck/frame/data_frame.h"
#include "flightdeck/pipeline/pipeline_workflow.h"
#include "flightdeck/pipeline/stages.h"
#include "flightdeck/temporal/client/client.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/testing/embedded_temporal.h"
#include "flightdeck/temporal/worker/worker.h"

namespace flightdeck::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

void Line(const char* what, const std::string& text) {
  std::printf("  %-10s %s\n", what, text.c_str());
  std::fflush(stdout);
}

struct DemoOptions {
  int64_t rows = 2'000'000;
  int32_t partitions = 4;
  std::string state_dir;
  std::string jaeger;
};

// The demo's pipeline: generated orders, filter, derive, aggregate, Parquet.
std::string DemoSpec(const DemoOptions& options, const std::string& node,
                     const std::string& sink) {
  return "name: demo-orders\n"
         "tenant: demo\n"
         "source:\n  generate: {rows: " + std::to_string(options.rows) + ", seed: 42}\n"
         "stages:\n"
         "  - filter: \"amount > 10 and category is not null\"\n"
         "  - with_column: {name: amount_eur, expr: \"amount * 0.92\"}\n"
         "  - aggregate: {by: [category], aggs: {total_eur: \"sum(amount_eur)\", "
         "orders: \"count(*)\"}}\n"
         "  - sort: [{column: total_eur, descending: true}]\n"
         "sink:\n  parquet: " + sink + "\n"
         "partitions: " + std::to_string(options.partitions) + "\n"
         "parallelism: 2\n"
         "durable: false\n"
         "nodes: [" + node + "]\n"
         "task_queue: flightdeck-demo\n";
}

// Checks the committed output against the same pipeline run in-process,
// then prints its rows. Throws CommandFailed when they differ.
void VerifyAndPrintOutput(const pipeline::PipelineSpec& spec, const std::filesystem::path& sink) {
  auto output = frame::DataFrame::Read(sink.string(), frame::FileFormat::kParquet);
  Check(output.status(), "reading the output");
  auto table = output->Sort({frame::Desc("total_eur")}).Collect();
  Check(table.status(), "reading the output");
  auto local = pipeline::ComputeLocally(spec);
  Check(local.status(), "the local pipeline");
  auto expected = local->Sort({frame::Desc("total_eur")}).Collect();
  Check(expected.status(), "the local pipeline");
  bool same = (*table)->num_rows() == (*expected)->num_rows() &&
              (*table)->num_columns() == (*expected)->num_columns();
  for (int i = 0; same && i < (*table)->num_columns(); ++i) {
    // Sums over partitions in another order may differ in the last bits.
    same = (*table)->column(i)->ApproxEquals(*(*expected)->column(i),
                                             arrow::EqualOptions::Defaults().atol(1e-3));
  }
  if (!same || !std::filesystem::exists(sink / "_SUCCESS")) {
    throw CommandFailed("the committed output differs from the DataFrame computed directly");
  }
  Line("verified", std::to_string((*table)->num_rows()) +
                       " output rows equal to the DataFrame computed directly; _SUCCESS "
                       "written");
  auto batch = (*table)->CombineChunksToBatch();
  Check(batch.status(), "reading the output");
  for (int64_t row = 0; row < (*batch)->num_rows(); ++row) {
    std::string cells;
    for (int column = 0; column < (*batch)->num_columns(); ++column) {
      auto scalar = (*batch)->column(column)->GetScalar(row);
      cells += (column ? "  " : "") + (*batch)->schema()->field(column)->name() + "=" +
               (scalar.ok() ? (*scalar)->ToString() : "?");
    }
    std::printf("    %s\n", cells.c_str());
  }
}

// The demo's node serves TLS with a throwaway CA and wants a bearer token,
// as a node on a network must; this process's clients get both. The CA,
// certificate and key go to `folder` (owner only), which the caller removes.
void SecureTheNode(const std::filesystem::path& folder, flight::DataNodeOptions* node_options) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  std::filesystem::permissions(folder, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace, ec);
  auto certs = MakeThrowawayCertificates({"localhost"}, {"127.0.0.1"});
  Check(certs.status(), "throwaway certificates");
  const std::string ca = (folder / "ca.pem").string(), cert = (folder / "node.pem").string(),
                    key = (folder / "node-key.pem").string();
  Check(WriteFileAtomically(ca, certs->ca_pem), "writing the throwaway CA");
  Check(WriteFileAtomically(cert, certs->cert_pem), "writing the node certificate");
  Check(WriteFileAtomically(key, certs->key_pem), "writing the node key");
  const std::string token = RandomToken();
  auto auth = flight::AuthConfig::Parse("principals: {demo: {tokens: [\"" + flight::HashToken(token) +
                                            "\"]}}\n"
                                            "roles: {owner: {actions: [put, get, list, drop, persist, exchange, stats]}}\n"
                                            "bindings: [{role: owner, principals: [demo], tenants: [demo]}]\n",
                                        "the demo's auth config");
  Check(auth.status(), "the demo's auth config");
  node_options->tls.cert_file = cert;
  node_options->tls.key_file = key;
  node_options->auth = *auth;
  Check(flight::NodeClient::UseTls({.ca_file = ca}), "the node client's TLS");
  flight::NodeClient::UseToken(token);
}

void RunDemo(const DemoOptions& options) {
  // This process runs a data node (and more): the node's allocation policy.
  UseNodeProcessMemoryPolicy();
  // Buffers received over Flight are not 64-byte aligned; x86 reads them fine.
  setenv("ACERO_ALIGNMENT_HANDLING", "ignore", /*overwrite=*/0);
  std::cout << "flightdeck demo: a pipeline on Temporal, data through Arrow Flight" << std::endl;
  const auto total_started = Clock::now();

  // One Prometheus endpoint for the node's and the worker's metrics.
  auto metrics = std::make_shared<observe::Metrics>();
  auto metrics_server = observe::MetricsServer::Start("127.0.0.1", 0, metrics);
  Check(metrics_server.status(), "metrics endpoint");
  const auto sdk_metrics = SdkMetrics(metrics);

  temporal::EmbeddedTemporalOptions temporal_options;
  temporal_options.state_dir = options.state_dir;
  temporal_options.extra_args = LowLatencyDevServerArgs();
  temporal_options.ui = true;
  auto server = temporal::EmbeddedTemporal::Start(temporal_options);
  Check(server.status(), "cannot start the Temporal dev server");
  auto conn = temporal::Connection::Connect({.target = (*server)->target(), .metrics = sdk_metrics});
  Check(conn.status(), "cannot connect to Temporal");
  auto info = (*conn)->GetSystemInfo();
  Check(info.status(), "GetSystemInfo");
  Line("temporal", "dev server " + info->server_version() + " at " + (*server)->target() +
                       " (pid " + std::to_string((*server)->pid()) + ")");

  flight::DataNodeOptions node_options;
  node_options.exchange_transform = FrameExchangeTransform(OpenExchangeEngines(2, int64_t{256} << 20, ""));
  std::error_code ec;
  const std::filesystem::path secrets =
      std::filesystem::temp_directory_path() / ("flightdeck-demo-secrets-" + std::to_string(getpid()));
  // Removed however the demo ends (a failure throws CommandFailed).
  const std::unique_ptr<const std::filesystem::path, void (*)(const std::filesystem::path*)> remove_secrets(
      &secrets, [](const std::filesystem::path* path) {
        std::error_code ignored;
        std::filesystem::remove_all(*path, ignored);
      });
  SecureTheNode(secrets, &node_options);
  // Traces to the Jaeger started here (--jaeger), or where the OTEL_*
  // environment says (e.g. OTEL_EXPORTER_OTLP_ENDPOINT), or none.
  std::optional<DemoJaeger> jaeger;
  if (!options.jaeger.empty()) {
    auto started_jaeger = StartDemoJaeger(options.jaeger, secrets);
    Check(started_jaeger.status(), "--jaeger");
    jaeger = std::move(*started_jaeger);
  }
  const std::shared_ptr<observe::Tracer> tracer =
      StartTracerOrExit("flightdeck-demo", metrics, jaeger ? jaeger->otlp_endpoint : "");
  node_options.call_observer = BothObservers(NodeCallMetrics(metrics), NodeCallSpans(tracer));
  auto node = flight::DataNode::Start(std::move(node_options));
  Check(node.status(), "cannot start the data node");
  const std::string location = (*node)->location().ToString();
  Line("data node", location + " (TLS from a throwaway CA, bearer-token authentication)");

  ObserveNodeStore(*metrics, node->get());
  auto worker = temporal::Worker::Make(*conn, {.task_queue = "flightdeck-demo", .metrics_handler = sdk_metrics, .tracer = tracer});
  Check(worker.status(), "worker");
  Check(pipeline::RegisterPipeline(**worker, nullptr, metrics), "registering the pipeline");
  Check((*worker)->Start(), "starting the worker");
  Line("worker", "PipelineWorkflow and stage activities on task queue flightdeck-demo");

  const std::filesystem::path sink =
      std::filesystem::temp_directory_path() /
      ("flightdeck-demo-" + std::to_string(getpid()));
  std::filesystem::remove_all(sink, ec);
  const std::string spec_text = DemoSpec(options, location, sink.string());
  auto spec = pipeline::ParsePipelineSpec(spec_text, "demo.yaml");
  Check(spec.status(), "demo spec");
  Line("pipeline", std::to_string(options.rows) + " generated orders in " +
                       std::to_string(options.partitions) +
                       " partitions -> filter -> derive amount_eur -> aggregate by category "
                       "-> sort -> Parquet in " + sink.string());

  auto client = temporal::Client::Make(*conn);
  Check(client.status(), "Temporal client");
  const std::string ui = "http://127.0.0.1:" + std::to_string((*server)->ui_port());
  const std::string metrics_url = "http://127.0.0.1:" + std::to_string((*metrics_server)->port()) + "/metrics";
  const std::string workflow_id = "demo-" + std::to_string(getpid());
  Line("watch", ui + "/namespaces/default/workflows/" + workflow_id + " (Temporal Web UI), " + metrics_url +
                    " (Prometheus metrics of the node and the worker), while it runs");
  auto started = Clock::now();
  if (jaeger) {
    Line("traces", jaeger->ui + "/search?service=" + tracer->options().service_name + " (Jaeger UI, pid " +
                       std::to_string(jaeger->process->pid()) + "): the run is one trace, its id is printed below");
  } else {
    Line("traces", tracer ? "to " + tracer->options().endpoint + " (OTLP), one trace per run: its id is printed below"
                          : "off; set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://localhost:4318) to send them");
  }
  auto result = RunPipelineWorkflow(**client, spec_text, "demo.yaml", *spec, workflow_id, /*wait=*/true,
                                    /*show_progress=*/true, tracer.get());
  Check(result.status(), "the demo pipeline");
  const double seconds = Seconds(started);
  char rate[160];
  std::snprintf(rate, sizeof(rate), "%lld source rows in %.2f s: %.2f M rows/s end to end",
                static_cast<long long>(options.rows), seconds, options.rows / 1e6 / seconds);
  Line("ran", rate);

  VerifyAndPrintOutput(*spec, sink);

  Check((*worker)->Shutdown(), "worker shutdown");
  metrics_server->reset();  // its scrape hook reads the node
  Check((*node)->Shutdown(), "data node shutdown");
  Check((*server)->Stop(), "temporal dev server stop");
  if (tracer) {
    tracer->Flush();
    Line("traced", std::to_string(tracer->spans_exported()) + " spans sent to " + tracer->options().endpoint + ", " +
                       std::to_string(tracer->spans_dropped()) + " dropped");
  }
  if (jaeger) Check(jaeger->process->Stop(), "Jaeger stop");
  std::filesystem::remove_all(sink, ec);
  char total[160];
  std::snprintf(total, sizeof(total), "worker, data node, temporal dev server%s; output removed (%.1f s in all)",
                jaeger ? ", Jaeger" : "", Seconds(total_started));
  Line("stopped", total);
}

}  // namespace

void AddDemoCommand(CLI::App& app) {
  auto options = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "demo", "Start Temporal, a data node and a worker; run an ETL pipeline on generated data; stop");
  cmd->add_option("--rows", options->rows, "Rows to generate")
      ->capture_default_str()
      ->check(PositiveNumber());
  cmd->add_option("--partitions", options->partitions, "Partitions of the pipeline")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--state-dir", options->state_dir,
                  "Folder for the Temporal state (default: temporary)");
  cmd->add_option("--jaeger", options->jaeger,
                  "Start this Jaeger (v2) binary and send the run's trace to it, whatever the OTEL_* "
                  "endpoint variables say; its UI shows the trace while the demo runs "
                  "(scripts/demo passes the one scripts/setup builds)")
      ->check(CLI::ExistingFile);
  cmd->callback([options] { RunDemo(*options); });
}

}  // namespace flightdeck::cli
