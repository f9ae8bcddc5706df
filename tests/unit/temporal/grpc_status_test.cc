#include "flightdeck/temporal/client/grpc_status.h"

#include <gtest/gtest.h>

#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/common/testing/gtest_util.h"

namespace flightdeck::temporal {
namespace {

TEST(GrpcStatusTest, KeepsTheGrpcCodeAndNamesTheRpc) {
  arrow::Status st = FromGrpcStatus(
      grpc::Status(grpc::StatusCode::NOT_FOUND, "namespace nope not found", "details"),
      "DescribeNamespace");
  EXPECT_TRUE(st.IsKeyError());
  EXPECT_EQ(GrpcCodeOf(st), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(st.message().find("DescribeNamespace"), std::string::npos);
  EXPECT_NE(st.message().find("NOT_FOUND"), std::string::npos);
  EXPECT_NE(st.message().find("namespace nope not found"), std::string::npos);
  auto* detail = static_cast<const GrpcStatusDetail*>(st.detail().get());
  EXPECT_EQ(detail->error_details(), "details");
}

TEST(GrpcStatusTest, MapsCodesToNearestArrowCode) {
  auto convert = [](grpc::StatusCode code) { return FromGrpcStatus(grpc::Status(code, "x"), "Rpc"); };
  EXPECT_TRUE(convert(grpc::StatusCode::INVALID_ARGUMENT).IsInvalid());
  EXPECT_TRUE(convert(grpc::StatusCode::ALREADY_EXISTS).IsAlreadyExists());
  EXPECT_TRUE(convert(grpc::StatusCode::RESOURCE_EXHAUSTED).IsCapacityError());
  EXPECT_TRUE(convert(grpc::StatusCode::CANCELLED).IsCancelled());
  EXPECT_TRUE(convert(grpc::StatusCode::UNIMPLEMENTED).IsNotImplemented());
  EXPECT_TRUE(convert(grpc::StatusCode::UNAVAILABLE).IsIOError());
  EXPECT_EQ(GrpcCodeOf(convert(grpc::StatusCode::UNAVAILABLE)), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK, "Rpc").ok());
  EXPECT_EQ(GrpcCodeOf(arrow::Status::Invalid("plain")), std::nullopt);
}

TEST(ConnectionTest, RejectsInconsistentOptions) {
  ASSERT_RAISES(Invalid, Connection::Connect({.target = ""}).status());
  ASSERT_RAISES(Invalid, Connection::Connect({.api_key = "secret"}).status());
  TlsOptions half_mtls;
  half_mtls.client_cert_pem = "-----BEGIN CERTIFICATE-----";
  ASSERT_RAISES(Invalid, Connection::Connect({.tls = half_mtls}).status());
}

TEST(ConnectionTest, UnreachableServerFailsWithinTheDeadline) {
  ASSERT_OK_AND_ASSIGN(auto conn, Connection::Connect({.target = "127.0.0.1:1"}));
  EXPECT_FALSE(conn->identity().empty());
  arrow::Status st = conn->WaitForReady(std::chrono::milliseconds(300));
  ASSERT_RAISES(IOError, st);
  EXPECT_NE(st.message().find("127.0.0.1:1"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace flightdeck::temporal
