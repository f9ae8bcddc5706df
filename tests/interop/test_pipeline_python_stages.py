"""Python stages inside `flightdeck.Pipeline`, through the real CLI: a dev
server, a data node, the C++ worker (`flightdeck worker`) and the Python
stage worker (`python -m flightdeck_stage`) as processes, the pipeline
started with `flightdeck run --wait`. A chain of C++ filter, Python
transform (pyarrow.compute), C++ join and aggregate into a Parquet sink must
equal DuckDB computing the same query; it survives a SIGKILL of the Python
worker mid-run; and a Python stage nobody serves fails the run naming the
stage and its queue, with `flightdeck status` saying what it waits for."""

import pathlib
import subprocess

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from conftest import flightdeck_binary
from pipeline_cluster import cluster, wait_for  # noqa: F401 (cluster is a fixture)



def write_inputs(folder: pathlib.Path) -> None:
    """orders/part-{0..3}.parquet (id, customer, amount) and customers.parquet."""
    (folder / "orders").mkdir()
    rows = 40_000
    for part in range(4):
        ids = pa.array(range(part * rows, (part + 1) * rows), pa.int64())
        customer = pc.add(pc.bit_wise_and(ids, 255), 1)
        amount = pc.divide(pc.cast(pc.bit_wise_and(pc.multiply(ids, 7919), 1023), pa.float64()), 1.0)
        pq.write_table(pa.table({"id": ids, "customer": customer, "amount": amount}),
                       folder / "orders" / f"part-{part}.parquet")
    customers = pa.table({
        "id": pa.array(range(1, 257), pa.int64()),
        "segment": pa.array([["retail", "online", "wholesale"][i % 3] for i in range(256)]),
    })
    pq.write_table(customers, folder / "customers.parquet")


def expected(folder: pathlib.Path) -> pa.Table:
    result = duckdb.sql(f"""
        select c.segment, sum(o.amount * 0.92) as total, count(*) as orders,
               count(*) filter (where o.amount > 500) as big_orders
        from read_parquet('{folder}/orders/*.parquet') o
        join read_parquet('{folder}/customers.parquet') c on o.customer = c.id
        where o.amount > 100
        group by c.segment order by c.segment""").arrow()
    return result.read_all() if hasattr(result, "read_all") else result  # duckdb >= 1.4: a reader


def spec_text(folder: pathlib.Path, node: str, queue: str, python_stage: str) -> str:
    return f"""name: mixed
source:
  parquet: {folder}/orders
stages:
  - filter: "amount > 100"
  - python: {python_stage}
  - join: {{source: {{parquet: {folder}/customers.parquet}}, on: [customer], right_on: [id]}}
  - with_column: {{name: is_big, expr: "case when big then 1 else 0 end"}}
  - aggregate: {{by: [segment], aggs: {{total: "sum(amount_eur)", orders: "count(*)", big_orders: "sum(is_big)"}}}}
sink:
  parquet: {folder}/out
partitions: 4
parallelism: 4
nodes: [{node}]
task_queue: {queue}
retry: {{max_attempts: 5, initial_interval_ms: 200, backoff: 1.5, max_interval_ms: 2000}}
"""


def read_sink(folder: pathlib.Path) -> pa.Table:
    out = folder / "out"
    assert (out / "_SUCCESS").exists(), sorted(p.name for p in out.iterdir())
    parts = sorted(p for p in out.iterdir() if p.suffix == ".parquet")
    table = pa.concat_tables([pq.read_table(p) for p in parts])
    return table.sort_by("segment")


def assert_same_as_duckdb(folder: pathlib.Path) -> None:
    got, want = read_sink(folder), expected(folder)
    assert got.column("segment").to_pylist() == want.column("segment").to_pylist()
    assert got.column("orders").to_pylist() == want.column("orders").to_pylist()
    assert got.column("big_orders").to_pylist() == want.column("big_orders").to_pylist()
    for a, b in zip(got.column("total").to_pylist(), want.column("total").to_pylist()):
        assert a == pytest.approx(b, rel=1e-9)


def run_mixed(c, folder: pathlib.Path, run_id: str, *run_args):
    """The mixed C++/Python pipeline on cluster `c` (its inputs written by
    write_inputs into `folder`), run to the end with `flightdeck run --wait`;
    checks that it succeeded and that its output equals DuckDB's."""
    spec = folder / "spec.yaml"
    spec.write_text(spec_text(folder, c.node, c.queue, "{transform: discount}"))
    run = c.cli("run", str(spec), "--wait", "--id", run_id, *run_args)
    assert run.returncode == 0, run.stdout + run.stderr
    assert_same_as_duckdb(folder)
    return run


def test_a_python_stage_runs_between_cpp_stages_and_the_output_equals_duckdb(cluster, tmp_path):
    write_inputs(tmp_path)
    c = cluster("mixed")
    c.python_worker()
    run_mixed(c, tmp_path, "mixed-1")


def test_a_python_worker_killed_mid_run_is_replaced_and_nothing_is_duplicated(cluster, tmp_path):
    write_inputs(tmp_path)
    c = cluster("mixed-kill")
    markers = tmp_path / "markers"
    markers.mkdir()
    first = c.python_worker(FD_STAGE_MARKERS=str(markers), FD_STAGE_DELAY_S="3")
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(tmp_path, c.node, c.queue, "{transform: discount}"))
    run = subprocess.Popen([flightdeck_binary(), "run", str(spec), "--wait", "--id", "mixed-kill",
                            "--target", c.address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # A Python task is running (its transform started): kill its worker.
        wait_for(lambda: any(markers.iterdir()), 120, "a Python stage task to start")
        first.proc.kill()
        first.proc.wait(timeout=30)
        replacement = tmp_path / "replacement-markers"
        replacement.mkdir()
        c.python_worker(FD_STAGE_MARKERS=str(replacement))
        out, _ = run.communicate(timeout=240)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, out
    # The replacement ran the tasks the killed worker held.
    assert any(replacement.iterdir())
    assert_same_as_duckdb(tmp_path)
    status = c.cli("status", "mixed-kill")
    assert "completed" in status.stdout, status.stdout + status.stderr


def test_a_python_stage_nobody_serves_fails_naming_its_stage_and_queue(cluster, tmp_path):
    write_inputs(tmp_path)
    c = cluster("mixed-orphan")
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(tmp_path, c.node, c.queue, "{transform: discount, start_timeout_ms: 8000}"))
    run = subprocess.Popen([flightdeck_binary(), "run", str(spec), "--wait", "--id", "mixed-orphan",
                            "--target", c.address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # While it waits, status says which stage waits on which queue.
        def waiting():
            status = c.cli("status", "mixed-orphan", timeout=60)
            return "waiting: stage 2 (python 'discount')" in status.stdout and \
                "task queue 'mixed-orphan-python'" in status.stdout
        wait_for(waiting, 60, "`flightdeck status` to name the waiting Python stage")
        out, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode != 0, out
    assert "no Python stage worker took the task from task queue 'mixed-orphan-python'" in out, out
    assert "stage 2 (python 'discount', spec line 6)" in out, out
    assert "Gandiva" not in out, out  # Arrow's name for an ExecutionError means nothing here
    assert not (tmp_path / "out" / "_SUCCESS").exists()
