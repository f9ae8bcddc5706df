"""Bearer JWTs on a TLS data node with an auth config whose `jwt:` section
names a JWKS file (RSA, P-256 and HMAC keys), as an identity provider would
publish them. Tokens are made with PyJWT, the way services mint them; each
forged, expired, early, unsigned, misdirected or confused token is refused
UNAUTHENTICATED and audited, and a valid one gets exactly its groups' roles."""

import hashlib
import hmac
import json
import time

import jwt
import pyarrow.flight as flight
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import Process
from pipeline_cluster import make_certs, wait_for
from test_security_auth import as_, audit_lines, connect, put

ISSUER = "https://id.example.test"
AUDIENCE = "flightdeck"
HMAC_SECRET = b"an-hmac-secret-of-the-idp-32-bytes-or-more"


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    """An identity provider's keys and a node trusting them. Yields
    (location, certs, mint, audit_log, folder) where mint(claims, key=, alg=, kid=)
    signs a token."""
    folder = tmp_path_factory.mktemp("jwt")
    certs = make_certs(folder / "certs")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keys = []
    for kid, public, alg in (("rsa1", rsa_key.public_key(), jwt.algorithms.RSAAlgorithm),
                             ("ec1", ec_key.public_key(), jwt.algorithms.ECAlgorithm)):
        jwk = json.loads(alg.to_jwk(public))
        jwk["kid"] = kid
        keys.append(jwk)
    hmac_jwk = json.loads(jwt.algorithms.HMACAlgorithm.to_jwk(HMAC_SECRET))
    hmac_jwk["kid"] = "hs1"
    keys.append(hmac_jwk)
    (folder / "jwks.json").write_text(json.dumps({"keys": keys}))
    (folder / "auth.yaml").write_text(f"""
jwt: {{jwks: jwks.json, issuer: "{ISSUER}", audience: {AUDIENCE}, leeway: 5s}}
roles:
  reader: {{actions: [get, list]}}
  owner: {{actions: [put, get, list, drop, persist, stats]}}
bindings:
  - {{role: reader, groups: [analysts], tenants: [acme]}}
  - {{role: owner, principals: [svc-loader], tenants: [acme]}}
""")
    log = folder / "audit.log"
    node = Process(["node", "--port", "0", "--tls-cert", str(certs / "node.pem"), "--tls-key",
                    str(certs / "node-key.pem"), "--auth-config", str(folder / "auth.yaml"), "--audit-log", str(log)],
                   r"listening on (grpc\+tls://\S+)")
    signing = {"rsa1": (rsa_key, "RS256"), "ec1": (ec_key, "ES256"), "hs1": (HMAC_SECRET, "HS256")}

    def mint(claims, kid="rsa1", key=None, alg=None):
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        default_key, default_alg = signing[kid]
        return jwt.encode(body, key if key is not None else default_key, algorithm=alg or default_alg,
                          headers={"kid": kid})

    try:
        yield node.match.group(1), certs, mint, log, folder
    finally:
        node.kill()


def test_valid_tokens_of_each_algorithm_get_their_groups_roles(idp):
    location, certs, mint, _, _ = idp
    with connect(location, certs) as client:
        loader = mint({"sub": "svc-loader"})
        put(client, as_(loader), "acme", "events")
        for kid in ("rsa1", "ec1", "hs1"):
            analyst = mint({"sub": f"carol-{kid}", "groups": ["analysts"]}, kid=kid)
            assert len(list(client.list_flights(options=as_(analyst)))) == 1
            with pytest.raises(flight.FlightUnauthorizedError, match="may not put"):
                put(client, as_(analyst), "acme", "planted")
        # No group, no binding: authenticated but allowed nothing.
        nobody = mint({"sub": "mallory"})
        with pytest.raises(flight.FlightUnauthorizedError):
            list(client.list_flights(options=as_(nobody)))


def b64url(data: bytes) -> str:
    return jwt.utils.base64url_encode(data).decode()


def hand_signed(header: dict, claims: dict, secret: bytes) -> str:
    """A token HMAC-signed by hand, for what PyJWT refuses to make."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def test_bad_tokens_are_unauthenticated_and_audited(idp):
    location, certs, mint, log, folder = idp
    now = int(time.time())
    claims = {"sub": "svc-loader", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 300}
    header, _, signature = mint({"sub": "svc-loader"}).split(".")
    # The RSA key is published; an attacker HMAC-signs with its PEM text.
    rsa_jwk = next(k for k in json.loads((folder / "jwks.json").read_text())["keys"] if k["kid"] == "rsa1")
    public_pem = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(rsa_jwk)).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = {
        "expired": (mint({"sub": "svc-loader", "exp": now - 60}), "expired"),
        "not yet valid": (mint({"sub": "svc-loader", "nbf": now + 600}), "not valid yet"),
        "no exp": (mint({"sub": "svc-loader", "exp": None}), 'no "exp"'),
        "alg none": (jwt.encode(claims, None, algorithm="none", headers={"kid": "rsa1"}), "not accepted"),
        "wrong key": (mint({"sub": "svc-loader"}, key=other_rsa), "does not verify"),
        "wrong issuer": (mint({"sub": "svc-loader", "iss": "https://evil.example"}), "issuer"),
        "wrong audience": (mint({"sub": "svc-loader", "aud": "someone-else"}), "audience"),
        "unknown kid": (hand_signed({"alg": "HS256", "kid": "nope"}, claims, HMAC_SECRET), "no key with kid"),
        "algorithm confusion": (hand_signed({"alg": "HS256", "typ": "JWT", "kid": "rsa1"}, claims, public_pem),
                                "algorithm confusion"),
        "altered claims": (header + "." + b64url(json.dumps({**claims, "groups": ["admins"]}).encode()) + "." +
                           signature, "does not verify"),
        "no subject": (mint({}), "naming the principal"),
    }
    with connect(location, certs) as client:
        before = len(audit_lines(log))
        for name, (token, message) in cases.items():
            with pytest.raises(flight.FlightUnauthenticatedError, match=message):
                list(client.list_flights(options=as_(token)))
            with pytest.raises(flight.FlightUnauthenticatedError):
                put(client, as_(token), "acme", "planted-" + name.replace(" ", "-"))
        wait_for(lambda: len(audit_lines(log)) >= before + 2 * len(cases), 20, "audit records of the refusals")
        assert [f.descriptor.path[1] for f in client.list_flights(options=as_(mint({"sub": "svc-loader"})))
                if f.descriptor.path[1].startswith(b"planted")] == []
    refused = audit_lines(log)[before:before + 2 * len(cases)]
    assert {r["code"] for r in refused} == {"UNAUTHENTICATED"} and {r["principal"] for r in refused} == {None}
    text = log.read_text()
    for token, _ in cases.values():
        assert token not in text
