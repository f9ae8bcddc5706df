"""A Temporal worker that serves `flightdeck.python_stage` on one task queue."""

import asyncio
import concurrent.futures
import dataclasses
import importlib
import os
import signal
from typing import Iterable, Optional

import temporalio.converter
from temporalio.client import Client, TLSConfig
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.envconfig import ClientConfig
from temporalio.worker import Worker

from flightdeck_stage import registry, tracing
from flightdeck_stage.codec import EncryptionCodec
from flightdeck_stage.stage import ACTIVITY_NAME, python_stage


def load_transform_modules(modules: Iterable[str]) -> None:
    """Imports the built-in transforms and each named module (which registers more)."""
    importlib.import_module("flightdeck_stage.transforms")
    for name in modules:
        importlib.import_module(name)


def connect_config(address: Optional[str] = None, namespace: Optional[str] = None, profile: Optional[str] = None,
                   tls_ca: Optional[str] = None, tls_cert: Optional[str] = None, tls_key: Optional[str] = None,
                   tls_server_name: Optional[str] = None, codec_key_file: Optional[str] = None) -> dict:
    """Client.connect's arguments the way the `temporal` CLI and flightdeck's
    C++ commands resolve them: the profile of the Temporal config file
    (TEMPORAL_CONFIG_FILE, ~/.config/temporalio/temporal.toml), over it the
    TEMPORAL_* environment (the SDK's envconfig), over both these flags.
    With `codec_key_file` (or FLIGHTDECK_CODEC_KEY_FILE) payloads go
    through the same encryption codec as flightdeck's C++ workers."""
    config = dict(ClientConfig.load_client_connect_config(profile=profile))
    config.setdefault("target_host", "127.0.0.1:7233")
    config.setdefault("namespace", "default")
    if address:
        config["target_host"] = address
    if namespace:
        config["namespace"] = namespace
    if tls_ca or tls_cert or tls_server_name:
        if bool(tls_cert) != bool(tls_key):
            raise ValueError("--tls-cert-path and --tls-key-path go together")
        read = lambda path: open(path, "rb").read() if path else None  # noqa: E731
        config["tls"] = TLSConfig(server_root_ca_cert=read(tls_ca), client_cert=read(tls_cert),
                                  client_private_key=read(tls_key), domain=tls_server_name)
    codec_key_file = codec_key_file or os.environ.get("FLIGHTDECK_CODEC_KEY_FILE")
    if codec_key_file:
        config["data_converter"] = dataclasses.replace(
            temporalio.converter.DataConverter.default, payload_codec=EncryptionCodec.from_key_file(codec_key_file))
    return config


async def serve(address: Optional[str], namespace: Optional[str], task_queue: str,
                max_concurrent: int = 4, ready: Optional[asyncio.Event] = None,
                metrics_address: Optional[str] = None, **connect) -> None:
    """Connects (see connect_config; `connect` holds its other arguments),
    then polls `task_queue` until SIGINT/SIGTERM or cancellation. With
    `metrics_address` (HOST:PORT) the SDK serves Prometheus /metrics there.

    Prints one line "flightdeck_stage serving ... on task queue Q" once the
    client is connected and the worker built (scripts and tests wait for it).
    """
    config = connect_config(address, namespace, **connect)
    address, namespace = config["target_host"], config["namespace"]
    if metrics_address:
        # The SDK's own Prometheus endpoint: the official metric names.
        config["runtime"] = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=metrics_address)))
    config["interceptors"] = tracing.interceptors()
    client = await Client.connect(**config)
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
        try:
            async with worker:
                await stop.wait()
        finally:
            tracing.shutdown()
