"""scripts/bench sdk: the C++ SDK worker against the official Python SDK worker
on the same dev server in the same run.

For each worker: workflows per second and p50/p99 start-to-result latency of a
workflow with one trivial activity (driven by a Python client with bounded
concurrency) on an in-memory dev server (a SQLite file makes the server's
fsyncs the bottleneck), activity throughput (one workflow fanning out many trivial
activities), and the worker process's CPU time per workflow (utime+stime from
/proc). Prints human-readable lines, then one JSON object as the last line."""

import asyncio
import json
import os
import pathlib
import select
import signal
import socket
import subprocess
import sys
import time
import uuid

from temporalio.client import Client

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("FLIGHTDECK_BUILD_DIR", ROOT / "build"))
CPP_WORKER = BUILD / "tests" / "integration" / "temporal" / "sdk_test_worker"
TEMPORAL = os.environ.get("FLIGHTDECK_TEMPORAL_BIN") or str(ROOT / ".venv" / "bin" / "temporal")
WORKFLOWS = int(os.environ.get("SDK_BENCH_WORKFLOWS", "300"))
CONCURRENCY = int(os.environ.get("SDK_BENCH_CONCURRENCY", "30"))
ACTIVITIES = int(os.environ.get("SDK_BENCH_ACTIVITIES", "300"))
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ms(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / TICKS


def wait_line(proc, needle, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if needle in line:
                return
            if not line:
                break
        elif proc.poll() is not None:
            break
    raise RuntimeError(f"{proc.args} did not print {needle!r}")


async def wait_server(address):
    deadline = time.monotonic() + 90
    while True:
        try:
            return await Client.connect(address)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def run_workflows(client, queue, count, concurrency):
    latencies = []
    sem = asyncio.Semaphore(concurrency)

    async def one(i):
        async with sem:
            t0 = time.perf_counter()
            result = await client.execute_workflow("OneActivity", i, id=f"bench-{uuid.uuid4()}", task_queue=queue)
            latencies.append((time.perf_counter() - t0) * 1000)
            assert result == i * i, (result, i)

    t0 = time.perf_counter()
    await asyncio.gather(*[one(i) for i in range(count)])
    return count / (time.perf_counter() - t0), sorted(latencies)


async def measure(client, queue, pid, label):
    await run_workflows(client, queue, 20, 10)  # warm-up
    cpu0 = cpu_ms(pid)
    wf_per_s, lat = await run_workflows(client, queue, WORKFLOWS, CONCURRENCY)
    cpu = cpu_ms(pid) - cpu0
    p50 = lat[len(lat) // 2]
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    t0 = time.perf_counter()
    total = await client.execute_workflow("ManyActivities", ACTIVITIES, id=f"bench-many-{uuid.uuid4()}",
                                          task_queue=queue)
    act_per_s = ACTIVITIES / (time.perf_counter() - t0)
    assert total == sum(i * i for i in range(ACTIVITIES))
    print(f"{label}: {wf_per_s:.1f} wf/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
          f"{act_per_s:.1f} activities/s, worker CPU {cpu / WORKFLOWS:.2f} ms/wf")
    return {"wf_per_s": wf_per_s, "p50_ms": p50, "p99_ms": p99, "act_per_s": act_per_s,
            "cpu_ms_per_wf": cpu / WORKFLOWS}


async def main():
    if not CPP_WORKER.exists():
        sys.exit(f"{CPP_WORKER} missing: ninja -C build sdk_test_worker")
    port = free_port()
    address = f"127.0.0.1:{port}"
    procs = []
    try:
        server = subprocess.Popen(
            [TEMPORAL, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
             "--ui-port", str(free_port()), "--log-level", "error",
             # Eager activity execution, which both SDKs request by default.
             "--dynamic-config-value", "system.enableActivityEagerExecution=true"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(server)
        client = await wait_server(address)
        # The Python SDK's defaults: 100 workflow and 100 activity slots,
        # 5 concurrent polls per queue, eager activities on.
        cpp = subprocess.Popen([str(CPP_WORKER), "--target", address, "--task-queue", "bench-cpp",
                                "--workflow-slots", "100", "--workflow-polls", "5",
                                "--activity-slots", "100", "--activity-polls", "5"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(cpp)
        py = subprocess.Popen([sys.executable, str(ROOT / "bench" / "sdk_py_worker.py"), address, "bench-py"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(py)
        wait_line(cpp, "worker ready", 30)
        wait_line(py, "worker ready", 60)
        print(f"dev server {address}; {WORKFLOWS} workflows of one activity, concurrency {CONCURRENCY}; "
              f"{ACTIVITIES} activities in one workflow")
        c = await measure(client, "bench-cpp", cpp.pid, "C++ worker   ")
        p = await measure(client, "bench-py", py.pid, "Python worker")
        print(f"ratios C++/Python: throughput {c['wf_per_s'] / p['wf_per_s']:.2f}x, "
              f"CPU per workflow {c['cpu_ms_per_wf'] / max(p['cpu_ms_per_wf'], 1e-9):.2f}x, "
              f"p50 {c['p50_ms'] / p['p50_ms']:.2f}x")
        out = {}
        for key in ("wf_per_s", "p50_ms", "p99_ms", "act_per_s", "cpu_ms_per_wf"):
            out[f"cpp_{key}"] = round(c[key], 3)
            out[f"py_{key}"] = round(p[key], 3)
        print(json.dumps(out))
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    asyncio.run(main())
