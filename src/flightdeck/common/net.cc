#include "flightdeck/common/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <arrow/status.h>

namespace flightdeck {
namespace {

arrow::Result<sockaddr_in> MakeAddress(const std::string& host, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const std::string ip = host == "localhost" ? "127.0.0.1" : host;
  if (::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    return arrow::Status::Invalid("not an IPv4 address: ", host);
  }
  return addr;
}

}  // namespace

arrow::Result<int> FindFreeTcpPort(const std::string& host) {
  ARROW_ASSIGN_OR_RAISE(sockaddr_in addr, MakeAddress(host, 0));
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return arrow::Status::IOError("socket: ", std::strerror(errno));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    ::close(fd);
    return arrow::Status::IOError("bind ", host, ":0: ", std::strerror(err));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

bool TcpPortAcceptsConnections(const std::string& host, int port) {
  auto addr = MakeAddress(host, port);
  if (!addr.ok()) return false;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&*addr), sizeof(sockaddr_in)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace flightdeck
