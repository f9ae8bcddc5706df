"""Workers come and go during a run: a worker started mid-run takes tasks of
that run at once (its identity, pid@host, is on activity tasks in the run's
history), and the first worker stopped (SIGTERM) mid-run loses nothing: the
run completes and its output counts every source row exactly once and
equals DuckDB's. Through the real CLI, three data nodes, the shuffle."""

import asyncio

import duckdb
import pyarrow.parquet as pq

from pipeline_cluster import cluster, wait_for  # noqa: F401 (cluster is a fixture)
from test_pipeline_shuffle import spec_text, three_nodes, wait_for_maps, write_orders


async def activity_identities(address: str, run: str) -> set:
    """The identities of the workers that started the run's activity tasks."""
    from temporalio.client import Client
    client = await Client.connect(address)
    found = set()
    async for event in client.get_workflow_handle(run).fetch_history_events():
        if event.HasField("activity_task_started_event_attributes"):
            found.add(event.activity_task_started_event_attributes.identity)
    return found


def test_a_worker_added_mid_run_takes_work_and_one_stopped_mid_run_loses_nothing(cluster, tmp_path):
    orders = write_orders(tmp_path, rows=8_000_000, groups=500_000, files=32)
    c = cluster("dynamic-workers")
    first = c.cpp_workers()[0]
    nodes = three_nodes(c)
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text("dynamic-workers", orders, nodes, c.queue, tmp_path / "out", """\
  - aggregate: {by: [s, k], aggs: {total: "sum(v)", n: "count(*)"}}
""", partitions=32))
    run_id = "dynamic-workers-run"
    started = c.start_run(spec, run_id)
    try:
        asyncio.run(wait_for_maps(c.address, run_id, 1))
        added = c.cpp_worker()
        wait_for(lambda: any(i.startswith(f"{added.proc.pid}@") for i in asyncio.run(activity_identities(
            c.address, run_id))), 300, "the added worker to start one of the run's activities")
        assert started.poll() is None, "the run ended before the first worker was stopped"
        assert first.terminate() == 0
        out, _ = started.communicate(timeout=600)
    finally:
        if started.poll() is None:
            started.kill()
    assert started.returncode == 0, out
    identities = asyncio.run(activity_identities(c.address, run_id))
    assert any(i.startswith(f"{first.proc.pid}@") for i in identities), identities
    got = pq.read_table(tmp_path / "out")
    assert sum(got.column("n").to_pylist()) == 8_000_000  # every row once
    groups, total = duckdb.sql(f"""SELECT count(DISTINCT (s, k)), sum(v)
                                   FROM read_parquet('{orders}/*.parquet')""").fetchall()[0]
    assert got.num_rows == groups
    assert sum(got.column("total").to_pylist()) == total
