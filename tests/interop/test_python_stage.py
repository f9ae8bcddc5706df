"""The Python stage worker (python/flightdeck_stage) in a real pipeline step:
a real Temporal dev server, a real data node, the worker as a subprocess, and
a workflow (Temporal Python SDK) that calls `flightdeck.python_stage`. The
stage's output is read back with pyarrow.flight and compared with the
transform computed here."""

import asyncio
import base64
import datetime
import json
import re
import subprocess
import sys
import time
import uuid

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from conftest import ROOT, Process, flightdeck_binary, free_port

sys.path.insert(0, str(ROOT / "python"))
from flightdeck_stage import transforms as builtin_transforms  # noqa: E402

TENANT = "acme"
ACTIVITY = "flightdeck.python_stage"
FINGERPRINT = re.compile(r"^(sha256|xxh3):[0-9a-f]{16,64}$")

CUSTOM_TRANSFORMS = '''
import pyarrow.compute as pc
from temporalio import activity
from temporalio.exceptions import ApplicationError
from flightdeck_stage import transform
from flightdeck_stage.transforms import add_discount

@transform("big_spenders")
def big_spenders(table):
    return table.filter(pc.greater(table.column("amount"), 900.0)).select(["id", "amount"])

@transform("discount_after_a_retry")
def discount_after_a_retry(table):
    if activity.info().attempt == 1:
        raise ApplicationError("first attempts fail", type="Flaky")
    return add_discount(table)
'''


@workflow.defn(name="PythonStageTestWorkflow")
class StageWorkflow:
    """Runs one stage activity on the task queue named in the request."""

    @workflow.run
    async def run(self, request: dict) -> dict:
        return await workflow.execute_activity(
            ACTIVITY,
            request["stage"],
            task_queue=request["task_queue"],
            start_to_close_timeout=datetime.timedelta(seconds=60),
            heartbeat_timeout=datetime.timedelta(seconds=30),
            retry_policy=RetryPolicy(
                initial_interval=datetime.timedelta(milliseconds=100),
                maximum_attempts=request.get("attempts", 3),
            ),
            result_type=dict,
        )


def orders(rows: int) -> pa.Table:
    """Orders like `flightdeck generate`'s, deterministic, with nulls in every nullable column."""
    ids = pa.array(range(rows), type=pa.int64())
    every_9th = pc.equal(pc.bit_wise_and(ids, pa.scalar(7, pa.int64())), 5)
    cents = pc.bit_wise_and(pc.multiply(ids, 7919), pa.scalar(0xFFFFF, pa.int64()))
    amount = pc.divide(pc.cast(pc.bit_wise_and(cents, pa.scalar(131071, pa.int64())), pa.float64()), 100.0)
    categories = pa.array(["books", "games", "garden", "grocery", "music", "outdoor", "tools", "toys"])
    category = pc.take(categories, pc.bit_wise_and(ids, pa.scalar(7, pa.int64())))
    base = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    ts = pc.add(pa.scalar(base, pa.timestamp("us", tz="UTC")),
                pc.cast(pc.multiply(ids, 1_000_000), pa.duration("us")))
    return pa.table({
        "id": ids,
        "customer": pc.add(pc.bit_wise_and(pc.multiply(ids, 31), pa.scalar(65535, pa.int64())), 1),
        "amount": pc.if_else(every_9th, None, amount),
        "category": pc.if_else(pc.equal(pc.bit_wise_and(ids, pa.scalar(15, pa.int64())), 2), None, category),
        "ts": pc.if_else(pc.equal(pc.bit_wise_and(ids, pa.scalar(31, pa.int64())), 3), None, ts),
    })


def call_options():
    return flight.FlightCallOptions(headers=[(b"x-flightdeck-tenant", TENANT.encode())])


def put_input(node: str, run: str, table: pa.Table) -> dict:
    """Stores `table` as stage 0 of `run` and returns its DatasetRef JSON."""
    client = flight.connect(node)
    descriptor = flight.FlightDescriptor.for_path(TENANT, f"{run}-s0", "0")
    writer, _ = client.do_put(descriptor, table.schema, call_options())
    writer.write_table(table, max_chunksize=50_000)
    writer.close()
    info = client.get_flight_info(descriptor, call_options())
    client.close()
    return {"node": node, "ticket": base64.b64encode(info.endpoints[0].ticket.ticket).decode(),
            "rows": info.total_records, "bytes": info.total_bytes,
            "schema_fingerprint": "", "checksum": ""}


def read_output(ref: dict) -> pa.Table:
    client = flight.connect(ref["node"])
    try:
        return client.do_get(flight.Ticket(base64.b64decode(ref["ticket"])), call_options()).read_all()
    finally:
        client.close()


def flight_info(node: str, path) -> flight.FlightInfo:
    client = flight.connect(node)
    try:
        return client.get_flight_info(flight.FlightDescriptor.for_path(*path), call_options())
    finally:
        client.close()


def datasets_under(node: str, prefix: str) -> list:
    client = flight.connect(node)
    try:
        return [info.descriptor.path for info in client.list_flights(prefix.encode(), call_options())]
    finally:
        client.close()


def stage_request(run: str, stage: int, transform: str, input_ref: dict, durable=False,
                  attempts=3, lease_seconds=None) -> dict:
    """A StageWorkflow request: the activity input and how many attempts it gets."""
    stage_input = {"tenant": TENANT, "run": run, "stage": stage, "partition": 0,
                   "transform": transform, "durable": durable, "input": input_ref}
    if lease_seconds is not None:
        stage_input["lease_seconds"] = lease_seconds
    return {"attempts": attempts, "stage": stage_input}


async def run_workflows(address: str, stage_queue: str, requests: list) -> list:
    """Runs one StageWorkflow per request; each result is the DatasetRef dict or the
    WorkflowFailureError it raised."""
    client = await Client.connect(address, namespace="default")
    workflow_queue = f"wf-{uuid.uuid4()}"
    results = []
    async with Worker(client, task_queue=workflow_queue, workflows=[StageWorkflow],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        for request in requests:
            try:
                results.append(await client.execute_workflow(
                    StageWorkflow.run,
                    {"task_queue": stage_queue, **request},
                    id=f"python-stage-{uuid.uuid4()}",
                    task_queue=workflow_queue,
                    execution_timeout=datetime.timedelta(seconds=120),
                ))
            except WorkflowFailureError as failure:
                results.append(failure)
    return results


def describe_failure(error: BaseException) -> str:
    chain = []
    while error is not None:
        chain.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or getattr(error, "cause", None)
    return " <- ".join(chain)


def assert_stage_output(ref, node: str, run: str, stage: int, expected: pa.Table):
    assert isinstance(ref, dict), f"stage {stage} failed: {describe_failure(ref)}"
    assert ref["node"] == node
    output = read_output(ref)
    assert output.schema.equals(expected.schema), (output.schema, expected.schema)
    assert output.equals(expected)
    info = flight_info(node, [TENANT, f"{run}-s{stage}", "0"])
    assert base64.b64decode(ref["ticket"]) == info.endpoints[0].ticket.ticket
    assert ref["rows"] == expected.num_rows == info.total_records
    assert ref["bytes"] == info.total_bytes
    assert ref["bytes"] > 0
    assert FINGERPRINT.match(ref["schema_fingerprint"]), ref
    assert FINGERPRINT.match(ref["checksum"]), ref


def stage_failure(result) -> ActivityError:
    """The ActivityError of a failed StageWorkflow (its cause is the ApplicationError)."""
    assert isinstance(result, WorkflowFailureError), f"workflow did not fail: {result!r}"
    activity_error = result.cause
    assert isinstance(activity_error, ActivityError), repr(activity_error)
    assert isinstance(activity_error.cause, ApplicationError), repr(activity_error.cause)
    return activity_error


def serve_stage(shared_dev_server, stage_worker, *extra_args):
    """Starts a stage worker on a fresh task queue; returns (temporal address, queue)."""
    _, address = shared_dev_server
    queue = f"python-stage-{uuid.uuid4()}"
    stage_worker(address, queue, *extra_args)
    return address, queue


def serve_stage_with_custom_transforms(shared_dev_server, stage_worker, tmp_path, monkeypatch):
    """serve_stage, with --transforms naming a module of CUSTOM_TRANSFORMS."""
    (tmp_path / "custom_stage_transforms.py").write_text(CUSTOM_TRANSFORMS)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return serve_stage(shared_dev_server, stage_worker, "--transforms", "custom_stage_transforms")


def test_python_stages_chain_through_tickets_and_match_local_transforms(
        shared_dev_server, data_node, stage_worker, tmp_path, monkeypatch):
    address, queue = serve_stage_with_custom_transforms(
        shared_dev_server, stage_worker, tmp_path, monkeypatch)

    run = "chain"
    table = orders(200_000)
    input_ref = put_input(data_node, run, table)

    # Stage 1 reads stage 0's ticket; stage 2 reads stage 1's output ticket.
    [filtered] = asyncio.run(run_workflows(address, queue, [
        stage_request(run, 1, "filter_large_amounts", input_ref)]))
    [discounted, custom] = asyncio.run(run_workflows(address, queue, [
        stage_request(run, 2, "add_discount", filtered),
        stage_request(run, 3, "big_spenders", input_ref)]))

    expected_filtered = builtin_transforms.filter_large_amounts(table)
    assert 0 < expected_filtered.num_rows < table.num_rows
    assert_stage_output(filtered, data_node, run, 1, expected_filtered)

    expected_discounted = builtin_transforms.add_discount(expected_filtered)
    assert_stage_output(discounted, data_node, run, 2, expected_discounted)
    assert discounted["schema_fingerprint"] != filtered["schema_fingerprint"]
    assert pc.sum(read_output(discounted).column("amount_eur")).as_py() == pytest.approx(
        pc.sum(expected_filtered.column("amount")).as_py() * 0.92)

    expected_custom = table.filter(pc.greater(table.column("amount"), 900.0)).select(["id", "amount"])
    assert_stage_output(custom, data_node, run, 3, expected_custom)

    # A stage given a lease (as a pipeline run gives it) puts its output with
    # that expiry; without one the output does not expire.
    [leased] = asyncio.run(run_workflows(address, queue, [
        stage_request(run, 4, "identity", input_ref, lease_seconds=600)]))
    assert_stage_output(leased, data_node, run, 4, table)
    expires = flight_info(data_node, [TENANT, f"{run}-s4", "0"]).endpoints[0].expiration_time
    assert expires is not None
    assert 500 < expires.as_py().timestamp() - time.time() <= 600
    assert flight_info(data_node, [TENANT, f"{run}-s1", "0"]).endpoints[0].expiration_time is None


def test_a_stage_whose_transform_keeps_no_rows_writes_an_empty_dataset(
        shared_dev_server, data_node, stage_worker):
    address, queue = serve_stage(shared_dev_server, stage_worker)
    run = "empty"
    small = orders(3_000).filter(pc.less_equal(pc.field("amount"), 10.0))
    assert small.num_rows > 0
    [ref] = asyncio.run(run_workflows(address, queue, [
        stage_request(run, 1, "filter_large_amounts", put_input(data_node, run, small))]))
    expected = builtin_transforms.filter_large_amounts(small)
    assert expected.num_rows == 0
    assert ref["rows"] == 0
    output = read_output(ref)
    assert output.num_rows == 0 and output.schema.equals(small.schema)
    assert flight_info(data_node, [TENANT, f"{run}-s1", "0"]).total_records == 0


def test_stage_errors_fail_the_workflow_with_their_type_and_retryability(
        shared_dev_server, data_node, stage_worker):
    address, queue = serve_stage(shared_dev_server, stage_worker)
    run = "errors"
    input_ref = put_input(data_node, run, orders(1_000))
    unknown_ticket = {**input_ref, "ticket": base64.b64encode(b"fdt1:acme:" + b"0" * 32).decode()}
    dead_node = {**input_ref, "node": f"grpc+tcp://127.0.0.1:{free_port()}"}  # nothing listens there
    no_amount = put_input(data_node, f"{run}-no-amount", orders(100).drop_columns(["amount"]))

    results = asyncio.run(run_workflows(address, queue, [
        stage_request(run, 1, "no_such_transform", input_ref),
        stage_request(run, 2, "add_discount", unknown_ticket),
        stage_request(run, 3, "add_discount", dead_node, attempts=2),
        stage_request(run, 4, "add_discount", input_ref, durable="yes"),
        stage_request(run, 5, "add_discount", no_amount),
    ]))

    unknown_transform = stage_failure(results[0])
    assert unknown_transform.cause.type == "UnknownTransform"
    assert unknown_transform.cause.non_retryable
    assert "no_such_transform" in unknown_transform.cause.message
    assert "add_discount" in unknown_transform.cause.message  # names the known ones
    assert unknown_transform.retry_state == RetryState.NON_RETRYABLE_FAILURE

    missing = stage_failure(results[1])
    assert missing.cause.type == "UnknownTicket"
    assert missing.cause.non_retryable
    assert missing.retry_state == RetryState.NON_RETRYABLE_FAILURE

    unreachable = stage_failure(results[2])
    assert unreachable.cause.type == "FlightUnavailable"
    assert not unreachable.cause.non_retryable
    assert unreachable.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED

    bad_input = stage_failure(results[3])
    assert bad_input.cause.type == "InvalidStageInput"
    assert bad_input.cause.non_retryable
    assert "'durable'" in bad_input.cause.message

    broken = stage_failure(results[4])
    assert broken.cause.type == "TransformFailed"
    assert broken.cause.non_retryable
    assert "'add_discount'" in broken.cause.message and "amount" in broken.cause.message

    # Failed stages wrote nothing: only the two input datasets exist.
    assert sorted(datasets_under(data_node, f"{TENANT}/")) == [
        [TENANT.encode(), f"{run}-no-amount-s0".encode(), b"0"],
        [TENANT.encode(), f"{run}-s0".encode(), b"0"]]


def node_supports_data_dir() -> bool:
    help_text = subprocess.run([flightdeck_binary(), "node", "--help"], capture_output=True,
                               text=True, timeout=30).stdout
    return "--data-dir" in help_text


def node_action(node: str, name: str):
    client = flight.connect(node)
    try:
        return [json.loads(r.body.to_pybytes()) for r in client.do_action(flight.Action(name, b""), call_options())]
    finally:
        client.close()


def node_lists(node: str, name: str) -> bool:
    client = flight.connect(node)
    try:
        return name in [a.type for a in client.list_actions(call_options())]
    except pa.ArrowNotImplementedError:
        return False
    finally:
        client.close()


def start_node_with_data_dir_if_supported(tmp_path) -> Process:
    args = ["node", "--port", "0"]
    if node_supports_data_dir():
        args += ["--data-dir", str(tmp_path / "node")]
    return Process(args, r"listening on (grpc\+tcp://\S+)")


def put_table(node: str, path, table: pa.Table) -> None:
    client = flight.connect(node)
    try:
        writer, _ = client.do_put(flight.FlightDescriptor.for_path(*path), table.schema, call_options())
        writer.write_table(table)
        writer.close()
    finally:
        client.close()


def test_durable_stage_output_is_persisted_when_the_node_can(shared_dev_server, stage_worker, tmp_path):
    node_process = start_node_with_data_dir_if_supported(tmp_path)
    try:
        node = node_process.match.group(1)
        address, queue = serve_stage(shared_dev_server, stage_worker)
        run = "durable"
        table = orders(10_000)
        [ref] = asyncio.run(run_workflows(address, queue, [
            stage_request(run, 1, "add_discount", put_input(node, run, table), durable=True)]))
        assert_stage_output(ref, node, run, 1, builtin_transforms.add_discount(table))
        if node_lists(node, "persist"):
            # The node's own accounting: the stage output (and only it) is durable.
            [stats] = node_action(node, "stats")
            assert stats["datasets_durable"] == 1, stats
    finally:
        node_process.kill()


def test_a_retried_durable_stage_reuses_the_output_an_earlier_attempt_left(
        shared_dev_server, stage_worker, tmp_path, monkeypatch):
    node_process = start_node_with_data_dir_if_supported(tmp_path)
    try:
        node = node_process.match.group(1)
        address, queue = serve_stage_with_custom_transforms(
            shared_dev_server, stage_worker, tmp_path, monkeypatch)
        run = "retry"
        table = orders(5_000)
        input_ref = put_input(node, run, table)
        # What an earlier attempt put at the output path before it failed.
        earlier = builtin_transforms.add_discount(table.slice(0, 123))
        put_table(node, [TENANT, f"{run}-s1", "0"], earlier)

        [ref] = asyncio.run(run_workflows(address, queue, [
            stage_request(run, 1, "discount_after_a_retry", input_ref, durable=True)]))
        if node_lists(node, "persist"):
            assert_stage_output(ref, node, run, 1, earlier)  # reused, not recomputed
            [stats] = node_action(node, "stats")
            assert stats["datasets_durable"] == 1, stats
        else:
            # No durable outputs on this node: the retry recomputes and replaces.
            assert_stage_output(ref, node, run, 1, builtin_transforms.add_discount(table))
    finally:
        node_process.kill()
