"""A small OpenID provider shipped with the gateway, for the demo and the tests — never for
production (an organisation signs its officers in with its own provider).

It serves discovery, a JWKS, an authorisation endpoint with a sign-in form (users and scrypt
password hashes from a YAML file; the demo's synthetic users by default) and a token endpoint that
accepts only the authorisation-code grant with PKCE S256. Codes live in this process's memory for
60 seconds and are used once, so the provider runs in one process (start-up refuses
``--workers`` above 1 with it).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.jwk import ECKey

from gateway.auth.clients import check_secret
from gateway.auth.throttle import Throttle
from gateway.console.i18n import translator
from gateway.console.render import Renderer
from gateway.console.sessions import ROLES
from gateway.errors import ConfigurationError, RateLimited
from gateway.yamlload import load_yaml

PREFIX = "/local-idp"
DEMO_USERS = Path(__file__).resolve().parent.parent / "demo" / "data" / "console-users.yaml"
_CODE_TTL = 60.0
_ID_TOKEN_TTL = 300
_MAX_PARAM = 512


@dataclass(frozen=True)
class User:
    username: str
    name: str
    roles: tuple[str, ...]
    password_hash: str


def load_users(path: Path) -> dict[str, User]:
    doc = load_yaml(path.read_text(encoding="utf-8"))
    users: dict[str, User] = {}
    for entry in doc.get("users", []) if isinstance(doc, dict) else []:
        roles = tuple(entry.get("roles", ()))
        if not set(roles) <= set(ROLES) or not entry.get("username"):
            raise ConfigurationError(f"{path.name}: a user with unknown roles or no username")
        users[entry["username"]] = User(
            entry["username"], entry.get("name", entry["username"]), roles, entry["password"]
        )
    if not users:
        raise ConfigurationError(f"{path.name}: no console users")
    return users


@dataclass(frozen=True)
class _Grant:
    user: User
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    expires: float


class LocalProvider:
    def __init__(self, issuer: str, client_id: str, redirect_uri: str, users: dict[str, User]):
        self.issuer = issuer
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self._users = users
        self._key = ECKey.generate_key(
            "P-256", parameters={"kid": secrets.token_hex(8), "use": "sig", "alg": "ES256"}
        )
        self._codes: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        # A user name that does not exist is checked against this, so that a wrong name and a
        # wrong password take the same time.
        self._decoy = next(iter(users.values())).password_hash

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid", "profile"],
            "claims_supported": ["sub", "name", "roles"],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._key.as_dict(private=False)]}

    def request_problem(self, params: dict[str, str]) -> str | None:
        """Why an authorisation request is refused (None: it is acceptable)."""
        if any(len(v) > _MAX_PARAM for v in params.values()):
            return "a parameter is too long"
        if params.get("client_id") != self.client_id:
            return "unknown client"
        if params.get("redirect_uri") != self.redirect_uri:
            return "redirect_uri is not registered for this client"
        if params.get("response_type") != "code":
            return "only response_type=code"
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return "PKCE with S256 is required"
        if "openid" not in params.get("scope", "").split():
            return "scope must include openid"
        return None

    def sign_in(self, username: str, password: str) -> User | None:
        user = self._users.get(username)
        ok = check_secret(password, user.password_hash if user else self._decoy)
        return user if ok and user is not None else None

    def grant(self, user: User, params: dict[str, str]) -> str:
        code = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._codes = {k: g for k, g in self._codes.items() if g.expires > now}
            self._codes[code] = _Grant(
                user,
                params["client_id"],
                params["redirect_uri"],
                params["code_challenge"],
                params.get("nonce", ""),
                now + _CODE_TTL,
            )
        return code

    def token(self, form: dict[str, str]) -> dict[str, Any] | None:
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or grant.expires < time.monotonic():
            return None
        verifier = form.get("code_verifier", "")
        if not (
            form.get("grant_type") == "authorization_code"
            and form.get("client_id") == grant.client_id
            and form.get("redirect_uri") == grant.redirect_uri
            and 43 <= len(verifier) <= 128
            and hmac.compare_digest(create_s256_code_challenge(verifier), grant.challenge)
        ):
            return None
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": grant.user.username,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + _ID_TOKEN_TTL,
            "auth_time": now,
            "nonce": grant.nonce,
            "name": grant.user.name,
            "roles": list(grant.user.roles),
        }
        header = {"alg": "ES256", "kid": self._key.kid}
        return {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": _ID_TOKEN_TTL,
            "id_token": jwt.encode(header, claims, self._key, algorithms=["ES256"]),
        }


_AUTH_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)


def provider_app(provider: LocalProvider, renderer: Renderer, throttle: Throttle) -> FastAPI:
    """``throttle``: failed sign-ins per user name and per peer, as the token endpoint's; a
    password is not guessed at scrypt's pace, and the CPU it costs is bounded."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    async def invalid_form(request: Request, exc: Exception) -> Response:
        # Not FastAPI's 422 JSON: it repeats the submitted value, here a password.
        return page(request, {}, "the sign-in form is not valid", 400)

    app.add_exception_handler(RequestValidationError, invalid_form)

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> JSONResponse:
        return JSONResponse(provider.metadata())

    @app.get("/jwks")
    async def jwks() -> JSONResponse:
        return JSONResponse(provider.jwks())

    def page(request: Request, params: dict[str, str], error: str | None, status: int) -> Response:
        t = translator(request)
        return renderer.page(
            request, "provider_login.html", {"params": params, "error": error, "t": t}, status
        )

    @app.get("/authorize")
    async def authorize(request: Request) -> Response:
        params = {k: request.query_params.get(k, "") for k in _AUTH_PARAMS}
        problem = provider.request_problem(params)
        if problem:
            return page(request, {}, problem, 400)
        return page(request, params, None, 200)

    @app.post("/authorize")
    async def authorize_form(
        request: Request,
        username: str = Form(default="", max_length=100),
        password: str = Form(default="", max_length=200),
    ) -> Response:
        form = await request.form()
        params = {k: str(form.get(k, "")) for k in _AUTH_PARAMS}
        problem = provider.request_problem(params)
        if problem:
            return page(request, {}, problem, 400)
        peer = request.client.host if request.client else ""
        try:
            throttle.check(username or None, peer)  # before any secret is hashed
        except RateLimited as exc:
            refused = page(request, params, translator(request)("idp.throttled"), 429)
            refused.headers.update(exc.headers)
            return refused
        # scrypt (16 MiB, tens of ms): never on the event loop, where every request waits.
        user = await asyncio.to_thread(provider.sign_in, username, password)
        if user is None:
            throttle.failed(username or None, peer)
            return page(request, params, translator(request)("idp.wrong"), 401)
        code = provider.grant(user, params)
        sep = "&" if "?" in params["redirect_uri"] else "?"
        target = params["redirect_uri"] + sep + urlencode({"code": code, "state": params["state"]})
        return RedirectResponse(target, status_code=303)

    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        form = await request.form()
        answer = provider.token({k: str(v) for k, v in form.items()})
        if answer is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    return app
