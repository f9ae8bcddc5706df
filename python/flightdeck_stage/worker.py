"""A Temporal worker that serves `flightdeck.python_stage` on one task queue."""

import asyncio
import concurrent.futures
import importlib
import signal
from typing import Iterable, Optional

from temporalio.client import Client
from temporalio.worker import Worker

from flightdeck_stage import registry
from flightdeck_stage.stage import ACTIVITY_NAME, python_stage


def load_transform_modules(modules: Iterable[str]) -> None:
    """Imports the built-in transforms and each named module (which registers more)."""
    importlib.import_module("flightdeck_stage.transforms")
    for name in modules:
        importlib.import_module(name)


async def serve(address: str, namespace: str, task_queue: str,
                max_concurrent: int = 4, ready: Optional[asyncio.Event] = None) -> None:
    """Connects, then polls `task_queue` until SIGINT/SIGTERM or cancellation.

    Prints one line "flightdeck_stage serving ... on task queue Q" once the
    client is connected and the worker built (scripts and tests wait for it).
    """
    client = await Client.connect(address, namespace=namespace)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max_concurrent) as executor:
        worker = Worker(
            client,
            task_queue=task_queue,
            activities=[python_stage],
            activity_executor=executor,
            max_concurrent_activities=max_concurrent,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(
            f"flightdeck_stage serving {ACTIVITY_NAME} "
            f"(transforms: {', '.join(registry.registered_transforms())}) "
            f"on task queue {task_queue} at {address} namespace {namespace}",
            flush=True,
        )
        if ready is not None:
            ready.set()
        async with worker:
            await stop.wait()
