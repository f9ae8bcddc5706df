"""Client certificates mapped to principals: nginx terminates mutual TLS in
front of a data node (the Arrow Flight C++ server does not show a call's
peer certificate to middleware) and forwards the verified subject with a
token that proves the proxy; the node maps the subject to a principal. A
client without a certificate from the CA gets nowhere, and a client that
forges the subject header straight to the node is UNAUTHENTICATED."""

import json

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from conftest import Process, free_port, nginx, nginx_conf
from pipeline_cluster import make_certs
from test_security_auth import cli, new_token

DATA = pa.table({"id": pa.array(range(100), pa.int64())})

# The server block of an nginx doing mutual TLS in front of the node: the
# verified subject and the proxy's token go along with every call.
NGINX_SERVER = """
  server {{
    listen 127.0.0.1:{port} ssl http2;
    ssl_certificate {certs}/node.pem;
    ssl_certificate_key {certs}/node-key.pem;
    ssl_client_certificate {certs}/ca.pem;
    ssl_verify_client on;
    client_max_body_size 0;
    grpc_read_timeout 300s;
    grpc_send_timeout 300s;
    location / {{
      grpc_set_header x-client-subject $ssl_client_s_dn;
      grpc_set_header x-flightdeck-proxy-token {token};
      grpc_pass grpc://{upstream};
    }}
  }}
"""


@pytest.fixture
def proxied_node(tmp_path):
    """A node behind nginx doing mutual TLS; yields (proxy location, node
    location, certs)."""
    certs = make_certs(tmp_path / "certs", "alice")
    proxy_token, entry = new_token()
    port = free_port()
    config = tmp_path / "auth.yaml"
    config.write_text(f"""
client_certificates: {{proxy_token: "{entry}", subject_header: x-client-subject, cn_as_principal: true}}
roles:
  owner: {{actions: [put, get, list, drop, stats]}}
bindings:
  - {{role: owner, principals: [alice], tenants: [acme]}}
""")
    # Endpoints name the proxy (--advertise); the node itself listens on
    # loopback only, behind it.
    node_port = free_port()
    node = Process(["node", "--port", str(node_port), "--auth-config", str(config), "--advertise",
                    f"grpc+tls://127.0.0.1:{port}"], r"listening on grpc\+tls://")
    conf = nginx_conf(tmp_path / "nginx", NGINX_SERVER.format(port=port, certs=certs, token=proxy_token,
                                                              upstream=f"127.0.0.1:{node_port}"))
    try:
        with nginx(tmp_path / "nginx", conf, port):
            yield f"grpc+tls://127.0.0.1:{port}", f"grpc+tcp://127.0.0.1:{node_port}", certs
    finally:
        node.kill()


def test_the_client_certificate_names_the_principal(proxied_node, tmp_path):
    proxy, _, certs = proxied_node
    client = flight.connect(proxy, tls_root_certs=(certs / "ca.pem").read_bytes(),
                            cert_chain=(certs / "client.pem").read_bytes(),
                            private_key=(certs / "client-key.pem").read_bytes())
    try:
        writer, reader = client.do_put(flight.FlightDescriptor.for_path("acme", "by-cert", "0"), DATA.schema)
        writer.write_table(DATA)
        writer.done_writing()
        summary = json.loads(reader.read().to_pybytes())
        writer.close()
        assert summary["path"] == "acme/by-cert/0"  # alice's one tenant, from her certificate
        assert client.do_get(flight.Ticket(summary["ticket"].encode())).read_all().equals(DATA)
        info = client.get_flight_info(flight.FlightDescriptor.for_path("acme", "by-cert", "0"))
        assert info.endpoints[0].locations[0].uri.decode() == proxy
        with pytest.raises(flight.FlightUnauthorizedError):  # alice has no tenant globex
            client.do_get(flight.Ticket(summary["ticket"].encode()),
                          flight.FlightCallOptions(headers=[(b"x-flightdeck-tenant", b"globex")])).read_all()
    finally:
        client.close()


def test_without_a_certificate_or_with_a_forged_subject_nothing_gets_through(proxied_node, tmp_path):
    proxy, node, certs = proxied_node
    other = make_certs(tmp_path / "other-ca", "alice")  # a certificate of another CA
    for chain, key in ((None, None), ((other / "client.pem").read_bytes(), (other / "client-key.pem").read_bytes())):
        kwargs = {"cert_chain": chain, "private_key": key} if chain else {}
        client = flight.connect(proxy, tls_root_certs=(certs / "ca.pem").read_bytes(), **kwargs)
        with pytest.raises(flight.FlightError):
            list(client.list_flights(options=flight.FlightCallOptions(timeout=10)))
        client.close()
    # Straight to the node, claiming to be the proxy.
    direct = flight.connect(node)
    for headers in ([(b"x-client-subject", b"CN=alice")],
                    [(b"x-client-subject", b"CN=alice"), (b"x-flightdeck-proxy-token", b"guessed")]):
        with pytest.raises(flight.FlightUnauthenticatedError):
            list(direct.list_flights(options=flight.FlightCallOptions(headers=headers)))
    direct.close()
    assert cli("auth", "hash-token", stdin="guessed\n").startswith("sha256:")
