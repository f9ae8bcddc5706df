"""Official Python SDK worker serving the small workflows the C++ client tests
drive (tests/integration/temporal/client_integration_test.cc).

Usage: client_test_worker.py --target HOST:PORT --namespace NS --task-queue Q

Prints "READY <task queue>" once the worker polls; runs until SIGTERM/SIGINT.
"""

import argparse
import asyncio
import signal
import sys
from typing import List

from temporalio import workflow
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker


@workflow.defn(name="Greet")
class Greet:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"Hello, {name}!"


@workflow.defn(name="Add")
class Add:
    @workflow.run
    async def run(self, a: int, b: int) -> int:
        return a + b


@workflow.defn(name="Collect")
class Collect:
    """Collects "add" signals until "finish"; a cancel request cancels it."""

    def __init__(self) -> None:
        self._items: List[str] = []
        self._done = False

    @workflow.run
    async def run(self) -> List[str]:
        await workflow.wait_condition(lambda: self._done)
        return self._items

    @workflow.signal(name="add")
    def add(self, item: str) -> None:
        self._items.append(item)

    @workflow.signal(name="finish")
    def finish(self) -> None:
        self._done = True

    @workflow.query(name="items")
    def items(self) -> List[str]:
        return self._items

    @workflow.query(name="broken")
    def broken(self) -> str:
        raise ValueError("query handler refused")


@workflow.defn(name="Fail")
class Fail:
    @workflow.run
    async def run(self, reason: str) -> str:
        raise ApplicationError(reason, {"code": 7}, type="OrderRejected", non_retryable=True)


@workflow.defn(name="Countdown")
class Countdown:
    """Continues as new with n - 1 until n is 0, then returns the runs seen."""

    @workflow.run
    async def run(self, n: int) -> str:
        if n > 0:
            workflow.continue_as_new(n - 1)
        return f"liftoff after {workflow.info().continued_run_id is not None}"


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", required=True)
    args = parser.parse_args()

    client = await Client.connect(args.target, namespace=args.namespace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=args.task_queue,
        workflows=[Greet, Add, Collect, Fail, Countdown],
    ):
        print(f"READY {args.task_queue}", flush=True)
        await stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
