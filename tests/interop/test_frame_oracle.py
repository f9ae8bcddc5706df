"""Oracle tests for the DataFrame layer: the same query through flightdeck
(`flightdeck frame-query`, which lowers a plan to one DuckDB statement) and
through a second engine over the same seeded random tables with nulls must
give equal results.

Polars is the oracle that shares no code with flightdeck's engine: every step
kind, every join kind and every aggregate function is computed again with
Polars' own API (not its SQL) and compared value for value, type for type
(as Polars sees the types), in order wherever the plan's result is ordered
(steps that keep their input's order over a file or a sort), as a multiset
otherwise. Floats agree to 1e-9 relative; nulls equal nulls. The tables are
read from Parquet (several row groups), Arrow IPC (several batches) and CSV.
Some older checks compare with DuckDB's own SQL over the same files."""

import json
import math
import random
import subprocess
from datetime import date, timedelta

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.csv
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from conftest import flightdeck_binary

ROWS = 3000


def _maybe(rng, value, null_share=0.1):
    return None if rng.random() < null_share else value


def _make_tables(seed):
    """t: the fact table; r: a small table whose k1 / k2 collide with t's
    (keys with nulls and duplicates); u: a table with other key names
    (uid, ucat) and one colliding column (x)."""
    rng = random.Random(seed)
    k2 = [_maybe(rng, rng.choice("abcdefg")) for _ in range(ROWS)]
    day0 = date(2024, 1, 1)
    t = pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "k1": pa.array([_maybe(rng, rng.randrange(40)) for _ in range(ROWS)], pa.int64()),
            "k2": pa.array(k2, pa.string()),
            "x": pa.array([_maybe(rng, round(rng.uniform(-100, 100), 3)) for _ in range(ROWS)], pa.float64()),
            "y": pa.array([_maybe(rng, rng.randrange(-50, 50)) for _ in range(ROWS)], pa.int64()),
            # All null in the groups k2 = 'g' (w) and k2 = 'f' (m).
            "w": pa.array([None if c == "g" else _maybe(rng, round(rng.uniform(0, 50), 2), 0.2) for c in k2],
                          pa.float64()),
            "m": pa.array([None if c == "f" else _maybe(rng, rng.randrange(1000), 0.2) for c in k2], pa.int64()),
            "s": pa.array([_maybe(rng, f"s{rng.randrange(300):03d}") for _ in range(ROWS)], pa.string()),
            "d": pa.array([_maybe(rng, day0 + timedelta(days=rng.randrange(365))) for _ in range(ROWS)],
                          pa.date32()),
        }
    )
    r = pa.table(
        {
            "k1": pa.array([_maybe(rng, rng.randrange(50)) for _ in range(120)], pa.int64()),
            "k2": pa.array([_maybe(rng, rng.choice("abcdxyz")) for _ in range(120)], pa.string()),
            "z": pa.array([_maybe(rng, rng.uniform(0, 1)) for _ in range(120)], pa.float64()),
        }
    )
    u = pa.table(
        {
            "uid": pa.array([_maybe(rng, rng.randrange(45)) for _ in range(80)], pa.int64()),
            "ucat": pa.array([_maybe(rng, rng.choice("abcdefh")) for _ in range(80)], pa.string()),
            "x": pa.array([_maybe(rng, rng.uniform(-100, 100)) for _ in range(80)], pa.float64()),
            "score": pa.array([_maybe(rng, rng.randrange(-5, 20)) for _ in range(80)], pa.int64()),
        }
    )
    return t, r, u


def _write_ipc(table, path, batch_rows):
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=batch_rows):
            writer.write_batch(batch)


@pytest.fixture(scope="module", params=[7, 2024, 31337])
def data(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(f"oracle{request.param}")
    t, r, u = _make_tables(request.param)
    # Several row groups / batches so that scans run in parallel; the same t
    # as Parquet, Arrow IPC and CSV.
    pq.write_table(t, d / "t.parquet", row_group_size=700)
    _write_ipc(t, d / "t.arrow", batch_rows=500)
    pa.csv.write_csv(t, d / "t.csv")
    pq.write_table(r, d / "r.parquet")
    _write_ipc(u, d / "u.arrow", batch_rows=30)
    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{d / 't.parquet'}')")
    con.execute(f"CREATE VIEW r AS SELECT * FROM read_parquet('{d / 'r.parquet'}')")
    return {"dir": d, "t": t, "r": r, "u": u, "duck": con,
            "pt": pl.from_arrow(t), "pr": pl.from_arrow(r), "pu": pl.from_arrow(u)}


@pytest.fixture(scope="module")
def small_input(tmp_path_factory):
    """The first 200 rows of one t, and its r, for tests that do not need
    every seed."""
    d = tmp_path_factory.mktemp("small")
    t, r, _ = _make_tables(7)
    table = t.slice(0, 200)
    pq.write_table(table, d / "t.parquet", row_group_size=50)
    pq.write_table(r, d / "r.parquet")
    return {"dir": d, "path": d / "t.parquet", "r_path": d / "r.parquet", "t": table}


def run_plan(data, plan, t_format="parquet", extra_inputs=(), threads=None, output_name="out.arrow"):
    """Runs `plan` with the inputs t (read from t.<t_format>), r and u."""
    out = data["dir"] / output_name
    inputs = [f"t={data['dir'] / ('t.' + t_format)}", f"r={data['dir'] / 'r.parquet'}",
              f"u={data['dir'] / 'u.arrow'}", *extra_inputs]
    args = [flightdeck_binary(), "frame-query", *[arg for spec in inputs for arg in ("--input", spec)],
            "--plan", json.dumps(plan), "--output", str(out)]
    if threads:
        args += ["--threads", str(threads)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    reported = json.loads(proc.stdout.strip().splitlines()[-1])
    with pa.memory_map(str(out)) as source:
        table = pa.ipc.open_file(source).read_all()
    assert reported["rows"] == table.num_rows
    return table


def run_flightdeck(data, steps, output_name="out.arrow", source="t", extra_inputs=()):
    return run_plan(data, {"from": source, "steps": steps}, extra_inputs=extra_inputs, output_name=output_name)


def _norm(value):
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return float(f"{value:.9g}")
    return value


def _rows(table):
    cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [tuple(c[i] for c in cols) for i in range(table.num_rows)]


def _sort_key(row):
    # Floats rounded for sorting only, so that rows whose floats differ in
    # the last bits sort alike.
    return tuple((v is None, str(type(v)), _norm(v) if v is not None else 0) for v in row)


def _close(x, y):
    if isinstance(x, float) and isinstance(y, float):
        if math.isnan(x) or math.isnan(y):
            return math.isnan(x) and math.isnan(y)
        return x == y or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    return x == y


def assert_same(ours, theirs, ordered=False):
    """`ours` equals the Arrow table `theirs` (DuckDB's answer)."""
    assert ours.column_names == theirs.column_names
    a, b = _rows(ours), _rows(theirs)
    if not ordered:
        a, b = sorted(a, key=_sort_key), sorted(b, key=_sort_key)
    assert len(a) == len(b)
    # Floats agree to 1e-9 relative (engines sum in different orders).
    for i, (x, y) in enumerate(zip(a, b)):
        assert len(x) == len(y) and all(_close(u, v) for u, v in zip(x, y)), (i, x, y)


def assert_matches_polars(ours, theirs, ordered=False):
    """`ours` (flightdeck's Arrow table) equals `theirs` (Polars' frame):
    the same columns with the same Polars types, the same rows (in the same
    order when `ordered`), floats to 1e-9 relative, nulls equal to nulls."""
    ours = pl.from_arrow(ours)
    assert ours.columns == theirs.columns
    assert ours.schema == theirs.schema
    assert ours.height == theirs.height, (ours.height, theirs.height)
    assert_frame_equal(ours, theirs, check_row_order=ordered, rel_tol=1e-9, abs_tol=1e-12)


def duck(data, sql):
    return data["duck"].sql(sql).to_arrow_table()


FILTERS = [
    "x > 10",
    "x > 10 and y < 0",
    "k2 in ('a', 'c', 'zz') or y is null",
    "not (k1 between 5 and 20)",
    "k2 is not null and x * 2 + y > 30",
    "case when y > 0 then x else -x end > 50",
    "cast(y as double) / 4 < -3.5",
    "k2 like 'b%' or k1 = 7",
]


@pytest.mark.parametrize("predicate", FILTERS)
def test_filter_matches_duckdb(data, predicate):
    ours = run_flightdeck(data, [{"op": "filter", "expr": predicate}])
    assert_same(ours, duck(data, f"SELECT * FROM t WHERE {predicate}"))


AGGREGATES = [
    ("sum", "x", "sum(x)"),
    ("sum", "y", "sum(y)"),
    ("mean", "x", "avg(x)"),
    ("min", "x", "min(x)"),
    ("max", "y", "max(y)"),
    ("min", "k2", "min(k2)"),
    ("count", "x", "count(x)"),
    ("count_all", "", "count(*)"),
    ("count_distinct", "y", "count(DISTINCT y)"),
    ("stddev", "x", "stddev_samp(x)"),
    ("variance", "y", "var_samp(y)"),
    ("mean", "y", "avg(y)"),
    ("max", "k2", "max(k2)"),
    ("count", "k2", "count(k2)"),
    ("count_distinct", "k2", "count(DISTINCT k2)"),
    ("stddev", "y", "stddev_samp(y)"),
    ("variance", "x", "var_samp(x)"),
]


@pytest.mark.parametrize("keys", [["k2"], ["k1", "k2"], []])
def test_every_aggregate_matches_duckdb(data, keys):
    aggs = [{"fn": fn, "column": column, "name": f"a{i}"} for i, (fn, column, _) in enumerate(AGGREGATES)]
    steps = [{"op": "group_by", "keys": keys, "aggs": aggs}] if keys else [{"op": "agg", "aggs": aggs}]
    ours = run_flightdeck(data, steps)
    select = ", ".join([*keys, *(f"{sql} AS a{i}" for i, (_, _, sql) in enumerate(AGGREGATES))])
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    theirs = duck(data, f"SELECT {select} FROM t{group}")
    # DuckDB widens sum(int64) to int128 and count to int64: compare as values.
    theirs = theirs.cast(ours.schema)
    assert_same(ours, theirs)


@pytest.mark.parametrize("keys", [["k2"], []])
def test_aggregates_of_empty_input_match_duckdb(data, keys):
    aggs = [{"fn": fn, "column": column, "name": f"a{i}"} for i, (fn, column, _) in enumerate(AGGREGATES)]
    agg_step = {"op": "group_by", "keys": keys, "aggs": aggs} if keys else {"op": "agg", "aggs": aggs}
    ours = run_flightdeck(data, [{"op": "filter", "expr": "x > 1000"}, agg_step])
    select = ", ".join([*keys, *(f"{sql} AS a{i}" for i, (_, _, sql) in enumerate(AGGREGATES))])
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    theirs = duck(data, f"SELECT {select} FROM t WHERE x > 1000{group}").cast(ours.schema)
    # Grouped: no rows; global: one row of nulls and zero counts.
    assert ours.num_rows == (0 if keys else 1)
    assert_same(ours, theirs)


@pytest.mark.parametrize(
    "keys",
    [
        [("y", True, True), ("x", False, False), ("id", False, False)],
        [("k2", False, True), ("x", True, False), ("id", True, False)],
    ],
)
def test_sort_with_nulls_matches_duckdb(data, keys):
    by = [{"column": c, "descending": d, "nulls_first": nf} for c, d, nf in keys]
    ours = run_flightdeck(data, [{"op": "sort", "by": by}])
    order = ", ".join(f"{c} {'DESC' if d else 'ASC'} NULLS {'FIRST' if nf else 'LAST'}" for c, d, nf in keys)
    assert_same(ours, duck(data, f"SELECT * FROM t ORDER BY {order}"), ordered=True)


def test_limit_over_a_directory_keeps_file_order_like_duckdb(data):
    # Three files whose names sort in row order; DuckDB keeps insertion
    # order, so LIMIT without ORDER BY is the first matching rows by file.
    parts = data["dir"] / "parts"
    if not parts.exists():
        parts.mkdir()
        for i in range(3):
            pq.write_table(data["t"].slice(i * 1000, 1000), parts / f"part-{i}.parquet", row_group_size=300)
    ours = run_flightdeck(data, [{"op": "filter", "expr": "y >= 0"}, {"op": "limit", "count": 60, "offset": 700}],
                          source="parts", extra_inputs=[f"parts={parts}@parquet"])
    theirs = duck(data, f"SELECT * FROM read_parquet('{parts}/*.parquet') WHERE y >= 0 LIMIT 60 OFFSET 700")
    assert_same(ours, theirs, ordered=True)


def test_the_aggregate_step_of_pipeline_specs_and_bare_sort_keys(data):
    # The same words as a pipeline spec's stages (README: stage vocabulary):
    # aggregate {by, aggs: {NAME: "fn(column)"}} and sort by column names.
    ours = run_flightdeck(data, [
        {"op": "filter", "expr": "x > 10"},
        {"op": "aggregate", "by": ["k1"], "aggs": {"total": "sum(x)", "n": "count(*)", "top": "max(y)"}},
        {"op": "sort", "by": ["k1"]}])
    assert ours.column_names == ["k1", "total", "n", "top"]
    theirs = duck(data, "SELECT k1, sum(x) AS total, count(*) AS n, max(y) AS top FROM t "
                        "WHERE x > 10 GROUP BY k1 ORDER BY k1")
    assert_same(ours, theirs, ordered=True)
    whole = run_flightdeck(data, [{"op": "aggregate", "aggs": {"n": "count()"}}])
    assert whole.column("n").to_pylist() == [data["t"].num_rows]


def test_limit_after_group_by_counts_rows(data):
    ours = run_flightdeck(data, [{"op": "group_by", "keys": ["k1"], "aggs": [{"fn": "count_all", "name": "n"}]},
                                 {"op": "limit", "count": 9}])
    assert ours.num_rows == 9


# Scan -> filter -> with_column -> aggregate plans (they once ran through a
# fused path of their own; now they are one DuckDB statement like any plan).
# Each case: filter, the derived column v, the keys.
AGGS_OF_V = [
    {"fn": "sum", "column": "x", "name": "sx"}, {"fn": "sum", "column": "y", "name": "sy"},
    {"fn": "mean", "column": "x", "name": "mx"}, {"fn": "mean", "column": "y", "name": "my"},
    {"fn": "count", "column": "x", "name": "cx"}, {"fn": "count", "column": "v", "name": "cv"},
    {"fn": "sum", "column": "v", "name": "sv"}, {"fn": "mean", "column": "v", "name": "mv"},
    {"fn": "count_all", "name": "n"},
]
AGGS_OF_V_SQL = ("sum(x) AS sx, sum(y) AS sy, avg(x) AS mx, avg(y) AS my, count(x) AS cx, count(v) AS cv, "
                 "sum(v) AS sv, avg(v) AS mv, count(*) AS n")
FILTERED_AGGREGATE_CASES = [
    # String key with nulls.
    ("y > 40", "x * (1 - y * 0.01)", ["k2"]),
    # A filter that drops most rows, so that many groups occur only in
    # dropped rows and must not appear.
    ("y > 40", "x * (1 - y * 0.01)", ["k1", "k2"]),
    # Integer key and string key together; a derived value null where
    # either input is.
    ("x > -50 or y is null", "x * 2 + y", ["k1", "k2"]),
    # An integer derived column.
    ("k1 is not null", "y * 3 - k1", ["k1"]),
    # No keys: one row, also when nothing passes.
    ("x between -10 and 10", "x * y", []),
    ("x > 1000", "x + 1", []),
    ("x > 1000", "x + 1", ["k2"]),
    # Division after a filter that removes the zero divisors (DuckDB's `/`
    # divides integers into a double).
    ("y != 0", "100 / y", ["k2"]),
]


@pytest.mark.parametrize("predicate,value,keys", FILTERED_AGGREGATE_CASES)
def test_filtered_aggregates_match_duckdb(data, predicate, value, keys):
    steps = [{"op": "filter", "expr": predicate}, {"op": "with_column", "name": "v", "expr": value}]
    steps.append({"op": "group_by", "keys": keys, "aggs": AGGS_OF_V} if keys else {"op": "agg", "aggs": AGGS_OF_V})
    ours = run_flightdeck(data, steps)
    select = ", ".join([*keys, AGGS_OF_V_SQL])
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    theirs = duck(data, f"SELECT {select} FROM (SELECT *, {value} AS v FROM t WHERE {predicate}){group}")
    assert_same(ours, theirs.cast(ours.schema))
    if len(keys) == 2 and predicate == "y > 40":
        pairs = set(zip(data["t"].column("k1").to_pylist(), data["t"].column("k2").to_pylist()))
        assert ours.num_rows < len(pairs)


@pytest.mark.parametrize("keys", [["k1"], []])
def test_count_of_any_type_matches_duckdb(data, keys):
    steps = [{"op": "with_column", "name": "s", "expr": "cast(y as string)"},
             {"op": "filter", "expr": "x > 0"},
             {"op": "group_by", "keys": keys, "aggs": [
                 {"fn": "count", "column": "k2", "name": "c2"}, {"fn": "count", "column": "s", "name": "cs"},
                 {"fn": "count_all", "name": "n"}]}]
    if not keys:
        steps[-1] = {"op": "agg", "aggs": steps[-1]["aggs"]}
    ours = run_flightdeck(data, steps)
    select = ", ".join([*keys, "count(k2) AS c2, count(y) AS cs, count(*) AS n"])
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    assert_same(ours, duck(data, f"SELECT {select} FROM t WHERE x > 0{group}").cast(ours.schema))


def test_aggregate_with_expression_key_matches_duckdb(data):
    steps = [{"op": "with_column", "name": "bucket", "expr": "k1 * 2 - 7"},
             {"op": "filter", "expr": "x < 0"},
             {"op": "group_by", "keys": ["bucket", "k2"], "aggs": AGGS_OF_V[:4] + AGGS_OF_V[-1:]}]
    ours = run_flightdeck(data, steps)
    theirs = duck(data, "SELECT k1 * 2 - 7 AS bucket, k2, sum(x) AS sx, sum(y) AS sy, avg(x) AS mx, "
                        "avg(y) AS my, count(*) AS n FROM t WHERE x < 0 GROUP BY bucket, k2")
    assert_same(ours, theirs.cast(ours.schema))


# --- Polars as the oracle --------------------------------------------------------
#
# Each case below runs a plan through flightdeck and computes the same thing
# with Polars' expression API over the same table; see the module docstring
# for how they are compared. Polars' own conventions differ from the
# DataFrame contract in a few places, and the oracle states the contract
# explicitly there: Polars sums an all-null group to 0 (the contract: null),
# counts in UInt32 (the contract: int64), counts null as a distinct value
# in n_unique (the contract skips nulls), and its casts from float to
# integer truncate (SQL's round to nearest, ties to even).

FORMATS = ["parquet", "arrow", "csv"]


# Steps that keep their input's order: (id, steps, the same in Polars).
# Compared in order.
ORDERED_STEP_CASES = [
    ("filter", [{"op": "filter", "expr": "x > 10 and y < 0"}],
     lambda t: t.filter((pl.col("x") > 10) & (pl.col("y") < 0))),
    ("filter-nulls", [{"op": "filter", "expr": "k2 is null or k1 >= 30 or not (y between -10 and 10)"}],
     lambda t: t.filter(pl.col("k2").is_null() | (pl.col("k1") >= 30) | ~pl.col("y").is_between(-10, 10))),
    ("filter-in-date", [{"op": "filter", "expr": "k2 in ('a', 'c') and d >= date '2024-07-01'"}],
     lambda t: t.filter(pl.col("k2").is_in(["a", "c"]) & (pl.col("d") >= date(2024, 7, 1)))),
    ("project", [{"op": "project", "columns": [
        ["id", "id"], ["a", "x * 2 + y"], ["b", "case when y > 3 then 'hi' when y is null then 'none' else 'lo' end"],
        ["c", "coalesce(k2, 'none') || '-'"], ["e", "y::double / 4"], ["f", "abs(x) - coalesce(w, 0)"],
        ["g", "y * 3 - k1"], ["h", "d + 7"]]}],
     lambda t: t.select(
         pl.col("id"), (pl.col("x") * 2 + pl.col("y")).alias("a"),
         pl.when(pl.col("y") > 3).then(pl.lit("hi")).when(pl.col("y").is_null()).then(pl.lit("none"))
         .otherwise(pl.lit("lo")).alias("b"),
         pl.concat_str([pl.coalesce(pl.col("k2"), pl.lit("none")), pl.lit("-")]).alias("c"),
         (pl.col("y").cast(pl.Float64) / 4).alias("e"),
         (pl.col("x").abs() - pl.coalesce(pl.col("w"), 0.0)).alias("f"),
         (pl.col("y") * 3 - pl.col("k1")).alias("g"), (pl.col("d") + timedelta(days=7)).alias("h"))),
    ("with_column-new", [{"op": "with_column", "name": "v", "expr": "x * 0.5 + coalesce(y, 0)"}],
     lambda t: t.with_columns((pl.col("x") * 0.5 + pl.coalesce(pl.col("y"), 0)).alias("v"))),
    # Replaces in place: the column keeps its position.
    ("with_column-replace", [{"op": "with_column", "name": "y", "expr": "y * 2 + 1"},
                             {"op": "with_column", "name": "k2", "expr": "upper(k2) || s"}],
     lambda t: t.with_columns(pl.col("y") * 2 + 1,
                              pl.concat_str([pl.col("k2").str.to_uppercase(), pl.col("s")]).alias("k2"))),
    ("drop-select", [{"op": "drop", "columns": ["k1", "x", "d"]}, {"op": "select", "columns": ["s", "id", "w", "y"]}],
     lambda t: t.drop("k1", "x", "d").select("s", "id", "w", "y")),
    # One rename swaps two names.
    ("rename", [{"op": "rename", "map": {"x": "w", "w": "x", "k2": "category"}}],
     lambda t: t.rename({"x": "w", "w": "x", "k2": "category"})),
    ("cast", [{"op": "cast", "column": "y", "type": "double"}, {"op": "cast", "column": "d", "type": "string"}],
     lambda t: t.with_columns(pl.col("y").cast(pl.Float64), pl.col("d").cast(pl.String))),
    # Limit over a file: the rows at those positions of the filtered file.
    ("filter-limit-offset", [{"op": "filter", "expr": "x > 0"}, {"op": "limit", "count": 40, "offset": 690}],
     lambda t: t.filter(pl.col("x") > 0).slice(690, 40)),
    ("chain", [{"op": "filter", "expr": "w is not null"},
               {"op": "with_column", "name": "v", "expr": "w * y"},
               {"op": "project", "columns": [["id", "id"], ["v", "v"], ["k", "coalesce(k2, '?')"]]},
               {"op": "filter", "expr": "v < 100"},
               {"op": "limit", "count": 300, "offset": 7}],
     lambda t: t.filter(pl.col("w").is_not_null()).with_columns((pl.col("w") * pl.col("y")).alias("v"))
     .select("id", "v", pl.coalesce(pl.col("k2"), pl.lit("?")).alias("k"))
     .filter(pl.col("v") < 100).slice(7, 300)),
    # Over a sort, the same steps keep the sort's order.
    ("after-sort", [{"op": "sort", "by": [{"column": "k2", "descending": True, "nulls_first": True},
                                          {"column": "id"}]},
                    {"op": "project", "columns": [["id", "id"], ["k2", "k2"], ["v", "x * 2"], ["d", "d"]]},
                    {"op": "rename", "map": {"k2": "category"}}, {"op": "cast", "column": "d", "type": "string"},
                    {"op": "filter", "expr": "v is null or v > -50"}, {"op": "drop", "columns": ["d"]},
                    {"op": "limit", "count": 1000, "offset": 100}],
     lambda t: t.sort(["k2", "id"], descending=[True, False], nulls_last=[False, True])
     .select("id", "k2", (pl.col("x") * 2).alias("v"), "d").rename({"k2": "category"})
     .with_columns(pl.col("d").cast(pl.String)).filter(pl.col("v").is_null() | (pl.col("v") > -50))
     .drop("d").slice(100, 1000)),
]


# Every case over Parquet (row groups of 700 rows), these over Arrow IPC
# (batches of 500 rows) and CSV too.
OTHER_FORMAT_CASES = {"filter-nulls", "project", "with_column-replace", "filter-limit-offset", "chain"}


@pytest.mark.parametrize(
    "t_format,steps,oracle",
    [pytest.param(f, *c[1:], id=f"{c[0]}-{f}") for f in FORMATS for c in ORDERED_STEP_CASES
     if f == "parquet" or c[0] in OTHER_FORMAT_CASES])
def test_order_keeping_steps_match_polars(data, t_format, steps, oracle):
    ours = run_plan(data, {"from": "t", "steps": steps}, t_format=t_format)
    assert_matches_polars(ours, oracle(data["pt"]), ordered=True)


def test_filter_keeps_order_with_more_threads_than_cores(data):
    ours = run_plan(data, {"from": "t", "steps": [{"op": "filter", "expr": "y % 3 = 0"}]}, threads=8)
    assert_matches_polars(ours, data["pt"].filter(pl.col("y") % 3 == 0), ordered=True)


# Casts, several columns per plan: (column, type name, the Polars cast).
# Float to integer rounds to nearest, ties to even (SQL; Polars truncates,
# so the oracle rounds first).
CAST_CASES = [
    [("y", "double", pl.col("y").cast(pl.Float64)), ("x", "int64", pl.col("x").round(0).cast(pl.Int64)),
     ("k1", "uint8", pl.col("k1").cast(pl.UInt8)), ("id", "int32", pl.col("id").cast(pl.Int32)),
     ("d", "string", pl.col("d").cast(pl.String)), ("w", "float", pl.col("w").cast(pl.Float32))],
    [("y", "string", pl.col("y").cast(pl.String)), ("x", "string", pl.col("x").cast(pl.String)),
     ("k2", "binary", pl.col("k2").cast(pl.Binary)), ("k1", "uint64", pl.col("k1").cast(pl.UInt64)),
     ("d", "timestamp", pl.col("d").cast(pl.Datetime("us"))), ("m", "int16", pl.col("m").cast(pl.Int16))],
    [("y", "int8", pl.col("y").cast(pl.Int8)), ("x", "decimal(9, 3)", pl.col("x").cast(pl.Decimal(9, 3))),
     ("d", "timestamp(ms)", pl.col("d").cast(pl.Datetime("ms"))), ("m", "decimal(12, 2)",
                                                                   pl.col("m").cast(pl.Decimal(12, 2)))],
    [("y", "bool", pl.col("y").cast(pl.Boolean)), ("x", "float", pl.col("x").cast(pl.Float32)),
     ("d", "timestamp(ns)", pl.col("d").cast(pl.Datetime("ns"))), ("w", "int32", pl.col("w").round(0).cast(pl.Int32))],
    [("d", "timestamp(us, 'UTC')", pl.col("d").cast(pl.Datetime("us", "UTC")))],
]


@pytest.mark.parametrize("casts", CAST_CASES, ids=lambda casts: ",".join(f"{c}-{t}" for c, t, _ in casts))
def test_cast_matches_polars(data, casts):
    steps = [{"op": "cast", "column": column, "type": type_name} for column, type_name, _ in casts]
    ours = run_plan(data, {"from": "t", "steps": steps})
    assert_matches_polars(ours, data["pt"].with_columns([cast for _, _, cast in casts]), ordered=True)


# A cast gives a column of the type asked for; Polars has no large_string or
# date64 and cannot tell these apart, so the Arrow type is checked directly.
CAST_TYPE_CASES = [
    ("k2", "string", pa.string()),
    ("d", "timestamp(ms)", pa.timestamp("ms")),
    ("d", "date", pa.date32()),
    ("d", "timestamp(us, 'UTC')", pa.timestamp("us", "UTC")),
]


@pytest.mark.parametrize("column,type_name,arrow_type", CAST_TYPE_CASES, ids=[c[1] for c in CAST_TYPE_CASES])
def test_cast_gives_the_arrow_type_asked_for(small_input, column, type_name, arrow_type):
    out = small_input["dir"] / "cast.arrow"
    plan = {"steps": [{"op": "cast", "column": column, "type": type_name}]}
    proc = subprocess.run([flightdeck_binary(), "frame-query", "--input", f"t={small_input['path']}",
                           "--plan", json.dumps(plan), "--output", str(out)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    with pa.memory_map(str(out)) as source:
        ours = pa.ipc.open_file(source).read_all()
    assert ours.schema.field(column).type == arrow_type
    # The values are the source's.
    source_type = small_input["t"].schema.field(column).type
    assert ours.column(column).cast(source_type).equals(small_input["t"].column(column))


# Types the engine cannot give exactly are refused before anything runs,
# naming the type it would give instead.
@pytest.mark.parametrize("column,type_name,nearest", [
    ("k2", "large_string", "string"),
    ("d", "date64", "date32"),
    ("d", "timestamp(ms, 'UTC')", "timestamp[us, tz=UTC]"),
    ("d", "timestamp(us, 'Europe/Paris')", "timestamp[us, tz=UTC]"),
])
def test_cast_to_a_type_the_engine_cannot_give_is_refused(small_input, column, type_name, nearest):
    plan = {"steps": [{"op": "cast", "column": column, "type": type_name}]}
    proc = subprocess.run([flightdeck_binary(), "frame-query", "--input", f"t={small_input['path']}",
                           "--plan", json.dumps(plan)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert f"cast to {nearest} instead" in proc.stderr, proc.stderr


# Sort keys (column, descending, nulls_first); each ends with a unique column
# so that the order is total.
SORT_CASES = [
    [("k2", False, False), ("id", False, False)],
    [("k2", True, True), ("id", True, False)],
    [("k1", False, True), ("x", True, False), ("id", False, False)],
    [("y", True, False), ("k2", False, True), ("s", True, True), ("id", True, True)],
    [("d", False, False), ("w", True, True), ("id", False, False)],
    [("x", False, True), ("id", False, False)],
]


def _polars_sort(frame, keys):
    return frame.sort([c for c, _, _ in keys], descending=[d for _, d, _ in keys],
                      nulls_last=[not nf for _, _, nf in keys])


def _sort_step(keys):
    return {"op": "sort", "by": [{"column": c, "descending": d, "nulls_first": nf} for c, d, nf in keys]}


@pytest.mark.parametrize("keys", SORT_CASES, ids=lambda keys: "-".join(
    f"{c}{'-desc' if d else ''}{'-nf' if nf else ''}" for c, d, nf in keys))
def test_sort_matches_polars_in_order(data, keys):
    ours = run_plan(data, {"from": "t", "steps": [_sort_step(keys)]})
    assert_matches_polars(ours, _polars_sort(data["pt"], keys), ordered=True)


def test_sort_of_csv_matches_polars(data):
    keys = SORT_CASES[3]
    ours = run_plan(data, {"from": "t", "steps": [_sort_step(keys)]}, t_format="csv")
    assert_matches_polars(ours, _polars_sort(data["pt"], keys), ordered=True)


# (sort keys, count, offset): limit over a sorted input takes those positions
# of the sort order; steps that keep order after it keep the sort order.
LIMIT_CASES = [
    (SORT_CASES[2], 25, 5),
    (SORT_CASES[4], 10, 2990),   # fewer rows than asked for
    (SORT_CASES[0], 10, 5000),   # past the end: nothing
    (SORT_CASES[5], 0, 3),       # count 0: nothing
]


@pytest.mark.parametrize("keys,count,offset", LIMIT_CASES, ids=["25-offset-5", "fewer-than-asked",
                                                               "offset-past-the-end", "count-0"])
def test_limit_over_a_sort_matches_polars(data, keys, count, offset):
    steps = [_sort_step(keys), {"op": "limit", "count": count, "offset": offset},
             {"op": "with_column", "name": "v", "expr": "id * 2"}, {"op": "filter", "expr": "id % 3 <> 1"}]
    ours = run_plan(data, {"from": "t", "steps": steps})
    theirs = (_polars_sort(data["pt"], keys).slice(offset, count).with_columns((pl.col("id") * 2).alias("v"))
              .filter(pl.col("id") % 3 != 1))
    assert_matches_polars(ours, theirs, ordered=True)


def test_sort_after_group_by_then_limit_matches_polars(data):
    steps = [{"op": "group_by", "keys": ["k1"], "aggs": [{"fn": "sum", "column": "x", "name": "sx"}]},
             {"op": "sort", "by": [{"column": "sx", "descending": True, "nulls_first": True}, {"column": "k1"}]},
             {"op": "limit", "count": 12, "offset": 1}]
    ours = run_plan(data, {"from": "t", "steps": steps})
    theirs = (data["pt"].group_by("k1").agg(pl.when(pl.col("x").count() > 0).then(pl.col("x").sum()).alias("sx"))
              .sort(["sx", "k1"], descending=[True, False], nulls_last=[False, True]).slice(1, 12))
    assert_matches_polars(ours, theirs, ordered=True)


DISTINCT_CASES = [
    ("k1-k2", [{"op": "select", "columns": ["k1", "k2"]}], lambda t: t.select("k1", "k2")),
    ("k2", [{"op": "select", "columns": ["k2"]}], lambda t: t.select("k2")),
    ("floats-dates", [{"op": "select", "columns": ["w", "d"]}, {"op": "filter", "expr": "w is null or w < 5"}],
     lambda t: t.select("w", "d").filter(pl.col("w").is_null() | (pl.col("w") < 5))),
    # Every row twice, then distinct: t itself.
    ("union-self", [{"op": "union", "other": "t"}], lambda t: pl.concat([t, t])),
]


@pytest.mark.parametrize("steps,oracle", [c[1:] for c in DISTINCT_CASES], ids=[c[0] for c in DISTINCT_CASES])
def test_distinct_matches_polars(data, steps, oracle):
    ours = run_plan(data, {"from": "t", "steps": [*steps, {"op": "distinct"}]})
    assert_matches_polars(ours, oracle(data["pt"]).unique())


def test_union_matches_polars(data):
    # The other side a sub-plan of another input, with the same names and
    # types; then a sort, so the result is ordered.
    other = {"from": "u", "steps": [{"op": "filter", "expr": "score > 3"},
                                    {"op": "project", "columns": [["k1", "uid"], ["k2", "ucat"], ["x", "x"]]}]}
    steps = [{"op": "filter", "expr": "y > 45"}, {"op": "select", "columns": ["k1", "k2", "x"]},
             {"op": "union", "other": other}, {"op": "union", "other": other}]
    ours = run_plan(data, {"from": "t", "steps": steps})
    u = data["pu"].filter(pl.col("score") > 3).select(pl.col("uid").alias("k1"), pl.col("ucat").alias("k2"), "x")
    theirs = pl.concat([data["pt"].filter(pl.col("y") > 45).select("k1", "k2", "x"), u, u])
    assert_matches_polars(ours, theirs)
    keys = [("x", True, True), ("k1", False, False), ("k2", False, False)]
    ours = run_plan(data, {"from": "t", "steps": [*steps, _sort_step(keys)]})
    assert_matches_polars(ours, _polars_sort(theirs, keys), ordered=True)


# --- aggregates against Polars

# (fn, column): every aggregate function on integers, floats, strings and
# dates, on columns with nulls and with all-null groups (w where k2 = 'g',
# m where k2 = 'f'); median stands for "any aggregate of the engine".
AGGREGATE_FNS = [
    ("sum", "x"), ("sum", "y"), ("sum", "w"), ("sum", "m"),
    ("mean", "x"), ("mean", "y"), ("mean", "w"), ("mean", "m"),
    ("min", "x"), ("min", "y"), ("min", "s"), ("min", "d"), ("min", "w"),
    ("max", "x"), ("max", "m"), ("max", "s"), ("max", "d"), ("max", "w"),
    ("count", "x"), ("count", "w"), ("count", "s"), ("count", "d"), ("count_all", ""),
    ("count_distinct", "y"), ("count_distinct", "s"), ("count_distinct", "w"), ("count_distinct", "d"),
    ("stddev", "x"), ("stddev", "y"), ("stddev", "w"), ("stddev", "m"),
    ("variance", "x"), ("variance", "y"), ("variance", "w"), ("variance", "m"),
    ("first", "x"), ("first", "s"), ("first", "w"), ("first", "d"),
    ("last", "y"), ("last", "s"), ("last", "m"), ("last", "d"),
    ("median", "x"), ("median", "y"), ("median", "w"),
]


def _polars_aggregate(fn, column, name):
    c = pl.col(column) if column else None
    if fn == "sum":  # an all-null group sums to null, not Polars' 0
        expr = pl.when(c.count() > 0).then(c.sum())
    elif fn == "mean":
        expr = c.mean()
    elif fn == "min":
        expr = c.min()
    elif fn == "max":
        expr = c.max()
    elif fn == "count":
        expr = c.count().cast(pl.Int64)
    elif fn == "count_all":
        expr = pl.len().cast(pl.Int64)
    elif fn == "count_distinct":
        expr = c.drop_nulls().n_unique().cast(pl.Int64)
    elif fn == "stddev":
        expr = c.std(ddof=1)
    elif fn == "variance":
        expr = c.var(ddof=1)
    elif fn == "first":
        expr = c.drop_nulls().first()
    elif fn == "last":
        expr = c.drop_nulls().last()
    elif fn == "median":
        expr = c.median()
    else:
        raise AssertionError(fn)
    return expr.alias(name)


def _aggregate_step(keys, aggs):
    return {"op": "group_by", "keys": keys, "aggs": aggs} if keys else {"op": "agg", "aggs": aggs}


def _polars_group(frame, keys, exprs):
    return frame.group_by(keys, maintain_order=True).agg(exprs) if keys else frame.select(exprs)


# (keys, a filter first): grouped by keys with nulls (string, int, two,
# date); ungrouped; ungrouped over only all-null w values (k2 = 'g'); over
# no rows at all (grouped: no rows; ungrouped: one row of nulls and zeros).
AGGREGATE_CASES = [
    (["k2"], None),
    (["k1", "k2"], None),
    (["d"], "d < date '2024-02-01' or d is null"),
    ([], None),
    ([], "k2 = 'g'"),
    ([], "x > 1000"),
]


@pytest.mark.parametrize("keys,predicate", AGGREGATE_CASES,
                         ids=["k2", "k1-k2", "d-filtered", "ungrouped", "ungrouped-all-null-w", "ungrouped-no-rows"])
def test_every_aggregate_matches_polars(data, keys, predicate):
    aggs = [{"fn": fn, "column": column, "name": f"a{i}"} for i, (fn, column) in enumerate(AGGREGATE_FNS)]
    for agg in aggs:
        if agg["fn"] == "count_all":
            del agg["column"]
    steps = [{"op": "filter", "expr": predicate}] if predicate else []
    ours = run_plan(data, {"from": "t", "steps": [*steps, _aggregate_step(keys, aggs)]})
    frame = data["pt"]
    if predicate == "d < date '2024-02-01' or d is null":
        frame = frame.filter((pl.col("d") < date(2024, 2, 1)) | pl.col("d").is_null())
    elif predicate == "k2 = 'g'":
        frame = frame.filter(pl.col("k2") == "g")
    elif predicate == "x > 1000":
        frame = frame.filter(pl.col("x") > 1000)
    exprs = [_polars_aggregate(fn, column, f"a{i}") for i, (fn, column) in enumerate(AGGREGATE_FNS)]
    theirs = _polars_group(frame, keys, exprs)
    assert ours.num_rows == theirs.height
    if predicate == "k2 = 'g'":  # w is all null: sum/mean/min/max/stddev/... are null, counts 0
        row = theirs.row(0, named=True)
        assert [row[f"a{i}"] for i, (_, c) in enumerate(AGGREGATE_FNS) if c == "w"] == [
            None, None, None, None, 0, 0, None, None, None, None]
    assert_matches_polars(ours, theirs)


# first / last take the first / last non-null value in the input's order:
# over a sort, the sort's order; over a file, the file's.
@pytest.mark.parametrize("keys", [["k2"], []])
def test_first_last_over_a_sort_match_polars(data, keys):
    sort = [("x", True, False), ("id", False, False)]
    aggs = [{"fn": fn, "column": c, "name": f"{fn}_{c}"}
            for fn in ("first", "last") for c in ("y", "s", "w", "d", "id")]
    ours = run_plan(data, {"from": "t", "steps": [_sort_step(sort), _aggregate_step(keys, aggs)]})
    exprs = [_polars_aggregate(a["fn"], a["column"], a["name"]) for a in aggs]
    theirs = _polars_group(_polars_sort(data["pt"], sort), keys, exprs)
    assert_matches_polars(ours, theirs)


@pytest.mark.parametrize("t_format,keys", [("parquet", ["k2"]), ("parquet", ["k1", "k2"]), ("parquet", []),
                                           ("arrow", ["k1"]), ("csv", ["k1"])])
def test_first_last_over_a_file_match_polars(data, t_format, keys):
    aggs = [{"fn": fn, "column": c, "name": f"{fn}_{c}"} for fn in ("first", "last") for c in ("x", "k2", "m", "d")]
    steps = [{"op": "filter", "expr": "y > -20"}, _aggregate_step(keys, aggs)]
    ours = run_plan(data, {"from": "t", "steps": steps}, t_format=t_format)
    exprs = [_polars_aggregate(a["fn"], a["column"], a["name"]) for a in aggs]
    theirs = _polars_group(data["pt"].filter(pl.col("y") > -20), keys, exprs)
    assert_matches_polars(ours, theirs)


# first / last number the input rows in a column of their own, which an
# input column of the same name must not stand in for.
def test_first_last_ignore_an_input_column_named_fd_row(small_input):
    out = small_input["dir"] / "fd_row.arrow"
    aggs = [{"fn": fn, "column": "x", "name": fn} for fn in ("first", "last")]
    plan = {"steps": [{"op": "with_column", "name": "fd_row", "expr": "-id"}, _aggregate_step(["k2"], aggs)]}
    proc = subprocess.run([flightdeck_binary(), "frame-query", "--input", f"t={small_input['path']}",
                           "--plan", json.dumps(plan), "--output", str(out)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    with pa.memory_map(str(out)) as source:
        ours = pa.ipc.open_file(source).read_all()
    exprs = [_polars_aggregate(a["fn"], a["column"], a["name"]) for a in aggs]
    assert_matches_polars(ours, _polars_group(pl.from_arrow(small_input["t"]), ["k2"], exprs))


# --- joins against Polars

JOIN_KINDS = ["inner", "left", "right", "full", "semi", "anti"]


def _polars_join(left, right, how, on=(), right_on=None, suffix="_right", condition=None):
    """left JOIN right the DataFrame way: left columns, then right columns
    (those whose names collide with left ones get `suffix`), nulls never
    match; `condition` (a Polars expression over output names) must hold too."""
    on, right_on = list(on), list(right_on if right_on is not None else on)
    names = left.columns + [c + suffix if c in left.columns else c for c in right.columns]
    if how == "cross":
        return left.join(right, how="cross", suffix=suffix).select(names)
    if condition is None:
        if how in ("semi", "anti"):
            return left.join(right, left_on=on, right_on=right_on, how=how)
        return left.join(right, left_on=on, right_on=right_on, how=how, suffix=suffix, coalesce=False).select(names)
    # With a condition: the pairs that match, then the rows no pair used.
    lefts, rights = left.with_row_index("__l"), right.with_row_index("__r")
    if on:
        pairs = lefts.join(rights, left_on=on, right_on=right_on, how="inner", suffix=suffix, coalesce=False)
    else:
        pairs = lefts.join(rights, how="cross", suffix=suffix)
    pairs = pairs.filter(condition)
    if how in ("semi", "anti"):
        return lefts.join(pairs.select("__l"), on="__l", how=how).drop("__l")
    parts = [pairs]
    if how in ("left", "full"):
        parts.append(lefts.join(pairs.select("__l"), on="__l", how="anti"))
    if how in ("right", "full"):
        renamed = rights.rename({c: c + suffix for c in right.columns if c in left.columns})
        parts.append(renamed.join(pairs.select("__r"), on="__r", how="anti"))
    return pl.concat(parts, how="diagonal").select(names)


# Keys with nulls and duplicates on both sides: one int key; an int and a
# string key.
@pytest.mark.parametrize("how", JOIN_KINDS)
@pytest.mark.parametrize("on", [["k1"], ["k1", "k2"]], ids=["int", "int-string"])
def test_every_join_kind_matches_polars(data, how, on):
    ours = run_plan(data, {"from": "t", "steps": [{"op": "join", "right": "r", "on": on, "how": how}]})
    assert_matches_polars(ours, _polars_join(data["pt"], data["pr"], how, on))


# Right keys with other names (uid, ucat) and a colliding non-key column (x,
# suffixed "_u"); the left side a sub-plan.
@pytest.mark.parametrize("how,on,right_on", [
    pytest.param(how, *([["k1"], ["uid"]] if i % 2 == 0 else [["k2", "k1"], ["ucat", "uid"]]),
                 id=f"{how}-{'one' if i % 2 == 0 else 'two'}-keys") for i, how in enumerate(JOIN_KINDS)])
def test_join_right_on_and_suffix_match_polars(data, how, on, right_on):
    left = {"from": "t", "steps": [{"op": "select", "columns": ["id", "k1", "k2", "x"]}]}
    step = {"op": "join", "right": "u", "on": on, "right_on": right_on, "how": how, "suffix": "_u"}
    ours = run_plan(data, {"from": left, "steps": [step]})
    theirs = _polars_join(data["pt"].select("id", "k1", "k2", "x"), data["pu"], how, on, right_on, suffix="_u")
    if how not in ("semi", "anti"):
        assert "x_u" in theirs.columns and "uid" in theirs.columns
    assert_matches_polars(ours, theirs)


# (how, keys, condition in SQL, the same in Polars): conditions over left
# columns, right columns and suffixed right columns, with nulls; without keys
# a condition alone joins.
JOIN_CONDITION_CASES = [
    ("inner", ["k1"], "z > 0.3 and x > 0", (pl.col("z") > 0.3) & (pl.col("x") > 0)),
    ("left", ["k1"], "k2 <> k2_right", pl.col("k2") != pl.col("k2_right")),
    ("right", ["k1"], "z < x / 100", pl.col("z") < pl.col("x") / 100),
    ("full", ["k1", "k2"], "y > 0", pl.col("y") > 0),
    ("semi", ["k1"], "z > 0.5", pl.col("z") > 0.5),
    ("anti", ["k2"], "z > 0.5 or y is null", (pl.col("z") > 0.5) | pl.col("y").is_null()),
    ("inner", [], "k1 = k1_right + 1 and k2 = k2_right", (pl.col("k1") == pl.col("k1_right") + 1)
     & (pl.col("k2") == pl.col("k2_right"))),
    ("left", [], "k1 = k1_right and z > 0.9", (pl.col("k1") == pl.col("k1_right")) & (pl.col("z") > 0.9)),
    ("full", [], "x between z * 100 - 0.5 and z * 100 + 0.5", pl.col("x").is_between(
        pl.col("z") * 100 - 0.5, pl.col("z") * 100 + 0.5)),
    ("anti", [], "abs(x - z * 100) < 0.5", (pl.col("x") - pl.col("z") * 100).abs() < 0.5),
]


@pytest.mark.parametrize("how,on,condition,polars_condition", JOIN_CONDITION_CASES,
                         ids=[f"{c[0]}-{'-'.join(c[1]) or 'no-keys'}" for c in JOIN_CONDITION_CASES])
def test_join_with_condition_matches_polars(data, how, on, condition, polars_condition):
    step = {"op": "join", "right": "r", "how": how, "condition": condition}
    if on:
        step["on"] = on
    ours = run_plan(data, {"from": "t", "steps": [step]})
    assert_matches_polars(ours, _polars_join(data["pt"], data["pr"], how, on, condition=polars_condition))


# Right sides that are sub-plans: an aggregate of r; a filtered, renamed u
# (a collision on the renamed key and on x).
def _right_counts(pr):
    return pr.group_by("k1").agg(pl.len().cast(pl.Int64).alias("n"), pl.col("z").mean().alias("mz"))


def _right_renamed(pu):
    return pu.filter(pl.col("score") > 0).rename({"uid": "k1"})


RIGHT_SUBPLAN_CASES = [
    ("counts-left", {"from": "r", "steps": [{"op": "group_by", "keys": ["k1"], "aggs": [
        {"fn": "count_all", "name": "n"}, {"fn": "mean", "column": "z", "name": "mz"}]}]}, "left",
     lambda d: _polars_join(d["pt"], _right_counts(d["pr"]), "left", ["k1"])),
    ("renamed-full", {"from": "u", "steps": [{"op": "filter", "expr": "score > 0"},
                                             {"op": "rename", "map": {"uid": "k1"}}]}, "full",
     lambda d: _polars_join(d["pt"], _right_renamed(d["pu"]), "full", ["k1"])),
    ("renamed-semi", {"from": "u", "steps": [{"op": "filter", "expr": "score > 0"},
                                             {"op": "rename", "map": {"uid": "k1"}}]}, "semi",
     lambda d: _polars_join(d["pt"], _right_renamed(d["pu"]), "semi", ["k1"])),
]


@pytest.mark.parametrize("right,how,oracle", [c[1:] for c in RIGHT_SUBPLAN_CASES],
                         ids=[c[0] for c in RIGHT_SUBPLAN_CASES])
def test_join_with_a_sub_plan_matches_polars(data, right, how, oracle):
    ours = run_plan(data, {"from": "t", "steps": [{"op": "join", "right": right, "on": ["k1"], "how": how}]})
    assert_matches_polars(ours, oracle(data))


def test_cross_join_matches_polars(data):
    suffix = "_r"
    right = {"from": "r", "steps": [{"op": "filter", "expr": "z > 0.8"}]}
    steps = [{"op": "filter", "expr": "id < 150"}, {"op": "join", "right": right, "how": "cross", "suffix": suffix}]
    ours = run_plan(data, {"from": "t", "steps": steps})
    theirs = _polars_join(data["pt"].filter(pl.col("id") < 150), data["pr"].filter(pl.col("z") > 0.8), "cross",
                          suffix=suffix)
    assert theirs.height > 150
    assert_matches_polars(ours, theirs)


def test_join_then_aggregate_matches_polars(data):
    steps = [{"op": "filter", "expr": "x is not null"},
             {"op": "with_column", "name": "v", "expr": "x * 0.92"},
             {"op": "join", "right": "r", "on": ["k1"], "how": "left"},
             {"op": "group_by", "keys": ["k2"], "aggs": [
                 {"fn": "sum", "column": "v", "name": "total"}, {"fn": "count_all", "name": "n"},
                 {"fn": "mean", "column": "z", "name": "mz"}]},
             {"op": "sort", "by": [{"column": "total", "descending": True}]}]
    ours = run_plan(data, {"from": "t", "steps": steps})
    joined = _polars_join(data["pt"].filter(pl.col("x").is_not_null()).with_columns((pl.col("x") * 0.92).alias("v")),
                          data["pr"], "left", ["k1"])
    theirs = joined.group_by("k2").agg(_polars_aggregate("sum", "v", "total"), pl.len().cast(pl.Int64).alias("n"),
                                       pl.col("z").mean().alias("mz"))
    assert_matches_polars(ours, theirs.sort("total", descending=True, nulls_last=True), ordered=True)


# --- scalar sub-plans against Polars

def _scalar(source, *steps):
    return {"from": source, "steps": list(steps)}


def _single(series):
    """The value of a one-row Polars series; null (of its type) if it has none."""
    assert series.len() <= 1
    return pl.lit(series[0] if series.len() else None, dtype=series.dtype)


SCALAR_CASES = [
    # The mean of t's x.
    ("mean", {"avg": _scalar("t", {"op": "agg", "aggs": [{"fn": "mean", "column": "x", "name": "m"}]})},
     [{"op": "filter", "expr": "x > $avg"}],
     lambda d: d["pt"].filter(pl.col("x") > pl.col("x").mean())),
    # Two scalars of another input, one in a with_column.
    ("other-input", {"top": _scalar("r", {"op": "agg", "aggs": [{"fn": "max", "column": "k1", "name": "m"}]}),
                     "low": _scalar("r", {"op": "agg", "aggs": [{"fn": "min", "column": "z", "name": "m"}]})},
     [{"op": "filter", "expr": "k1 >= $top - 12"}, {"op": "with_column", "name": "v", "expr": "x * $low"}],
     lambda d: d["pt"].filter(pl.col("k1") >= d["pr"]["k1"].max() - 12)
     .with_columns((pl.col("x") * d["pr"]["z"].min()).alias("v"))),
    # A string: the k2 of t's row with the largest x (sort, limit 1, select).
    # Its order is checked by test_filter_by_equality_with_a_scalar_keeps_order.
    ("sorted-string", {"best": _scalar("t", {"op": "filter", "expr": "k2 is not null"},
                                       {"op": "sort", "by": [{"column": "x", "descending": True}]},
                                       {"op": "limit", "count": 1}, {"op": "select", "columns": ["k2"]})},
     [{"op": "filter", "expr": "k2 = $best"}],
     lambda d: d["pt"].filter(pl.col("k2") == d["pt"].filter(pl.col("k2").is_not_null())
                              .sort("x", descending=True, nulls_last=True)["k2"][0])),
    # No row: the value is null.
    ("no-row", {"none": _scalar("t", {"op": "filter", "expr": "x > 1000"}, {"op": "select", "columns": ["x"]})},
     [{"op": "filter", "expr": "x > $none or y = 7"}],
     lambda d: d["pt"].filter((pl.col("x") > _single(d["pt"].filter(pl.col("x") > 1000)["x"]))
                              | (pl.col("y") == 7))),
    # A scalar used inside a sub-plan (the join's right side) of its plan.
    ("in-sub-plan", {"cut": _scalar("r", {"op": "agg", "aggs": [{"fn": "mean", "column": "z", "name": "m"}]})},
     [{"op": "join", "right": {"from": "r", "steps": [{"op": "filter", "expr": "z > $cut"}]}, "on": ["k1"],
       "how": "semi"}, {"op": "filter", "expr": "y < $cut * 10"}],
     lambda d: _polars_join(d["pt"], d["pr"].filter(pl.col("z") > pl.col("z").mean()), "semi", ["k1"])
     .filter(pl.col("y") < d["pr"]["z"].mean() * 10)),
]


# Compared in order but for this one: a semi join does not promise an order.
UNORDERED_SCALAR_CASES = {"in-sub-plan"}


@pytest.mark.parametrize("scalars,steps,oracle,ordered",
                         [pytest.param(*c[1:], c[0] not in UNORDERED_SCALAR_CASES, id=c[0]) for c in SCALAR_CASES])
def test_scalar_sub_plan_matches_polars(data, scalars, steps, oracle, ordered):
    ours = run_plan(data, {"from": "t", "scalars": scalars, "steps": steps})
    assert_matches_polars(ours, oracle(data), ordered=ordered)


# DuckDB plans `column = (scalar subquery)` as a hash join, whose parallel
# probe does not keep insertion order; a filter must keep it all the same.
def test_filter_by_equality_with_a_scalar_keeps_order(tmp_path):
    # 100 row groups, so that several threads scan: the rows come out of
    # order nearly every run (the seeded tables above are too small to show
    # it every time); three runs must all keep the order.
    rows = 100_000
    t = pa.table({"id": pa.array(range(rows), pa.int64()), "k": pa.array([i % 40 for i in range(rows)], pa.int64())})
    pq.write_table(t, tmp_path / "t.parquet", row_group_size=1000)
    pq.write_table(pa.table({"k": pa.array([5, 7], pa.int64())}), tmp_path / "r.parquet")
    top = _scalar("r", {"op": "agg", "aggs": [{"fn": "max", "column": "k", "name": "m"}]})
    plan = {"from": "t", "scalars": {"top": top}, "steps": [{"op": "filter", "expr": "k = $top"}]}
    frame = pl.from_arrow(t)
    theirs = frame.filter(pl.col("k") == pl.from_arrow(pq.read_table(tmp_path / "r.parquet"))["k"].max())
    for _ in range(3):
        proc = subprocess.run([flightdeck_binary(), "frame-query", "--input", f"t={tmp_path / 't.parquet'}",
                               "--input", f"r={tmp_path / 'r.parquet'}", "--plan", json.dumps(plan),
                               "--output", str(tmp_path / "out.arrow"), "--threads", "4"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        with pa.memory_map(str(tmp_path / "out.arrow")) as source:
            ours = pa.ipc.open_file(source).read_all()
        assert_matches_polars(ours, theirs)  # the right rows
        assert_matches_polars(ours, theirs, ordered=True)  # in the file's order


@pytest.mark.parametrize(
    "steps,message",
    [
        ([{"op": "filter", "expr": "nope > 1"}], "nope"),
        # The expression, then a caret under where it went wrong.
        ([{"op": "filter", "expr": "x >"}], "syntax error: the expression ends too early\nx >\n   ^"),
        ([{"op": "with_column", "name": "q", "expr": "frob(x)"}], "frob does not exist"),
        ([{"op": "filter", "expr": "k2 > 1"}], "Filter"),
        ([{"op": "join", "right": "r", "on": ["x"]}], "Join"),
    ],
)
def test_bad_input_is_a_clear_error(small_input, steps, message):
    proc = subprocess.run(
        [flightdeck_binary(), "frame-query", "--input", f"t={small_input['path']}",
         "--input", f"r={small_input['r_path']}", "--plan", json.dumps({"steps": steps}),
         "--output", str(small_input["dir"] / "bad.arrow")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert message in proc.stderr
    assert not (small_input["dir"] / "bad.arrow").exists()


# Filtered aggregates over Parquet files written in different layouts
# (Snappy with dictionaries, plain uncompressed, v2 pages whose
# dictionaries fall back to plain, zstd, DuckDB's own writer), with
# comparisons on every column type, filters that statistics can prune and
# filters nothing or everything passes. Each answer must equal DuckDB's
# over that file.
SCAN_ROWS = 12_000


def _scan_table(seed):
    rng = random.Random(seed)
    day0 = 19_700  # 2023-12-09
    return pa.table({
        "i32": pa.array([_maybe(rng, rng.randrange(100)) for _ in range(SCAN_ROWS)], pa.int32()),
        "i64": pa.array([_maybe(rng, rng.randrange(-20, 20) * 1000) for _ in range(SCAN_ROWS)], pa.int64()),
        "d": pa.array([_maybe(rng, day0 + rng.randrange(120)) for _ in range(SCAN_ROWS)], pa.date32()),
        "f": pa.array([_maybe(rng, rng.randrange(40) / 4) for _ in range(SCAN_ROWS)], pa.float32()),
        "q": pa.array([_maybe(rng, rng.randrange(11) / 10) for _ in range(SCAN_ROWS)], pa.float64()),
        # Many distinct values: dictionaries overflow and fall back to plain.
        "x": pa.array([_maybe(rng, round(rng.uniform(-100, 100), 4)) for _ in range(SCAN_ROWS)], pa.float64()),
        # Sorted and never null: row groups can be pruned by statistics.
        "s": pa.array(range(SCAN_ROWS), pa.int64()),
        "k": pa.array([_maybe(rng, rng.randrange(6)) for _ in range(SCAN_ROWS)], pa.int64()),
    })


SCAN_LAYOUTS = {
    "snappy-dictionary": {"compression": "snappy"},
    "plain-uncompressed": {"compression": "none", "use_dictionary": False},
    "v2-pages-dictionary-fallback": {"compression": "snappy", "data_page_version": "2.0",
                                     "dictionary_pagesize_limit": 2048, "data_page_size": 4096},
    "zstd": {"compression": "zstd"},
    "duckdb-writer": None,
}


@pytest.fixture(scope="module", params=sorted(SCAN_LAYOUTS))
def scan_file(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("scan")
    path = d / "t.parquet"
    table = _scan_table(31)
    options = SCAN_LAYOUTS[request.param]
    con = duckdb.connect()
    if options is None:
        con.register("source", table)
        con.execute(f"COPY (SELECT * FROM source) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 2048)")
    else:
        pq.write_table(table, path, row_group_size=1500, **options)
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{path}')")
    return {"dir": d, "duck": con, "path": path}


SCAN_AGGS = [{"fn": "sum", "column": "v", "name": "sv"}, {"fn": "mean", "column": "v", "name": "mv"},
             {"fn": "count", "column": "v", "name": "cv"}, {"fn": "count_all", "name": "n"}]
SCAN_SQL = "sum(v) AS sv, avg(v) AS mv, count(v) AS cv, count(*) AS n"
# (filter, value, keys)
SCAN_CASES = [
    # Every comparison, on every type, both ways round; nulls in every column.
    ("i32 >= 10 and i32 < 60 and q between 0.2 and 0.5 and d < date '2024-02-01'", "x * q", []),
    ("5 < i64 and x != 0.5 and f <= 7.5 and d > date '2023-12-20'", "x + i64", ["k"]),
    ("i32 = 42 and f > 1", "f * 2", ["k"]),
    # Statistics rule out most row groups.
    ("s > 10500 and s <= 11000", "s * 1.0", []),
    # A disjunction.
    ("(i32 = 7 or x > 90) and d >= date '2024-01-10'", "x", ["k"]),
    # Nothing passes.
    ("i64 > 1000000", "x", []),
    # Every row passes; the predicate column is also summed.
    ("s >= 0", "q", ["k"]),
]


@pytest.mark.parametrize("predicate,value,keys", SCAN_CASES)
def test_parquet_layouts_match_duckdb(scan_file, predicate, value, keys):
    steps = [{"op": "filter", "expr": predicate}, {"op": "with_column", "name": "v", "expr": value}]
    steps.append({"op": "group_by", "keys": keys, "aggs": SCAN_AGGS} if keys else {"op": "agg", "aggs": SCAN_AGGS})
    proc = subprocess.run(
        [flightdeck_binary(), "frame-query", "--input", f"t={scan_file['path']}", "--plan",
         json.dumps({"steps": steps}), "--output", str(scan_file["dir"] / "out.arrow")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    with pa.memory_map(str(scan_file["dir"] / "out.arrow")) as source:
        ours = pa.ipc.open_file(source).read_all()
    select = ", ".join([*keys, SCAN_SQL])
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    theirs = scan_file["duck"].sql(
        f"SELECT {select} FROM (SELECT *, {value} AS v FROM t WHERE {predicate}){group}").to_arrow_table()
    assert_same(ours, theirs.cast(ours.schema))


def test_frame_query_repeat_reports_the_fastest_run(small_input):
    plan = json.dumps({"steps": [{"op": "filter", "expr": "id < 100"},
                                 {"op": "agg", "aggs": [{"fn": "count_all", "name": "n"}]}]})
    args = [flightdeck_binary(), "frame-query", "--input", f"t={small_input['path']}", "--plan", plan,
            "--output", str(small_input["dir"] / "repeat.arrow")]
    proc = subprocess.run([*args, "--repeat", "3"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    reported = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(reported["runs"]) == 3 and reported["seconds"] == min(reported["runs"])
    assert reported["rows"] == 1
    proc = subprocess.run([*args, "--repeat", "0"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "--repeat" in proc.stderr
