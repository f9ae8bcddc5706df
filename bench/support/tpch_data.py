"""TPC-H data for `scripts/bench tpch` and tests/interop/test_tpch.py.

The data comes from DuckDB's own dbgen (the `tpch` extension). The venv's
DuckDB (2.x) has no tpch extension package on PyPI, so this module installs
the newest pair that exists there, `duckdb==TPCH_DUCKDB_VERSION` and
`duckdb-extension-tpch==TPCH_DUCKDB_VERSION`, with
`pip install --target` into the user cache:

    ${FLIGHTDECK_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/flightdeck}/duckdb-tpch-<version>/

(the same cache folder scripts/lib.sh uses; installed once, into a temporary
folder renamed into place, so an interrupted install leaves nothing half
done). That wheel ships the extension as a file,
`duckdb_extension_tpch/extensions/v<version>/tpch.duckdb_extension`, which a
child Python (PYTHONPATH pointing at the cache folder, so that it imports
that DuckDB and not the venv's) LOADs by path. The child runs
`CALL dbgen(sf=SF)` into a temporary database file (bounded memory) and COPYs the 8 tables to
`<build>/bench-data/tpch-sf<SF>/<table>.parquet`, each to a temporary name
renamed into place when complete. Present files are reused; nothing here is
ever committed.

    python bench/support/tpch_data.py --sf 0.1          # generate (or find) the data
    python bench/support/tpch_data.py --dump-queries DIR # write q01.sql .. q22.sql
"""

import argparse
import contextlib
import fcntl
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

TPCH_DUCKDB_VERSION = "1.5.5"
TABLES = ("lineitem", "orders", "customer", "part", "partsupp", "supplier", "nation", "region")

ROOT = pathlib.Path(__file__).resolve().parents[2]


def cache_dir() -> pathlib.Path:
    explicit = os.environ.get("FLIGHTDECK_CACHE_DIR")
    if explicit:
        return pathlib.Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(pathlib.Path.home() / ".cache")
    return pathlib.Path(xdg) / "flightdeck"


def build_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("FLIGHTDECK_BUILD_DIR") or ROOT / "build")


def sf_name(sf: float) -> str:
    """1 -> "1", 0.1 -> "0.1" (the folder suffix)."""
    return f"{sf:g}"


def data_dir(sf: float) -> pathlib.Path:
    return build_dir() / "bench-data" / f"tpch-sf{sf_name(sf)}"


def table_paths(sf: float) -> dict:
    """{table: path of its Parquet file} (whether or not generated yet)."""
    return {table: data_dir(sf) / f"{table}.parquet" for table in TABLES}


@contextlib.contextmanager
def _locked(path: pathlib.Path):
    """An exclusive lock on `path` (a bench and a test run may start
    together; the second one waits and then finds everything in place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _install_dir() -> pathlib.Path:
    return cache_dir() / f"duckdb-tpch-{TPCH_DUCKDB_VERSION}"


def extension_file(install: pathlib.Path) -> pathlib.Path:
    return (install / "duckdb_extension_tpch" / "extensions" / f"v{TPCH_DUCKDB_VERSION}"
            / "tpch.duckdb_extension")


def ensure_tpch_duckdb(log=print) -> pathlib.Path:
    """The folder holding duckdb==TPCH_DUCKDB_VERSION and its tpch extension
    (installed with pip on first use; quiet when present)."""
    install = _install_dir()
    marker = install / ".complete"
    if marker.exists():
        return install
    with _locked(cache_dir() / f".duckdb-tpch-{TPCH_DUCKDB_VERSION}.lock"):
        if marker.exists():
            return install
        log(f"installing duckdb=={TPCH_DUCKDB_VERSION} and duckdb-extension-tpch=={TPCH_DUCKDB_VERSION}"
            f" into {install} ...")
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".duckdb-tpch-{TPCH_DUCKDB_VERSION}.", dir=cache_dir()))
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 "--no-input", "--target", str(tmp),
                 f"duckdb=={TPCH_DUCKDB_VERSION}", f"duckdb-extension-tpch=={TPCH_DUCKDB_VERSION}"],
                capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"pip install of the tpch DuckDB failed:\n{proc.stdout}{proc.stderr}")
            if not extension_file(tmp).exists():
                raise RuntimeError(f"the tpch wheel has no {extension_file(tmp).relative_to(tmp)}")
            (tmp / ".complete").write_text(f"duckdb {TPCH_DUCKDB_VERSION} + duckdb-extension-tpch\n")
            tmp.chmod(0o755)  # mkdtemp made it private
            if install.exists():  # a half-finished folder from an older layout
                shutil.rmtree(install)
            tmp.rename(install)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return install


# The child program, run with the cached DuckDB (not the venv's). argv:
# extension file, scale factor, "data" or "queries", the output folder, the
# DuckDB version it must be, then (for "data") the tables to write.
_CHILD = r"""
import os, pathlib, sys
import duckdb
extension, sf, what, out = sys.argv[1], float(sys.argv[2]), sys.argv[3], pathlib.Path(sys.argv[4])
assert duckdb.__version__ == sys.argv[5], (duckdb.__version__, duckdb.__file__)
# dbgen writes its tables into a database file, not memory: in memory SF 10
# peaks near 20 GB; on disk the memory limit holds and the engine spills.
database = out / f".dbgen-{os.getpid()}.duckdb" if what == "data" else None
con = duckdb.connect(str(database) if database else ":memory:")
con.execute("SET enable_progress_bar = false")
if database:
    con.execute("SET memory_limit = '6GB'")
con.execute("LOAD '" + extension.replace("'", "''") + "'")
if what == "queries":
    for nr, query in con.execute("SELECT query_nr, query FROM tpch_queries() ORDER BY query_nr").fetchall():
        (out / f"q{nr:02d}.sql").write_text(query)
    sys.exit(0)
con.execute(f"CALL dbgen(sf={sf})")
for table in sys.argv[6:]:
    final = out / f"{table}.parquet"
    if final.exists():
        continue
    tmp = out / f".{table}.parquet.tmp-{os.getpid()}"
    con.execute(f"COPY {table} TO '{tmp}' (FORMAT parquet)")
    tmp.rename(final)
    print(f"  {table}: {con.execute(f'SELECT count(*) FROM {table}').fetchone()[0]:,} rows", flush=True)
con.close()
for leftover in (database, pathlib.Path(str(database) + ".wal")) if database else ():
    if leftover.exists():
        leftover.unlink()
"""


def _run_child(install: pathlib.Path, sf: float, what: str, out: pathlib.Path, tables=()):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(install)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(extension_file(install)), repr(float(sf)), what, str(out),
         TPCH_DUCKDB_VERSION, *tables],
        env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"tpch {what} with duckdb {TPCH_DUCKDB_VERSION} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def ensure_data(sf: float, log=print) -> dict:
    """{table: Parquet path} of TPC-H at scale factor `sf`, generated on first use."""
    paths = table_paths(sf)
    if all(p.exists() for p in paths.values()):
        return paths
    out = data_dir(sf)
    with _locked(out.parent / f".tpch-sf{sf_name(sf)}.lock"):
        missing = [t for t, p in paths.items() if not p.exists()]
        if not missing:
            return paths
        install = ensure_tpch_duckdb(log)
        out.mkdir(parents=True, exist_ok=True)
        log(f"generating TPC-H SF {sf_name(sf)} with dbgen (duckdb {TPCH_DUCKDB_VERSION}) into {out} ...")
        printed = _run_child(install, sf, "data", out, missing)
        if printed.strip():
            log(printed.rstrip())
    return paths


def dump_queries(out: pathlib.Path, log=print) -> None:
    """Writes tpch_queries() of the tpch extension as q01.sql .. q22.sql."""
    out.mkdir(parents=True, exist_ok=True)
    _run_child(ensure_tpch_duckdb(log), 1, "queries", out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=None)
    parser.add_argument("--dump-queries", type=pathlib.Path, default=None)
    args = parser.parse_args()
    if args.dump_queries:
        dump_queries(args.dump_queries)
    if args.sf is not None:
        for table, path in ensure_data(args.sf).items():
            print(f"{table}\t{path}")


if __name__ == "__main__":
    main()
