// flightdeck/flight/placement.h: which data node holds a dataset partition.
//
// Weighted rendezvous (highest-random-weight) hashing over the live nodes:
// every node gets a score for the key from a hash of (key, node), and the
// key lives on the highest score (its replicas on the next ones). Adding or
// removing a node moves only the keys whose top choice it is or was (about
// 1/N of them), and nodes with twice the weight get twice the keys. The
// Python stage worker computes the same (flightdeck_stage/placement.py).
//
// The hash is XXH3-64 of the key's bytes, a zero byte and the node's
// location. With equal weights the choice is the largest hash (integers
// only, so every language and machine agrees exactly); with weights, the
// largest -weight / ln(u), u = (hash + 0.5) / 2^64 in (0, 1).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/result.h>

namespace flightdeck::flight {

struct PlacementNode {
  /// The node's Flight location (grpc+tcp://host:port); its identity here.
  std::string location;
  /// Relative capacity, > 0.
  double weight = 1;

  bool operator==(const PlacementNode&) const = default;
};

/// One node list, checked once, placing any number of keys.
class Placement {
 public:
  /// Invalid when `nodes` is empty, has a duplicate location or a weight
  /// that is not > 0.
  static arrow::Result<Placement> Make(std::vector<PlacementNode> nodes);

  /// The node (index into nodes()) that holds `key`.
  size_t Place(std::string_view key) const;
  /// The nodes that hold `key` and its replicas, best first: `count` of
  /// them (fewer when there are fewer nodes).
  std::vector<size_t> Place(std::string_view key, size_t count) const;

  const std::vector<PlacementNode>& nodes() const { return nodes_; }

 private:
  Placement(std::vector<PlacementNode> nodes, bool weighted) : nodes_(std::move(nodes)), weighted_(weighted) {}
  // Orders two nodes for `key`: true when `a` ranks before `b`.
  bool Before(size_t a, double score_a, size_t b, double score_b) const;

  std::vector<PlacementNode> nodes_;
  bool weighted_;
};

/// Placement::Make(nodes) then Place(key, count), for one-off calls.
arrow::Result<std::vector<size_t>> PlaceKey(std::string_view key, const std::vector<PlacementNode>& nodes,
                                            size_t count = 1);

/// The score of `key` on `node` (exposed for tests and the benchmark).
double PlacementScore(std::string_view key, const PlacementNode& node, bool weighted);
uint64_t PlacementHash(std::string_view key, std::string_view location);

}  // namespace flightdeck::flight
