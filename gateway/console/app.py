"""The consoles' web application, mounted at ``/console`` inside the gateway.

Server-rendered pages (no script), served with their style sheet by the gateway itself. Sign-in
is OpenID Connect with PKCE (``oidc.py``); the provider is configured
(``GATEWAY_CONSOLE_OIDC_ISSUER``) or, for the demo and the tests, the local one (``provider.py``,
at ``/local-idp``).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import httpx
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.auth.throttle import FailureWindow, Throttle
from gateway.bsn import Pseudonymiser
from gateway.console import auditor, officer
from gateway.console.deps import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Console,
    ConsoleDep,
    ConsoleRefusal,
    Posted,
    optional_session,
    refusal_page,
)
from gateway.console.i18n import COOKIE as LANG_COOKIE
from gateway.console.i18n import LANGUAGES
from gateway.console.oidc import OidcClient
from gateway.console.provider import (
    DEMO_USERS,
    PREFIX,
    LocalProvider,
    load_users,
    provider_app,
)
from gateway.console.render import STATIC, Renderer
from gateway.console.sessions import ConsoleSession, SessionStore
from gateway.errors import AuthenticationFailed, ConfigurationError, GatewayError
from gateway.runtime import Gateway

MOUNT = "/console"


def mount_consoles(app: FastAPI, gw: Gateway) -> None:
    """Mount the console (and the local provider where enabled) on the gateway's app."""
    settings = gw.settings
    public = settings.resolved_public_url
    renderer = Renderer()
    transport: httpx.AsyncBaseTransport | None = None
    issuer = settings.console_oidc_issuer
    if settings.console_local_provider:
        users = load_users(settings.console_users_file or DEMO_USERS)
        local = LocalProvider(
            public + PREFIX,
            settings.console_oidc_client_id,
            public + MOUNT + "/auth/callback",
            users,
        )
        window = settings.auth_failure_window_seconds
        throttle = Throttle(
            FailureWindow(settings.auth_failures_per_client, window),
            FailureWindow(settings.auth_failures_per_peer, window),
        )
        idp = provider_app(local, renderer, throttle)
        app.mount(PREFIX, idp)
        # The console talks to its own provider in process: no loopback hop, and the codes the
        # provider holds in memory are always found.
        transport = httpx.ASGITransport(app=idp, root_path=PREFIX)
        issuer = issuer or local.issuer
    if issuer is None:
        issuer = ""  # sign-in then fails with a clear page; the API is unaffected
    secret = settings.console_oidc_client_secret
    console = Console(
        gw=gw,
        sessions=SessionStore(
            gw.db,
            gw.seals,
            idle=timedelta(minutes=settings.console_idle_minutes),
            lifetime=timedelta(hours=settings.console_session_hours),
        ),
        oidc=OidcClient(
            issuer,
            settings.console_oidc_client_id,
            secret.get_secret_value() if secret else None,
            settings.console_roles_claim,
            leeway=settings.clock_leeway_seconds,
            transport=transport,
        ),
        renderer=renderer,
        redirect_uri=public + MOUNT + "/auth/callback",
        pseudonymiser=Pseudonymiser(gw.keys.pseudonym_key),
        secure_cookies=settings.console_cookie_secure,
    )
    app.mount(MOUNT, console_app(console))


def console_app(console: Console) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.console = console
    app.add_exception_handler(ConsoleRefusal, refusal_page)

    async def not_found(request: Request, exc: Exception) -> Response:
        code = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        if code == 404:
            return await refusal_page(request, ConsoleRefusal("not_found"))
        session = await optional_session(request, console)
        return console.page(request, session, "error.html", {"message": "error.invalid"}, code)

    app.add_exception_handler(StarletteHTTPException, not_found)

    async def invalid_form(request: Request, exc: Exception) -> Response:
        # FastAPI's own answer is a 422 JSON document that repeats each submitted value (it may
        # be a mistyped BSN); a page names the form's fields only.
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        fields = sorted({str(e["loc"][-1]) for e in errors if e.get("loc")})
        session = await optional_session(request, console)
        problems = [f"{field}: not a valid value" for field in fields]
        return console.page(
            request, session, "error.html", {"message": "error.invalid", "problems": problems}, 400
        )

    app.add_exception_handler(RequestValidationError, invalid_form)

    async def gateway_error(request: Request, exc: Exception) -> Response:
        # The problem's text is the gateway's own (never a submitted value), but a page shows
        # only the general message: details are in the log.
        session = await optional_session(request, console)
        status = exc.status if isinstance(exc, GatewayError) else 503
        status = status if 400 <= status < 500 else 503  # fail closed, say nothing more
        page = console.page(
            request, session, "error.html", {"message": "error.unavailable"}, status
        )
        if isinstance(exc, GatewayError):
            page.headers.update(exc.headers)  # e.g. Retry-After
        return page

    app.add_exception_handler(GatewayError, gateway_error)
    app.mount("/static", StaticFiles(directory=STATIC), name="console-static")
    _sign_in_routes(app)
    app.include_router(officer.router)
    app.include_router(auditor.router)
    return app


def _cookie(response: Response, console: Console, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        console.cookie(name),
        value,
        max_age=max_age,
        path="/",
        secure=console.secure_cookies,
        httponly=True,
        samesite="lax",  # sent on the provider's redirect back; forms carry a CSRF token
    )


def _sign_in_routes(app: FastAPI) -> None:
    @app.get("/")
    async def home(request: Request, console: ConsoleDep) -> Response:
        session = await optional_session(request, console)
        return console.page(request, session, "home.html")

    @app.get("/login")
    async def login(console: ConsoleDep) -> Response:
        token, pending = await asyncio.to_thread(console.sessions.start_login)
        try:
            url = await console.oidc.authorization_url(console.redirect_uri, pending)
        except AuthenticationFailed as exc:
            raise ConfigurationError("the console's sign-in provider is not available") from exc
        response = RedirectResponse(url, status_code=303)
        _cookie(response, console, LOGIN_COOKIE, token, 600)
        return response

    @app.get("/auth/callback")
    async def callback(
        request: Request,
        console: ConsoleDep,
        code: Annotated[str, Query(max_length=512)] = "",
        state: Annotated[str, Query(max_length=512)] = "",
    ) -> Response:
        pending = await asyncio.to_thread(
            console.sessions.take_login, request.cookies.get(console.cookie(LOGIN_COOKIE)), state
        )
        identity = None
        if pending is not None and code:
            try:
                identity = await console.oidc.finish(code, console.redirect_uri, pending)
            except AuthenticationFailed:
                identity = None
        if identity is None:
            response = console.page(request, None, "error.html", {"message": "error.login"}, 401)
            response.delete_cookie(
                console.cookie(LOGIN_COOKIE), path="/", secure=console.secure_cookies
            )
            return response
        token = await asyncio.to_thread(console.sessions.open, identity)
        done = RedirectResponse("/console/", status_code=303)
        done.delete_cookie(console.cookie(LOGIN_COOKIE), path="/", secure=console.secure_cookies)
        lifetime = int(console.sessions.lifetime.total_seconds())
        _cookie(done, console, SESSION_COOKIE, token, lifetime)
        return done

    @app.post("/logout")
    async def logout(request: Request, console: ConsoleDep, session: Posted) -> Response:
        await asyncio.to_thread(console.sessions.end, console.token(request))
        response = RedirectResponse("/console/", status_code=303)
        response.delete_cookie(
            console.cookie(SESSION_COOKIE), path="/", secure=console.secure_cookies
        )
        return response

    @app.get("/lang/{code}")
    async def switch_language(code: str, console: ConsoleDep) -> Response:
        if code not in LANGUAGES:
            raise ConsoleRefusal("not_found")
        response = RedirectResponse("/console/", status_code=303)
        response.set_cookie(
            LANG_COOKIE,
            code,
            max_age=365 * 86400,
            path="/",
            samesite="lax",
            secure=console.secure_cookies,
        )
        return response


__all__ = ["MOUNT", "ConsoleSession", "console_app", "mount_consoles"]
