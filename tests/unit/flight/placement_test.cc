#include "flightdeck/flight/placement.h"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"

namespace flightdeck::flight {
namespace {

std::vector<PlacementNode> Nodes(int count, std::vector<double> weights = {}) {
  std::vector<PlacementNode> nodes;
  for (int i = 0; i < count; ++i) {
    nodes.push_back({"grpc+tcp://10.0.0." + std::to_string(i + 1) + ":8815",
                     weights.empty() ? 1.0 : weights[static_cast<size_t>(i)]});
  }
  return nodes;
}

// The same vectors are in tests/interop/test_placement.py: the Python stage
// worker's placement must choose exactly these nodes too.
TEST(PlacementTest, SharedVectorsWithThePythonSide) {
  struct Vector {
    std::string key;
    std::vector<size_t> unweighted_top3;
    std::vector<size_t> weighted_top2;
  };
  const std::vector<Vector> vectors = {{"acme/orders/0", {2, 4, 1}, {2, 1}},
                                       {"acme/orders/1", {4, 0, 1}, {1, 0}},
                                       {"acme/orders/2", {3, 2, 1}, {2, 3}},
                                       {"t/x/17", {1, 2, 4}, {2, 1}},
                                       {"", {2, 4, 3}, {2, 4}}};
  for (const Vector& v : vectors) {
    ASSERT_OK_AND_ASSIGN(auto top3, PlaceKey(v.key, Nodes(5), 3));
    EXPECT_EQ(top3, v.unweighted_top3) << v.key;
    ASSERT_OK_AND_ASSIGN(auto top2, PlaceKey(v.key, Nodes(5, {1, 2, 3, 1, 0.5}), 2));
    EXPECT_EQ(top2, v.weighted_top2) << v.key;
  }
}

TEST(PlacementTest, SpreadsEvenlyAndMovesOnlyWhatItMust) {
  const int keys = 20'000;
  auto before = Nodes(10);
  auto after = Nodes(11);  // one node joins
  std::map<std::string, int> load;
  int moved = 0;
  for (int k = 0; k < keys; ++k) {
    const std::string key = "t/run/" + std::to_string(k);
    ASSERT_OK_AND_ASSIGN(auto old_place, PlaceKey(key, before));
    ASSERT_OK_AND_ASSIGN(auto new_place, PlaceKey(key, after));
    const std::string& was = before[old_place[0]].location;
    const std::string& is = after[new_place[0]].location;
    ++load[was];
    if (was != is) {
      ++moved;
      EXPECT_EQ(is, after.back().location) << "a key moved between two old nodes";
    }
  }
  for (const auto& [node, count] : load) {
    EXPECT_LT(count, keys / 10 * 1.15) << node;
    EXPECT_GT(count, keys / 10 * 0.85) << node;
  }
  EXPECT_LT(moved, keys / 11 * 1.2);
  EXPECT_GT(moved, keys / 11 * 0.8);
}

TEST(PlacementTest, WeightsShareTheKeysInProportion) {
  auto nodes = Nodes(3, {1, 2, 1});
  std::vector<int> load(3);
  for (int k = 0; k < 20'000; ++k) {
    ASSERT_OK_AND_ASSIGN(auto place, PlaceKey("k" + std::to_string(k), nodes));
    ++load[place[0]];
  }
  EXPECT_NEAR(load[1] / 20'000.0, 0.5, 0.03);
  EXPECT_NEAR(load[0] / 20'000.0, 0.25, 0.03);
}

TEST(PlacementTest, TheFirstChoiceIsTheTopOfTheReplicaList) {
  for (const auto& nodes : {Nodes(7), Nodes(7, {1, 2, 3, 1, 0.5, 4, 1})}) {
    ASSERT_OK_AND_ASSIGN(auto placement, Placement::Make(nodes));
    for (int k = 0; k < 2000; ++k) {
      const std::string key = "k" + std::to_string(k);
      EXPECT_EQ(placement.Place(key), placement.Place(key, 3)[0]) << key;
    }
  }
}

TEST(PlacementTest, ReplicasAreDistinctNodesAndBadNodeListsAreRefused) {
  ASSERT_OK_AND_ASSIGN(auto place, PlaceKey("k", Nodes(3), 5));
  EXPECT_EQ(place.size(), 3u);
  EXPECT_NE(place[0], place[1]);
  EXPECT_NE(place[1], place[2]);
  EXPECT_NE(place[0], place[2]);
  ASSERT_RAISES(Invalid, PlaceKey("k", {}));
  ASSERT_RAISES(Invalid, PlaceKey("k", {{"a", 1}, {"a", 1}}));
  ASSERT_RAISES(Invalid, PlaceKey("k", {{"a", 0}}));
}

}  // namespace
}  // namespace flightdeck::flight
