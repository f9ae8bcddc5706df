"""Locality: a worker started beside a data node (`flightdeck worker --node
LOC`) also polls that node's task queue; a run with `locality: true` sends
each partition's chain and each reduce first to the queue of the node that
holds its data, and to the shared queue after kLocalStartTimeout when no
worker is beside that node. The worker's metrics count the bytes it moved
to and from its own node (local) and the others (remote). Through the real
CLI, two nodes, one worker beside the first."""

import asyncio
import re
import urllib.request

import duckdb
import pyarrow.parquet as pq

from pipeline_cluster import cluster  # noqa: F401 (cluster is a fixture)
from test_pipeline_shuffle import spec_text, write_orders


async def scheduled_queues(address: str, run: str) -> dict:
    """Per task queue: how many partition and reduce activities were scheduled
    on it, and how many of those timed out before a worker took them."""
    from temporalio.client import Client
    client = await Client.connect(address)
    scheduled, queue_of, timed_out = {}, {}, {}
    async for event in client.get_workflow_handle(run).fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name in ("flightdeck.partition", "flightdeck.reduce"):
                queue_of[event.event_id] = attrs.task_queue.name
                scheduled[attrs.task_queue.name] = scheduled.get(attrs.task_queue.name, 0) + 1
        if event.HasField("activity_task_timed_out_event_attributes"):
            queue = queue_of.get(event.activity_task_timed_out_event_attributes.scheduled_event_id)
            if queue:
                timed_out[queue] = timed_out.get(queue, 0) + 1
    return {"scheduled": scheduled, "timed_out": timed_out}


def test_steps_go_to_the_worker_beside_their_node_first_and_to_the_shared_queue_otherwise(cluster, tmp_path):
    orders = write_orders(tmp_path, rows=400_000, groups=10_000, files=8)
    c = cluster("locality")
    near, far = c.node, c.data_node(tmp_path / "far").location
    beside = c.start(["worker", "--target", c.address, "--task-queue", c.queue, "--activity-slots", "2",
                      "--node", near, "--metrics-port", "0"], r"flightdeck metrics at (http://\S+)",
                     stderr="cpp-worker-beside", env=c.env)
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text("locality", orders, [near, far], c.queue, tmp_path / "out", """\
  - aggregate: {by: [k], aggs: {total: "sum(v)", n: "count(*)"}}
""", partitions=8) + "locality: true\n")
    done = c.cli("run", str(spec), "--wait", "--id", "locality-run")
    assert done.returncode == 0, done.stdout + done.stderr

    seen = asyncio.run(scheduled_queues(c.address, "locality-run"))
    strip = lambda location: location.split("://", 1)[1]  # noqa: E731
    near_queue, far_queue = f"{c.queue}@{strip(near)}", f"{c.queue}@{strip(far)}"
    # Steps whose data is on the near node ran on its queue; those on the far
    # node waited there for nobody, then went to the shared queue.
    assert seen["scheduled"].get(near_queue, 0) > 0, seen
    assert seen["timed_out"].get(near_queue, 0) == 0, seen
    assert seen["scheduled"].get(far_queue, 0) > 0, seen
    assert seen["timed_out"].get(far_queue, 0) == seen["scheduled"][far_queue], seen
    assert seen["scheduled"].get(c.queue, 0) == seen["scheduled"][far_queue], seen

    metrics = urllib.request.urlopen(beside.match.group(1), timeout=10).read().decode()
    moved = {(m.group(1), m.group(2)): float(m.group(3)) for m in re.finditer(
        r'^flightdeck_pipeline_node_bytes\{direction="(\w+)",locality="(\w+)"\} (\S+)$', metrics, re.M)}
    assert moved.get(("write", "local"), 0) > 0 and moved.get(("read", "local"), 0) > 0, moved

    got = pq.read_table(tmp_path / "out").sort_by("k")
    want = duckdb.sql(f"SELECT k, sum(v) AS total, count(*) AS n FROM read_parquet('{orders}/*.parquet') GROUP BY k"
                      ).to_arrow_table().sort_by("k")
    assert got.column("total").to_pylist() == want.column("total").to_pylist()
    assert got.column("n").to_pylist() == want.column("n").to_pylist()
