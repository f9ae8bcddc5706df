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

// Owns a socket descriptor.
struct Socket {
  explicit Socket(int fd) : fd(fd) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { Close(); }
  void Close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int fd;
};

}  // namespace

arrow::Result<int> FindFreeTcpPort(const std::string& host) {
  ARROW_ASSIGN_OR_RAISE(sockaddr_in addr, MakeAddress(host, 0));
  const auto failed = [&host](const char* call) {
    return arrow::Status::IOError("cannot reserve a free TCP port on ", host, ": ", call, ": ",
                                  std::strerror(errno));
  };
  // The listener sets SO_REUSEADDR so that the socket left in TIME_WAIT
  // (which inherits it) lets a server with SO_REUSEADDR bind the port.
  Socket listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int on = 1;
  if (listener.fd < 0) return failed("socket");
  if (::setsockopt(listener.fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0) {
    return failed("setsockopt");
  }
  if (::bind(listener.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return failed("bind");
  }
  if (::listen(listener.fd, 1) != 0) return failed("listen");
  socklen_t len = sizeof(addr);
  if (::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return failed("getsockname");
  }
  // Linux hands out ports for bind(0) at random, so a port only released
  // could go to the next caller at once. A connection that the accepting side
  // closes first leaves that side in TIME_WAIT, holding the port against
  // bind(0) but not against SO_REUSEADDR (the `temporal` CLI reserves its own
  // ports the same way).
  Socket client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (client.fd < 0) return failed("socket");
  if (::connect(client.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return failed("connect");
  }
  Socket accepted(::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC));
  if (accepted.fd < 0) return failed("accept");
  accepted.Close();  // first: the accepting side takes the TIME_WAIT
  client.Close();
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
