#include "flightdeck/flight/auth_config.h"

#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "flightdeck/common/crypto.h"
#include "flightdeck/common/random.h"
#include "flightdeck/flight/jwt_verifier.h"

namespace flightdeck::flight {

namespace {

constexpr int kPasswordIterations = 600'000;  // OWASP's 2023 figure for PBKDF2-HMAC-SHA256
constexpr const char* kRightNames[] = {"put", "get", "list", "drop", "persist", "exchange", "stats", "admin"};

std::string At(const YAML::Node& node, std::string_view origin) {
  const YAML::Mark mark = node.Mark();
  return std::string(origin) + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) + ": ";
}

arrow::Status Bad(const YAML::Node& node, std::string_view origin, const std::string& why) {
  return arrow::Status::Invalid(At(node, origin), why);
}

arrow::Status OnlyKeys(const YAML::Node& map, std::string_view origin, const std::string& what,
                       const std::set<std::string>& known) {
  if (!map.IsMap()) return Bad(map, origin, what + " must be a mapping");
  for (const auto& item : map) {
    const std::string key = item.first.as<std::string>();
    if (!known.count(key)) {
      std::string names;
      for (const auto& k : known) names += (names.empty() ? "" : ", ") + k;
      return Bad(item.first, origin, "unknown key '" + key + "' in " + what + " (known: " + names + ")");
    }
  }
  return arrow::Status::OK();
}

arrow::Result<std::vector<std::string>> Strings(const YAML::Node& node, std::string_view origin,
                                                const std::string& what) {
  std::vector<std::string> out;
  if (!node) return out;
  if (!node.IsSequence()) return Bad(node, origin, what + " must be a list");
  for (const auto& item : node) {
    if (!item.IsScalar() || item.as<std::string>().empty()) return Bad(item, origin, what + " holds a non-name");
    out.push_back(item.as<std::string>());
  }
  return out;
}

arrow::Result<std::chrono::seconds> Duration(const YAML::Node& node, std::string_view origin) {
  const std::string text = node.as<std::string>();
  size_t used = 0;
  long long value = -1;
  try {
    value = std::stoll(text, &used);
  } catch (...) {
  }
  const std::string unit = text.substr(used);
  const long long scale = unit == "s" || unit.empty() ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
  if (value <= 0 || scale == 0) return Bad(node, origin, "session_ttl must be a duration such as 30m, 1h or 3600s");
  return std::chrono::seconds(value * scale);
}

// "512MiB", "2GB", "1048576": bytes.
arrow::Result<int64_t> ByteSize(const YAML::Node& node, std::string_view origin, const std::string& what) {
  const std::string text = node.as<std::string>();
  size_t used = 0;
  double value = -1;
  try {
    value = std::stod(text, &used);
  } catch (...) {
  }
  std::string unit = text.substr(used);
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  static const std::map<std::string, double> kUnits = {
      {"", 1},         {"B", 1},          {"KB", 1e3},      {"MB", 1e6},          {"GB", 1e9},
      {"TB", 1e12},    {"KiB", 1024.0},   {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}};
  auto scale = kUnits.find(unit);
  if (value < 0 || scale == kUnits.end()) {
    return Bad(node, origin, what + " must be a size such as 512MiB, 2GB or 1048576");
  }
  return static_cast<int64_t>(value * scale->second);
}

bool IsHex64(std::string_view text) {
  return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// The `jwt:` section; key files are found relative to the config's folder.
arrow::Result<JwtSettings> ParseJwt(const YAML::Node& node, std::string_view origin) {
  ARROW_RETURN_NOT_OK(OnlyKeys(node, origin, "jwt",
                               {"jwks", "key_file", "issuer", "audience", "principal_claim", "groups_claim", "leeway"}));
  const std::filesystem::path base = std::filesystem::path(std::string(origin)).parent_path();
  auto file = [&](const char* key) { return (base / node[key].as<std::string>()).string(); };
  JwtSettings settings;
  if (static_cast<bool>(node["jwks"]) == static_cast<bool>(node["key_file"])) {
    return Bad(node, origin, "jwt needs exactly one of jwks (a JWKS file) and key_file");
  }
  if (node["jwks"]) {
    auto keys = LoadJwks(file("jwks"));
    if (!keys.ok()) return Bad(node["jwks"], origin, keys.status().message());
    settings.keys = std::move(*keys);
  } else {
    auto key = LoadJwtKeyFile(file("key_file"));
    if (!key.ok()) return Bad(node["key_file"], origin, key.status().message());
    settings.keys.push_back(std::move(*key));
  }
  if (node["issuer"]) settings.issuer = node["issuer"].as<std::string>();
  if (node["audience"]) settings.audience = node["audience"].as<std::string>();
  if (node["principal_claim"]) settings.principal_claim = node["principal_claim"].as<std::string>();
  if (node["groups_claim"]) settings.groups_claim = node["groups_claim"].as<std::string>();
  if (node["leeway"]) {
    ARROW_ASSIGN_OR_RAISE(settings.leeway, Duration(node["leeway"], origin));
  }
  return settings;
}

}  // namespace

const char* RightName(Right right) { return kRightNames[static_cast<int>(right)]; }

arrow::Result<Right> ParseRight(std::string_view name) {
  for (int i = 0; i < 8; ++i) {
    if (name == kRightNames[i]) return static_cast<Right>(i);
  }
  return arrow::Status::Invalid("unknown action '", name,
                                "' (known: put, get, list, drop, persist, exchange, stats, admin)");
}

Grants Grants::All() {
  Grants grants;
  grants.all_ = true;
  return grants;
}

bool Grants::Allows(Right right, std::string_view dataset) const {
  if (all_) return true;
  const std::string name(dataset);
  for (const auto& [rights, patterns] : grants_) {
    if (!rights.count(right) && !rights.count(Right::kAdmin)) continue;
    if (dataset.empty()) return true;  // an action on no dataset in particular
    for (const auto& pattern : patterns) {
      if (::fnmatch(pattern.c_str(), name.c_str(), 0) == 0) return true;
    }
  }
  return false;
}

void Grants::Add(const std::set<Right>& rights, const std::vector<std::string>& patterns) {
  grants_.emplace_back(rights, patterns);
}

arrow::Result<std::shared_ptr<const AuthConfig>> AuthConfig::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return arrow::Status::IOError("--auth-config: cannot read '", path, "'");
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

arrow::Result<std::shared_ptr<const AuthConfig>> AuthConfig::Parse(std::string_view yaml, std::string_view origin) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return arrow::Status::Invalid(origin, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg);
  }
  if (!root || root.IsNull()) {
    return arrow::Status::Invalid(origin, ": the auth config is empty; it needs principals, roles and bindings");
  }
  auto config = std::make_shared<AuthConfig>();
  ARROW_RETURN_NOT_OK(
      OnlyKeys(root, origin, "the auth config",
               {"session_ttl", "principals", "roles", "bindings", "quotas", "jwt", "client_certificates"}));
  if (root["session_ttl"]) {
    ARROW_ASSIGN_OR_RAISE(config->session_ttl_, Duration(root["session_ttl"], origin));
  }
  try {
    if (root["jwt"]) {
      auto jwt = ParseJwt(root["jwt"], origin);
      if (!jwt.ok()) return jwt.status();
      config->jwt_ = std::make_shared<const JwtVerifier>(std::move(*jwt));
    }
    if (const YAML::Node certs = root["client_certificates"]) {
      ARROW_RETURN_NOT_OK(OnlyKeys(certs, origin, "client_certificates",
                                   {"proxy_token", "subject_header", "subjects", "cn_as_principal"}));
      const std::string token = certs["proxy_token"] ? certs["proxy_token"].as<std::string>() : "";
      if (token.rfind("sha256:", 0) != 0 || !IsHex64(std::string_view(token).substr(7))) {
        return Bad(certs, origin,
                   "client_certificates needs proxy_token: \"sha256:<64 hex digits>\" (flightdeck auth "
                   "hash-token of the token the proxy sends), never the token itself");
      }
      config->client_certs_.proxy_token_hash = token.substr(7);
      config->client_certs_.subject_header =
          certs["subject_header"] ? certs["subject_header"].as<std::string>() : "x-client-subject";
      std::transform(config->client_certs_.subject_header.begin(), config->client_certs_.subject_header.end(),
                     config->client_certs_.subject_header.begin(), [](unsigned char c) { return std::tolower(c); });
      for (const auto& item : certs["subjects"]) {
        config->client_certs_.subjects[item.first.as<std::string>()] = item.second.as<std::string>();
      }
      config->client_certs_.cn_as_principal = certs["cn_as_principal"] && certs["cn_as_principal"].as<bool>();
    }
    for (const auto& item : root["principals"]) {
      const std::string name = item.first.as<std::string>();
      const YAML::Node& body = item.second;
      ARROW_RETURN_NOT_OK(OnlyKeys(body, origin, "principal '" + name + "'", {"tokens", "password", "groups"}));
      Account account;
      ARROW_ASSIGN_OR_RAISE(auto tokens, Strings(body["tokens"], origin, "tokens"));
      for (size_t i = 0; i < tokens.size(); ++i) {
        const std::string& token = tokens[i];
        if (token.rfind("sha256:", 0) != 0 || !IsHex64(std::string_view(token).substr(7))) {
          // Never echo it: it may be a secret pasted in plain text.
          return Bad(body["tokens"][i], origin,
                     "a token of '" + name + "' is not \"sha256:<64 hex digits>\"; store tokens hashed "
                     "(flightdeck auth hash-token), never in plain text");
        }
        account.token_hashes.push_back(token.substr(7));
      }
      if (body["password"]) {
        const std::string password = body["password"].as<std::string>();
        if (password.rfind("pbkdf2-sha256$", 0) != 0 || std::count(password.begin(), password.end(), '$') != 3) {
          return Bad(body["password"], origin,
                     "the password of '" + name + "' is not \"pbkdf2-sha256$ITERATIONS$SALT$HASH\"; store "
                     "passwords hashed (flightdeck auth hash-password), never in plain text");
        }
        account.password = password;
      }
      ARROW_ASSIGN_OR_RAISE(account.groups, Strings(body["groups"], origin, "groups"));
      config->accounts_[name] = std::move(account);
    }
    for (const auto& item : root["roles"]) {
      const std::string name = item.first.as<std::string>();
      ARROW_RETURN_NOT_OK(OnlyKeys(item.second, origin, "role '" + name + "'", {"actions", "datasets"}));
      Role role;
      ARROW_ASSIGN_OR_RAISE(auto actions, Strings(item.second["actions"], origin, "actions"));
      for (size_t i = 0; i < actions.size(); ++i) {
        auto right = ParseRight(actions[i]);
        if (!right.ok()) return Bad(item.second["actions"][i], origin, right.status().message());
        role.rights.insert(*right);
      }
      ARROW_ASSIGN_OR_RAISE(role.datasets, Strings(item.second["datasets"], origin, "datasets"));
      if (role.datasets.empty()) role.datasets = {"*"};
      config->roles_[name] = std::move(role);
    }
    if (root["bindings"] && !root["bindings"].IsSequence()) return Bad(root["bindings"], origin, "bindings must be a list");
    for (const auto& item : root["bindings"]) {
      ARROW_RETURN_NOT_OK(OnlyKeys(item, origin, "a binding", {"role", "principals", "groups", "tenants"}));
      Binding binding;
      if (!item["role"]) return Bad(item, origin, "a binding needs a role");
      binding.role = item["role"].as<std::string>();
      if (!config->roles_.count(binding.role)) return Bad(item["role"], origin, "no role named '" + binding.role + "'");
      ARROW_ASSIGN_OR_RAISE(auto principals, Strings(item["principals"], origin, "principals"));
      for (size_t i = 0; i < principals.size(); ++i) {
        // Principals of JWTs and client certificates are named by those,
        // not (necessarily) in this file.
        const auto& certs = config->client_certs_;
        const bool by_certificate =
            certs.cn_as_principal || std::any_of(certs.subjects.begin(), certs.subjects.end(),
                                                 [&](const auto& entry) { return entry.second == principals[i]; });
        if (!config->accounts_.count(principals[i]) && !config->jwt_ && !by_certificate) {
          return Bad(item["principals"][i], origin, "no principal named '" + principals[i] + "'");
        }
      }
      ARROW_ASSIGN_OR_RAISE(auto groups, Strings(item["groups"], origin, "groups"));
      ARROW_ASSIGN_OR_RAISE(auto tenants, Strings(item["tenants"], origin, "tenants"));
      if (tenants.empty()) return Bad(item, origin, "a binding needs the tenants it applies in");
      if (principals.empty() && groups.empty()) return Bad(item, origin, "a binding needs principals or groups");
      binding.principals = {principals.begin(), principals.end()};
      binding.groups = {groups.begin(), groups.end()};
      binding.tenants = {tenants.begin(), tenants.end()};
      config->bindings_.push_back(std::move(binding));
    }
    for (const auto& item : root["quotas"]) {
      const std::string tenant = item.first.as<std::string>();
      ARROW_RETURN_NOT_OK(OnlyKeys(item.second, origin, "the quota of '" + tenant + "'",
                                   {"memory_bytes", "disk_bytes", "datasets"}));
      Quota quota;
      if (item.second["memory_bytes"]) {
        ARROW_ASSIGN_OR_RAISE(quota.memory_bytes, ByteSize(item.second["memory_bytes"], origin, "memory_bytes"));
      }
      if (item.second["disk_bytes"]) {
        ARROW_ASSIGN_OR_RAISE(quota.disk_bytes, ByteSize(item.second["disk_bytes"], origin, "disk_bytes"));
      }
      if (item.second["datasets"]) {
        const YAML::Node& datasets = item.second["datasets"];
        int64_t count = -1;
        try {
          count = datasets.as<int64_t>();
        } catch (const YAML::Exception&) {
        }
        if (count < 0) return Bad(datasets, origin, "datasets must be a whole number >= 0");
        quota.datasets = count;
      }
      config->quotas_[tenant] = quota;
    }
  } catch (const YAML::Exception& e) {
    return arrow::Status::Invalid(origin, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg);
  }
  return std::shared_ptr<const AuthConfig>(std::move(config));
}

std::optional<Principal> AuthConfig::FromToken(std::string_view token) const {
  const std::string hash = Sha256Hex(token);
  for (const auto& [name, account] : accounts_) {
    for (const auto& stored : account.token_hashes) {
      if (ConstantTimeEquals(stored, hash)) return Principal{name, account.groups};
    }
  }
  return std::nullopt;
}

std::optional<Principal> AuthConfig::FromClientCertificate(std::string_view proxy_token,
                                                          std::string_view subject) const {
  if (client_certs_.proxy_token_hash.empty() || subject.empty() ||
      !ConstantTimeEquals(Sha256Hex(proxy_token), client_certs_.proxy_token_hash)) {
    return std::nullopt;
  }
  std::string name;
  if (auto it = client_certs_.subjects.find(std::string(subject)); it != client_certs_.subjects.end()) {
    name = it->second;
  } else if (client_certs_.cn_as_principal) {
    // The CN of an RFC 2253 subject ("CN=alice,O=acme"), as nginx forwards it.
    for (size_t at = 0; at < subject.size();) {
      const size_t end = std::min(subject.find(',', at), subject.size());
      const std::string_view part = subject.substr(at, end - at);
      if (part.rfind("CN=", 0) == 0) name = std::string(part.substr(3));
      at = end + 1;
    }
  }
  if (name.empty()) return std::nullopt;
  auto account = accounts_.find(name);
  return Principal{name, account == accounts_.end() ? std::vector<std::string>{} : account->second.groups};
}

std::optional<Principal> AuthConfig::FromPassword(std::string_view user, std::string_view password) const {
  auto it = accounts_.find(std::string(user));
  if (it == accounts_.end() || it->second.password.empty()) {
    // The same work for an unknown user, so timing does not tell them apart.
    (void)Pbkdf2Sha256(password, "flightdeck-no-such-user", kPasswordIterations);
    return std::nullopt;
  }
  const std::string& stored = it->second.password;  // pbkdf2-sha256$ITER$SALT$HASH
  const size_t a = stored.find('$'), b = stored.find('$', a + 1), c = stored.find('$', b + 1);
  int iterations = 0;
  try {
    iterations = std::stoi(stored.substr(a + 1, b - a - 1));
  } catch (...) {
    return std::nullopt;
  }
  auto salt = Base64Decode(stored.substr(b + 1, c - b - 1));
  auto hash = Base64Decode(stored.substr(c + 1));
  if (iterations <= 0 || !salt || !hash) return std::nullopt;
  if (!ConstantTimeEquals(Pbkdf2Sha256(password, *salt, iterations), *hash)) return std::nullopt;
  return Principal{it->first, it->second.groups};
}

bool AuthConfig::Bound(const Binding& binding, const Principal& principal) const {
  if (binding.principals.count(principal.name)) return true;
  for (const auto& group : principal.groups) {
    if (binding.groups.count(group)) return true;
  }
  return false;
}

std::vector<std::string> AuthConfig::TenantsOf(const Principal& principal) const {
  std::set<std::string> tenants;
  for (const auto& binding : bindings_) {
    if (Bound(binding, principal)) tenants.insert(binding.tenants.begin(), binding.tenants.end());
  }
  return {tenants.begin(), tenants.end()};
}

Grants AuthConfig::GrantsOf(const Principal& principal, const std::string& tenant) const {
  Grants grants;
  for (const auto& binding : bindings_) {
    if ((!binding.tenants.count(tenant) && !binding.tenants.count("*")) || !Bound(binding, principal)) continue;
    const Role& role = roles_.at(binding.role);
    grants.Add(role.rights, role.datasets);
  }
  return grants;
}

std::optional<Quota> AuthConfig::QuotaOf(const std::string& tenant) const {
  auto it = quotas_.find(tenant);
  if (it == quotas_.end()) return std::nullopt;
  return it->second;
}

std::string HashToken(std::string_view token) { return "sha256:" + Sha256Hex(token); }

std::string HashPassword(std::string_view password) {
  std::string salt(16, '\0');
  FillRandom(salt.data(), salt.size());
  return "pbkdf2-sha256$" + std::to_string(kPasswordIterations) + "$" + Base64Encode(salt) + "$" +
         Base64Encode(Pbkdf2Sha256(password, salt, kPasswordIterations));
}

}  // namespace flightdeck::flight
