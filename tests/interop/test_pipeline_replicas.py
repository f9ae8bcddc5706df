"""replicas: R keeps R copies of every dataset a run puts on the nodes, each
on a distinct node along its partition's placement ranking. With R = 2 over
three nodes: the run's datasets are twice as many as with one copy, and a
data node SIGKILLed during the shuffle and never brought back costs nothing:
the run reads the copies, writes new ones to the nodes left, completes
without a single recompute and writes the same bytes as a fault-free run.
Through the real CLI and processes."""

import asyncio
import json
import pathlib
import sys

from pipeline_cluster import cluster, node_action  # noqa: F401 (cluster is a fixture)
from test_pipeline_deterministic import sink_files
from test_pipeline_shuffle import spec_text, three_nodes, wait_for_maps, write_orders

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "python"))
from flightdeck_stage.placement import place_key  # noqa: E402

STAGES = """\
  - filter: "v > 10"
  - aggregate: {by: [k, s], aggs: {total: "sum(v)", n: "count(*)"}}
"""


def spec_for(name, tenant, orders, nodes, queue, out, replicas, retention="0"):
    return (spec_text(name, orders, nodes, queue, out, STAGES)
            + f"tenant: {tenant}\nreplicas: {replicas}\nretention: {retention}\n")


def datasets_of(nodes, tenant) -> int:
    total = 0
    for node in nodes:
        usage = node_action(node, tenant, "stats")["tenant"]
        total += usage["datasets"] if usage else 0
    return total


def recomputes(c, run_id) -> int:
    shown = c.cli("status", run_id, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["result"]["recomputes"]


def test_two_copies_of_every_dataset_and_a_dead_node_costs_no_recompute(cluster, tmp_path):
    orders = write_orders(tmp_path, rows=3_000_000, groups=1_000_000, files=6)
    c = cluster("replicas")
    c.cpp_worker()
    nodes = three_nodes(c)

    # The same run kept (retention) with one copy and with two.
    for tenant, replicas in (("one", 1), ("two", 2)):
        spec = tmp_path / f"{tenant}.yaml"
        spec.write_text(spec_for("replicas", tenant, orders, nodes, c.queue, tmp_path / tenant, replicas, "1h"))
        done = c.cli("run", str(spec), "--wait", "--id", f"replicas-{tenant}", timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    one, two = datasets_of(nodes, "one"), datasets_of(nodes, "two")
    assert one > 0 and two == 2 * one, (one, two)
    want = sink_files(tmp_path / "two")
    assert sink_files(tmp_path / "one") == want

    # A node dies for good mid-shuffle (not the one holding the stored spec).
    spec_node = nodes[place_key("two/replicas/0", nodes)[0]]
    victim = next(n for n in nodes if n != spec_node)
    spec = tmp_path / "faulty.yaml"
    spec.write_text(spec_for("replicas", "two", orders, nodes, c.queue, tmp_path / "faulty", 2))
    run_id = "replicas-faulty"
    started = c.start_run(spec, run_id)
    try:
        asyncio.run(wait_for_maps(c.address, run_id, 2))
        c.node_process(victim).kill()
        out, _ = started.communicate(timeout=600)
    finally:
        if started.poll() is None:
            started.kill()
    assert started.returncode == 0, out
    assert recomputes(c, run_id) == 0
    assert sink_files(tmp_path / "faulty") == want
