"""`scripts/bench flight`: DoPut and DoGet throughput of `flightdeck node` on
loopback against a reference Flight server written with pyarrow.flight that
keeps tables in a dict, measured in the same run with the same client.

About 1 GB of mixed-type data (int64, float64 with nulls, utf8, timestamp,
bool, int32) in batches of 64K rows. Each server runs as its own process;
peak memory is its VmHWM over the bytes it holds. The two servers are
measured in alternating rounds (FLIGHT_BENCH_REPEATS, default 5) and the
median round counts. The last line is one JSON object of the figures.
"""

import ctypes
import json
import os
import re
import select
import statistics
import subprocess
import sys
import time

# The servers run with the environment we were given.
SERVER_ENV = dict(os.environ)


def tune_client_allocator():
    """The client is the bottleneck of DoGet on loopback (profiled: the node
    spends ~0.25 of a core, mostly in the kernel's socket copy; the client
    copies every message out of gRPC's slices into a fresh buffer and, with
    mimalloc or glibc's default thresholds, page-faults that memory in again
    for every 2-6 MB batch). Keep freed memory in the client's heap: glibc
    malloc for Arrow buffers, no mmap per large block, no trimming. Both
    servers are measured with this same client, so the ratio stays fair."""
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"  # read when pyarrow loads
    try:
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        libc.mallopt(M_MMAP_THRESHOLD, 64 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
    except OSError:
        pass  # not glibc: measure with the defaults


tune_client_allocator()

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.flight as flight  # noqa: E402

TARGET_BYTES = int(os.environ.get("FLIGHT_BENCH_BYTES", 1 << 30))
BATCH_ROWS = 64 * 1024
DISTINCT_BATCHES = 16
REPEATS = int(os.environ.get("FLIGHT_BENCH_REPEATS", 5))
TENANT = [(b"x-flightdeck-tenant", b"bench")]

REFERENCE_SERVER = r'''
import sys
import pyarrow.flight as flight

class DictServer(flight.FlightServerBase):
    def __init__(self):
        super().__init__("grpc+tcp://127.0.0.1:0")
        self.tables = {}
    def do_put(self, context, descriptor, reader, writer):
        self.tables[b"/".join(descriptor.path)] = reader.read_all()
    def do_get(self, context, ticket):
        return flight.RecordBatchStream(self.tables[ticket.ticket])
    def do_action(self, context, action):
        self.tables.pop(action.body.to_pybytes(), None)
        return []

server = DictServer()
print(f"reference listening on grpc+tcp://127.0.0.1:{server.port}", flush=True)
server.serve()
'''


def make_batches():
    batches = []
    for b in range(DISTINCT_BATCHES):
        ids = pa.array(range(b * BATCH_ROWS, (b + 1) * BATCH_ROWS), type=pa.int64())
        nulls = pc.equal(pc.bit_wise_and(ids, pa.scalar(15, pa.int64())), 0)
        batches.append(pa.record_batch({
            "id": ids,
            "amount": pc.if_else(nulls, None, pc.divide(pc.cast(ids, pa.float64()), 7.0)),
            "category": pc.binary_join_element_wise(
                "cat-", pc.cast(pc.bit_wise_and(ids, pa.scalar(255, pa.int64())), pa.string()), ""),
            "ts": pc.cast(pc.multiply(ids, 1_000_000), pa.timestamp("us", tz="UTC")),
            "flag": pc.equal(pc.bit_wise_and(ids, pa.scalar(1, pa.int64())), 0),
            "qty": pc.cast(pc.bit_wise_and(ids, pa.scalar(1023, pa.int64())), pa.int32()),
        }))
    per_batch = sum(b.nbytes for b in batches) / len(batches)
    count = max(1, int(TARGET_BYTES / per_batch))
    return [batches[i % DISTINCT_BATCHES] for i in range(count)]


def start(args, pattern):
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=SERVER_ENV)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            match = re.search(pattern, proc.stdout.readline())
            if match:
                return proc, match.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    sys.exit(f"{args} did not start")


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class Target:
    """One server under test and the timings measured against it."""

    def __init__(self, name, location, ours):
        self.name = name
        self.client = flight.connect(location)
        self.options = flight.FlightCallOptions(headers=TENANT if ours else [])
        self.ours = ours
        self.ticket = None
        self.puts, self.gets = [], []

    def drop(self):
        if self.ticket is None:
            return
        body = (json.dumps({"ticket": self.ticket.ticket.decode()}).encode() if self.ours
                else self.ticket.ticket)
        list(self.client.do_action(flight.Action("drop", body), options=self.options))

    def round(self, batches):
        # Drop the previous copy so each put starts from an empty server.
        self.drop()
        path = ("bench", "mixed", "0")
        started = time.perf_counter()
        writer, reader = self.client.do_put(flight.FlightDescriptor.for_path(*path),
                                            batches[0].schema, options=self.options)
        for batch in batches:
            writer.write_batch(batch)
        writer.done_writing()
        metadata = reader.read()
        writer.close()
        self.puts.append(time.perf_counter() - started)
        self.ticket = (flight.Ticket(json.loads(metadata.to_pybytes())["ticket"].encode())
                       if self.ours else flight.Ticket("/".join(path).encode()))

        started = time.perf_counter()
        stream = self.client.do_get(self.ticket, options=self.options)
        rows = 0
        while True:
            try:
                chunk = stream.read_chunk()
            except StopIteration:
                break
            rows += chunk.data.num_rows
        self.gets.append(time.perf_counter() - started)
        assert rows == sum(b.num_rows for b in batches), (rows, self.name)

    def report(self, nbytes):
        # The median round: the machine is shared, so the best one is luck.
        doput = nbytes / statistics.median(self.puts) / 1e9
        doget = nbytes / statistics.median(self.gets) / 1e9
        print(f"{self.name:>10}: DoPut {doput:6.2f} GB/s   DoGet {doget:6.2f} GB/s   "
              f"(median of {len(self.puts)}; puts {', '.join(f'{t:.2f}s' for t in self.puts)}; "
              f"gets {', '.join(f'{t:.2f}s' for t in self.gets)})", flush=True)
        self.client.close()
        return doput, doget


def main():
    binary = os.environ.get("FLIGHTDECK_BINARY", "build/src/flightdeck/flightdeck")
    if not os.access(binary, os.X_OK):
        # The CLI target lives in src/flightdeck/cli/ of the build tree.
        build = os.environ.get("FLIGHTDECK_BUILD_DIR", "build")
        binary = os.path.join(build, "src", "flightdeck", "cli", "flightdeck")
    batches = make_batches()
    nbytes = sum(b.nbytes for b in batches)
    rows = sum(b.num_rows for b in batches)
    print(f"data: {rows:,} rows, {nbytes / 1e9:.2f} GB in {len(batches)} batches of "
          f"{BATCH_ROWS} rows, {len(batches[0].schema)} mixed-type columns", flush=True)

    node, node_location = start([binary, "node", "--port", "0", "--memory-budget", "6GB"],
                                r"listening on (grpc\+tcp://\S+)")
    ref, ref_location = start([sys.executable, "-c", REFERENCE_SERVER],
                              r"listening on (grpc\+tcp://\S+)")
    try:
        ours = Target("flightdeck", node_location, ours=True)
        theirs = Target("reference", ref_location, ours=False)
        # Alternate, so that both see the same background load. Peak memory
        # is taken after the first round: a fresh process holding the data
        # once (later rounds add what the allocators keep of dropped data).
        for repeat in range(REPEATS):
            ours.round(batches)
            theirs.round(batches)
            if repeat == 0:
                node_rss, ref_rss = peak_rss(node.pid), peak_rss(ref.pid)
        doput, doget = ours.report(nbytes)
        ref_doput, ref_doget = theirs.report(nbytes)
        node_rss_all, ref_rss_all = peak_rss(node.pid), peak_rss(ref.pid)
    finally:
        for proc in (node, ref):
            proc.kill()
            proc.wait()

    figures = {
        "doput_gbps": round(doput, 3),
        "doget_gbps": round(doget, 3),
        "ref_doput_gbps": round(ref_doput, 3),
        "ref_doget_gbps": round(ref_doget, 3),
        "doput_ratio": round(doput / ref_doput, 3),
        "doget_ratio": round(doget / ref_doget, 3),
        "peak_rss_ratio": round(node_rss / nbytes, 3),
        "ref_peak_rss_ratio": round(ref_rss / nbytes, 3),
        "peak_rss_ratio_all_rounds": round(node_rss_all / nbytes, 3),
        "ref_peak_rss_ratio_all_rounds": round(ref_rss_all / nbytes, 3),
        "bytes": nbytes,
        "rows": rows,
    }
    print(f"ratios: DoPut {figures['doput_ratio']:.2f}x, DoGet {figures['doget_ratio']:.2f}x the "
          f"reference; peak RSS {figures['peak_rss_ratio']:.2f}x the data held "
          f"(reference {figures['ref_peak_rss_ratio']:.2f}x)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
