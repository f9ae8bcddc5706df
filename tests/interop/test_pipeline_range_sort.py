"""A global sort over several data nodes runs as a range shuffle (StagePlan
in pipeline/stages.h): each partition's chain checkpoints its output and a
sample of its sort keys, flightdeck.bounds turns the samples into K-1
boundaries, flightdeck.split puts each map's rows of range k in reduce k's
bucket, and reduce k sorts its range. The parts, in name order, are the
sorted rows. Through the real CLI and processes: 12 reduces over 3 nodes and
2 workers equal DuckDB's ORDER BY (nulls first, descending and ascending
keys); a worker and a node SIGKILLed during the split change no byte; a
node that loses its memory during the reduces costs recomputes only."""

import asyncio
import pathlib
import sys
import time

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline_cluster import cluster  # noqa: F401 (cluster is a fixture)
from test_pipeline_deterministic import sink_files
from test_pipeline_replicas import recomputes
from test_pipeline_shuffle import (assert_a_fault_changes_no_byte, kill_and_replace_a_worker_and_a_node, run,
                                   spec_text, three_nodes)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "python"))
from flightdeck_stage.placement import place_key  # noqa: E402


def write_events(folder: pathlib.Path, rows: int, files: int) -> pathlib.Path:
    """events/part-*.parquet: id (unique), k (a spread int64, null every 97th
    row), s (a string of 8 values), v (an int)."""
    out = folder / "events"
    out.mkdir()
    per_file = rows // files
    for part in range(files):
        ids = pa.array(range(part * per_file, (part + 1) * per_file), pa.int64())
        k = pc.bit_wise_and(pc.multiply(ids, 2654435761), (1 << 40) - 1)
        k = pc.if_else(pc.equal(pc.bit_wise_and(ids, 127), 5), pa.scalar(None, pa.int64()), k)
        s = pc.cast(pc.bit_wise_and(ids, 7), pa.string())
        v = pc.bit_wise_and(pc.multiply(ids, 40503), 1023)
        pq.write_table(pa.table({"id": ids, "k": k, "s": s, "v": v}), out / f"part-{part}.parquet")
    return out


STAGES = """\
  - filter: "v > 3"
  - sort: [{column: s, descending: true}, {column: k, nulls_first: true}, id]
  - with_column: {name: w, expr: "v * 2"}
"""


async def activity_types(address: str, run: str) -> set:
    """The activity types the run scheduled."""
    from temporalio.client import Client
    client = await Client.connect(address)
    found = set()
    async for event in client.get_workflow_handle(run).fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            found.add(event.activity_task_scheduled_event_attributes.activity_type.name)
    return found


def parts_in_name_order(folder: pathlib.Path) -> list:
    return [pq.read_table(folder / name) for name in sink_files(folder)]


def test_a_sort_over_three_nodes_is_range_partitioned_and_its_parts_in_order_equal_duckdb(cluster, tmp_path):
    events = write_events(tmp_path, rows=3_000_000, files=12)
    c = cluster("range-sort")
    c.cpp_worker()
    nodes = three_nodes(c)
    spec = tmp_path / "sort.yaml"
    spec.write_text(spec_text("range-sort", events, nodes, c.queue, tmp_path / "out", STAGES, partitions=12))
    summary = run(c, spec, "range-sort-run")

    names = list(sink_files(tmp_path / "out"))
    # One part per reduce, numbered so that names list in order.
    assert names == [f"part-{k:02d}.parquet" for k in range(12)], summary
    parts = parts_in_name_order(tmp_path / "out")
    rows = [part.num_rows for part in parts]
    # The boundaries come from a sample: every range holds a fair share.
    assert min(rows) > 0 and max(rows) < 2 * sum(rows) / len(rows), rows
    got = pa.concat_tables(parts)
    want = duckdb.sql(f"""SELECT id, k, s, v, v * 2 AS w FROM read_parquet('{events}/*.parquet') WHERE v > 3
                          ORDER BY s DESC, k ASC NULLS FIRST, id""").to_arrow_table()
    assert got.num_rows == want.num_rows
    for column in ["id", "k", "s", "w"]:
        assert got.column(column).cast(want.schema.field(column).type).equals(want.column(column)), column
    # The range shuffle's activities ran; no combine did.
    types = asyncio.run(activity_types(c.address, "range-sort-run"))
    assert {"flightdeck.bounds", "flightdeck.split", "flightdeck.reduce"} <= types, types
    assert "flightdeck.combine" not in types, types


async def wait_for_phase(address: str, run: str, phases: tuple) -> None:
    """Polls the run's progress query until its phase is one of `phases`."""
    from temporalio.client import Client
    client = await Client.connect(address)
    handle = client.get_workflow_handle(run)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if (await handle.query("progress"))["phase"] in phases:
                return
        except Exception:  # not started yet
            pass
        await asyncio.sleep(0.02)
    raise AssertionError(f"{run}: no phase of {phases} within 300 s")


def test_a_worker_and_a_node_killed_during_the_split_change_no_byte(cluster, tmp_path):
    events = write_events(tmp_path, rows=3_000_000, files=6)
    c = cluster("range-faults", worker_args=["--engine-threads", "2"])
    c.cpp_worker()
    nodes = three_nodes(c)

    def fault(run_id):
        asyncio.run(wait_for_phase(c.address, run_id, ("split", "reduce")))
        kill_and_replace_a_worker_and_a_node(c, nodes[2], tmp_path / "node-2")

    assert_a_fault_changes_no_byte(
        c, tmp_path, lambda sink: spec_text("range-clean", events, nodes, c.queue, sink, STAGES), fault, parts=6)


def test_a_node_lost_with_its_memory_during_the_reduces_costs_only_recomputes(cluster, tmp_path):
    """durable: false keeps the datasets in the nodes' memory: the node of
    the last reduce, killed when the reduces start and restarted empty,
    loses its buckets (and what else it held); the reduces that miss a
    bucket run that map's split again (and its chain when the map's output
    went too), and the parts are byte for byte those of a fault-free run."""
    events = write_events(tmp_path, rows=3_000_000, files=6)
    c = cluster("range-memory", worker_args=["--engine-threads", "2"])
    c.cpp_worker()
    nodes = three_nodes(c)
    folders = {nodes[0]: tmp_path / "node", nodes[1]: tmp_path / "node-1", nodes[2]: tmp_path / "node-2"}
    victim = nodes[place_key("default/range-memory/reduce/5", nodes)[0]]

    def fault(run_id):
        asyncio.run(wait_for_phase(c.address, run_id, ("reduce",)))
        kill_and_replace_a_worker_and_a_node(c, victim, folders[victim])

    run_id = assert_a_fault_changes_no_byte(
        c, tmp_path,
        lambda sink: spec_text("range-memory", events, nodes, c.queue, sink, STAGES) + "durable: false\n",
        fault, parts=6)
    assert recomputes(c, run_id) > 0
