#include "flightdeck/cli/temporal_options.h"

#include <cstdlib>
#include <filesystem>

#include <toml++/toml.h>

#include "flightdeck/cli/commands.h"
#include "flightdeck/common/file_encryption.h"
#include "flightdeck/flight/tls.h"
#include "flightdeck/temporal/converter/encryption_codec.h"

namespace flightdeck::cli {

namespace {

// The settings as strings, filled layer by layer.
struct Settings {
  std::string address = "127.0.0.1:7233";
  std::string ns = "default";
  std::string api_key;
  std::string tls;  // "true"/"false"/""
  std::string cert, key, ca, server_name;
};

void Set(std::string& field, const std::string& value) {
  if (!value.empty()) field = value;
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

std::string ConfigFile() {
  if (auto file = Env("TEMPORAL_CONFIG_FILE"); !file.empty()) return file;
  if (auto xdg = Env("XDG_CONFIG_HOME"); !xdg.empty()) return xdg + "/temporalio/temporal.toml";
  if (auto home = Env("HOME"); !home.empty()) return home + "/.config/temporalio/temporal.toml";
  return "";
}

arrow::Status ApplyProfile(const std::string& name, bool named, Settings* settings) {
  const std::string file = ConfigFile();
  std::error_code ec;
  if (file.empty() || !std::filesystem::exists(file, ec)) {
    if (named) return arrow::Status::Invalid("--profile ", name, ": no Temporal config file at '", file, "'");
    return arrow::Status::OK();
  }
  toml::table root;
  try {
    root = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    return arrow::Status::Invalid("Temporal config file ", file, ":", e.source().begin.line, ":",
                                  e.source().begin.column, ": ", std::string(e.description()));
  }
  const toml::table* profile = root["profile"][name].as_table();
  if (profile == nullptr) {
    if (named) return arrow::Status::Invalid("--profile ", name, ": no [profile.", name, "] in ", file);
    return arrow::Status::OK();
  }
  auto text = [&](const toml::node_view<const toml::node>& node) { return node.value_or(std::string()); };
  const toml::node_view<const toml::node> p{profile};
  Set(settings->address, text(p["address"]));
  Set(settings->ns, text(p["namespace"]));
  Set(settings->api_key, text(p["api_key"]));
  if (const toml::table* tls = profile->get_as<toml::table>("tls")) {
    const toml::node_view<const toml::node> t{tls};
    settings->tls = t["disabled"].value_or(false) ? "false" : "true";
    Set(settings->cert, text(t["client_cert_path"]));
    Set(settings->key, text(t["client_key_path"]));
    Set(settings->ca, text(t["server_ca_cert_path"]));
    Set(settings->server_name, text(t["server_name"]));
  }
  return arrow::Status::OK();
}

}  // namespace

std::shared_ptr<TemporalFlags> AddTemporalOptions(CLI::App* cmd) {
  auto flags = std::make_shared<TemporalFlags>();
  cmd->add_option("--address,--target", flags->address,
                  "Temporal frontend host:port (default 127.0.0.1:7233, or TEMPORAL_ADDRESS, or the profile's)");
  cmd->add_option("-n,--namespace", flags->ns, "Temporal namespace (default: default, or TEMPORAL_NAMESPACE)");
  cmd->add_option("--api-key", flags->api_key,
                  "Temporal API key, sent as a bearer token over TLS (prefer TEMPORAL_API_KEY: flags show in "
                  "the process list)");
  cmd->add_option("--tls", flags->tls, "Connect to Temporal over TLS: true or false (TEMPORAL_TLS)")
      ->check(CLI::IsMember({"true", "false"}));
  cmd->add_option("--tls-cert-path", flags->tls_cert_path, "Client certificate for Temporal (mTLS)");
  cmd->add_option("--tls-key-path", flags->tls_key_path, "Private key of --tls-cert-path");
  cmd->add_option("--tls-ca-path", flags->tls_ca_path, "CA that signed Temporal's certificate");
  cmd->add_option("--tls-server-name", flags->tls_server_name,
                  "Name to check Temporal's certificate against (for data nodes, see --tls-*)");
  cmd->add_option("--profile", flags->profile, "Profile of the Temporal config file (TEMPORAL_PROFILE)");
  cmd->add_option("--codec-key-file", flags->codec_key_file,
                  "Encrypt workflow and activity payloads (AES-256-GCM, the Temporal Python samples' "
                  "encryption codec) with the newest key of this key file (`flightdeck keys add`); "
                  "FLIGHTDECK_CODEC_KEY_FILE");
  return flags;
}

arrow::Result<TemporalTarget> ResolveTemporal(const TemporalFlags& flags) {
  Settings settings;
  std::string profile = flags.profile.empty() ? Env("TEMPORAL_PROFILE") : flags.profile;
  const bool named = !profile.empty();
  ARROW_RETURN_NOT_OK(ApplyProfile(named ? profile : "default", named, &settings));
  Set(settings.address, Env("TEMPORAL_ADDRESS"));
  Set(settings.ns, Env("TEMPORAL_NAMESPACE"));
  Set(settings.api_key, Env("TEMPORAL_API_KEY"));
  Set(settings.tls, Env("TEMPORAL_TLS"));
  Set(settings.cert, Env("TEMPORAL_TLS_CLIENT_CERT_PATH"));
  Set(settings.key, Env("TEMPORAL_TLS_CLIENT_KEY_PATH"));
  Set(settings.ca, Env("TEMPORAL_TLS_SERVER_CA_CERT_PATH"));
  Set(settings.server_name, Env("TEMPORAL_TLS_SERVER_NAME"));
  Set(settings.address, flags.address);
  Set(settings.ns, flags.ns);
  Set(settings.api_key, flags.api_key);
  Set(settings.tls, flags.tls);
  Set(settings.cert, flags.tls_cert_path);
  Set(settings.key, flags.tls_key_path);
  Set(settings.ca, flags.tls_ca_path);
  Set(settings.server_name, flags.tls_server_name);

  TemporalTarget target;
  target.ns = settings.ns;
  const std::string codec_keys = flags.codec_key_file.empty() ? Env("FLIGHTDECK_CODEC_KEY_FILE") : flags.codec_key_file;
  if (!codec_keys.empty()) {
    auto keys = KeyRing::Load(codec_keys);
    if (!keys.ok()) return keys.status().WithMessage("--codec-key-file: ", keys.status().message());
    target.codecs = temporal::CodecChain({std::make_shared<temporal::EncryptionCodec>(*keys)});
  }
  target.connection.target = settings.address;
  target.connection.api_key = settings.api_key;
  const bool files = !settings.cert.empty() || !settings.key.empty() || !settings.ca.empty() ||
                     !settings.server_name.empty();
  const bool tls = settings.tls == "true" || (settings.tls.empty() && (files || !settings.api_key.empty()));
  if (settings.tls == "false" && (files || !settings.api_key.empty())) {
    return arrow::Status::Invalid("Temporal TLS is off, but TLS files or an API key are given");
  }
  if (tls) {
    if (settings.cert.empty() != settings.key.empty()) {
      return arrow::Status::Invalid("--tls-cert-path and --tls-key-path go together");
    }
    temporal::TlsOptions options;
    if (!settings.ca.empty()) {
      ARROW_ASSIGN_OR_RAISE(options.server_root_ca_pem, flight::ReadPemFile(settings.ca, "--tls-ca-path"));
    }
    if (!settings.cert.empty()) {
      ARROW_ASSIGN_OR_RAISE(options.client_cert_pem, flight::ReadPemFile(settings.cert, "--tls-cert-path"));
      ARROW_ASSIGN_OR_RAISE(options.client_private_key_pem, flight::ReadPemFile(settings.key, "--tls-key-path"));
    }
    options.server_name_override = settings.server_name;
    target.connection.tls = std::move(options);
  }
  return target;
}

TemporalTarget ResolveTemporalOrExit(const TemporalFlags& flags) {
  auto target = ResolveTemporal(flags);
  if (!target.ok()) throw CommandFailed(target.status().message(), kExitUsage);
  return *std::move(target);
}

std::shared_ptr<temporal::Client> ConnectClientOrExit(const TemporalTarget& target) {
  auto conn = temporal::Connection::Connect(target.connection);
  Check(conn.status(), "cannot connect to Temporal at " + target.connection.target);
  auto client = temporal::Client::Make(*conn, {.ns = target.ns, .codecs = target.codecs});
  Check(client.status(), "Temporal client");
  return *client;
}

}  // namespace flightdeck::cli
