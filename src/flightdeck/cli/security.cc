// `flightdeck auth`: the hashed secrets an auth config stores
// (flight/auth_config.h); secrets are read from stdin, never from the
// command line, which other users of the machine can see.
// `flightdeck audit verify`: checks a node's audit log chain (audit_log.h).
// `flightdeck keys add`: adds a key to a key file (common/file_encryption.h).
#include <iostream>
#include <string>

#include "flightdeck/cli/commands.h"
#include "flightdeck/common/crypto.h"
#include "flightdeck/common/file_encryption.h"
#include "flightdeck/flight/audit_log.h"
#include "flightdeck/flight/auth_config.h"

namespace flightdeck::cli {

namespace {

// The first line of stdin, without its line end; exits 2 when empty.
std::string SecretFromStdin(const std::string& what) {
  std::string secret;
  std::getline(std::cin, secret);
  while (!secret.empty() && (secret.back() == '\r' || secret.back() == '\n')) secret.pop_back();
  if (secret.empty()) throw CommandFailed("no " + what + " on stdin", kExitUsage);
  return secret;
}

}  // namespace

void AddAuthCommands(CLI::App& app) {
  CLI::App* auth = app.add_subcommand("auth", "Make the hashed secrets of a data node's --auth-config");
  auth->require_subcommand(1);
  auth->add_subcommand("new-token", "Print a new random bearer token, then the line its config entry takes")
      ->callback([] {
        const std::string token = RandomToken();
        std::cout << token << "\n" << flight::HashToken(token) << std::endl;
      });
  auth->add_subcommand("hash-token", "Read a bearer token from stdin; print its config entry (sha256:...)")
      ->callback([] { std::cout << flight::HashToken(SecretFromStdin("token")) << std::endl; });
  auth->add_subcommand("hash-password",
                       "Read a password from stdin; print its config entry (pbkdf2-sha256$...)")
      ->callback([] { std::cout << flight::HashPassword(SecretFromStdin("password")) << std::endl; });
}

void AddAuditCommands(CLI::App& app) {
  CLI::App* audit = app.add_subcommand("audit", "Check a data node's audit log");
  audit->require_subcommand(1);
  CLI::App* verify = audit->add_subcommand(
      "verify", "Check the HMAC chain of an audit log; name the first edited, deleted or reordered line");
  auto file = std::make_shared<std::string>();
  auto key_file = std::make_shared<std::string>();
  verify->add_option("file", *file, "The audit log (--audit-log of the node)")->required();
  verify->add_option("--key-file", *key_file, "The audit key (default: FILE.key, as the node made it)");
  verify->callback([file, key_file] {
    auto verdict = flight::VerifyAuditLog(*file, key_file->empty() ? *file + ".key" : *key_file);
    Check(verdict.status(), "audit verify");
    if (!verdict->problem.empty()) throw CommandFailed(*file + ": " + verdict->problem);
    std::cout << *file << ": ok, " << verdict->lines << " lines, chain intact" << std::endl;
  });
}

void AddKeysCommands(CLI::App& app) {
  CLI::App* keys = app.add_subcommand("keys", "Manage the key files of encryption at rest and of payload codecs");
  keys->require_subcommand(1);
  CLI::App* add = keys->add_subcommand(
      "add", "Append a new random AES-256 key to FILE (made with mode 0600 when missing); new files and "
             "payloads use it once the node or worker reloads the file, older keys still decrypt");
  auto file = std::make_shared<std::string>();
  auto id = std::make_shared<std::string>();
  add->add_option("file", *file, "The key file (--key-file, --codec-key-file)")->required();
  add->add_option("--id", *id, "Key id (default: k<N+1>, N the keys already in the file)");
  add->callback([file, id] {
    auto added = AddKeyToFile(*file, *id);
    if (added.status().IsAlreadyExists()) throw CommandFailed(added.status().message(), kExitUsage);
    Check(added.status(), "keys add");
    std::cout << "added key '" << *added << "' to " << *file << std::endl;
  });
}

}  // namespace flightdeck::cli
