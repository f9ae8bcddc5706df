"""scripts/bench scale: how flightdeck's data plane scales out (issue 19).

(a) Placement simulated over 10, 100 and 1000 nodes with 100,000 partition
    keys (bench/placement_bench.cc, the real flight::PlaceKey): max/mean load
    and the fraction of keys moved when one node joins or leaves, against
    the ideal 1/(N+1) and 1/N. Targets at 100 nodes: max/mean at most 1.15,
    moved fraction at most 1.2/N.
(b) The shuffle aggregate over 1, 2 and 3 nodes against DuckDB: not built
    yet (the shuffle is the next part of issue 19); its keys are null.
The last stdout line is one JSON object of the figures.
"""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("FLIGHTDECK_BUILD_DIR") or ROOT / "build")
PARTITIONS = int(os.environ.get("SCALE_BENCH_PARTITIONS", "100000"))


def main():
    done = subprocess.run([str(BUILD / "bench" / "placement_bench"), str(PARTITIONS)], capture_output=True, text=True,
                          check=True)
    sys.stderr.write(done.stderr)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures.update({"shuffle_rows_per_s": None, "duckdb_rows_per_s": None, "groups": None,
                    "targets": {"placement_max_over_mean_100": 1.15, "moved_fraction_join_100": 1.2 / 100}})
    ok = (figures["placement_max_over_mean_100"] <= 1.15 and figures["moved_fraction_join_100"] <= 1.2 / 100)
    print(f"placement at 100 nodes: max/mean {figures['placement_max_over_mean_100']:.3f}, "
          f"{figures['moved_fraction_join_100']:.4f} of the keys move when one joins "
          f"({'within' if ok else 'outside'} the targets)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
