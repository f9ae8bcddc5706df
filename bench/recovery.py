"""scripts/bench recovery: how long a running pipeline stalls after each fault.

Everything real, in separate processes: `flightdeck dev-server` (SQLite
state, so it can be killed and restarted), one `flightdeck node` (durable
checkpoints under --data-dir) and two `flightdeck worker` processes, as an
operator would run them; a Python client starts PipelineWorkflow and polls
its progress query.

First one fault-free run gives the reference output. Then, for each fault,
RECOVERY_BENCH_RUNS runs each inject it at a random point of a running
pipeline (after a random number of finished partitions):

  worker_kill     SIGKILL one worker; a replacement starts at once
  worker_stop     SIGSTOP one worker for 10 s, then SIGCONT
  workers_kill    SIGKILL both workers; two replacements start at once
  node_kill       SIGKILL the data node; it restarts on its port and data dir
  server_kill     SIGKILL the dev server; it restarts on its port and state

The stall is the time until the run's progress advances again (a partition
finishes, or the run moves past its partitions): from the fault, or, for the
two restarts, from the moment the restarted process answers again
(`recovery_<fault>_max_s`, `_p50_s`). The restarted process's own start-up
(fault to answering: a dev server on its SQLite file takes seconds) is
reported separately as `restart_<fault>_max_s`, and the stall from the fault
as `stall_<fault>_max_s`. Every run's output files must equal the fault-free
run's bytes (`outputs_equal`). recovery_max_s and recovery_p50_s are over
every faulty run (target: max under 5 s, p50 under 2 s). The last stdout
line is one JSON object of the figures.
"""

import asyncio
import datetime
import json
import os
import pathlib
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from temporalio.client import Client

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from sdk import free_port, wait_line  # noqa: E402

BINARY = os.environ.get("FLIGHTDECK_BINARY") or str(ROOT / "build" / "src" / "flightdeck" / "flightdeck")
ROWS = int(os.environ.get("RECOVERY_BENCH_ROWS", "24000000"))
PARTITIONS = int(os.environ.get("RECOVERY_BENCH_PARTITIONS", "64"))
RUNS = int(os.environ.get("RECOVERY_BENCH_RUNS", "3"))
FAULTS = os.environ.get("RECOVERY_BENCH_FAULTS",
                        "worker_kill,worker_stop,workers_kill,node_kill,server_kill").split(",")
STOP_SECONDS = 10
WORKFLOW = "flightdeck.Pipeline"
TASK_TIMEOUT = datetime.timedelta(seconds=3)  # as `flightdeck run` (kPipelineTaskTimeout)
SEED = int(os.environ.get("RECOVERY_BENCH_SEED", "7"))


def start(args, ready, log, timeout=90):
    proc = subprocess.Popen([BINARY, *args], stdout=subprocess.PIPE, stderr=open(log, "a"), text=True)
    wait_line(proc, ready, timeout)
    return proc


def kill(proc):
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait()


class Cluster:
    """The dev server, the node and two workers, restartable in place."""

    def __init__(self, work: pathlib.Path):
        self.work = work
        self.server_port = free_port()
        self.node_port = free_port()
        self.address = f"127.0.0.1:{self.server_port}"
        self.node_location = f"grpc+tcp://127.0.0.1:{self.node_port}"
        self.queue = "bench-recovery"
        self.server = self.node = None
        self.workers = [None, None]
        self.start_server()
        self.start_node()
        for i in range(2):
            self.start_worker(i)

    def log(self, name):
        return self.work / f"{name}.log"

    def start_server(self):
        self.server = start(["dev-server", "--port", str(self.server_port), "--state-dir",
                             str(self.work / "temporal")], "temporal dev server ready", self.log("server"))

    def start_node(self):
        self.node = start(["node", "--port", str(self.node_port), "--data-dir", str(self.work / "node")],
                          "flightdeck node listening", self.log("node"))

    def start_worker(self, i):
        self.workers[i] = start(["worker", "--target", self.address, "--task-queue", self.queue,
                                 "--activity-slots", "2"], "flightdeck worker polling", self.log(f"worker{i}"))

    def close(self):
        for proc in [*self.workers, self.node, self.server]:
            kill(proc)


def spec_text(cluster: Cluster, sink: pathlib.Path) -> str:
    return f"""name: recovery
tenant: bench
source:
  generate: {{rows: {ROWS}, seed: 42}}
stages:
  - filter: "amount > 10"
  - with_column: {{name: amount_eur, expr: "amount * 0.92"}}
  - aggregate: {{by: [customer], aggs: {{total: "sum(amount_eur)", orders: "count(*)"}}}}
sink:
  parquet: {sink}
partitions: {PARTITIONS}
parallelism: 4
durable: true
retry: {{max_attempts: 20, initial_interval_ms: 100, backoff: 2.0, max_interval_ms: 1000}}
nodes: [{cluster.node_location}]
task_queue: {cluster.queue}
"""


def output_bytes(sink: pathlib.Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(sink.iterdir()) if p.name != "_SUCCESS"}


async def connect(address):
    deadline = time.monotonic() + 90
    while True:
        try:
            return await Client.connect(address, namespace="default")
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def progress_done(client, run):
    """Partitions finished, or None when no one answers the query now (a
    worker, or the server, is down): the stall goes on."""
    try:
        progress = await client.get_workflow_handle(run).query(
            "progress", rpc_timeout=datetime.timedelta(seconds=1))
        return progress["partitions_done"], progress.get("phase")
    except Exception:
        return None


async def closed(client, run):
    try:
        described = await client.get_workflow_handle(run).describe(rpc_timeout=datetime.timedelta(seconds=1))
        return described.status is not None and described.status.name != "RUNNING"
    except Exception:
        return False


async def run_once(client, cluster: Cluster, sink: pathlib.Path, fault: str, rng: random.Random):
    """One run with `fault` (None: fault-free). Returns (seconds from the
    fault to progress, seconds from the restarted process answering to
    progress or None, output bytes, the workflow's result)."""
    run = f"recovery-{fault or 'clean'}-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(WORKFLOW, args=[spec_text(cluster, sink), "recovery.yaml", run],
                                         id=run, task_queue=cluster.queue, task_timeout=TASK_TIMEOUT)
    stall = after_restart = None
    if fault is not None:
        at = rng.randint(2, PARTITIONS // 2)
        deadline = time.monotonic() + 300
        while True:
            got = await progress_done(client, run)
            if got is not None and got[0] >= at:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{run}: no progress before the fault")
            await asyncio.sleep(0.01)
        done_at_fault = got[0]
        answered = None
        faulted = time.perf_counter()
        if fault == "worker_kill":
            victim = rng.randrange(2)
            kill(cluster.workers[victim])
            cluster.start_worker(victim)
        elif fault == "worker_stop":
            victim = cluster.workers[rng.randrange(2)]
            victim.send_signal(signal.SIGSTOP)
            threading.Timer(STOP_SECONDS, lambda: victim.send_signal(signal.SIGCONT)).start()
        elif fault == "workers_kill":
            for i in range(2):
                kill(cluster.workers[i])
            for i in range(2):
                cluster.start_worker(i)
        elif fault == "node_kill":
            kill(cluster.node)
            cluster.start_node()
            answered = time.perf_counter()
        elif fault == "server_kill":
            kill(cluster.server)
            cluster.start_server()
            answered = time.perf_counter()
        else:
            raise ValueError(f"unknown fault {fault}")
        while True:
            got = await progress_done(client, run)
            if (got is not None and (got[0] > done_at_fault or got[1] != "partitions")) or \
                    await closed(client, run):
                break
            if time.perf_counter() - faulted > 300:
                raise RuntimeError(f"{run}: no progress within 300 s of {fault}")
            await asyncio.sleep(0.01)
        now = time.perf_counter()
        stall = now - faulted
        after_restart = now - answered if answered is not None else None
    result = await handle.result()
    if result["partitions"] != PARTITIONS:
        raise RuntimeError(f"{run}: unexpected result {result}")
    return stall, after_restart, output_bytes(sink), result


async def main_async(cluster: Cluster, work: pathlib.Path):
    client = await connect(cluster.address)
    rng = random.Random(SEED)
    _, _, reference, result = await run_once(client, cluster, work / "clean", None, rng)
    print(f"fault-free run: {result['rows']} output rows, {result['elapsed_ms']} ms", flush=True)
    figures = {"outputs_equal": True}
    stalls = []
    for fault in FAULTS:
        recoveries, from_fault, restarts = [], [], []
        for i in range(RUNS):
            sink = work / f"{fault}-{i}"
            stall, after_restart, got, result = await run_once(client, cluster, sink, fault, rng)
            same = got == reference
            figures["outputs_equal"] = figures["outputs_equal"] and same
            from_fault.append(stall)
            recoveries.append(stall if after_restart is None else after_restart)
            line = f"{fault} run {i + 1}: stall {stall:.2f} s from the fault"
            if after_restart is not None:
                restarts.append(stall - after_restart)
                line += (f" = {stall - after_restart:.2f} s restart + {after_restart:.2f} s until "
                         f"progress after the restarted process answered")
            line += f", {result['recomputes']} recomputes, output {'equal' if same else 'DIFFERS'}"
            print(line, flush=True)
            if fault == "worker_stop":
                # The stopped worker continues before the next run starts.
                await asyncio.sleep(max(0.0, STOP_SECONDS - stall) + 0.5)
        stalls += recoveries
        figures[f"recovery_{fault}_max_s"] = max(recoveries)
        figures[f"recovery_{fault}_p50_s"] = statistics.median(recoveries)
        figures[f"stall_{fault}_max_s"] = max(from_fault)
        if restarts:
            figures[f"restart_{fault}_max_s"] = max(restarts)
    figures["recovery_max_s"] = max(stalls)
    figures["recovery_p50_s"] = statistics.median(stalls)
    return figures


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="fd-bench-recovery-"))
    cluster = None
    try:
        cluster = Cluster(work)
        figures = asyncio.run(main_async(cluster, work))
    finally:
        if cluster is not None:
            cluster.close()
        shutil.rmtree(work, ignore_errors=True)
    figures.update({"rows": ROWS, "partitions": PARTITIONS, "runs_per_fault": RUNS,
                    "targets": {"recovery_max_s": 5, "recovery_p50_s": 2}})
    print(f"recovery: max {figures['recovery_max_s']:.2f} s, p50 {figures['recovery_p50_s']:.2f} s "
          f"over {len(FAULTS) * RUNS} faulty runs; outputs equal: {figures['outputs_equal']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
