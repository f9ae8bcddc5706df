// flightdeck/flight/cluster.h: which data nodes form a cluster.
//
// A cluster is named by one string:
//   - a file (the embedded default: a static list), YAML:
//       nodes:
//         - grpc+tcp://10.0.0.1:7100
//         - {location: grpc+tcp://10.0.0.2:7100, weight: 2}
//   - etcd://HOST:PORT[/PREFIX] (PREFIX default "flightdeck"): membership in
//     etcd v3, through its JSON gateway over HTTP; etcds://HOST:PORT[/PREFIX]
//     the same over HTTPS (the server's certificate checked against a CA,
//     and a client certificate for an etcd with --client-cert-auth), as a
//     deployment should run it. Each node registers the key
//     PREFIX/nodes/<location> = {"location": L, "weight": W} under a lease it
//     renews every third of the lease's TTL; a node that dies stops renewing
//     and its key goes when the lease ends, one that stops revokes it at once.
//     Clients list the keys under PREFIX/nodes/ and watch them.
// Members come sorted by location; weights are capacities for placement
// (placement.h).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/flight/placement.h"

namespace flightdeck::flight {

struct ClusterName {
  enum class Kind { kFile, kEtcd };
  Kind kind = Kind::kFile;
  std::string path;      // kFile
  std::string endpoint;  // kEtcd: host:port
  std::string prefix;    // kEtcd: key prefix, without a trailing '/'
  bool tls = false;      // kEtcd: etcds:// (HTTPS)
  /// etcds://: the PEM CA that signed etcd's certificate (empty: the
  /// system's roots), and this client's PEM certificate and key for an etcd
  /// that asks for one (both or neither). Not part of the name.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

/// Parses a cluster's name (see the file comment). Invalid naming what is
/// wrong: an empty name, https:// (etcds:// is etcd over TLS), a bad port.
arrow::Result<ClusterName> ParseClusterName(std::string_view name);

/// Checks the TLS files of `cluster` up front: Invalid when files are given
/// for a cluster that is not etcds://, a certificate without its key (or
/// the reverse), or a file that cannot be read as PEM.
arrow::Status CheckClusterTls(const ClusterName& cluster);

/// The members now: the file's list (IOError when it cannot be read,
/// Invalid naming the entry that is wrong) or the live registrations in etcd
/// (IOError when etcd does not answer). Sorted by location.
arrow::Result<std::vector<PlacementNode>> ClusterMembers(const ClusterName& cluster);

/// A node's registration in an etcd cluster, kept alive on a thread of its
/// own until destroyed (which revokes the lease: the node leaves at once).
/// When the lease is lost (etcd restarted, or unreachable longer than the
/// TTL) it registers again with a new one.
class ClusterRegistration {
 public:
  /// Invalid for a file cluster (a static list names its nodes itself) or
  /// a TTL under 2 s; IOError when etcd does not answer.
  static arrow::Result<std::unique_ptr<ClusterRegistration>> Start(const ClusterName& cluster, PlacementNode self,
                                                                   std::chrono::seconds ttl);
  virtual ~ClusterRegistration() = default;
};

/// Calls `on_change` with the members once at start and again after every
/// change, from a thread of its own, until destroyed. A file cluster is
/// read once. An etcd watch that breaks is opened again (and the members
/// listed again, so that no change is missed).
class ClusterWatch {
 public:
  using Callback = std::function<void(const std::vector<PlacementNode>& members)>;
  static arrow::Result<std::unique_ptr<ClusterWatch>> Start(const ClusterName& cluster, Callback on_change);
  virtual ~ClusterWatch() = default;
};

}  // namespace flightdeck::flight
