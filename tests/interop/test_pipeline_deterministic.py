"""The same spec over the same input writes byte-identical output files,
whatever happened during the run. Through the real CLI and processes: a
chain of C++ filter, Python stage, C++ join and a floating-point aggregate
with many groups (partials combined across partitions) runs once cleanly,
then again while its C++ worker and its Python worker are SIGKILLed mid-run
and replaced. The workers' engines have two threads each, so without the
pipeline's determinism the group order and the last bits of the float sums
would differ between the runs."""

import pathlib
import subprocess

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from conftest import flightdeck_binary
from pipeline_cluster import cluster, wait_for  # noqa: F401 (cluster is a fixture)


def write_inputs(folder: pathlib.Path) -> None:
    """orders/part-{0..5}.parquet (id, customer, amount) and customers.parquet."""
    (folder / "orders").mkdir()
    rows = 60_000
    for part in range(6):
        ids = pa.array(range(part * rows, (part + 1) * rows), pa.int64())
        customer = pc.add(pc.bit_wise_and(pc.multiply(ids, 40503), 4095), 1)
        # Amounts with many significant bits, so summation order shows.
        amount = pc.divide(pc.cast(pc.bit_wise_and(pc.multiply(ids, 2654435761), 1048575), pa.float64()), 7.0)
        pq.write_table(pa.table({"id": ids, "customer": customer, "amount": amount}),
                       folder / "orders" / f"part-{part}.parquet")
    customers = pa.table({
        "id": pa.array(range(1, 4097), pa.int64()),
        "segment": pa.array([["retail", "online", "wholesale"][i % 3] for i in range(4096)]),
    })
    pq.write_table(customers, folder / "customers.parquet")


def spec_text(folder: pathlib.Path, node: str, queue: str, out: str) -> str:
    return f"""name: same-bytes
source:
  parquet: {folder}/orders
stages:
  - filter: "amount > 1000"
  - python: {{transform: discount}}
  - join: {{source: {{parquet: {folder}/customers.parquet}}, on: [customer], right_on: [id]}}
  - aggregate: {{by: [segment, customer], aggs: {{total: "sum(amount_eur)", orders: "count(*)", top: "max(amount)"}}}}
sink:
  parquet: {folder}/{out}
partitions: 6
parallelism: 6
nodes: [{node}]
task_queue: {queue}
retry: {{max_attempts: 5, initial_interval_ms: 200, backoff: 1.5, max_interval_ms: 2000}}
"""


def sink_files(folder: pathlib.Path) -> dict:
    assert (folder / "_SUCCESS").exists(), sorted(p.name for p in folder.iterdir())
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "_SUCCESS"}


def test_reruns_write_the_same_bytes_when_workers_are_killed_mid_run(cluster, tmp_path):
    write_inputs(tmp_path)
    c = cluster("same-bytes", worker_args=["--engine-threads", "2"])
    markers = tmp_path / "markers"
    markers.mkdir()
    python_worker = c.python_worker(FD_STAGE_MARKERS=str(markers), FD_STAGE_DELAY_S="1")

    clean = tmp_path / "clean.yaml"
    clean.write_text(spec_text(tmp_path, c.node, c.queue, "clean"))
    run = c.cli("run", str(clean), "--wait", "--id", "same-bytes-clean")
    assert run.returncode == 0, run.stdout + run.stderr
    want = sink_files(tmp_path / "clean")
    assert want and all(name.endswith(".parquet") for name in want), list(want)
    assert pq.read_table(tmp_path / "clean").num_rows == 4096

    started = len(list(markers.iterdir()))
    faulty = tmp_path / "faulty.yaml"
    faulty.write_text(spec_text(tmp_path, c.node, c.queue, "faulty"))
    run = subprocess.Popen([flightdeck_binary(), "run", str(faulty), "--wait", "--id", "same-bytes-faulty",
                            "--target", c.address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Python tasks of the second run hold (their transform waits 1 s) while
        # the C++ worker runs other partitions' steps: kill both workers.
        wait_for(lambda: len(list(markers.iterdir())) > started, 120, "a Python task of the second run")
        cpp_worker = c.cpp_workers()[0]
        cpp_worker.kill()
        python_worker.kill()
        c.cpp_worker()
        c.python_worker(FD_STAGE_MARKERS=str(markers))
        out, _ = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, out
    got = sink_files(tmp_path / "faulty")
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], f"{name} differs between the clean and the faulty run"
