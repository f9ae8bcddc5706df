#include "flightdeck/flight/placement.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>

#define XXH_INLINE_ALL
#include <arrow/vendored/xxhash/xxhash.h>

namespace flightdeck::flight {

uint64_t PlacementHash(std::string_view key, std::string_view location) {
  const uint64_t seed = XXH3_64bits(key.data(), key.size());
  return XXH3_64bits_withSeed(location.data(), location.size(), seed);
}

double PlacementScore(std::string_view key, const PlacementNode& node, bool weighted) {
  const uint64_t hash = PlacementHash(key, node.location);
  if (!weighted) return static_cast<double>(hash);
  const double u = std::ldexp(static_cast<double>(hash) + 0.5, -64);  // in (0, 1)
  return -node.weight / std::log(u);
}

arrow::Result<Placement> Placement::Make(std::vector<PlacementNode> nodes) {
  if (nodes.empty()) return arrow::Status::Invalid("placement needs at least one data node");
  std::unordered_set<std::string_view> seen;
  for (const PlacementNode& node : nodes) {
    if (!(node.weight > 0) || !std::isfinite(node.weight)) {
      return arrow::Status::Invalid("data node ", node.location, ": weight must be > 0, got ", node.weight);
    }
    if (!seen.insert(node.location).second) {
      return arrow::Status::Invalid("data node ", node.location, " is listed twice");
    }
  }
  const bool weighted = std::any_of(nodes.begin(), nodes.end(),
                                    [&](const PlacementNode& n) { return n.weight != nodes[0].weight; });
  return Placement(std::move(nodes), weighted);
}

bool Placement::Before(size_t a, double score_a, size_t b, double score_b) const {
  return score_a != score_b ? score_a > score_b : nodes_[a].location < nodes_[b].location;
}

size_t Placement::Place(std::string_view key) const {
  if (!weighted_) {
    // Integers only: the largest hash wins, the location breaks a tie.
    size_t best = 0;
    uint64_t best_hash = PlacementHash(key, nodes_[0].location);
    for (size_t i = 1; i < nodes_.size(); ++i) {
      const uint64_t hash = PlacementHash(key, nodes_[i].location);
      if (hash > best_hash || (hash == best_hash && nodes_[i].location < nodes_[best].location)) {
        best = i;
        best_hash = hash;
      }
    }
    return best;
  }
  size_t best = 0;
  double best_score = PlacementScore(key, nodes_[0], true);
  for (size_t i = 1; i < nodes_.size(); ++i) {
    const double score = PlacementScore(key, nodes_[i], true);
    if (Before(i, score, best, best_score)) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

std::vector<size_t> Placement::Place(std::string_view key, size_t count) const {
  std::vector<size_t> order(nodes_.size());
  std::iota(order.begin(), order.end(), size_t{0});
  const size_t wanted = std::min(count, nodes_.size());
  if (!weighted_) {
    std::vector<uint64_t> hashes(nodes_.size());
    for (size_t i = 0; i < nodes_.size(); ++i) hashes[i] = PlacementHash(key, nodes_[i].location);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(wanted), order.end(),
                      [&](size_t a, size_t b) {
                        return hashes[a] != hashes[b] ? hashes[a] > hashes[b]
                                                      : nodes_[a].location < nodes_[b].location;
                      });
  } else {
    std::vector<double> scores(nodes_.size());
    for (size_t i = 0; i < nodes_.size(); ++i) scores[i] = PlacementScore(key, nodes_[i], true);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(wanted), order.end(),
                      [&](size_t a, size_t b) { return Before(a, scores[a], b, scores[b]); });
  }
  order.resize(wanted);
  return order;
}

arrow::Result<std::vector<size_t>> PlaceKey(std::string_view key, const std::vector<PlacementNode>& nodes,
                                            size_t count) {
  ARROW_ASSIGN_OR_RAISE(Placement placement, Placement::Make(nodes));
  return placement.Place(key, count);
}

}  // namespace flightdeck::flight
