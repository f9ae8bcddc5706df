"""pyarrow.flight against `flightdeck node`: the standard round trip.

Calls without the x-flightdeck-tenant header belong to the tenant "default",
so these tests put under default/..."""

import datetime
import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import pytest

ROWS = 1_000_000


def mixed_table(rows: int) -> pa.Table:
    ids = pa.array(range(rows), type=pa.int64())
    every_7th_null = pc.equal(pc.bit_wise_and(ids, pa.scalar(7, pa.int64())), 0)
    base = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    ts = pc.add(pa.scalar(base, pa.timestamp("us", tz="UTC")),
                pc.cast(pc.multiply(ids, 1_000_000), pa.duration("us")))
    return pa.table(
        {
            "id": ids,
            "value": pc.if_else(every_7th_null, None, pc.divide(pc.cast(ids, pa.float64()), 3.0)),
            "name": pc.if_else(every_7th_null, None,
                               pc.binary_join_element_wise("row-", pc.cast(ids, pa.string()), "")),
            "ts": pc.if_else(pc.equal(pc.bit_wise_and(ids, pa.scalar(15, pa.int64())), 3), None, ts),
            "always_null": pa.nulls(rows, type=pa.int32()),
        }
    )


def test_pyarrow_writes_lists_and_reads_back_one_million_rows(data_node):
    table = mixed_table(ROWS)
    assert table.column("value").null_count > 0
    assert table.column("ts").null_count > 0
    client = flight.connect(data_node)
    descriptor = flight.FlightDescriptor.for_path("default", "mixed", "0")

    writer, metadata = client.do_put(descriptor, table.schema)
    writer.write_table(table, max_chunksize=65_536)
    writer.done_writing()
    summary = json.loads(metadata.read().to_pybytes())
    writer.close()
    assert summary["rows"] == ROWS
    assert summary["path"] == "default/mixed/0"

    listed = list(client.list_flights())
    assert len(listed) == 1
    info = listed[0]
    assert info.descriptor.path == [b"default", b"mixed", b"0"]
    assert info.total_records == ROWS
    assert info.total_bytes > 0
    assert info.schema == table.schema
    assert [loc.uri.decode() for loc in info.endpoints[0].locations] == [data_node]

    assert info.endpoints[0].ticket.ticket == summary["ticket"].encode()
    read = client.do_get(info.endpoints[0].ticket).read_all()
    assert read.num_rows == ROWS
    assert read.equals(table)

    # The standard flow: GetFlightInfo on the put's descriptor gives a usable ticket.
    info2 = client.get_flight_info(descriptor)
    assert client.do_get(info2.endpoints[0].ticket).read_all().equals(table)
    client.close()


def test_list_flights_filters_by_prefix(data_node):
    client = flight.connect(data_node)
    small = pa.table({"x": [1, 2, 3]})
    for path in [("default", "a", "0"), ("default", "a", "1"), ("default", "b", "0")]:
        writer, _ = client.do_put(flight.FlightDescriptor.for_path(*path), small.schema)
        writer.write_table(small)
        writer.close()
    names = sorted(b"/".join(i.descriptor.path).decode() for i in client.list_flights(b"default/a/"))
    assert names == ["default/a/0", "default/a/1"]
    client.close()


def test_unknown_ticket_is_not_found(data_node):
    client = flight.connect(data_node)
    with pytest.raises(KeyError, match="no dataset for this ticket"):
        client.do_get(flight.Ticket(b"no/such/ticket")).read_all()
    with pytest.raises(KeyError, match="no dataset for this ticket"):
        client.do_get(flight.Ticket(b"fdt1:default:0123456789abcdef0123456789abcdef")).read_all()
    with pytest.raises(KeyError):
        client.get_flight_info(flight.FlightDescriptor.for_path("default", "no", "such"))
    client.close()


def test_malformed_command_descriptor_is_rejected(data_node):
    client = flight.connect(data_node)
    table = pa.table({"x": [1]})
    with pytest.raises(pa.ArrowInvalid, match="lacks 'tenant'"):
        writer, _ = client.do_put(flight.FlightDescriptor.for_command(b"{}"), table.schema)
        writer.write_table(table)
        writer.close()
    assert list(client.list_flights()) == []
    client.close()
