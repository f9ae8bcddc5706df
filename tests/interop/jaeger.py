"""A real Jaeger (v2, one binary: an OTLP/HTTP receiver, memory storage and
the query API) on free ports, for the tracing tests and the observe
benchmark. scripts/setup builds the binary once (scripts/fetch-jaeger);
FLIGHTDECK_JAEGER names it."""

import json
import os
import pathlib
import socket
import subprocess
import time
import urllib.error
import urllib.request


def jaeger_binary() -> str:
    if os.environ.get("FLIGHTDECK_JAEGER"):
        return os.environ["FLIGHTDECK_JAEGER"]
    cache = os.environ.get("FLIGHTDECK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "flightdeck")
    return os.path.join(cache, "jaeger-v1.75.0", "jaeger")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Jaeger:
    """Started on construction; close() stops it. `otlp_endpoint` is what
    OTEL_EXPORTER_OTLP_ENDPOINT takes."""

    def __init__(self, folder: pathlib.Path, tls_dir: pathlib.Path = None):
        """With `tls_dir` (pipeline_cluster.make_certs), the OTLP receiver
        serves https with its node certificate."""
        self.otlp_port, self.query_port, grpc_port, health_port = (_free_port() for _ in range(4))
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "jaeger.yaml"
        tls = (f"\n        tls: {{cert_file: {tls_dir / 'node.pem'}, key_file: {tls_dir / 'node-key.pem'}}}"
               if tls_dir else "")
        config.write_text(f"""
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
    traces:
      level: none
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{self.query_port}
    grpc:
      endpoint: 127.0.0.1:{grpc_port}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:{health_port}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{self.otlp_port}{tls}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
""")
        self.log = folder / "jaeger.log"
        # Jaeger traces itself to localhost:4317 unless told not to.
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(OTEL_SDK_DISABLED="true", OTEL_TRACES_EXPORTER="none")
        self.proc = subprocess.Popen([jaeger_binary(), "--config", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "w"), env=env)
        self.otlp_endpoint = f"{'https' if tls_dir else 'http'}://127.0.0.1:{self.otlp_port}"
        deadline = time.monotonic() + 60
        while not self._ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"jaeger exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"jaeger not ready in 60 s: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.otlp_port), timeout=1):
                pass
            self._get("/api/services")
            return True
        except OSError:
            return False

    def _get(self, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.query_port}{path}", timeout=10) as answer:
            return json.loads(answer.read())

    def trace(self, trace_id: str) -> list:
        """The spans Jaeger holds of one trace, each a dict with trace_id,
        span_id, parent (span id or None), name, service; [] when none."""
        try:
            data = self._get(f"/api/traces/{trace_id}")["data"]
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return []
            raise
        spans = []
        for trace in data or []:
            processes = trace["processes"]
            for span in trace["spans"]:
                parents = [ref["spanID"] for ref in span.get("references", []) if ref["refType"] == "CHILD_OF"]
                spans.append({"trace_id": span["traceID"], "span_id": span["spanID"],
                              "parent": parents[0] if parents else None, "name": span["operationName"],
                              "service": processes[span["processID"]]["serviceName"],
                              "tags": {tag["key"]: tag["value"] for tag in span.get("tags", [])}})
        return spans

    def services(self) -> list:
        return self._get("/api/services")["data"] or []

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
