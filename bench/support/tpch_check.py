"""The TPC-H answer check shared by `scripts/bench tpch` and
tests/interop/test_tpch.py, and the pieces both use to run a query: the
DuckDB reference over the same Parquet files, and `flightdeck frame-query`
over a plan of bench/tpch/ (or its SQL).

An answer equals the reference when it has the same number of columns (by
position: names may differ), the same number of rows, and equal values:
numbers (integers, decimals, doubles: a plan may give a double where the
SQL gives a decimal) to 1e-6 relative, everything else (strings, dates)
exactly. Row order: rows must come in the ORDER BY order of the query. Where
the ORDER BY keys tie, any order of the tied rows is right, so when the rows
differ position by position the check accepts the answer if it is sorted by
the ORDER BY keys and, both sides sorted by all columns, the rows are equal.
"""

import decimal
import json
import math
import os
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
QUERIES_DIR = ROOT / "bench" / "tpch"
QUERIES = [f"q{n:02d}" for n in range(1, 23)]
REL_TOLERANCE = 1e-6


def plan_path(query: str) -> pathlib.Path:
    return QUERIES_DIR / f"{query}.json"


def sql_path(query: str) -> pathlib.Path:
    return QUERIES_DIR / f"{query}.sql"


def sql_text(query: str) -> str:
    return sql_path(query).read_text()


# --- running ---------------------------------------------------------------------

def reference_connection(paths: dict, duckdb_module=None):
    """A DuckDB connection with one view per table over its Parquet file."""
    if duckdb_module is None:
        import duckdb as duckdb_module
    con = duckdb_module.connect()
    for table, path in paths.items():
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}')")
    return con


def reference_answer(con, query: str):
    """DuckDB's answer to the query's SQL, as a pyarrow Table."""
    return con.sql(sql_text(query)).to_arrow_table()


def frame_query_args(binary: str, paths: dict, query: str, use_sql: bool = False, output=None,
                     repeat: int = 1, extra=()) -> list:
    """The `flightdeck frame-query` command line for one query: every table
    as --input NAME=PATH, the plan (or with use_sql the SQL) by @FILE."""
    args = [binary, "frame-query"]
    for table, path in paths.items():
        args += ["--input", f"{table}={path}"]
    args += ["--sql", f"@{sql_path(query)}"] if use_sql else ["--plan", f"@{plan_path(query)}"]
    if output is not None:
        args += ["--output", str(output)]
    if repeat > 1:
        args += ["--repeat", str(repeat)]
    return args + list(extra)


def run_frame_query(args: list, timeout: float = 1800):
    """Runs a frame-query command line; returns (its JSON report, its peak
    RSS in bytes, its CPU seconds) or raises RuntimeError with its stderr."""
    code, stdout, stderr, rss, cpu = run_measured(args, timeout)
    if code != 0:
        raise RuntimeError(stderr.strip() or f"frame-query exited {code}")
    return json.loads(stdout.strip().splitlines()[-1]), rss, cpu


# Runs argv[2:] as its child and writes the child's peak RSS (KiB) and CPU
# seconds (user + system), from wait4, to the file argv[1]; exits with the
# child's exit code. The measured program must be forked from a small
# process: Linux carries the RSS high-water mark of the forking process's
# memory over exec into the child's ru_maxrss, so a child forked straight
# from a large Python process (the bench's, with DuckDB and its data in it)
# would report at least that process's size.
_LAUNCHER = r"""
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
with open(sys.argv[1] + ".pid", "w") as f:
    f.write(str(pid))
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(args: list, timeout: float = 1800, env=None):
    """Runs a command; returns (exit code, stdout, stderr, peak RSS in
    bytes of that process alone, its CPU seconds)."""
    with tempfile.TemporaryDirectory(prefix="tpch-run-") as tmp:
        rss_file = pathlib.Path(tmp) / "maxrss"
        launcher = [sys.executable, "-S", "-c", _LAUNCHER, str(rss_file)]
        try:
            proc = subprocess.run(launcher + [str(a) for a in args], capture_output=True, text=True, env=env,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            pid_file = pathlib.Path(f"{rss_file}.pid")
            if pid_file.exists():
                try:
                    os.kill(int(pid_file.read_text()), 9)
                except ProcessLookupError:
                    pass
            raise RuntimeError(f"{args[0]} timed out after {timeout} s")
        rss, cpu = rss_file.read_text().split() if rss_file.exists() else (0, 0)
        return proc.returncode, proc.stdout, proc.stderr, int(rss) * 1024, float(cpu)


# --- comparing -------------------------------------------------------------------

def order_by(sql: str, names: list) -> list:
    """[(column position, descending)] of the query's outermost ORDER BY,
    its items resolved against the answer's column names; [] without one."""
    matches = list(re.finditer(r"\border\s+by\b", sql, re.IGNORECASE))
    if not matches:
        return []
    tail = sql[matches[-1].end():]
    tail = re.split(r"\blimit\b|;", tail, flags=re.IGNORECASE)[0]
    keys = []
    lowered = [n.lower() for n in names]
    for item in tail.split(","):
        words = item.split()
        if not words:
            continue
        name = words[0].split(".")[-1].lower()
        if name not in lowered:
            raise ValueError(f"ORDER BY item {item.strip()!r} names no column of {names}")
        keys.append((lowered.index(name), any(w.upper() == "DESC" for w in words[1:])))
    return keys


def _value(v):
    if isinstance(v, decimal.Decimal):
        return float(v)
    return v


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if _is_number(a) and _is_number(b):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or abs(a - b) <= REL_TOLERANCE * max(abs(a), abs(b))
    return a == b


def rows_of(table) -> list:
    columns = [[_value(v) for v in column.to_pylist()] for column in table.columns]
    return [tuple(row) for row in zip(*columns)] if columns else []


def _sort_key(row):
    # Numbers rounded to 9 significant digits, so that two answers whose
    # values differ in the last bits sort alike; None first.
    key = []
    for v in row:
        if v is None:
            key.append((0, 0))
        elif _is_number(v):
            key.append((1, float(f"{float(v):.9g}")))
        else:
            key.append((2, v))
    return key


def _first_difference(ours, reference):
    for i, (a, b) in enumerate(zip(ours, reference)):
        for j, (x, y) in enumerate(zip(a, b)):
            if not close(x, y):
                return f"row {i} column {j}: {x!r} != {y!r} (ours {a}, duckdb {b})"
    return None


def _sorted_violation(rows, keys):
    """The first place where `rows` break the ORDER BY keys, or None."""
    for i in range(len(rows) - 1):
        for position, descending in keys:
            a, b = rows[i][position], rows[i + 1][position]
            if close(a, b):
                continue
            if a is None or b is None:  # NULLS LAST, either direction
                if a is None:
                    return f"row {i} has NULL before row {i + 1}'s {b!r} in column {position}"
                break
            if (a > b) if not descending else (a < b):
                return (f"rows {i} and {i + 1} are out of ORDER BY order in column {position}:"
                        f" {a!r} then {b!r}")
            break
    return None


def compare(ours, reference, sql: str) -> list:
    """Problems of `ours` (a pyarrow Table) against DuckDB's `reference`
    answer to `sql`; [] when they are equal."""
    if ours.num_columns != reference.num_columns:
        return [f"{ours.num_columns} columns {ours.column_names}, duckdb has {reference.num_columns}"
                f" {reference.column_names}"]
    if ours.num_rows != reference.num_rows:
        return [f"{ours.num_rows} rows, duckdb has {reference.num_rows}"]
    a, b = rows_of(ours), rows_of(reference)
    difference = _first_difference(a, b)
    if difference is None:
        return []
    # Rows may differ by position only where ORDER BY keys tie.
    keys = order_by(sql, reference.column_names)
    problems = []
    violation = _sorted_violation(a, keys)
    if violation:
        problems.append(violation)
    sorted_difference = _first_difference(sorted(a, key=_sort_key), sorted(b, key=_sort_key))
    if sorted_difference:
        problems.append(f"in the same order: {difference}; sorted by all columns: {sorted_difference}")
    return problems


def read_answer(path):
    import pyarrow.parquet as pq
    return pq.read_table(str(path))
