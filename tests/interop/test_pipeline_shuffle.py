"""Global stages over several data nodes and workers run as a hash shuffle
(StagePlan in pipeline/stages.h): each partition's chain ends by putting K
buckets of its rows on the nodes placement picks for the K reduces, and K
flightdeck.reduce activities each read their bucket of every map. No
activity holds the whole data set. Through the real CLI and processes: a
10M-group aggregate over 3 nodes and 2 workers equals DuckDB's; a distinct
with stages after it equals DuckDB's; a run whose worker and node are
SIGKILLed during the shuffle writes the same bytes as a fault-free one."""

import asyncio
import pathlib
import time

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline_cluster import cluster  # noqa: F401 (cluster is a fixture)
from test_pipeline_deterministic import sink_files


def write_orders(folder: pathlib.Path, rows: int, groups: int, files: int) -> pathlib.Path:
    """orders/part-*.parquet: id (unique), k (id % groups), v (an int), s (a string)."""
    out = folder / "orders"
    out.mkdir()
    per_file = rows // files
    for part in range(files):
        ids = pa.array(range(part * per_file, (part + 1) * per_file), pa.int64())
        k = pc.bit_wise_and(pc.multiply(ids, 2654435761), (1 << 62) - 1)
        k = pc.subtract(k, pc.multiply(pc.divide(k, groups), groups))  # k % groups, spread over the files
        v = pc.bit_wise_and(pc.multiply(ids, 40503), 1023)
        s = pc.cast(pc.bit_wise_and(ids, 7), pa.string())
        pq.write_table(pa.table({"id": ids, "k": k, "v": v, "s": s}), out / f"part-{part}.parquet")
    return out


def three_nodes(c) -> list:
    """The cluster's node and two more (each its own durable data folder)."""
    return [c.node] + [c.data_node(c.tmp_path / f"node-{i}").location for i in (1, 2)]


def spec_text(name, orders, nodes, queue, out, stages, partitions=6, shuffle="auto") -> str:
    return f"""name: {name}
source:
  parquet: {orders}
stages:
{stages}
sink:
  parquet: {out}
partitions: {partitions}
parallelism: 4
shuffle: {shuffle}
nodes: [{", ".join(nodes)}]
task_queue: {queue}
retry: {{max_attempts: 8, initial_interval_ms: 200, backoff: 1.5, max_interval_ms: 2000}}
"""


def run(c, spec: pathlib.Path, run_id: str) -> str:
    done = c.cli("run", str(spec), "--wait", "--id", run_id, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def sorted_table(table: pa.Table, keys) -> pa.Table:
    return table.sort_by([(key, "ascending") for key in keys])


def test_a_10m_group_aggregate_over_three_nodes_and_two_workers_equals_duckdb(cluster, tmp_path):
    orders = write_orders(tmp_path, rows=12_000_000, groups=10_000_000, files=6)
    c = cluster("shuffle-agg")
    c.cpp_worker()
    nodes = three_nodes(c)
    spec = tmp_path / "agg.yaml"
    spec.write_text(spec_text("shuffle-agg", orders, nodes, c.queue, tmp_path / "out", """\
  - aggregate: {by: [k], aggs: {total: "sum(v)", n: "count(*)", top: "max(v)"}}
  - filter: "n > 0"
"""))
    summary = run(c, spec, "shuffle-agg-run")
    # One part per reduce (one per partition with several nodes).
    assert len(sink_files(tmp_path / "out")) == 6, summary
    got = pq.read_table(tmp_path / "out")
    assert got.num_rows == 10_000_000
    want = duckdb.sql(f"""SELECT k, sum(v) AS total, count(*) AS n, max(v) AS top
                          FROM read_parquet('{orders}/*.parquet') GROUP BY k""").to_arrow_table()
    got = sorted_table(got.select(["k", "total", "n", "top"]), ["k"])
    want = sorted_table(want, ["k"])
    for column in ["k", "total", "n", "top"]:
        assert got.column(column).cast(pa.int64()).equals(want.column(column).cast(pa.int64())), column


def test_a_distinct_with_stages_after_it_and_a_sort_after_those_equals_duckdb(cluster, tmp_path):
    orders = write_orders(tmp_path, rows=300_000, groups=50_000, files=3)
    c = cluster("shuffle-distinct")
    nodes = three_nodes(c)
    spec = tmp_path / "distinct.yaml"
    spec.write_text(spec_text("shuffle-distinct", orders, nodes, c.queue, tmp_path / "out", """\
  - select: [k, s]
  - distinct: true
  - with_column: {name: k2, expr: "k * 2"}
  - sort: [{column: k2, descending: true}, {column: s}]
  - limit: 1000
""", partitions=3, shuffle=4))
    summary = run(c, spec, "shuffle-distinct-run")
    # The sort and limit after the reduces run once, over their outputs.
    assert len(sink_files(tmp_path / "out")) == 1, summary
    got = pq.read_table(tmp_path / "out")
    want = duckdb.sql(f"""SELECT k, s, k * 2 AS k2 FROM (SELECT DISTINCT k, s FROM read_parquet('{orders}/*.parquet'))
                          ORDER BY k2 DESC, s LIMIT 1000""").to_arrow_table()
    assert got.column("k2").to_pylist() == want.column("k2").to_pylist()
    assert got.column("s").to_pylist() == want.column("s").to_pylist()


async def wait_for_maps(address: str, run: str, count: int) -> None:
    """Polls the run's progress query until `count` partitions (maps) finished."""
    from temporalio.client import Client
    client = await Client.connect(address)
    handle = client.get_workflow_handle(run)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            progress = await handle.query("progress")
            if progress["partitions_done"] >= count:
                assert progress["phase"] in ("partitions", "reduce"), progress
                return
        except Exception:  # not started yet
            pass
        await asyncio.sleep(0.02)
    raise AssertionError(f"{run}: {count} maps did not finish within 300 s")


def test_a_worker_and_a_node_killed_during_the_shuffle_change_no_byte(cluster, tmp_path):
    orders = write_orders(tmp_path, rows=6_000_000, groups=2_000_000, files=6)
    c = cluster("shuffle-faults", worker_args=["--engine-threads", "2"])
    c.cpp_worker()
    nodes = three_nodes(c)
    stages = """\
  - filter: "v > 10"
  - aggregate: {by: [k, s], aggs: {total: "sum(v)", n: "count(*)"}}
"""

    def fault(run_id):
        # Once two maps put their buckets (on every node: one reduce per
        # partition), kill the third node and a worker.
        asyncio.run(wait_for_maps(c.address, run_id, 2))
        kill_and_replace_a_worker_and_a_node(c, nodes[2], tmp_path / "node-2")

    assert_a_fault_changes_no_byte(
        c, tmp_path, lambda sink: spec_text("shuffle-clean", orders, nodes, c.queue, sink, stages), fault, parts=6)


def assert_a_fault_changes_no_byte(c, tmp_path: pathlib.Path, spec_for, fault, parts: int) -> str:
    """Runs the spec spec_for(sink folder) without a fault, then again with
    fault(run id) called once that run started: it completes, and its
    committed parts (`parts` of them) are byte for byte the fault-free
    run's. The faulty run's id."""
    clean = tmp_path / "clean.yaml"
    clean.write_text(spec_for(tmp_path / "clean"))
    run(c, clean, f"{c.queue}-clean-run")
    want = sink_files(tmp_path / "clean")
    assert len(want) == parts, list(want)
    faulty = tmp_path / "faulty.yaml"
    faulty.write_text(spec_for(tmp_path / "faulty"))
    run_id = f"{c.queue}-faulty-run"
    started = c.start_run(faulty, run_id)
    try:
        fault(run_id)
        out, _ = started.communicate(timeout=600)
    finally:
        if started.poll() is None:
            started.kill()
    assert started.returncode == 0, out
    got = sink_files(tmp_path / "faulty")
    assert sorted(got) == sorted(want)
    assert [name for name in want if got[name] != want[name]] == [], "parts differ between the clean and faulty run"
    return run_id


def kill_and_replace_a_worker_and_a_node(c, victim: str, victim_folder: pathlib.Path) -> None:
    """SIGKILLs the cluster's first C++ worker and the node at `victim`, then
    starts the node again on its port and folder, and another worker."""
    node_process = c.node_process(victim)
    c.cpp_workers()[0].kill()
    node_process.kill()
    c.data_node(victim_folder, port=int(victim.rsplit(":", 1)[1]))
    c.cpp_worker()


def write_customers(folder: pathlib.Path, rows: int, files: int) -> pathlib.Path:
    """customers/part-*.parquet: cid (int32, unique), w (cid % 97)."""
    out = folder / "customers"
    out.mkdir()
    per_file = rows // files
    for part in range(files):
        cid = pa.array(range(part * per_file, (part + 1) * per_file), pa.int32())
        w = pc.bit_wise_and(pc.multiply(pc.cast(cid, pa.int64()), 7), 127)
        pq.write_table(pa.table({"cid": cid, "w": w}), out / f"part-{part}.parquet")
    return out


def test_a_join_of_two_10m_row_inputs_over_three_nodes_and_two_workers_equals_duckdb(cluster, tmp_path):
    orders = write_orders(tmp_path, rows=10_000_000, groups=10_000_000, files=8)
    customers = write_customers(tmp_path, rows=10_000_000, files=8)
    c = cluster("shuffle-join")
    c.cpp_worker()
    nodes = three_nodes(c)
    spec = tmp_path / "join.yaml"
    # Keys of different types (int64 k, int32 cid) meet in one bucket.
    spec.write_text(spec_text("shuffle-join", orders, nodes, c.queue, tmp_path / "out", f"""\
  - filter: "v >= 0"
  - join: {{source: {{parquet: {customers}}}, on: [k], right_on: [cid], strategy: shuffle}}
  - with_column: {{name: vw, expr: "v * w"}}
"""))
    summary = run(c, spec, "shuffle-join-run")
    assert len(sink_files(tmp_path / "out")) == 6, summary
    got = pq.read_table(tmp_path / "out", columns=["id", "k", "w", "vw"])
    want = duckdb.sql(f"""SELECT o.id, o.k, c.w, o.v * c.w AS vw FROM read_parquet('{orders}/*.parquet') o
                          JOIN read_parquet('{customers}/*.parquet') c ON o.k = c.cid""").to_arrow_table()
    assert got.num_rows == want.num_rows == 10_000_000
    got, want = sorted_table(got, ["id"]), sorted_table(want, ["id"])
    for column in ["id", "k", "w", "vw"]:
        assert got.column(column).cast(pa.int64()).equals(want.column(column).cast(pa.int64())), column
