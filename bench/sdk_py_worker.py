"""The Python SDK side of bench/sdk.py: the same workflows and activity as the
C++ test worker (OneActivity, ManyActivities, Square), on one task queue.
Usage: sdk_py_worker.py ADDRESS TASK_QUEUE. Prints "worker ready"."""

import asyncio
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn(name="Square")
async def square(x: int) -> int:
    return x * x


@workflow.defn(name="OneActivity")
class OneActivity:
    @workflow.run
    async def run(self, x: int) -> int:
        return await workflow.execute_activity("Square", x, start_to_close_timeout=timedelta(seconds=10))


@workflow.defn(name="ManyActivities")
class ManyActivities:
    @workflow.run
    async def run(self, n: int) -> int:
        results = await asyncio.gather(
            *[
                workflow.execute_activity("Square", i, start_to_close_timeout=timedelta(seconds=10))
                for i in range(n)
            ]
        )
        return sum(results)


async def main(address: str, queue: str) -> None:
    client = await Client.connect(address)
    worker = Worker(client, task_queue=queue, workflows=[OneActivity, ManyActivities], activities=[square])
    async with worker:
        print("worker ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2]))
    except KeyboardInterrupt:
        pass
