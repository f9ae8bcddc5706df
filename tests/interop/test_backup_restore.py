"""Disaster recovery through the real CLI: a durable run is paused mid-way,
its node backed up (`flightdeck backup`, files encrypted at rest) to file://
and to s3:// (moto's S3 server), incrementally; the node is then killed and
its data folder wiped completely, `flightdeck restore` brings the backup
onto a new node on the same address, and the resumed run completes without
a recompute and writes the same bytes as a fault-free run. Bad URIs, a
node without at-rest keys and a restore over a live data folder are
refused."""

import asyncio
import json
import shutil
import subprocess
import sys
import urllib.request

import pytest

from conftest import flightdeck_binary, free_port
from pipeline_cluster import cluster, wait_for  # noqa: F401 (cluster is a fixture)
from test_pipeline_deterministic import sink_files
from test_pipeline_shuffle import write_orders

AWS = {"AWS_ACCESS_KEY_ID": "flightdeck-test", "AWS_SECRET_ACCESS_KEY": "flightdeck-test-secret",
       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture
def s3(tmp_path):
    """moto's S3-compatible server on a free port with a bucket "backups";
    yields the URI query that points Arrow's S3 filesystem at it."""
    import boto3
    port = free_port()
    log = open(tmp_path / "moto.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)

    def serving():
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
            return True
        except OSError:
            return False

    try:
        wait_for(serving, 60, "moto's S3 server")
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
        client.create_bucket(Bucket="backups")
        yield f"endpoint_override=127.0.0.1:{port}&scheme=http", client
    finally:
        server.kill()
        server.wait()
        log.close()


def spec_text(orders, node, queue, out):
    return f"""name: backed-up
source:
  parquet: {orders}
stages:
  - filter: "v > 10"
  - aggregate: {{by: [s], aggs: {{total: "sum(v)", n: "count(*)"}}}}
sink:
  parquet: {out}
partitions: 24
parallelism: 1
nodes: [{node}]
task_queue: {queue}
retry: {{max_attempts: 20, initial_interval_ms: 200, backoff: 1.5, max_interval_ms: 2000}}
"""


async def progress_and_pending(address, run_id):
    """The run's progress query and how many activities it has pending
    ({"partitions_done": -1} until the run exists)."""
    from temporalio.client import Client
    from temporalio.service import RPCError
    client = await Client.connect(address)
    handle = client.get_workflow_handle(run_id)
    try:
        progress = await handle.query("progress")
    except RPCError:  # not started yet
        return {"partitions_done": -1, "phase": ""}, -1
    described = await handle.describe()
    return progress, len(described.raw_description.pending_activities)


def run_backup(c, node, uri) -> subprocess.CompletedProcess:
    return subprocess.run([flightdeck_binary(), "backup", "--node", node, "--to", uri], capture_output=True,
                          text=True, timeout=120, env=c.env)


def backup(c, node, uri):
    done = run_backup(c, node, uri)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_wiped_node_restored_from_backup_resumes_its_paused_run_without_recompute(cluster, s3, tmp_path):
    query, bucket = s3
    keys = tmp_path / "at-rest.keys"
    subprocess.run([flightdeck_binary(), "keys", "add", str(keys)], check=True, capture_output=True, timeout=30)
    orders = write_orders(tmp_path, rows=4_800_000, groups=1000, files=24)
    c = cluster("backup", node_args=["--key-file", str(keys)], env=AWS)
    clean = tmp_path / "clean.yaml"
    clean.write_text(spec_text(orders, c.node, c.queue, tmp_path / "clean"))
    done = c.cli("run", str(clean), "--wait", "--id", "backup-clean")
    assert done.returncode == 0, done.stdout + done.stderr
    want = sink_files(tmp_path / "clean")

    spec = tmp_path / "paused.yaml"
    spec.write_text(spec_text(orders, c.node, c.queue, tmp_path / "paused"))
    run_id = "backup-paused"
    started = c.start_run(spec, run_id)
    try:
        wait_for(lambda: asyncio.run(progress_and_pending(c.address, run_id))[0]["partitions_done"] >= 2, 300,
                 "two partitions done")
        assert c.cli("pause", run_id).returncode == 0
        # Paused, and the steps that were running have finished.
        wait_for(lambda: (lambda p: p[0]["phase"] == "paused" and p[1] == 0)(
            asyncio.run(progress_and_pending(c.address, run_id))), 300, "the run to pause")
        done_before = asyncio.run(progress_and_pending(c.address, run_id))[0]["partitions_done"]
        assert 2 <= done_before < 24

        local = f"file://{tmp_path / 'backup'}"
        first = backup(c, c.node, local)
        assert first["datasets"] >= done_before and first["copied"] == first["datasets"], first
        again = backup(c, c.node, local)  # incremental: nothing changed, nothing copied
        assert again == {**first, "copied": 0, "skipped": first["datasets"], "bytes": 0}, again
        remote = f"s3://backups/node-a?{query}"
        to_s3 = backup(c, c.node, remote)
        assert to_s3["copied"] == first["datasets"], to_s3
        stored = [o["Key"] for o in bucket.list_objects_v2(Bucket="backups")["Contents"]
                  if not o["Key"].endswith("/")]  # Arrow's directory markers
        assert "node-a/manifest.json" in stored and len(stored) == first["datasets"] + 1, stored
        # Encrypted at rest: no plaintext column names in the backed-up files.
        body = bucket.get_object(Bucket="backups", Key=next(k for k in stored if "/files/" in k))["Body"].read()
        assert b"total" not in body and b"ARROW1" not in body

        # Disaster: the node dies and its data folder is gone.
        node = c.node_process(c.node)
        node.kill()
        data_dir = tmp_path / "node"
        shutil.rmtree(data_dir)
        restored = subprocess.run([flightdeck_binary(), "restore", "--from", remote, "--data-dir", str(data_dir)],
                                  capture_output=True, text=True, timeout=120, env=c.env)
        assert restored.returncode == 0, restored.stderr
        assert json.loads(restored.stdout)["datasets"] == first["datasets"]
        again_restored = subprocess.run([flightdeck_binary(), "restore", "--from", remote, "--data-dir",
                                         str(data_dir)], capture_output=True, text=True, timeout=120, env=c.env)
        assert again_restored.returncode == 2 and "holds a node's manifest already" in again_restored.stderr
        assert c.data_node(data_dir, int(c.node.rsplit(":", 1)[1])).location == c.node

        assert c.cli("resume", run_id).returncode == 0
        out, _ = started.communicate(timeout=600)
    finally:
        if started.poll() is None:
            started.kill()
    assert started.returncode == 0, out
    shown = c.cli("status", run_id, "-o", "json")
    assert json.loads(shown.stdout)["result"]["recomputes"] == 0, shown.stdout
    assert sink_files(tmp_path / "paused") == want


def test_backups_are_refused_without_at_rest_keys_or_with_a_bad_uri(cluster, tmp_path):
    c = cluster("backup-refusals")
    for uri, words in (("http://x/y", "expected file:///ABSOLUTE/PATH or s3://"), ("file://relative", "expected")):
        done = run_backup(c, c.node, uri)
        assert done.returncode != 0 and words in done.stderr, done.stderr
    done = run_backup(c, c.node, f"file://{tmp_path / 'b'}")
    assert done.returncode == 1 and "needs encryption at rest" in done.stderr, done.stderr
    missing = subprocess.run([flightdeck_binary(), "restore", "--from", f"file://{tmp_path / 'none'}", "--data-dir",
                              str(tmp_path / "new")], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no backup at" in missing.stderr, missing.stderr
