"""flightdeck.Repair (`flightdeck repair`): a run's durable datasets are
kept at two copies over three nodes (replicas: 2, kept by retention); a
node is then SIGKILLed for good. Once it has been down for the grace
period, the repair workflow copies every dataset it held back to two live
nodes; `flightdeck status` shows the gone node and the copies made."""

import json

from pipeline_cluster import call_options, cluster, connect, wait_for  # noqa: F401 (cluster is a fixture)
from test_pipeline_shuffle import spec_text, three_nodes, write_orders


def copies_by_path(nodes, tenant="default") -> dict:
    """path -> the nodes holding it (listed with the node's ListFlights)."""
    held = {}
    for node in nodes:
        client = connect(node)
        try:
            for info in client.list_flights(options=call_options(tenant)):
                held.setdefault("/".join(p.decode() if isinstance(p, bytes) else p
                                         for p in info.descriptor.path), set()).add(node)
        finally:
            client.close()
    return held


def test_a_node_gone_for_the_grace_period_has_its_copies_made_again(cluster, tmp_path):
    orders = write_orders(tmp_path, rows=300_000, groups=1000, files=6)
    c = cluster("repair")
    nodes = three_nodes(c)
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text("repaired", orders, nodes, c.queue, tmp_path / "out", """\
  - aggregate: {by: [s], aggs: {total: "sum(v)"}}
""") + "replicas: 2\nretention: 1h\n")
    done = c.cli("run", str(spec), "--wait", "--id", "repair-source")
    assert done.returncode == 0, done.stdout + done.stderr
    before = copies_by_path(nodes)
    assert before and all(len(holders) == 2 for holders in before.values()), before

    cluster_file = tmp_path / "cluster.yaml"
    cluster_file.write_text("nodes:\n" + "".join(f"  - {n}\n" for n in nodes))
    started = c.cli("repair", "--cluster", str(cluster_file), "--replicas", "2", "--grace", "1", "--interval", "0.5",
                    "--task-queue", c.queue, "--id", "repair-test")
    assert started.returncode == 0, started.stderr

    victim = nodes[2]
    lost_copies = sum(1 for holders in before.values() if victim in holders)
    assert lost_copies > 0
    c.node_process(victim).kill()
    live = [n for n in nodes if n != victim]
    wait_for(lambda: (lambda now: set(now) == set(before) and all(len(h) == 2 for h in now.values()))(
        copies_by_path(live)), 120, "every dataset back at two copies on the live nodes")

    def status():
        shown = c.cli("status", "repair-test", "-o", "json")
        return json.loads(shown.stdout)["progress"] if shown.returncode == 0 else None
    progress = wait_for(lambda: (lambda p: p if p and p["copied"] >= lost_copies else None)(status()), 60,
                        "the repair to report its copies")
    assert progress["gone"] == [victim] and progress["nodes"] == 3, progress
    text = c.cli("status", "repair-test")
    assert "gone" in text.stdout and victim in text.stdout, text.stdout
    assert c.cli("cancel", "repair-test").returncode == 0
