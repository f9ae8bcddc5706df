"""`scripts/bench pipeline-tpch [--sf 10]`: TPC-H Q3 and Q18 as durable
flightdeck pipelines, against DuckDB running the same SQL in one process and
against the claim-check way Temporal users build such pipelines today.

Data: TPC-H dbgen Parquet (bench/support/tpch_data.py) with lineitem split
into --files files by l_orderkey range (bench/support/tpch_split.py), under
build/bench-data/tpch-sf<SF>-lineitem-<N>/, generated once and reused. All
three read the same files: the lineitem split (a glob), orders.parquet and
customer.parquet.

The three, per query (bench/pipeline_tpch/):
  flightdeck   q3.yaml / q18.yaml (durable: true), through an in-memory
               `temporal server start-dev`, one `flightdeck node --data-dir`
               and one `flightdeck worker`, all separate processes. Q3:
               stage 1 filters and derives lineitem, stage 2 joins orders
               and customer (both per partition, one activity per partition
               reading its lineitem files in place), stage 3 aggregates
               (partially per partition, then one combine activity), sorts
               and limits. Q18: the aggregate by l_orderkey is partial per
               partition; the combine sums the partials, keeps sum > 300,
               joins orders and customer, sorts, limits. Then a load and a
               commit of the exactly-once Parquet sink. Timed from the
               workflow's start (a Temporal client's StartWorkflowExecution,
               as bench/pipeline.py) to its result, i.e. the sink committed.
               `--via cli` times `flightdeck run SPEC --wait` instead, which
               adds ~0.15 s (process start, and it notices the end by
               polling every 200 ms). With --extra-partitions (default 2)
               the same specs also run with that many partitions on the same
               worker, reported beside the headline figures.
  duckdb       the standard SQL (bench/tpch/q03.sql, q18.sql) over views on the same
               files, the venv's DuckDB in this process, all cores, warm.
  claimcheck   bench/support/tpch_claimcheck.py: a Temporal Python SDK
               workflow on the same dev server, a worker process of its own;
               activities run DuckDB over the files and pass Parquet paths
               in a shared folder, one activity per stage and partition.
  engine only  (not in the ratios) the same query in flightdeck's engine in
               one `flightdeck frame-query` process: the pipeline's stages as
               one plan (qN.plan.json) and the standard SQL, to tell the
               engine's share of flightdeck's time from the pipeline's.
Settings for 2 cores (the defaults): 1 partition (the 8 lineitem files),
a worker with 2 activity slots whose engines have 2 threads each (cores,
not cores / slots: one partition's chain and the combine then use both
cores). One partition is the fastest shape on 2 cores: the engine already
spreads one partition's work over the cores, while every further partition
builds the join sides (orders, customer) again and, for Q18, turns the
aggregate into partials as large as the input plus a combine. The same
specs with 2 partitions (4 files each, parallelism 2) run beside it
(--extra-partitions) and are reported too. The claim-check worker runs 2
activities at once with 2 DuckDB threads each, one activity per file and
stage as such workflows are written.
Runs are interleaved (flightdeck, duckdb, claim-check, next query, next
round) so that load from elsewhere on the machine hits all three alike;
after one untimed warm-up round, each figure is the fastest of --runs.
The committed flightdeck sinks and the claim-check results of the last round
are checked against DuckDB's answer (same columns by position, rows in ORDER
BY order, numbers to 1e-6 relative).

Printed per query: seconds of each, duckdb_s / flightdeck_s (target >= 0.7)
and claimcheck_s / flightdeck_s (target >= 2), then where flightdeck's time
went (from the workflow history: the partition phase, its activities'
total, combine, load, commit, and what is left: workflow tasks and the
gaps between activities; CPU seconds of the worker and the node) and the CPU
seconds each side used. The last line is one JSON object: flightdeck_s,
duckdb_s, claimcheck_s (sums over the queries), rows (lineitem rows read,
summed over the queries), per-query keys (q3_flightdeck_s, ...), ratios,
breakdowns, the settings and sf.

Options:
  --sf SF                  scale factor (default 10; 1 for a quick run)
  --files N                lineitem files (default 8)
  --partitions P           pipeline partitions (default 1; files round robin)
  --extra-partitions LIST  also run flightdeck with these (default 2; '' none)
  --slots S                worker activity slots, and claim-check activities
                           at once (default 2)
  --parallelism N          partition chains in flight (default: slots)
  --engine-threads T       threads per slot engine (default: cores), the
                           claim-check's DuckDB threads per activity too
  --durable true|false     the specs' durable (false only to measure its cost)
  --runs N                 timed rounds (default 3)
  --queries LIST           q3,q18 (default both)
  --via client|cli         how flightdeck runs are started and awaited
  --no-engine              skip the engine-only runs
  --keep                   keep the work folder (node data, sinks)
"""

import argparse
import asyncio
import json
import os
import pathlib
import resource
import shutil
import string
import subprocess
import sys
import tempfile
import time
import uuid

import duckdb
import pyarrow.parquet as pq
from temporalio.client import Client

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "bench" / "support"))
from pipeline import BINARY, TASK_TIMEOUT, WORKFLOW, start, stop  # noqa: E402
from pipeline_json_baseline import dev_server  # noqa: E402
from sdk import cpu_ms, free_port, wait_line  # noqa: E402
import tpch_claimcheck  # noqa: E402
import tpch_data  # noqa: E402
import tpch_split  # noqa: E402

SPECS = ROOT / "bench" / "pipeline_tpch"
# The standard TPC-H text, shared with `scripts/bench tpch`.
QUERY_SQL = {"q3": ROOT / "bench" / "tpch" / "q03.sql", "q18": ROOT / "bench" / "tpch" / "q18.sql"}
QUERIES = ("q3", "q18")
REL_TOLERANCE = 1e-6
# ORDER BY of each query: (column position in the answer, descending).
ORDER_BY = {"q3": [(1, True), (2, False)], "q18": [(4, True), (3, False)]}


def cpu_s(pid):
    return cpu_ms(pid) / 1000.0


def self_cpu_s():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the answers ---------------------------------------------------------------------

def _value(v):
    import decimal
    return float(v) if isinstance(v, decimal.Decimal) else v


def _close(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        a, b = float(a), float(b)
        return a == b or abs(a - b) <= REL_TOLERANCE * max(abs(a), abs(b))
    return a == b


def _rows(table):
    columns = [[_value(v) for v in c.to_pylist()] for c in table.columns]
    return [tuple(r) for r in zip(*columns)] if columns else []


def compare(ours, reference, query):
    """[] when `ours` equals DuckDB's answer: the same columns by position,
    the same rows in ORDER BY order (rows whose ORDER BY keys tie may come in
    any order), numbers to 1e-6 relative; else the problems."""
    if ours.num_columns != reference.num_columns:
        return [f"{ours.num_columns} columns {ours.column_names}, duckdb {reference.column_names}"]
    if ours.num_rows != reference.num_rows:
        return [f"{ours.num_rows} rows, duckdb {reference.num_rows}"]
    a, b = _rows(ours), _rows(reference)
    unequal = [(i, x, y) for i, (x, y) in enumerate(zip(a, b))
               if not all(_close(p, q) for p, q in zip(x, y))]
    if not unequal:
        return []
    # Rows whose ORDER BY keys tie may come in any order: the keys must come
    # in the same sequence, and each run of equal keys hold the same rows.
    keys = ORDER_BY[query]

    def key(row):
        return tuple(row[i] for i, _ in keys)

    def sortable(row):
        return tuple(f"{float(v):.9g}" if isinstance(v, (int, float)) else str(v) for v in row)

    def runs(rows):
        out = []
        for row in rows:
            if out and all(_close(p, q) for p, q in zip(key(out[-1][0]), key(row))):
                out[-1].append(row)
            else:
                out.append([row])
        return [sorted(run, key=sortable) for run in out]

    ra, rb = runs(a), runs(b)
    if len(ra) == len(rb) and all(
            len(x) == len(y) and all(all(_close(p, q) for p, q in zip(r, t)) for r, t in zip(x, y))
            for x, y in zip(ra, rb)):
        return []
    i, x, y = unequal[0]
    return [f"row {i}: {x} != duckdb's {y}"]


# --- flightdeck ------------------------------------------------------------------------

def spec_text(query, values):
    text = string.Template((SPECS / f"{query}.yaml").read_text()).substitute(values)
    return text


def history_breakdown(history):
    """Where a flightdeck run's time went, from its workflow history (server
    event times, seconds): wall (start to completion), prepare, partitions
    (first partition activity scheduled to the last completed), partition
    activity seconds summed (and their count, mean, max), combine, load,
    commit (each scheduled to completed), and other: wall minus prepare,
    partitions, combine, load and commit, i.e. workflow task round trips
    between them."""
    events = list(history.events)
    at = lambda e: e.event_time.ToDatetime().timestamp()  # noqa: E731
    begin, end = at(events[0]), at(events[-1])
    scheduled, spans = {}, {}
    started = {}
    outputs = [0, 0]
    for e in events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            scheduled[e.event_id] = (e.activity_task_scheduled_event_attributes.activity_type.name, at(e))
        elif e.HasField("activity_task_started_event_attributes"):
            started[e.activity_task_started_event_attributes.scheduled_event_id] = at(e)
        elif e.HasField("activity_task_completed_event_attributes"):
            attributes = e.activity_task_completed_event_attributes
            sid = attributes.scheduled_event_id
            name, since = scheduled[sid]
            spans.setdefault(name.split(".")[-1], []).append((since, started.get(sid, since), at(e)))
            if name.endswith(".partition") and attributes.result.payloads:
                # [ticket, rows, bytes, checksum] of the partition's output
                ref = json.loads(attributes.result.payloads[0].data)
                outputs[0] += ref[1]
                outputs[1] += ref[2]
    out = {"wall": end - begin, "partition_output_rows": outputs[0], "partition_output_bytes": outputs[1]}
    phase_total = 0.0
    for name, items in spans.items():
        first, last = min(s for s, _, _ in items), max(c for _, _, c in items)
        run = [c - st for _, st, c in items]
        out[name] = last - first
        out[f"{name}_count"] = len(items)
        out[f"{name}_activity_sum"] = sum(run)
        out[f"{name}_activity_max"] = max(run)
        phase_total += last - first
    out["other"] = out["wall"] - phase_total
    return out


async def flightdeck_run(client, query, values, via):
    run = f"tpch-{query}-{uuid.uuid4().hex[:10]}"
    spec = spec_text(query, values)
    started = time.perf_counter()
    if via == "client":
        result = await client.execute_workflow(WORKFLOW, args=[spec, f"{query}.yaml", run], id=run,
                                               task_queue=values["QUEUE"], task_timeout=TASK_TIMEOUT)
        rows = result["rows"]
    else:
        path = pathlib.Path(values["SINK"]).parent / f"{run}.yaml"
        path.write_text(spec)
        proc = await asyncio.create_subprocess_exec(
            BINARY, "run", str(path), "--target", values["TARGET"], "--id", run, "--wait",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"flightdeck run {query} failed ({proc.returncode}): {err.decode()}{out.decode()}")
        rows = None
    seconds = time.perf_counter() - started
    history = await client.get_workflow_handle(run).fetch_history()
    return seconds, run, rows, history_breakdown(history)


# --- the claim-check baseline ---------------------------------------------------------------

def claimcheck_breakdown(history):
    """stage1/stage2/stage3 spans and activity sums of a claim-check run."""
    events = list(history.events)
    at = lambda e: e.event_time.ToDatetime().timestamp()  # noqa: E731
    scheduled, started, stages = {}, {}, {}
    for e in events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            scheduled[e.event_id] = (e.activity_task_scheduled_event_attributes.activity_type.name, at(e))
        elif e.HasField("activity_task_started_event_attributes"):
            started[e.activity_task_started_event_attributes.scheduled_event_id] = at(e)
        elif e.HasField("activity_task_completed_event_attributes"):
            sid = e.activity_task_completed_event_attributes.scheduled_event_id
            name, since = scheduled[sid]
            stages.setdefault(name, []).append(at(e) - started.get(sid, since))
    out = {"wall": at(events[-1]) - at(events[0])}
    for name, runs in stages.items():
        short = name.split(".")[-1]
        out[f"{short}_count"] = len(runs)
        out[f"{short}_activity_sum"] = sum(runs)
    return out


async def claimcheck_run(client, queue, request):
    run = f"claimcheck-{request['query']}-{uuid.uuid4().hex[:10]}"
    started = time.perf_counter()
    result = await client.execute_workflow(tpch_claimcheck.WORKFLOW, request, id=run, task_queue=queue,
                                           result_type=str)
    seconds = time.perf_counter() - started
    history = await client.get_workflow_handle(run).fetch_history()
    return seconds, run, result, claimcheck_breakdown(history)


# --- engine only ------------------------------------------------------------------------------

def engine_only(args, paths, files, work, answers, figures):
    """The same query in flightdeck's engine alone, one `flightdeck
    frame-query` process, all cores, fastest of --runs (after one more run
    that warms it), checked against DuckDB's answer:
      plan  the pipeline's stages as one DataFrame plan (qN.plan.json) over
            the union of the lineitem files, read one by one as the
            pipeline's partitions read them: what the pipeline would cost
            without partitions, activities, checkpoints and Flight;
      sql   the standard SQL over the lineitem folder: what the same engine
            makes of the flat SQL."""
    tables = ["--input", f"orders={paths['orders']}", "--input", f"customer={paths['customer']}"]
    per_file = [arg for i, f in enumerate(files) for arg in ("--input", f"l{i}={f}")]
    for query in args.queries:
        plan = json.loads((SPECS / f"{query}.plan.json").read_text())
        plan["from"] = "l0"
        plan["steps"] = [{"op": "union", "other": f"l{i}"} for i in range(1, len(files))] + plan["steps"]
        plan_file = work / f"engine-{query}.plan.json"
        plan_file.write_text(json.dumps(plan))
        for kind, source_args in (
                ("plan", per_file + tables + ["--plan", f"@{plan_file}"]),
                ("sql", ["--input", f"lineitem={pathlib.Path(files[0]).parent}@parquet"] + tables
                 + ["--sql", f"@{QUERY_SQL[query]}"])):
            out = work / f"engine-{query}-{kind}.parquet"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = subprocess.run([BINARY, "frame-query", *source_args, "--output", str(out),
                                   "--repeat", str(args.runs + 1)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"frame-query {query} {kind} failed: {proc.stderr}")
            report = json.loads(proc.stdout.strip().splitlines()[-1])
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            # CPU seconds per run (the process's start-up included, shared out).
            figures[f"{query}_engine_{kind}_cpu_s"] = round(
                (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / (args.runs + 1), 3)
            problems = compare(pq.read_table(str(out)), answers[query], query)
            if problems:
                raise AssertionError(f"frame-query {query} {kind} differs from DuckDB: {problems}")
            figures[f"{query}_engine_{kind}_s"] = round(report["seconds"], 4)


# --- main ------------------------------------------------------------------------------------

def fmt_breakdown(b):
    parts = [f"wall {b['wall']:.2f}"]
    for name in ("prepare", "partition", "combine", "load", "commit"):
        if name in b:
            extra = ""
            if name == "partition":
                extra = (f" [{b['partition_count']} activities, sum {b['partition_activity_sum']:.2f},"
                         f" max {b['partition_activity_max']:.2f}; output {b['partition_output_rows']:,} rows,"
                         f" {b['partition_output_bytes'] / 1e6:.1f} MB]")
            parts.append(f"{name} {b[name]:.2f}{extra}")
    parts.append(f"other (workflow tasks, gaps) {b['other']:.2f}")
    parts.append(f"CPU s: worker {b['worker_cpu']:.2f}, node {b['node_cpu']:.2f}")
    return ", ".join(parts)


async def main_async(args, address, node, node_pid, paths, files, work, figures):
    client = await Client.connect(address, namespace="default")
    cores = os.cpu_count() or 1
    threads = args.engine_threads
    queue = f"tpch-{uuid.uuid4().hex[:8]}"
    worker_args = ["worker", "--target", address, "--task-queue", queue,
                   "--activity-slots", str(args.slots), "--spill-dir", str(work / "spill")]
    worker_args += ["--engine-threads", str(threads)]
    worker = start(worker_args, "flightdeck worker polling")
    cc_queue = f"claimcheck-{uuid.uuid4().hex[:8]}"
    cc_worker = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "support" / "tpch_claimcheck.py"), "--worker",
         "--address", address, "--task-queue", cc_queue, "--slots", str(args.slots),
         "--threads", str(threads)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    con = duckdb.connect()
    try:
        wait_line(cc_worker, "claim-check worker polling", 60)
        con.execute("SET enable_progress_bar = false")
        glob = str(pathlib.Path(files[0]).parent / "lineitem-*.parquet")
        con.execute(f"CREATE VIEW lineitem AS SELECT * FROM read_parquet('{glob}')")
        for table in ("orders", "customer"):
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{paths[table]}')")
        lineitem_rows = con.execute("SELECT count(*) FROM lineitem").fetchall()[0][0]
        figures["lineitem_rows"] = lineitem_rows
        print(f"lineitem {lineitem_rows:,} rows in {len(files)} files; flightdeck: {args.partitions} partitions, "
              f"parallelism {args.parallelism}, {args.slots} activity slots x {threads} engine threads; "
              f"claim-check: {args.slots} activities at once x {threads} DuckDB threads; duckdb: {cores} threads",
              flush=True)
        times = {q: {"flightdeck": [], "duckdb": [], "claimcheck": []} for q in args.queries}
        cpu = {q: {"flightdeck": [], "duckdb": [], "claimcheck": []} for q in args.queries}
        breakdowns = {q: [] for q in args.queries}
        cc_breakdowns = {q: [] for q in args.queries}
        answers, last_runs = {}, {}
        for round_ in range(args.runs + 1):
            timed = round_ > 0
            for query in args.queries:
                values = {"LINEITEM": glob, "ORDERS": paths["orders"], "CUSTOMER": paths["customer"],
                          "SINK": str(work / f"sink-{query}"), "PARTITIONS": args.partitions,
                          "PARALLELISM": args.parallelism, "NODE": node, "QUEUE": queue,
                          "DURABLE": "true" if args.durable else "false",
                          "TARGET": address}
                # flightdeck
                before = (cpu_s(worker.pid), cpu_s(node_pid))
                fd_seconds, run, _, breakdown = await flightdeck_run(client, query, values, args.via)
                used = (cpu_s(worker.pid) - before[0], cpu_s(node_pid) - before[1])
                breakdown["worker_cpu"], breakdown["node_cpu"] = used
                if timed:
                    times[query]["flightdeck"].append(fd_seconds)
                    cpu[query]["flightdeck"].append(sum(used))
                    breakdowns[query].append((fd_seconds, breakdown))
                last_runs[query] = run
                # flightdeck with other partition counts (--extra-partitions)
                for extra in args.extra_partitions:
                    extra_values = dict(values, PARTITIONS=extra, SINK=str(work / f"sink-{query}-p{extra}"))
                    before = (cpu_s(worker.pid), cpu_s(node_pid))
                    extra_seconds, _, _, extra_breakdown = await flightdeck_run(
                        client, query, extra_values, args.via)
                    extra_breakdown["worker_cpu"] = cpu_s(worker.pid) - before[0]
                    extra_breakdown["node_cpu"] = cpu_s(node_pid) - before[1]
                    if timed:
                        times[query].setdefault(f"flightdeck_p{extra}", []).append(extra_seconds)
                        breakdowns.setdefault(f"{query}_p{extra}", []).append((extra_seconds, extra_breakdown))
                # duckdb
                sql = QUERY_SQL[query].read_text()
                before, clock = self_cpu_s(), time.perf_counter()
                answers[query] = con.sql(sql).to_arrow_table()
                duck_seconds, used = time.perf_counter() - clock, self_cpu_s() - before
                if timed:
                    times[query]["duckdb"].append(duck_seconds)
                    cpu[query]["duckdb"].append(used)
                # claim-check
                request = tpch_claimcheck.request(query, files, paths["orders"], paths["customer"],
                                                  args.partitions, work / "claimcheck")
                before = cpu_s(cc_worker.pid)
                seconds, run, result_path, cc_breakdown = await claimcheck_run(client, cc_queue, request)
                used = cpu_s(cc_worker.pid) - before
                cc_answer = pq.read_table(result_path)
                shutil.rmtree(pathlib.Path(result_path).parent, ignore_errors=True)
                if timed:
                    times[query]["claimcheck"].append(seconds)
                    cpu[query]["claimcheck"].append(used)
                    cc_breakdowns[query].append((seconds, cc_breakdown))
                extra_text = "".join(f" (with {e} partitions {times[query][f'flightdeck_p{e}'][-1]:.3f} s)"
                                     for e in args.extra_partitions if timed)
                print(f"  {'round ' + str(round_) if timed else 'warm-up'} {query}: flightdeck "
                      f"{fd_seconds:.3f} s{extra_text}, duckdb {duck_seconds:.3f} s, claim-check {seconds:.3f} s",
                      flush=True)
                problems = compare(cc_answer, answers[query], query)
                if problems:
                    raise AssertionError(f"claim-check {query} differs from DuckDB: {problems}")
        # The committed sinks against DuckDB's answers.
        for query in args.queries:
            sink = work / f"sink-{query}"
            success = (sink / "_SUCCESS").read_text().strip()
            if success != last_runs[query]:
                raise AssertionError(f"{sink}/_SUCCESS names {success}, not the last run {last_runs[query]}")
            ours = pq.read_table(str(sink / "part-0.parquet"))
            problems = compare(ours, answers[query], query)
            if problems:
                raise AssertionError(f"flightdeck {query} differs from DuckDB: {problems}")
            print(f"{query}: flightdeck's committed sink ({ours.num_rows} rows) and the claim-check's result "
                  f"equal DuckDB's answer", flush=True)
            figures[f"{query}_result_rows"] = ours.num_rows
            for extra in args.extra_partitions:
                ours = pq.read_table(str(work / f"sink-{query}-p{extra}" / "part-0.parquet"))
                problems = compare(ours, answers[query], query)
                if problems:
                    raise AssertionError(f"flightdeck {query} with {extra} partitions differs from DuckDB: {problems}")
        return times, cpu, breakdowns, cc_breakdowns, threads, answers
    finally:
        con.close()
        stop(worker)
        stop(cc_worker)



def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sf", type=float, default=10)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--parallelism", type=int, default=None)
    parser.add_argument("--engine-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queries", default=",".join(QUERIES))
    parser.add_argument("--via", choices=("client", "cli"), default="client")
    parser.add_argument("--extra-partitions", default="2",
                        help="also run flightdeck with these partition counts (comma list; '' for none)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (node data, sinks)")
    parser.add_argument("--durable", choices=("true", "false"), default="true",
                        help="the specs' durable: (false only to measure what durability costs)")
    parser.add_argument("--no-engine", action="store_true",
                        help="skip the engine-only runs (flightdeck frame-query of the plan and of the SQL)")
    args = parser.parse_args()
    args.queries = [q.strip() for q in args.queries.split(",") if q.strip()]
    if any(q not in QUERIES for q in args.queries):
        parser.error(f"--queries: choose from {','.join(QUERIES)}")
    args.parallelism = args.parallelism or args.slots
    args.durable = args.durable == "true"
    args.extra_partitions = [int(p) for p in args.extra_partitions.split(",") if p.strip()
                             and int(p) != args.partitions]

    files = tpch_split.ensure_split(args.sf, args.files)
    paths = tpch_data.table_paths(args.sf)
    sf = tpch_data.sf_name(args.sf)
    print(f"TPC-H SF {sf}: {tpch_split.split_dir(args.sf, args.files)}, {paths['orders'].parent}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)

    work = pathlib.Path(tempfile.mkdtemp(prefix="fd-bench-pipeline-tpch-"))
    # The processes started from here put their temporary folders under the
    # work folder (every flightdeck process leaves an empty
    # $TMPDIR/flightdeck-spill-XXXXXX behind: the engine it binds plans with
    # is never closed), so that they go with it.
    (work / "tmp").mkdir()
    os.environ["TMPDIR"] = str(work / "tmp")
    figures = {"sf": args.sf}
    node = None
    try:
        with dev_server() as address:
            node_port = free_port()
            node = start(["node", "--port", str(node_port), "--data-dir", str(work / "node")],
                         "flightdeck node listening")
            location = f"grpc+tcp://127.0.0.1:{node_port}"
            times, cpu, breakdowns, cc_breakdowns, threads, answers = asyncio.run(
                main_async(args, address, location, node.pid, paths, files, work, figures))
            stop(node)
            node = None
        if not args.no_engine:
            engine_only(args, paths, files, work, answers, figures)
    finally:
        if node is not None:
            stop(node)
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    totals = {}
    for query in args.queries:
        best = {k: min(v) for k, v in times[query].items()}
        for k, v in best.items():
            figures[f"{query}_{k}_s"] = round(v, 4)
            figures[f"{query}_{k}_median_s"] = round(sorted(times[query][k])[len(times[query][k]) // 2], 4)
            totals[k] = totals.get(k, 0.0) + v
        # CPU seconds of the fastest run of each.
        for k in ("flightdeck", "duckdb", "claimcheck"):
            i = times[query][k].index(best[k])
            figures[f"{query}_{k}_cpu_s"] = round(cpu[query][k][i], 3)
        figures[f"{query}_duckdb_vs_flightdeck"] = round(best["duckdb"] / best["flightdeck"], 3)
        figures[f"{query}_claimcheck_vs_flightdeck"] = round(best["claimcheck"] / best["flightdeck"], 3)
        fastest = min(breakdowns[query], key=lambda x: x[0])[1]
        figures[f"{query}_flightdeck_breakdown_s"] = {k: round(v, 3) if isinstance(v, float) else v
                                                      for k, v in fastest.items()}
        for extra in args.extra_partitions:
            key = f"flightdeck_p{extra}"
            figures[f"{query}_duckdb_vs_{key}"] = round(best["duckdb"] / best[key], 3)
            figures[f"{query}_claimcheck_vs_{key}"] = round(best["claimcheck"] / best[key], 3)
            extra_fastest = min(breakdowns[f"{query}_p{extra}"], key=lambda x: x[0])[1]
            figures[f"{query}_{key}_breakdown_s"] = {k: round(v, 3) if isinstance(v, float) else v
                                                     for k, v in extra_fastest.items()}
        cc_fastest = min(cc_breakdowns[query], key=lambda x: x[0])[1]
        figures[f"{query}_claimcheck_breakdown_s"] = {k: round(v, 3) if isinstance(v, float) else v
                                                      for k, v in cc_fastest.items()}
        print(f"{query.upper()}: flightdeck {best['flightdeck']:.3f} s, duckdb {best['duckdb']:.3f} s, "
              f"claim-check {best['claimcheck']:.3f} s; duckdb/flightdeck "
              f"{figures[f'{query}_duckdb_vs_flightdeck']:.2f}x (target >= 0.7), claim-check/flightdeck "
              f"{figures[f'{query}_claimcheck_vs_flightdeck']:.2f}x (target >= 2); CPU s: flightdeck "
              f"(worker + node) {figures[f'{query}_flightdeck_cpu_s']:.2f}, duckdb "
              f"{figures[f'{query}_duckdb_cpu_s']:.2f}, claim-check worker {figures[f'{query}_claimcheck_cpu_s']:.2f}")
        print(f"  flightdeck, fastest run, seconds by the history: {fmt_breakdown(fastest)}")
        for extra in args.extra_partitions:
            key = f"flightdeck_p{extra}"
            print(f"  flightdeck with {extra} partition(s): {best[key]:.3f} s; duckdb/that "
                  f"{figures[f'{query}_duckdb_vs_{key}']:.2f}x, claim-check/that "
                  f"{figures[f'{query}_claimcheck_vs_{key}']:.2f}x; "
                  f"{fmt_breakdown(figures[f'{query}_{key}_breakdown_s'])}")
        if f"{query}_engine_plan_s" in figures:
            print(f"  flightdeck's engine alone (frame-query, one process, {os.cpu_count()} threads): the pipeline's "
                  f"stages as one plan {figures[f'{query}_engine_plan_s']:.3f} s, the standard SQL "
                  f"{figures[f'{query}_engine_sql_s']:.3f} s (CPU s per run {figures[f'{query}_engine_plan_cpu_s']:.2f} "
                  f"and {figures[f'{query}_engine_sql_cpu_s']:.2f})")
        print("  claim-check, fastest run, activity seconds summed: " + ", ".join(
            f"{k[:-len('_activity_sum')]} {v:.2f}" for k, v in cc_fastest.items() if k.endswith("_activity_sum")))
    figures["flightdeck_s"] = round(totals["flightdeck"], 4)
    figures["duckdb_s"] = round(totals["duckdb"], 4)
    figures["claimcheck_s"] = round(totals["claimcheck"], 4)
    figures["duckdb_vs_flightdeck"] = round(totals["duckdb"] / totals["flightdeck"], 3)
    figures["claimcheck_vs_flightdeck"] = round(totals["claimcheck"] / totals["flightdeck"], 3)
    for extra in args.extra_partitions:
        key = f"flightdeck_p{extra}"
        figures[f"{key}_s"] = round(totals[key], 4)
        figures[f"duckdb_vs_{key}"] = round(totals["duckdb"] / totals[key], 3)
        figures[f"claimcheck_vs_{key}"] = round(totals["claimcheck"] / totals[key], 3)
    figures["rows"] = figures["lineitem_rows"] * len(args.queries)
    figures["flightdeck_rows_per_s"] = round(figures["rows"] / totals["flightdeck"])
    figures["settings"] = {"files": args.files, "partitions": args.partitions,
                           "extra_partitions": args.extra_partitions, "parallelism": args.parallelism,
                           "activity_slots": args.slots, "engine_threads": threads, "runs": args.runs,
                           "via": args.via, "durable": args.durable, "cores": os.cpu_count(),
                           "duckdb": duckdb.__version__}
    figures["targets"] = {"duckdb_vs_flightdeck": 0.7, "claimcheck_vs_flightdeck": 2}
    figures["load_average"] = round(os.getloadavg()[0], 2)
    print(f"total ({'+'.join(args.queries)}): flightdeck {totals['flightdeck']:.3f} s, duckdb "
          f"{totals['duckdb']:.3f} s, claim-check {totals['claimcheck']:.3f} s; duckdb/flightdeck "
          f"{figures['duckdb_vs_flightdeck']:.2f}x, claim-check/flightdeck {figures['claimcheck_vs_flightdeck']:.2f}x")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
