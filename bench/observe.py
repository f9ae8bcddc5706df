"""scripts/bench observe: what observability costs a pipeline (issue 18).

The pipeline benchmark's three-stage pipeline (bench/pipeline.py) on one
Temporal dev server, against two identical clusters (a data node and a
worker each), in one run: one with nothing on, one with everything on:
Prometheus metrics on the node and the worker (scraped every second as
Prometheus would), and tracing of every span (OTEL_TRACES_SAMPLER=always_on)
to a real Jaeger over OTLP/HTTP. Runs alternate off/on so drift hits both.

Figures: rows_per_s_off, rows_per_s_on (median of OBSERVE_BENCH_REPEATS
runs each), overhead_pct (target: at most 3), spans_exported and
spans_dropped (the tracers' own counts, from /metrics, once they drained).
"""

import asyncio
import json
import os
import pathlib
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request

from temporalio.client import Client

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "interop"))
from jaeger import Jaeger  # noqa: E402
from pipeline import run_pipeline, spec_text, start, stop  # noqa: E402
from pipeline_json_baseline import dev_server  # noqa: E402
from sdk import free_port  # noqa: E402

ROWS = int(os.environ.get("OBSERVE_BENCH_ROWS", "40000000"))
PARTITIONS = int(os.environ.get("OBSERVE_BENCH_PARTITIONS", "32"))
REPEATS = int(os.environ.get("OBSERVE_BENCH_REPEATS", "5"))


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        return answer.read().decode()


def metric(text, name):
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


class Scraper(threading.Thread):
    """Reads the /metrics endpoints every second, as Prometheus would."""

    def __init__(self, ports):
        super().__init__(daemon=True)
        self.ports, self.stopping = ports, threading.Event()

    def run(self):
        while not self.stopping.wait(1.0):
            for port in self.ports:
                try:
                    scrape(port)
                except OSError:
                    pass


def cluster(address, work, name, env, metrics, procs):
    """A data node and a worker (appended to `procs`), with `env` (os.environ
    plus it) and /metrics on the `metrics` ports when given."""
    port = free_port()
    node_args = ["node", "--port", str(port), "--data-dir", str(work / f"node-{name}")]
    worker_args = ["worker", "--target", address, "--task-queue", f"observe-{name}", "--activity-slots", "2"]
    if metrics:
        node_args += ["--metrics-port", str(metrics[0])]
        worker_args += ["--metrics-port", str(metrics[1])]
    procs.append(start(node_args, "flightdeck node listening", env=env))
    procs.append(start(worker_args, "flightdeck worker polling", env=env))
    return f"grpc+tcp://127.0.0.1:{port}", f"observe-{name}"


async def measure(address, work, jaeger):
    client = await Client.connect(address, namespace="default")
    metrics_ports = (free_port(), free_port())
    on_env = {"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint, "OTEL_TRACES_SAMPLER": "always_on"}
    procs = []
    scraper = Scraper(metrics_ports)
    rates = {"off": [], "on": []}
    try:
        off_node, off_queue = cluster(address, work, "off", {}, None, procs)
        on_node, on_queue = cluster(address, work, "on", on_env, metrics_ports, procs)
        scraper.start()
        for name, node, queue in (("off", off_node, off_queue), ("on", on_node, on_queue)):  # warm-up
            await run_pipeline(client, spec_text(100_000, 2, node, work / f"warm-{name}", queue, False), queue)
        for i in range(REPEATS):
            for name, node, queue in (("off", off_node, off_queue), ("on", on_node, on_queue)):
                spec = spec_text(ROWS, PARTITIONS, node, work / f"out-{name}-{i}", queue, durable=False)
                seconds, _, _ = await run_pipeline(client, spec, queue)
                rates[name].append(ROWS / seconds)
                print(f"{name:>3}: {ROWS} rows, {PARTITIONS} partitions in {seconds:.2f} s = "
                      f"{ROWS / seconds / 1e6:.2f} M rows/s", flush=True)
        # Drained: the tracers' counts stop moving once their queues are empty.
        last, stable_since = None, time.monotonic()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            texts = [scrape(port) for port in metrics_ports]
            counts = tuple(sum(metric(t, n) for t in texts)
                           for n in ("flightdeck_trace_spans_exported", "flightdeck_trace_spans_dropped"))
            if counts != last:
                last, stable_since = counts, time.monotonic()
            elif time.monotonic() - stable_since > 6:  # past one schedule delay (5 s)
                break
            time.sleep(0.5)
    finally:
        scraper.stopping.set()
        for proc in procs:
            stop(proc)
    return rates, last


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="fd-bench-observe-"))
    jaeger = Jaeger(work)
    try:
        with dev_server() as address:
            rates, (exported, dropped) = asyncio.run(measure(address, work, jaeger))
    finally:
        jaeger.close()
        shutil.rmtree(work, ignore_errors=True)
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    figures = {"rows_per_s_off": off, "rows_per_s_on": on, "overhead_pct": (off - on) / off * 100,
               "spans_exported": int(exported), "spans_dropped": int(dropped), "rows": ROWS,
               "partitions": PARTITIONS, "repeats": REPEATS, "targets": {"overhead_pct": 3}}
    print(f"metrics and tracing on: {on / 1e6:.2f} M rows/s against {off / 1e6:.2f} M rows/s off "
          f"({figures['overhead_pct']:.1f}% overhead); {int(exported)} spans exported, {int(dropped)} dropped")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
