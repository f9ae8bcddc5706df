"""A rolling restart: every data node (SIGTERM, started again on its port
and data folder) and then every worker is restarted one by one while runs
are submitted continuously through the CLI. Every run submitted completes,
once, and its output counts every source row exactly once: nothing lost,
nothing duplicated."""

import json
import subprocess
import threading

import pyarrow.parquet as pq

from pipeline_cluster import cluster, wait_for  # noqa: F401 (cluster is a fixture)
from test_pipeline_shuffle import spec_text, three_nodes, write_orders

ROWS = 600_000


def status(c, run_id) -> str:
    shown = c.cli("status", run_id, "-o", "json", timeout=60)
    return json.loads(shown.stdout)["status"] if shown.returncode == 0 else "unknown"


class Submitter(threading.Thread):
    """Submits runs one after another, at most two in flight (the next once
    the one before the last completed), until stopped; .runs lists their ids."""

    def __init__(self, c, folder, orders, nodes):
        super().__init__(daemon=True)
        self.c, self.folder, self.orders, self.nodes = c, folder, orders, nodes
        self.runs, self.errors = [], []
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            if len(self.runs) >= 2:
                before = self.runs[-2]
                wait_for(lambda: status(self.c, before) == "completed" or self.stopping.is_set(), 300,
                         f"{before} to complete")
            run_id = f"rolling-{len(self.runs)}"
            spec = self.folder / f"{run_id}.yaml"
            spec.write_text(spec_text("rolling", self.orders, self.nodes, self.c.queue, self.folder / run_id, """\
  - filter: "v >= 0"
  - aggregate: {by: [s], aggs: {total: "sum(v)", n: "count(*)"}}
""", partitions=4))
            done = self.c.cli("run", str(spec), "--id", run_id, timeout=120)
            if done.returncode != 0:
                self.errors.append(done.stdout + done.stderr)
                return
            self.runs.append(run_id)


def test_every_node_and_worker_restarted_one_by_one_while_runs_are_submitted(cluster, tmp_path):
    orders = write_orders(tmp_path, rows=ROWS, groups=1000, files=4)
    c = cluster("rolling")
    c.cpp_worker()
    nodes = three_nodes(c)
    submitter = Submitter(c, tmp_path, orders, nodes)
    submitter.start()
    try:
        def completed_after(count):
            # Some run completed after `count` had been submitted: work goes on.
            return lambda: any(status(c, r) == "completed" for r in submitter.runs[count:])

        submitted = [0]

        def between_restarts():
            # A run submitted since the last restart, and one completed since.
            wait_for(lambda: len(submitter.runs) > submitted[0], 300, "a run submitted since the last restart")
            submitted[0] = len(submitter.runs)
            wait_for(completed_after(submitted[0] - 1), 300, "a run to complete before the next restart")

        for location in nodes:
            between_restarts()
            node = c.node_process(location)
            assert node.terminate() == 0
            data_dir = node.proc.args[node.proc.args.index("--data-dir") + 1]
            restarted = c.data_node(data_dir, int(location.rsplit(":", 1)[1]))
            assert restarted.location == location
        workers = c.cpp_workers()
        for worker in workers:
            between_restarts()
            assert worker.terminate() == 0
            c.cpp_worker()
        wait_for(completed_after(len(submitter.runs) - 1), 300, "a run to complete after the restarts")
    finally:
        submitter.stopping.set()
        submitter.join(timeout=300)
    assert submitter.errors == []
    runs = submitter.runs
    assert len(runs) >= 5, runs  # a run submitted before each of the five restarts
    wait_for(lambda: all(status(c, r) == "completed" for r in runs), 600, "every run to complete")
    for run_id in runs:
        out = pq.read_table(tmp_path / run_id)
        assert sum(out.column("n").to_pylist()) == ROWS, run_id  # every row once
        assert out.num_rows == 8, run_id
        assert run_id in (tmp_path / run_id / "_SUCCESS").read_text()  # committed by this run
