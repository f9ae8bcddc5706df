"""lineitem of TPC-H split into files by l_orderkey range, for
`scripts/bench pipeline-tpch` (bench/pipeline_tpch.py).

The tables come from bench/support/tpch_data.py (`ensure_data`, DuckDB's
dbgen, build/bench-data/tpch-sf<SF>/<table>.parquet). This module writes

    build/bench-data/tpch-sf<SF>-lineitem-<N>/lineitem-<i>.parquet   i = 0..N-1

file i holding the lineitem rows with l_orderkey in [bound_i, bound_i+1)
(bounds at the l_orderkey quantiles, so the files hold about as many rows
each; dbgen writes lineitem ordered by l_orderkey, so every file keeps that
order and a row group's l_orderkey min/max are tight). Each file is written
to a temporary name and renamed into place; a folder whose `.complete`
marker exists is reused as it is. Run with the venv's DuckDB, one COPY per
file with a range filter that the Parquet row group statistics turn into a
read of only that range: memory stays at a few row groups whatever the scale
factor.

    python bench/support/tpch_split.py --sf 1 [--files 8]
"""

import argparse
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import tpch_data  # noqa: E402  (the other tables, and the folder layout)


def split_dir(sf: float, files: int) -> pathlib.Path:
    return tpch_data.build_dir() / "bench-data" / f"tpch-sf{tpch_data.sf_name(sf)}-lineitem-{files}"


def split_files(sf: float, files: int) -> list:
    folder = split_dir(sf, files)
    return [folder / f"lineitem-{i}.parquet" for i in range(files)]


def split_glob(sf: float, files: int) -> str:
    return str(split_dir(sf, files) / "lineitem-*.parquet")


def ensure_split(sf: float, files: int = 8, log=print) -> list:
    """The paths of the `files` lineitem files of scale factor `sf`
    (generating the tables and splitting lineitem on first use)."""
    folder = split_dir(sf, files)
    marker = folder / ".complete"
    if marker.exists():
        return split_files(sf, files)
    paths = tpch_data.ensure_data(sf, log=log)
    import duckdb  # the venv's

    with tpch_data._locked(folder.parent / f".{folder.name}.lock"):
        if marker.exists():
            return split_files(sf, files)
        folder.mkdir(parents=True, exist_ok=True)
        source = str(paths["lineitem"]).replace("'", "''")
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        # Bounds at the quantiles of l_orderkey (approximate is fine: only
        # the balance of the files depends on them).
        cuts = con.execute(
            f"SELECT quantile_disc(l_orderkey, [{', '.join(str(i / files) for i in range(1, files))}])"
            f" FROM read_parquet('{source}')").fetchall()[0][0] if files > 1 else []
        bounds = [None, *cuts, None]
        log(f"splitting {paths['lineitem']} into {files} files by l_orderkey range in {folder} ...")
        total = 0
        for i in range(files):
            final = folder / f"lineitem-{i}.parquet"
            low, high = bounds[i], bounds[i + 1]
            where = []
            if low is not None:
                where.append(f"l_orderkey >= {low}")
            if high is not None:
                where.append(f"l_orderkey < {high}")
            condition = " AND ".join(where) or "true"
            if not final.exists():
                tmp = folder / f".lineitem-{i}.parquet.tmp-{os.getpid()}"
                con.execute(f"COPY (SELECT * FROM read_parquet('{source}') WHERE {condition}) "
                            f"TO '{tmp}' (FORMAT parquet)")
                tmp.rename(final)
            rows = con.execute(f"SELECT count(*) FROM read_parquet('{final}')").fetchall()[0][0]
            total += rows
            log(f"  lineitem-{i}.parquet: {rows:,} rows ({condition})")
        expected = con.execute(f"SELECT count(*) FROM read_parquet('{source}')").fetchall()[0][0]
        if total != expected:
            raise RuntimeError(f"the split holds {total} rows, lineitem {expected}")
        marker.write_text(f"{files} files, {total} rows\n")
        con.close()
    return split_files(sf, files)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=1)
    parser.add_argument("--files", type=int, default=8)
    args = parser.parse_args()
    for path in ensure_split(args.sf, args.files):
        print(path)


if __name__ == "__main__":
    main()
