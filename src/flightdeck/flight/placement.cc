#include "flightdeck/flight/placement.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#define XXH_INLINE_ALL
#include <arrow/vendored/xxhash/xxhash.h>

namespace flightdeck::flight {
namespace {

// True when every weight is the same: the integer path applies.
bool Unweighted(const std::vector<PlacementNode>& nodes) {
  return std::all_of(nodes.begin(), nodes.end(), [&](const PlacementNode& n) { return n.weight == nodes[0].weight; });
}

}  // namespace

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

arrow::Result<std::vector<size_t>> PlaceKey(std::string_view key, const std::vector<PlacementNode>& nodes,
                                            size_t count) {
  if (nodes.empty()) return arrow::Status::Invalid("placement needs at least one data node");
  std::set<std::string_view> seen;
  for (const PlacementNode& node : nodes) {
    if (!(node.weight > 0) || !std::isfinite(node.weight)) {
      return arrow::Status::Invalid("data node ", node.location, ": weight must be > 0, got ", node.weight);
    }
    if (!seen.insert(node.location).second) {
      return arrow::Status::Invalid("data node ", node.location, " is listed twice");
    }
  }
  std::vector<size_t> order(nodes.size());
  std::iota(order.begin(), order.end(), size_t{0});
  const size_t wanted = std::min(count, nodes.size());
  if (Unweighted(nodes)) {
    // Integers only: the largest hash wins, the location breaks a tie.
    std::vector<uint64_t> hashes(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) hashes[i] = PlacementHash(key, nodes[i].location);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(wanted), order.end(),
                      [&](size_t a, size_t b) {
                        return hashes[a] != hashes[b] ? hashes[a] > hashes[b] : nodes[a].location < nodes[b].location;
                      });
  } else {
    std::vector<double> scores(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) scores[i] = PlacementScore(key, nodes[i], /*weighted=*/true);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(wanted), order.end(),
                      [&](size_t a, size_t b) {
                        return scores[a] != scores[b] ? scores[a] > scores[b] : nodes[a].location < nodes[b].location;
                      });
  }
  order.resize(wanted);
  return order;
}

}  // namespace flightdeck::flight
