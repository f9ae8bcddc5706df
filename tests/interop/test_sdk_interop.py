"""Interop between the C++ SDK worker and the official Python SDK (temporalio):
Python clients drive C++ workflows, and activities cross languages both ways."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

pytestmark = pytest.mark.timeout(180)


@activity.defn(name="py_reverse")
async def py_reverse(text: str) -> str:
    return text[::-1]


@workflow.defn(name="PyCallsCpp")
class PyCallsCpp:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            "cpp_upper", text, task_queue="cpp-tq", start_to_close_timeout=timedelta(seconds=10)
        )


def run(coro):
    return asyncio.run(coro)


def test_python_client_runs_cpp_workflow(cpp_worker):
    address, queue = cpp_worker

    async def scenario():
        client = await Client.connect(address)
        return await client.execute_workflow("Greet", "Py", id=f"greet-{uuid.uuid4()}", task_queue=queue)

    assert run(scenario()) == "Hello, Py!"


def test_cpp_workflow_calls_python_activity(cpp_worker):
    address, queue = cpp_worker

    async def scenario():
        client = await Client.connect(address)
        async with Worker(client, task_queue="py-tq", activities=[py_reverse]):
            handle = await client.start_workflow(
                "CallPython", args=["flightdeck", "py-tq"], id=f"call-py-{uuid.uuid4()}", task_queue=queue
            )
            result = await handle.result()
            history = await handle.fetch_history()
        return result, history

    result, history = run(scenario())
    assert result == "kcedthgilf"
    scheduled = [e for e in history.events if e.HasField("activity_task_scheduled_event_attributes")]
    assert scheduled[0].activity_task_scheduled_event_attributes.task_queue.name == "py-tq"


def test_python_workflow_calls_cpp_activity(cpp_worker):
    address, _ = cpp_worker

    async def scenario():
        client = await Client.connect(address)
        async with Worker(
            client, task_queue="py-tq", workflows=[PyCallsCpp], workflow_runner=UnsandboxedWorkflowRunner()
        ):
            return await client.execute_workflow(PyCallsCpp.run, "shout", id=f"py-{uuid.uuid4()}", task_queue="py-tq")

    assert run(scenario()) == "SHOUT"


def test_python_signals_and_queries_reach_cpp_workflow(cpp_worker):
    address, queue = cpp_worker

    async def scenario():
        client = await Client.connect(address)
        handle = await client.start_workflow("SignalCounter", id=f"sig-{uuid.uuid4()}", task_queue=queue)
        await handle.signal("add", 5)
        await handle.signal("add", 7)
        total = None
        for _ in range(100):
            total = await handle.query("total")
            if total == 12:
                break
            await asyncio.sleep(0.1)
        with pytest.raises(Exception, match="unknown query type"):
            await handle.query("no_such_query")
        await handle.signal("done", "now")
        return total, await handle.result()

    total, result = run(scenario())
    assert total == 12
    assert result == 12


def test_cpp_workflow_failure_is_seen_by_python(cpp_worker):
    address, queue = cpp_worker

    async def scenario():
        client = await Client.connect(address)
        with pytest.raises(WorkflowFailureError) as info:
            # Undecodable input: Greet wants a string.
            await client.execute_workflow("Greet", 42, id=f"bad-{uuid.uuid4()}", task_queue=queue)
        return info.value

    error = run(scenario())
    assert "cannot decode input" in str(error.cause)


def test_python_update_is_rejected_clearly(cpp_worker):
    address, queue = cpp_worker

    async def scenario():
        client = await Client.connect(address)
        handle = await client.start_workflow("SignalCounter", id=f"upd-{uuid.uuid4()}", task_queue=queue)
        with pytest.raises(Exception) as info:
            await handle.execute_update("set_total", 3)
        await handle.signal("done", "now")
        return info.value, await handle.result()

    error, result = run(scenario())
    assert "does not support updates" in str(error.cause if getattr(error, "cause", None) else error)
    assert result == 0
