"""Signing console users in: OpenID Connect's authorisation-code flow with PKCE (S256).

authlib builds the protocol messages (the authorisation request, the token request, the S256
challenge); httpx carries them; joserfc checks the ID token: signature by a key of the
provider's JWKS, ``iss``, ``aud``, ``exp``/``iat`` within the leeway, and the ``nonce`` this
browser's sign-in was started with. Only then is a session opened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from gateway.console.sessions import ROLES, Identity, PendingLogin
from gateway.errors import AuthenticationFailed

_DISCOVERY_TTL = 3600.0
_ALGORITHMS = ["ES256", "ES384", "RS256", "PS256"]
_MAX_RESPONSE = 256 * 1024


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks: KeySet


class OidcClient:
    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        roles_claim: str,
        *,
        leeway: int = 30,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self._roles_claim = roles_claim
        self._leeway = leeway
        self._transport = transport
        self._metadata: tuple[float, ProviderMetadata] | None = None

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self._transport, timeout=5.0, follow_redirects=False)

    async def metadata(self) -> ProviderMetadata:
        if self._metadata and time.monotonic() - self._metadata[0] < _DISCOVERY_TTL:
            return self._metadata[1]
        async with self._http() as http:
            doc = await _json(http, "GET", self.issuer + "/.well-known/openid-configuration")
            if doc.get("issuer", "").rstrip("/") != self.issuer:
                raise AuthenticationFailed("the provider's discovery names another issuer")
            if "S256" not in doc.get("code_challenge_methods_supported", ["S256"]):
                raise AuthenticationFailed("the provider does not support PKCE S256")
            keys = await _json(http, "GET", str(doc["jwks_uri"]))
        meta = ProviderMetadata(
            issuer=self.issuer,
            authorization_endpoint=str(doc["authorization_endpoint"]),
            token_endpoint=str(doc["token_endpoint"]),
            jwks=KeySet.import_key_set(keys),  # type: ignore[arg-type]
        )
        self._metadata = (time.monotonic(), meta)
        return meta

    async def authorization_url(self, redirect_uri: str, pending: PendingLogin) -> str:
        meta = await self.metadata()
        url: str = prepare_grant_uri(
            meta.authorization_endpoint,
            client_id=self.client_id,
            response_type="code",
            redirect_uri=redirect_uri,
            scope="openid profile",
            state=pending.state,
            nonce=pending.nonce,
            code_challenge=create_s256_code_challenge(pending.verifier),
            code_challenge_method="S256",
        )
        return url

    async def finish(self, code: str, redirect_uri: str, pending: PendingLogin) -> Identity:
        """Exchange ``code`` (with the PKCE verifier) and check the ID token."""
        meta = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
            "code_verifier": pending.verifier,
        }
        auth = (self.client_id, self._secret) if self._secret else None
        async with self._http() as http:
            tokens = await _json(http, "POST", meta.token_endpoint, data=form, auth=auth)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str) or len(id_token) > 16_384:
            raise AuthenticationFailed("the provider returned no ID token")
        try:
            claims = jwt.decode(id_token, meta.jwks, algorithms=_ALGORITHMS).claims
        except (JoseError, ValueError):
            # The provider may have rotated its keys since discovery was cached: fetch its
            # JWKS again, once, before refusing.
            self._metadata = None
            meta = await self.metadata()
            try:
                claims = jwt.decode(id_token, meta.jwks, algorithms=_ALGORITHMS).claims
            except (JoseError, ValueError) as exc:
                raise AuthenticationFailed("the ID token does not verify") from exc
        return self._identity(claims, pending.nonce)

    def _identity(self, claims: dict[str, Any], nonce: str) -> Identity:
        now = int(time.time())
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        checks = (
            str(claims.get("iss", "")).rstrip("/") == self.issuer,
            self.client_id in audiences,
            isinstance(claims.get("exp"), int) and claims["exp"] + self._leeway >= now,
            isinstance(claims.get("iat"), int) and claims["iat"] - self._leeway <= now,
            claims.get("nonce") == nonce,
            isinstance(claims.get("sub"), str) and 0 < len(claims["sub"]) <= 255,
        )
        if not all(checks):
            raise AuthenticationFailed("the ID token's claims do not hold")
        raw_roles = claims.get(self._roles_claim, [])
        roles = frozenset(r for r in raw_roles if r in ROLES) if isinstance(raw_roles, list) else ()
        name = claims.get("name")
        return Identity(
            subject=claims["sub"],
            name=name[:120] if isinstance(name, str) else claims["sub"],
            roles=frozenset(roles),
        )


async def _json(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise AuthenticationFailed("the sign-in provider cannot be reached") from exc
    if response.status_code != 200 or len(response.content) > _MAX_RESPONSE:
        raise AuthenticationFailed(f"the sign-in provider answered {response.status_code}")
    try:
        doc = response.json()
    except ValueError as exc:
        raise AuthenticationFailed("the sign-in provider answered no JSON") from exc
    if not isinstance(doc, dict):
        raise AuthenticationFailed("the sign-in provider answered no JSON object")
    return doc
