#include "flightdeck/common/net.h"

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

TEST(NetTest, RejectsHostThatIsNotAnAddress) {
  ASSERT_RAISES(Invalid, FindFreeTcpPort("not-an-ip").status());
}

}  // namespace
}  // namespace flightdeck
