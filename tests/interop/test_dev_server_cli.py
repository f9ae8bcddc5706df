"""`flightdeck dev-server` checked with the official temporal CLI as client."""

import json
import socket
import subprocess

from conftest import temporal_binary


def port_open(target: str) -> bool:
    host, port = target.rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) == 0


def test_temporal_cli_sees_default_namespace_and_server_stops_cleanly(dev_server):
    server, target = dev_server
    out = subprocess.run(
        [temporal_binary(), "operator", "namespace", "describe", "--namespace", "default",
         "--address", target, "--output", "json"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    described = json.loads(out.stdout)
    assert described["namespaceInfo"]["name"] == "default"
    assert described["namespaceInfo"]["state"] == "NAMESPACE_STATE_REGISTERED"

    assert server.terminate() == 0
    assert not port_open(target)
