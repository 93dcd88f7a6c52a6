from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey

from gateway.auth.tokens import ALGORITHM, signing_jwk
from gateway.testing import TestGateway


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
            {"grant_type": "password", "username": "a", "password": "b"},
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


def test_client_secrets_refused_over_plain_http_off_loopback(shared_gw: TestGateway) -> None:
    from fastapi.testclient import TestClient

    remote = TestClient(shared_gw.client.app, base_url="http://gateway.example")
    r = remote.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("veiligthuis", secret(shared_gw, "veiligthuis")),
    )
    assert r.status_code == 400
    assert "TLS" in r.json()["errors"][0]["message"]


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
