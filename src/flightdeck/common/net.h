// flightdeck/common/net.h: small network helpers for servers and tests.
#pragma once

#include <string>

#include <arrow/result.h>

namespace flightdeck {

/// Asks the kernel for a TCP port that is free on `host` (an IPv4 address
/// or "localhost"; Invalid otherwise) and reserves it for a child server: the
/// port is left with a closed connection in TIME_WAIT (60 s on Linux), during
/// which no bind to port 0 on this machine (another test's server, the
/// `temporal` CLI picking its own ports) is handed it. So the server that is
/// given the port must bind it with SO_REUSEADDR, as Go's net package and
/// gRPC do; a plain bind fails with "address already in use" until the
/// reservation lapses. A process that binds this port explicitly can still
/// take it first: prefer binding port 0 directly where the server allows it.
/// IOError when a socket call fails. Thread-safe.
arrow::Result<int> FindFreeTcpPort(const std::string& host = "127.0.0.1");

/// True when a TCP connection to host:port is accepted.
bool TcpPortAcceptsConnections(const std::string& host, int port);

}  // namespace flightdeck
