// The embedded Temporal dev server, spoken to with the generated
// WorkflowService stub: start-up, namespace answers, persistence across a
// restart on the same SQLite file, and clean stop.
#include "flightdeck/temporal/testing/embedded_temporal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "flightdeck/common/net.h"
#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/client/grpc_status.h"

namespace flightdeck::temporal {
namespace {

namespace wfs = ::temporal::api::workflowservice::v1;
namespace fs = std::filesystem;

arrow::Result<wfs::DescribeNamespaceResponse> DescribeNamespace(Connection& conn,
                                                                const std::string& name) {
  wfs::DescribeNamespaceRequest request;
  request.set_namespace_(name);
  wfs::DescribeNamespaceResponse response;
  auto context = conn.NewContext(name);
  ARROW_RETURN_NOT_OK(FromGrpcStatus(
      conn.workflow_service().DescribeNamespace(context.get(), request, &response),
      "DescribeNamespace"));
  return response;
}

class EmbeddedTemporalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_dir_ = ::flightdeck::testing::FreshTestDir("fd-embedded-temporal");
  }
  void TearDown() override { fs::remove_all(state_dir_); }

  fs::path state_dir_;
};

TEST_F(EmbeddedTemporalTest, AnswersSystemInfoAndDefaultNamespace) {
  ASSERT_OK_AND_ASSIGN(auto server,
                       EmbeddedTemporal::Start({.state_dir = state_dir_.string()}));
  EXPECT_TRUE(server->Running());
  EXPECT_EQ(server->target(), "127.0.0.1:" + std::to_string(server->port()));
  EXPECT_TRUE(fs::exists(server->db_path())) << server->db_path();

  ASSERT_OK_AND_ASSIGN(auto conn, Connection::Connect({.target = server->target()}));
  wfs::GetSystemInfoRequest request;
  wfs::GetSystemInfoResponse info;
  auto context = conn->NewContext("");
  grpc::Status status = conn->workflow_service().GetSystemInfo(context.get(), request, &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(info.server_version().empty());
  EXPECT_TRUE(info.capabilities().signal_and_query_header());

  ASSERT_OK_AND_ASSIGN(auto ns, DescribeNamespace(*conn, "default"));
  EXPECT_EQ(ns.namespace_info().name(), "default");
  EXPECT_EQ(ns.namespace_info().state(), ::temporal::api::enums::v1::NAMESPACE_STATE_REGISTERED);
  EXPECT_FALSE(ns.namespace_info().id().empty());

  auto missing = DescribeNamespace(*conn, "flightdeck-no-such-namespace");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(GrpcCodeOf(missing.status()), grpc::StatusCode::NOT_FOUND)
      << missing.status().ToString();

  // The HTTP API and metrics listen on the ports picked for them.
  const std::set<int> ports = {server->port(), server->http_port(), server->metrics_port()};
  EXPECT_EQ(ports.size(), 3u);
  for (int port : {server->http_port(), server->metrics_port()}) {
    EXPECT_TRUE(::flightdeck::testing::WaitFor(
        [&] { return TcpPortAcceptsConnections("127.0.0.1", port); }, std::chrono::seconds(30)))
        << port;
  }

  ASSERT_OK(server->Stop());
  EXPECT_FALSE(server->Running());
  for (int port : ports) EXPECT_FALSE(TcpPortAcceptsConnections("127.0.0.1", port)) << port;
  ASSERT_OK(server->Stop());  // idempotent
}

TEST_F(EmbeddedTemporalTest, StateSurvivesRestartOnTheSameFile) {
  std::string first_id;
  {
    ASSERT_OK_AND_ASSIGN(auto server, EmbeddedTemporal::Start({.state_dir = state_dir_.string(),
                                                               .namespaces = {"fd-persisted"}}));
    ASSERT_OK_AND_ASSIGN(auto conn, Connection::Connect({.target = server->target()}));
    ASSERT_OK_AND_ASSIGN(auto ns, DescribeNamespace(*conn, "fd-persisted"));
    first_id = ns.namespace_info().id();
    ASSERT_OK(server->Kill());  // a crash, not a clean stop
  }
  ASSERT_OK_AND_ASSIGN(auto server,
                       EmbeddedTemporal::Start({.state_dir = state_dir_.string()}));
  ASSERT_OK_AND_ASSIGN(auto conn, Connection::Connect({.target = server->target()}));
  ASSERT_OK_AND_ASSIGN(auto ns, DescribeNamespace(*conn, "fd-persisted"));
  EXPECT_EQ(ns.namespace_info().id(), first_id);
}

TEST_F(EmbeddedTemporalTest, MissingBinaryFailsClearly) {
  auto server = EmbeddedTemporal::Start(
      {.temporal_binary = "/nonexistent/temporal", .state_dir = state_dir_.string()});
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("/nonexistent/temporal"), std::string::npos)
      << server.status().ToString();
}

TEST_F(EmbeddedTemporalTest, ServerThatExitsAtStartupIsReportedWithItsLog) {
  // A plain listening socket (not gRPC) holds the port the server is told to
  // use, its gRPC port and then its HTTP port: the dev server cannot bind it
  // and exits, and probes against the socket never succeed.
  for (int EmbeddedTemporalOptions::*taken :
       {&EmbeddedTemporalOptions::port, &EmbeddedTemporalOptions::http_port}) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(fd, 16), 0);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    EmbeddedTemporalOptions options{.state_dir = state_dir_.string(),
                                    .startup_timeout = std::chrono::seconds(60)};
    options.*taken = ntohs(addr.sin_port);
    auto server = EmbeddedTemporal::Start(options);
    ::close(fd);
    ASSERT_FALSE(server.ok());
    EXPECT_NE(server.status().message().find("exited during start-up"), std::string::npos)
        << server.status().ToString();
    // The quoted log names the port.
    EXPECT_NE(server.status().message().find(std::to_string(options.*taken)), std::string::npos)
        << server.status().ToString();
  }
}

}  // namespace
}  // namespace flightdeck::temporal
