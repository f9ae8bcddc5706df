"""TLS on the data plane, through the real CLI: a `flightdeck node` serving
TLS and mutual TLS with a throwaway CA (examples/security/make-certs), spoken
to by pyarrow.flight over grpc+tls:// and by our own clients (workers, the
Python stage, `flightdeck run`); plaintext and unverified clients are
refused, and a node exposed beyond loopback without TLS and client
authentication does not start."""

import json
import subprocess

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from conftest import Process, flightdeck_binary
from pipeline_cluster import cluster, make_certs  # noqa: F401 (cluster is a fixture)
from test_pipeline_python_stages import run_mixed, write_inputs

TENANT = [(b"x-flightdeck-tenant", b"acme")]
# How a refused TLS handshake surfaces in pyarrow (the deadline when the
# server waits for a handshake that never comes).
REFUSED = (flight.FlightUnavailableError, flight.FlightTimedOutError)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def tls_node(certs, tmp_path):
    """start(mutual) -> the grpc+tls:// location of a node with TLS (and,
    when `mutual`, client certificates checked against the CA)."""
    started = []

    def start(mutual: bool) -> str:
        args = ["node", "--port", "0", "--tls-cert", str(certs / "node.pem"), "--tls-key", str(certs / "node-key.pem")]
        if mutual:
            args += ["--tls-client-ca", str(certs / "ca.pem")]
        node = Process(args, r"listening on (grpc\+tls://\S+)")
        started.append(node)
        return node.match.group(1)

    yield start
    for node in started:
        node.kill()


def read(file) -> bytes:
    with open(file, "rb") as f:
        return f.read()


def put_and_get(client: flight.FlightClient, name: str) -> pa.Table:
    data = pa.table({"id": pa.array(range(1000), pa.int64())})
    options = flight.FlightCallOptions(headers=TENANT)
    writer, reader = client.do_put(flight.FlightDescriptor.for_path("acme", name, "0"), data.schema, options)
    writer.write_table(data)
    writer.done_writing()
    summary = json.loads(reader.read().to_pybytes())
    writer.close()
    got = client.do_get(flight.Ticket(summary["ticket"].encode()), options).read_all()
    assert got.equals(data)
    return got


def test_pyarrow_speaks_tls_to_the_node_and_plaintext_is_refused(tls_node, certs):
    location = tls_node(mutual=False)
    assert location.startswith("grpc+tls://localhost:") or location.startswith("grpc+tls://127.0.0.1:")
    with flight.connect(location, tls_root_certs=read(certs / "ca.pem")) as client:
        put_and_get(client, "over-tls")
    # A plaintext client on the TLS port gets nothing.
    plain = location.replace("grpc+tls://", "grpc+tcp://")
    with flight.connect(plain) as client, pytest.raises(REFUSED):
        list(client.list_flights(options=flight.FlightCallOptions(headers=TENANT, timeout=5)))
    # A client that does not trust the CA refuses the node.
    with flight.connect(location) as client, pytest.raises(REFUSED):
        list(client.list_flights(options=flight.FlightCallOptions(headers=TENANT, timeout=5)))


def test_mutual_tls_needs_a_client_certificate_the_ca_signed(tls_node, certs, tmp_path):
    location = tls_node(mutual=True)
    ca = read(certs / "ca.pem")
    with flight.connect(location, tls_root_certs=ca) as client, pytest.raises(REFUSED):
        list(client.list_flights(options=flight.FlightCallOptions(headers=TENANT, timeout=5)))
    # A certificate from another CA is refused too.
    other = make_certs(tmp_path / "other", "mallory")
    with flight.connect(location, tls_root_certs=ca, cert_chain=read(other / "client.pem"),
                        private_key=read(other / "client-key.pem")) as client, \
            pytest.raises(REFUSED):
        list(client.list_flights(options=flight.FlightCallOptions(headers=TENANT, timeout=5)))
    with flight.connect(location, tls_root_certs=ca, cert_chain=read(certs / "client.pem"),
                        private_key=read(certs / "client-key.pem")) as client:
        put_and_get(client, "over-mtls")


def node_fails(*args) -> subprocess.CompletedProcess:
    done = subprocess.run([flightdeck_binary(), "node", "--port", "0", *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0, done.stdout
    return done


def test_a_node_beyond_loopback_needs_tls_and_client_authentication(certs):
    tls = ["--tls-cert", str(certs / "node.pem"), "--tls-key", str(certs / "node-key.pem")]
    plaintext = node_fails("--host", "0.0.0.0")
    assert "refusing to serve 0.0.0.0 in plaintext" in plaintext.stderr
    assert "--insecure" in plaintext.stderr
    unauthenticated = node_fails("--host", "0.0.0.0", *tls)
    assert "without client authentication" in unauthenticated.stderr
    # With client certificates checked, or with --insecure, it serves.
    for extra in (["--tls-client-ca", str(certs / "ca.pem")], ["--insecure"]):
        node = Process(["node", "--port", "0", "--host", "0.0.0.0", "--advertise", "127.0.0.1", *tls, *extra],
                       r"listening on (grpc\+tls://\S+)")
        node.kill()


@pytest.mark.parametrize("args, message", [
    (["--tls-cert", "/nonexistent/node.pem", "--tls-key", "/nonexistent/key.pem"],
     "--tls-cert: cannot read '/nonexistent/node.pem'"),
    (["--tls-cert", "CERTS/node.pem"], "--tls-cert and --tls-key go together"),
    (["--tls-client-ca", "CERTS/ca.pem"], "--tls-client-ca needs --tls-cert and --tls-key"),
    (["--tls-cert", "CERTS/node.pem", "--tls-key", "CERTS/EMPTY"], "holds no PEM block"),
])
def test_bad_tls_files_fail_the_node_clearly(certs, tmp_path, args, message):
    (tmp_path / "empty").write_text("")
    args = [a.replace("CERTS/EMPTY", str(tmp_path / "empty")).replace("CERTS", str(certs)) for a in args]
    assert message in node_fails(*args).stderr


def test_a_client_with_an_unreadable_ca_is_a_usage_error(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\nsource: {generate: {rows: 10}}\nsink: {parquet: out}\n")
    done = subprocess.run([flightdeck_binary(), "run", str(spec), "--tls-ca", str(tmp_path / "missing.pem")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--tls-ca: cannot read" in done.stderr


def test_a_mixed_pipeline_runs_over_mutual_tls(cluster, certs, tmp_path):
    # The C++ worker, the Python stage worker and `flightdeck run` (which
    # reads the sources' schemas and the spec check) all dial the node with
    # the CA and the client certificate, from FLIGHTDECK_TLS_* here.
    write_inputs(tmp_path)
    c = cluster("mixed-tls", tls_dir=certs)
    assert c.node.startswith("grpc+tls://")
    c.python_worker()
    run_mixed(c, tmp_path, "mixed-tls-1")


def test_the_demo_runs_its_node_with_throwaway_tls_and_a_token(tmp_path):
    import glob
    import re
    before = set(glob.glob("/tmp/flightdeck-demo-secrets-*"))
    done = subprocess.run([flightdeck_binary(), "demo", "--rows", "200000", "--partitions", "2", "--state-dir",
                           str(tmp_path / "temporal")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"data node\s+grpc\+tls://127\.0\.0\.1:\d+ \(TLS from a throwaway CA, bearer-token", done.stdout)
    assert "verified" in done.stdout
    # The throwaway CA, certificate and key are gone with the demo.
    assert set(glob.glob("/tmp/flightdeck-demo-secrets-*")) == before
