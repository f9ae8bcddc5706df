"""flightdeck_stage.node_client, the Python side's one client of the data-node
protocol, against a real `flightdeck node` process: put, find, get, persist,
the tenant on every call, and failures named by kind."""

import sys

import pyarrow as pa
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "python"))
from flightdeck_stage.node_client import NodeCallError, NodeClient  # noqa: E402


def orders(rows: int) -> pa.Table:
    return pa.table({"id": pa.array(range(rows), pa.int64()),
                     "amount": pa.array([float(i % 97) for i in range(rows)])})


def test_put_find_get_and_persist_as_one_tenant(start_data_node, tmp_path):
    _, location = start_data_node("--data-dir", str(tmp_path / "node"))
    table = orders(200_000)
    seen = []
    with NodeClient(location, "acme") as node:
        ticket, summary, batches = node.put(["acme", "orders", "0"], table, on_rows=seen.append)
        assert summary["rows"] == 200_000 and summary["path"] == "acme/orders/0"
        assert seen[-1] == 200_000 and len(batches) == len(seen) > 1
        assert node.find(["acme", "orders", "0"]) == ticket
        assert node.find(["acme", "missing", "0"]) is None
        assert node.get(ticket).equals(table)
        assert "persist" in node.actions()
        persisted = node.persist(ticket)
        assert persisted["durable"] is True and persisted["checksum"] == summary["checksum"]
    # Another tenant does not see acme's dataset.
    with NodeClient(location, "globex") as other:
        with pytest.raises(NodeCallError) as lost:
            other.get(ticket)
        assert lost.value.kind == "UnknownTicket" and not lost.value.retryable
        assert other.find(["acme", "orders", "0"]) is None


def test_a_node_without_a_data_dir_cannot_persist_and_a_dead_node_is_retryable(start_data_node):
    process, location = start_data_node()
    with NodeClient(location, "acme") as node:
        ticket, _, _ = node.put(["acme", "o", "0"], orders(10))
        with pytest.raises(NodeCallError) as not_durable:
            node.persist(ticket)
        assert not_durable.value.kind == "NotDurable" and not not_durable.value.retryable
    process.kill()
    with NodeClient(location, "acme") as node:
        with pytest.raises(NodeCallError) as down:
            node.get(ticket)
        assert down.value.retryable, down.value.kind
