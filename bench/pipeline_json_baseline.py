"""JSON baseline of the pipeline benchmark (issue 6): the same three stages as
flightdeck's pipeline (filter amount > 10, derive amount_eur = amount * 0.92,
aggregate sum(amount_eur) and count by category) written the usual way with
the Temporal Python SDK: the rows travel between the activities as JSON
payloads through Temporal.

Shape of the run:
  JsonPipelineWorkflow(rows)        fans out one child per partition
    JsonPartitionWorkflow(start, n) per chunk, concurrently:
      extract -> filter -> derive -> aggregate   (each hop a JSON payload)
    partial aggregates are combined by the parent.
Chunks are columnar JSON ({"id": [...], ...}, timestamps as epoch
microseconds), the most compact plain-JSON form, sized so every payload stays
well under Temporal's 2 MB blob limit; partitions keep each child's history
far below the 50 MB history limit. The source rows are the orders table of
frame/generate.cc (bench/support/orders_generator.py, same seed), generated before
the clock starts and served by the extract activity from the worker's memory.

  python bench/pipeline_json_baseline.py --rows 200000 [--address HOST:PORT]

Without --address it starts `temporal server start-dev` (.venv/bin/temporal)
on a free port and stops it at the end. The last stdout line is one JSON
object: rows, json_rows_per_s, seconds, and the details. Importable:
run_baseline(address, rows) -> that dict.
"""

import argparse
import asyncio
import concurrent.futures
import contextlib
import datetime
import json
import math
import os
import pathlib
import socket
import subprocess
import sys
import time
import uuid
from typing import Any, Dict, List, Optional

import pyarrow as pa
import pyarrow.compute as pc
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "support"))
from orders_generator import generate_orders  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
EUR_PER_UNIT = 0.92
MIN_AMOUNT = 10.0
# Temporal's default blob size limit is 2 MB per payload; a columnar JSON row
# of the orders table is about 60 bytes, so 16 Ki rows is about 1 MB.
PAYLOAD_LIMIT_BYTES = 2 * 1024 * 1024
DEFAULT_CHUNK_ROWS = 16_384
# Four chunks per child workflow: about 4 x 1 MB x 6 payloads of history.
DEFAULT_PARTITION_ROWS = 4 * DEFAULT_CHUNK_ROWS
COLUMNS = ["id", "customer", "amount", "category", "ts"]

# The source table of the current run, keyed by (rows, seed). The extract
# activity reads slices of it, as a real extract would read a file.
_SOURCES: Dict[tuple, pa.Table] = {}


def _checked(chunk: Dict[str, Any], stage: str) -> Dict[str, Any]:
    """Fails (non-retryably) when a chunk would not fit in one Temporal payload."""
    size = len(json.dumps(chunk, separators=(",", ":")))
    if size > PAYLOAD_LIMIT_BYTES:
        raise ValueError(f"{stage}: chunk of {size} bytes exceeds the {PAYLOAD_LIMIT_BYTES} byte "
                         "payload limit; use smaller --chunk-rows")
    return chunk


@activity.defn(name="json_baseline.extract")
def extract(request: Dict[str, Any]) -> Dict[str, Any]:
    """Rows [start, start + count) of the source, as columnar JSON."""
    table = _SOURCES[(request["rows"], request["seed"])].slice(request["start"], request["count"])
    chunk = {name: table.column(name).to_pylist() for name in ["id", "customer", "amount", "category"]}
    chunk["ts"] = table.column("ts").cast(pa.int64()).to_pylist()
    return _checked(chunk, "extract")


@activity.defn(name="json_baseline.filter")
def filter_rows(chunk: Dict[str, Any]) -> Dict[str, Any]:
    """Keeps rows whose amount is not null and greater than 10."""
    keep = [i for i, amount in enumerate(chunk["amount"]) if amount is not None and amount > MIN_AMOUNT]
    return _checked({name: [chunk[name][i] for i in keep] for name in COLUMNS}, "filter")


@activity.defn(name="json_baseline.derive")
def derive(chunk: Dict[str, Any]) -> Dict[str, Any]:
    """Adds amount_eur = amount * 0.92."""
    out = dict(chunk)
    out["amount_eur"] = [None if a is None else a * EUR_PER_UNIT for a in chunk["amount"]]
    return _checked(out, "derive")


@activity.defn(name="json_baseline.aggregate")
def aggregate(chunk: Dict[str, Any]) -> List[List[Any]]:
    """[[category, sum(amount_eur), count], ...] of the chunk (category may be null)."""
    groups: Dict[Optional[str], List[Any]] = {}
    for category, eur in zip(chunk["category"], chunk["amount_eur"]):
        group = groups.setdefault(category, [0.0, 0])
        if eur is not None:
            group[0] += eur
        group[1] += 1
    return [[category, total, count] for category, (total, count) in groups.items()]


def combine(partials: List[List[List[Any]]]) -> List[List[Any]]:
    """Merges partial aggregates; sorted by category, null last."""
    groups: Dict[Optional[str], List[Any]] = {}
    for partial in partials:
        for category, total, count in partial:
            group = groups.setdefault(category, [0.0, 0])
            group[0] += total
            group[1] += count
    ordered = sorted(groups, key=lambda c: (c is None, c or ""))
    return [[c, groups[c][0], groups[c][1]] for c in ordered]


ACTIVITY_OPTIONS = dict(start_to_close_timeout=datetime.timedelta(minutes=5))


@workflow.defn(name="JsonPartitionWorkflow")
class JsonPartitionWorkflow:
    """One partition: its chunks go through the four stages concurrently."""

    @workflow.run
    async def run(self, request: Dict[str, Any]) -> List[List[Any]]:
        async def one_chunk(start: int, count: int) -> List[List[Any]]:
            rows = await workflow.execute_activity(
                "json_baseline.extract",
                {"rows": request["rows"], "seed": request["seed"], "start": start, "count": count},
                result_type=dict, **ACTIVITY_OPTIONS)
            rows = await workflow.execute_activity("json_baseline.filter", rows, result_type=dict,
                                                   **ACTIVITY_OPTIONS)
            rows = await workflow.execute_activity("json_baseline.derive", rows, result_type=dict,
                                                   **ACTIVITY_OPTIONS)
            return await workflow.execute_activity("json_baseline.aggregate", rows, result_type=list,
                                                   **ACTIVITY_OPTIONS)

        end = request["start"] + request["count"]
        step = request["chunk_rows"]
        partials = await asyncio.gather(*[
            one_chunk(start, min(step, end - start)) for start in range(request["start"], end, step)])
        return combine(list(partials))


@workflow.defn(name="JsonPipelineWorkflow")
class JsonPipelineWorkflow:
    """Fans partitions out as child workflows, combines their aggregates."""

    @workflow.run
    async def run(self, request: Dict[str, Any]) -> List[List[Any]]:
        rows, step = request["rows"], request["partition_rows"]
        children = [
            workflow.execute_child_workflow(
                JsonPartitionWorkflow.run,
                {**request, "start": start, "count": min(step, rows - start)},
                id=f"{workflow.info().workflow_id}-p{start // step}",
                result_type=list)
            for start in range(0, rows, step)
        ]
        return combine(list(await asyncio.gather(*children)))


def reference_aggregate(table: pa.Table) -> List[List[Any]]:
    """The same result computed with Arrow compute (for checking)."""
    kept = table.filter(pc.greater(table.column("amount"), MIN_AMOUNT))
    kept = kept.append_column("amount_eur", pc.multiply(kept.column("amount"), EUR_PER_UNIT))
    grouped = kept.group_by("category").aggregate([("amount_eur", "sum"), ("amount_eur", "count")])
    result = {c: [s, n] for c, s, n in zip(grouped.column("category").to_pylist(),
                                           grouped.column("amount_eur_sum").to_pylist(),
                                           grouped.column("amount_eur_count").to_pylist())}
    ordered = sorted(result, key=lambda c: (c is None, c or ""))
    return [[c, result[c][0], result[c][1]] for c in ordered]


def same_aggregate(a: List[List[Any]], b: List[List[Any]]) -> bool:
    return len(a) == len(b) and all(
        x[0] == y[0] and x[2] == y[2] and math.isclose(x[1], y[1], rel_tol=1e-9) for x, y in zip(a, b))


async def run_baseline_async(address: str, rows: int, *, namespace: str = "default", seed: int = 42,
                             chunk_rows: int = DEFAULT_CHUNK_ROWS,
                             partition_rows: int = DEFAULT_PARTITION_ROWS,
                             max_concurrent_activities: int = 8) -> Dict[str, Any]:
    """run_baseline, for callers already in an event loop."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    if chunk_rows < 1 or partition_rows < chunk_rows:
        raise ValueError(f"need 1 <= chunk_rows <= partition_rows, got {chunk_rows} and {partition_rows}")
    started = time.perf_counter()
    table = generate_orders(rows, seed=seed)
    generate_s = time.perf_counter() - started
    _SOURCES.clear()
    _SOURCES[(rows, seed)] = table

    # Chunks of ~1 MB are above the SDK's 512 KB payload *warning* (the limit
    # is 2 MB): keep its per-payload warnings out of the output.
    runtime = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(
        filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))))
    client = await Client.connect(address, namespace=namespace, runtime=runtime)
    task_queue = f"json-baseline-{uuid.uuid4()}"
    with concurrent.futures.ThreadPoolExecutor(max_workers=max_concurrent_activities) as executor:
        async with Worker(client, task_queue=task_queue,
                          workflows=[JsonPipelineWorkflow, JsonPartitionWorkflow],
                          activities=[extract, filter_rows, derive, aggregate],
                          activity_executor=executor,
                          max_concurrent_activities=max_concurrent_activities,
                          workflow_runner=UnsandboxedWorkflowRunner()):
            started = time.perf_counter()
            result = await client.execute_workflow(
                JsonPipelineWorkflow.run,
                {"rows": rows, "seed": seed, "chunk_rows": chunk_rows, "partition_rows": partition_rows},
                id=f"json-baseline-{uuid.uuid4()}", task_queue=task_queue,
                result_type=list)
            seconds = time.perf_counter() - started
    _SOURCES.clear()
    reference = reference_aggregate(table)
    if not same_aggregate(result, reference):
        raise AssertionError(f"JSON pipeline result {result} differs from Arrow's {reference}")
    return {
        "rows": rows,
        "json_rows_per_s": rows / seconds,
        "seconds": seconds,
        "rows_out": sum(count for _, _, count in result),
        "chunks": sum(math.ceil(min(partition_rows, rows - start) / chunk_rows)
                      for start in range(0, rows, partition_rows)),
        "chunk_rows": chunk_rows,
        "partition_rows": partition_rows,
        "generate_s": generate_s,
        "aggregate": [{"category": c, "sum_amount_eur": s, "count": n} for c, s, n in result],
    }


def run_baseline(address: str, rows: int, **options) -> Dict[str, Any]:
    """Runs the JSON pipeline over `rows` generated rows against the Temporal
    frontend at `address` (HOST:PORT) with an in-process worker on a fresh
    task queue. Returns rows, json_rows_per_s, seconds (workflow start to
    result, generation excluded), the aggregate, and details. Raises
    AssertionError if the result differs from Arrow's on the same data."""
    return asyncio.run(run_baseline_async(address, rows, **options))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def dev_server(timeout_s: float = 90.0):
    """A `temporal server start-dev` (in-memory) on a free port; yields HOST:PORT."""
    binary = os.environ.get("FLIGHTDECK_TEMPORAL_BIN") or str(ROOT / ".venv" / "bin" / "temporal")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    proc = subprocess.Popen([binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
                             "--port", str(port), "--log-level", "error",
                             # Eager activities for the C++ worker (flightdeck's
                             # pipeline bench shares this server).
                             "--dynamic-config-value", "system.enableActivityEagerExecution=true",
                             # The transfer queue reader hands new workflow tasks
                             # to matching at 20 reads/s by default: past its
                             # first burst every workflow task of a short run
                             # waits ~35 ms (as `flightdeck dev-server` and
                             # `demo` do: cli LowLatencyDevServerArgs).
                             "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        asyncio.run(_wait_until_serving(address, proc, timeout_s))
        yield address
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _wait_until_serving(address: str, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last_error: Optional[BaseException] = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"temporal dev server exited with {proc.returncode}: "
                               f"{proc.stderr.read().decode(errors='replace')[-2000:]}")
        try:
            client = await Client.connect(address, namespace="default")
            await client.count_workflows()  # needs the default namespace to exist
            return
        except Exception as exc:  # not up yet: connection refused, namespace missing
            last_error = exc
            await asyncio.sleep(0.2)
    raise TimeoutError(f"temporal dev server at {address} not serving after {timeout_s}s: {last_error}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows to generate (default 200000)")
    parser.add_argument("--address", help="Temporal frontend HOST:PORT; default: start a dev server")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS)
    parser.add_argument("--partition-rows", type=int, default=DEFAULT_PARTITION_ROWS)
    args = parser.parse_args(argv)
    options = dict(namespace=args.namespace, seed=args.seed, chunk_rows=args.chunk_rows,
                   partition_rows=args.partition_rows)
    with (contextlib.nullcontext(args.address) if args.address else dev_server()) as address:
        print(f"JSON baseline: {args.rows} rows through Temporal at {address} "
              f"(chunks of {args.chunk_rows} rows, partitions of {args.partition_rows})", flush=True)
        result = run_baseline(address, args.rows, **options)
    print(f"generated {result['rows']} rows in {result['generate_s']:.2f} s (not timed)")
    print(f"pipeline: {result['seconds']:.2f} s, {result['json_rows_per_s']:,.0f} rows/s, "
          f"{result['rows_out']} rows aggregated (checked against Arrow compute)")
    print("aggregate: category, sum(amount_eur), count")
    for group in result["aggregate"]:
        print(f"  {group['category']!s:<8} {group['sum_amount_eur']:>16.4f} {group['count']:>9}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
