"""Payload encryption between Temporal and flightdeck's workers: a Temporal
Python SDK client with the encryption codec of Temporal's Python samples
starts a mixed C++/Python pipeline on workers given the same key, and reads
its result; the server's history holds nothing in clear. The same run
through `flightdeck run`/`status` with --codec-key-file."""

import asyncio
import base64
import dataclasses
import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from typing import List, Sequence

import pytest
import temporalio.converter
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import PayloadCodec

from conftest import Process, flightdeck_binary, free_port, temporal_binary
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from pipeline_cluster import cluster, wait_for  # noqa: F401 (a fixture)
from test_security_at_rest import add_key
from test_pipeline_python_stages import assert_same_as_duckdb, spec_text, write_inputs

# The codec of samples-python/encryption/codec.py, as the sample writes it.
default_key = b"test-key-test-key-test-key-test!"
default_key_id = "test-key-id"


class EncryptionCodec(PayloadCodec):
    def __init__(self, key_id: str = default_key_id, key: bytes = default_key) -> None:
        super().__init__()
        self.key_id = key_id
        self.encryptor = AESGCM(key)

    async def encode(self, payloads: Sequence[Payload]) -> List[Payload]:
        return [
            Payload(
                metadata={
                    "encoding": b"binary/encrypted",
                    "encryption-key-id": self.key_id.encode(),
                },
                data=self.encrypt(p.SerializeToString()),
            )
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> List[Payload]:
        ret: List[Payload] = []
        for p in payloads:
            if p.metadata.get("encoding", b"").decode() != "binary/encrypted":
                ret.append(p)
                continue
            key_id = p.metadata.get("encryption-key-id", b"").decode()
            if key_id != self.key_id:
                raise ValueError(f"Unrecognized key ID {key_id}. Current key ID is {self.key_id}.")
            ret.append(Payload.FromString(self.decrypt(p.data)))
        return ret

    def encrypt(self, data: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self.encryptor.encrypt(nonce, data, None)

    def decrypt(self, data: bytes) -> bytes:
        return self.encryptor.decrypt(data[:12], data[12:], None)


def sample_key_file(folder):
    path = folder / "codec.keys"
    path.write_text(f"{default_key_id} {base64.b64encode(default_key).decode()}\n")
    path.chmod(0o600)
    return path


def payloads_in(message, found):
    """Appends every Payload inside `message` (maps and repeated fields
    included) but those of headers and search attributes, which codecs leave
    alone in every SDK."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        name = field.message_type.full_name
        if name in ("temporal.api.common.v1.Header", "temporal.api.common.v1.SearchAttributes"):
            continue
        if field.message_type.GetOptions().map_entry:
            items = list(value.values())
            value_type = field.message_type.fields_by_name["value"].message_type
            name = value_type.full_name if value_type is not None else ""
        else:
            items = list(value) if field.is_repeated else [value]
        if name == "temporal.api.common.v1.Payload":
            found.extend(items)
        elif name:
            for item in items:
                payloads_in(item, found)


async def history_payloads(client: Client, workflow_id: str):
    """Every user Payload of the run's history as the server stores it, and
    the history's bytes."""
    found = []
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    for event in history.events:
        payloads_in(event, found)
    return found, b"".join(event.SerializeToString() for event in history.events)


def test_a_python_client_with_the_samples_codec_runs_a_pipeline_on_our_workers(cluster, tmp_path):
    keys = sample_key_file(tmp_path)
    write_inputs(tmp_path)
    c = cluster("codec", worker_args=["--codec-key-file", str(keys)])
    c.python_worker(FLIGHTDECK_CODEC_KEY_FILE=str(keys))
    text = spec_text(tmp_path, c.node, c.queue, "{transform: discount}")
    workflow_id = f"codec-{uuid.uuid4().hex[:8]}"

    async def run():
        converter = dataclasses.replace(temporalio.converter.default(), payload_codec=EncryptionCodec())
        client = await Client.connect(c.address, data_converter=converter)
        result = await client.execute_workflow("flightdeck.Pipeline", args=[text, "spec.yaml", workflow_id],
                                               id=workflow_id, task_queue=c.queue,
                                               task_timeout=timedelta(seconds=10),
                                               execution_timeout=timedelta(minutes=4))
        plain = await Client.connect(c.address)
        return result, await history_payloads(plain, workflow_id)

    result, (payloads, raw) = asyncio.run(run())
    assert result["partitions"] == 4 and result["source_rows"] == 160_000, result
    assert_same_as_duckdb(tmp_path)
    # The server saw ciphertext only: every payload of every event
    # (activity inputs and results, the Python stage's, the workflow's).
    assert len(payloads) > 10
    assert {p.metadata["encoding"] for p in payloads} == {b"binary/encrypted"}
    assert {p.metadata["encryption-key-id"] for p in payloads} == {default_key_id.encode()}
    for secret in (str(tmp_path).encode(), b"amount > 100", b"discount", c.node.encode()):
        assert secret not in raw

    # The `temporal` CLI shows the run in clear through our codec server.
    server, url, token = start_codec_server(tmp_path, keys)
    try:
        shown = subprocess.run([temporal_binary(), "workflow", "show", "-w", workflow_id, "--address", c.address,
                                "--output", "json", "--codec-endpoint", url],
                               capture_output=True, text=True, timeout=60,
                               env={**os.environ, "TEMPORAL_CODEC_AUTH": f"Bearer {token}"})
        assert shown.returncode == 0, shown.stderr
        encodings, data = json_payloads(json.loads(shown.stdout))
        assert encodings == {b"json/plain"} and b"amount > 100" in data
    finally:
        server.kill()

    # The CLI with the key shows the run; without it, it says why it cannot.
    status = c.cli("status", workflow_id, "--codec-key-file", str(keys))
    assert status.returncode == 0 and "COMPLETED" in status.stdout.upper(), status.stdout + status.stderr
    blind = c.cli("status", workflow_id)
    assert blind.returncode != 0 and "binary/encrypted" in blind.stderr, blind.stdout + blind.stderr


def test_flightdeck_run_with_a_codec_key_file_encrypts_what_it_sends(cluster, tmp_path):
    keys = tmp_path / "codec.keys"
    add_key(keys)
    write_inputs(tmp_path)
    c = cluster("codec-cli", worker_args=["--codec-key-file", str(keys)])
    c.python_worker(FLIGHTDECK_CODEC_KEY_FILE=str(keys))
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(tmp_path, c.node, c.queue, "{transform: discount}"))
    run = c.cli("run", str(spec), "--wait", "--id", "codec-cli-1", "--codec-key-file", str(keys))
    assert run.returncode == 0, run.stdout + run.stderr
    assert_same_as_duckdb(tmp_path)

    async def stored():
        return await history_payloads(await Client.connect(c.address), "codec-cli-1")

    payloads, raw = asyncio.run(stored())
    assert {p.metadata["encoding"] for p in payloads} == {b"binary/encrypted"}
    assert {p.metadata["encryption-key-id"] for p in payloads} == {b"k1"}
    assert str(tmp_path).encode() not in raw


def json_payloads(node, encodings=None, data=None):
    """The encodings and the concatenated data of every payload in the proto
    JSON of a history (bytes are base64 there)."""
    encodings = set() if encodings is None else encodings
    data = [] if data is None else data
    if isinstance(node, dict):
        if isinstance(node.get("metadata"), dict) and "encoding" in node["metadata"]:
            encodings.add(base64.b64decode(node["metadata"]["encoding"]))
            data.append(base64.b64decode(node.get("data", "")))
        for value in node.values():
            json_payloads(value, encodings, data)
    elif isinstance(node, list):
        for value in node:
            json_payloads(value, encodings, data)
    return encodings, b"".join(data)


def start_codec_server(folder, keys, *extra):
    """A `flightdeck codec-server` on a free port with a token; returns
    (process, url, token)."""
    token = "codec-" + uuid.uuid4().hex
    token_file = folder / "codec-server.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    server = Process(["codec-server", "--codec-key-file", str(keys), "--port", "0", "--token-file", str(token_file),
                      "--cors-origin", "http://localhost:8233", *extra],
                     r"listening on (https?://\S+)")
    return server, server.match.group(1), token


def call(url, body, token=None, method="POST", headers=None):
    """(status, headers, body) of one HTTP call."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_the_codec_server_speaks_temporals_codec_api(tmp_path):
    keys = sample_key_file(tmp_path)
    server, url, token = start_codec_server(tmp_path, keys)
    try:
        sample = EncryptionCodec()
        plain = [Payload(metadata={"encoding": b"json/plain"}, data=b'{"secret":"launch codes"}')]
        sealed = asyncio.run(sample.encode(plain))
        body = json_format.MessageToJson(Payloads(payloads=sealed)).encode()

        status, _, answer = call(url + "/decode", body, token, headers={"X-Namespace": "default"})
        assert status == 200, answer
        decoded = json_format.Parse(answer, Payloads())
        assert list(decoded.payloads) == plain

        status, _, answer = call(url + "/encode", json_format.MessageToJson(Payloads(payloads=plain)).encode(), token)
        assert status == 200
        encoded = json_format.Parse(answer, Payloads())
        assert encoded.payloads[0].metadata["encoding"] == b"binary/encrypted"
        assert asyncio.run(sample.decode(list(encoded.payloads))) == plain

        # No token, a wrong token: 401 and nothing decoded.
        for wrong in (None, "nope"):
            status, headers, answer = call(url + "/decode", body, wrong)
            assert status == 401 and b"launch codes" not in answer
        # A tampered payload, a key the server lacks, a body that is not payloads: 400 naming why.
        tampered = Payloads(payloads=sealed)
        tampered.payloads[0].data = tampered.payloads[0].data[:-1] + bytes([tampered.payloads[0].data[-1] ^ 1])
        status, _, answer = call(url + "/decode", json_format.MessageToJson(tampered).encode(), token)
        assert status == 400 and b"does not authenticate" in answer
        other = asyncio.run(EncryptionCodec("other-key", b"o" * 32).encode(plain))
        status, _, answer = call(url + "/decode", json_format.MessageToJson(Payloads(payloads=other)).encode(), token)
        assert status == 400 and b"'other-key'" in answer
        status, _, answer = call(url + "/decode", b"[1, 2", token)
        assert status == 400

        # CORS: the allowed origin gets its preflight answered, others nothing.
        status, headers, _ = call(url + "/decode", None, method="OPTIONS",
                                  headers={"Origin": "http://localhost:8233",
                                           "Access-Control-Request-Method": "POST"})
        assert status == 204 and headers["Access-Control-Allow-Origin"] == "http://localhost:8233"
        assert "Authorization" in headers["Access-Control-Allow-Headers"]
        status, headers, _ = call(url + "/decode", None, method="OPTIONS", headers={"Origin": "http://evil.example"})
        assert "Access-Control-Allow-Origin" not in headers
    finally:
        server.kill()
    assert token not in server.stderr_text()


def test_a_codec_server_on_the_network_needs_tls_and_a_token(tmp_path):
    keys = sample_key_file(tmp_path)
    done = subprocess.run([flightdeck_binary(), "codec-server", "--codec-key-file", str(keys), "--host", "0.0.0.0",
                           "--port", "0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "refusing to serve the codec on 0.0.0.0" in done.stderr


def test_the_web_ui_decodes_through_the_codec_server(tmp_path):
    """`flightdeck dev-server --ui --ui-codec-endpoint URL`: the Web UI's
    settings name the codec server, which it then calls from the browser."""
    keys = sample_key_file(tmp_path)
    ui_port = free_port()
    origin = f"http://127.0.0.1:{ui_port}"
    codec, url, _ = start_codec_server(tmp_path, keys, "--cors-origin", origin)
    server = Process(["dev-server", "--port", "0", "--state-dir", str(tmp_path / "temporal"), "--ui",
                      "--ui-port", str(ui_port), "--ui-codec-endpoint", url], r"temporal web ui at (http://\S+)")
    try:
        ui = server.match.group(1)
        assert ui == origin
        settings = {}

        def settings_answer():
            try:
                with urllib.request.urlopen(ui + "/api/v1/settings", timeout=5) as answer:
                    settings.update(json.loads(answer.read()))
                    return True
            except (OSError, ValueError):
                return False

        wait_for(settings_answer, 60, "the Web UI's settings")
        assert settings["Codec"]["Endpoint"] == url, settings
        # The browser's preflight from the UI's origin is answered.
        status, headers, _ = call(url + "/decode", None, method="OPTIONS", headers={"Origin": origin})
        assert status == 204 and headers["Access-Control-Allow-Origin"] == origin
    finally:
        server.kill()
        codec.kill()
