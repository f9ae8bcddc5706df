#include "flightdeck/common/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <set>

#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"

namespace flightdeck {
namespace {

TEST(NetTest, FreePortIsFreeAndValid) {
  ASSERT_OK_AND_ASSIGN(int port, FindFreeTcpPort());
  EXPECT_GT(port, 0);
  EXPECT_LT(port, 65536);
  EXPECT_FALSE(TcpPortAcceptsConnections("127.0.0.1", port));
}

// A socket bound to 127.0.0.1:port, with or without SO_REUSEADDR; errno of
// the bind, 0 on success (the socket is closed either way).
int BindLoopback(int port, bool reuse_address, bool then_listen) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  const int on = 1;
  if (reuse_address) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int err = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      (then_listen && ::listen(fd, 1) != 0)) {
    err = errno;
  }
  ::close(fd);
  return err;
}

TEST(NetTest, FreePortIsReservedForServersThatReuseTheAddress) {
  ASSERT_OK_AND_ASSIGN(int port, FindFreeTcpPort());
  // Reserved: a plain bind (what bind(0) would have to do) is refused...
  EXPECT_EQ(BindLoopback(port, /*reuse_address=*/false, /*then_listen=*/false), EADDRINUSE);
  // ...while a server with SO_REUSEADDR (Go, gRPC) binds and listens.
  EXPECT_EQ(BindLoopback(port, /*reuse_address=*/true, /*then_listen=*/true), 0);
}

TEST(NetTest, FreePortsAreNotHandedOutTwice) {
  std::set<int> ports;
  for (int i = 0; i < 200; ++i) {
    ASSERT_OK_AND_ASSIGN(int port, FindFreeTcpPort());
    EXPECT_TRUE(ports.insert(port).second) << port << " handed out twice";
  }
}

TEST(NetTest, RejectsHostThatIsNotAnAddress) {
  ASSERT_RAISES(Invalid, FindFreeTcpPort("not-an-ip").status());
}

}  // namespace
}  // namespace flightdeck
