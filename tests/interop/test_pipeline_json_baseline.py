"""The pipeline benchmark's JSON baseline (bench/pipeline_json_baseline.py)
stays runnable and right: a small run through a real dev server, its result
checked against Arrow compute on the same rows, and its generator's engine
against splitmix64's known output."""

import json
import subprocess
import sys

import pyarrow.compute as pc

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench" / "support"))
from orders_generator import SCHEMA, generate_orders, splitmix64  # noqa: E402


def test_engine_is_splitmix64():
    # The reference splitmix64.c (Vigna) seeded with 1234567 starts with these.
    assert splitmix64(1234567, 3).tolist() == [6457827717110365317, 3203168211198807973,
                                               9817491932198370423]


def test_first_rows_match_the_cpp_generator():
    # The same rows frame/generate_test.cc (GenerateTest.KnownFirstRows) pins.
    rows = generate_orders(3, seed=7).to_pylist()
    assert [(r["id"], r["customer"], r["amount"], r["category"]) for r in rows] == [
        (0, 34843, 389.82, "books"), (1, 72927, 900.76, "music"), (2, 41453, 452.44, "games")]
    shifted = generate_orders(3, seed=7, first_id=1000).to_pylist()
    assert [r["id"] for r in shifted] == [1000, 1001, 1002]
    assert [r["customer"] for r in shifted] == [34843, 72927, 41453]


def test_generated_orders_are_deterministic_with_nulls():
    table = generate_orders(5_000, seed=7)
    assert table.schema.equals(SCHEMA)
    assert table.equals(generate_orders(5_000, seed=7))
    assert not table.equals(generate_orders(5_000, seed=8))
    for column in ["amount", "category", "ts"]:
        assert 0 < table.column(column).null_count < 500, column  # about 5%
    assert pc.min(table.column("customer")).as_py() >= 1
    assert pc.max(table.column("customer")).as_py() <= 100_000
    assert pc.max(table.column("amount")).as_py() < 1000.0


def test_baseline_runs_and_reports_its_figures_last(shared_dev_server):
    _, address = shared_dev_server
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "pipeline_json_baseline.py"), "--rows", "5000",
         "--address", address, "--chunk-rows", "1000", "--partition-rows", "2000"],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["rows"] == 5000
    assert figures["json_rows_per_s"] > 0 and figures["seconds"] > 0
    assert figures["chunks"] == 5
    # The script checked its aggregate against Arrow's; here: it is the expected size.
    table = generate_orders(5000)
    kept = table.filter(pc.greater(table.column("amount"), 10.0))
    assert figures["rows_out"] == kept.num_rows
    assert sum(group["count"] for group in figures["aggregate"]) == kept.num_rows
    assert "checked against Arrow compute" in run.stdout
