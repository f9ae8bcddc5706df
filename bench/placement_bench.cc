// bench/placement_bench.cc: placement simulated over many nodes (issue 19,
// part (a) of scripts/bench scale). For 10, 100 and 1000 nodes and 100,000
// partition keys: the max/mean load, and the fraction of keys that move
// when one node joins and when one leaves (ideal: 1/(N+1) and 1/N).
// Prints one JSON object.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "flightdeck/flight/placement.h"

namespace {

using flightdeck::flight::Placement;
using flightdeck::flight::PlacementNode;

std::vector<PlacementNode> Nodes(int count) {
  std::vector<PlacementNode> nodes;
  for (int i = 0; i < count; ++i) {
    nodes.push_back({"grpc+tcp://node-" + std::to_string(i) + ".flightdeck:8815", 1.0});
  }
  return nodes;
}

std::vector<std::string> Place(const std::vector<std::string>& keys, const std::vector<PlacementNode>& nodes) {
  const Placement placement = *Placement::Make(nodes);
  std::vector<std::string> out;
  out.reserve(keys.size());
  for (const auto& key : keys) out.push_back(nodes[placement.Place(key)].location);
  return out;
}

double MovedFraction(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  size_t moved = 0;
  for (size_t i = 0; i < a.size(); ++i) moved += a[i] != b[i] ? 1 : 0;
  return static_cast<double>(moved) / static_cast<double>(a.size());
}

}  // namespace

int main(int argc, char** argv) {
  const int keys_count = argc > 1 ? std::atoi(argv[1]) : 100'000;
  std::vector<std::string> keys;
  for (int k = 0; k < keys_count; ++k) keys.push_back("tenant/run-" + std::to_string(k / 64) + "/" + std::to_string(k % 64));
  nlohmann::json out;
  for (int n : {10, 100, 1000}) {
    const auto started = std::chrono::steady_clock::now();
    auto nodes = Nodes(n);
    const auto base = Place(keys, nodes);
    std::map<std::string, int> load;
    for (const auto& node : base) ++load[node];
    int max_load = 0;
    for (const auto& node : nodes) max_load = std::max(max_load, load[node.location]);
    const double mean = static_cast<double>(keys_count) / n;
    auto joined = nodes;
    joined.push_back({"grpc+tcp://node-new.flightdeck:8815", 1.0});
    auto left = nodes;
    left.erase(left.begin() + n / 2);
    const double join = MovedFraction(base, Place(keys, joined));
    const double leave = MovedFraction(base, Place(keys, left));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const std::string suffix = "_" + std::to_string(n);
    out["placement_max_over_mean" + suffix] = max_load / mean;
    out["moved_fraction_join" + suffix] = join;
    out["moved_fraction_leave" + suffix] = leave;
    out["moved_join_vs_ideal" + suffix] = join * (n + 1);
    out["moved_leave_vs_ideal" + suffix] = leave * n;
    std::fprintf(stderr,
                 "%4d nodes, %d keys: max/mean %.3f, moved on join %.4f (ideal %.4f), on leave %.4f (ideal %.4f) "
                 "[%.1f s]\n",
                 n, keys_count, max_load / mean, join, 1.0 / (n + 1), leave, 1.0 / n, seconds);
  }
  out["partitions"] = keys_count;
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
