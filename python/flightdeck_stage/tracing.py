"""Tracing of the Python stage worker, as the C++ side does it.

Configured by the standard OTEL_* variables with the same rule as
`flightdeck worker`: on when OTEL_TRACES_EXPORTER=otlp or an OTLP endpoint
variable is set, off with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none.
When on, spans go over OTLP/HTTP (the OpenTelemetry SDK's exporter, which
reads the OTEL_* variables itself) and the Temporal SDK's TracingInterceptor
continues the trace the workflow's header `_tracer-data` carries, so each
activity is a span "RunActivity:flightdeck.python_stage" of the run's trace.
The node calls an activity makes send `traceparent` (traceparent_headers),
so the node's spans join it too.
"""

import os
from typing import List, Optional, Tuple

_provider = None


def _enabled() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    if exporter and exporter != "otlp":
        raise ValueError(f"OTEL_TRACES_EXPORTER={exporter!r} is not supported: the stage worker exports with otlp (or none)")
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol and protocol not in ("http/protobuf", "http/json"):
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported: the stage worker exports "
                         "OTLP over HTTP (point it at the receiver's HTTP port, usually 4318)")
    enabled = exporter == "otlp" or bool(os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                                         or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    if enabled:
        _check_settings()
    return enabled


_SAMPLERS = ("always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off",
             "parentbased_traceidratio")


def _check_settings() -> None:
    """Refuses, naming the variable, what `flightdeck worker` refuses too
    (the OpenTelemetry SDK would warn and fall back instead)."""
    sampler = os.environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if sampler and sampler not in _SAMPLERS:
        raise ValueError(f"OTEL_TRACES_SAMPLER={sampler!r} is not supported; use {', '.join(_SAMPLERS)}")
    if sampler.endswith("traceidratio") and os.environ.get("OTEL_TRACES_SAMPLER_ARG"):
        try:
            ratio = float(os.environ["OTEL_TRACES_SAMPLER_ARG"])
        except ValueError:
            ratio = -1.0
        if not 0.0 <= ratio <= 1.0:
            raise ValueError("OTEL_TRACES_SAMPLER_ARG must be a probability in [0, 1]")
    for name, least in (("OTEL_BSP_SCHEDULE_DELAY", 1), ("OTEL_BSP_MAX_QUEUE_SIZE", 1),
                        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 1), ("OTEL_BSP_EXPORT_TIMEOUT", 1),
                        ("OTEL_EXPORTER_OTLP_TIMEOUT", 1), ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", 1)):
        text = os.environ.get(name)
        if text is None:
            continue
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise ValueError(f"{name} must be an integer of at least {least}, got {text!r}")


def interceptors() -> list:
    """The Temporal client interceptors tracing needs ([] when it is off).
    Sets up the process's tracer provider on first use."""
    global _provider
    if not _enabled():
        return []
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from temporalio.contrib.opentelemetry import TracingInterceptor

    if _provider is None:
        # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over this default.
        named = os.environ.get("OTEL_SERVICE_NAME") or any(
            item.strip().startswith("service.name=") for item in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","))
        resource = Resource.create({} if named else {"service.name": "flightdeck-stage"})
        _provider = TracerProvider(resource=resource)
        _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(_provider)
    return [TracingInterceptor()]


def shutdown() -> None:
    """Exports what is queued; call before the process exits."""
    if _provider is not None:
        _provider.shutdown()


def traceparent_headers() -> List[Tuple[bytes, bytes]]:
    """The current span's W3C trace context as Flight call headers ([]
    when there is none)."""
    try:
        from opentelemetry import propagate
    except ImportError:
        return []
    carrier: dict = {}
    propagate.inject(carrier)
    return [(key.encode(), value.encode()) for key, value in carrier.items() if key in ("traceparent", "tracestate")]
