"""The `flightdeck.python_stage` activity: DoGet the input ticket, apply the
named transform, DoPut the result to the same node, answer a DatasetRef.
The node is reached through node_client.NodeClient (what this relies on from
the node is listed there). A node that sends no put result (or no JSON) is
handled by a fallback: the dataset's flight info gives the ticket, and the
fingerprint and checksum are computed here with SHA-256 ("sha256:<hex>"),
which differs from the node's own "xxh3:..." values.

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
import threading
import time
from typing import Any, Dict, Iterable, Optional

import pyarrow as pa
from temporalio import activity
from temporalio.exceptions import ApplicationError

from flightdeck_stage import registry
from flightdeck_stage.dataset_ref import DatasetRef, StageInput
from flightdeck_stage.node_client import NodeCallError, NodeClient

ACTIVITY_NAME = "flightdeck.python_stage"
# Heartbeat at most this often (the SDK throttles too; this saves the calls).
HEARTBEAT_INTERVAL_S = 1.0


def _error(kind: str, message: str, non_retryable: bool) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=non_retryable)


def node_error(error: NodeCallError) -> ApplicationError:
    """A failed call to the node, as the activity reports it."""
    return _error(error.kind, str(error), not error.retryable)


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


def reuse_durable_output(node: NodeClient, request: StageInput) -> Optional[DatasetRef]:
    """The output an earlier attempt of this activity left durable, or None.

    Only for durable stages on a node with "persist": a dataset at the output
    path was put atomically by an earlier attempt of the same run, stage and
    partition; persisting it again is idempotent and answers its summary
    (ticket, rows, bytes, fingerprint, checksum).
    """
    if "persist" not in node.actions():
        return None
    ticket = node.find(request.output_path())
    if ticket is None:
        return None
    summary = node.persist(ticket) or {}
    if not isinstance(summary.get("ticket"), str) or not summary.get("checksum"):
        return None
    return DatasetRef(node=node.location, ticket=summary["ticket"].encode("utf-8"), rows=int(summary["rows"]),
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
    try:
        with NodeClient(request.input.node, request.tenant) as node:
            return _run_on(node, request, attempt, fn, heartbeat)
    except NodeCallError as exc:
        raise node_error(exc) from exc


def _run_on(node: NodeClient, request: StageInput, attempt: int, fn, heartbeat: _Heartbeat) -> DatasetRef:
    if attempt > 1 and request.durable:
        reused = reuse_durable_output(node, request)
        if reused is not None:
            heartbeat("reused durable output", reused.rows, force=True)
            return reused
    table = node.get(request.input.ticket, lambda rows: heartbeat("reading input", rows))
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
    ticket, summary, batches = node.put(request.output_path(), output, request.output_descriptor(),
                                        lambda rows: heartbeat("writing output", rows))
    if request.durable:
        persisted = node.persist(ticket)
        if persisted:
            summary = {**summary, **{k: v for k, v in persisted.items() if k != "ticket"}}
    heartbeat("done", output.num_rows, force=True)
    return DatasetRef(
        node=node.location,
        ticket=ticket,
        rows=int(summary.get("rows", output.num_rows)),
        bytes=int(summary.get("bytes", 0)),
        schema_fingerprint=str(summary.get("schema_fingerprint") or schema_fingerprint(output.schema)),
        checksum=str(summary.get("checksum") or batches_checksum(batches)),
    )


@activity.defn(name=ACTIVITY_NAME)
def python_stage(payload: Dict[str, Any]) -> Dict[str, Any]:
    """Temporal entry point: StageInput JSON in, DatasetRef JSON out."""
    try:
        request = StageInput.from_json(payload)
    except ValueError as exc:
        raise _error("InvalidStageInput", str(exc), True) from None
    return run_stage(request, activity.info().attempt).to_json()
