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
#include <vector>

#include <arrow/result.h>

namespace flightdeck::flight {

struct PlacementNode {
  /// The node's Flight location (grpc+tcp://host:port); its identity here.
  std::string location;
  /// Relative capacity, > 0.
  double weight = 1;
};

/// The nodes that hold `key`, best first: `count` of them (fewer when there
/// are fewer nodes). Invalid when `nodes` is empty, has a duplicate
/// location or a weight that is not > 0.
arrow::Result<std::vector<size_t>> PlaceKey(std::string_view key, const std::vector<PlacementNode>& nodes,
                                            size_t count = 1);

/// The score of `key` on `node` (exposed for tests and the benchmark).
double PlacementScore(std::string_view key, const PlacementNode& node, bool weighted);
uint64_t PlacementHash(std::string_view key, std::string_view location);

}  // namespace flightdeck::flight
