"""Diagnostics for bench/sdk.py (not a benchmark): runs the same workload on
both workers, one worker at a time, and explains where the latency goes.

For each worker: the server's request counts per RPC and persistence
operation (from the dev server's Prometheus /metrics) divided by the number
of workflows, the server's CPU time per workflow, and from every workflow's
history the median time of each step (workflow task scheduled -> started on
the normal and sticky queue, started -> completed, activity scheduled ->
started -> completed, close -> result at the client).

Usage: .venv/bin/python bench/sdk_diag.py [WORKFLOWS] [CONCURRENCY]."""

import asyncio
import collections
import os
import re
import statistics
import sys
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import sdk  # noqa: E402

from temporalio.api.enums.v1 import EventType, TaskQueueKind  # noqa: E402


def scrape(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    out = collections.Counter()
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r'^(\w+)\{(.*)\} ([0-9.e+-]+)$', line)
        if not m:
            continue
        name, labels, value = m.groups()
        if not name.startswith(("service_requests", "persistence_requests", "poll_", "syncmatch")):
            continue
        if name.endswith("_bucket") or name.endswith("_sum"):
            continue
        op = re.search(r'operation="([^"]*)"', labels)
        svc = re.search(r'service_name="([^"]*)"', labels)
        key = (name, svc.group(1) if svc else "", op.group(1) if op else "")
        out[key] += float(value)
    return out


def ts(event):
    return event.event_time.ToNanoseconds() / 1e6


async def analyse(client, ids):
    steps = collections.defaultdict(list)
    counts = collections.Counter()
    for wid, lat_ms, done_at in ids:
        handle = client.get_workflow_handle(wid)
        events = [e async for e in handle.fetch_history_events()]
        counts["events"] += len(events)
        start = ts(events[0])
        scheduled = {}
        for e in events:
            t = ts(e)
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                kind = e.workflow_task_scheduled_event_attributes.task_queue.kind
                scheduled[e.event_id] = (t, "sticky" if kind == TaskQueueKind.TASK_QUEUE_KIND_STICKY else "normal")
                counts["wft"] += 1
            elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                st, kind = scheduled[e.workflow_task_started_event_attributes.scheduled_event_id]
                steps[f"wft sched->start ({kind})"].append(t - st)
                scheduled["started"] = t
            elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                steps["wft start->completed"].append(t - scheduled["started"])
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                scheduled["act"] = t
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                steps["act sched->start"].append(t - scheduled["act"])
                scheduled["act_started"] = t
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                steps["act start->completed"].append(t - scheduled["act_started"])
            elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                counts["wft_timed_out"] += 1
            elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                counts["wft_failed"] += 1
        end = ts(events[-1])
        steps["history start->close"].append(end - start)
        steps["client latency"].append(lat_ms)
    return steps, counts


async def run(client, queue, n, conc, port, server_pid, worker_pid):
    sem = asyncio.Semaphore(conc)
    ids = []

    async def one(i):
        async with sem:
            wid = f"diag-{uuid.uuid4()}"
            t0 = time.perf_counter()
            await client.execute_workflow("OneActivity", i, id=wid, task_queue=queue)
            ids.append((wid, (time.perf_counter() - t0) * 1000, time.time()))

    m0 = scrape(port)
    s0, w0 = sdk.cpu_ms(server_pid), sdk.cpu_ms(worker_pid)
    t0 = time.perf_counter()
    await asyncio.gather(*[one(i) for i in range(n)])
    wall = time.perf_counter() - t0
    s1, w1 = sdk.cpu_ms(server_pid), sdk.cpu_ms(worker_pid)
    m1 = scrape(port)
    diff = {k: (m1[k] - m0.get(k, 0)) / n for k in m1 if m1[k] - m0.get(k, 0) > 0}
    steps, counts = await analyse(client, ids)
    return {"wf_s": n / wall, "server_cpu": (s1 - s0) / n, "worker_cpu": (w1 - w0) / n,
            "metrics": diff, "steps": steps, "counts": counts}


async def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 150
    conc = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    port, mport = sdk.free_port(), sdk.free_port()
    address = f"127.0.0.1:{port}"
    procs = []
    try:
        server = sdk.subprocess.Popen(
            [sdk.TEMPORAL, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
             "--ui-port", str(sdk.free_port()), "--metrics-port", str(mport), "--log-level", "error",
             "--dynamic-config-value", "system.enableActivityEagerExecution=true"],
            stdout=sdk.subprocess.DEVNULL, stderr=sdk.subprocess.DEVNULL)
        procs.append(server)
        client = await sdk.wait_server(address)
        extra = os.environ.get("DIAG_CPP_ARGS", "").split()
        cpp = sdk.subprocess.Popen([str(sdk.CPP_WORKER), "--target", address, "--task-queue", "bench-cpp",
                                    "--workflow-slots", "100", "--workflow-polls", "5",
                                    "--activity-slots", "100", "--activity-polls", "5"] + extra,
                                   stdout=sdk.subprocess.PIPE, stderr=sdk.subprocess.DEVNULL, text=True)
        procs.append(cpp)
        py = sdk.subprocess.Popen([sys.executable, str(sdk.ROOT / "bench" / "sdk_py_worker.py"), address,
                                   "bench-py"], stdout=sdk.subprocess.PIPE, stderr=sdk.subprocess.DEVNULL, text=True)
        procs.append(py)
        sdk.wait_line(cpp, "worker ready", 30)
        sdk.wait_line(py, "worker ready", 60)
        results = {}
        for queue, pid in (("bench-cpp", cpp.pid), ("bench-py", py.pid)):
            await sdk.run_workflows(client, queue, 20, 10)
        for queue, pid in (("bench-cpp", cpp.pid), ("bench-py", py.pid), ("bench-cpp", cpp.pid),
                           ("bench-py", py.pid)):
            r = await run(client, queue, n, conc, mport, server.pid, pid)
            results.setdefault(queue, []).append(r)
        for queue, rs in results.items():
            print(f"== {queue}")
            for r in rs:
                print(f"  {r['wf_s']:.1f} wf/s  server CPU {r['server_cpu']:.1f} ms/wf  worker CPU "
                      f"{r['worker_cpu']:.2f} ms/wf  {dict(r['counts'])}")
            r = rs[-1]
            for name, values in sorted(r["steps"].items()):
                values = sorted(values)
                print(f"  {name:28s} n={len(values):4d} p50 {values[len(values) // 2]:8.1f}  "
                      f"mean {statistics.mean(values):8.1f}  p90 {values[int(len(values) * 0.9)]:8.1f}")
            for key, value in sorted(r["metrics"].items()):
                if value >= 0.05:
                    print(f"  {'/'.join(key):70s} {value:7.2f} per wf")
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(sdk.signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except sdk.subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    asyncio.run(main())
