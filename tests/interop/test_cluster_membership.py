"""Cluster membership (flight/cluster.h) with a real etcd: data nodes
register under a lease (`flightdeck node --cluster etcd://...`), clients list
and watch them (`flightdeck cluster members|watch`), a SIGKILLed node drops
out when its lease ends and a stopped one at once; `flightdeck run
--cluster` runs a spec without `nodes:` over the live members of etcd or of
a static cluster file; the same over HTTPS to an etcd that asks for client
certificates (etcds://). Bad names and files are refused up front."""

import json
import pathlib
import shutil
import subprocess

import pyarrow.parquet as pq
import pytest

from conftest import Process, flightdeck_binary, free_port
from pipeline_cluster import cluster, make_certs, wait_for  # noqa: F401 (cluster is a fixture)
from test_pipeline_shuffle import write_orders

REGISTERED = r"flightdeck node registered in"


def running_etcd(tmp_path, name: str, server_tls=(), client_tls=()):
    """A real etcd (Debian's etcd-server) on free ports, serving HTTPS with
    `server_tls` (its flags); yields its client URL's host:port once
    `cluster members` (with `client_tls`) gets an answer."""
    binary = shutil.which("etcd") or "/usr/bin/etcd"
    client, peer = free_port(), free_port()
    scheme = "https" if server_tls else "http"
    log = open(tmp_path / f"{name}.log", "w")
    proc = subprocess.Popen([binary, "--name", name, "--data-dir", str(tmp_path / name),
                             "--listen-client-urls", f"{scheme}://127.0.0.1:{client}",
                             "--advertise-client-urls", f"{scheme}://127.0.0.1:{client}",
                             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                             "--initial-cluster", f"{name}=http://127.0.0.1:{peer}", *server_tls],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        probe = f"{'etcds' if server_tls else 'etcd'}://127.0.0.1:{client}/probe"
        wait_for(lambda: members(probe, *client_tls, check=False).returncode == 0, 60, "etcd to serve")
        yield f"127.0.0.1:{client}"
    finally:
        proc.kill()
        proc.wait()
        log.close()


@pytest.fixture
def etcd(tmp_path):
    yield from running_etcd(tmp_path, "etcd")


def members(name, *args, check=True):
    done = subprocess.run([flightdeck_binary(), "cluster", "members", "--cluster", name, *args], capture_output=True,
                          text=True, timeout=30)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def listed(name, *args):
    return [json.loads(line) for line in members(name, *args).stdout.splitlines()]


class Watch:
    """`flightdeck cluster watch` in the background; .latest() is the last member list it printed."""

    def __init__(self, name, tmp_path, *args):
        self.process = Process(["cluster", "watch", "--cluster", name, *args], r'\{"members"',
                               stderr_path=tmp_path / "watch.stderr")
        self.lines = [json.loads(self.process.match.string)]
        self.pending = b""

    def latest(self):
        import os
        import select
        fd = self.process.proc.stdout.fileno()
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            *done, self.pending = (self.pending + chunk).split(b"\n")
            self.lines += [json.loads(line) for line in done if line.strip()]
        return sorted(m["location"] for m in self.lines[-1]["members"])


def test_nodes_register_in_etcd_drop_out_when_killed_and_leave_when_stopped(cluster, etcd, tmp_path):
    name = f"etcd://{etcd}/fd-test"
    c = cluster("membership")
    watch = Watch(name, tmp_path)
    first = c.data_node(tmp_path / "m1", 0, "--cluster", name, "--lease-ttl", "2", ready=REGISTERED)
    second = c.data_node(tmp_path / "m2", 0, "--cluster", name, "--weight", "2.5", "--lease-ttl", "2",
                         ready=REGISTERED)
    got = {m["location"]: m["weight"] for m in listed(name)}
    assert got == {first.location: 1.0, second.location: 2.5}
    wait_for(lambda: watch.latest() == sorted([first.location, second.location]), 30, "the watch to see both")
    # Another prefix is another cluster.
    assert listed(f"etcd://{etcd}/other") == []

    # SIGKILL: no goodbye; the node leaves when its lease (2 s) ends.
    first.kill()
    wait_for(lambda: watch.latest() == [second.location], 30, "the killed node to drop out")
    assert [m["location"] for m in listed(name)] == [second.location]

    # SIGTERM: the node revokes its lease on the way out.
    assert second.terminate() == 0
    wait_for(lambda: watch.latest() == [], 10, "the stopped node to leave")
    watch.process.terminate()


def test_run_with_cluster_takes_the_live_members_of_etcd_or_of_a_file(cluster, etcd, tmp_path):
    import duckdb
    orders = write_orders(tmp_path, rows=200_000, groups=20_000, files=4)
    name = f"etcd://{etcd}/fd-run"
    c = cluster("cluster-run")
    nodes = [c.data_node(tmp_path / f"r{i}", 0, "--cluster", name, ready=REGISTERED).location for i in (1, 2)]
    spec_text = f"""name: cluster-run
source:
  parquet: {orders}
stages:
  - aggregate: {{by: [k], aggs: {{total: "sum(v)", n: "count(*)"}}}}
sink:
  parquet: {{out}}
partitions: 4
task_queue: {c.queue}
"""
    want = duckdb.sql(f"SELECT k, sum(v) AS total, count(*) AS n FROM read_parquet('{orders}/*.parquet') GROUP BY k"
                      ).to_arrow_table().sort_by("k")
    (tmp_path / "static.yaml").write_text("nodes:\n" + "".join(f"  - {{location: {n}, weight: 1}}\n" for n in nodes))
    for cluster_name, out in ((name, "from-etcd"), (str(tmp_path / "static.yaml"), "from-file")):
        spec = tmp_path / f"{out}.yaml"
        spec.write_text(spec_text.replace("{out}", str(tmp_path / out)))
        done = c.cli("run", str(spec), "--cluster", cluster_name, "--wait", "--id", f"cluster-run-{out}")
        assert done.returncode == 0, done.stdout + done.stderr
        got = pq.read_table(tmp_path / out)
        # Two members: the aggregate shuffled into one part per partition.
        assert len([p for p in (tmp_path / out).iterdir() if p.name.startswith("part-")]) == 4
        got = got.select(["k", "total", "n"]).sort_by("k")
        assert got.column("total").to_pylist() == want.column("total").to_pylist()
        assert got.column("n").to_pylist() == want.column("n").to_pylist()


def test_bad_cluster_names_files_and_combinations_are_refused_up_front(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\nsource: {generate: {rows: 10}}\nsink: {parquet: out}\nnodes: [grpc+tcp://127.0.0.1:1]\n")
    run = subprocess.run([flightdeck_binary(), "run", str(spec), "--cluster", "etcd://127.0.0.1:2379"],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 2 and "names its nodes already" in run.stderr, run.stderr
    for name, words in (("https://127.0.0.1:2379", "etcds://HOST:PORT (HTTPS)"), ("etcd://nohost", "HOST:PORT"),
                        ("etcd://127.0.0.1:99999", "HOST:PORT")):
        done = members(name, check=False)
        assert done.returncode == 2 and words in done.stderr, (name, done.stderr)
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes:\n  - grpc+tcp://127.0.0.1:1\n  - {location: http://x:1}\n")
    done = members(str(bad), check=False)
    assert done.returncode != 0 and "bad.yaml:3" in done.stderr and "grpc+tcp://" in done.stderr, done.stderr
    bad.write_text("nodes:\n  - {location: grpc+tcp://a:1, weight: 0}\n")
    done = members(str(bad), check=False)
    assert done.returncode != 0 and "weight" in done.stderr, done.stderr
    done = members(str(tmp_path / "missing.yaml"), check=False)
    assert done.returncode != 0 and "cannot read cluster file" in done.stderr, done.stderr
    # A node registers in etcd only.
    node = subprocess.run([flightdeck_binary(), "node", "--port", "0", "--cluster", str(bad)], capture_output=True,
                          text=True, timeout=30)
    assert node.returncode == 2 and "registers in etcd" in node.stderr, node.stderr
    # etcd's TLS files without a cluster are refused, not ignored.
    node = subprocess.run([flightdeck_binary(), "node", "--port", "0", "--cluster-ca", str(bad)], capture_output=True,
                          text=True, timeout=30)
    assert node.returncode == 2 and "--cluster-ca requires --cluster" in node.stderr, node.stderr
    # Nobody answers at this etcd: an IO error naming it, before anything starts.
    spec.write_text("name: x\nsource: {generate: {rows: 10}}\nsink: {parquet: out}\n")
    port = free_port()
    run = subprocess.run([flightdeck_binary(), "run", str(spec), "--cluster", f"etcd://127.0.0.1:{port}"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and f"127.0.0.1:{port}" in run.stderr, run.stderr


@pytest.fixture
def etcd_tls(tmp_path):
    """An etcd serving HTTPS that asks every client for a certificate
    (make_certs: its certificate is the node one, for 127.0.0.1); yields
    (host:port, the certificates' folder)."""
    certs = make_certs(tmp_path / "etcd-certs")
    server_tls = ["--cert-file", str(certs / "node.pem"), "--key-file", str(certs / "node-key.pem"),
                  "--client-cert-auth", "--trusted-ca-file", str(certs / "ca.pem")]
    for endpoint in running_etcd(tmp_path, "etcd-tls", server_tls, etcd_client_tls(certs)):
        yield endpoint, certs


def etcd_client_tls(certs: pathlib.Path) -> list:
    return ["--cluster-ca", str(certs / "ca.pem"), "--cluster-cert", str(certs / "client.pem"),
            "--cluster-key", str(certs / "client-key.pem")]


def test_etcd_over_tls_with_client_certificates_registers_lists_and_runs(cluster, etcd_tls, tmp_path):
    endpoint, certs = etcd_tls
    name = f"etcds://{endpoint}/fd-tls"
    tls = etcd_client_tls(certs)
    c = cluster("etcd-tls")
    node = c.data_node(tmp_path / "t1", 0, "--cluster", name, *tls, ready=REGISTERED)
    assert listed(name, *tls) == [{"location": node.location, "weight": 1.0}]
    watch = Watch(name, tmp_path, *tls)
    assert watch.latest() == [node.location]
    watch.process.terminate()

    # run --cluster over HTTPS takes the member.
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: tls-run\nsource: {{generate: {{rows: 1000}}}}\nsink: {{parquet: {tmp_path / 'out'}}}\n"
                    f"partitions: 2\ntask_queue: {c.queue}\n")
    done = c.cli("run", str(spec), "--cluster", name, *tls, "--wait", "--id", "tls-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert pq.read_table(tmp_path / "out").num_rows == 1000

    # etcd refuses a client without a certificate; a client without the CA
    # refuses etcd's certificate; plain HTTP to it gets no answer.
    ca = str(certs / "ca.pem")
    for args, words in ((["--cluster-ca", ca], "needs --cluster-cert"),
                        (["--cluster-cert", str(certs / "client.pem"), "--cluster-key", str(certs / "client-key.pem")],
                         "not signed by --cluster-ca")):
        refused = members(name, *args, check=False)
        assert refused.returncode != 0 and f"etcd at https://{endpoint}" in refused.stderr, refused.stderr
        assert words in refused.stderr, refused.stderr
    plain = members(f"etcd://{endpoint}/fd-tls", check=False)
    assert plain.returncode != 0 and "etcds://" in plain.stderr, plain.stderr

    # TLS files that cannot apply or are incomplete are refused up front.
    for cluster_name, args, words in (
            (f"etcd://{endpoint}/fd-tls", ["--cluster-ca", ca], "apply to etcds:// clusters only"),
            (name, ["--cluster-cert", str(certs / "client.pem")], "give both or neither"),
            (name, ["--cluster-ca", str(tmp_path / "missing.pem")], "missing.pem")):
        bad = members(cluster_name, *args, check=False)
        assert bad.returncode == 2 and words in bad.stderr, bad.stderr
