"""Progress tells the truth, through the real CLI and processes: while a
pipeline's partitions read a Parquet source, `flightdeck status -o json`
shows source rows read growing before any partition finished (the partition
activities heartbeat their query's progress), with a rate and an ETA from
the source's size; the finished run's summary gives source rows, output
rows, bytes and the time per kind of step."""

import json
import pathlib
import subprocess

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from conftest import flightdeck_binary
from pipeline_cluster import cluster  # noqa: F401 (a fixture)

FILES = 2
ROWS = 2_000_000


def write_source(folder: pathlib.Path) -> pathlib.Path:
    source = folder / "events"
    source.mkdir()
    for part in range(FILES):
        ids = pa.array(range(part * ROWS, (part + 1) * ROWS), pa.int64())
        key = pc.bit_wise_and(pc.multiply(ids, 2654435761), (1 << 20) - 1)
        value = pc.cast(pc.bit_wise_and(ids, 1023), pa.float64())
        pq.write_table(pa.table({"id": ids, "key": key, "value": value}), source / f"part-{part}.parquet",
                       row_group_size=256 * 1024)
    return source


def test_status_shows_source_rows_read_while_partitions_run_and_the_summary_tells_all(cluster, tmp_path):
    source = write_source(tmp_path)
    c = cluster("progress")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""name: progress
source:
  parquet: {source}
stages:
  # Slow on purpose (a hash of a long text per row), so that partitions run
  # for seconds and their heartbeats are seen while they read.
  - filter: "md5(repeat(cast(id as varchar), 40)) <> ''"
  - aggregate: {{by: [key], aggs: {{total: "sum(value)", n: "count(*)"}}}}
sink:
  parquet: {tmp_path}/out
partitions: {FILES}
parallelism: {FILES}
nodes: [{c.node}]
task_queue: {c.queue}
""")
    run = subprocess.Popen([flightdeck_binary(), "run", str(spec), "--wait", "--id", "progress-1",
                            "--target", c.address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    samples = []
    try:
        while run.poll() is None:
            status = c.cli("status", "progress-1", "-o", "json", timeout=60)
            if status.returncode == 0:
                samples.append(json.loads(status.stdout))
        out, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, out
    live = [s["progress"] for s in samples if s["status"] == "running" and s["progress"]
            and s["progress"]["partitions_done"] == 0 and 0 < s["progress"]["source_rows_read"]]
    assert live, f"no sample read source rows before a partition finished: {samples[-3:]}"
    sample = live[-1]
    assert sample["source_rows_read"] < FILES * ROWS
    assert sample["source_rows"] == FILES * ROWS, sample
    assert sample["source_bytes"] > 0 and sample["rows_per_s"] > 0, sample
    assert sample["eta_ms"] is not None, sample
    # Never more read than the source holds.
    reads = [s["progress"]["source_rows_read"] for s in samples if s["progress"]]
    assert all(r <= FILES * ROWS for r in reads)

    final = json.loads(c.cli("status", "progress-1", "-o", "json").stdout)
    assert final["status"] == "completed"
    result = final["result"]
    assert result["source_rows"] == FILES * ROWS
    assert result["source_bytes"] == sum(p.stat().st_size for p in source.iterdir())
    assert result["rows"] == pq.read_table(tmp_path / "out").num_rows
    assert result["bytes"] > 0
    assert set(result["step_ms"]) >= {"partition", "combine", "load", "commit"}, result["step_ms"]
    assert f"source     {FILES * ROWS} rows, " in out, out
    assert "time       " in out and "partition" in out, out
    text = c.cli("status", "progress-1")
    assert f"source     {FILES * ROWS} rows, " in text.stdout, text.stdout
