"""`scripts/bench flight`: DoPut and DoGet throughput of `flightdeck node` on
loopback against a reference Flight server written with pyarrow.flight that
keeps tables in a dict, measured in the same run with the same client.

About 1 GB of mixed-type data (int64, float64 with nulls, utf8, timestamp,
bool, int32) in batches of 64K rows. Each server runs as its own process;
peak memory is its VmHWM over the bytes it holds. The two servers are
measured in alternating rounds (FLIGHT_BENCH_REPEATS, default 5) and the
median round counts. The last line is one JSON object of the figures.

DoPut is one stream. DoGet (`doget_gbps`, `ref_doget_gbps`) reads the data
set the way Flight lets a client parallelize a download: GetFlightInfo on a
command descriptor asking for FLIGHT_BENCH_STREAMS endpoints (default one
per core, so 2 on the 2-core bench machine), then each endpoint's ticket
fetched at the same time, one thread and one connection per endpoint. Both
servers answer with that many endpoints, each a contiguous share of the
same batches (the node's part tickets; the reference slices its table the
same way), and the same client code reads them; the clock runs from
GetFlightInfo to the last batch. Over one stream the loopback client is the
bottleneck (it copies every message out of gRPC's slices: ~0.5 s of client
CPU per GB against ~0.25-0.3 s in either server), so one stream cannot use
the second core. The single-stream figures (one DoGet of the whole ticket)
are reported too: `doget_single_gbps`, `ref_doget_single_gbps`, and the CPU
seconds per GB of client and server, which other load on the machine
disturbs less than wall time. Tried and left out, as they did not lower
the client's CPU per GB beyond the noise (session 3, machine load 7-10):
client channel arguments passed as FlightClient(generic_options=...),
grpc.http2.max_frame_size 16 MB, grpc.experimental.tcp_*read_chunk_size
4-16 MB, grpc.http2.lookahead_bytes 64 MB with grpc.http2.bdp_probe 0. No
channel argument can stop the copy: gRPC hands a multi-MB message over in
many slices (HTTP/2 frames, socket reads), and Arrow copies any message of
more than one slice into one buffer.
"""

import concurrent.futures
import ctypes
import json
import os
import re
import resource
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
STREAMS = int(os.environ.get("FLIGHT_BENCH_STREAMS", os.cpu_count() or 2))
TENANT = [(b"x-flightdeck-tenant", b"bench")]

REFERENCE_SERVER = r'''
import json
import sys
import pyarrow as pa
import pyarrow.flight as flight

class DictServer(flight.FlightServerBase):
    # TLS when REF_TLS_CERT and REF_TLS_KEY name PEM files (bench/flight-tls.py).
    def __init__(self):
        import os
        cert, key = os.environ.get("REF_TLS_CERT"), os.environ.get("REF_TLS_KEY")
        if cert:
            pair = (open(cert, "rb").read(), open(key, "rb").read())
            super().__init__("grpc+tls://127.0.0.1:0", tls_certificates=[pair])
            self.location = flight.Location.for_grpc_tls("127.0.0.1", self.port)
        else:
            super().__init__("grpc+tcp://127.0.0.1:0")
            self.location = flight.Location.for_grpc_tcp("127.0.0.1", self.port)
        self.tables = {}
    def do_put(self, context, descriptor, reader, writer):
        self.tables[b"/".join(descriptor.path)] = reader.read_all()
    def get_flight_info(self, context, descriptor):
        # {"tenant", "dataset", "partition", "endpoints": N}: N endpoints,
        # each a contiguous share of the table's batches, as the node does.
        spec = json.loads(descriptor.command)
        path = "/".join((spec["tenant"], spec["dataset"], spec["partition"])).encode()
        table, parts = self.tables[path], spec.get("endpoints", 1)
        endpoints = [flight.FlightEndpoint(path + b"|%d|%d" % (i, parts), [self.location])
                     for i in range(parts)]
        return flight.FlightInfo(table.schema, descriptor, endpoints, table.num_rows,
                                 table.nbytes)
    def do_get(self, context, ticket):
        path, _, part = ticket.ticket.partition(b"|")
        table = self.tables[path]
        if not part:
            return flight.RecordBatchStream(table)
        index, parts = map(int, part.split(b"|"))
        batches = table.to_batches()  # zero-copy: the chunks as put
        n = len(batches)
        share = batches[index * n // parts:(index + 1) * n // parts]
        return flight.RecordBatchStream(pa.Table.from_batches(share, table.schema))
    def do_action(self, context, action):
        self.tables.pop(action.body.to_pybytes(), None)
        return []

server = DictServer()
print(f"reference listening on {server.location.uri.decode()}", flush=True)
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


def start(args, pattern, env=None):
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**SERVER_ENV, **(env or {})})
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

    def __init__(self, name, location, ours, pid, connect_kwargs=None):
        """`connect_kwargs`: pyarrow.flight.connect's TLS arguments, if any."""
        connect_kwargs = connect_kwargs or {}
        self.name = name
        self.pid = pid
        # CPU seconds (client, server) spent per concurrent DoGet: unlike
        # wall time, little affected by other load on the machine.
        self.get_cpu, self.single_get_cpu, self.put_cpu = [], [], []
        self.client = flight.connect(location, **connect_kwargs)
        self.options = flight.FlightCallOptions(headers=TENANT if ours else [])
        self.ours = ours
        self.ticket = None
        self.puts, self.gets, self.single_gets = [], [], []
        # One connection per concurrent stream, made once, as a client would.
        self.stream_clients = [flight.connect(location, **connect_kwargs) for _ in range(STREAMS)]
        self.pool = concurrent.futures.ThreadPoolExecutor(STREAMS)
        for client in self.stream_clients:  # connect now, not in the first timed read
            client.wait_for_available(timeout=10)

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
        cpu_started = self.cpu()
        started = time.perf_counter()
        writer, reader = self.client.do_put(flight.FlightDescriptor.for_path(*path),
                                            batches[0].schema, options=self.options)
        for batch in batches:
            writer.write_batch(batch)
        writer.done_writing()
        metadata = reader.read()
        writer.close()
        self.puts.append(time.perf_counter() - started)
        self.put_cpu.append(tuple(b - a for a, b in zip(cpu_started, self.cpu())))
        self.ticket = (flight.Ticket(json.loads(metadata.to_pybytes())["ticket"].encode())
                       if self.ours else flight.Ticket("/".join(path).encode()))

        expected_rows = sum(b.num_rows for b in batches)
        cpu_started = self.cpu()
        started = time.perf_counter()
        rows = self.read(self.client, self.ticket)
        self.single_gets.append(time.perf_counter() - started)
        self.single_get_cpu.append(tuple(b - a for a, b in zip(cpu_started, self.cpu())))
        assert rows == expected_rows, (rows, self.name)

        cpu_started = self.cpu()
        started = time.perf_counter()
        command = json.dumps({"tenant": path[0], "dataset": path[1], "partition": path[2],
                              "endpoints": STREAMS}).encode()
        info = self.client.get_flight_info(flight.FlightDescriptor.for_command(command),
                                           options=self.options)
        assert len(info.endpoints) == STREAMS, (len(info.endpoints), self.name)
        rows = sum(self.pool.map(self.read, self.stream_clients,
                                 [endpoint.ticket for endpoint in info.endpoints]))
        self.gets.append(time.perf_counter() - started)
        self.get_cpu.append(tuple(b - a for a, b in zip(cpu_started, self.cpu())))
        assert rows == expected_rows, (rows, self.name)

    def cpu(self):
        """CPU seconds used so far by this client process and by the server."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        server = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return usage.ru_utime + usage.ru_stime, server

    def read(self, client, ticket):
        """Reads one DoGet stream to its end; its row count."""
        stream = client.do_get(ticket, options=self.options)
        rows = 0
        while True:
            try:
                chunk = stream.read_chunk()
            except StopIteration:
                return rows
            rows += chunk.data.num_rows

    def report(self, nbytes):
        # The median round: the machine is shared, so the best one is luck.
        doput = nbytes / statistics.median(self.puts) / 1e9
        doget = nbytes / statistics.median(self.gets) / 1e9
        single = nbytes / statistics.median(self.single_gets) / 1e9
        per_gb = lambda samples, i: statistics.median(x[i] for x in samples) / (nbytes / 1e9)
        client_cpu, server_cpu = per_gb(self.get_cpu, 0), per_gb(self.get_cpu, 1)
        print(f"{self.name:>10}: DoPut {doput:6.2f} GB/s   DoGet {doget:6.2f} GB/s over "
              f"{STREAMS} streams, {single:6.2f} GB/s over one   (median of {len(self.puts)}; "
              f"puts {', '.join(f'{t:.2f}s' for t in self.puts)}; "
              f"gets {', '.join(f'{t:.2f}s' for t in self.gets)}; "
              f"single gets {', '.join(f'{t:.2f}s' for t in self.single_gets)})\n"
              f"{'':>10}  DoGet CPU per GB over {STREAMS} streams: client {client_cpu:.2f} s, "
              f"server {server_cpu:.2f} s; over one: client {per_gb(self.single_get_cpu, 0):.2f} s, "
              f"server {per_gb(self.single_get_cpu, 1):.2f} s; DoPut server CPU per GB "
              f"{per_gb(self.put_cpu, 1):.2f} s",
              flush=True)
        self.pool.shutdown()
        for client in [self.client] + self.stream_clients:
            client.close()
        return doput, doget, single, server_cpu, per_gb(self.put_cpu, 1)


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
        ours = Target("flightdeck", node_location, ours=True, pid=node.pid)
        theirs = Target("reference", ref_location, ours=False, pid=ref.pid)
        # Alternate, so that both see the same background load. Peak memory
        # is taken after the first round: a fresh process holding the data
        # once (later rounds add what the allocators keep of dropped data).
        for repeat in range(REPEATS):
            ours.round(batches)
            theirs.round(batches)
            if repeat == 0:
                node_rss, ref_rss = peak_rss(node.pid), peak_rss(ref.pid)
        doput, doget, doget_single, doget_cpu, doput_cpu = ours.report(nbytes)
        ref_doput, ref_doget, ref_doget_single, ref_doget_cpu, ref_doput_cpu = theirs.report(nbytes)
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
        "doget_streams": STREAMS,
        "doget_single_gbps": round(doget_single, 3),
        "ref_doget_single_gbps": round(ref_doget_single, 3),
        "doget_single_ratio": round(doget_single / ref_doget_single, 3),
        "doget_server_cpu_s_per_gb": round(doget_cpu, 3),
        "ref_doget_server_cpu_s_per_gb": round(ref_doget_cpu, 3),
        "doput_server_cpu_s_per_gb": round(doput_cpu, 3),
        "ref_doput_server_cpu_s_per_gb": round(ref_doput_cpu, 3),
        "peak_rss_ratio": round(node_rss / nbytes, 3),
        "ref_peak_rss_ratio": round(ref_rss / nbytes, 3),
        "peak_rss_ratio_all_rounds": round(node_rss_all / nbytes, 3),
        "ref_peak_rss_ratio_all_rounds": round(ref_rss_all / nbytes, 3),
        "load_average": round(os.getloadavg()[0], 2),
        "bytes": nbytes,
        "rows": rows,
    }
    print(f"ratios: DoPut {figures['doput_ratio']:.2f}x, DoGet {figures['doget_ratio']:.2f}x "
          f"({figures['doget_single_ratio']:.2f}x over one stream) the reference; peak RSS {figures['peak_rss_ratio']:.2f}x the data held "
          f"(reference {figures['ref_peak_rss_ratio']:.2f}x)")
    print(f"load average (1 min) at the end: {figures['load_average']:.2f} on {os.cpu_count()} cores")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
