# Shared by the scripts in this folder: paths, pins and small helpers.
# Sourced, never run.

FD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FD_BUILD="${FLIGHTDECK_BUILD_DIR:-$FD_ROOT/build}"
FD_VENV="$FD_ROOT/.venv"
FD_CACHE="${FLIGHTDECK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/flightdeck}"

# The Temporal API protos come from this npm package (sdk-core vendors the
# upstream api repository). Bump both together with the proto layout check in
# scripts/fetch-temporal-protos.
FD_PROTO_PACKAGE="@temporalio/core-bridge"
FD_PROTO_VERSION="1.24.0"
FD_PROTO_DIR="$FD_CACHE/temporal-protos-$FD_PROTO_VERSION"

fd_say() { printf 'flightdeck: %s\n' "$*" >&2; }
fd_die() { printf 'flightdeck: error: %s\n' "$*" >&2; exit 1; }

# Runs "$@" with its output in a log file; shows the log's tail on failure.
fd_quiet() {
  local log="$1"; shift
  mkdir -p "$(dirname "$log")"
  if ! "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    fd_die "'$*' failed (full log: $log)"
  fi
}

# The frame layer's engine: DuckDB's shared library from a pinned npm package
# (it exports the ADBC driver entry point duckdb_adbc_init), and Arrow's ADBC
# header from a pinned PyPI package. scripts/fetch-duckdb caches both; the
# build compiles against the header and the binaries dlopen the library.
FD_DUCKDB_PACKAGE="@duckdb/node-bindings-linux-x64"
FD_DUCKDB_VERSION="1.5.6-r.1"
FD_DUCKDB_DIR="$FD_CACHE/duckdb-$FD_DUCKDB_VERSION"
FD_ADBC_PACKAGE="adbc-driver-manager"
FD_ADBC_VERSION="1.13.0"
FD_ADBC_DIR="$FD_CACHE/adbc-$FD_ADBC_VERSION"

# The trace backend the tracing tests send to: Jaeger v2 (one binary with an
# OTLP receiver and the query API), built once from the Go module proxy by
# scripts/fetch-jaeger and cached here.
FD_JAEGER_MODULE="github.com/jaegertracing/jaeger"
FD_JAEGER_VERSION="v1.75.0"
FD_JAEGER_DIR="$FD_CACHE/jaeger-$FD_JAEGER_VERSION"
FD_JAEGER_BIN="$FD_JAEGER_DIR/jaeger"
