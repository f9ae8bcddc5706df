"""Oracle tests for the DataFrame layer: the same query through flightdeck
(`flightdeck frame-query`) and through DuckDB / Polars over the same seeded
random Parquet files with nulls must give equal results (order-insensitive
unless the query sorts)."""

import json
import math
import random
import subprocess

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest

from conftest import flightdeck_binary

ROWS = 3000


def _maybe(rng, value, null_share=0.1):
    return None if rng.random() < null_share else value


def _make_tables(seed):
    rng = random.Random(seed)
    t = pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "k1": pa.array([_maybe(rng, rng.randrange(40)) for _ in range(ROWS)], pa.int64()),
            "k2": pa.array([_maybe(rng, rng.choice("abcdefg")) for _ in range(ROWS)], pa.string()),
            "x": pa.array([_maybe(rng, round(rng.uniform(-100, 100), 3)) for _ in range(ROWS)], pa.float64()),
            "y": pa.array([_maybe(rng, rng.randrange(-50, 50)) for _ in range(ROWS)], pa.int64()),
        }
    )
    r = pa.table(
        {
            "k1": pa.array([_maybe(rng, rng.randrange(50)) for _ in range(120)], pa.int64()),
            "k2": pa.array([_maybe(rng, rng.choice("abcdxyz")) for _ in range(120)], pa.string()),
            "z": pa.array([_maybe(rng, rng.uniform(0, 1)) for _ in range(120)], pa.float64()),
        }
    )
    return t, r


@pytest.fixture(scope="module", params=[7, 2024])
def data(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(f"oracle{request.param}")
    t, r = _make_tables(request.param)
    # Several row groups so that scans run in parallel.
    pq.write_table(t, d / "t.parquet", row_group_size=700)
    pq.write_table(r, d / "r.parquet")
    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{d / 't.parquet'}')")
    con.execute(f"CREATE VIEW r AS SELECT * FROM read_parquet('{d / 'r.parquet'}')")
    return {"dir": d, "t": t, "r": r, "duck": con}


def run_flightdeck(data, steps, output_name="out.arrow", source="t", extra_inputs=()):
    out = data["dir"] / output_name
    inputs = [f"t={data['dir'] / 't.parquet'}", f"r={data['dir'] / 'r.parquet'}", *extra_inputs]
    proc = subprocess.run(
        [
            flightdeck_binary(),
            "frame-query",
            *[arg for spec in inputs for arg in ("--input", spec)],
            "--plan",
            json.dumps({"from": source, "steps": steps}),
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    reported = json.loads(proc.stdout.strip().splitlines()[-1])
    with pa.memory_map(str(out)) as source:
        table = pa.ipc.open_file(source).read_all()
    assert reported["rows"] == table.num_rows
    return table


def _norm(value):
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return float(f"{value:.9g}")
    return value


def _rows(table):
    cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [tuple(_norm(c[i]) for c in cols) for i in range(table.num_rows)]


def _sort_key(row):
    return tuple((v is None, str(type(v)), v if v is not None else 0) for v in row)


def _close(x, y):
    if isinstance(x, float) and isinstance(y, float):
        return x == y or math.isclose(x, y, rel_tol=1e-8, abs_tol=1e-9)
    return x == y


def assert_same(ours, theirs, ordered=False):
    assert ours.column_names == theirs.column_names
    a, b = _rows(ours), _rows(theirs)
    if not ordered:
        a, b = sorted(a, key=_sort_key), sorted(b, key=_sort_key)
    assert len(a) == len(b)
    # Floats agree to 8 significant digits (engines sum in different orders).
    for i, (x, y) in enumerate(zip(a, b)):
        assert len(x) == len(y) and all(_close(u, v) for u, v in zip(x, y)), (i, x, y)


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


@pytest.mark.parametrize("predicate", ["x > 10 and y < 0", "k2 is null or k1 >= 30"])
def test_filter_matches_polars(data, predicate):
    ours = run_flightdeck(data, [{"op": "filter", "expr": predicate}])
    frame = pl.from_arrow(data["t"])
    theirs = pl.SQLContext(t=frame).execute(f"SELECT * FROM t WHERE {predicate}", eager=True)
    assert_same(ours, theirs.to_arrow())


def test_projection_matches_duckdb(data):
    columns = [
        ["id", "id"],
        ["a", "x * 2 + y"],
        ["b", "case when y > 3 then 'hi' when y is null then 'none' else 'lo' end"],
        ["c", "coalesce(k2, 'none') || '-'"],
        ["d", "y::double / 3"],
        ["e", "abs(x) - 1"],
    ]
    ours = run_flightdeck(data, [{"op": "project", "columns": columns}])
    sql = ", ".join(f"{expr} AS {name}" for name, expr in columns)
    assert_same(ours, duck(data, f"SELECT {sql} FROM t"))


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


@pytest.mark.parametrize("keys", [["k2"], ["k1", "k2"], []])
def test_first_last_match_polars(data, keys):
    aggs = [{"fn": "first", "column": "x", "name": "f"}, {"fn": "last", "column": "x", "name": "l"},
            {"fn": "first", "column": "k2", "name": "fk"}, {"fn": "last", "column": "y", "name": "ly"}]
    steps = [{"op": "group_by", "keys": keys, "aggs": aggs}] if keys else [{"op": "agg", "aggs": aggs}]
    ours = run_flightdeck(data, steps)
    exprs = [pl.col("x").drop_nulls().first().alias("f"), pl.col("x").drop_nulls().last().alias("l"),
             pl.col("k2").drop_nulls().first().alias("fk"), pl.col("y").drop_nulls().last().alias("ly")]
    frame = pl.from_arrow(data["t"])
    theirs = frame.group_by(keys, maintain_order=True).agg(exprs) if keys else frame.select(exprs)
    assert_same(ours, theirs.to_arrow())


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


def test_group_by_matches_polars(data):
    ours = run_flightdeck(
        data,
        [{"op": "group_by", "keys": ["k1"], "aggs": [
            {"fn": "sum", "column": "x", "name": "s"}, {"fn": "max", "column": "y", "name": "m"},
            {"fn": "count_all", "name": "n"}]}],
    )
    theirs = pl.from_arrow(data["t"]).group_by("k1").agg(
        pl.col("x").sum().alias("s"), pl.col("y").max().alias("m"), pl.len().cast(pl.Int64).alias("n")
    )
    # Polars sums an all-null group to 0, SQL (and flightdeck) to null.
    nonnull = pl.from_arrow(data["t"]).group_by("k1").agg(pl.col("x").count().alias("c"))
    theirs = theirs.join(nonnull, on="k1", nulls_equal=True).with_columns(
        pl.when(pl.col("c") == 0).then(None).otherwise(pl.col("s")).alias("s")
    ).drop("c")
    assert_same(ours, theirs.to_arrow().cast(ours.schema))


JOIN_SQL = {
    "inner": "INNER JOIN",
    "left": "LEFT JOIN",
    "right": "RIGHT JOIN",
    "full": "FULL OUTER JOIN",
    "semi": "SEMI JOIN",
    "anti": "ANTI JOIN",
}


@pytest.mark.parametrize("how", list(JOIN_SQL))
@pytest.mark.parametrize("on", [["k1"], ["k1", "k2"]])
def test_every_join_type_matches_duckdb(data, how, on):
    ours = run_flightdeck(data, [{"op": "join", "right": "r", "on": on, "how": how}])
    condition = " AND ".join(f"t.{k} = r.{k}" for k in on)
    if how in ("semi", "anti"):
        sql = f"SELECT t.* FROM t {JOIN_SQL[how]} r ON {condition}"
    else:
        sql = (f"SELECT t.*, r.k1 AS k1_right, r.k2 AS k2_right, r.z "
               f"FROM t {JOIN_SQL[how]} r ON {condition}")
    assert_same(ours, duck(data, sql))


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


def test_sort_limit_matches_duckdb(data):
    ours = run_flightdeck(data, [{"op": "sort", "by": [{"column": "x", "descending": True}, {"column": "id"}]},
                                 {"op": "limit", "count": 25, "offset": 5}])
    assert_same(ours, duck(data, "SELECT * FROM t ORDER BY x DESC NULLS LAST, id LIMIT 25 OFFSET 5"),
                ordered=True)


def test_limit_keeps_file_order_like_duckdb(data):
    ours = run_flightdeck(data, [{"op": "filter", "expr": "x > 0"}, {"op": "limit", "count": 40, "offset": 690}])
    assert_same(ours, duck(data, "SELECT * FROM t WHERE x > 0 LIMIT 40 OFFSET 690"), ordered=True)


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


def test_limit_after_group_by_counts_rows(data):
    ours = run_flightdeck(data, [{"op": "group_by", "keys": ["k1"], "aggs": [{"fn": "count_all", "name": "n"}]},
                                 {"op": "limit", "count": 9}])
    assert ours.num_rows == 9


def test_sort_matches_polars(data):
    ours = run_flightdeck(data, [{"op": "sort", "by": [{"column": "k1", "nulls_first": True}, {"column": "id"}]}])
    theirs = pl.from_arrow(data["t"]).sort(["k1", "id"], nulls_last=False)
    assert_same(ours, theirs.to_arrow(), ordered=True)


@pytest.mark.parametrize("columns", [["k1", "k2"], ["k2"], ["k1", "k2", "y"]])
def test_distinct_matches_duckdb(data, columns):
    ours = run_flightdeck(data, [{"op": "select", "columns": columns}, {"op": "distinct"}])
    assert_same(ours, duck(data, f"SELECT DISTINCT {', '.join(columns)} FROM t"))


def test_composite_pipeline_matches_duckdb(data):
    steps = [
        {"op": "filter", "expr": "x is not null"},
        {"op": "with_column", "name": "v", "expr": "x * 0.92"},
        {"op": "join", "right": "r", "on": ["k1"], "how": "left"},
        {"op": "group_by", "keys": ["k2"], "aggs": [
            {"fn": "sum", "column": "v", "name": "total"}, {"fn": "count_all", "name": "n"}]},
        {"op": "sort", "by": [{"column": "total", "descending": True}]},
    ]
    ours = run_flightdeck(data, steps)
    theirs = duck(data, """
        SELECT t.k2, sum(t.x * 0.92) AS total, count(*) AS n
        FROM t LEFT JOIN r ON t.k1 = r.k1 WHERE t.x IS NOT NULL
        GROUP BY t.k2 ORDER BY total DESC NULLS LAST""")
    assert_same(ours, theirs, ordered=True)


def explain_flightdeck(data, steps):
    """The plan flightdeck prints for `steps` over t (--explain)."""
    proc = subprocess.run(
        [flightdeck_binary(), "frame-query", "--input", f"t={data['dir'] / 't.parquet'}", "--plan",
         json.dumps({"steps": steps}), "--output", str(data["dir"] / "explained.arrow"), "--explain"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


# Scan -> filter / project -> aggregate plans of sum, mean, count and
# count_all run through the fused path (fused_aggregate.h): the selection
# is a bitmap, projections are evaluated on every row, and dictionary-encoded
# string keys (k2) are grouped by code. Each case: steps, DuckDB's query,
# whether it must take the fused path.
FUSED_AGGS = [
    {"fn": "sum", "column": "x", "name": "sx"}, {"fn": "sum", "column": "y", "name": "sy"},
    {"fn": "mean", "column": "x", "name": "mx"}, {"fn": "mean", "column": "y", "name": "my"},
    {"fn": "count", "column": "x", "name": "cx"}, {"fn": "count", "column": "v", "name": "cv"},
    {"fn": "sum", "column": "v", "name": "sv"}, {"fn": "mean", "column": "v", "name": "mv"},
    {"fn": "count_all", "name": "n"},
]
FUSED_SQL = ("sum(x) AS sx, sum(y) AS sy, avg(x) AS mx, avg(y) AS my, count(x) AS cx, count(v) AS cv, "
             "sum(v) AS sv, avg(v) AS mv, count(*) AS n")
FUSED_CASES = [
    # Dictionary key with nulls.
    ("y > 40", "x * (1 - y * 0.01)", ["k2"], True),
    # A filter that drops most rows, so that many groups occur only in
    # dropped rows and must not appear.
    ("y > 40", "x * (1 - y * 0.01)", ["k1", "k2"], True),
    # Integer key and dictionary key together; a projection null where
    # either input is.
    ("x > -50 or y is null", "x * 2 + y", ["k1", "k2"], True),
    # An expression key (not a plain column) and an integer computed column.
    ("k1 is not null", "y * 3 - k1", ["k1"], True),
    # No keys: one row, also when nothing passes.
    ("x between -10 and 10", "x * y", [], True),
    ("x > 1000", "x + 1", [], True),
    ("x > 1000", "x + 1", ["k2"], True),
    # Integer division after a filter could fail on dropped rows: Acero runs it.
    ("y != 0", "100 / y", ["k2"], False),
]


@pytest.mark.parametrize("predicate,value,keys,fused", FUSED_CASES)
def test_fused_aggregates_match_duckdb(data, predicate, value, keys, fused):
    steps = [{"op": "filter", "expr": predicate}, {"op": "with_column", "name": "v", "expr": value}]
    steps.append({"op": "group_by", "keys": keys, "aggs": FUSED_AGGS} if keys else {"op": "agg", "aggs": FUSED_AGGS})
    assert ("[fused" in explain_flightdeck(data, steps)) == fused
    ours = run_flightdeck(data, steps)
    select = ", ".join([*keys, FUSED_SQL])
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    sql_value = value.replace("100 / y", "(100 // y)")
    theirs = duck(data, f"SELECT {select} FROM (SELECT *, {sql_value} AS v FROM t WHERE {predicate}){group}")
    assert_same(ours, theirs.cast(ours.schema))
    if len(keys) == 2 and predicate == "y > 40":
        pairs = set(zip(data["t"].column("k1").to_pylist(), data["t"].column("k2").to_pylist()))
        assert ours.num_rows < len(pairs)


@pytest.mark.parametrize("keys", [["k1"], []])
def test_fused_count_of_any_type_matches_duckdb(data, keys):
    steps = [{"op": "with_column", "name": "s", "expr": "cast(y as string)"},
             {"op": "filter", "expr": "x > 0"},
             {"op": "group_by", "keys": keys, "aggs": [
                 {"fn": "count", "column": "k2", "name": "c2"}, {"fn": "count", "column": "s", "name": "cs"},
                 {"fn": "count_all", "name": "n"}]}]
    if not keys:
        steps[-1] = {"op": "agg", "aggs": steps[-1]["aggs"]}
    assert "[fused" in explain_flightdeck(data, steps)
    ours = run_flightdeck(data, steps)
    select = ", ".join([*keys, "count(k2) AS c2, count(y) AS cs, count(*) AS n"])
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    assert_same(ours, duck(data, f"SELECT {select} FROM t WHERE x > 0{group}").cast(ours.schema))


def test_fused_aggregate_with_expression_key_matches_duckdb(data):
    steps = [{"op": "with_column", "name": "bucket", "expr": "k1 * 2 - 7"},
             {"op": "filter", "expr": "x < 0"},
             {"op": "group_by", "keys": ["bucket", "k2"], "aggs": FUSED_AGGS[:4] + FUSED_AGGS[-1:]}]
    assert "[fused" in explain_flightdeck(data, steps)
    ours = run_flightdeck(data, steps)
    theirs = duck(data, "SELECT k1 * 2 - 7 AS bucket, k2, sum(x) AS sx, sum(y) AS sy, avg(x) AS mx, "
                        "avg(y) AS my, count(*) AS n FROM t WHERE x < 0 GROUP BY bucket, k2")
    assert_same(ours, theirs.cast(ours.schema))


@pytest.mark.parametrize(
    "steps,message",
    [
        ([{"op": "filter", "expr": "nope > 1"}], "nope"),
        ([{"op": "filter", "expr": "x >"}], "position"),
        ([{"op": "with_column", "name": "q", "expr": "frob(x)"}], "unknown function 'frob'"),
        ([{"op": "filter", "expr": "k2 > 1"}], "Filter"),
        ([{"op": "join", "right": "r", "on": ["x"]}], "Join"),
    ],
)
def test_bad_input_is_a_clear_error(data, steps, message):
    proc = subprocess.run(
        [flightdeck_binary(), "frame-query", "--input", f"t={data['dir'] / 't.parquet'}",
         "--input", f"r={data['dir'] / 'r.parquet'}", "--plan", json.dumps({"steps": steps}),
         "--output", str(data["dir"] / "bad.arrow")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert message in proc.stderr
    assert not (data["dir"] / "bad.arrow").exists()


# Fused aggregates over Parquet read through ParquetColumnScan
# (parquet_column_scan.h): `column OP constant` conjuncts are evaluated on
# each column chunk's dictionary or decoded values, row groups are pruned by
# statistics, Snappy pages are decompressed by libsnappy. The same file is
# written in every layout the scan treats differently, and each answer must
# equal DuckDB's over that file.
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
# (filter, value, keys, columns the scan evaluates predicates on)
SCAN_CASES = [
    # Every comparison, on every type, both ways round; nulls in every column.
    ("i32 >= 10 and i32 < 60 and q between 0.2 and 0.5 and d < date '2024-02-01'", "x * q", [],
     "d, i32, q"),
    ("5 < i64 and x != 0.5 and f <= 7.5 and d > date '2023-12-20'", "x + i64", ["k"], "d, f, i64, x"),
    ("i32 = 42 and f > 1", "f * 2", ["k"], "f, i32"),
    # Statistics rule out most row groups.
    ("s > 10500 and s <= 11000", "s * 1.0", [], "s"),
    # A residual predicate (or) evaluated on materialized columns.
    ("(i32 = 7 or x > 90) and d >= date '2024-01-10'", "x", ["k"], "d"),
    # Nothing passes.
    ("i64 > 1000000", "x", [], "i64"),
    # Every row passes: no compaction, the predicate column is also summed.
    ("s >= 0", "q", ["k"], "s"),
]


@pytest.mark.parametrize("predicate,value,keys,columns", SCAN_CASES)
def test_parquet_column_scan_matches_duckdb(scan_file, predicate, value, keys, columns):
    steps = [{"op": "filter", "expr": predicate}, {"op": "with_column", "name": "v", "expr": value}]
    steps.append({"op": "group_by", "keys": keys, "aggs": SCAN_AGGS} if keys else {"op": "agg", "aggs": SCAN_AGGS})
    proc = subprocess.run(
        [flightdeck_binary(), "frame-query", "--input", f"t={scan_file['path']}", "--plan",
         json.dumps({"steps": steps}), "--output", str(scan_file["dir"] / "out.arrow"), "--explain"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"parquet-predicates=[{columns}]" in proc.stderr, proc.stderr
    with pa.memory_map(str(scan_file["dir"] / "out.arrow")) as source:
        ours = pa.ipc.open_file(source).read_all()
    select = ", ".join([*keys, SCAN_SQL])
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    theirs = scan_file["duck"].sql(
        f"SELECT {select} FROM (SELECT *, {value} AS v FROM t WHERE {predicate}){group}").to_arrow_table()
    assert_same(ours, theirs.cast(ours.schema))


def test_frame_query_repeat_reports_the_fastest_run(scan_file):
    plan = json.dumps({"steps": [{"op": "filter", "expr": "s < 100"},
                                 {"op": "agg", "aggs": [{"fn": "count_all", "name": "n"}]}]})
    args = [flightdeck_binary(), "frame-query", "--input", f"t={scan_file['path']}", "--plan", plan,
            "--output", str(scan_file["dir"] / "repeat.arrow")]
    proc = subprocess.run([*args, "--repeat", "3"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    reported = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(reported["runs"]) == 3 and reported["seconds"] == min(reported["runs"])
    assert reported["rows"] == 1
    proc = subprocess.run([*args, "--repeat", "0"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "--repeat" in proc.stderr
