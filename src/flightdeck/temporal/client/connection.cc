#include "flightdeck/temporal/client/connection.h"

#include <unistd.h>

#include <thread>

#include <grpcpp/grpcpp.h>

#include "flightdeck/temporal/client/grpc_status.h"
#include "flightdeck/temporal/client/request_metrics_internal.h"

namespace flightdeck::temporal {

namespace wfs = ::temporal::api::workflowservice::v1;

struct Connection::Impl {
  ConnectionOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<wfs::WorkflowService::Stub> stub;
};

std::string DefaultIdentity() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return std::to_string(::getpid()) + "@" + host;
}

arrow::Result<std::shared_ptr<Connection>> Connection::Connect(ConnectionOptions options) {
  if (options.target.empty()) return arrow::Status::Invalid("Temporal target is empty");
  if (!options.api_key.empty() && !options.tls) {
    return arrow::Status::Invalid("an API key needs TLS (target ", options.target, ")");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(128 * 1024 * 1024);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 15000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // A server that restarts is dialled again at most a second apart: gRPC's
  // default back-off (1 s, then x1.6 up to two minutes) kept a worker, and a
  // start-up probe, away from a server back after 0.2 s for 5 s.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  if (options.tls) {
    const TlsOptions& tls = *options.tls;
    if (tls.client_cert_pem.empty() != tls.client_private_key_pem.empty()) {
      return arrow::Status::Invalid("mTLS needs both a client certificate and its key");
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = tls.server_root_ca_pem;
    ssl.pem_cert_chain = tls.client_cert_pem;
    ssl.pem_private_key = tls.client_private_key_pem;
    credentials = grpc::SslCredentials(ssl);
    if (!tls.server_name_override.empty()) {
      args.SetSslTargetNameOverride(tls.server_name_override);
    }
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  if (options.identity.empty()) options.identity = DefaultIdentity();
  auto impl = std::make_unique<Impl>();
  impl->channel = options.metrics ? grpc::experimental::CreateCustomChannelWithInterceptors(
                                        options.target, credentials, args,
                                        internal::RequestMetricsInterceptors(options.metrics))
                                  : grpc::CreateCustomChannel(options.target, credentials, args);
  impl->stub = wfs::WorkflowService::NewStub(impl->channel);
  impl->options = std::move(options);
  return std::shared_ptr<Connection>(new Connection(std::move(impl)));
}

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::~Connection() = default;

const ConnectionOptions& Connection::options() const { return impl_->options; }
const std::string& Connection::identity() const { return impl_->options.identity; }

wfs::WorkflowService::Stub& Connection::workflow_service() { return *impl_->stub; }

std::unique_ptr<grpc::ClientContext> Connection::NewContext(
    std::string_view ns, std::chrono::milliseconds timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("client-name", kSdkName);
  context->AddMetadata("client-version", kSdkVersion);
  if (!ns.empty()) context->AddMetadata("temporal-namespace", std::string(ns));
  if (!impl_->options.api_key.empty()) {
    context->AddMetadata("authorization", "Bearer " + impl_->options.api_key);
  }
  if (timeout.count() == 0) timeout = impl_->options.rpc_timeout;
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  return context;
}

arrow::Result<wfs::GetSystemInfoResponse> Connection::GetSystemInfo() {
  wfs::GetSystemInfoRequest request;
  wfs::GetSystemInfoResponse response;
  auto context = NewContext("");
  ARROW_RETURN_NOT_OK(FromGrpcStatus(
      impl_->stub->GetSystemInfo(context.get(), request, &response), "GetSystemInfo"));
  return response;
}

arrow::Status Connection::WaitForReady(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  arrow::Status last;
  auto pause = std::chrono::milliseconds(20);
  while (true) {
    wfs::GetSystemInfoRequest request;
    wfs::GetSystemInfoResponse response;
    auto context = NewContext("", std::chrono::milliseconds(2000));
    last = FromGrpcStatus(impl_->stub->GetSystemInfo(context.get(), request, &response),
                          "GetSystemInfo");
    if (last.ok()) return last;
    if (std::chrono::steady_clock::now() + pause >= deadline) break;
    std::this_thread::sleep_for(pause);  // backoff between attempts, not synchronization
    pause = std::min(pause * 2, std::chrono::milliseconds(500));
  }
  return arrow::Status::IOError("Temporal at ", impl_->options.target, " not ready after ",
                                timeout.count(), " ms: ", last.message());
}

}  // namespace flightdeck::temporal
