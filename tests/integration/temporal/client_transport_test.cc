// The Client's transport behaviour against a real local gRPC server (in this
// process) that implements a few WorkflowService methods and records what
// arrives: the API key header over TLS, mTLS, the metadata on every call,
// retries with one request id, which codes are retried, and the exact
// result-waiting protocol (empty long-poll pages, runs followed), whose rare
// server answers a dev server cannot be made to give on demand.
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "flightdeck/common/subprocess.h"
#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/temporal/client/client.h"
#include "flightdeck/temporal/client/grpc_status.h"

namespace flightdeck::temporal {
namespace {

namespace wfs = ::temporal::api::workflowservice::v1;
namespace enums_v1 = ::temporal::api::enums::v1;
namespace fs = std::filesystem;

/// Serves GetSystemInfo, StartWorkflowExecution and CountWorkflowExecutions;
/// Start fails `failures` times with `fail_code` first.
class RecordingService final : public wfs::WorkflowService::Service {
 public:
  grpc::StatusCode fail_code = grpc::StatusCode::UNAVAILABLE;
  int failures = 0;
  bool internal_error_differentiation = false;

  grpc::Status GetSystemInfo(grpc::ServerContext* context, const wfs::GetSystemInfoRequest*,
                             wfs::GetSystemInfoResponse* response) override {
    Record("GetSystemInfo", context);
    response->set_server_version("test");
    response->mutable_capabilities()->set_internal_error_differentiation(
        internal_error_differentiation);
    return grpc::Status::OK;
  }

  grpc::Status StartWorkflowExecution(grpc::ServerContext* context,
                                      const wfs::StartWorkflowExecutionRequest* request,
                                      wfs::StartWorkflowExecutionResponse* response) override {
    Record("StartWorkflowExecution", context);
    std::lock_guard<std::mutex> lock(mutex_);
    request_ids_.push_back(request->request_id());
    if (failures > 0) {
      --failures;
      return grpc::Status(fail_code, "injected failure");
    }
    response->set_run_id("run-" + request->request_id());
    response->set_started(true);
    return grpc::Status::OK;
  }

  grpc::Status CountWorkflowExecutions(grpc::ServerContext* context,
                                       const wfs::CountWorkflowExecutionsRequest* request,
                                       wfs::CountWorkflowExecutionsResponse* response) override {
    Record("CountWorkflowExecutions", context);
    response->set_count(static_cast<int64_t>(request->query().size()));
    return grpc::Status::OK;
  }

  /// Scripted answers of GetWorkflowExecutionHistory, served in order.
  std::vector<wfs::GetWorkflowExecutionHistoryResponse> history_pages;

  grpc::Status GetWorkflowExecutionHistory(
      grpc::ServerContext* context, const wfs::GetWorkflowExecutionHistoryRequest* request,
      wfs::GetWorkflowExecutionHistoryResponse* response) override {
    Record("GetWorkflowExecutionHistory", context);
    std::lock_guard<std::mutex> lock(mutex_);
    history_requests_.push_back(*request);
    if (history_requests_.size() > history_pages.size()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no more scripted pages");
    }
    *response = history_pages[history_requests_.size() - 1];
    return grpc::Status::OK;
  }

  std::vector<wfs::GetWorkflowExecutionHistoryRequest> history_requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return history_requests_;
  }

  std::vector<std::string> request_ids() {
    std::lock_guard<std::mutex> lock(mutex_);
    return request_ids_;
  }
  /// Metadata of the last call to `rpc` (header -> value).
  std::map<std::string, std::string> metadata(const std::string& rpc) {
    std::lock_guard<std::mutex> lock(mutex_);
    return metadata_[rpc];
  }

 private:
  void Record(const std::string& rpc, grpc::ServerContext* context) {
    std::map<std::string, std::string> headers;
    for (const auto& [key, value] : context->client_metadata()) {
      headers[std::string(key.data(), key.size())] = std::string(value.data(), value.size());
    }
    std::lock_guard<std::mutex> lock(mutex_);
    metadata_[rpc] = std::move(headers);
  }

  std::mutex mutex_;
  std::vector<std::string> request_ids_;
  std::vector<wfs::GetWorkflowExecutionHistoryRequest> history_requests_;
  std::map<std::string, std::map<std::string, std::string>> metadata_;
};

struct TestServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  ~TestServer() {
    if (server) server->Shutdown();
  }
};

arrow::Result<std::unique_ptr<TestServer>> StartServer(
    RecordingService* service, std::shared_ptr<grpc::ServerCredentials> credentials) {
  auto out = std::make_unique<TestServer>();
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", std::move(credentials), &out->port);
  builder.RegisterService(service);
  out->server = builder.BuildAndStart();
  if (!out->server || out->port == 0) return arrow::Status::IOError("test gRPC server failed");
  return out;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

/// A self-signed certificate for "localhost" made by the openssl CLI.
struct SelfSignedCert {
  std::string cert_pem;
  std::string key_pem;
};

arrow::Result<SelfSignedCert> MakeCert(const fs::path& parent, const std::string& name) {
  const fs::path dir = parent / name;
  fs::create_directories(dir);
  ARROW_ASSIGN_OR_RAISE(
      auto openssl,
      Subprocess::Start({.argv = {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                  "-keyout", (dir / "key.pem").string(), "-out",
                                  (dir / "cert.pem").string(), "-days", "1", "-subj",
                                  "/CN=localhost", "-addext",
                                  "subjectAltName=DNS:localhost,IP:127.0.0.1"},
                         .log_path = (dir / "openssl.log").string()}));
  ARROW_ASSIGN_OR_RAISE(int wait_status, openssl->Wait(std::chrono::seconds(60)));
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    return arrow::Status::IOError("openssl failed: ", DescribeWaitStatus(wait_status), ": ",
                                  ReadFile(dir / "openssl.log"));
  }
  return SelfSignedCert{ReadFile(dir / "cert.pem"), ReadFile(dir / "key.pem")};
}

class ClientTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fd-client-transport-" + std::to_string(::getpid()));
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// A Client over plaintext to `server`, with fast retries.
  arrow::Result<std::shared_ptr<Client>> PlainClient(const TestServer& server,
                                                     RpcRetryOptions retry) {
    ARROW_ASSIGN_OR_RAISE(
        auto conn, Connection::Connect({.target = "127.0.0.1:" + std::to_string(server.port)}));
    return Client::Make(conn, {.ns = "transport-ns", .retry = retry});
  }

  static RpcRetryOptions FastRetry(int maximum_attempts) {
    return {.initial_interval = std::chrono::milliseconds(1),
            .resource_exhausted_initial_interval = std::chrono::milliseconds(2),
            .max_elapsed = std::chrono::seconds(20),
            .maximum_attempts = maximum_attempts};
  }

  fs::path dir_;
};

TEST_F(ClientTransportTest, ApiKeyAndSdkHeadersReachTheServerOverTls) {
  ASSERT_OK_AND_ASSIGN(SelfSignedCert cert, MakeCert(dir_, "server"));
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({cert.key_pem, cert.cert_pem});
  RecordingService service;
  ASSERT_OK_AND_ASSIGN(auto server, StartServer(&service, grpc::SslServerCredentials(ssl)));

  ASSERT_OK_AND_ASSIGN(
      auto conn, Connection::Connect({.target = "127.0.0.1:" + std::to_string(server->port),
                                      .identity = "transport-test",
                                      .tls = TlsOptions{.server_root_ca_pem = cert.cert_pem,
                                                        .server_name_override = "localhost"},
                                      .api_key = "sekret-key"}));
  ASSERT_OK_AND_ASSIGN(auto client, Client::Make(conn, {.ns = "transport-ns"}));
  ASSERT_OK_AND_ASSIGN(int64_t count, client->Count("WorkflowType = 'x'"));
  EXPECT_EQ(count, 18);  // the server echoes the query length: the request arrived intact

  auto headers = service.metadata("CountWorkflowExecutions");
  EXPECT_EQ(headers["authorization"], "Bearer sekret-key");
  EXPECT_EQ(headers["client-name"], "temporal-cpp");
  EXPECT_EQ(headers["client-version"], kSdkVersion);
  EXPECT_EQ(headers["temporal-namespace"], "transport-ns");

  // A client that does not trust the certificate never reaches the service.
  ASSERT_OK_AND_ASSIGN(
      auto untrusting,
      Connection::Connect({.target = "127.0.0.1:" + std::to_string(server->port),
                           .tls = TlsOptions{.server_root_ca_pem = "",
                                             .server_name_override = "localhost"},
                           .api_key = "other-key"}));
  ASSERT_OK_AND_ASSIGN(auto rejected,
                       Client::Make(untrusting, {.ns = "transport-ns",
                                                 .retry = FastRetry(2)}));
  auto denied = rejected->Count("q");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(GrpcCodeOf(denied.status()), grpc::StatusCode::UNAVAILABLE)
      << denied.status().ToString();
  EXPECT_EQ(service.metadata("CountWorkflowExecutions")["authorization"], "Bearer sekret-key");
}

TEST_F(ClientTransportTest, MutualTlsPresentsTheClientCertificate) {
  ASSERT_OK_AND_ASSIGN(SelfSignedCert server_cert, MakeCert(dir_, "server"));
  ASSERT_OK_AND_ASSIGN(SelfSignedCert client_cert, MakeCert(dir_, "client"));
  grpc::SslServerCredentialsOptions ssl(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = client_cert.cert_pem;  // the only client the server trusts
  ssl.pem_key_cert_pairs.push_back({server_cert.key_pem, server_cert.cert_pem});
  RecordingService service;
  ASSERT_OK_AND_ASSIGN(auto server, StartServer(&service, grpc::SslServerCredentials(ssl)));
  const std::string target = "127.0.0.1:" + std::to_string(server->port);

  TlsOptions tls{.server_root_ca_pem = server_cert.cert_pem,
                 .server_name_override = "localhost",
                 .client_cert_pem = client_cert.cert_pem,
                 .client_private_key_pem = client_cert.key_pem};
  ASSERT_OK_AND_ASSIGN(auto conn, Connection::Connect({.target = target, .tls = tls}));
  ASSERT_OK_AND_ASSIGN(auto info, conn->GetSystemInfo());
  EXPECT_EQ(info.server_version(), "test");

  // Without the client certificate the handshake fails.
  tls.client_cert_pem.clear();
  tls.client_private_key_pem.clear();
  ASSERT_OK_AND_ASSIGN(auto anonymous, Connection::Connect({.target = target, .tls = tls}));
  ASSERT_OK_AND_ASSIGN(auto client,
                       Client::Make(anonymous, {.ns = "transport-ns", .retry = FastRetry(2)}));
  auto refused = client->Count("q");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(GrpcCodeOf(refused.status()), grpc::StatusCode::UNAVAILABLE)
      << refused.status().ToString();
  EXPECT_TRUE(service.metadata("CountWorkflowExecutions").empty());
}

/// A page holding one close event of `type`, built by `fill`.
template <typename Fill>
wfs::GetWorkflowExecutionHistoryResponse ClosePage(enums_v1::EventType type, Fill fill) {
  wfs::GetWorkflowExecutionHistoryResponse page;
  auto* event = page.mutable_history()->add_events();
  event->set_event_id(5);
  event->set_event_type(type);
  fill(event);
  return page;
}

TEST_F(ClientTransportTest, GetResultLoopsOnEmptyPagesAndFollowsNewRuns) {
  RecordingService service;
  wfs::GetWorkflowExecutionHistoryResponse empty;  // an expired server-side long poll
  empty.set_next_page_token("token-1");
  service.history_pages.push_back(empty);
  // The server's synthetic continued-as-new for a cron/retry run...
  service.history_pages.push_back(
      ClosePage(enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, [](auto* event) {
        event->mutable_workflow_execution_continued_as_new_event_attributes()
            ->set_new_execution_run_id("run-2");
      }));
  // ...a completion that names a next run (cron)...
  service.history_pages.push_back(
      ClosePage(enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, [](auto* event) {
        event->mutable_workflow_execution_completed_event_attributes()->set_new_execution_run_id(
            "run-3");
      }));
  // ...and the last run's result.
  service.history_pages.push_back(
      ClosePage(enums_v1::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, [](auto* event) {
        *event->mutable_workflow_execution_completed_event_attributes()
             ->mutable_result()
             ->add_payloads() = *ToPayload(std::string("done"));
      }));
  ASSERT_OK_AND_ASSIGN(auto server, StartServer(&service, grpc::InsecureServerCredentials()));
  ASSERT_OK_AND_ASSIGN(auto client, PlainClient(*server, FastRetry(2)));
  ASSERT_OK_AND_ASSIGN(std::string result,
                       client->GetResult<std::string>(WorkflowHandle{"wf", "run-1"}));
  EXPECT_EQ(result, "done");

  auto requests = service.history_requests();
  ASSERT_EQ(requests.size(), 4u);
  const std::vector<std::string> runs{"run-1", "run-1", "run-2", "run-3"};
  const std::vector<std::string> tokens{"", "token-1", "", ""};
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(requests[i].execution().workflow_id(), "wf");
    EXPECT_EQ(requests[i].execution().run_id(), runs[i]) << i;
    EXPECT_EQ(requests[i].next_page_token(), tokens[i]) << i;
    EXPECT_TRUE(requests[i].wait_new_event());
    EXPECT_TRUE(requests[i].skip_archival());
    EXPECT_EQ(requests[i].history_event_filter_type(),
              enums_v1::HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT);
  }
}

TEST_F(ClientTransportTest, UnavailableIsRetriedWithTheSameRequestId) {
  RecordingService service;
  service.failures = 2;
  ASSERT_OK_AND_ASSIGN(auto server, StartServer(&service, grpc::InsecureServerCredentials()));
  ASSERT_OK_AND_ASSIGN(auto client, PlainClient(*server, FastRetry(0)));
  ASSERT_OK_AND_ASSIGN(WorkflowHandle handle,
                       client->StartWorkflow({.id = "wf", .type = "T", .task_queue = "q"},
                                             std::string("arg")));
  auto ids = service.request_ids();
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_FALSE(ids[0].empty());
  EXPECT_EQ(ids[1], ids[0]);
  EXPECT_EQ(ids[2], ids[0]);
  EXPECT_EQ(handle.run_id, "run-" + ids[0]);
  EXPECT_EQ(service.metadata("StartWorkflowExecution")["temporal-namespace"], "transport-ns");

  // A second logical start gets a new request id.
  ASSERT_OK(client->StartWorkflow({.id = "wf", .type = "T", .task_queue = "q"}));
  ids = service.request_ids();
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_NE(ids[3], ids[0]);
}

TEST_F(ClientTransportTest, GivesUpAfterTheAttemptLimitAndSaysSo) {
  RecordingService service;
  service.failures = 100;
  service.fail_code = grpc::StatusCode::RESOURCE_EXHAUSTED;
  ASSERT_OK_AND_ASSIGN(auto server, StartServer(&service, grpc::InsecureServerCredentials()));
  ASSERT_OK_AND_ASSIGN(auto client, PlainClient(*server, FastRetry(4)));
  auto started = client->StartWorkflow({.id = "wf", .type = "T", .task_queue = "q"});
  ASSERT_TRUE(started.status().IsCapacityError()) << started.status().ToString();
  EXPECT_EQ(GrpcCodeOf(started.status()), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(started.status().message().find("after 4 attempts"), std::string::npos)
      << started.status().ToString();
  EXPECT_EQ(service.request_ids().size(), 4u);
}

TEST_F(ClientTransportTest, NonRetryableCodesFailAtOnce) {
  RecordingService service;
  service.failures = 100;
  service.fail_code = grpc::StatusCode::INVALID_ARGUMENT;
  ASSERT_OK_AND_ASSIGN(auto server, StartServer(&service, grpc::InsecureServerCredentials()));
  ASSERT_OK_AND_ASSIGN(auto client, PlainClient(*server, FastRetry(5)));
  auto started = client->StartWorkflow({.id = "wf", .type = "T", .task_queue = "q"});
  ASSERT_TRUE(started.status().IsInvalid()) << started.status().ToString();
  EXPECT_NE(started.status().message().find("injected failure"), std::string::npos);
  EXPECT_EQ(service.request_ids().size(), 1u);
}

TEST_F(ClientTransportTest, InternalIsRetriedOnlyWithoutErrorDifferentiation) {
  // Returns how many start attempts reached a server that always answers
  // INTERNAL and reports `differentiation` as its capability.
  auto attempts_with = [&](bool differentiation) -> arrow::Result<size_t> {
    RecordingService service;
    service.failures = 100;
    service.fail_code = grpc::StatusCode::INTERNAL;
    service.internal_error_differentiation = differentiation;
    ARROW_ASSIGN_OR_RAISE(auto server, StartServer(&service, grpc::InsecureServerCredentials()));
    ARROW_ASSIGN_OR_RAISE(auto client, PlainClient(*server, FastRetry(3)));
    auto started = client->StartWorkflow({.id = "wf", .type = "T", .task_queue = "q"});
    if (GrpcCodeOf(started.status()) != grpc::StatusCode::INTERNAL) {
      return arrow::Status::Invalid("expected INTERNAL, got ", started.status().ToString());
    }
    if (service.metadata("GetSystemInfo").empty()) {
      return arrow::Status::Invalid("the client never asked for the server's capabilities");
    }
    return service.request_ids().size();
  };
  ASSERT_OK_AND_ASSIGN(size_t transient, attempts_with(false));
  EXPECT_EQ(transient, 3u);
  ASSERT_OK_AND_ASSIGN(size_t final_errors, attempts_with(true));
  EXPECT_EQ(final_errors, 1u);
}

}  // namespace
}  // namespace flightdeck::temporal
