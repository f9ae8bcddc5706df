"""A pipeline run's intermediate datasets live exactly as long as the run,
through the real CLI and real processes: after a completed, a failed and a
canceled run the node holds none of them (its `stats`, read with
pyarrow.flight); a run with `retention` keeps them with an expiry; a
terminated run (no last step) leaves them until `flightdeck gc` drops them."""

import pathlib
import subprocess
import time

import pyarrow as pa
import pyarrow.flight as flight

from conftest import flightdeck_binary, temporal_binary
from pipeline_cluster import call_options, cluster, connect, tenant_datasets, wait_for  # noqa: F401 (a fixture)

TENANT = "acme"


def spec(folder: pathlib.Path, node: str, queue: str, name: str, stages: str, extra: str = "") -> pathlib.Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"""name: {name}
tenant: {TENANT}
source:
  generate: {{rows: 200000}}
stages:
{stages}sink:
  parquet: {folder}/{name}-out
partitions: 4
nodes: [{node}]
task_queue: {queue}
retry: {{max_attempts: 2, initial_interval_ms: 200}}
{extra}""")
    return path


AGGREGATE = """  - filter: "amount > 10"
  - aggregate: {by: [category], aggs: {total: "sum(amount)", n: "count(*)"}}
"""
# Fails only on the data: category does not cast to an integer.
FAILS_AT_RUN_TIME = """  - filter: "amount > 10"
  - with_column: {name: c, expr: "cast(category as integer)"}
"""
# A Python stage (pipeline_cluster.TRANSFORMS) that a test holds up.
SLOW_PYTHON = """  - filter: "amount > 10"
  - python: {transform: discount}
  - aggregate: {by: [category], aggs: {total: "sum(amount_eur)"}}
"""


def run_datasets(node: str) -> list:
    """The paths of the tenant's datasets on the node, and their expiries."""
    client = connect(node)
    try:
        options = call_options(TENANT)
        out = []
        for info in client.list_flights(TENANT.encode(), options):
            expires = info.endpoints[0].expiration_time
            path = "/".join(p.decode() if isinstance(p, bytes) else p for p in info.descriptor.path)
            out.append((path, None if expires is None else expires.as_py().timestamp()))
        return out
    finally:
        client.close()


def start(c, spec_path: pathlib.Path, run_id: str) -> subprocess.Popen:
    return subprocess.Popen([flightdeck_binary(), "run", str(spec_path), "--wait", "--id", run_id,
                             "--target", c.address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_completed_failed_and_canceled_runs_leave_no_dataset(cluster, tmp_path):
    c = cluster("lifetime")
    c.python_worker(FD_STAGE_MARKERS=str(tmp_path / "markers"), FD_STAGE_DELAY_S="2")
    (tmp_path / "markers").mkdir()

    done = c.cli("run", str(spec(tmp_path, c.node, c.queue, "done", AGGREGATE)), "--wait", "--id", "done")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "done-out" / "_SUCCESS").exists()
    assert tenant_datasets(c.node, TENANT) == 0, run_datasets(c.node)

    failed = c.cli("run", str(spec(tmp_path, c.node, c.queue, "failed", FAILS_AT_RUN_TIME)), "--wait",
                   "--id", "failed")
    assert failed.returncode != 0, failed.stdout + failed.stderr
    assert "partition" in failed.stdout + failed.stderr
    assert tenant_datasets(c.node, TENANT) == 0, run_datasets(c.node)

    canceled = start(c, spec(tmp_path, c.node, c.queue, "canceled", SLOW_PYTHON), "canceled")
    try:
        # Cancel while Python tasks run: their outputs too are released.
        wait_for(lambda: any((tmp_path / "markers").iterdir()), 120, "a Python stage task to start")
        cancel = c.cli("cancel", "canceled")
        assert cancel.returncode == 0, cancel.stdout + cancel.stderr
        out, _ = canceled.communicate(timeout=120)
    finally:
        if canceled.poll() is None:
            canceled.kill()
    assert canceled.returncode != 0, out
    status = c.cli("status", "canceled")
    assert "canceled" in status.stdout, status.stdout
    assert tenant_datasets(c.node, TENANT) == 0, run_datasets(c.node)
    assert not (tmp_path / "canceled-out" / "_SUCCESS").exists()


def test_retention_keeps_a_runs_datasets_with_an_expiry(cluster, tmp_path):
    c = cluster("retained")
    kept = c.cli("run", str(spec(tmp_path, c.node, c.queue, "kept", AGGREGATE, "retention: 1h\n")), "--wait",
                 "--id", "kept")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    datasets = run_datasets(c.node)
    names = {path.split("/")[1] for path, _ in datasets}
    assert {"kept-extract", "kept-transform", "kept-combine"} <= names, names
    now = time.time()
    for path, expires in datasets:
        assert expires is not None, path
        assert now + 3000 < expires <= now + 3700, (path, expires)
    # gc keeps them: the run asked for them.
    gc = c.cli("gc", "--node", c.node, "--tenant", TENANT)
    assert gc.returncode == 0, gc.stdout + gc.stderr
    assert "kept" in gc.stdout and "retained until" in gc.stdout, gc.stdout
    assert tenant_datasets(c.node, TENANT) == len(datasets)


def test_a_terminated_run_leaves_datasets_that_gc_drops(cluster, tmp_path):
    c = cluster("terminated")
    markers = tmp_path / "markers"
    markers.mkdir()
    python = c.python_worker(FD_STAGE_MARKERS=str(markers), FD_STAGE_DELAY_S="30")
    run = start(c, spec(tmp_path, c.node, c.queue, "gone", SLOW_PYTHON), "gone")
    try:
        wait_for(lambda: any(markers.iterdir()), 120, "a Python stage task to start")
        terminate = subprocess.run(
            [temporal_binary(), "workflow", "terminate", "--workflow-id", "gone", "--reason", "test",
             "--address", c.address], capture_output=True, text=True, timeout=60)
        assert terminate.returncode == 0, terminate.stdout + terminate.stderr
        run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    # The Python worker would put its output late: it is gone too.
    python.kill()
    left = tenant_datasets(c.node, TENANT)
    assert left > 0, "a terminated run has no last step: its datasets stay until gc"
    # A user's dataset whose name looks like a run's is not touched.
    client = connect(c.node)
    try:
        options = call_options(TENANT)
        writer, reader = client.do_put(flight.FlightDescriptor.for_path(TENANT, "mine-combine", "0"),
                                       pa.schema([("x", pa.int64())]), options)
        writer.write_table(pa.table({"x": [1, 2, 3]}))
        writer.close()
    finally:
        client.close()

    dry = c.cli("gc", "--node", c.node, "--tenant", TENANT, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would drop" in dry.stdout and "run gone (terminated)" in dry.stdout, dry.stdout
    assert tenant_datasets(c.node, TENANT) == left + 1

    gc = c.cli("gc", "--node", c.node, "--tenant", TENANT)
    assert gc.returncode == 0, gc.stdout + gc.stderr
    assert f"dropped {left} datasets of run gone (terminated)" in gc.stdout, gc.stdout
    assert [path for path, _ in run_datasets(c.node)] == [f"{TENANT}/mine-combine/0"]
