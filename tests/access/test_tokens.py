"""OAuth2/OIDC bearer tokens (issue 20 item 2): JWTs checked against the configured issuer's
key set, served here by a local HTTP server from a key pair the test makes (never the
internet). Forged, expired, not-yet-valid, wrong-issuer, wrong-audience, unsigned and
HMAC-with-the-public-key tokens are 401; a good one acts with its subject's and claims'
permissions; a tenant may name its own issuer."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.testclient import TestClient

from tests.access.helpers import bearer, bootstrap_admin, grant, seed
from tests.conftest import make_client
from tests.notify._receivers import HttpReceiver

ISSUER = "https://id.city.example/realms/seongnam"
OTHER_ISSUER = "https://id.other.example/realms/x"
ENTITIES = "/ngsi-ld/v1/entities"


class _Keys:
    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.fetches = 0

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key()))
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key()))
        return {
            "keys": [
                {**rsa_jwk, "kid": "rsa1", "use": "sig", "alg": "RS256"},
                {**ec_jwk, "kid": "ec1", "use": "sig", "alg": "ES256"},
            ]
        }


@pytest.fixture(scope="module")
def keys() -> _Keys:
    return _Keys()


@pytest.fixture(scope="module")
def jwks_url(keys: _Keys) -> Iterator[str]:
    body = json.dumps(keys.jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            keys.fetches += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = None
    for port in range(18710, 18790):
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
            break
        except OSError:
            continue
    assert server is not None, "no free port in 18710-18789"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/realms/seongnam/certs"
    server.shutdown()
    server.server_close()


def token(key: Any, kid: str = "rsa1", alg: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "sub": "user-1", "aud": "cityhub", "iat": now, "exp": now + 300}
    body.update(claims)
    for name in [n for n, v in body.items() if v is None]:
        del body[name]
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def hub(tmp_path: Path, store_url: str, jwks_url: str) -> Iterator[TestClient]:
    with make_client(
        tmp_path,
        store_url,
        oidc_issuer=ISSUER,
        oidc_jwks_url=jwks_url,
        oidc_audience="cityhub",
    ) as client:
        yield client


def test_a_good_token_acts_with_its_subjects_permissions(hub: TestClient, keys: _Keys) -> None:
    admin = bootstrap_admin(hub)
    seed(hub, admin)
    good = bearer(token(keys.rsa))
    # a valid token without a permission: known, so 403 (not 401)
    assert hub.get(f"{ENTITIES}?type=AirQualityObserved", headers=good).status_code == 403
    grant(hub, admin, action="read", assignee={"subject": "user-1"})
    response = hub.get(f"{ENTITIES}?type=AirQualityObserved", headers=good)
    assert response.status_code == 200 and len(response.json()) == 3
    # an EC-signed token of the same issuer works too
    ec_token = bearer(token(keys.ec, kid="ec1", alg="ES256"))
    assert hub.get(f"{ENTITIES}?type=AirQualityObserved", headers=ec_token).status_code == 200
    # read does not give write
    assert (
        hub.delete(f"{ENTITIES}/urn:ngsi-ld:AirQualityObserved:0", headers=good).status_code == 403
    )


def test_claims_assign_permissions(hub: TestClient, keys: _Keys) -> None:
    admin = bootstrap_admin(hub)
    seed(hub, admin)
    grant(
        hub,
        admin,
        action="read",
        assignee={"claim": "realm_access.roles", "value": "traffic-analyst"},
    )
    analyst = bearer(token(keys.rsa, sub="u2", realm_access={"roles": ["traffic-analyst"]}))
    other = bearer(token(keys.rsa, sub="u3", realm_access={"roles": ["citizen"]}))
    assert hub.get(f"{ENTITIES}?type=OnStreetParking", headers=analyst).status_code == 200
    assert hub.get(f"{ENTITIES}?type=OnStreetParking", headers=other).status_code == 403


def _forged(keys: _Keys) -> dict[str, str]:
    public_pem = keys.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa1"}).encode()
    claims = json.dumps({"iss": ISSUER, "sub": "user-1", "aud": "cityhub", "exp": 4102444800})
    unsigned = ".".join(
        jwt.utils.base64url_encode(part).decode() for part in (header, claims.encode())
    )
    good = token(keys.rsa)
    head, body, signature = good.split(".")
    tampered_claims = json.loads(jwt.utils.base64url_decode(body))
    tampered_claims["sub"] = "admin"
    tampered = ".".join(
        (head, jwt.utils.base64url_encode(json.dumps(tampered_claims).encode()).decode(), signature)
    )
    return {
        "signed by another key with our kid": token(keys.other),
        "expired": token(keys.rsa, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
        "not valid yet": token(keys.rsa, nbf=int(time.time()) + 3600),
        "wrong issuer": token(keys.rsa, iss=OTHER_ISSUER),
        "wrong audience": token(keys.rsa, aud="someone-else"),
        "no exp": token(keys.rsa, exp=None),
        "no sub": token(keys.rsa, sub=None),
        "unknown kid": token(keys.rsa, kid="nope"),
        "alg none": unsigned + ".",
        "HS256 keyed with the public key": _hs256_with(public_pem),
        "tampered claims": tampered,
        "not a JWT": "a.b.c",
        "garbage": "x" * 100,
    }


def _hs256_with(secret: bytes) -> str:
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "kid": "rsa1"}).encode())
    claims = jwt.utils.base64url_encode(
        json.dumps({"iss": ISSUER, "sub": "user-1", "aud": "cityhub", "exp": 4102444800}).encode()
    )
    import hashlib
    import hmac

    signing = header + b"." + claims
    signature = jwt.utils.base64url_encode(hmac.new(secret, signing, hashlib.sha256).digest())
    return (signing + b"." + signature).decode()


def test_hostile_tokens_are_refused(hub: TestClient, keys: _Keys) -> None:
    admin = bootstrap_admin(hub)
    grant(hub, admin, action="admin", assignee={"subject": "user-1"})
    grant(hub, admin, action="admin", assignee={"subject": "admin"})
    for name, text in _forged(keys).items():
        response = hub.get(f"{ENTITIES}?type=X", headers=bearer(text))
        assert response.status_code == 401, (name, response.text)
        assert response.json()["detail"], name
        assert text not in response.text, name
    assert hub.get(f"{ENTITIES}?type=X", headers=bearer(token(keys.rsa))).status_code == 200


def test_unknown_key_ids_do_not_become_a_flood_of_fetches(hub: TestClient, keys: _Keys) -> None:
    admin = bootstrap_admin(hub)
    grant(hub, admin, action="read", assignee="authenticated")
    assert hub.get(f"{ENTITIES}?type=X", headers=bearer(token(keys.rsa))).status_code == 200
    before = keys.fetches
    for i in range(20):
        forged = bearer(token(keys.other, kid=f"k{i}"))
        assert hub.get(f"{ENTITIES}?type=X", headers=forged).status_code == 401
    assert keys.fetches - before <= 1


def test_a_tenant_names_its_own_issuer(
    tmp_path: Path, store_url: str, jwks_url: str, keys: _Keys
) -> None:
    with make_client(tmp_path, store_url) as hub:
        admin = bootstrap_admin(hub)
        oidc = {"issuer": OTHER_ISSUER, "jwksUri": jwks_url}
        made = hub.post(
            "/admin/tenants", json={"name": "city2", "settings": {"oidc": oidc}}, headers=admin
        )
        assert made.status_code == 201, made.text
        grant(hub, admin, tenant="city2", action="read", assignee="authenticated")
        ours = {**bearer(token(keys.rsa, iss=OTHER_ISSUER, aud=None)), "NGSILD-Tenant": "city2"}
        assert hub.get(f"{ENTITIES}?type=X", headers=ours).status_code == 200
        theirs = {**bearer(token(keys.rsa)), "NGSILD-Tenant": "city2"}
        assert hub.get(f"{ENTITIES}?type=X", headers=theirs).status_code == 401
        # the default tenant names no issuer: tokens are not accepted there
        plain = hub.get(f"{ENTITIES}?type=X", headers=bearer(token(keys.rsa, iss=OTHER_ISSUER)))
        assert plain.status_code == 401 and "no OIDC issuer" in plain.json()["detail"]


def test_a_token_subjects_subscription_notifies_what_its_claims_may_read(
    hub: TestClient, keys: _Keys
) -> None:
    """The owner of a subscription made with a token is its subject with the claims it had:
    notifications carry what a claim's permission reads, long after the token expired."""
    admin = bootstrap_admin(hub)
    air = {"claim": "realm_access.roles", "value": "air-analyst"}
    grant(hub, admin, action="read", target={"type": "AirQualityObserved"}, assignee=air)
    grant(hub, admin, action="subscribe", assignee="authenticated")
    analyst = bearer(token(keys.rsa, sub="u2", realm_access={"roles": ["air-analyst"]}))
    with HttpReceiver() as rx:
        body = {
            "type": "Subscription",
            "entities": [{"type": "AirQualityObserved"}, {"type": "OnStreetParking"}],
            "notification": {"endpoint": {"uri": rx.url}},
        }
        made = hub.post("/ngsi-ld/v1/subscriptions", json=body, headers=analyst)
        assert made.status_code == 201, made.text
        seed(hub, admin)
        received = rx.wait_for(1)
        ids = sorted(e["id"] for r in rx.quiet(0.5) for e in r.body["data"])
    assert received and all("AirQualityObserved" in i for i in ids), ids
    assert len(ids) == 3
