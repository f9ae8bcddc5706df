"""Fixtures for interop tests: real flightdeck processes, spoken to by
clients no one here wrote (pyarrow.flight, the temporal CLI)."""

import os
import pathlib
import re
import select
import signal
import subprocess
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


class Process:
    """A flightdeck subcommand whose first stdout line announces where it listens."""

    def __init__(self, args, ready_pattern, timeout=90.0):
        self.proc = subprocess.Popen(
            [flightdeck_binary(), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.match = self._wait_for_line(re.compile(ready_pattern), timeout)

    def _wait_for_line(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    break
                seen.append(line)
                match = pattern.search(line)
                if match:
                    return match
            elif self.proc.poll() is not None:
                break
        self.kill()
        raise AssertionError(
            f"{self.proc.args} did not print {pattern.pattern!r} within {timeout}s; "
            f"stdout={''.join(seen)!r} stderr={self.proc.stderr.read()!r}"
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


def sdk_test_worker_binary() -> str:
    path = os.environ.get("SDK_TEST_WORKER") or str(
        ROOT / "build" / "tests" / "integration" / "temporal" / "sdk_test_worker"
    )
    if not os.access(path, os.X_OK):
        pytest.fail(f"sdk_test_worker not found at {path}; build it with ninja -C build sdk_test_worker")
    return path


@pytest.fixture
def cpp_worker(dev_server):
    """The C++ SDK test worker (tests/integration/temporal/sdk_test_worker.cc)
    polling task queue "cpp-tq" of the dev server; yields (address, task queue)."""
    _, address = dev_server
    proc = subprocess.Popen(
        [sdk_test_worker_binary(), "--target", address, "--task-queue", "cpp-tq", "--identity", "cpp-worker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    line = ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if "worker ready" in line or not line:
                break
        elif proc.poll() is not None:
            break
    if "worker ready" not in line:
        proc.kill()
        pytest.fail(f"sdk_test_worker did not start: {proc.stderr.read()!r}")
    try:
        yield address, "cpp-tq"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
