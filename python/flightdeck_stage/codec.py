"""The payload encryption codec of flightdeck's workers, as Temporal's Python
samples write it (samples-python/encryption): AES-256-GCM over the serialized
payload, 12-byte nonce first, metadata encoding "binary/encrypted" and
"encryption-key-id". Keys come from a flightdeck key file (lines
"<id> <base64 of 32 bytes>", `flightdeck keys add`): the newest (last) key
encrypts, and a payload is decrypted with the key its metadata names."""

import base64
import os
import stat
from typing import Dict, List, Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"


def load_key_file(path: str) -> Dict[str, bytes]:
    """The keys of a key file in order (the last is the newest). ValueError
    naming the file for a bad line, a key that is not 32 bytes, or a file
    readable by group or others."""
    if os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"the key file {path} is readable by group or others; chmod 600 it")
    keys: Dict[str, bytes] = {}
    with open(path) as lines:
        for number, line in enumerate(lines, 1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if len(fields) != 2:
                raise ValueError(f"key file {path}:{number}: expected '<id> <base64 of 32 bytes>'")
            key = base64.b64decode(fields[1], validate=True)
            if len(key) != 32:
                raise ValueError(f"key file {path}: key '{fields[0]}' is {len(key)} bytes, AES-256 needs 32")
            keys[fields[0]] = key
    if not keys:
        raise ValueError(f"key file {path} holds no key")
    return keys


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Dict[str, bytes]) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._newest = list(keys)[-1]

    @classmethod
    def from_key_file(cls, path: str) -> "EncryptionCodec":
        return cls(load_key_file(path))

    async def encode(self, payloads: Sequence[Payload]) -> List[Payload]:
        cipher = self._ciphers[self._newest]
        out = []
        for payload in payloads:
            nonce = os.urandom(12)
            out.append(Payload(metadata={"encoding": ENCODING, KEY_ID: self._newest.encode()},
                               data=nonce + cipher.encrypt(nonce, payload.SerializeToString(), None)))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> List[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding", b"") != ENCODING:
                out.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise ValueError(f"payload encrypted with key '{key_id}', which the codec key file does not hold")
            out.append(Payload.FromString(cipher.decrypt(payload.data[:12], payload.data[12:], None)))
        return out
