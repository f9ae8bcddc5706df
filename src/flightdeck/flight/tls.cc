#include "flightdeck/flight/tls.h"

#include <fstream>
#include <sstream>

namespace flightdeck::flight {

namespace fl = arrow::flight;

arrow::Result<std::string> ReadPemFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return arrow::Status::IOError(what, ": cannot read '", path, "'");
  std::stringstream text;
  text << in.rdbuf();
  std::string pem = text.str();
  if (pem.find("-----BEGIN ") == std::string::npos) {
    return arrow::Status::IOError(what, ": '", path, "' holds no PEM block");
  }
  return pem;
}

arrow::Status ApplyServerTls(const ServerTls& tls, fl::FlightServerOptions* options) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return arrow::Status::Invalid("--tls-cert and --tls-key go together");
  }
  if (!tls.enabled()) {
    if (tls.mutual()) return arrow::Status::Invalid("--tls-client-ca needs --tls-cert and --tls-key");
    return arrow::Status::OK();
  }
  fl::CertKeyPair pair;
  ARROW_ASSIGN_OR_RAISE(pair.pem_cert, ReadPemFile(tls.cert_file, "--tls-cert"));
  ARROW_ASSIGN_OR_RAISE(pair.pem_key, ReadPemFile(tls.key_file, "--tls-key"));
  options->tls_certificates = {std::move(pair)};
  if (tls.mutual()) {
    ARROW_ASSIGN_OR_RAISE(options->root_certificates, ReadPemFile(tls.client_ca_file, "--tls-client-ca"));
    options->verify_client = true;
  }
  return arrow::Status::OK();
}

arrow::Status ApplyClientTls(const ClientTls& tls, fl::FlightClientOptions* options) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return arrow::Status::Invalid("--tls-cert and --tls-key go together");
  }
  if (!tls.ca_file.empty()) {
    ARROW_ASSIGN_OR_RAISE(options->tls_root_certs, ReadPemFile(tls.ca_file, "--tls-ca"));
  }
  if (!tls.cert_file.empty()) {
    ARROW_ASSIGN_OR_RAISE(options->cert_chain, ReadPemFile(tls.cert_file, "--tls-cert"));
    ARROW_ASSIGN_OR_RAISE(options->private_key, ReadPemFile(tls.key_file, "--tls-key"));
  }
  options->override_hostname = tls.server_name;
  return arrow::Status::OK();
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

}  // namespace flightdeck::flight
