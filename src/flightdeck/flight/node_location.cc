// Where a data node listens and what it advertises, and whether its
// options expose it safely.
#include <unistd.h>

#include <cctype>
#include <optional>
#include <string>

#include "flightdeck/flight/data_node.h"

namespace flightdeck::flight {

namespace fl = arrow::flight;

arrow::Result<fl::Location> AdvertisedLocation(const DataNodeOptions& options, int bound_port) {
  std::string host;
  int port = bound_port;
  std::optional<bool> scheme_tls;
  if (options.advertise.empty()) {
    host = options.host;
    if (host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]") {
      char name[256] = {};
      if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') {
        return arrow::Status::IOError("cannot read this machine's host name for the "
                                      "advertised address; pass --advertise HOST");
      }
      host = name;
    }
  } else {
    // A scheme names how clients reach the node when that differs from how
    // it serves: grpc+tls:// for a node behind a TLS-terminating proxy.
    std::string text = options.advertise;
    auto bad = [&](const std::string& why) {
      return arrow::Status::Invalid("--advertise '", options.advertise, "': ", why,
                                    " (expected HOST, HOST:PORT or [IPv6]:PORT, optionally after grpc+tls:// or "
                                    "grpc+tcp://)");
    };
    for (const char* prefix : {"grpc+tls://", "grpc+tcp://"}) {
      if (text.rfind(prefix, 0) == 0) {
        scheme_tls = std::string(prefix) == "grpc+tls://";
        text = text.substr(std::string(prefix).size());
      }
    }
    if (text.empty()) return bad("empty host");
    std::string port_text;
    if (text.front() == '[') {
      const size_t close = text.find(']');
      if (close == std::string::npos) return bad("no ']' after the IPv6 address");
      host = text.substr(0, close + 1);
      if (close + 1 < text.size()) {
        if (text[close + 1] != ':') return bad("expected ':' after ']'");
        port_text = text.substr(close + 2);
        if (port_text.empty()) return bad("empty port");
      }
    } else {
      const size_t colon = text.find(':');
      if (colon != std::string::npos && text.find(':', colon + 1) != std::string::npos) {
        return bad("an IPv6 address needs brackets");
      }
      host = text.substr(0, colon);
      if (colon != std::string::npos) {
        port_text = text.substr(colon + 1);
        if (port_text.empty()) return bad("empty port");
      }
    }
    if (host.empty() || host == "[]") return bad("empty host");
    for (char c : host) {
      if (std::isspace(static_cast<unsigned char>(c)) || c == '/' || c == '@') {
        return bad("the host has a character not allowed in a host name");
      }
    }
    if (!port_text.empty()) {
      port = 0;
      for (char c : port_text) {
        if (c < '0' || c > '9' || port > 65535) return bad("the port is not a number");
        port = port * 10 + (c - '0');
      }
      if (port < 1 || port > 65535) return bad("the port is not within 1-65535");
    }
  }
  if (scheme_tls.value_or(options.tls.enabled())) return fl::Location::ForGrpcTls(host, port);
  return fl::Location::ForGrpcTcp(host, port);
}

// A node reachable from other machines needs TLS and a way to tell its
// callers apart; anything else only with --insecure.
arrow::Status CheckExposure(const DataNodeOptions& options) {
  if (IsLoopbackHost(options.host) || options.insecure) return arrow::Status::OK();
  if (!options.tls.enabled()) {
    return arrow::Status::Invalid("refusing to serve ", options.host,
                                  " in plaintext: anyone on the network could read and change every "
                                  "dataset. Give --tls-cert and --tls-key (and --auth-config or --tls-client-ca), or "
                                  "bind 127.0.0.1, or pass --insecure to accept the risk");
  }
  if (!options.tls.mutual() && !options.auth) {
    return arrow::Status::Invalid("refusing to serve ", options.host,
                                  " without client authentication: anyone who reaches the port could "
                                  "read and change every dataset. Give --auth-config or --tls-client-ca "
                                  "(mutual TLS), or bind 127.0.0.1, or pass --insecure to accept the risk");
  }
  return arrow::Status::OK();
}

}  // namespace flightdeck::flight
