// flightdeck/cli/temporal_options.h: how every command that talks to
// Temporal finds it, the way the official `temporal` CLI and SDKs do, so a
// user's existing profile works unchanged:
//
//   1. the profile (--profile, TEMPORAL_PROFILE, else "default") of the TOML
//      config file (TEMPORAL_CONFIG_FILE, else
//      ~/.config/temporalio/temporal.toml), when there is one:
//        [profile.default]
//        address = "my-ns.a1b2c.tmprl.cloud:7233"
//        namespace = "my-ns.a1b2c"
//        api_key = "..."
//        [profile.default.tls]
//        client_cert_path = "..."  client_key_path = "..."
//        server_ca_cert_path = "..."  server_name = "..."  disabled = false
//   2. over it the environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
//      TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH,
//      TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH,
//      TEMPORAL_TLS_SERVER_NAME;
//   3. over both the flags: --address (--target kept as its alias),
//      --namespace, --api-key, --tls, --tls-cert-path, --tls-key-path,
//      --tls-ca-path, --tls-server-name.
// Payloads are encrypted with --codec-key-file (FLIGHTDECK_CODEC_KEY_FILE):
// workflow inputs, results, activity inputs and results never reach
// Temporal in clear; the Web UI shows them through `flightdeck codec-server`.
// TLS is on when asked for (--tls, TEMPORAL_TLS=true, a profile's tls
// table), when any TLS file is given, or with an API key (as in the SDKs).
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <arrow/result.h>

#include "flightdeck/temporal/client/client.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/converter/payload_codec.h"

namespace flightdeck::cli {

/// The flags as given (empty: not given).
struct TemporalFlags {
  std::string address;
  std::string ns;
  std::string api_key;
  std::string tls;  // "true"/"false" or empty
  std::string tls_cert_path;
  std::string tls_key_path;
  std::string tls_ca_path;
  std::string tls_server_name;
  std::string profile;
  std::string codec_key_file;
};

/// Where Temporal is and how to reach it, resolved.
struct TemporalTarget {
  temporal::ConnectionOptions connection;
  std::string ns = "default";
  /// The payload codecs of clients and workers alike: with
  /// --codec-key-file (FLIGHTDECK_CODEC_KEY_FILE), AES-256-GCM encryption
  /// as Temporal's Python samples do it (temporal/converter/encryption_codec.h).
  temporal::CodecChain codecs;
};

/// Adds the flags above to `cmd`.
std::shared_ptr<TemporalFlags> AddTemporalOptions(CLI::App* cmd);

/// Profile, then environment, then flags. Invalid naming the setting for a
/// profile that does not exist, a file that does not parse, an unreadable
/// TLS file or half a client certificate pair.
arrow::Result<TemporalTarget> ResolveTemporal(const TemporalFlags& flags);

/// ResolveTemporal for a command: a bad setting ends it with exit code 2.
TemporalTarget ResolveTemporalOrExit(const TemporalFlags& flags);

/// A client of `target` (its namespace and payload codecs); a command that
/// cannot connect ends with exit code 1.
std::shared_ptr<temporal::Client> ConnectClientOrExit(const TemporalTarget& target);

}  // namespace flightdeck::cli
