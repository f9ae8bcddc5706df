"""Encryption at rest on `flightdeck node --key-file`: spill and durable files
are AES-256-GCM encrypted, keys rotate by adding one (SIGHUP), a tampered
file is reported corrupt and never served, a missing key is named."""

import json
import os
import signal
import subprocess

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import xxhash

from conftest import Process, flightdeck_binary
from test_flight_api import action, as_tenant, put, table, wait_for

MAGIC = b"FDENC001"
SECRET = "plaintext-that-must-not-reach-the-disk"


def secret_table(rows: int, offset: int = 0) -> pa.Table:
    return table(rows, offset).append_column("note", pa.array([f"{SECRET}-{i}" for i in range(rows)]))


def add_key(path, *extra) -> str:
    done = subprocess.run([flightdeck_binary(), "keys", "add", str(path), *extra], capture_output=True,
                          text=True, timeout=60, check=True)
    return done.stdout


def key_id_of(file) -> str:
    raw = file.read_bytes()
    assert raw.startswith(MAGIC), file
    return raw[9:9 + raw[8]].decode()


def put_durable(client, name, data):
    cmd = json.dumps({"tenant": "acme", "dataset": name, "partition": "0", "durable": True})
    return put(client, flight.FlightDescriptor.for_command(cmd.encode()), data)


def get(client, summary):
    return client.do_get(flight.Ticket(summary["ticket"].encode()), options=as_tenant("acme")).read_all()


def durable_files(data_dir):
    return sorted((data_dir / "durable").iterdir())


def test_keys_add_makes_a_private_key_file_and_appends(tmp_path):
    keys = tmp_path / "keys"
    assert "added key 'k1'" in add_key(keys)
    assert os.stat(keys).st_mode & 0o777 == 0o600
    assert "added key 'k2'" in add_key(keys)
    assert "added key 'spring'" in add_key(keys, "--id", "spring")
    lines = [line.split() for line in keys.read_text().splitlines()]
    assert [line[0] for line in lines] == ["k1", "k2", "spring"]
    assert len({line[1] for line in lines}) == 3
    done = subprocess.run([flightdeck_binary(), "keys", "add", str(keys), "--id", "k1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "already in" in done.stderr


def test_durable_and_spill_files_are_encrypted_and_survive_a_restart(start_data_node, tmp_path):
    keys, data_dir = tmp_path / "keys", tmp_path / "node"
    add_key(keys)
    node, location = start_data_node("--data-dir", str(data_dir), "--key-file", str(keys),
                                     "--memory-budget", "2MB", "--compression", "lz4")
    client = flight.connect(location)
    data = secret_table(20_000)
    durable = put_durable(client, "kept", data)
    # Spills: four more datasets than the memory budget holds.
    spilled = [put(client, flight.FlightDescriptor.for_path("acme", "spilled", str(i)), secret_table(20_000, i))
               for i in range(4)]
    assert action(client, "stats")["spills"] >= 1
    files = durable_files(data_dir) + sorted((data_dir / "spill").iterdir())
    assert len(files) >= 2
    for file in files:
        raw = file.read_bytes()
        assert key_id_of(file) == "k1"
        assert SECRET.encode() not in raw and b"ARROW1" not in raw
    for summary, i in zip(spilled, range(4)):
        assert get(client, summary).equals(secret_table(20_000, i))
    client.close()
    node.kill()

    _, location = start_data_node("--data-dir", str(data_dir), "--key-file", str(keys))
    client = flight.connect(location)
    assert get(client, durable).equals(data)
    client.close()


def test_keys_rotate_by_adding_one_and_sighup(start_data_node, tmp_path):
    keys, data_dir, log = tmp_path / "keys", tmp_path / "node", tmp_path / "node.log"
    add_key(keys)
    node = Process(["node", "--port", "0", "--data-dir", str(data_dir), "--key-file", str(keys)],
                   r"listening on (grpc\+tcp://\S+)", stderr_path=log)
    location = node.match.group(1)
    client = flight.connect(location)
    first = put_durable(client, "first", secret_table(1000))
    add_key(keys)
    node.proc.send_signal(signal.SIGHUP)

    def second_uses_k2():
        summary = put_durable(client, f"second-{len(durable_files(data_dir))}", secret_table(1000))
        newest = max(durable_files(data_dir), key=lambda f: f.stat().st_mtime_ns)
        return key_id_of(newest) == "k2" and summary

    assert wait_for(second_uses_k2)
    assert sorted(key_id_of(f) for f in durable_files(data_dir))[0] == "k1"
    assert get(client, first).equals(secret_table(1000))

    # A reload that drops a key in use is refused; the node keeps its keys.
    keys.write_text(keys.read_text().splitlines()[1] + "\n")
    node.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "no longer holds key 'k1'" in log.read_text())
    after = put_durable(client, "after-bad-reload", secret_table(10))
    assert key_id_of(max(durable_files(data_dir), key=lambda f: f.stat().st_mtime_ns)) == "k2"
    assert get(client, first).equals(secret_table(1000)) and get(client, after).num_rows == 10
    client.close()
    node.kill()

    # Restarted with only k2: the k1 file is refused naming its key.
    _, location = start_data_node("--data-dir", str(data_dir), "--key-file", str(keys))
    client = flight.connect(location)
    with pytest.raises(flight.FlightInternalError, match="encrypted with key 'k1'"):
        get(client, first)
    assert get(client, after).num_rows == 10
    client.close()


def test_a_tampered_file_fails_its_tag_and_is_never_served(start_data_node, tmp_path):
    keys, data_dir = tmp_path / "keys", tmp_path / "node"
    add_key(keys)
    node, location = start_data_node("--data-dir", str(data_dir), "--key-file", str(keys))
    client = flight.connect(location)
    summary = put_durable(client, "d", secret_table(20_000))
    client.close()
    node.kill()

    # Flip one ciphertext byte and fix the manifest's checksum, as an attacker
    # with the disk would: only the GCM tag can tell.
    (file,) = durable_files(data_dir)
    raw = bytearray(file.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    file.write_bytes(bytes(raw))
    manifest_path = data_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["datasets"][0]["file_checksum"] = f"xxh3:{xxhash.xxh3_64_intdigest(bytes(raw)):016x}"
    manifest_path.write_text(json.dumps(manifest))

    _, location = start_data_node("--data-dir", str(data_dir), "--key-file", str(keys))
    client = flight.connect(location)
    with pytest.raises(flight.FlightInternalError, match="tag does not authenticate"):
        get(client, summary)
    assert action(client, "stats")["datasets_corrupt"] == 1
    client.close()


@pytest.mark.parametrize("setup, extra, message", [
    (lambda keys: (keys.write_text("k1 c2hvcnQ=\n"), keys.chmod(0o600)), ["--data-dir", "{dir}"],
     "key 'k1' is 5 bytes, AES-256 needs 32"),
    (lambda keys: (add_key(keys), keys.chmod(0o644)), ["--data-dir", "{dir}"], "chmod 600"),
    (lambda keys: add_key(keys), [], "--key-file needs --data-dir"),
    (lambda keys: None, ["--data-dir", "{dir}"], "cannot read the key file"),
])
def test_bad_key_files_are_refused_at_start(tmp_path, setup, extra, message):
    keys = tmp_path / "keys"
    setup(keys)
    args = [a.replace("{dir}", str(tmp_path / "node")) for a in extra]
    done = subprocess.run([flightdeck_binary(), "node", "--port", "0", "--key-file", str(keys), *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    if keys.exists():
        for secret in (line.split()[-1] for line in keys.read_text().splitlines() if line.strip()):
            assert secret not in done.stderr
