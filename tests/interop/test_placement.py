"""The Python stage worker's placement chooses exactly the nodes the C++
side does (the same vectors as tests/unit/flight/placement_test.cc)."""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "python"))
from flightdeck_stage.placement import place_key  # noqa: E402

NODES = [f"grpc+tcp://10.0.0.{i}:8815" for i in range(1, 6)]
WEIGHTED = list(zip(NODES, [1, 2, 3, 1, 0.5]))


@pytest.mark.parametrize("key, top3, weighted_top2", [
    ("acme/orders/0", [2, 4, 1], [2, 1]),
    ("acme/orders/1", [4, 0, 1], [1, 0]),
    ("acme/orders/2", [3, 2, 1], [2, 3]),
    ("t/x/17", [1, 2, 4], [2, 1]),
    ("", [2, 4, 3], [2, 4]),
])
def test_the_same_nodes_as_the_cpp_placement(key, top3, weighted_top2):
    assert place_key(key, NODES, 3) == top3
    assert place_key(key, WEIGHTED, 2) == weighted_top2


def test_bad_node_lists_are_refused():
    for nodes in ([], [NODES[0], NODES[0]], [(NODES[0], 0)]):
        with pytest.raises(ValueError):
            place_key("k", nodes)
