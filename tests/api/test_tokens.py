from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey

from gateway.auth.tokens import ALGORITHM, signing_jwk
from gateway.testing import TestGateway, make_test_gateway


def secret(gw: TestGateway, client_id: str) -> str:
    doc = json.loads((gw.gateway.settings.var_dir / "demo-secrets.json").read_text())
    return str(doc["clients"][client_id])


def test_client_credentials_basic_and_post(shared_gw: TestGateway) -> None:
    basic = shared_gw.client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("veiligthuis", secret(shared_gw, "veiligthuis")),
    )
    post = shared_gw.client.post(
        "/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "veiligthuis",
            "client_secret": secret(shared_gw, "veiligthuis"),
        },
    )
    for r in (basic, post):
        assert r.status_code == 200
        token = r.json()
        assert token["token_type"] == "Bearer" and token["expires_in"] == 900
        who = shared_gw.gateway.token_verifier.verify(token["access_token"])
        assert (who.org_type, who.role) == ("veilig_thuis", "veilig_thuis_medewerker")


@pytest.mark.parametrize(
    ("data", "auth", "status", "error"),
    [
        ({"grant_type": "client_credentials"}, ("veiligthuis", "wrong"), 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, ("nobody", "x"), 401, "invalid_client"),
        (
            {"grant_type": "password"},
            None,
            400,
            "unsupported_grant_type",
        ),
    ],
)
def test_token_endpoint_refusals_are_problems(
    shared_gw: TestGateway,
    data: dict[str, str],
    auth: tuple[str, str] | None,
    status: int,
    error: str,
) -> None:
    r = shared_gw.client.post("/v1/oauth/token", data=data, auth=auth)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["error"] == error


@pytest.mark.parametrize(
    "credentials",
    [b"\xff\xfe:\xff", b"veiligthuis:\xff", b"no-colon", b""],
    ids=["not-utf8", "secret-not-utf8", "no-colon", "empty"],
)
def test_unreadable_basic_credentials_are_a_failed_authentication(
    shared_gw: TestGateway, credentials: bytes
) -> None:
    # Found by a hostile client: authlib raised on the non-UTF-8 ones (a 500).
    r = shared_gw.client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(credentials).decode()},
    )
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["error"] == "invalid_client"


def remote(gw: TestGateway, peer: str, **headers: str) -> Any:
    client = TestClient(gw.client.app, base_url="http://localhost", client=(peer, 40000))
    return client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("veiligthuis", secret(gw, "veiligthuis")),
        headers=headers,
    )


def test_client_secrets_refused_over_plain_http_off_loopback(shared_gw: TestGateway) -> None:
    # The Host header says localhost; the peer is not. The peer decides.
    r = remote(shared_gw, "203.0.113.9", Host="localhost")
    assert r.status_code == 400
    assert "TLS" in r.json()["errors"][0]["message"]
    # Forwarded headers from a peer that is not a trusted proxy prove nothing.
    spoofed = remote(shared_gw, "203.0.113.9", **{"X-Forwarded-Proto": "https"})
    assert spoofed.status_code == 400


def test_forwarded_headers_are_believed_only_from_trusted_proxies(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path, trusted_proxies=frozenset({"10.1.1.1"}))
    tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    assert remote(gw, "10.1.1.1", **tls).status_code == 200
    assert remote(gw, "10.1.1.1").status_code == 400  # the proxy itself spoke plain HTTP
    assert remote(gw, "10.9.9.9", **tls).status_code == 400
    gw.close()


def test_unknown_client_and_wrong_secret_get_one_answer(gw: TestGateway) -> None:
    answers = [
        gw.client.post("/v1/oauth/token", data={"grant_type": "client_credentials"}, auth=auth)
        for auth in (("veiligthuis", "wrong"), ("no-such-client", "wrong"))
    ]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].json() == answers[1].json()
    assert gw.gateway.auth_lane.threads >= 1  # the scrypt checks ran on the auth lane


def test_failed_attempts_are_limited_per_client(gw: TestGateway) -> None:
    limit = gw.gateway.settings.auth_failures_per_client
    token = {"grant_type": "client_credentials"}
    for _ in range(limit):
        r = gw.client.post("/v1/oauth/token", data=token, auth=("veiligthuis", "wrong"))
        assert r.status_code == 401
    for auth in (("veiligthuis", "wrong"), ("veiligthuis", secret(gw, "veiligthuis"))):
        r = gw.client.post("/v1/oauth/token", data=token, auth=auth)
        assert r.status_code == 429
        assert r.headers["content-type"] == "application/problem+json"
        assert 1 <= int(r.headers["Retry-After"]) <= gw.gateway.settings.auth_failure_window_seconds
    # Another client from the same peer is not locked out by this one's failures.
    other = ("politie-wijkagent", secret(gw, "politie-wijkagent"))
    assert gw.client.post("/v1/oauth/token", data=token, auth=other).status_code == 200


def test_failed_attempts_are_limited_per_peer(gw: TestGateway) -> None:
    limit = gw.gateway.settings.auth_failures_per_peer
    token = {"grant_type": "client_credentials"}
    for i in range(limit):
        r = gw.client.post("/v1/oauth/token", data=token, auth=(f"guess-{i}", "wrong"))
        assert r.status_code == 401
    r = gw.client.post("/v1/oauth/token", data=token, auth=("guess-x", "wrong"))
    assert r.status_code == 429 and "Retry-After" in r.headers


def _claims(gw: TestGateway, **override: Any) -> dict[str, Any]:
    token = gw.token("politie-wijkagent")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    claims.update(override)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(
    claims: dict[str, Any], key: Any, header: dict[str, Any] | None = None, alg: str = ALGORITHM
) -> str:
    h = {"alg": alg, "typ": "at+jwt", **(header or {})}
    return jwt.encode(h, claims, key, algorithms=[alg])


def _own_key(gw: TestGateway) -> KeySet:
    return KeySet([signing_jwk(gw.gateway.keys.token_signing)])


def call(gw: TestGateway, token: str) -> Any:
    return gw.client.get("/v1/cases", headers={"Authorization": f"Bearer {token}"})


def test_valid_token_accepted(shared_gw: TestGateway) -> None:
    assert call(shared_gw, _sign(_claims(shared_gw), _own_key(shared_gw))).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "urn:other"},
        {"iss": "urn:other"},
        {"exp": int(time.time()) - 3600},
        {"nbf": int(time.time()) + 3600},
        {"exp": None},
        {"nbf": None},
        {"iat": None},
        {"exp": int(time.time()) + 7200},  # longer than the configured maximum lifetime
        {"iat": int(time.time()) + 3600},
        {"role": None},
        {"urn:nl:oin": "12345"},
    ],
)
def test_claims_are_checked(shared_gw: TestGateway, change: dict[str, Any]) -> None:
    r = call(shared_gw, _sign(_claims(shared_gw, **change), _own_key(shared_gw)))
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_foreign_key_unknown_kid_hmac_and_none_refused(shared_gw: TestGateway) -> None:
    claims = _claims(shared_gw)
    other = KeySet(
        [ECKey.import_key(ec.generate_private_key(ec.SECP256R1()), parameters={"kid": "x"})]
    )
    same_key_other_kid = ECKey.import_key(
        shared_gw.gateway.keys.token_signing, parameters={"kid": "other"}
    )
    tokens = [
        _sign(claims, other),
        _sign(claims, KeySet([same_key_other_kid])),
        _sign(claims, OctKey.generate_key(256), alg="HS256"),
        base64.urlsafe_b64encode(b'{"alg":"none","typ":"at+jwt"}').decode().rstrip("=")
        + "."
        + base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        + ".",
        "not-a-token",
    ]
    for token in tokens:
        assert call(shared_gw, token).status_code == 401


def test_wrong_token_type_refused(shared_gw: TestGateway) -> None:
    r = call(shared_gw, _sign(_claims(shared_gw), _own_key(shared_gw), header={"typ": "JWT"}))
    assert r.status_code == 401


def test_missing_token(shared_gw: TestGateway) -> None:
    r = shared_gw.client.get("/v1/cases")
    assert r.status_code == 401
    assert r.json()["type"].endswith("/unauthenticated")


def test_unknown_or_too_many_form_members_are_400(shared_gw: TestGateway) -> None:
    extra = {"grant_type": "client_credentials", "password": "x"}
    r = shared_gw.client.post("/v1/oauth/token", data=extra, auth=("veiligthuis", "x"))
    assert r.status_code == 400 and r.json()["errors"] == [
        {"location": "/*", "message": "not a member of the token request"}
    ]
    assert r.json()["error"] == "invalid_request"
    many = {f"f{i}": "x" for i in range(20)}
    r = shared_gw.client.post("/v1/oauth/token", data=many)
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"


def test_a_remembered_token_still_expires(tmp_path: Path) -> None:
    """Checked tokens are remembered for speed; their times are checked on every use."""
    gw = make_test_gateway(tmp_path, clock_leeway_seconds=0)
    try:
        now = int(time.time())
        token = _sign(_claims(gw, iat=now, nbf=now, exp=now + 2), _own_key(gw))
        assert call(gw, token).status_code == 200
        assert call(gw, token).status_code == 200  # from memory
        time.sleep(3)
        assert call(gw, token).status_code == 401
    finally:
        gw.close()
