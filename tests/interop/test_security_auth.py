"""Authentication and authorization on the data node, through the real CLI:
a `flightdeck node` with TLS and an auth config, attacked and used by
pyarrow.flight and by our own clients. Every refused call gets the right
gRPC code and changes nothing."""

import json
import os
import signal
import subprocess

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from conftest import ROOT, Process, flightdeck_binary
from pipeline_cluster import cluster, make_certs, wait_for  # noqa: F401 (cluster is a fixture)
from test_pipeline_python_stages import assert_same_as_duckdb, spec_text, write_inputs

EXAMPLES = ROOT / "examples" / "security"


def cli(*args, stdin="") -> str:
    done = subprocess.run([flightdeck_binary(), *args], input=stdin, capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout


def new_token():
    token, entry = cli("auth", "new-token").split()
    return token, entry


def example_tokens() -> dict:
    tokens = {}
    for line in (EXAMPLES / "tokens.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            tokens[name] = value
    return tokens


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    """An auth config: alice owns acme, bob reads globex, gina owns globex,
    dave may only put and get in acme; and their tokens."""
    tokens = {name: new_token() for name in ("alice", "bob", "gina", "dave")}
    password = cli("auth", "hash-password", stdin="wonderland\n").strip()
    config = f"""
principals:
  alice: {{tokens: ["{tokens['alice'][1]}"], password: "{password}"}}
  bob: {{tokens: ["{tokens['bob'][1]}"]}}
  gina: {{tokens: ["{tokens['gina'][1]}"]}}
  dave: {{tokens: ["{tokens['dave'][1]}"]}}
roles:
  owner: {{actions: [put, get, list, drop, persist, exchange, stats]}}
  reader: {{actions: [get, list]}}
  writer: {{actions: [put, get]}}
bindings:
  - {{role: owner, principals: [alice], tenants: [acme]}}
  - {{role: reader, principals: [bob], tenants: [globex]}}
  - {{role: owner, principals: [gina], tenants: [globex]}}
  - {{role: writer, principals: [dave], tenants: [acme]}}
"""
    path = tmp_path_factory.mktemp("auth") / "auth.yaml"
    path.write_text(config)
    return path, {name: token for name, (token, _) in tokens.items()}


@pytest.fixture
def node(certs, people):
    path, _ = people
    process = Process(["node", "--port", "0", "--tls-cert", str(certs / "node.pem"),
                       "--tls-key", str(certs / "node-key.pem"), "--auth-config", str(path)],
                      r"listening on (grpc\+tls://\S+)")
    try:
        yield process, process.match.group(1)
    finally:
        process.kill()


def connect(location, certs):
    return flight.connect(location, tls_root_certs=(certs / "ca.pem").read_bytes())


def as_(token=None, tenant=None, header=None):
    headers = []
    if token:
        headers.append((b"authorization", b"Bearer " + token.encode()))
    if header:
        headers.append(header)
    if tenant:
        headers.append((b"x-flightdeck-tenant", tenant.encode()))
    return flight.FlightCallOptions(headers=headers, timeout=30)


DATA = pa.table({"id": pa.array(range(500), pa.int64())})


def put(client, options, tenant, name):
    writer, reader = client.do_put(flight.FlightDescriptor.for_path(tenant, name, "0"), DATA.schema, options)
    writer.write_table(DATA)
    writer.done_writing()
    answer = reader.read()
    writer.close()  # raises the node's error, if any
    return json.loads(answer.to_pybytes())["ticket"].encode()


def stats(client, options):
    return json.loads(list(client.do_action(flight.Action("stats", b""), options))[0].body.to_pybytes())


def test_no_or_wrong_credentials_are_unauthenticated(node, certs, people):
    _, location = node
    with connect(location, certs) as client:
        for options in (as_(), as_("not-a-token"), as_(header=(b"authorization", b"Digest x")),
                        as_(header=(b"authorization", b"Basic YWxpY2U6d29uZGVybGFuZA=="))):
            with pytest.raises(flight.FlightUnauthenticatedError):
                list(client.list_flights(options=options))
            with pytest.raises(flight.FlightUnauthenticatedError):
                client.do_get(flight.Ticket(b"fdt1:x"), options).read_all()
            with pytest.raises(flight.FlightUnauthenticatedError):
                put(client, options, "acme", "sneaky")
        assert stats(client, as_(people[1]["alice"]))["tenant"]["datasets"] == 0


def test_the_tenant_comes_from_the_principal_not_the_header(node, certs, people):
    _, location = node
    tokens = people[1]
    with connect(location, certs) as client:
        ticket = put(client, as_(tokens["alice"]), "acme", "orders")  # no header: alice's one tenant
        assert client.do_get(flight.Ticket(ticket), as_(tokens["alice"])).read_all().equals(DATA)
        # Header spoofing: bob names acme, gina names acme.
        for name in ("bob", "gina"):
            with pytest.raises(flight.FlightUnauthorizedError, match="may not use tenant 'acme'"):
                client.do_get(flight.Ticket(ticket), as_(tokens[name], "acme")).read_all()
        # In their own tenant acme's (signed) ticket is refused.
        with pytest.raises(flight.FlightUnauthorizedError, match="another tenant"):
            client.do_get(flight.Ticket(ticket), as_(tokens["gina"])).read_all()
        # A put into another tenant's path is refused, nothing stored.
        with pytest.raises(flight.FlightUnauthorizedError):
            put(client, as_(tokens["gina"]), "acme", "planted")
        assert stats(client, as_(tokens["alice"]))["tenant"]["datasets"] == 1


def test_roles_limit_the_actions_and_nothing_changes_when_denied(node, certs, people):
    _, location = node
    tokens = people[1]
    with connect(location, certs) as client:
        ticket = put(client, as_(tokens["gina"]), "globex", "shared")
        # bob reads and lists globex but may not put, drop, persist or ask for stats.
        assert client.do_get(flight.Ticket(ticket), as_(tokens["bob"])).read_all().equals(DATA)
        assert len(list(client.list_flights(options=as_(tokens["bob"])))) == 1
        with pytest.raises(flight.FlightUnauthorizedError, match="may not put"):
            put(client, as_(tokens["bob"]), "globex", "more")
        body = json.dumps({"ticket": ticket.decode()}).encode()
        for action in ("drop", "persist"):
            with pytest.raises(flight.FlightUnauthorizedError, match=f"may not {action}"):
                list(client.do_action(flight.Action(action, body), as_(tokens["bob"])))
        with pytest.raises(flight.FlightUnauthorizedError, match="may not stats"):
            stats(client, as_(tokens["bob"]))
        with pytest.raises(flight.FlightUnauthorizedError):
            list(client.do_action(flight.Action("expire", json.dumps({"datasets": ["shared"], "ttl_ms": 0}).encode()),
                                  as_(tokens["bob"])))
        # Still there, still durable-less, still one.
        assert stats(client, as_(tokens["gina"]))["tenant"]["datasets"] == 1
        assert client.do_get(flight.Ticket(ticket), as_(tokens["bob"])).read_all().equals(DATA)
        # dave may put and get in acme, but not list or drop.
        mine = put(client, as_(tokens["dave"]), "acme", "daves")
        # (The ticket dave got carries only the rights dave has.)
        with pytest.raises(flight.FlightUnauthorizedError, match="does not allow drop"):
            list(client.do_action(flight.Action("drop", json.dumps({"ticket": mine.decode()}).encode()),
                                  as_(tokens["dave"])))
        assert list(client.list_flights(options=as_(tokens["dave"]))) == []


def test_the_basic_token_handshake_hands_out_a_bearer_token(node, certs):
    _, location = node
    with connect(location, certs) as client:
        header, value = client.authenticate_basic_token("alice", "wonderland")
        assert header == b"authorization" and value.startswith(b"Bearer ")
        options = flight.FlightCallOptions(headers=[(header, value)])
        put(client, options, "acme", "via-handshake")
        assert len(list(client.list_flights(options=options))) == 1
        with pytest.raises(flight.FlightUnauthenticatedError):
            client.authenticate_basic_token("alice", "wrong")
        with pytest.raises(flight.FlightUnauthenticatedError):
            client.authenticate_basic_token("mallory", "wonderland")


def test_a_reloaded_config_applies_to_new_calls(certs, people, tmp_path):
    path, tokens = people
    config = tmp_path / "auth.yaml"
    config.write_text(path.read_text())
    process = Process(["node", "--port", "0", "--tls-cert", str(certs / "node.pem"),
                       "--tls-key", str(certs / "node-key.pem"), "--auth-config", str(config)],
                      r"listening on (grpc\+tls://\S+)")
    try:
        location = process.match.group(1)
        with connect(location, certs) as client:
            put(client, as_(tokens["gina"]), "globex", "kept")
            assert len(list(client.list_flights(options=as_(tokens["bob"])))) == 1
            # bob loses his binding; a broken file first is reported and ignored.
            config.write_text("principals: [")
            process.proc.send_signal(signal.SIGHUP)
            config.write_text(path.read_text().replace("  - {role: reader, principals: [bob], tenants: [globex]}\n", ""))
            process.proc.send_signal(signal.SIGHUP)

            def bob_is_out():
                try:
                    list(client.list_flights(options=as_(tokens["bob"])))
                    return False
                except flight.FlightUnauthorizedError:
                    return True
            wait_for(bob_is_out, 20, "the reloaded config to apply")
            assert stats(client, as_(tokens["gina"]))["tenant"]["datasets"] == 1
    finally:
        process.kill()


@pytest.mark.parametrize("entry, message", [
    ('principals: {alice: {tokens: ["hunter2-plain"]}}', "store tokens hashed"),
    ('principals: {alice: {password: "hunter2-plain"}}', "store passwords hashed"),
    ("roles: {r: {actions: [fly]}}", "unknown action 'fly'"),
    ("bindings: [{role: nobody, principals: [x], tenants: [t]}]", "no role named 'nobody'"),
    ("principals: {alice: {tokenz: []}}", "unknown key 'tokenz'"),
])
def test_a_bad_auth_config_fails_clearly_without_echoing_secrets(tmp_path, entry, message):
    config = tmp_path / "auth.yaml"
    config.write_text(entry + "\n")
    done = subprocess.run([flightdeck_binary(), "node", "--port", "0", "--auth-config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and f"{config}:1:" in done.stderr
    assert "hunter2" not in done.stderr


def test_the_example_config_and_tokens_work(certs):
    tokens = example_tokens()
    process = Process(["node", "--port", "0", "--tls-cert", str(certs / "node.pem"), "--tls-key",
                       str(certs / "node-key.pem"), "--auth-config", str(EXAMPLES / "auth.yaml")],
                      r"listening on (grpc\+tls://\S+)")
    try:
        with connect(process.match.group(1), certs) as client:
            put(client, as_(tokens["ALICE_TOKEN"]), "acme", "example")
            assert list(client.list_flights(options=as_(tokens["BOB_TOKEN"]))) == []
            with pytest.raises(flight.FlightUnauthorizedError):
                put(client, as_(tokens["BOB_TOKEN"]), "globex", "example")
    finally:
        process.kill()


def test_a_pipeline_runs_with_a_token_over_tls(cluster, certs, people, tmp_path):
    path, tokens = people
    write_inputs(tmp_path)
    token_file = tmp_path / "alice.token"
    token_file.write_text(tokens["alice"] + "\n")
    # Encryption at rest on the node and of payloads in Temporal, too.
    at_rest, codec = tmp_path / "at-rest.keys", tmp_path / "codec.keys"
    for keys in (at_rest, codec):
        cli("keys", "add", str(keys))
    c = cluster("auth-tls", node_args=["--tls-cert", str(certs / "node.pem"), "--tls-key", str(certs / "node-key.pem"),
                                       "--auth-config", str(path), "--key-file", str(at_rest)],
                env={"FLIGHTDECK_TLS_CA": str(certs / "ca.pem"), "FLIGHTDECK_TOKEN_FILE": str(token_file),
                     "FLIGHTDECK_CODEC_KEY_FILE": str(codec)})
    c.python_worker()
    secrets = [tokens["alice"], "wonderland"] + [line.split()[1] for keys in (at_rest, codec)
                                                 for line in keys.read_text().splitlines()]
    # Nothing secret on any command line of the machine.
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert "flightdeck" in processes and not any(secret in processes for secret in secrets)
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(tmp_path, c.node, c.queue, "{transform: discount}") + "tenant: acme\n")
    run = c.cli("run", str(spec), "--wait", "--id", "auth-tls-1")
    assert run.returncode == 0, run.stdout + run.stderr
    assert_same_as_duckdb(tmp_path)
    # No secret is in any history, log or error.
    history = subprocess.run([str(ROOT / ".venv" / "bin" / "temporal"), "workflow", "show", "--workflow-id",
                              "auth-tls-1", "--address", c.address, "--output", "json"],
                             capture_output=True, text=True, timeout=60)
    assert history.returncode == 0, history.stderr
    logs = "".join(p.stderr_text() for p in c.processes)
    for text in (history.stdout, logs, run.stdout, run.stderr):
        for secret in secrets:
            assert secret not in text
    assert "binary/encrypted" in history.stdout or "YmluYXJ5L2VuY3J5cHRlZA" in history.stdout


@pytest.mark.parametrize("path, message", [
    (["acme", "..", "0"], "not be '.' or '..'"),
    (["acme", "a\nb", "0"], "control characters"),
    (["acme", "a\\b", "0"], "control characters"),
    (["acme", "x" * 300, "0"], "1 to 256 characters"),
])
def test_bad_dataset_names_are_invalid_and_store_nothing(node, certs, people, path, message):
    _, location = node
    tokens = people[1]
    with connect(location, certs) as client:
        with pytest.raises(pa.ArrowInvalid, match=message):
            writer, reader = client.do_put(flight.FlightDescriptor.for_path(*path), DATA.schema, as_(tokens["alice"]))
            writer.write_table(DATA)
            writer.done_writing()
            reader.read()
            writer.close()
        assert stats(client, as_(tokens["alice"]))["tenant"]["datasets"] == 0


def test_oversized_metadata_is_invalid_and_stores_nothing(node, certs, people):
    _, location = node
    tokens = people[1]
    big = DATA.schema.with_metadata({b"k": b"x" * (65 * 1024)})
    with connect(location, certs) as client:
        with pytest.raises(pa.ArrowInvalid, match="bytes of metadata"):
            writer, reader = client.do_put(flight.FlightDescriptor.for_path("acme", "meta", "0"), big,
                                           as_(tokens["alice"]))
            writer.write_table(DATA.replace_schema_metadata(big.metadata))
            writer.done_writing()
            reader.read()
            writer.close()
        command = json.dumps({"tenant": "acme", "dataset": "d", "partition": "0", "pad": "x" * 5000})
        with pytest.raises(pa.ArrowInvalid, match="at most 4096"):
            writer, reader = client.do_put(flight.FlightDescriptor.for_command(command), DATA.schema,
                                           as_(tokens["alice"]))
            writer.write_table(DATA)
            writer.done_writing()
            reader.read()
            writer.close()
        assert stats(client, as_(tokens["alice"]))["tenant"]["datasets"] == 0


TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def audit_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def verify(path):
    return subprocess.run([flightdeck_binary(), "audit", "verify", str(path)], capture_output=True, text=True,
                          timeout=60)


def test_every_call_is_audited_in_a_chain_that_shows_tampering(certs, people, tmp_path):
    path, tokens = people
    log = tmp_path / "audit.log"
    args = ["node", "--port", "0", "--tls-cert", str(certs / "node.pem"), "--tls-key", str(certs / "node-key.pem"),
            "--auth-config", str(path), "--audit-log", str(log)]
    process = Process(args, r"listening on (grpc\+tls://\S+)")
    try:
        with connect(process.match.group(1), certs) as client:
            ticket = put(client, as_(tokens["alice"]), "acme", "audited")
            traced = flight.FlightCallOptions(headers=as_(tokens["alice"]).headers + [(b"traceparent", TRACEPARENT)])
            client.do_get(flight.Ticket(ticket), traced).read_all()
            with pytest.raises(flight.FlightUnauthenticatedError):
                list(client.list_flights(options=as_("wrong-token")))
            with pytest.raises(flight.FlightUnauthorizedError):
                list(client.do_action(flight.Action("drop", json.dumps({"ticket": ticket.decode()}).encode()),
                                      as_(tokens["dave"])))
        wait_for(lambda: len(audit_lines(log)) >= 4, 20, "four audit records")
    finally:
        process.kill()
    records = audit_lines(log)
    put_record, get_record, refused, denied = records[:4]
    assert (put_record["principal"], put_record["tenant"], put_record["action"], put_record["dataset"],
            put_record["rows"], put_record["code"]) == ("alice", "acme", "DoPut", "audited", 500, "OK")
    assert put_record["bytes"] > 0 and put_record["peer"]
    assert (get_record["action"], get_record["rows"], get_record["code"]) == ("DoGet", 500, "OK")
    assert get_record["trace_id"] == TRACEPARENT.decode().split("-")[1] and put_record["trace_id"] is None
    assert (refused["principal"], refused["action"], refused["code"]) == (None, "ListFlights", "UNAUTHENTICATED")
    assert (denied["principal"], denied["action"], denied["dataset"], denied["code"]) == \
        ("dave", "drop", "audited", "PERMISSION_DENIED")
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    text = log.read_text()
    for token in tokens.values():
        assert token not in text
    ok = verify(log)
    assert ok.returncode == 0 and "chain intact" in ok.stdout, ok.stdout + ok.stderr

    # A restarted node continues the chain.
    process = Process(args, r"listening on (grpc\+tls://\S+)")
    try:
        with connect(process.match.group(1), certs) as client:
            stats(client, as_(tokens["alice"]))
        wait_for(lambda: len(audit_lines(log)) > len(records), 20, "the restarted node's record")
    finally:
        process.kill()
    assert verify(log).returncode == 0
    lines = log.read_text().splitlines(keepends=True)

    def broken(changed):
        tampered = tmp_path / "tampered.log"
        tampered.write_text("".join(changed))
        (tmp_path / "tampered.log.key").write_bytes((tmp_path / "audit.log.key").read_bytes())
        done = verify(tampered)
        assert done.returncode == 1, done.stdout
        return done.stderr

    edited = list(lines)
    edited[1] = edited[1].replace('"rows":500', '"rows":5')
    assert "line 2: edited" in broken(edited)
    assert "line 2: deleted" in broken(lines[:1] + lines[2:])
    assert "line 2: reordered" in broken([lines[0], lines[2], lines[1]] + lines[3:])


def test_an_unwritable_audit_log_fails_closed(certs, people, tmp_path):
    # /dev/full accepts the open and fails every write: the first call's
    # record cannot be written, and later calls are refused.
    path, tokens = people
    key = tmp_path / "audit.key"
    process = Process(["node", "--port", "0", "--tls-cert", str(certs / "node.pem"), "--tls-key",
                       str(certs / "node-key.pem"), "--auth-config", str(path), "--audit-log", "/dev/full",
                       "--audit-key-file", str(key)], r"listening on (grpc\+tls://\S+)")
    try:
        with connect(process.match.group(1), certs) as client:
            stats(client, as_(tokens["alice"]))
            with pytest.raises(flight.FlightUnavailableError, match="audit log cannot be written"):
                stats(client, as_(tokens["alice"]))
            with pytest.raises(flight.FlightUnavailableError):
                put(client, as_(tokens["alice"]), "acme", "unaudited")
    finally:
        process.kill()


def test_tenant_quotas_refuse_what_would_exceed_them_and_keep_nothing(certs, people, tmp_path):
    from google.rpc import code_pb2, status_pb2
    path, tokens = people
    config = tmp_path / "auth.yaml"
    config.write_text(path.read_text() + "quotas:\n  acme: {memory_bytes: 12KiB, disk_bytes: 5000, datasets: 3}\n")
    process = Process(["node", "--port", "0", "--tls-cert", str(certs / "node.pem"), "--tls-key",
                       str(certs / "node-key.pem"), "--auth-config", str(config), "--data-dir", str(tmp_path / "n")],
                      r"listening on (grpc\+tls://\S+)")
    alice = as_(tokens["alice"])
    try:
        with connect(process.match.group(1), certs) as client:
            first = put(client, alice, "acme", "q1")  # 4000 bytes each
            put(client, alice, "acme", "q2")
            # 8000 bytes held: another 8000 would pass 12 KiB (12288), another 4000 would not.
            big = pa.table({"id": pa.array(range(1000), pa.int64())})
            with pytest.raises(flight.FlightServerError, match="over its memory quota") as raised:
                writer, reader = client.do_put(flight.FlightDescriptor.for_path("acme", "big", "0"), big.schema, alice)
                writer.write_table(big)
                writer.done_writing()
                reader.read()
                writer.close()
            assert status_pb2.Status.FromString(raised.value.extra_info).code == code_pb2.RESOURCE_EXHAUSTED
            assert "12288" in str(raised.value)
            put(client, alice, "acme", "q3")
            with pytest.raises(flight.FlightServerError, match="quota of 3 datasets"):
                put(client, alice, "acme", "q4")
            assert stats(client, alice)["tenant"]["datasets"] == 3
            # Persisting: 4000 bytes fit in 5000 once, not twice.
            body = lambda ticket: json.dumps({"ticket": ticket.decode()}).encode()
            list(client.do_action(flight.Action("persist", body(first)), alice))
            second = [f.endpoints[0].ticket.ticket for f in client.list_flights(options=alice)
                      if f.descriptor.path[1] == b"q2"][0]
            with pytest.raises(flight.FlightServerError, match="over its disk quota"):
                list(client.do_action(flight.Action("persist", body(second)), alice))
            assert stats(client, alice)["datasets_durable"] == 1
            # Other tenants have no quota here.
            for i in range(5):
                put(client, as_(tokens["gina"]), "globex", f"g{i}")
    finally:
        process.kill()


def test_tickets_are_signed_capabilities(certs, people, tmp_path):
    """Forged, altered, stripped, expired and other-tenant tickets are refused
    though their dataset exists; a signed ticket survives a restart."""
    path, tokens = people
    data_dir = tmp_path / "node"
    args = ["node", "--port", "0", "--tls-cert", str(certs / "node.pem"), "--tls-key", str(certs / "node-key.pem"),
            "--auth-config", str(path), "--data-dir", str(data_dir)]
    process = Process(args, r"listening on (grpc\+tls://\S+)")
    try:
        with connect(process.match.group(1), certs) as client:
            alice = as_(tokens["alice"])
            cmd = json.dumps({"tenant": "acme", "dataset": "kept", "partition": "0", "durable": True}).encode()
            writer, reader = client.do_put(flight.FlightDescriptor.for_command(cmd), DATA.schema, alice)
            writer.write_table(DATA)
            writer.done_writing()
            ticket = json.loads(reader.read().to_pybytes())["ticket"]
            writer.close()
            plain, kid, expires, rights, mac = ticket.split("!")
            assert plain.startswith("fdt1:acme:") and rights == "gdpr" and expires == "0"
            tampered = {
                "stripped": plain,
                "forged": f"fdt1:acme:{'0' * 32}!{kid}!0!gdpr!{mac}",
                "another id": f"{plain[:-1]}{'0' if plain[-1] != '0' else '1'}!{kid}!{expires}!{rights}!{mac}",
                "more time": f"{plain}!{kid}!99999999999999!{rights}!{mac}",
                "fewer rights": f"{plain}!{kid}!{expires}!g!{mac}",
                "another key": f"{plain}!zz!{expires}!{rights}!{mac}",
                "mangled": ticket[:-3] + "!!!",
            }
            for name, bad in tampered.items():
                with pytest.raises(flight.FlightUnauthorizedError):
                    client.do_get(flight.Ticket(bad.encode()), alice).read_all()
                with pytest.raises(flight.FlightUnauthorizedError):
                    list(client.do_action(flight.Action("drop", json.dumps({"ticket": bad}).encode()), alice))
            # Another tenant's principal holding acme's genuine ticket.
            with pytest.raises(flight.FlightUnauthorizedError, match="another tenant"):
                client.do_get(flight.Ticket(ticket.encode()), as_(tokens["gina"])).read_all()
            assert client.do_get(flight.Ticket(ticket.encode()), alice).read_all().equals(DATA)
        process.kill()

        # Restarted with the same data dir: the same key, the ticket still good.
        process = Process(args + ["--ticket-ttl", "1"], r"listening on (grpc\+tls://\S+)")
        assert (data_dir / "ticket.keys").stat().st_mode & 0o777 == 0o600
        with connect(process.match.group(1), certs) as client:
            assert client.do_get(flight.Ticket(ticket.encode()), alice).read_all().equals(DATA)
            # With --ticket-ttl 1 a fresh ticket expires a second later.
            info = client.get_flight_info(flight.FlightDescriptor.for_path("acme", "kept", "0"), alice)
            short = info.endpoints[0].ticket
            assert short.ticket.decode().split("!")[2] != "0"
            assert client.do_get(short, alice).read_all().equals(DATA)

            def expired():
                try:
                    client.do_get(short, alice).read_all()
                    return False
                except flight.FlightUnauthorizedError as error:
                    return "expired" in str(error)

            wait_for(expired, 20, "the one-second ticket to expire")
            assert stats(client, alice)["tenant"]["datasets"] == 1

            # Rotation: a key added to the ticket keys and SIGHUP; new
            # tickets name it, the first one still verifies.
            cli("keys", "add", str(data_dir / "ticket.keys"))
            process.proc.send_signal(signal.SIGHUP)

            def newest_key():
                info = client.get_flight_info(flight.FlightDescriptor.for_path("acme", "kept", "0"), alice)
                return info.endpoints[0].ticket.ticket.decode().split("!")[1] == "k2"

            wait_for(newest_key, 20, "tickets signed with the added key")
            assert client.do_get(flight.Ticket(ticket.encode()), alice).read_all().equals(DATA)
    finally:
        process.kill()
