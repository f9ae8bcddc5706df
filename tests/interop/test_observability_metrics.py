"""Prometheus metrics, scraped by a real Prometheus server (Debian's) during a
mixed C++/Python pipeline: the data node's flightdeck_* metrics, the C++
worker's Temporal SDK metrics under the names and labels the official SDKs
use (checked against the Python SDK worker of the same run), and the dev
server's own metrics."""

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import free_port
from pipeline_cluster import cluster, wait_for  # noqa: F401 (a fixture)
from test_pipeline_python_stages import run_mixed, write_inputs

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        return answer.read().decode()


def families(text: str) -> dict:
    """{metric name: set of label keys} of an exposition."""
    found = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition("{")
        keys = set()
        if rest:
            for pair in rest.split("}", 1)[0].split('",'):
                if "=" in pair:
                    keys.add(pair.split("=", 1)[0].strip(","))
        found.setdefault(name.split(" ")[0], set()).update(keys)
    return found


class Prometheus:
    def __init__(self, folder, targets: dict):
        self.port = free_port()
        config = folder / "prometheus.yml"
        jobs = "\n".join(f"  - job_name: {job}\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]"
                         for job, port in targets.items())
        config.write_text(f"global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n{jobs}\n")
        self.proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={folder / 'tsdb'}",
                                      f"--web.listen-address=127.0.0.1:{self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=open(folder / "prometheus.log", "w"))
        wait_for(self.ready, 60, "Prometheus to be ready")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def value(self, query: str) -> float:
        """The query's first value, 0 when it has none."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        with urllib.request.urlopen(url, timeout=10) as answer:
            result = json.loads(answer.read())["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def close(self):
        self.proc.kill()
        self.proc.wait(timeout=30)


def test_prometheus_scrapes_node_workers_and_dev_server_during_a_pipeline(cluster, tmp_path):
    ports = {job: free_port() for job in ("node", "worker", "python", "temporal")}
    write_inputs(tmp_path)
    c = cluster("metrics", worker_args=["--metrics-port", str(ports["worker"])],
                node_args=["--metrics-port", str(ports["node"])],
                server_args=["--metrics-port", str(ports["temporal"])])
    c.python_worker("--metrics-port", str(ports["python"]))
    prometheus = Prometheus(tmp_path, ports)
    try:
        run_mixed(c, tmp_path, "metrics-1")

        queries = {
            'sum(temporal_workflow_completed{job="worker",workflow_type="flightdeck.Pipeline"})': 1,
            'sum(temporal_activity_execution_latency_count{job="worker",namespace="default",task_queue="metrics"})': 1,
            'sum(temporal_workflow_task_execution_latency_count{job="worker"})': 1,
            'sum(temporal_request{job="worker",operation="RespondWorkflowTaskCompleted"})': 1,
            'sum(temporal_long_request{job="worker",operation="PollActivityTaskQueue"})': 1,
            'sum(temporal_worker_task_slots_available{job="worker",worker_type="ActivityWorker"})': 1,
            'sum(temporal_activity_execution_latency_count{job="python"})': 1,
            'sum(flightdeck_node_rows{job="node",direction="in"})': 160_000,
            'sum(flightdeck_node_bytes{job="node",direction="out"})': 1,
            'sum(flightdeck_node_requests{job="node",action="DoPut",code="OK"})': 1,
            'sum(flightdeck_node_request_duration_seconds_count{job="node"})': 1,
            'sum(persistence_requests{job="temporal"})': 1,
            'sum(flightdeck_pipeline_partitions_done{job="worker"})': 4,
            'sum(flightdeck_pipeline_source_rows{job="worker"})': 160_000,
            'sum(flightdeck_pipeline_activity_duration_seconds_count{job="worker"})': 6,
            'max(flightdeck_pipeline_partitions_in_flight{job="worker"}) + 1': 1,
        }
        deadline = time.monotonic() + 60
        missing = dict(queries)
        while missing and time.monotonic() < deadline:
            missing = {q: least for q, least in missing.items() if prometheus.value(q) < least}
            time.sleep(0.5)
        assert not missing, missing
    finally:
        prometheus.close()

    # Dashboards made for the official SDKs work unchanged: our worker's
    # Temporal metrics carry the names and label keys the Python SDK's do.
    ours, theirs = families(scrape(ports["worker"])), families(scrape(ports["python"]))
    for name in ("temporal_request", "temporal_long_request", "temporal_activity_execution_latency_bucket",
                 "temporal_activity_task_received", "temporal_worker_task_slots_available"):
        assert name in ours and name in theirs, name
        assert theirs[name] - {"service_name", "eager", "poller_type"} <= ours[name] | {"workflow_type"}, \
            (name, ours[name], theirs[name])


@pytest.mark.parametrize("command", [["node", "--port", "0"], ["worker", "--task-queue", "x"]])
def test_a_taken_metrics_port_is_a_clear_error(command, tmp_path):
    import socket

    from conftest import flightdeck_binary
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([flightdeck_binary(), *command, "--metrics-port", str(port)], capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 1 and f"cannot serve metrics on 127.0.0.1:{port}" in done.stderr, done.stderr
