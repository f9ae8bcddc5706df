"""The client of the data-node protocol for Python code: the counterpart of
src/flightdeck/flight/node_client.h, so that the call metadata (the tenant
header today) is added in one place and the node's answers are decoded once.

What it relies on from the data node (src/flightdeck/flight/):
  - every call carries the header `x-flightdeck-tenant: <tenant>`;
  - DoPut takes a path descriptor [tenant, dataset, partition] (or a JSON
    command descriptor naming the same with options such as ttl_seconds)
    and, on a node that answers one, sends a single JSON put result holding
    "ticket" (the ticket's wire form as a plain string) and the summary
    ("rows", "bytes", "schema_fingerprint", "checksum", ...);
  - DoAction "persist" with body {"ticket": "<wire form>"} makes a dataset
    durable, when ListActions lists it;
  - unknown tickets and paths are NOT_FOUND (pyarrow: ArrowKeyError).

Failures raise NodeCallError, whose `kind` names what went wrong:
UnknownTicket / NotFound (the node does not hold it), PermissionDenied,
InvalidArgument, NotDurable (non-retryable); FlightUnavailable, NodeFull,
FlightError (retryable).
"""

import json
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import pyarrow as pa
import pyarrow.flight as flight

from flightdeck_stage import tracing

TENANT_HEADER = b"x-flightdeck-tenant"
PERSIST_ACTION = "persist"
# Batches written per DoPut message: 64 Ki rows keeps messages well under
# gRPC's limits for wide rows and lets heartbeats flow during long puts.
WRITE_CHUNK_ROWS = 65_536


@dataclass
class ClientTls:
    """How grpc+tls:// nodes are dialled, as the C++ client's ClientTls:
    the CA that signed the nodes' certificates (None: the system roots), a
    client certificate and key for nodes that ask for one (mutual TLS), and
    a name to check the node's certificate against instead of the host."""
    ca_file: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    server_name: Optional[str] = None

    @staticmethod
    def from_env() -> "ClientTls":
        """From FLIGHTDECK_TLS_CA, _CERT, _KEY and _SERVER_NAME."""
        env = os.environ.get
        return ClientTls(env("FLIGHTDECK_TLS_CA") or None, env("FLIGHTDECK_TLS_CERT") or None,
                         env("FLIGHTDECK_TLS_KEY") or None, env("FLIGHTDECK_TLS_SERVER_NAME") or None)

    def connect_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of pyarrow.flight.connect; ValueError for an
        unreadable file or a certificate without its key."""
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("--tls-cert and --tls-key go together")
        kwargs: Dict[str, Any] = {}
        for option, path, key in (("--tls-ca", self.ca_file, "tls_root_certs"),
                                  ("--tls-cert", self.cert_file, "cert_chain"),
                                  ("--tls-key", self.key_file, "private_key")):
            if path:
                try:
                    with open(path, "rb") as pem:
                        kwargs[key] = pem.read()
                except OSError as exc:
                    raise ValueError(f"{option}: cannot read '{path}': {exc.strerror}") from exc
        if self.server_name:
            kwargs["override_hostname"] = self.server_name
        return kwargs


_tls = ClientTls.from_env()


def token_from_env() -> Optional[str]:
    """FLIGHTDECK_TOKEN, else the first line of FLIGHTDECK_TOKEN_FILE."""
    if os.environ.get("FLIGHTDECK_TOKEN"):
        return os.environ["FLIGHTDECK_TOKEN"]
    if os.environ.get("FLIGHTDECK_TOKEN_FILE"):
        return read_token_file(os.environ["FLIGHTDECK_TOKEN_FILE"])
    return None


def read_token_file(path: str) -> str:
    """The token in `path` (its first line); ValueError when unreadable or empty."""
    try:
        with open(path) as f:
            token = f.readline().strip()
    except OSError as exc:
        raise ValueError(f"--token-file: cannot read '{path}': {exc.strerror}") from exc
    if not token:
        raise ValueError(f"--token-file: '{path}' holds no token")
    return token


_token: Optional[str] = None


def use_token(token: Optional[str]) -> None:
    """The bearer token every call of this process's node clients carries
    (`authorization: Bearer TOKEN`), for nodes with an auth config."""
    global _token
    _token = token or None


def use_tls(tls: ClientTls) -> None:
    """Makes this process's node clients dial grpc+tls:// nodes as `tls`
    says; checks the files first (ValueError)."""
    global _tls
    tls.connect_kwargs()
    _tls = tls


class NodeCallError(Exception):
    """A failed call to a data node: `kind` (see the module comment) and
    whether retrying can help."""

    def __init__(self, kind: str, message: str, retryable: bool):
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


def _classify(exc: BaseException, doing: str) -> NodeCallError:
    text = f"{doing}: {exc}"
    if isinstance(exc, pa.ArrowKeyError):
        return NodeCallError("UnknownTicket" if doing.startswith("DoGet") else "NotFound", text, False)
    if isinstance(exc, (flight.FlightUnauthenticatedError, flight.FlightUnauthorizedError)):
        return NodeCallError("PermissionDenied", text, False)
    if isinstance(exc, (flight.FlightUnavailableError, flight.FlightTimedOutError)):
        return NodeCallError("FlightUnavailable", text, True)
    # A full node fails puts with Arrow's CapacityError; pyarrow surfaces it as
    # ArrowCapacityError or, over Flight, a FlightServerError naming it.
    if isinstance(exc, pa.ArrowCapacityError) or (
            isinstance(exc, flight.FlightServerError) and "apacity" in str(exc)):
        return NodeCallError("NodeFull", text, True)
    if isinstance(exc, (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)):
        return NodeCallError("InvalidArgument", text, False)
    return NodeCallError("FlightError", text, True)


def _decode_json(buffer: Optional[pa.Buffer]) -> Optional[Dict[str, Any]]:
    """A JSON object the node sent, or None (nothing, or not a JSON object)."""
    if buffer is None or buffer.size == 0:
        return None
    try:
        result = json.loads(buffer.to_pybytes())
    except ValueError:
        return None
    return result if isinstance(result, dict) else None


class NodeClient:
    """One connection to the node at `location`, calling as `tenant`. Use as
    a context manager (or call close())."""

    def __init__(self, location: str, tenant: str):
        self.location = location
        headers = [(TENANT_HEADER, tenant.encode())]
        if _token:
            headers.append((b"authorization", b"Bearer " + _token.encode()))
        # The activity's span, so the node's spans join the run's trace.
        headers.extend(tracing.traceparent_headers())
        self.options = flight.FlightCallOptions(headers=headers)
        try:
            tls = _tls.connect_kwargs() if location.startswith("grpc+tls://") else {}
            self._client = flight.connect(location, **tls)
        except ValueError as exc:
            raise NodeCallError("InvalidArgument", f"connect to {location}: {exc}", False) from exc
        except (pa.ArrowException, flight.FlightError) as exc:
            raise _classify(exc, f"connect to {location}") from exc

    def __enter__(self) -> "NodeClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(self, ticket: bytes, on_rows: Callable[[int], None] = lambda rows: None) -> pa.Table:
        """DoGet of `ticket`, batch by batch; `on_rows(rows so far)` after each."""
        try:
            reader = self._client.do_get(flight.Ticket(ticket), self.options)
            schema = reader.schema
            batches: List[pa.RecordBatch] = []
            rows = 0
            while True:
                try:
                    chunk = reader.read_chunk()
                except StopIteration:
                    break
                if chunk.data is None:
                    continue
                batches.append(chunk.data)
                rows += chunk.data.num_rows
                on_rows(rows)
        except (pa.ArrowException, flight.FlightError) as exc:
            raise _classify(exc, f"DoGet of the input ticket on {self.location}") from exc
        return pa.Table.from_batches(batches, schema=schema)

    def put(self, path: List[str], table: pa.Table, descriptor: Optional[flight.FlightDescriptor] = None,
            on_rows: Callable[[int], None] = lambda rows: None
            ) -> Tuple[bytes, Dict[str, Any], List[pa.RecordBatch]]:
        """DoPut of `table` under `path` (through `descriptor` when given: a
        command descriptor naming the same path with options); returns
        (ticket, the node's summary or {}, the batches sent). A node that
        answers no summary is asked for the dataset's flight info instead."""
        where = "/".join(path)
        batches = table.to_batches(max_chunksize=WRITE_CHUNK_ROWS)
        try:
            writer, metadata = self._client.do_put(descriptor or flight.FlightDescriptor.for_path(*path),
                                                   table.schema, self.options)
            rows = 0
            for batch in batches:
                writer.write_batch(batch)
                rows += batch.num_rows
                on_rows(rows)
            writer.done_writing()
            summary = _decode_json(metadata.read())
            writer.close()
        except (pa.ArrowException, flight.FlightError) as exc:
            raise _classify(exc, f"DoPut of {where} to {self.location}") from exc
        if summary is not None and isinstance(summary.get("ticket"), str):
            # The node sends the ticket's wire form as a plain string ("fdt1:...").
            return summary["ticket"].encode("utf-8"), summary, batches
        ticket = self.find(path)
        if ticket is None:
            raise NodeCallError("FlightError", f"{where} on {self.location}: not found after the put", True)
        return ticket, {"rows": table.num_rows}, batches

    def find(self, path: List[str]) -> Optional[bytes]:
        """The ticket of the dataset at `path`, or None when the node holds none there."""
        try:
            info = self._client.get_flight_info(flight.FlightDescriptor.for_path(*path), self.options)
        except pa.ArrowKeyError:
            return None
        except (pa.ArrowException, flight.FlightError) as exc:
            raise _classify(exc, f"GetFlightInfo of {'/'.join(path)} on {self.location}") from exc
        return info.endpoints[0].ticket.ticket if info.endpoints else None

    def actions(self) -> List[str]:
        """Action names the node lists; [] for a node that implements no ListActions."""
        try:
            return [action.type for action in self._client.list_actions(self.options)]
        except pa.ArrowNotImplementedError:
            return []
        except (pa.ArrowException, flight.FlightError) as exc:
            raise _classify(exc, "ListActions") from exc

    def persist(self, ticket: bytes) -> Optional[Dict[str, Any]]:
        """DoAction persist when the node lists it: its summary ({} when it
        answered none), or None when the node has no such action."""
        if PERSIST_ACTION not in self.actions():
            return None
        body = json.dumps({"ticket": ticket.decode("utf-8", errors="surrogateescape")}).encode()
        try:
            results = list(self._client.do_action(flight.Action(PERSIST_ACTION, body), self.options))
        except pa.ArrowInvalid as exc:
            # e.g. a node without a data dir: durability was asked for and cannot be had.
            raise NodeCallError("NotDurable", f"persist on {self.location}: {exc}", False) from exc
        except (pa.ArrowException, flight.FlightError) as exc:
            raise _classify(exc, f"persist on {self.location}") from exc
        return (_decode_json(results[0].body) or {}) if results else {}
