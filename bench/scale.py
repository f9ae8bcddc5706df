"""scripts/bench scale: how flightdeck's data plane scales out (issue 19).

(a) Placement simulated over 10, 100 and 1000 nodes with 100,000 partition
    keys (bench/placement_bench.cc, the real flight::PlaceKey): max/mean load
    and the fraction of keys moved when one node joins or leaves, against
    the ideal 1/(N+1) and 1/N. Targets at 100 nodes: max/mean at most 1.15,
    moved fraction at most 1.2/N.
(b) The shuffle aggregate (SCALE_BENCH_ROWS rows of Parquet in
    SCALE_BENCH_GROUPS groups: sum, count and max per group, written to
    Parquet) through `flightdeck.Pipeline` with one worker (two activity
    slots) over 1, 2 and 3 local data nodes, one reduce per partition;
    against DuckDB (Python, all cores) running the same aggregate from the
    same files into Parquet in the same run. Best of SCALE_BENCH_REPEATS.
    shuffle_rows_per_s is the 3-node figure.
(c) The range-shuffled sort of the same rows by (k, id) to Parquet over 3
    nodes (sample, boundaries, splits, K sorted reduces) against DuckDB's
    ORDER BY of the same files into Parquet: sort_rows_per_s,
    duckdb_sort_rows_per_s.
The last stdout line is one JSON object of the figures.
"""

import asyncio
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("FLIGHTDECK_BUILD_DIR") or ROOT / "build")
sys.path.insert(0, str(ROOT / "bench"))
from pipeline import WORKFLOW, TASK_TIMEOUT, start, stop  # noqa: E402
from pipeline_json_baseline import dev_server  # noqa: E402
from sdk import free_port  # noqa: E402

PARTITIONS = int(os.environ.get("SCALE_BENCH_PARTITIONS", "100000"))
ROWS = int(os.environ.get("SCALE_BENCH_ROWS", "20000000"))
GROUPS = int(os.environ.get("SCALE_BENCH_GROUPS", "5000000"))
FILES = int(os.environ.get("SCALE_BENCH_FILES", "8"))
REPEATS = int(os.environ.get("SCALE_BENCH_REPEATS", "2"))


def write_input(folder):
    """FILES Parquet files: id, k (a hash of id modulo GROUPS), v."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    folder.mkdir()
    per_file = ROWS // FILES
    for part in range(FILES):
        ids = pa.array(range(part * per_file, (part + 1) * per_file), pa.int64())
        k = pc.bit_wise_and(pc.multiply(ids, 2654435761), (1 << 62) - 1)
        k = pc.subtract(k, pc.multiply(pc.divide(k, GROUPS), GROUPS))
        v = pc.bit_wise_and(pc.multiply(ids, 40503), 1023)
        pq.write_table(pa.table({"id": ids, "k": k, "v": v}), folder / f"part-{part}.parquet")


AGGREGATE = '  - aggregate: {by: [k], aggs: {total: "sum(v)", n: "count(*)", top: "max(v)"}}'
SORT = "  - sort: [k, id]"


def spec_text(orders, nodes, sink, queue, stages):
    return f"""name: scale-bench
tenant: bench
source:
  parquet: {orders}
stages:
{stages}
sink:
  parquet: {sink}
partitions: {FILES}
parallelism: 2
durable: false
shuffle: {FILES}
retry: {{max_attempts: 3, initial_interval_ms: 100, max_interval_ms: 1000}}
nodes: [{", ".join(nodes)}]
task_queue: {queue}
"""


async def shuffle_rates(address, work, orders, stages, counts, what):
    """Rows/s of the spec with `stages` over each of `counts` local nodes."""
    from temporalio.client import Client
    client = await Client.connect(address, namespace="default")
    procs, nodes, rates = [], [], {}
    try:
        procs.append(start(["worker", "--target", address, "--task-queue", "scale", "--activity-slots", "2"],
                           "flightdeck worker polling"))
        for count in counts:
            while len(nodes) < count:
                port = free_port()
                procs.append(start(["node", "--port", str(port), "--data-dir", str(work / f"node-{len(nodes)}")],
                                   "flightdeck node listening"))
                nodes.append(f"grpc+tcp://127.0.0.1:{port}")
            best = None
            for repeat in range(REPEATS):
                run = f"scale-{count}-{repeat}-{uuid.uuid4().hex[:6]}"
                spec = spec_text(orders, nodes, work / f"out-{run}", "scale", stages)
                began = time.perf_counter()
                await client.execute_workflow(WORKFLOW, args=[spec, "scale.yaml", run], id=run,
                                              task_queue="scale", task_timeout=TASK_TIMEOUT)
                seconds = time.perf_counter() - began
                best = seconds if best is None else min(best, seconds)
            rates[count] = ROWS / best
            print(f"{what} over {count} node(s): {ROWS} rows in {best:.2f} s = {rates[count] / 1e6:.2f} M rows/s",
                  flush=True)
    finally:
        for proc in procs:
            stop(proc)
    return rates


def duckdb_rate(work, query, what):
    """Rows/s of DuckDB writing `query` (FILES as the input) to Parquet."""
    import duckdb
    best = None
    for repeat in range(REPEATS):
        out = work / f"duckdb-{repeat}.parquet"
        began = time.perf_counter()
        duckdb.sql(f"COPY ({query}) TO '{out}' (FORMAT parquet)")
        seconds = time.perf_counter() - began
        best = seconds if best is None else min(best, seconds)
    print(f"duckdb: the same {what} in {best:.2f} s = {ROWS / best / 1e6:.2f} M rows/s", flush=True)
    return ROWS / best


def main():
    done = subprocess.run([str(BUILD / "bench" / "placement_bench"), str(PARTITIONS)], capture_output=True, text=True,
                          check=True)
    sys.stderr.write(done.stderr)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    work = pathlib.Path(tempfile.mkdtemp(prefix="fd-bench-scale-"))
    try:
        orders = work / "orders"
        write_input(orders)
        files = f"read_parquet('{orders}/*.parquet')"
        duck = duckdb_rate(work, f"SELECT k, sum(v) AS total, count(*) AS n, max(v) AS top FROM {files} GROUP BY k",
                           "aggregate")
        duck_sort = duckdb_rate(work, f"SELECT * FROM {files} ORDER BY k, id", "sort")
        with dev_server() as address:
            rates = asyncio.run(shuffle_rates(address, work, orders, AGGREGATE, (1, 2, 3), "shuffle aggregate"))
            sorts = asyncio.run(shuffle_rates(address, work, orders, SORT, (3,), "range-shuffled sort"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures.update({"shuffle_rows_per_s": rates[3], "shuffle_rows_per_s_1": rates[1],
                    "shuffle_rows_per_s_2": rates[2], "shuffle_rows_per_s_3": rates[3],
                    "duckdb_rows_per_s": duck, "shuffle_vs_duckdb": rates[3] / duck, "groups": GROUPS,
                    "rows": ROWS, "sort_rows_per_s": sorts[3], "duckdb_sort_rows_per_s": duck_sort,
                    "sort_vs_duckdb": sorts[3] / duck_sort,
                    "targets": {"placement_max_over_mean_100": 1.15, "moved_fraction_join_100": 1.2 / 100}})
    ok = (figures["placement_max_over_mean_100"] <= 1.15 and figures["moved_fraction_join_100"] <= 1.2 / 100)
    print(f"placement at 100 nodes: max/mean {figures['placement_max_over_mean_100']:.3f}, "
          f"{figures['moved_fraction_join_100']:.4f} of the keys move when one joins "
          f"({'within' if ok else 'outside'} the targets)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
