"""The `flightdeck.python_stage` activity: DoGet the input ticket, apply the
named transform, DoPut the result to the same node, answer a DatasetRef.

What it relies on from the data node (src/flightdeck/flight/):
  - every call carries the header `x-flightdeck-tenant: <tenant>`;
  - DoPut takes the path descriptor [tenant, "<run>-s<stage>", "<partition>"]
    and, on a node that answers one, sends a single JSON put result holding
    "ticket" (the ticket's wire form as a plain string) and the summary
    ("rows", "bytes", "schema_fingerprint", "checksum", ...);
  - DoAction "persist" with body {"ticket": "<wire form>"} makes a dataset
    durable, when ListActions lists it;
  - unknown tickets are NOT_FOUND (pyarrow: ArrowKeyError).
A node that sends no put result (or no JSON) is handled by a fallback:
GetFlightInfo(descriptor) gives the ticket, total_records and total_bytes,
and the fingerprint and checksum are computed here with SHA-256
("sha256:<hex>"), which differs from the node's own "xxh3:..." values.

A retried durable stage reuses the output an earlier attempt persisted
(GetFlightInfo of its path, then persist again for the summary) rather than
recomputing it; elsewhere outputs are recomputed and replace what was there.

Errors become temporalio ApplicationErrors whose `type` names the kind:
non-retryable InvalidStageInput, UnknownTransform, UnknownTicket,
TransformFailed, PermissionDenied, InvalidArgument, NotDurable; retryable
FlightUnavailable, NodeFull, FlightError.
"""

import contextlib
import contextvars
import hashlib
import json
import threading
import time
from typing import Any, Dict, Iterable, List, Optional, Tuple

import pyarrow as pa
import pyarrow.flight as flight
from temporalio import activity
from temporalio.exceptions import ApplicationError

from flightdeck_stage import registry
from flightdeck_stage.dataset_ref import DatasetRef, StageInput

ACTIVITY_NAME = "flightdeck.python_stage"
TENANT_HEADER = b"x-flightdeck-tenant"
PERSIST_ACTION = "persist"
# Batches written per DoPut message: 64 Ki rows keeps messages well under
# gRPC's limits for wide rows and lets heartbeats flow during long puts.
WRITE_CHUNK_ROWS = 65_536
# Heartbeat at most this often (the SDK throttles too; this saves the calls).
HEARTBEAT_INTERVAL_S = 1.0


def _error(kind: str, message: str, non_retryable: bool) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=non_retryable)


def flight_error(exc: BaseException, doing: str) -> ApplicationError:
    """Maps a pyarrow/Flight exception raised while `doing` to an ApplicationError."""
    text = f"{doing}: {exc}"
    if isinstance(exc, pa.ArrowKeyError):
        return _error("UnknownTicket" if doing.startswith("DoGet") else "NotFound", text, True)
    if isinstance(exc, (flight.FlightUnauthenticatedError, flight.FlightUnauthorizedError)):
        return _error("PermissionDenied", text, True)
    if isinstance(exc, (flight.FlightUnavailableError, flight.FlightTimedOutError)):
        return _error("FlightUnavailable", text, False)
    # A full node fails puts with Arrow's CapacityError; pyarrow surfaces it as
    # ArrowCapacityError or, over Flight, a FlightServerError naming it.
    if isinstance(exc, pa.ArrowCapacityError) or (
            isinstance(exc, flight.FlightServerError) and "apacity" in str(exc)):
        return _error("NodeFull", text, False)
    if isinstance(exc, (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)):
        return _error("InvalidArgument", text, True)
    return _error("FlightError", text, False)


class _Heartbeat:
    """Throttled activity heartbeats with progress details; a no-op outside an activity."""

    def __init__(self) -> None:
        self._last = 0.0
        self._active = activity.in_activity()

    def __call__(self, phase: str, rows: int, force: bool = False) -> None:
        if not self._active:
            return
        now = time.monotonic()
        if force or now - self._last >= HEARTBEAT_INTERVAL_S:
            self._last = now
            # A cancelled activity gets CancelledError raised in its thread by the SDK.
            activity.heartbeat({"phase": phase, "rows": rows})


@contextlib.contextmanager
def _heartbeat_while(heartbeat: _Heartbeat, phase: str, rows: int):
    """Heartbeats every HEARTBEAT_INTERVAL_S from a thread while the body runs
    (a user transform that computes for long would otherwise miss the
    heartbeat timeout and be retried while it still works)."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(HEARTBEAT_INTERVAL_S):
            heartbeat(phase, rows, force=True)

    # The activity context lives in a context variable: the thread gets a copy.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(beat,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def schema_fingerprint(schema: pa.Schema) -> str:
    """SHA-256 of the schema's IPC serialization: "sha256:<hex>"."""
    return "sha256:" + hashlib.sha256(schema.serialize().to_pybytes()).hexdigest()


def batches_checksum(batches: Iterable[pa.RecordBatch]) -> str:
    """SHA-256 over every buffer of every column of every batch, in order."""
    digest = hashlib.sha256()

    def update(array: pa.Array) -> None:
        for buffer in array.buffers():
            if buffer is not None:
                digest.update(memoryview(buffer))
        if isinstance(array, pa.DictionaryArray):
            update(array.dictionary)

    for batch in batches:
        for column in batch.columns:
            update(column)
    return "sha256:" + digest.hexdigest()


def read_dataset(client: flight.FlightClient, ref: DatasetRef,
                 options: flight.FlightCallOptions, heartbeat: _Heartbeat) -> pa.Table:
    """DoGet of `ref.ticket`, batch by batch, heartbeating as it goes."""
    try:
        reader = client.do_get(flight.Ticket(ref.ticket), options)
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
            heartbeat("reading input", rows)
    except (pa.ArrowException, flight.FlightError) as exc:
        raise flight_error(exc, f"DoGet of the input ticket on {ref.node}") from exc
    return pa.Table.from_batches(batches, schema=schema)


def _decode_put_result(buffer: Optional[pa.Buffer]) -> Optional[Dict[str, Any]]:
    """The node's JSON put result, or None when it sent none (or not JSON with a ticket)."""
    if buffer is None or buffer.size == 0:
        return None
    try:
        result = json.loads(buffer.to_pybytes())
    except ValueError:
        return None
    if not isinstance(result, dict) or not isinstance(result.get("ticket"), str):
        return None
    return result


def write_dataset(client: flight.FlightClient, node: str, path: List[str], table: pa.Table,
                  options: flight.FlightCallOptions, heartbeat: _Heartbeat,
                  put_descriptor: Optional[flight.FlightDescriptor] = None
                  ) -> Tuple[bytes, Dict[str, Any], List[pa.RecordBatch]]:
    """DoPut of `table` under `path` (through `put_descriptor` when given: a
    command descriptor naming the same path with options); returns (ticket,
    put result or {}, batches sent)."""
    descriptor = flight.FlightDescriptor.for_path(*path)
    batches = table.to_batches(max_chunksize=WRITE_CHUNK_ROWS)
    try:
        writer, metadata = client.do_put(put_descriptor or descriptor, table.schema, options)
        rows = 0
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
            heartbeat("writing output", rows)
        writer.done_writing()
        put_result = _decode_put_result(metadata.read())
        writer.close()
    except (pa.ArrowException, flight.FlightError) as exc:
        raise flight_error(exc, f"DoPut of {'/'.join(path)} to {node}") from exc
    if put_result is not None:
        # The node sends the ticket's wire form as a plain string ("fdt1:...").
        return put_result["ticket"].encode("utf-8"), put_result, batches
    # Fallback: a node without a put result names the dataset by its flight info.
    try:
        info = client.get_flight_info(descriptor, options)
    except (pa.ArrowException, flight.FlightError) as exc:
        raise flight_error(exc, f"GetFlightInfo of {'/'.join(path)} on {node}") from exc
    if not info.endpoints:
        raise _error("FlightError", f"GetFlightInfo of {'/'.join(path)} on {node} has no endpoint", False)
    return info.endpoints[0].ticket.ticket, {"rows": info.total_records, "bytes": info.total_bytes}, batches


def node_actions(client: flight.FlightClient, options: flight.FlightCallOptions) -> List[str]:
    """Action names the node lists; [] for a node that implements no ListActions."""
    try:
        return [action.type for action in client.list_actions(options)]
    except pa.ArrowNotImplementedError:
        return []
    except (pa.ArrowException, flight.FlightError) as exc:
        raise flight_error(exc, "ListActions") from exc


def persist(client: flight.FlightClient, node: str, ticket: bytes,
            options: flight.FlightCallOptions) -> Optional[Dict[str, Any]]:
    """DoAction persist when the node lists it; returns its JSON result, or None when skipped."""
    if PERSIST_ACTION not in node_actions(client, options):
        return None
    body = json.dumps({"ticket": ticket.decode("utf-8", errors="surrogateescape")}).encode()
    try:
        results = list(client.do_action(flight.Action(PERSIST_ACTION, body), options))
    except pa.ArrowInvalid as exc:
        # e.g. a node without a data dir: durability was asked for and cannot be had.
        raise _error("NotDurable", f"persist on {node}: {exc}", True) from exc
    except (pa.ArrowException, flight.FlightError) as exc:
        raise flight_error(exc, f"persist on {node}") from exc
    if not results:
        return {}
    try:
        answer = json.loads(results[0].body.to_pybytes())
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def reuse_durable_output(client: flight.FlightClient, request: StageInput,
                         options: flight.FlightCallOptions) -> Optional[DatasetRef]:
    """The output an earlier attempt of this activity left durable, or None.

    Only for durable stages on a node with "persist": a dataset at the output
    path was put atomically by an earlier attempt of the same run, stage and
    partition; persisting it again is idempotent and answers its summary
    (ticket, rows, bytes, fingerprint, checksum).
    """
    node = request.input.node
    if PERSIST_ACTION not in node_actions(client, options):
        return None
    descriptor = flight.FlightDescriptor.for_path(*request.output_path())
    try:
        info = client.get_flight_info(descriptor, options)
    except pa.ArrowKeyError:
        return None
    except (pa.ArrowException, flight.FlightError) as exc:
        raise flight_error(exc, f"GetFlightInfo of {'/'.join(request.output_path())} on {node}") from exc
    if not info.endpoints:
        return None
    summary = persist(client, node, info.endpoints[0].ticket.ticket, options) or {}
    if not isinstance(summary.get("ticket"), str) or not summary.get("checksum"):
        return None
    return DatasetRef(node=node, ticket=summary["ticket"].encode("utf-8"), rows=int(summary["rows"]),
                      bytes=int(summary["bytes"]), schema_fingerprint=str(summary["schema_fingerprint"]),
                      checksum=str(summary["checksum"]))


def run_stage(request: StageInput, attempt: int = 1) -> DatasetRef:
    """The whole stage, outside of Temporal's types (usable from tests and scripts).

    On a retry (attempt > 1) of a durable stage, the output an earlier attempt
    made durable is reused instead of recomputed (see reuse_durable_output).
    Raises ApplicationError as described in the module comment.
    """
    try:
        fn = registry.get_transform(request.transform)
    except KeyError as exc:
        raise _error("UnknownTransform", exc.args[0], True) from None
    heartbeat = _Heartbeat()
    options = flight.FlightCallOptions(headers=[(TENANT_HEADER, request.tenant.encode())])
    node = request.input.node
    try:
        client = flight.connect(node)
    except (pa.ArrowException, flight.FlightError) as exc:
        raise flight_error(exc, f"connect to {node}") from exc
    try:
        if attempt > 1 and request.durable:
            reused = reuse_durable_output(client, request, options)
            if reused is not None:
                heartbeat("reused durable output", reused.rows, force=True)
                return reused
        table = read_dataset(client, request.input, options, heartbeat)
        heartbeat("transforming", table.num_rows, force=True)
        try:
            with _heartbeat_while(heartbeat, "transforming", table.num_rows):
                output = fn(table)
        except ApplicationError:
            raise  # the transform chose its own error type and retryability
        except Exception as exc:  # a user function: anything can come out
            raise _error("TransformFailed",
                         f"transform {request.transform!r} failed: {type(exc).__name__}: {exc}",
                         True) from exc
        if not isinstance(output, pa.Table):
            raise _error("TransformFailed",
                         f"transform {request.transform!r} returned {type(output).__name__}, "
                         "expected pyarrow.Table", True)
        ticket, summary, batches = write_dataset(client, node, request.output_path(), output,
                                                 options, heartbeat, request.output_descriptor())
        if request.durable:
            persisted = persist(client, node, ticket, options)
            if persisted:
                summary = {**summary, **{k: v for k, v in persisted.items() if k != "ticket"}}
        heartbeat("done", output.num_rows, force=True)
        return DatasetRef(
            node=node,
            ticket=ticket,
            rows=int(summary.get("rows", output.num_rows)),
            bytes=int(summary.get("bytes", 0)),
            schema_fingerprint=str(summary.get("schema_fingerprint") or schema_fingerprint(output.schema)),
            checksum=str(summary.get("checksum") or batches_checksum(batches)),
        )
    finally:
        client.close()


@activity.defn(name=ACTIVITY_NAME)
def python_stage(payload: Dict[str, Any]) -> Dict[str, Any]:
    """Temporal entry point: StageInput JSON in, DatasetRef JSON out."""
    try:
        request = StageInput.from_json(payload)
    except ValueError as exc:
        raise _error("InvalidStageInput", str(exc), True) from None
    return run_stage(request, activity.info().attempt).to_json()
