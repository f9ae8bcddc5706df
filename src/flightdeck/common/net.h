// flightdeck/common/net.h: small network helpers for servers and tests.
#pragma once

#include <string>

#include <arrow/result.h>

namespace flightdeck {

/// Asks the kernel for a TCP port that is free on `host` right now. Another
/// process may take it before the caller binds it: prefer binding port 0
/// directly where the server allows it.
arrow::Result<int> FindFreeTcpPort(const std::string& host = "127.0.0.1");

/// True when a TCP connection to host:port is accepted.
bool TcpPortAcceptsConnections(const std::string& host, int port);

}  // namespace flightdeck
