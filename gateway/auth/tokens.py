"""Signed JWT access tokens (RFC 9068 profile): issuing through authlib, checking with joserfc.

Every call is checked for: a compact JWS, ``typ`` = ``at+jwt``, ``alg`` pinned to ES256 (so
``none`` or an HMAC confusion is refused before any key is touched), a known ``kid``, a valid
signature, ``iss`` and ``aud`` equal to this gateway's, ``exp`` and ``nbf`` within the clock
leeway, and the gateway's own claims (OIN, organisation type, role, pseudonymous user) present.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from gateway.auth.clients import OIN_PATTERN, AuthlibClient
from gateway.auth.principal import Principal
from gateway.errors import AuthenticationFailed
from gateway.typing import ClientId, Oin

ALGORITHM = "ES256"
TOKEN_TYPE = "at+jwt"  # noqa: S105 — the RFC 9068 media type, not a secret
CLAIM_OIN = "urn:nl:oin"
CLAIM_ORG_TYPE = "org_type"
CLAIM_ROLE = "role"
CLAIM_USER = "user"


def signing_jwk(key: ec.EllipticCurvePrivateKey) -> ECKey:
    jwk = ECKey.import_key(key)
    # NOTE: the RFC 7638 thumbprint as kid: stable per key, so rotation is visible in tokens.
    return ECKey.import_key(
        key, parameters={"kid": jwk.thumbprint(), "use": "sig", "alg": ALGORITHM}
    )


class TokenGenerator(JWTBearerTokenGenerator):  # type: ignore[misc]  # authlib is untyped
    """authlib's RFC 9068 generator with the gateway's claims and pinned key."""

    def __init__(self, key: ECKey, issuer: str, audience: str, ttl: int) -> None:
        super().__init__(issuer=issuer, alg=ALGORITHM, expires_generator=lambda *_: ttl)
        self._key = key
        self._audience = audience

    def get_jwks(self) -> KeySet:
        # NOTE: a one-key set, not the bare key: joserfc then writes the key's kid into the
        # header, which the verifier requires.
        return KeySet([self._key])

    def get_audiences(self, client: AuthlibClient, user: object, scope: str) -> str:
        return self._audience

    def get_extra_claims(
        self, client: AuthlibClient, grant_type: str, user: object, scope: str
    ) -> dict[str, Any]:
        row = client.row
        return {
            "nbf": int(time.time()),
            CLAIM_OIN: row.oin,
            CLAIM_ORG_TYPE: row.org_type,
            CLAIM_ROLE: row.role,
            CLAIM_USER: row.user_ref,
        }

    def mint(self, client: AuthlibClient) -> dict[str, Any]:
        """A token response for ``client`` without an HTTP exchange (``gateway token``)."""
        token: dict[str, Any] = self(
            grant_type="client_credentials", client=client, user=None, scope=""
        )
        return token


class TokenVerifier:
    def __init__(self, key: ECKey, issuer: str, audience: str, leeway: int) -> None:
        self._public = ECKey.import_key(key.as_dict(private=False))
        self._kid = key.kid
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._registry = jwt.JWTClaimsRegistry(
            leeway=leeway,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            nbf={"essential": True},
            sub={"essential": True},
        )

    def verify(self, token: str) -> Principal:
        try:
            decoded = jwt.decode(token, self._public, algorithms=[ALGORITHM])
        except (JoseError, ValueError) as exc:
            raise AuthenticationFailed("the access token is not a valid signed token") from exc
        header = decoded.header
        if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
            raise AuthenticationFailed("the access token has the wrong type or algorithm")
        if header.get("kid") != self._kid:
            raise AuthenticationFailed("the access token was signed with an unknown key")
        try:
            self._registry.validate(decoded.claims)
        except JoseError as exc:
            raise AuthenticationFailed(f"the access token is not valid: {exc.error}") from exc
        return _principal(decoded.claims)


def _principal(claims: Mapping[str, Any]) -> Principal:
    values = {
        name: claims.get(name)
        for name in ("client_id", CLAIM_OIN, CLAIM_ORG_TYPE, CLAIM_ROLE, CLAIM_USER)
    }
    if not all(isinstance(v, str) and v for v in values.values()):
        raise AuthenticationFailed("the access token lacks the organisation, role or user claims")
    oin = str(values[CLAIM_OIN])
    if not OIN_PATTERN.match(oin):
        raise AuthenticationFailed("the access token's OIN is not 20 digits")
    return Principal(
        client_id=ClientId(str(values["client_id"])),
        oin=Oin(oin),
        org_type=str(values[CLAIM_ORG_TYPE]),
        role=str(values[CLAIM_ROLE]),
        user=str(values[CLAIM_USER]),
    )
