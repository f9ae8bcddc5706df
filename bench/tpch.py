"""`scripts/bench tpch [--sf 1]`: the 22 TPC-H queries through flightdeck's
DataFrame API and through DuckDB in the same run, over the same Parquet
files. Prints a line per query and a table; the last line is one JSON object.

Data: DuckDB's dbgen (the tpch extension, run by a pinned older DuckDB
installed on first use into the user cache, see bench/support/tpch_data.py)
writes the 8 tables as Parquet under build/bench-data/tpch-sf<SF>/ once;
later runs reuse them (nothing of it is ever committed).

Queries: bench/tpch/qNN.json is each query as a DataFrame plan (steps,
sub-plans, semi/anti joins, scalar sub-plans), which is what is measured;
bench/tpch/qNN.sql is the same query in SQL, as DuckDB's tpch extension
gives it (tpch_queries(), default substitution parameters).

Method, per query:
  - flightdeck (the DataFrame plan): one `flightdeck frame-query --plan
    @qNN.json --repeat RUNS` process with every table as an --input, which
    runs the whole query (inputs opened, plan built and bound, executed,
    result written to Parquet) RUNS times and reports its fastest run, as
    bench/frame.py does: the first run in a fresh process pays one-time
    costs that the warm DuckDB paid before its timed runs.
  - flightdeck --sql: the same with `--sql @qNN.sql`, shown beside it (not
    in the ratios): what the same engine makes of the SQL.
  - DuckDB (the venv's, a newer release than the one inside flightdeck):
    the SQL over views on the same Parquet files, in this warm Python
    process, fastest of RUNS.
  - Peak RSS: of the frame-query process above, and of a Python child that
    runs the same SQL RUNS times with DuckDB alone. Both come from wait4 in
    a small launcher process (bench/support/tpch_check.py explains why).
  - CPU seconds (user + system), steadier than wall time on a machine
    shared with other work: DuckDB's of its fastest run; flightdeck's the
    whole process's (start-up and the first run too) divided by RUNS.
  - The answer of the plan is checked against DuckDB's
    (bench/support/tpch_check.py: columns by position, rows in ORDER BY
    order, numbers to 1e-6 relative); so is the --sql answer.
Figures: ratio = DuckDB seconds / flightdeck seconds (above 1: flightdeck
is faster), geomean_ratio and min_ratio over the queries; rss_ratio =
flightdeck peak RSS / DuckDB's, max_rss_ratio the worst query.
Targets: 22 of 22 correct, geomean_ratio >= 0.9, min_ratio >= 0.6,
max_rss_ratio <= 1.3.

Options:
  --sf SF          scale factor (default 1)
  --runs N         timed runs per engine and query (default 3)
  --queries LIST   e.g. 1,6,21 (default: all 22)
  --threads N      engine threads for both (default: all cores)
"""

import argparse
import json
import math
import os
import pathlib
import resource
import sys
import tempfile
import time

import duckdb

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench" / "support"))
import tpch_check  # noqa: E402
import tpch_data  # noqa: E402

BUILD = pathlib.Path(os.environ.get("FLIGHTDECK_BUILD_DIR", ROOT / "build"))
BINARY = os.environ.get("FLIGHTDECK_BINARY", "")
if not os.access(BINARY, os.X_OK):
    BINARY = str(BUILD / "src" / "flightdeck" / "flightdeck")

# The child that measures DuckDB's peak RSS: argv = runs, threads, SQL file,
# then TABLE=PATH pairs.
DUCKDB_RSS_CHILD = r"""
import sys
import duckdb
runs, threads, sql = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3]).read()
con = duckdb.connect()
if threads:
    con.execute(f"SET threads = {threads}")
for spec in sys.argv[4:]:
    table, path = spec.split("=", 1)
    con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}')")
for _ in range(runs):
    con.sql(sql).to_arrow_table()
"""

def mib(n):
    return n / (1 << 20)


def geomean(values):
    values = [v for v in values if v and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def duckdb_seconds(con, sql, runs):
    """Fastest of `runs` executions of `sql` in this process: (seconds, CPU
    seconds of that run, the answer)."""
    best, answer = None, None
    for _ in range(runs):
        cpu = cpu_seconds()
        start = time.perf_counter()
        answer = con.sql(sql).to_arrow_table()
        run = (time.perf_counter() - start, cpu_seconds() - cpu)
        best = run if best is None else min(best, run)
    return best[0], best[1], answer


def duckdb_peak_rss(paths, query, runs, threads):
    code, _, stderr, rss, _ = tpch_check.run_measured(
        [sys.executable, "-c", DUCKDB_RSS_CHILD, str(runs), str(threads), str(tpch_check.sql_path(query)),
         *[f"{t}={p}" for t, p in paths.items()]])
    if code != 0:
        raise RuntimeError(f"duckdb child failed: {stderr.strip()}")
    return rss


def frame_query(paths, query, runs, threads, out, use_sql=False):
    """One frame-query process running the plan (or the SQL) `runs` times:
    (its JSON report, whose "seconds" is the fastest run's; the process's CPU
    seconds per run; its peak RSS in bytes)."""
    extra = ["--threads", str(threads)] if threads else []
    args = tpch_check.frame_query_args(BINARY, paths, query, use_sql=use_sql, output=out, repeat=runs,
                                       extra=extra)
    report, rss, cpu = tpch_check.run_frame_query(args)
    return report, cpu / runs, rss


def sql_column(paths, query, runs, threads, out, reference, sql):
    """flightdeck --sql: (seconds, correct, note)."""
    try:
        report, _, _ = frame_query(paths, query, runs, threads, out, use_sql=True)
    except RuntimeError as error:
        return None, False, f"error: {str(error).splitlines()[0]}"
    problems = tpch_check.compare(tpch_check.read_answer(out), reference, sql)
    return report["seconds"], not problems, ""


def figure(value, digits=4):
    return None if value is None else round(value, digits)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queries", default="")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    queries = ([f"q{int(q):02d}" for q in args.queries.split(",") if q.strip()] if args.queries
               else tpch_check.QUERIES)

    paths = tpch_data.ensure_data(args.sf)
    size = sum(p.stat().st_size for p in paths.values())
    load_before = os.getloadavg()[0]
    print(f"TPC-H SF {tpch_data.sf_name(args.sf)}: {size / 1e6:.0f} MB Parquet in {tpch_data.data_dir(args.sf)},"
          f" {os.cpu_count()} cores, load average {load_before:.1f}; fastest of {args.runs} runs each",
          flush=True)

    con = tpch_check.reference_connection(paths)
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    results = {}
    rows = []
    engine_version = None
    with tempfile.TemporaryDirectory(prefix="flightdeck-tpch-") as tmp:
        tmp = pathlib.Path(tmp)
        for query in queries:
            sql = tpch_check.sql_text(query)
            out = tmp / f"{query}.parquet"
            # DuckDB first (warm, in process), so that its answer is at hand.
            duck_s, duck_cpu, reference = duckdb_seconds(con, sql, args.runs)
            duck_rss = duckdb_peak_rss(paths, query, args.runs, args.threads)
            try:
                report, ours_cpu, rss = frame_query(paths, query, args.runs, args.threads, out)
                engine_version = report.get("engine", engine_version)
                ours_s = report["seconds"]
                problems = tpch_check.compare(tpch_check.read_answer(out), reference, sql)
            except RuntimeError as e:
                ours_s, ours_cpu, rss, problems = None, None, None, [f"error: {str(e).splitlines()[0]}"]
            correct = not problems
            sql_s, sql_correct, sql_note = sql_column(paths, query, args.runs, args.threads,
                                                      tmp / f"{query}-sql.parquet", reference, sql)
            r = dict(query=query, ours=ours_s, ours_cpu=ours_cpu, sql=sql_s, duck=duck_s, duck_cpu=duck_cpu,
                     ratio=duck_s / ours_s if ours_s else None, rss=rss, duck_rss=duck_rss,
                     rss_ratio=rss / duck_rss if rss else None, correct=correct, sql_correct=sql_correct,
                     sql_note=sql_note, problems=problems)
            rows.append(r)
            results[f"{query}_s"] = figure(ours_s)
            results[f"sql_{query}_s"] = figure(sql_s)
            results[f"duckdb_{query}_s"] = figure(duck_s)
            results[f"{query}_ratio"] = figure(r["ratio"], 3)
            results[f"{query}_cpu_s"] = figure(ours_cpu, 3)
            results[f"duckdb_{query}_cpu_s"] = figure(duck_cpu, 3)
            results[f"{query}_peak_rss_mib"] = figure(rss and mib(rss), 1)
            results[f"duckdb_{query}_peak_rss_mib"] = figure(mib(duck_rss), 1)
            results[f"{query}_rss_ratio"] = figure(r["rss_ratio"], 3)
            results[f"{query}_correct"] = correct
            fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
            print(f"{query.upper()}: flightdeck {fmt(ours_s, '.3f')} s (--sql {fmt(sql_s, '.3f')} s"
                  f"{', ' + sql_note if sql_note else ''}), duckdb {duck_s:.3f} s, ratio {fmt(r['ratio'], '.2f')};"
                  f" CPU s per run {fmt(ours_cpu, '.3f')} vs {duck_cpu:.3f};"
                  f" peak RSS {fmt(rss and mib(rss), '.0f')} MiB vs {mib(duck_rss):.0f} MiB"
                  f" ({fmt(r['rss_ratio'], '.2f')}x); {'correct' if correct else 'WRONG: ' + '; '.join(problems)}",
                  flush=True)

    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    print()
    print(f"{'query':<6}{'ours s':>9}{'--sql s':>9}{'duckdb s':>10}{'ratio':>7}{'ours cpu':>10}{'duck cpu':>10}"
          f"{'ours MiB':>10}{'duck MiB':>10}{'rss x':>7}  answer")
    for r in rows:
        print(f"{r['query']:<6}{fmt(r['ours'], '9.3f')}{fmt(r['sql'], '9.3f')}{r['duck']:10.3f}"
              f"{fmt(r['ratio'], '7.2f')}{fmt(r['ours_cpu'], '10.3f')}{r['duck_cpu']:10.3f}"
              f"{fmt(r['rss'] and mib(r['rss']), '10.0f')}{mib(r['duck_rss']):10.0f}"
              f"{fmt(r['rss_ratio'], '7.2f')}  {'correct' if r['correct'] else 'WRONG'}"
              f"{'' if r['sql_correct'] else ' (--sql: ' + (r['sql_note'] or 'wrong') + ')'}"
              f"{' (--sql ' + r['sql_note'] + ')' if r['sql_correct'] and r['sql_note'] else ''}")
    ratios = [r["ratio"] for r in rows]
    complete = all(ratios)
    sql_ratios = [r["duck"] / r["sql"] for r in rows if r["sql"]]
    cpu_ratios = [r["duck_cpu"] / r["ours_cpu"] for r in rows if r["ours_cpu"]]
    summary = {
        "queries_correct": sum(r["correct"] for r in rows),
        "queries_total": len(rows),
        "geomean_ratio": figure(geomean(ratios), 3) if complete else None,
        "min_ratio": figure(min(ratios), 3) if complete else None,
        "max_rss_ratio": figure(max(r["rss_ratio"] for r in rows), 3) if complete else None,
        "engine_version": engine_version,
        "reference_version": duckdb.__version__,
        "sql_queries_correct": sum(r["sql_correct"] for r in rows),
        "sql_geomean_ratio": figure(geomean(sql_ratios), 3),
        "geomean_cpu_ratio": figure(geomean(cpu_ratios), 3),
        "sf": args.sf,
        "runs": args.runs,
        # Other work on the machine skews wall times: the 1-minute load
        # average before and after the run.
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    worst = min(rows, key=lambda r: r["ratio"] or 0)
    print(f"\n{summary['queries_correct']}/{summary['queries_total']} correct; geomean ratio"
          f" {summary['geomean_ratio']} (DuckDB seconds / ours, above 1: flightdeck faster), min"
          f" {summary['min_ratio']} ({worst['query']}); worst peak RSS ratio {summary['max_rss_ratio']};"
          f" --sql geomean ratio {summary['sql_geomean_ratio']}; CPU geomean ratio {summary['geomean_cpu_ratio']}"
          f" (ours: whole process / runs); flightdeck on {engine_version}, reference duckdb {duckdb.__version__};"
          f" load average {summary['load_average'][0]} before, {summary['load_average'][1]} after")
    summary.update(results)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
