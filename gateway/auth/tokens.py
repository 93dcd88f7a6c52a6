"""Signed JWT access tokens (RFC 9068 profile): issuing through authlib, checking with joserfc.

Every call is checked for: a compact JWS, ``typ`` = ``at+jwt``, ``alg`` pinned to ES256 (so
``none`` or an HMAC confusion is refused before any key is touched), a known ``kid``, a valid
signature, ``iss`` and ``aud`` equal to this gateway's, ``exp`` and ``nbf`` within the clock
leeway, and the gateway's own claims (OIN, organisation type, role, pseudonymous user) present.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from gateway import clock
from gateway.auth.clients import AuthlibClient
from gateway.auth.principal import Principal
from gateway.errors import AuthenticationFailed
from gateway.identifiers import OIN_RULE, is_oin
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
            "nbf": clock.epoch_seconds(),
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


_CHECKED_TOKENS = 10_000
"""Signature-checked tokens remembered (about 1 KiB each)."""


class TokenVerifier:
    def __init__(
        self, key: ECKey, issuer: str, audience: str, leeway: int, max_lifetime: int
    ) -> None:
        self._public = ECKey.import_key(key.as_dict(private=False))
        self._kid = key.kid
        self._leeway = leeway
        self._max_lifetime = max_lifetime
        self._checked: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._registry = jwt.JWTClaimsRegistry(
            leeway=leeway,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            nbf={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
        )

    def verify(self, token: str) -> Principal:
        claims = self._signed_claims(token)
        # The time checks run on every use; only the signature check is remembered.
        try:
            self._registry.validate(claims)
        except JoseError as exc:
            raise AuthenticationFailed(f"the access token is not valid: {exc.error}") from exc
        self._check_lifetime(claims)
        return _principal(claims)

    def _signed_claims(self, token: str) -> dict[str, Any]:
        """The claims of a token whose signature, algorithm, type and key were checked. A
        client reuses its token for many requests, so a checked token is remembered (bounded;
        only tokens that passed, so garbage cannot fill it)."""
        with self._lock:
            found = self._checked.get(token)
            if found is not None:
                self._checked.move_to_end(token)
                return dict(found)
        try:
            decoded = jwt.decode(token, self._public, algorithms=[ALGORITHM])
        except (JoseError, ValueError) as exc:
            raise AuthenticationFailed("the access token is not a valid signed token") from exc
        header = decoded.header
        if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
            raise AuthenticationFailed("the access token has the wrong type or algorithm")
        if header.get("kid") != self._kid:
            raise AuthenticationFailed("the access token was signed with an unknown key")
        claims = dict(decoded.claims)
        with self._lock:
            self._checked[token] = claims
            while len(self._checked) > _CHECKED_TOKENS:
                self._checked.popitem(last=False)
        return dict(claims)

    def _check_lifetime(self, claims: Mapping[str, Any]) -> None:
        # A token that lives longer than this gateway ever issues was not issued by it the
        # normal way (a leaked key, a misconfigured issuer): refused even if well signed.
        times = [claims.get(n) for n in ("iat", "nbf", "exp")]
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in times):
            raise AuthenticationFailed("the access token's times are not integers")
        iat, nbf, exp = (int(t) for t in times)  # type: ignore[arg-type]
        if iat > clock.epoch_seconds() + self._leeway:
            raise AuthenticationFailed("the access token was issued in the future")
        if exp - min(iat, nbf) > self._max_lifetime:
            raise AuthenticationFailed("the access token lives longer than this gateway allows")


def _principal(claims: Mapping[str, Any]) -> Principal:
    values = {
        name: claims.get(name)
        for name in ("client_id", CLAIM_OIN, CLAIM_ORG_TYPE, CLAIM_ROLE, CLAIM_USER)
    }
    if not all(isinstance(v, str) and v for v in values.values()):
        raise AuthenticationFailed("the access token lacks the organisation, role or user claims")
    oin = str(values[CLAIM_OIN])
    if not is_oin(oin):
        raise AuthenticationFailed(f"the access token's OIN is not {OIN_RULE}")
    return Principal(
        client_id=ClientId(str(values["client_id"])),
        oin=Oin(oin),
        org_type=str(values[CLAIM_ORG_TYPE]),
        role=str(values[CLAIM_ROLE]),
        user=str(values[CLAIM_USER]),
    )
