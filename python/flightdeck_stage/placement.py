"""Which data node holds a dataset partition: weighted rendezvous hashing,
exactly as flightdeck's C++ side computes it (src/flightdeck/flight/placement.h).

Every node gets a score for the key from XXH3-64 of its location seeded with
XXH3-64 of the key; the key lives on the highest score, its replicas on the
next ones. With equal weights the score is the hash itself (integers, so
both languages agree exactly); with weights it is -weight / ln(u),
u = (hash + 0.5) / 2**64.
"""

import math
from typing import List, Sequence, Tuple, Union

import xxhash

Node = Union[str, Tuple[str, float]]


def placement_hash(key: str, location: str) -> int:
    return xxhash.xxh3_64_intdigest(location.encode(), seed=xxhash.xxh3_64_intdigest(key.encode()))


def place_key(key: str, nodes: Sequence[Node], count: int = 1) -> List[int]:
    """Indexes into `nodes` (locations, or (location, weight) pairs) of the
    nodes that hold `key`, best first."""
    pairs = [(node, 1.0) if isinstance(node, str) else (node[0], float(node[1])) for node in nodes]
    if not pairs:
        raise ValueError("placement needs at least one data node")
    if len({location for location, _ in pairs}) != len(pairs):
        raise ValueError("a data node is listed twice")
    if any(not (weight > 0) or math.isinf(weight) for _, weight in pairs):
        raise ValueError("weights must be > 0")
    weighted = any(weight != pairs[0][1] for _, weight in pairs)

    def score(i):
        location, weight = pairs[i]
        h = placement_hash(key, location)
        value = -weight / math.log((h + 0.5) / 2.0**64) if weighted else h
        return (-value, location)  # highest first, location breaks ties

    return sorted(range(len(pairs)), key=score)[:count]
