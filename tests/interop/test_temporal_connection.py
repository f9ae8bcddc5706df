"""How our commands reach Temporal, as the official CLI and SDKs do: a
namespace of their own, from flags, from TEMPORAL_* variables and from a
profile of the Temporal config file (TOML)."""

import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from conftest import ROOT, Process, flightdeck_binary, free_port, nginx, nginx_conf, python_with_package_env

TEMPORAL = str(ROOT / ".venv" / "bin" / "temporal")


def spec(tmp_path, node, queue):
    path = tmp_path / "spec.yaml"
    path.write_text(f"""name: ns-run
source:
  generate: {{rows: 20000, seed: 3}}
stages:
  - filter: "amount > 10"
sink:
  parquet: {tmp_path}/out
partitions: 2
nodes: [{node}]
task_queue: {queue}
""")
    return path


@pytest.fixture
def server_with_namespace(tmp_path):
    server = Process(["dev-server", "--port", "0", "--state-dir", str(tmp_path / "temporal"),
                      "--namespace", "pipelines"], r"ready at (\S+)")
    node = Process(["node", "--port", "0", "--data-dir", str(tmp_path / "node")], r"listening on (grpc\+tcp://\S+)")
    try:
        yield server.match.group(1), node.match.group(1)
    finally:
        node.kill()
        server.kill()


def in_namespace(address, namespace, workflow_id) -> bool:
    done = subprocess.run([TEMPORAL, "workflow", "describe", "--workflow-id", workflow_id, "--address", address,
                           "--namespace", namespace], capture_output=True, text=True, timeout=60)
    return done.returncode == 0


def test_a_pipeline_runs_in_its_own_namespace_from_flags_and_environment(server_with_namespace, tmp_path):
    address, node = server_with_namespace
    worker = Process(["worker", "--address", address, "--namespace", "pipelines", "--task-queue", "ns-q"],
                     r"flightdeck worker polling ns-q on \S+ \(namespace pipelines\)")
    try:
        env = {"TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": "pipelines", "PATH": "/usr/bin:/bin"}
        run = subprocess.run([flightdeck_binary(), "run", str(spec(tmp_path, node, "ns-q")), "--wait", "--id", "ns-1"],
                             capture_output=True, text=True, timeout=240, env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        assert in_namespace(address, "pipelines", "ns-1")
        assert not in_namespace(address, "default", "ns-1")
        assert pq.read_table(tmp_path / "out").num_rows > 0
        status = subprocess.run([flightdeck_binary(), "status", "ns-1", "--target", address, "-n", "pipelines"],
                                capture_output=True, text=True, timeout=60)
        assert "completed" in status.stdout, status.stdout + status.stderr
    finally:
        worker.kill()


def test_a_profile_of_the_temporal_config_file_is_used_unchanged(server_with_namespace, tmp_path):
    address, node = server_with_namespace
    config = tmp_path / "temporal.toml"
    config.write_text(f"""
[profile.default]
address = "127.0.0.1:1"

[profile.pipelines]
address = "{address}"
namespace = "pipelines"
""")
    env = {"TEMPORAL_CONFIG_FILE": str(config), "PATH": "/usr/bin:/bin"}
    worker = Process(["worker", "--profile", "pipelines", "--task-queue", "profile-q"],
                     r"flightdeck worker polling profile-q .*\(namespace pipelines\)", env=env)
    try:
        run = subprocess.run([flightdeck_binary(), "run", str(spec(tmp_path, node, "profile-q")), "--wait",
                              "--id", "profile-1"], capture_output=True, text=True, timeout=240,
                             env={**env, "TEMPORAL_PROFILE": "pipelines"})
        assert run.returncode == 0, run.stdout + run.stderr
        assert in_namespace(address, "pipelines", "profile-1")
        # The Python stage worker resolves the same profile (the SDK's envconfig).
        python_env = {**python_with_package_env(), "TEMPORAL_CONFIG_FILE": str(config)}
        stage = Process([], r"flightdeck_stage serving .* on task queue profile-q-python at (\S+) namespace pipelines",
                        command=[sys.executable, "-m", "flightdeck_stage", "--profile", "pipelines", "--task-queue",
                                 "profile-q-python"], env=python_env, stderr_path=tmp_path / "stage.stderr")
        assert stage.match.group(1) == address
        stage.kill()
    finally:
        worker.kill()


@pytest.mark.parametrize("args, env, message", [
    (["--profile", "nope"], {}, "no [profile.nope]"),
    (["--tls-cert-path", "/x.pem"], {}, "--tls-cert-path and --tls-key-path go together"),
    (["--tls-ca-path", "/nonexistent/ca.pem"], {}, "--tls-ca-path: cannot read"),
    (["--tls", "false", "--api-key", "k"], {}, "TLS is off"),
    ([], {"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "/nonexistent/ca.pem"}, "--tls-ca-path: cannot read"),
])
def test_bad_temporal_settings_are_usage_errors(tmp_path, args, env, message):
    config = tmp_path / "temporal.toml"
    config.write_text("[profile.default]\naddress = \"127.0.0.1:7233\"\n")
    done = subprocess.run([flightdeck_binary(), "list", *args], capture_output=True, text=True, timeout=60,
                          env={"TEMPORAL_CONFIG_FILE": str(config), "PATH": "/usr/bin:/bin", **env})
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr


# The server block of an nginx terminating TLS and checking an API key.
NGINX_SERVER = """
  map $http_authorization $api_key_ok {{
    "Bearer {key}" 1;
    default 0;
  }}
  server {{
    listen 127.0.0.1:{port} ssl http2;
    ssl_certificate {certs}/node.pem;
    ssl_certificate_key {certs}/node-key.pem;
    grpc_read_timeout 300s;
    grpc_send_timeout 300s;
    client_max_body_size 0;
    location / {{
      if ($api_key_ok = 0) {{
        return 401;
      }}
      grpc_pass grpc://{upstream};
    }}
  }}
"""


@pytest.fixture
def tls_proxy(server_with_namespace, tmp_path):
    """nginx terminating TLS in front of the dev server and checking an API
    key, as Temporal Cloud does; yields (proxy address, key, certs, node,
    the dev server's own address)."""
    from pipeline_cluster import make_certs
    address, node = server_with_namespace
    certs = make_certs(tmp_path / "certs")
    key = "fd-test-api-key-" + tmp_path.name
    port = free_port()
    folder = tmp_path / "nginx"
    conf = nginx_conf(folder, NGINX_SERVER.format(key=key, port=port, certs=certs, upstream=address))
    with nginx(folder, conf, port):
        yield f"127.0.0.1:{port}", key, certs, node, address


def test_a_pipeline_runs_over_tls_with_an_api_key_behind_a_proxy(tls_proxy, tmp_path):
    proxy, key, certs, node, server = tls_proxy
    env = {"PATH": "/usr/bin:/bin", "TEMPORAL_API_KEY": key, "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(certs / "ca.pem"),
           "TEMPORAL_NAMESPACE": "pipelines"}
    worker = Process(["worker", "--address", proxy, "--task-queue", "tls-q"], r"flightdeck worker polling tls-q",
                     env=env, stderr_path=tmp_path / "worker.stderr")
    try:
        run = subprocess.run([flightdeck_binary(), "run", str(spec(tmp_path, node, "tls-q")), "--wait", "--id",
                              "tls-1", "--address", proxy], capture_output=True, text=True, timeout=240, env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        # A wrong key is refused by the proxy; plaintext does not get through.
        wrong = subprocess.run([flightdeck_binary(), "status", "tls-1", "--address", proxy], capture_output=True,
                               text=True, timeout=60, env={**env, "TEMPORAL_API_KEY": "wrong"})
        assert wrong.returncode == 1 and "nauthenticated" in wrong.stderr.lower() + wrong.stdout.lower(), \
            wrong.stdout + wrong.stderr
        plain = subprocess.run([flightdeck_binary(), "status", "tls-1", "--address", proxy, "--tls", "false"],
                               capture_output=True, text=True, timeout=60,
                               env={"PATH": "/usr/bin:/bin", "TEMPORAL_NAMESPACE": "pipelines"})
        assert plain.returncode == 1
        ok = subprocess.run([flightdeck_binary(), "status", "tls-1", "--address", proxy], capture_output=True,
                            text=True, timeout=60, env=env)
        assert "completed" in ok.stdout, ok.stdout + ok.stderr
        # The key is in no history and no log.
        history = subprocess.run([TEMPORAL, "workflow", "show", "--workflow-id", "tls-1", "--address",
                                  server, "--namespace", "pipelines", "--output", "json"],
                                 capture_output=True, text=True, timeout=60)
        assert history.returncode == 0, history.stderr
        for text in (history.stdout, (tmp_path / "worker.stderr").read_text(), run.stdout, run.stderr):
            assert key not in text
    finally:
        worker.kill()
