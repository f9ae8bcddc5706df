"""A pipeline cluster for interop tests: a dev server, a durable data node,
a C++ pipeline worker (`flightdeck worker`) and Python stage workers as
processes, and the `flightdeck` CLI against them.

With FLIGHTDECK_SECURE_CLUSTER=1 (scripts/test's second pass over the
pipeline suite) every cluster's node serves TLS with an auth config, and
every client (workers, the CLI, the tests' own pyarrow clients through
`connect` and `call_options`) dials it with the CA and a bearer token."""

import json
import os
import pathlib
import re
import subprocess
import sys
import time

import pyarrow.flight as flight
import pytest

from conftest import ROOT, Process, flightdeck_binary

SECURE = os.environ.get("FLIGHTDECK_SECURE_CLUSTER") == "1"
# The CA and token of the secure cluster made last (one at a time per test).
_secure_client = {}

# Transforms of the Python stage workers, loaded by the Python stage worker with
# --transforms. `discount` is pyarrow.compute; it first touches a marker file
# (FD_STAGE_MARKERS) and waits FD_STAGE_DELAY_S, so that a test can kill the
# worker while a task runs.
TRANSFORMS = '''
import os, pathlib, time, uuid
import pyarrow.compute as pc
from flightdeck_stage import transform

@transform("discount")
def discount(table):
    markers = os.environ.get("FD_STAGE_MARKERS")
    if markers:
        (pathlib.Path(markers) / uuid.uuid4().hex).touch()
    time.sleep(float(os.environ.get("FD_STAGE_DELAY_S", "0")))
    eur = pc.multiply(table.column("amount"), 0.92)
    return table.append_column("amount_eur", eur).append_column(
        "big", pc.greater(table.column("amount"), 500.0))
'''


def make_certs(folder: pathlib.Path, client: str = "alice") -> pathlib.Path:
    """A throwaway CA and node and client certificates in `folder`
    (examples/security/make-certs); returns `folder`."""
    subprocess.run([str(ROOT / "examples" / "security" / "make-certs"), str(folder), client],
                   check=True, capture_output=True, text=True)
    return folder


class Cluster:
    """A dev server, a durable data node and one C++ worker on `queue`. With
    `tls_dir` (make_certs), the node serves mutual TLS and every client of it
    (workers, the CLI) dials it with the CA and the client certificate."""

    def __init__(self, tmp_path: pathlib.Path, queue: str, worker_args=(), tls_dir=None, node_args=(), env=None,
                 server_args=()):
        self.tmp_path = tmp_path
        self.queue = queue
        self.processes = []
        self.env = dict(os.environ)
        self.env.update(env or {})
        node_args = list(node_args)
        if SECURE and tls_dir is None and "--auth-config" not in node_args:
            tls_dir = make_certs(tmp_path / "secure-certs")
            node_args += ["--auth-config", str(self.secure_auth_config(tmp_path))]
            self.env["FLIGHTDECK_TOKEN"] = _secure_client["token"]
            _secure_client["ca"] = tls_dir / "ca.pem"
            _secure_client["cert"] = (tls_dir / "client.pem", tls_dir / "client-key.pem")
        if tls_dir is not None:
            node_args += ["--tls-cert", str(tls_dir / "node.pem"), "--tls-key", str(tls_dir / "node-key.pem"),
                         "--tls-client-ca", str(tls_dir / "ca.pem")]
            self.env.update(FLIGHTDECK_TLS_CA=str(tls_dir / "ca.pem"), FLIGHTDECK_TLS_CERT=str(tls_dir / "client.pem"),
                            FLIGHTDECK_TLS_KEY=str(tls_dir / "client-key.pem"))
        self.server = self.start(["dev-server", "--port", "0", "--state-dir", str(tmp_path / "temporal"),
                                  *server_args], r"ready at (\S+)")
        self.address = self.server.match.group(1)
        self.node_args = node_args
        self.node_env = {**os.environ, **(env or {})}
        self.node = self.data_node(tmp_path / "node").location
        assert not SECURE or self.node.startswith("grpc+tls://"), self.node
        self.worker_args = list(worker_args)
        self.cpp_worker()

    def data_node(self, data_dir: pathlib.Path, port: int = 0, *extra_args, ready=None) -> Process:
        """A durable data node on `data_dir` (the cluster's TLS and auth
        settings, then `extra_args`), once it printed `ready` (default: that
        it listens); its location is .location."""
        process = self.start(["node", "--port", str(port), "--data-dir", str(data_dir), *self.node_args, *extra_args],
                             ready or r"listening on (grpc\+(?:tcp|tls)://\S+)", stderr="node", env=self.node_env)
        process.location = re.search(r"listening on (grpc\+(?:tcp|tls)://\S+)", "".join(process.lines)).group(1)
        return process

    @staticmethod
    def secure_auth_config(folder: pathlib.Path) -> pathlib.Path:
        """An auth config with one principal owning every tenant; its token
        goes to _secure_client."""
        token, entry = subprocess.run([flightdeck_binary(), "auth", "new-token"], capture_output=True, text=True,
                                      check=True, timeout=60).stdout.split()
        _secure_client["token"] = token
        path = folder / "secure-auth.yaml"
        path.write_text(f"""principals:
  pipelines: {{tokens: ["{entry}"]}}
roles:
  owner: {{actions: [put, get, list, drop, persist, exchange, stats, admin]}}
bindings:
  - {{role: owner, principals: [pipelines], tenants: ["*"]}}
""")
        return path

    def cpp_worker(self) -> Process:
        return self.start(["worker", "--target", self.address, "--task-queue", self.queue,
                           "--activity-slots", "2", *self.worker_args],
                          r"flightdeck worker polling", stderr="cpp-worker", env=self.env)

    def start(self, args, ready, stderr=None, command=None, env=None) -> Process:
        process = Process(args, ready, command=command, env=env,
                          stderr_path=self.tmp_path / f"{stderr or args[0]}-{len(self.processes)}.stderr")
        self.processes.append(process)
        return process

    def python_worker(self, *args, **env_extra) -> Process:
        (self.tmp_path / "mixed_transforms.py").write_text(TRANSFORMS)
        env = dict(self.env)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "python"), str(self.tmp_path)])
        env.update(env_extra)
        return self.start([], r"flightdeck_stage serving .* on task queue", stderr="python-worker",
                          command=[sys.executable, "-m", "flightdeck_stage", "--address", self.address,
                                   "--task-queue", self.queue + "-python", "--transforms", "mixed_transforms", *args],
                          env=env)

    def cli(self, *args, timeout=240) -> subprocess.CompletedProcess:
        return subprocess.run([flightdeck_binary(), *args, "--target", self.address],
                              capture_output=True, text=True, timeout=timeout, env=self.env)

    def node_process(self, location: str) -> Process:
        """The running data node process serving `location` (data_node)."""
        return next(p for p in self.processes if getattr(p, "location", None) == location and p.proc.poll() is None)

    def cpp_workers(self) -> list:
        """The C++ worker processes started so far (cpp_worker), oldest first."""
        return [p for p in self.processes if p.stderr_path and "cpp-worker" in p.stderr_path.name]

    def start_run(self, spec: pathlib.Path, run_id: str) -> subprocess.Popen:
        """`flightdeck run SPEC --wait --id RUN_ID` in the background (stdout
        and stderr together); communicate() waits for it."""
        return subprocess.Popen([flightdeck_binary(), "run", str(spec), "--wait", "--id", run_id,
                                 "--target", self.address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=self.env)

    def close(self):
        for process in reversed(self.processes):
            process.kill()


@pytest.fixture
def cluster(tmp_path):
    """make(queue, worker_args=()) -> a Cluster in tmp_path; everything it
    started is killed at teardown."""
    made = []

    def make(queue, worker_args=(), tls_dir=None, node_args=(), env=None, server_args=()):
        made.append(Cluster(tmp_path, queue, worker_args, tls_dir, node_args, env, server_args))
        return made[-1]

    yield make
    for made_cluster in made:
        made_cluster.close()


def wait_for(condition, timeout, what):
    """Polls `condition` until it holds and returns its value; fails after
    `timeout` seconds naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def connect(node: str) -> flight.FlightClient:
    """A pyarrow client of a cluster's node (with the secure cluster's CA and
    client certificate when the node serves TLS)."""
    if not node.startswith("grpc+tls://"):
        return flight.connect(node)
    cert, key = _secure_client["cert"]
    return flight.connect(node, tls_root_certs=_secure_client["ca"].read_bytes(),
                          cert_chain=cert.read_bytes(), private_key=key.read_bytes())


def call_options(tenant: str) -> flight.FlightCallOptions:
    """Call options naming `tenant` (and carrying the secure cluster's token)."""
    headers = [(b"x-flightdeck-tenant", tenant.encode())]
    if SECURE and "token" in _secure_client:
        headers.append((b"authorization", b"Bearer " + _secure_client["token"].encode()))
    return flight.FlightCallOptions(headers=headers)


def node_action(node: str, tenant: str, name: str, body: bytes = b"") -> dict:
    """One JSON-answering action on the node, as `tenant`."""
    client = connect(node)
    try:
        results = list(client.do_action(flight.Action(name, body), call_options(tenant)))
        return json.loads(results[0].body.to_pybytes())
    finally:
        client.close()


def tenant_datasets(node: str, tenant: str) -> int:
    """How many datasets `tenant` holds on the node (its `stats`)."""
    return node_action(node, tenant, "stats")["tenant"]["datasets"]
