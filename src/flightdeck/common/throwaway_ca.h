// flightdeck/common/throwaway_ca.h: a certificate authority made at run
// time (OpenSSL), and a server certificate it signs, for demos and tests
// that run TLS on one machine. Never for anything that matters: the CA key
// is thrown away with the process.
#pragma once

#include <string>
#include <vector>

#include <arrow/result.h>

namespace flightdeck {

struct ThrowawayCertificates {
  std::string ca_pem;    // the CA's certificate: what clients trust
  std::string cert_pem;  // the server's certificate, signed by the CA
  std::string key_pem;   // the server's private key (P-256)
};

/// A fresh P-256 CA and a server certificate for `dns_names` and `ips`
/// (subjectAltName), valid for a day.
arrow::Result<ThrowawayCertificates> MakeThrowawayCertificates(const std::vector<std::string>& dns_names,
                                                               const std::vector<std::string>& ips);

}  // namespace flightdeck
