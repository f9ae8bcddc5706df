"""scripts/bench pipeline: flightdeck's pipeline end to end (issue 6).

Everything real, in separate processes: an in-memory `temporal server
start-dev`, one `flightdeck node` (data node), one or two `flightdeck worker`
processes (the C++ SDK), and a Python client that starts PipelineWorkflow.

Figures, all in this one run:
  activity_mean_ms per activity type of the rows_per_s run, the mean time
                   from scheduled to completed (where the time goes)
  rows_per_s       a three-stage pipeline (filter, derive with_column,
                   aggregate by category) over PIPELINE_BENCH_ROWS (20M)
                   generated rows, start to result (durable checkpoints off;
                   the same run with them on is durable_rows_per_s)
  json_rows_per_s  the same stages with the rows passed between activities
                   as JSON payloads through Temporal (Python SDK,
                   bench/pipeline_json_baseline.py), over fewer rows
  p50_latency_ms   a one-partition, one-batch pipeline, start to result
                   (median of PIPELINE_BENCH_LATENCY_RUNS runs)
  recovery_s       SIGKILL of the worker mid-pipeline (a second worker is
                   started right away) to the next partition finished
                   (progress query, which the new worker answers)
The last stdout line is one JSON object of these figures.
"""

import asyncio
import datetime
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from temporalio.client import Client

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from pipeline_json_baseline import dev_server, run_baseline  # noqa: E402
from sdk import free_port, wait_line  # noqa: E402

BINARY = os.environ.get("FLIGHTDECK_BINARY") or str(ROOT / "build" / "src" / "flightdeck" / "flightdeck")
ROWS = int(os.environ.get("PIPELINE_BENCH_ROWS", "20000000"))
PARTITIONS = int(os.environ.get("PIPELINE_BENCH_PARTITIONS", "16"))
JSON_ROWS = int(os.environ.get("PIPELINE_BENCH_JSON_ROWS", "200000"))
LATENCY_RUNS = int(os.environ.get("PIPELINE_BENCH_LATENCY_RUNS", "15"))
RECOVERY_ROWS = int(os.environ.get("PIPELINE_BENCH_RECOVERY_ROWS", "8000000"))
WORKFLOW = "flightdeck.Pipeline"
# As `flightdeck run` (pipeline::kPipelineTaskTimeout): a workflow task held
# by the killed worker is given to the next one after this long.
TASK_TIMEOUT = datetime.timedelta(seconds=3)


def start(args, ready, timeout=60, env=None):
    """`flightdeck ARGS` (with os.environ plus `env`), once it printed `ready`."""
    proc = subprocess.Popen([BINARY, "--log-level", "error", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env={**os.environ, **(env or {})})
    wait_line(proc, ready, timeout)
    return proc


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spec_text(rows, partitions, node, sink, queue, durable, parallelism=2):
    return f"""name: bench
tenant: bench
source:
  generate: {{rows: {rows}, seed: 42}}
stages:
  - filter: "amount > 10"
  - with_column: {{name: amount_eur, expr: "amount * 0.92"}}
  - aggregate: {{by: [category], aggs: {{total: "sum(amount_eur)", orders: "count(*)"}}}}
sink:
  parquet: {sink}
partitions: {partitions}
parallelism: {parallelism}
durable: {"true" if durable else "false"}
retry: {{max_attempts: 5, initial_interval_ms: 100, max_interval_ms: 1000}}
nodes: [{node}]
task_queue: {queue}
"""


async def run_pipeline(client, spec, queue):
    run = f"bench-{uuid.uuid4().hex[:12]}"
    started = time.perf_counter()
    result = await client.execute_workflow(WORKFLOW, args=[spec, "bench.yaml", run], id=run,
                                           task_queue=queue, task_timeout=TASK_TIMEOUT)
    return time.perf_counter() - started, result, run


async def progress(client, run):
    return await client.get_workflow_handle(run).query("progress")


async def measure_recovery(client, address, node, sink, queue):
    """Kills the only worker (SIGKILL) once partitions are finishing and
    starts a second one right away. Seconds from the kill to the next
    partition finished: the killed attempts time out (heartbeat timeout), are
    retried on the new worker, and the chain moves on."""
    worker_args = ["worker", "--target", address, "--task-queue", queue, "--activity-slots", "2"]
    first = start(worker_args, "flightdeck worker polling")
    second = None
    try:
        spec = spec_text(RECOVERY_ROWS, 32, node, sink, queue, durable=True)
        run = f"bench-recovery-{uuid.uuid4().hex[:8]}"
        handle = await client.start_workflow(WORKFLOW, args=[spec, "bench.yaml", run], id=run,
                                             task_queue=queue, task_timeout=TASK_TIMEOUT)
        deadline = time.monotonic() + 120
        while (await progress(client, run))["partitions_done"] < 4:
            if time.monotonic() > deadline:
                raise RuntimeError("recovery pipeline made no progress")
            await asyncio.sleep(0.01)
        done_at_kill = (await progress(client, run))["partitions_done"]
        first.send_signal(signal.SIGKILL)
        killed = time.perf_counter()
        first.wait()
        second = start(worker_args, "flightdeck worker polling")
        while (await progress(client, run))["partitions_done"] <= done_at_kill:
            if time.monotonic() > deadline + 120:
                raise RuntimeError("no progress after the worker kill")
            await asyncio.sleep(0.01)
        recovery_s = time.perf_counter() - killed
        result = await handle.result()
        return recovery_s, result
    finally:
        stop(first, signal.SIGKILL)
        if second is not None:
            stop(second)


async def main_async(address, node, work):
    client = await Client.connect(address, namespace="default")
    queue = "bench-pipeline"
    worker = start(["worker", "--target", address, "--task-queue", queue, "--activity-slots", "2"],
                   "flightdeck worker polling")
    figures = {}
    try:
        # Warm-up (spec cache, connections, compute kernels).
        await run_pipeline(client, spec_text(100_000, 2, node, work / "warm", queue, False), queue)

        # Latency: one partition, one batch.
        latencies = []
        for i in range(LATENCY_RUNS):
            spec = spec_text(1000, 1, node, work / f"lat{i}", queue, durable=False)
            seconds, _, _ = await run_pipeline(client, spec, queue)
            latencies.append(seconds * 1000)
        figures["p50_latency_ms"] = statistics.median(latencies)
        figures["latency_ms_min"] = min(latencies)
        print(f"latency (1 partition, 1 batch, {LATENCY_RUNS} runs): p50 "
              f"{figures['p50_latency_ms']:.1f} ms, min {min(latencies):.1f} ms", flush=True)

        # Throughput, checkpoints not durable, then durable.
        for durable in (False, True):
            spec = spec_text(ROWS, PARTITIONS, node, work / f"out-{durable}", queue, durable)
            seconds, result, run = await run_pipeline(client, spec, queue)
            rate = ROWS / seconds
            key = "durable_rows_per_s" if durable else "rows_per_s"
            figures[key] = rate
            figures["durable_seconds" if durable else "seconds"] = seconds
            print(f"pipeline {ROWS} rows, {PARTITIONS} partitions, durable={durable}: "
                  f"{seconds:.2f} s, {rate / 1e6:.2f} M rows/s, {result['rows']} result rows, "
                  f"history {await history_bytes(client, run)} bytes", flush=True)
            timings = await activity_ms(client, run)
            if not durable:
                figures["activity_mean_ms"] = {name: t["mean"] for name, t in timings.items()}
            print("  activities (scheduled to completed, mean / total ms): " + ", ".join(
                f"{name.split('.')[-1]} x{t['count']} {t['mean']:.0f} / {t['total']:.0f}"
                for name, t in timings.items()), flush=True)
    finally:
        stop(worker)

    recovery_s, result = await measure_recovery(client, address, node, work / "recovery", queue)
    figures["recovery_s"] = recovery_s
    print(f"recovery: {recovery_s:.2f} s from the worker SIGKILL to the next partition done "
          f"({result['recomputes']} recomputes, {result['rows']} result rows)", flush=True)
    return figures


async def activity_ms(client, run):
    """Per activity type: count, mean and total milliseconds from scheduled to
    completed (server event times), where the time of a run goes."""
    history = await client.get_workflow_handle(run).fetch_history()
    scheduled, spans = {}, {}
    for event in history.events:
        at = event.event_time.ToDatetime().timestamp() * 1000
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled[event.event_id] = (event.activity_task_scheduled_event_attributes.activity_type.name, at)
        elif event.HasField("activity_task_completed_event_attributes"):
            name, since = scheduled[event.activity_task_completed_event_attributes.scheduled_event_id]
            spans.setdefault(name, []).append(at - since)
    return {name: {"count": len(v), "mean": sum(v) / len(v), "total": sum(v)} for name, v in spans.items()}


async def history_bytes(client, run):
    history = await client.get_workflow_handle(run).fetch_history()
    return len(history.to_json())


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="fd-bench-pipeline-"))
    node_port = free_port()
    node = None
    try:
        with dev_server() as address:
            node = start(["node", "--port", str(node_port), "--data-dir", str(work / "node")],
                         "flightdeck node listening")
            location = f"grpc+tcp://127.0.0.1:{node_port}"
            figures = asyncio.run(main_async(address, location, work))
            baseline = run_baseline(address, JSON_ROWS)
            figures["json_rows_per_s"] = baseline["json_rows_per_s"]
            figures["json_rows"] = JSON_ROWS
            print(f"JSON baseline ({JSON_ROWS} rows through Temporal payloads): "
                  f"{baseline['json_rows_per_s']:.0f} rows/s", flush=True)
    finally:
        if node is not None:
            stop(node)
        shutil.rmtree(work, ignore_errors=True)
    figures["rows"] = ROWS
    figures["partitions"] = PARTITIONS
    figures["vs_json"] = figures["rows_per_s"] / figures["json_rows_per_s"]
    figures["targets"] = {"rows_per_s": 10_000_000, "vs_json": 50, "p50_latency_ms": 100,
                          "recovery_s": 5}
    print(f"{figures['rows_per_s'] / 1e6:.2f} M rows/s = {figures['vs_json']:.0f}x the JSON baseline")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
