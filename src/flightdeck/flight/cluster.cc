#include "flightdeck/flight/cluster.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <arrow/util/base64.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "flightdeck/common/logging.h"
#include "flightdeck/flight/tls.h"

namespace flightdeck::flight {
namespace {

using nlohmann::json;

std::string Base64(const std::string& bytes) { return arrow::util::base64_encode(bytes); }

std::string KeysPrefix(const ClusterName& cluster) { return cluster.prefix + "/nodes/"; }

// The key one past every key that starts with `prefix` (etcd's range_end).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      prefix.back() = static_cast<char>(prefix.back() + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

void SortByLocation(std::vector<PlacementNode>& members) {
  std::sort(members.begin(), members.end(),
            [](const PlacementNode& a, const PlacementNode& b) { return a.location < b.location; });
}

arrow::Status CheckMember(const PlacementNode& node, const std::string& where) {
  if (node.location.rfind("grpc+tcp://", 0) != 0 && node.location.rfind("grpc+tls://", 0) != 0) {
    return arrow::Status::Invalid(where, ": location '", node.location,
                                  "' must start with grpc+tcp:// or grpc+tls://");
  }
  if (!(node.weight > 0)) return arrow::Status::Invalid(where, ": weight of ", node.location, " must be > 0");
  return arrow::Status::OK();
}

// An HTTP client of the cluster's etcd: HTTPS for etcds:// (the server's
// certificate verified against the CA, or the system's roots; the client
// certificate sent when given).
std::unique_ptr<httplib::Client> EtcdClient(const ClusterName& cluster, std::chrono::seconds read_timeout) {
  std::unique_ptr<httplib::Client> client;
  if (!cluster.tls) {
    client = std::make_unique<httplib::Client>("http://" + cluster.endpoint);
  } else {
    client = cluster.cert_file.empty()
                 ? std::make_unique<httplib::Client>("https://" + cluster.endpoint)
                 : std::make_unique<httplib::Client>("https://" + cluster.endpoint, cluster.cert_file,
                                                     cluster.key_file);
    if (!cluster.ca_file.empty()) client->set_ca_cert_path(cluster.ca_file);
    client->enable_server_certificate_verification(true);
  }
  client->set_connection_timeout(std::chrono::seconds(3));
  client->set_read_timeout(read_timeout);
  return client;
}

// What an HTTP client error tells a user of `cluster`.
std::string ExplainError(httplib::Error error, const ClusterName& cluster) {
  std::string text = httplib::to_string(error);
  switch (error) {
    case httplib::Error::SSLServerVerification:
      return text + " (its certificate is not signed by --cluster-ca or the system's roots, or does not name " +
             cluster.endpoint + ")";
    case httplib::Error::Read:
    case httplib::Error::Write:
    case httplib::Error::SSLConnection:
      return text + (cluster.tls ? " (the connection failed or was closed: an etcd with --client-cert-auth needs "
                                   "--cluster-cert and --cluster-key)"
                                 : " (the connection was closed: an etcd serving HTTPS is etcds://)");
    default:
      return text;
  }
}

// etcd's v3 JSON gateway: POST of a JSON body, the answer's JSON.
class EtcdGateway {
 public:
  explicit EtcdGateway(const ClusterName& cluster)
      : cluster_(cluster),
        endpoint_((cluster.tls ? "https://" : "http://") + cluster.endpoint),
        client_(EtcdClient(cluster, std::chrono::seconds(5))) {}

  arrow::Result<json> Post(const std::string& path, const json& body) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto answer = client_->Post(path, body.dump(), "application/json");
    if (!answer) {
      return arrow::Status::IOError("etcd at ", endpoint_, " did not answer ", path, ": ",
                                    ExplainError(answer.error(), cluster_));
    }
    if (answer->status != 200) {
      return arrow::Status::IOError("etcd at ", endpoint_, " answered ", path, " with HTTP ", answer->status, ": ",
                                    answer->body.substr(0, 200));
    }
    json parsed = json::parse(answer->body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return arrow::Status::IOError("etcd at ", endpoint_, " answered ", path, " with no JSON");
    return parsed;
  }

  arrow::Result<std::vector<PlacementNode>> Members(const ClusterName& cluster) {
    const std::string prefix = KeysPrefix(cluster);
    ARROW_ASSIGN_OR_RAISE(json answer,
                          Post("/v3/kv/range", {{"key", Base64(prefix)}, {"range_end", Base64(PrefixEnd(prefix))}}));
    std::vector<PlacementNode> members;
    for (const auto& kv : answer.value("kvs", json::array())) {
      auto value = arrow::util::base64_decode(kv.value("value", std::string()));
      if (!value.ok()) continue;
      json entry = json::parse(*value, nullptr, false);
      PlacementNode node;
      if (entry.is_object()) {
        node.location = entry.value("location", std::string());
        node.weight = entry.value("weight", 1.0);
      }
      // A key someone else wrote wrong is skipped, not fatal to the cluster.
      if (!CheckMember(node, "etcd member").ok()) {
        FD_LOG(kWarning) << "cluster " << cluster.prefix << ": skipping a malformed member entry";
        continue;
      }
      members.push_back(std::move(node));
    }
    SortByLocation(members);
    return members;
  }

 private:
  ClusterName cluster_;
  std::string endpoint_;
  std::mutex mutex_;
  std::unique_ptr<httplib::Client> client_;
};

arrow::Result<std::vector<PlacementNode>> FileMembers(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return arrow::Status::IOError("cannot read cluster file ", path);
  } catch (const YAML::Exception& e) {
    return arrow::Status::Invalid("cluster file ", path, ":", e.mark.line + 1, ": ", e.msg);
  }
  const YAML::Node nodes = root.IsMap() ? root["nodes"] : YAML::Node();
  if (!nodes || !nodes.IsSequence() || nodes.size() == 0) {
    return arrow::Status::Invalid("cluster file ", path, " must hold 'nodes:', a non-empty list");
  }
  std::vector<PlacementNode> members;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const std::string where = "cluster file " + path + ":" + std::to_string(nodes[i].Mark().line + 1);
    PlacementNode node;
    try {
      if (nodes[i].IsScalar()) {
        node.location = nodes[i].as<std::string>();
      } else if (nodes[i].IsMap() && nodes[i]["location"]) {
        for (const auto& entry : nodes[i]) {
          const auto key = entry.first.as<std::string>();
          if (key != "location" && key != "weight") {
            return arrow::Status::Invalid(where, ": unknown key '", key, "' (expected location, weight)");
          }
        }
        node.location = nodes[i]["location"].as<std::string>();
        if (nodes[i]["weight"]) node.weight = nodes[i]["weight"].as<double>();
      } else {
        return arrow::Status::Invalid(where, ": a node is a location or {location: LOC, weight: W}");
      }
    } catch (const YAML::Exception& e) {
      return arrow::Status::Invalid(where, ": ", e.msg);
    }
    ARROW_RETURN_NOT_OK(CheckMember(node, where));
    members.push_back(std::move(node));
  }
  SortByLocation(members);
  for (size_t i = 1; i < members.size(); ++i) {
    if (members[i].location == members[i - 1].location) {
      return arrow::Status::Invalid("cluster file ", path, " names ", members[i].location, " twice");
    }
  }
  return members;
}

// Sleeps up to `timeout` unless `stopping` is set meanwhile; true when stopping.
class Stopper {
 public:
  bool WaitFor(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return stopping_; });
  }
  void Stop() {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    changed_.notify_all();
  }
  bool stopping() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stopping_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
};

// The TTL a keepalive answer gives the lease (0 when it ended): an int64
// the gateway writes as a string.
int64_t RemainingTtl(const json& answer) {
  const json result = answer.value("result", json::object());
  const auto ttl = result.find("TTL");
  if (ttl == result.end()) return 0;
  if (ttl->is_number()) return ttl->get<int64_t>();
  if (!ttl->is_string()) return 0;
  try {
    return std::stoll(ttl->get<std::string>());
  } catch (const std::exception&) {
    return 0;
  }
}

class EtcdRegistration : public ClusterRegistration {
 public:
  EtcdRegistration(ClusterName cluster, PlacementNode self, std::chrono::seconds ttl)
      : cluster_(std::move(cluster)), self_(std::move(self)), ttl_(ttl), gateway_(cluster_) {}

  ~EtcdRegistration() override {
    stopper_.Stop();
    if (thread_.joinable()) thread_.join();
    if (!lease_.empty()) (void)gateway_.Post("/v3/lease/revoke", {{"ID", lease_}});
  }

  // Grants a lease and puts the node's key under it.
  arrow::Status Register() {
    ARROW_ASSIGN_OR_RAISE(json granted, gateway_.Post("/v3/lease/grant", {{"TTL", ttl_.count()}}));
    if (!granted.contains("ID")) return arrow::Status::IOError("etcd granted no lease: ", granted.dump());
    lease_ = granted["ID"].is_string() ? granted["ID"].get<std::string>() : granted["ID"].dump();
    const json value = {{"location", self_.location}, {"weight", self_.weight}};
    ARROW_RETURN_NOT_OK(gateway_
                            .Post("/v3/kv/put", {{"key", Base64(KeysPrefix(cluster_) + self_.location)},
                                                 {"value", Base64(value.dump())},
                                                 {"lease", lease_}})
                            .status());
    return arrow::Status::OK();
  }

  void KeepAlive() {
    thread_ = std::thread([this] {
      const auto every = std::chrono::duration_cast<std::chrono::milliseconds>(ttl_) / 3;
      while (!stopper_.WaitFor(every)) {
        auto alive = gateway_.Post("/v3/lease/keepalive", {{"ID", lease_}});
        const bool expired = alive.ok() && RemainingTtl(*alive) <= 0;
        if (alive.ok() && !expired) continue;
        if (!alive.ok()) {
          FD_LOG(kWarning) << "cluster " << cluster_.prefix << ": renewing the registration failed: "
                           << alive.status().message();
          continue;  // the lease may outlive a short outage
        }
        FD_LOG(kWarning) << "cluster " << cluster_.prefix << ": the registration's lease ended; registering again";
        auto again = Register();
        if (!again.ok()) FD_LOG(kWarning) << "registering again failed: " << again.message();
      }
    });
  }

 private:
  ClusterName cluster_;
  PlacementNode self_;
  std::chrono::seconds ttl_;
  EtcdGateway gateway_;
  std::string lease_;
  Stopper stopper_;
  std::thread thread_;
};

class FileWatch : public ClusterWatch {};

class EtcdWatch : public ClusterWatch {
 public:
  EtcdWatch(ClusterName cluster, Callback on_change)
      : cluster_(std::move(cluster)), on_change_(std::move(on_change)), gateway_(cluster_) {}

  ~EtcdWatch() override {
    stopper_.Stop();
    {
      std::lock_guard<std::mutex> lock(stream_mutex_);
      if (stream_) stream_->stop();
    }
    if (thread_.joinable()) thread_.join();
  }

  void Run() {
    thread_ = std::thread([this] {
      while (!stopper_.stopping()) {
        Publish();
        Stream();  // returns when the watch breaks (or on stop)
        if (stopper_.WaitFor(std::chrono::milliseconds(500))) return;
      }
    });
  }

 private:
  // Lists the members and tells the callback when they changed.
  void Publish() {
    auto members = gateway_.Members(cluster_);
    if (!members.ok()) {
      FD_LOG(kWarning) << "cluster " << cluster_.prefix << ": " << members.status().message();
      return;
    }
    if (published_ && *members == last_) return;
    published_ = true;
    last_ = *members;
    on_change_(last_);
  }

  // One watch stream on the members' keys: every event lists them again.
  void Stream() {
    auto client = EtcdClient(cluster_, std::chrono::seconds(60));
    {
      std::lock_guard<std::mutex> lock(stream_mutex_);
      if (stopper_.stopping()) return;
      stream_ = client.get();
    }
    const std::string prefix = KeysPrefix(cluster_);
    httplib::Request request;
    request.method = "POST";
    request.path = "/v3/watch";
    request.body =
        json{{"create_request", {{"key", Base64(prefix)}, {"range_end", Base64(PrefixEnd(prefix))}}}}.dump();
    request.set_header("Content-Type", "application/json");
    std::string pending;
    request.content_receiver = [&](const char* data, size_t length, uint64_t, uint64_t) {
      pending.append(data, length);
      // The gateway streams one JSON object per message, newline-separated.
      for (size_t end; (end = pending.find('\n')) != std::string::npos;) {
        const std::string message = pending.substr(0, end);
        pending.erase(0, end + 1);
        json parsed = json::parse(message, nullptr, false);
        if (parsed.is_object() && parsed.value("result", json::object()).contains("events")) Publish();
      }
      return !stopper_.stopping();
    };
    httplib::Response response;
    httplib::Error error = httplib::Error::Success;
    (void)client->send(request, response, error);
    std::lock_guard<std::mutex> lock(stream_mutex_);
    stream_ = nullptr;
  }

  ClusterName cluster_;
  Callback on_change_;
  EtcdGateway gateway_;
  Stopper stopper_;
  std::mutex stream_mutex_;
  httplib::Client* stream_ = nullptr;
  bool published_ = false;
  std::vector<PlacementNode> last_;
  std::thread thread_;
};

}  // namespace

arrow::Result<ClusterName> ParseClusterName(std::string_view name) {
  ClusterName cluster;
  if (name.empty()) return arrow::Status::Invalid("cluster: empty name (a file, or etcd://HOST:PORT[/PREFIX])");
  if (name.rfind("https://", 0) == 0 || name.rfind("http://", 0) == 0) {
    return arrow::Status::Invalid("cluster '", name, "': name etcd as etcd://HOST:PORT (HTTP) or etcds://HOST:PORT "
                                  "(HTTPS)");
  }
  constexpr std::string_view kEtcd = "etcd://";
  constexpr std::string_view kEtcds = "etcds://";
  cluster.tls = name.rfind(kEtcds, 0) == 0;
  if (name.rfind(kEtcd, 0) != 0 && !cluster.tls) {
    if (name.find("://") != std::string_view::npos) {
      return arrow::Status::Invalid("cluster '", name, "': not a file nor etcd[s]://HOST:PORT[/PREFIX]");
    }
    cluster.path = std::string(name);
    return cluster;
  }
  cluster.kind = ClusterName::Kind::kEtcd;
  std::string_view rest = name.substr(cluster.tls ? kEtcds.size() : kEtcd.size());
  const size_t slash = rest.find('/');
  cluster.endpoint = std::string(rest.substr(0, slash));
  cluster.prefix = slash == std::string_view::npos ? "flightdeck" : std::string(rest.substr(slash + 1));
  while (!cluster.prefix.empty() && cluster.prefix.back() == '/') cluster.prefix.pop_back();
  if (cluster.prefix.empty()) cluster.prefix = "flightdeck";
  const size_t colon = cluster.endpoint.rfind(':');
  const std::string port = colon == std::string::npos ? "" : cluster.endpoint.substr(colon + 1);
  if (colon == 0 || port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoi(port) < 1 || std::stoi(port) > 65535) {
    return arrow::Status::Invalid("cluster '", name, "': expected etcd[s]://HOST:PORT[/PREFIX]");
  }
  return cluster;
}

arrow::Status CheckClusterTls(const ClusterName& cluster) {
  const bool any = !cluster.ca_file.empty() || !cluster.cert_file.empty() || !cluster.key_file.empty();
  if (any && !cluster.tls) {
    return arrow::Status::Invalid("the cluster's CA, certificate and key apply to etcds:// clusters only");
  }
  if (cluster.cert_file.empty() != cluster.key_file.empty()) {
    return arrow::Status::Invalid("the cluster's client certificate and key go together: give both or neither");
  }
  for (const auto& [file, what] : {std::pair{cluster.ca_file, "the cluster's CA"},
                                   std::pair{cluster.cert_file, "the cluster's client certificate"},
                                   std::pair{cluster.key_file, "the cluster's client key"}}) {
    if (!file.empty()) ARROW_RETURN_NOT_OK(ReadPemFile(file, what).status());
  }
  return arrow::Status::OK();
}

arrow::Result<std::vector<PlacementNode>> ClusterMembers(const ClusterName& cluster) {
  if (cluster.kind == ClusterName::Kind::kFile) return FileMembers(cluster.path);
  EtcdGateway gateway(cluster);
  return gateway.Members(cluster);
}

arrow::Result<std::unique_ptr<ClusterRegistration>> ClusterRegistration::Start(const ClusterName& cluster,
                                                                               PlacementNode self,
                                                                               std::chrono::seconds ttl) {
  if (cluster.kind != ClusterName::Kind::kEtcd) {
    return arrow::Status::Invalid("a node registers in an etcd cluster only; a cluster file lists its nodes itself");
  }
  if (ttl < std::chrono::seconds(2)) return arrow::Status::Invalid("the registration's lease TTL must be >= 2 s");
  ARROW_RETURN_NOT_OK(CheckMember(self, "registration"));
  auto registration = std::make_unique<EtcdRegistration>(cluster, std::move(self), ttl);
  ARROW_RETURN_NOT_OK(registration->Register());
  registration->KeepAlive();
  return registration;
}

arrow::Result<std::unique_ptr<ClusterWatch>> ClusterWatch::Start(const ClusterName& cluster, Callback on_change) {
  if (cluster.kind == ClusterName::Kind::kFile) {
    ARROW_ASSIGN_OR_RAISE(auto members, FileMembers(cluster.path));
    on_change(members);
    return std::make_unique<FileWatch>();
  }
  auto watch = std::make_unique<EtcdWatch>(cluster, std::move(on_change));
  watch->Run();
  return watch;
}

}  // namespace flightdeck::flight
