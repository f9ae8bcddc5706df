"""One trace per pipeline run across both planes, received by a real Jaeger
over OTLP/HTTP: `flightdeck run` starts the trace, the C++ worker's workflow
and activities, the Python stage worker's activities (the Temporal Python
SDK's own TracingInterceptor) and the data node's Flight calls are its
spans, linked parent to child through the `_tracer-data` Temporal header and
the `traceparent` Flight header."""

import json
import re
import subprocess
import time

import pytest

from conftest import flightdeck_binary
from jaeger import Jaeger
from pipeline_cluster import cluster, wait_for  # noqa: F401 (a fixture)
from test_pipeline_python_stages import run_mixed, write_inputs

STAGE_ACTIVITY = "RunActivity:flightdeck.python_stage"


@pytest.fixture
def jaeger(tmp_path):
    backend = Jaeger(tmp_path)
    yield backend
    backend.close()


def trace_id_of(run_output: str) -> str:
    found = re.search(r"^trace id: ([0-9a-f]{32})$", run_output, re.M)
    assert found, run_output
    return found.group(1)


def test_a_mixed_pipeline_run_is_one_trace_in_jaeger(cluster, tmp_path, jaeger):
    write_inputs(tmp_path)
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    c = cluster("traces", env=env)
    c.python_worker()
    run = run_mixed(c, tmp_path, "traces-1")
    trace_id = trace_id_of(run.stdout)

    def complete():
        spans = jaeger.trace(trace_id)
        services = {span["service"] for span in spans}
        names = {span["name"] for span in spans}
        node_parents = {span["parent"] for span in spans if span["service"] == "flightdeck-node"}
        stage_spans = {span["span_id"] for span in spans if span["name"] == STAGE_ACTIVITY}
        ids = {span["span_id"] for span in spans}
        # Every process's batches arrived: no span waits for its parent.
        return ({"flightdeck-run", "flightdeck-worker", "flightdeck-node", "flightdeck-stage"} <= services
                and "RunWorkflow:flightdeck.Pipeline" in names and node_parents & stage_spans
                and all(span["parent"] in ids for span in spans if span["parent"])) and spans

    spans = wait_for(complete, 60, "the run's spans from every process in Jaeger")
    by_id = {span["span_id"]: span for span in spans}
    assert {int(span["trace_id"], 16) for span in spans} == {int(trace_id, 16)}

    # One root: the client's start; the run below it; every activity below the run.
    roots = [span for span in spans if span["parent"] is None]
    assert [(r["name"], r["service"]) for r in roots] == [("StartWorkflow:flightdeck.Pipeline", "flightdeck-run")]
    [workflow] = [span for span in spans if span["name"] == "RunWorkflow:flightdeck.Pipeline"]
    assert workflow["service"] == "flightdeck-worker" and workflow["parent"] == roots[0]["span_id"]
    assert workflow["tags"]["temporalWorkflowID"] == "traces-1"
    activities = [span for span in spans if span["name"].startswith("RunActivity:")]
    assert {span["service"] for span in activities} == {"flightdeck-worker", "flightdeck-stage"}
    assert all(span["parent"] == workflow["span_id"] for span in activities)

    # The node's Flight calls are children of the activity that made them,
    # C++ and Python alike, and say what they moved.
    node_spans = [span for span in spans if span["service"] == "flightdeck-node"]
    assert {"flight.DoPut", "flight.DoGet"} <= {span["name"] for span in node_spans}
    for span in node_spans:
        assert by_id[span["parent"]]["name"].startswith("RunActivity:"), span
    puts = [span for span in node_spans if span["name"] == "flight.DoPut"]
    assert puts and all(span["tags"]["flightdeck.rows"] >= 0 and span["tags"]["flightdeck.tenant"] for span in puts)
    assert sum(span["tags"]["flightdeck.rows"] for span in puts) > 0
    assert {by_id[span["parent"]]["service"] for span in node_spans} == {"flightdeck-worker", "flightdeck-stage"}


def test_json_logs_carry_the_trace_and_span_of_the_activity(cluster, tmp_path, jaeger):
    write_inputs(tmp_path)
    c = cluster("trace-logs", env={"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200",
                     "FLIGHTDECK_LOG_FORMAT": "json", "FLIGHTDECK_LOG_LEVEL": "debug"})
    c.python_worker()
    run = run_mixed(c, tmp_path, "trace-logs-1")
    trace_id = trace_id_of(run.stdout)
    worker = c.cpp_workers()[0]
    lines = [json.loads(line) for line in worker.stderr_text().splitlines() if line.startswith("{")]
    traced = [line for line in lines if line.get("trace_id") == trace_id]
    assert traced, lines[-20:]
    activity_lines = [line for line in traced if line.get("activity_type")]
    assert activity_lines
    # Each activity line names the span of its attempt, which Jaeger holds.
    wanted = {line["span_id"] for line in activity_lines}
    wait_for(lambda: wanted <= {span["span_id"] for span in jaeger.trace(trace_id)}, 60,
             "the activity spans the log lines name, in Jaeger")
    assert all(line["workflow_id"] == "trace-logs-1" and line["run_id"] for line in traced)


@pytest.mark.parametrize("env, message", [
    ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER='zipkin' is not supported"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
     "OTEL_EXPORTER_OTLP_PROTOCOL='grpc' is not supported"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_SAMPLER": "sometimes"},
     "OTEL_TRACES_SAMPLER='sometimes' is not supported"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_BSP_MAX_QUEUE_SIZE": "lots"},
     "OTEL_BSP_MAX_QUEUE_SIZE must be an integer"),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "127.0.0.1:4318"}, "must be an http:// or https:// URL"),
])
def test_unsupported_otel_settings_are_refused_up_front(env, message, tmp_path):
    import os
    done = subprocess.run([flightdeck_binary(), "node", "--port", "0"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    assert done.returncode != 0 and message in done.stderr, done.stderr


@pytest.mark.parametrize("env, message", [
    ({"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER='sometimes' is not supported"),
    ({"OTEL_BSP_SCHEDULE_DELAY": "0"}, "OTEL_BSP_SCHEDULE_DELAY must be an integer of at least 1"),
    ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL='grpc' is not supported"),
])
def test_the_python_stage_worker_refuses_what_the_cpp_worker_refuses(env, message):
    import os
    import sys

    from conftest import free_port
    from pipeline_cluster import ROOT
    done = subprocess.run([sys.executable, "-m", "flightdeck_stage", "--address", f"127.0.0.1:{free_port()}",
                           "--task-queue", "q"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "python"),
                               "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", **env})
    assert done.returncode == 1 and message in done.stderr, done.stderr


def test_spans_are_dropped_and_counted_when_the_backend_is_gone(tmp_path):
    """A dead collector never blocks the node: its calls succeed, the spans
    are counted as dropped on /metrics."""
    import os
    import urllib.request

    import pyarrow as pa
    import pyarrow.flight as flight

    from conftest import Process, free_port
    dead = free_port()
    metrics_port = free_port()
    node = Process(["node", "--port", "0", "--metrics-port", str(metrics_port)],
                   r"listening on (\S+)",
                   env={**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{dead}",
                        "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_EXPORTER_OTLP_TIMEOUT": "500"})
    try:
        client = flight.connect(node.match.group(1))
        table = pa.table({"x": list(range(1000))})
        for i in range(5):
            writer, _ = client.do_put(flight.FlightDescriptor.for_path("default", "traced", str(i)), table.schema)
            writer.write_table(table)
            writer.close()

        def dropped():
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as answer:
                text = answer.read().decode()
            found = re.search(r"^flightdeck_trace_spans_dropped (\S+)$", text, re.M)
            return found and float(found.group(1)) >= 5

        wait_for(dropped, 60, "the dropped spans to be counted")
    finally:
        node.kill()


def test_the_demo_traces_its_run_to_the_jaeger_it_starts(tmp_path):
    from jaeger import jaeger_binary
    done = subprocess.run([flightdeck_binary(), "demo", "--rows", "200000", "--partitions", "2", "--state-dir",
                           str(tmp_path / "temporal"), "--jaeger", jaeger_binary()],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"traces\s+http://127\.0\.0\.1:\d+/search\?service=flightdeck-demo \(Jaeger UI", done.stdout)
    trace_id_of(done.stdout)
    sent = re.search(r"traced\s+(\d+) spans sent to http://127\.0\.0\.1:\d+/v1/traces, (\d+) dropped", done.stdout)
    assert sent and int(sent.group(1)) >= 5 and sent.group(2) == "0", done.stdout
    assert "Jaeger; output removed" in done.stdout


def test_a_python_client_with_the_sdks_tracing_interceptor_starts_the_trace_our_worker_continues(
        cluster, tmp_path, jaeger):
    """The other direction of the header: the Temporal Python SDK's
    TracingInterceptor writes `_tracer-data` on the start, our worker reads
    it, and the run's spans hang below the Python client's span."""
    import asyncio
    from datetime import timedelta

    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from temporalio.client import Client
    from temporalio.contrib.opentelemetry import TracingInterceptor

    from test_pipeline_python_stages import spec_text

    write_inputs(tmp_path)
    c = cluster("trace-py-client", env={"OTEL_EXPORTER_OTLP_ENDPOINT": jaeger.otlp_endpoint,
                                        "OTEL_BSP_SCHEDULE_DELAY": "200"})
    c.python_worker()
    provider = TracerProvider(resource=Resource.create({"service.name": "python-client"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=jaeger.otlp_endpoint + "/v1/traces")))
    tracer = provider.get_tracer("test")
    text = spec_text(tmp_path, c.node, c.queue, "{transform: discount}")

    async def run():
        client = await Client.connect(c.address, interceptors=[TracingInterceptor(tracer)])
        with tracer.start_as_current_span("client-run") as span:
            result = await client.execute_workflow("flightdeck.Pipeline", args=[text, "spec.yaml", "trace-py-1"],
                                                   id="trace-py-1", task_queue=c.queue,
                                                   task_timeout=timedelta(seconds=10),
                                                   execution_timeout=timedelta(minutes=4))
            return result, format(span.get_span_context().trace_id, "032x")

    result, trace_id = asyncio.run(run())
    provider.shutdown()
    assert result["source_rows"] == 160_000, result

    def linked():
        spans = jaeger.trace(trace_id)
        names = {span["name"] for span in spans}
        return {"StartWorkflow:flightdeck.Pipeline", "RunWorkflow:flightdeck.Pipeline", STAGE_ACTIVITY} <= names \
            and any(span["service"] == "flightdeck-node" for span in spans) and spans

    spans = wait_for(linked, 60, "our worker's spans in the Python client's trace")
    by_name = {span["name"]: span for span in spans}
    start = by_name["StartWorkflow:flightdeck.Pipeline"]
    assert start["service"] == "python-client"
    assert by_name["RunWorkflow:flightdeck.Pipeline"]["parent"] == start["span_id"]
    assert by_name["RunWorkflow:flightdeck.Pipeline"]["service"] == "flightdeck-worker"


def test_spans_go_to_an_https_endpoint_verified_with_otel_exporter_otlp_certificate(tmp_path):
    """An https collector: the node verifies it with the CA the standard
    variable names, and a node without that CA exports nothing."""
    import os

    import pyarrow as pa
    import pyarrow.flight as flight

    from conftest import Process
    from pipeline_cluster import make_certs
    certs = make_certs(tmp_path / "certs")
    backend = Jaeger(tmp_path / "jaeger", tls_dir=certs)
    try:
        outcomes = {}
        for name, extra in (("trusted", {"OTEL_EXPORTER_OTLP_CERTIFICATE": str(certs / "ca.pem")}), ("untrusted", {})):
            trace_id = format(int.from_bytes(os.urandom(16), "big") | 1, "032x")
            node = Process(["node", "--port", "0"], r"listening on (\S+)",
                           env={**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": backend.otlp_endpoint,
                                "OTEL_BSP_SCHEDULE_DELAY": "100", **extra})
            try:
                client = flight.connect(node.match.group(1))
                options = flight.FlightCallOptions(headers=[(b"traceparent", f"00-{trace_id}-{'1' * 16}-01".encode())])
                table = pa.table({"x": [1, 2, 3]})
                writer, _ = client.do_put(flight.FlightDescriptor.for_path("default", name, "0"), table.schema,
                                          options=options)
                writer.write_table(table)
                writer.close()
                if name == "trusted":
                    spans = wait_for(lambda: backend.trace(trace_id), 60, "the span over https")
                    outcomes[name] = spans
                else:
                    node.proc.terminate()  # exits after one last (failing) export
                    node.proc.wait(timeout=60)
                    outcomes[name] = backend.trace(trace_id)
                    assert f"could not export 1 spans to {backend.otlp_endpoint}/v1/traces" in node.stderr_text()
            finally:
                node.kill()
        assert [(s["name"], s["parent"]) for s in outcomes["trusted"]] == [("flight.DoPut", "1" * 16)]
        assert outcomes["untrusted"] == []
    finally:
        backend.close()
