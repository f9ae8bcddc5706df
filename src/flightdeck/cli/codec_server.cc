// `flightdeck codec-server`: Temporal's codec-server HTTP API over the
// payload encryption codec of the workers (--codec-key-file), so the Web UI
// (`temporal server start-dev --ui-codec-endpoint URL`) and the `temporal`
// CLI (`--codec-endpoint URL`) show decrypted payloads.
//
//   POST /encode, POST /decode   body and answer: {"payloads": [Payload as proto JSON]}
//   OPTIONS on both              CORS preflight (allowed origins: --cors-origin)
//
// Calls carry "Authorization: Bearer TOKEN" when the server has a token
// (--token-file, or FLIGHTDECK_CODEC_SERVER_TOKEN); a server on an
// interface other than loopback needs TLS and a token unless --insecure.
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include <google/protobuf/util/json_util.h>
#include <httplib.h>

#include "flightdeck/cli/commands.h"
#include "flightdeck/common/crypto.h"
#include "flightdeck/common/file_encryption.h"
#include "flightdeck/flight/tls.h"
#include "flightdeck/temporal/converter/encryption_codec.h"

namespace flightdeck::cli {

namespace {

constexpr size_t kMaxBody = size_t{16} << 20;

struct CodecServerOptions {
  std::string host = "127.0.0.1";
  int port = 8081;
  std::string key_file;
  std::string token_file;
  std::vector<std::string> cors_origins;
  std::string tls_cert, tls_key;
  bool insecure = false;
};

std::string ReadToken(const CodecServerOptions& options) {
  std::string token;
  if (!options.token_file.empty()) {
    std::ifstream in(options.token_file);
    if (!in) throw CommandFailed("cannot read --token-file " + options.token_file, kExitUsage);
    std::getline(in, token);
  } else if (const char* env = std::getenv("FLIGHTDECK_CODEC_SERVER_TOKEN")) {
    token = env;
  }
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  return token;
}

// One /encode or /decode call: the body's payloads through the codec.
void Transform(const temporal::PayloadCodec& codec, bool encode, const httplib::Request& req,
               httplib::Response& res) {
  temporal::Payloads payloads;
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = true;
  auto parsed = google::protobuf::util::JsonStringToMessage(req.body, &payloads, parse);
  if (!parsed.ok()) {
    res.status = 400;
    res.set_content("body is not {\"payloads\": [...]}: " + std::string(parsed.message()), "text/plain");
    return;
  }
  std::vector<temporal::Payload> list(payloads.payloads().begin(), payloads.payloads().end());
  auto done = encode ? codec.Encode(std::move(list)) : codec.Decode(std::move(list));
  if (!done.ok()) {
    res.status = 400;
    res.set_content(done.status().message(), "text/plain");
    return;
  }
  payloads.clear_payloads();
  for (auto& p : *done) *payloads.add_payloads() = std::move(p);
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(payloads, &out);
  res.set_content(out, "application/json");
}

void Serve(const CodecServerOptions& options) {
  auto keys = KeyRing::Load(options.key_file);
  if (!keys.ok()) throw CommandFailed("--codec-key-file: " + keys.status().message(), kExitUsage);
  const temporal::EncryptionCodec codec(*keys);
  const std::string token = ReadToken(options);
  const bool tls = !options.tls_cert.empty() || !options.tls_key.empty();
  if (tls && (options.tls_cert.empty() || options.tls_key.empty())) {
    throw CommandFailed("--tls-cert and --tls-key go together", kExitUsage);
  }
  if (!flight::IsLoopbackHost(options.host) && !options.insecure && (!tls || token.empty())) {
    throw CommandFailed("refusing to serve the codec on " + options.host +
                            " without TLS and a token: anyone who reaches the port could decrypt every "
                            "payload. Give --tls-cert, --tls-key and --token-file, or bind 127.0.0.1, or "
                            "pass --insecure to accept the risk",
                        kExitUsage);
  }
  std::unique_ptr<httplib::Server> server;
  if (tls) {
    server = std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(), options.tls_key.c_str());
    if (!server->is_valid()) {
      throw CommandFailed("cannot load --tls-cert " + options.tls_cert + " and --tls-key " + options.tls_key,
                          kExitUsage);
    }
  } else {
    server = std::make_unique<httplib::Server>();
  }
  server->set_payload_max_length(kMaxBody);
  const std::set<std::string> origins(options.cors_origins.begin(), options.cors_origins.end());
  // CORS for allowed origins on every answer; preflights answered here.
  auto cors = [origins](const httplib::Request& req, httplib::Response& res) {
    const std::string origin = req.get_header_value("Origin");
    if (origin.empty() || (origins.count(origin) == 0 && origins.count("*") == 0)) return;
    res.set_header("Access-Control-Allow-Origin", origin);
    res.set_header("Access-Control-Allow-Credentials", "true");
    res.set_header("Access-Control-Allow-Methods", "POST, OPTIONS");
    res.set_header("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization");
    res.set_header("Vary", "Origin");
  };
  auto handle = [&, cors](bool encode) {
    return [&, cors, encode](const httplib::Request& req, httplib::Response& res) {
      cors(req, res);
      if (!token.empty() && !ConstantTimeEquals(req.get_header_value("Authorization"), "Bearer " + token)) {
        res.status = 401;
        res.set_header("WWW-Authenticate", "Bearer");
        res.set_content("missing or wrong bearer token", "text/plain");
        return;
      }
      Transform(codec, encode, req, res);
    };
  };
  server->Post("/encode", handle(true));
  server->Post("/decode", handle(false));
  server->Options(R"(/(encode|decode))", [cors](const httplib::Request& req, httplib::Response& res) {
    cors(req, res);
    res.status = 204;
  });
  const int port = options.port == 0 ? server->bind_to_any_port(options.host)
                                     : (server->bind_to_port(options.host, options.port) ? options.port : -1);
  if (port < 0) {
    throw CommandFailed("cannot listen on " + options.host + ":" + std::to_string(options.port));
  }
  static std::atomic<httplib::Server*> running{nullptr};
  running = server.get();
  auto stop = [](int) {
    if (auto* s = running.load()) s->stop();
  };
  std::signal(SIGINT, stop);
  std::signal(SIGTERM, stop);
  // The first stdout line is a contract: scripts and tests read the URL from it.
  std::cout << "flightdeck codec-server listening on " << (tls ? "https" : "http") << "://" << options.host << ":"
            << port << " (key '" << (*keys)->Newest().id << "' encodes" << (token.empty() ? "" : ", token required")
            << ")" << std::endl;
  server->listen_after_bind();
  running = nullptr;
}

}  // namespace

void AddCodecServerCommand(CLI::App& app) {
  auto options = std::make_shared<CodecServerOptions>();
  CLI::App* cmd = app.add_subcommand(
      "codec-server", "Serve Temporal's codec-server API (/encode, /decode) over the payload encryption codec, "
                      "for the Web UI (--ui-codec-endpoint) and `temporal --codec-endpoint`");
  cmd->add_option("--codec-key-file", options->key_file, "The key file of the workers' --codec-key-file")
      ->required();
  cmd->add_option("--host", options->host, "Interface to listen on")->capture_default_str();
  cmd->add_option("--port", options->port, "Port; 0 picks a free one")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--token-file", options->token_file,
                  "File holding the bearer token callers must send (or FLIGHTDECK_CODEC_SERVER_TOKEN); "
                  "the Web UI sends it with 'pass access token'");
  cmd->add_option("--cors-origin", options->cors_origins,
                  "Origin allowed to call from a browser, e.g. http://localhost:8233 (repeatable)");
  cmd->add_option("--tls-cert", options->tls_cert, "PEM certificate chain: serve HTTPS");
  cmd->add_option("--tls-key", options->tls_key, "PEM private key of --tls-cert");
  cmd->add_flag("--insecure", options->insecure,
                "Serve an interface other than loopback without TLS and a token");
  cmd->callback([options] { Serve(*options); });
}

}  // namespace flightdeck::cli
