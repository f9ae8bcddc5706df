"""pyarrow.flight against `flightdeck node`: every RPC of the data node,
tenants, error paths, a client dying mid-put, restarts on a data dir."""

import concurrent.futures
import json
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest
from conftest import flightdeck_binary
from google.rpc import code_pb2, status_pb2

TENANT = b"x-flightdeck-tenant"


def as_tenant(name: str) -> flight.FlightCallOptions:
    return flight.FlightCallOptions(headers=[(TENANT, name.encode())])


def table(rows: int, offset: int = 0) -> pa.Table:
    ids = pa.array(range(offset, offset + rows), type=pa.int64())
    return pa.table({
        "id": ids,
        "amount": pa.array([i * 0.5 for i in range(offset, offset + rows)]),
        "name": pa.array([f"n{i}" if i % 5 else None for i in range(offset, offset + rows)]),
    })


def put(client, descriptor, data, tenant="acme", chunk=1000):
    writer, reader = client.do_put(descriptor, data.schema, options=as_tenant(tenant))
    writer.write_table(data, max_chunksize=chunk)
    writer.done_writing()
    metadata = reader.read()
    writer.close()  # raises the server's error, if any
    return json.loads(metadata.to_pybytes())


def action(client, name, body=b"", tenant="acme"):
    results = list(client.do_action(flight.Action(name, body), options=as_tenant(tenant)))
    assert len(results) == 1
    return json.loads(results[0].body.to_pybytes())


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_put_summary_info_schema_get_with_tenants(data_node):
    client = flight.connect(data_node)
    data = table(5000)
    descriptor = flight.FlightDescriptor.for_path("acme", "orders", "0")
    summary = put(client, descriptor, data)
    assert summary["rows"] == 5000
    assert summary["checksum"].startswith("xxh3:")
    assert summary["schema_fingerprint"]
    assert summary["durable"] is False

    info = client.get_flight_info(descriptor, options=as_tenant("acme"))
    assert info.total_records == 5000
    assert info.total_bytes == summary["bytes"]
    assert info.endpoints[0].ticket.ticket == summary["ticket"].encode()
    assert client.get_schema(descriptor, options=as_tenant("acme")).schema == data.schema
    got = client.do_get(info.endpoints[0].ticket, options=as_tenant("acme")).read_all()
    assert got.equals(data)

    # Another tenant, or no tenant header ("default"), sees nothing.
    for options in (as_tenant("globex"), flight.FlightCallOptions()):
        with pytest.raises(KeyError, match="no dataset for this ticket"):
            client.do_get(info.endpoints[0].ticket, options=options).read_all()
        with pytest.raises(KeyError):
            client.get_flight_info(descriptor, options=options)
        assert list(client.list_flights(options=options)) == []
    client.close()


def test_command_descriptor_put_and_list_by_prefix(data_node):
    client = flight.connect(data_node)
    for partition in ("0", "1"):
        cmd = json.dumps({"tenant": "acme", "dataset": "orders", "partition": partition})
        put(client, flight.FlightDescriptor.for_command(cmd.encode()), table(10))
    put(client, flight.FlightDescriptor.for_path("acme", "users", "0"), table(10))
    listed = client.list_flights(b"acme/orders/", options=as_tenant("acme"))
    assert sorted(b"/".join(i.descriptor.path).decode() for i in listed) == [
        "acme/orders/0", "acme/orders/1"]
    assert len(list(client.list_flights(options=as_tenant("acme")))) == 3
    client.close()


def test_flight_info_with_several_endpoints_read_concurrently(data_node):
    """The parallel download pattern: GetFlightInfo asks for N endpoints, a
    client fetches them at once over its own connections and concatenates
    them in order."""
    client = flight.connect(data_node)
    data = table(10_000)
    summary = put(client, flight.FlightDescriptor.for_path("acme", "orders", "0"), data)
    command = {"tenant": "acme", "dataset": "orders", "partition": "0", "endpoints": 3}
    info = client.get_flight_info(flight.FlightDescriptor.for_command(json.dumps(command).encode()),
                                  options=as_tenant("acme"))
    assert info.total_records == 10_000
    assert len(info.endpoints) == 3
    assert len({e.ticket.ticket for e in info.endpoints}) == 3
    assert all(e.ticket.ticket.startswith(summary["ticket"].encode()) for e in info.endpoints)

    def fetch(endpoint):
        with flight.connect(endpoint.locations[0]) as own:
            return own.do_get(endpoint.ticket, options=as_tenant("acme")).read_all()

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        parts = list(pool.map(fetch, info.endpoints))
    assert [p.num_rows for p in parts] == [3000, 3000, 4000]  # batches [10i/3, 10(i+1)/3) of 10
    assert pa.concat_tables(parts).equals(data)
    # A part ticket is the caller's tenant's only, and not an action's ticket.
    with pytest.raises(KeyError, match="no dataset for this ticket"):
        client.do_get(info.endpoints[1].ticket, options=as_tenant("globex")).read_all()
    body = json.dumps({"ticket": info.endpoints[1].ticket.ticket.decode()}).encode()
    with pytest.raises(KeyError, match="no dataset for this ticket"):
        action(client, "drop", body)
    assert action(client, "stats")["datasets"] == 1
    client.close()


@pytest.mark.parametrize("endpoints", [0, 65, 2.5, "2"])
def test_bad_endpoint_counts_are_invalid_argument(data_node, endpoints):
    client = flight.connect(data_node)
    put(client, flight.FlightDescriptor.for_path("acme", "orders", "0"), table(10))
    command = {"tenant": "acme", "dataset": "orders", "partition": "0", "endpoints": endpoints}
    with pytest.raises(pa.ArrowInvalid, match="'endpoints' must be a whole number from 1 to 64"):
        client.get_flight_info(flight.FlightDescriptor.for_command(json.dumps(command).encode()),
                               options=as_tenant("acme"))
    client.close()


@pytest.mark.parametrize("descriptor, message", [
    (flight.FlightDescriptor.for_path("acme", "orders"), "3 elements"),
    (flight.FlightDescriptor.for_path("acme", "orders", "0", "x"), "3 elements"),
    (flight.FlightDescriptor.for_command(b"not json"), "JSON object"),
    (flight.FlightDescriptor.for_command(b'{"tenant": "acme", "dataset": "d"}'), "lacks 'partition'"),
    (flight.FlightDescriptor.for_command(
        b'{"tenant": "acme", "dataset": "d", "partition": "0", "bogus": 1}'), "unknown field 'bogus'"),
    (flight.FlightDescriptor.for_path("ac me", "d", "0"), "tenant 'ac me'"),
])
def test_malformed_descriptors_are_invalid_argument(data_node, descriptor, message):
    client = flight.connect(data_node)
    with pytest.raises(pa.ArrowInvalid, match=message):
        put(client, descriptor, table(3))
    with pytest.raises(pa.ArrowInvalid):
        client.get_flight_info(descriptor, options=as_tenant("acme"))
    assert action(client, "stats")["datasets"] == 0
    client.close()


def test_put_into_another_tenant_is_permission_denied(data_node):
    client = flight.connect(data_node)
    with pytest.raises(flight.FlightUnauthorizedError, match="cannot put"):
        put(client, flight.FlightDescriptor.for_path("acme", "d", "0"), table(3), tenant="globex")
    with pytest.raises(pa.ArrowInvalid, match="x-flightdeck-tenant"):
        client.list_flights(options=as_tenant("bad tenant!")).__next__()
    client.close()


def test_unknown_and_malformed_tickets_are_not_found_alike(data_node):
    client = flight.connect(data_node)
    messages = []
    for ticket in (b"", b"garbage", b"fdt1:acme:" + b"0" * 32, b"fdt1:acme:zz"):
        with pytest.raises(KeyError) as raised:
            client.do_get(flight.Ticket(ticket), options=as_tenant("acme")).read_all()
        messages.append(str(raised.value).split(". Detail")[0])
    assert len(set(messages)) == 1, messages
    client.close()


def test_actions(data_node):
    client = flight.connect(data_node)
    names = [a.type for a in client.list_actions()]
    assert names == ["drop", "persist", "stats", "health", "gc", "backup", "expire",
                     "RenewFlightEndpoint", "CancelFlightInfo"]
    summary = put(client, flight.FlightDescriptor.for_path("acme", "d", "0"), table(100))
    stats = action(client, "stats")
    assert stats["datasets"] == 1 and stats["memory_used_bytes"] == summary["bytes"]
    assert action(client, "health")["status"] == "ok"
    assert action(client, "gc") == {"dropped": 0}
    body = json.dumps({"ticket": summary["ticket"]}).encode()
    with pytest.raises(pa.ArrowInvalid, match="without a data dir"):
        action(client, "persist", body)
    with pytest.raises(KeyError):
        action(client, "drop", body, tenant="globex")
    with pytest.raises(pa.ArrowInvalid, match="unknown action 'nope'"):
        action(client, "nope")
    with pytest.raises(pa.ArrowInvalid, match="ticket"):
        action(client, "drop", b"[]")
    assert action(client, "drop", body) == {"dropped": summary["ticket"]}
    with pytest.raises(KeyError):
        client.do_get(flight.Ticket(summary["ticket"].encode()), options=as_tenant("acme")).read_all()
    client.close()


def test_ttl_expires_and_gc_collects(start_data_node):
    # No background collection during the test: the gc action does it.
    _, location = start_data_node("--gc-interval", "3600")
    client = flight.connect(location)
    cmd = json.dumps({"tenant": "acme", "dataset": "d", "partition": "0", "ttl_seconds": 0.05})
    summary = put(client, flight.FlightDescriptor.for_command(cmd.encode()), table(10))
    assert summary["expires_at_ms"] > 0
    ticket = flight.Ticket(summary["ticket"].encode())

    def gone():
        try:
            client.do_get(ticket, options=as_tenant("acme")).read_all()
            return False
        except KeyError:
            return True
    assert wait_for(gone)
    assert action(client, "gc") == {"dropped": 1}
    assert action(client, "stats")["datasets"] == 0
    client.close()


def exchange(client, command, data):
    """One DoExchange of `data` with `command`; returns the result table."""
    descriptor = flight.FlightDescriptor.for_command(command.encode())
    writer, reader = client.do_exchange(descriptor, options=as_tenant("acme"))
    try:
        writer.begin(data.schema)
        for batch in data.to_batches(max_chunksize=1000):
            writer.write_batch(batch)
        writer.done_writing()
        return reader.read_all()
    finally:
        writer.close()


def test_do_exchange_runs_sql_next_to_the_data(data_node):
    client = flight.connect(data_node)
    data = table(3000)
    result = exchange(
        client,
        "select id, amount * 2 + 1 as scaled, upper(name) as loud "
        "where id >= 1000 and id < 1100 and name is not null",
        data)
    expected = [i for i in range(1000, 1100) if i % 5]
    assert result.column_names == ["id", "scaled", "loud"]
    assert sorted(result.column("id").to_pylist()) == expected
    rows = sorted(zip(*(result.column(c).to_pylist() for c in result.column_names)))
    assert rows == [(i, i * 0.5 * 2 + 1, f"N{i}") for i in expected]

    # `*` keeps every input column; a bare WHERE filters only.
    assert exchange(client, "where id < 10", data).num_rows == 10
    assert exchange(client, "select *, id * 10 as big where id = 7", data).to_pylist() == [
        {"id": 7, "amount": 3.5, "name": "n7", "big": 70}]
    client.close()


def test_do_exchange_errors_name_the_problem(data_node):
    client = flight.connect(data_node)
    data = table(100)
    # A malformed expression: INVALID_ARGUMENT pointing at where it broke.
    with pytest.raises(pa.ArrowInvalid, match="ends too early") as malformed:
        exchange(client, "select id where id >", data)
    assert "id >\n" in str(malformed.value)
    with pytest.raises(pa.ArrowInvalid, match=r"at position 12: '\(' is never closed"):
        exchange(client, "select id, (id", data)
    # The client's SQL cannot reach the node's files.
    with pytest.raises(pa.ArrowInvalid, match="disabled"):
        exchange(client, "select id, (select count(*) from read_csv('/etc/passwd')) as n", data)
    # An unknown column is named.
    with pytest.raises(pa.ArrowInvalid, match="no_such_column"):
        exchange(client, "select no_such_column * 2 as x", data)
    # A path descriptor is not a transform.
    with pytest.raises(pa.ArrowInvalid, match="command descriptor"):
        writer, reader = client.do_exchange(flight.FlightDescriptor.for_path("a", "b"),
                                            options=as_tenant("acme"))
        writer.begin(data.schema)
        writer.done_writing()
        reader.read_all()
    # The node still serves after the failures.
    assert exchange(client, "select id where id = 3", data).num_rows == 1
    client.close()


CLIENT_THAT_DIES = r"""
import os, sys
import pyarrow as pa, pyarrow.flight as flight
client = flight.connect(sys.argv[1])
data = pa.table({"x": pa.array(range(100_000), type=pa.int64())})
options = flight.FlightCallOptions(headers=[(b"x-flightdeck-tenant", b"acme")])
writer, _ = client.do_put(flight.FlightDescriptor.for_path("acme", "d", "0"), data.schema,
                          options=options)
for batch in data.to_batches(max_chunksize=10_000)[:5]:
    writer.write_batch(batch)
print("wrote", flush=True)
if sys.argv[2] == "schema":
    try:
        writer.write_batch(pa.record_batch({"y": pa.array(["a"])}))
    except pa.ArrowInvalid as e:
        print("rejected:", e, flush=True)
os._exit(1)
"""


@pytest.mark.parametrize("how", ["disconnect", "schema"])
def test_client_dying_mid_put_leaves_nothing(data_node, how):
    child = subprocess.run([sys.executable, "-c", CLIENT_THAT_DIES, data_node, how],
                           capture_output=True, text=True, timeout=60)
    assert "wrote" in child.stdout, child.stderr
    if how == "schema":
        assert "rejected" in child.stdout
    client = flight.connect(data_node)
    assert wait_for(lambda: action(client, "stats")["puts_in_flight"] == 0)
    stats = action(client, "stats")
    assert stats["datasets"] == 0 and stats["memory_used_bytes"] == 0
    assert list(client.list_flights(options=as_tenant("acme"))) == []
    client.close()


def test_abandoned_put_leaves_nothing_and_other_metadata_is_skipped(data_node):
    client = flight.connect(data_node)
    data = table(3000)
    # A put abandoned with {"abort": reason} after two batches keeps nothing,
    # and the client gets CANCELLED with the reason.
    writer, reader = client.do_put(flight.FlightDescriptor.for_path("acme", "half", "0"), data.schema,
                                   options=as_tenant("acme"))
    for batch in data.to_batches(max_chunksize=1000)[:2]:
        writer.write_batch(batch)
    writer.write_metadata(pa.py_buffer(json.dumps({"abort": "the source went away"}).encode()))
    writer.done_writing()
    with pytest.raises(flight.FlightCancelledError, match="the source went away"):
        reader.read()
        writer.close()
    assert wait_for(lambda: action(client, "stats")["puts_in_flight"] == 0)
    assert action(client, "stats")["datasets"] == 0
    # Other metadata-only messages are skipped: the put keeps every batch.
    writer, reader = client.do_put(flight.FlightDescriptor.for_path("acme", "whole", "0"), data.schema,
                                   options=as_tenant("acme"))
    batches = data.to_batches(max_chunksize=1000)
    writer.write_batch(batches[0])
    writer.write_metadata(pa.py_buffer(b"progress: 1 of 3"))
    for batch in batches[1:]:
        writer.write_batch(batch)
    writer.done_writing()
    summary = json.loads(reader.read().to_pybytes())
    writer.close()
    assert summary["rows"] == 3000
    client.close()


def test_full_node_answers_capacity_error_with_numbers(start_data_node):
    # Arrow's gRPC transport cannot send RESOURCE_EXHAUSTED as the status code
    # (see data_node.h): the node fails with CapacityError, which pyarrow
    # raises as FlightServerError, and gRPC's rich status in the
    # grpc-status-details-bin trailer says RESOURCE_EXHAUSTED.
    _, location = start_data_node("--memory-budget", "1MB")
    client = flight.connect(location)
    with pytest.raises(flight.FlightServerError, match="memory is full") as raised:
        put(client, flight.FlightDescriptor.for_path("acme", "d", "0"), table(200_000))
    assert "1048576" in str(raised.value)
    rich = status_pb2.Status.FromString(raised.value.extra_info)
    assert rich.code == code_pb2.RESOURCE_EXHAUSTED
    assert "memory is full" in rich.message and "1048576" in rich.message
    stats = action(client, "stats")
    assert stats["datasets"] == 0 and stats["memory_used_bytes"] == 0
    client.close()


def test_full_memory_and_full_disk_fail_the_put_cleanly(start_data_node, tmp_path):
    data_dir = tmp_path / "node"
    _, location = start_data_node("--memory-budget", "2MB", "--disk-budget", "2MB",
                                  "--data-dir", str(data_dir))
    client = flight.connect(location)
    data = table(45_000)
    # One fits in memory and on disk, two fit in neither.
    assert data.nbytes < 2 * 1024 * 1024 < 2 * data.nbytes
    kept = [put(client, flight.FlightDescriptor.for_path("acme", "d", str(i)), data)
            for i in range(2)]  # the second spills the first
    before = action(client, "stats")
    assert before["spills"] == 1 and before["disk_budget_bytes"] == 2 * 1024 * 1024
    assert 0 < before["disk_used_bytes"] <= before["disk_budget_bytes"]

    with pytest.raises(flight.FlightServerError, match="memory is full") as raised:
        put(client, flight.FlightDescriptor.for_path("acme", "d", "2"), data)
    message = str(raised.value)
    assert "disk tier is full" in message
    assert str(before["disk_used_bytes"]) in message and "2097152" in message

    # Nothing half-written: the same datasets, bytes and files as before.
    after = action(client, "stats")
    for key in ("datasets", "memory_used_bytes", "disk_used_bytes", "puts_in_flight"):
        assert after[key] == before[key], key
    assert len(list((data_dir / "spill").iterdir())) == 1
    assert list(client.list_flights(b"acme/d/2", options=as_tenant("acme"))) == []
    for summary in kept:
        got = client.do_get(flight.Ticket(summary["ticket"].encode()), options=as_tenant("acme"))
        assert got.read_all().equals(data)
    client.close()


def test_stats_account_per_tenant(data_node):
    client = flight.connect(data_node)
    acme = put(client, flight.FlightDescriptor.for_path("acme", "d", "0"), table(1000))
    put(client, flight.FlightDescriptor.for_path("acme", "d", "1"), table(2000))
    globex = put(client, flight.FlightDescriptor.for_path("globex", "d", "0"), table(500),
                 tenant="globex")
    mine = action(client, "stats")
    assert mine["datasets"] == 3 and mine["tenants"] == 2
    assert mine["tenant"]["name"] == "acme" and mine["tenant"]["datasets"] == 2
    assert mine["tenant"]["bytes"] == mine["tenant"]["memory_bytes"] > acme["bytes"]
    assert mine["tenant"]["disk_bytes"] == 0
    theirs = action(client, "stats", tenant="globex")["tenant"]
    assert theirs == {"name": "globex", "datasets": 1, "bytes": globex["bytes"],
                      "memory_bytes": globex["bytes"], "disk_bytes": 0}
    assert mine["memory_used_bytes"] == mine["tenant"]["memory_bytes"] + theirs["memory_bytes"]
    nobody = action(client, "stats", tenant="initech")["tenant"]
    assert nobody == {"name": "initech", "datasets": 0, "bytes": 0, "memory_bytes": 0,
                      "disk_bytes": 0}
    client.close()


def test_spill_and_durable_restart(start_data_node, tmp_path):
    data_dir = str(tmp_path / "node")
    node, location = start_data_node("--memory-budget", "2MB", "--data-dir", data_dir,
                                     "--compression", "lz4")
    client = flight.connect(location)
    tables = [table(40_000, offset=i * 40_000) for i in range(4)]
    summaries = [put(client, flight.FlightDescriptor.for_path("acme", "d", str(i)), t)
                 for i, t in enumerate(tables)]
    stats = action(client, "stats")
    assert stats["spills"] >= 1 and stats["memory_used_bytes"] <= 2 * 1024 * 1024
    for summary, t in zip(summaries, tables):
        got = client.do_get(flight.Ticket(summary["ticket"].encode()), options=as_tenant("acme"))
        assert got.read_all().equals(t)
    persisted = action(client, "persist", json.dumps({"ticket": summaries[0]["ticket"]}).encode())
    assert persisted["durable"] is True
    client.close()
    node.kill()  # SIGKILL

    _, location = start_data_node("--data-dir", data_dir)
    client = flight.connect(location)
    got = client.do_get(flight.Ticket(summaries[0]["ticket"].encode()), options=as_tenant("acme"))
    assert got.read_all().equals(tables[0])
    info = client.get_flight_info(flight.FlightDescriptor.for_path("acme", "d", "0"),
                                  options=as_tenant("acme"))
    assert info.total_records == 40_000
    for summary in summaries[1:]:
        with pytest.raises(KeyError):
            client.do_get(flight.Ticket(summary["ticket"].encode()),
                          options=as_tenant("acme")).read_all()
    client.close()


def test_corrupt_durable_file_is_reported_not_served(start_data_node, tmp_path):
    data_dir = tmp_path / "node"
    node, location = start_data_node("--data-dir", str(data_dir))
    client = flight.connect(location)
    cmd = json.dumps({"tenant": "acme", "dataset": "d", "partition": "0", "durable": True})
    summary = put(client, flight.FlightDescriptor.for_command(cmd.encode()), table(20_000))
    assert summary["durable"] is True
    client.close()
    node.kill()

    (file,) = (data_dir / "durable").iterdir()
    raw = bytearray(file.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    file.write_bytes(bytes(raw))

    _, location = start_data_node("--data-dir", str(data_dir))
    client = flight.connect(location)
    with pytest.raises(flight.FlightInternalError, match="corrupt"):
        client.do_get(flight.Ticket(summary["ticket"].encode()), options=as_tenant("acme")).read_all()
    assert action(client, "stats")["datasets_corrupt"] == 1
    assert list(client.list_flights(options=as_tenant("acme"))) == []
    client.close()


@pytest.mark.parametrize("args, code, message", [
    (["--data-dir", "/dev/null/node"], 1, "cannot use data dir /dev/null/node"),
    (["--compression", "snappy"], 2, "snappy"),
    (["--memory-budget", "lots"], 2, "lots"),
    (["--disk-budget", "-5"], 1, "disk budget must not be negative, got -5"),
])
def test_bad_node_options_fail_clearly(args, code, message):
    done = subprocess.run([flightdeck_binary(), "node", "--port", "0", *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert message in done.stdout + done.stderr
