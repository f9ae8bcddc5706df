"""TPC-H at scale factor 0.1: each of the 22 queries of bench/tpch/, written
as a DataFrame plan, run by `flightdeck frame-query` must give DuckDB's
answer to the query's SQL (bench/tpch/qNN.sql) over the same Parquet files
(the check of bench/support/tpch_check.py: same columns by position, same
rows in ORDER BY order, numbers to 1e-6 relative). The data is generated
once by DuckDB's dbgen (bench/support/tpch_data.py) and cached under
build/bench-data/tpch-sf0.1/."""

import sys

import pytest

from conftest import ROOT, flightdeck_binary

sys.path.insert(0, str(ROOT / "bench" / "support"))
import tpch_check  # noqa: E402
import tpch_data  # noqa: E402

SCALE_FACTOR = 0.1


@pytest.fixture(scope="session")
def tpch_tables():
    """{table: Parquet path} of TPC-H SF 0.1 (generated on first use)."""
    return tpch_data.ensure_data(SCALE_FACTOR, log=lambda line: print(line, file=sys.stderr))


@pytest.fixture(scope="session")
def reference(tpch_tables):
    """A DuckDB connection (the venv's) with a view per table."""
    con = tpch_check.reference_connection(tpch_tables)
    yield con
    con.close()


def test_every_query_has_a_plan_and_its_sql():
    assert [p.stem for p in sorted(tpch_check.QUERIES_DIR.glob("q*.json"))] == tpch_check.QUERIES
    assert [p.stem for p in sorted(tpch_check.QUERIES_DIR.glob("q*.sql"))] == tpch_check.QUERIES


@pytest.mark.parametrize("query", tpch_check.QUERIES)
def test_plan_answer_equals_duckdb(query, tpch_tables, reference, tmp_path):
    out = tmp_path / f"{query}.parquet"
    report, _, _ = tpch_check.run_frame_query(
        tpch_check.frame_query_args(flightdeck_binary(), tpch_tables, query, output=out), timeout=120)
    ours = tpch_check.read_answer(out)
    assert report["rows"] == ours.num_rows
    expected = tpch_check.reference_answer(reference, query)
    assert expected.num_rows > 0, f"{query}: the reference answer is empty; the data is wrong"
    problems = tpch_check.compare(ours, expected, tpch_check.sql_text(query))
    assert not problems, f"{query}: " + "; ".join(problems)


def test_checker_accepts_ties_in_any_order_and_rejects_wrong_order():
    import pyarrow as pa

    sql = "SELECT k, v FROM t ORDER BY k DESC"
    reference_table = pa.table({"k": [2, 1, 1], "v": [0.5, 1.0, 2.0]})
    tied = pa.table({"k": [2, 1, 1], "v": [0.5, 2.0, 1.0 + 1e-9]})
    assert tpch_check.compare(tied, reference_table, sql) == []
    unsorted = pa.table({"k": [1, 2, 1], "v": [1.0, 0.5, 2.0]})
    assert tpch_check.compare(unsorted, reference_table, sql)
    wrong = pa.table({"k": [2, 1, 1], "v": [0.5, 1.0, 2.1]})
    assert tpch_check.compare(wrong, reference_table, sql)
    assert tpch_check.compare(pa.table({"k": [2, 1]}), reference_table, sql)
