"""Assembly of the HTTP API: routers, error mapping, middleware, and the documents.

Everything the API offers lives under ``/v1`` (the major version in the URI, NL API Design Rules
/core/uri-version). The interactive documentation is served from the gateway itself, so it
works on a closed network.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
import structlog
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import compile_path

from gateway import API_VERSION
from gateway.api import openapi, problems
from gateway.api.middleware import Conventions, Guard
from gateway.api.routers import cases, disclosures, operations, policy, signals, tokens
from gateway.api.schemas import (
    DRY_RUN_MODELS,
    CaseCreate,
    CaseFromMatch,
    CasePatch,
    DisclosureBody,
    SignalContact,
    SignalCreate,
    SubjectLink,
    TokenForm,
)
from gateway.catalog import Catalog
from gateway.db import checkpoint_wal
from gateway.runtime import Gateway

DESCRIPTION = """
Purpose-bound information sharing between care-and-safety partners.

Every disclosure is decided by the Rego policy for the case's purpose, the requester's role and
the case stage, recorded in the encrypted access ledger **before** any data leaves, and answered
with only the minimal, transformed fields the policy justifies. Errors are
`application/problem+json` (RFC 9457); invalid input is 400 with every problem listed. Get a
token at `POST /oauth/token` (client credentials). No endpoint takes query parameters: a BSN
travels only in a request body.
"""

log = structlog.get_logger(__name__)
_STATIC = Path(fastapi_offline.__file__).resolve().parent / "static"


async def _checkpoint(gw: Gateway) -> None:
    try:
        made = await gw.disclosures.lanes.ledger.run(gw.checkpoint, timeout=60.0)
    except Exception as exc:  # a failed checkpoint is logged, and retried next interval
        log.error("ledger.checkpoint_failed", error=exc.__class__.__name__)
        return
    if made is not None:
        log.info("ledger.checkpoint", size=made[0].size, root=made[0].root[:16])


async def _guarded(event: str, work: Any) -> None:
    try:
        await asyncio.to_thread(work)
    except Exception as exc:
        log.error(event, error=exc.__class__.__name__)


def _lifespan(gw: Gateway, owns_gateway: bool) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def every_interval() -> None:
            while True:
                await asyncio.sleep(gw.settings.checkpoint_interval_seconds)
                await _checkpoint(gw)

        async def watch_policy() -> None:
            # A new signed bundle at GATEWAY_POLICY_BUNDLE is activated without a restart; one
            # that fails is refused (logged) and the policy in force keeps serving.
            while True:
                await asyncio.sleep(gw.settings.policy_reload_seconds)
                await asyncio.to_thread(gw.reload_policy)

        async def signal_clock() -> None:
            # Expire, destroy and settle signals (gateway/signals/service.py); a failure is
            # logged and tried again at the next tick — the clock never stops the server.
            while True:
                await asyncio.sleep(gw.settings.signal_expire_interval_seconds)
                await _guarded("signals.clock_failed", gw.signals.run_clock)

        async def console_sessions() -> None:
            # Ended console sessions (idle or past their lifetime) go, with any auditor key
            # sealed in them, even if their browser never comes back.
            from datetime import timedelta

            from gateway.console.sessions import SessionStore

            sessions = SessionStore(
                gw.db,
                gw.seals,
                idle=timedelta(minutes=gw.settings.console_idle_minutes),
                lifetime=timedelta(hours=gw.settings.console_session_hours),
            )
            while True:
                await asyncio.sleep(60.0)
                await _guarded("console.sessions_purge_failed", sessions.purge)

        async def webhooks() -> None:
            while True:
                await asyncio.sleep(gw.settings.webhook_interval_seconds)
                await _guarded("signals.webhooks_failed", gw.webhooks.run_once)

        async def wal_checkpoints() -> None:
            while True:
                await asyncio.sleep(1.0)
                await _guarded("db.checkpoint_failed", lambda: checkpoint_wal(gw.db))

        async def key_epochs() -> None:
            # The seals' key-encryption keys go when their epoch ends, even if no seal comes
            # to replace them (gateway/ledger/wraps.py): an idle gateway holds none.
            while True:
                await asyncio.sleep(1.0)
                gw.ledger.forget_ended_keys()

        tasks = [
            asyncio.create_task(every_interval()),
            asyncio.create_task(key_epochs()),
            asyncio.create_task(wal_checkpoints()),
            asyncio.create_task(signal_clock()),
            asyncio.create_task(webhooks()),
            asyncio.create_task(console_sessions()),
        ]
        if gw.settings.policy_bundle is not None:
            tasks.append(asyncio.create_task(watch_policy()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await _checkpoint(gw)  # a checkpoint of where the ledger stands at shutdown
            if owns_gateway:
                gw.close()

    return lifespan


def create_app(gw: Gateway, *, owns_gateway: bool = False) -> FastAPI:
    """The API over ``gw``; with ``owns_gateway`` the app closes it when it shuts down (a
    worker process of `gateway serve --workers N` has no one else to do that)."""
    app = _new_app(_lifespan(gw, owns_gateway))
    app.state.gateway = gw
    vocabulary = problems.Vocabulary.of(
        (
            DisclosureBody,
            CaseCreate,
            CasePatch,
            SubjectLink,
            TokenForm,
            SignalCreate,
            SignalContact,
            CaseFromMatch,
            *DRY_RUN_MODELS,
        ),
        extra=gw.catalog.sources,
    )
    problems.install(app, vocabulary)
    _routes(app)
    _documents(app, gw.settings.resolved_public_url, gw.catalog)
    from gateway.console.app import mount_consoles  # the pages for people, beside the API

    mount_consoles(app, gw)
    # Outermost last: Conventions wraps Guard, so refusals carry the headers too.
    app.add_middleware(
        Guard, max_body=gw.settings.max_body_bytes, body_seconds=gw.settings.request_body_seconds
    )
    app.add_middleware(Conventions, api_version=API_VERSION)
    return app


def _new_app(lifespan: Any = None) -> FastAPI:
    return FastAPI(
        lifespan=lifespan,
        title="Zorg-en-veiligheid sharing gateway",
        version=API_VERSION,
        description=DESCRIPTION,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )


def _routes(app: FastAPI) -> None:
    allow: list[tuple[re.Pattern[str], set[str]]] = []
    for router in (
        tokens.router,
        operations.router,
        cases.router,
        disclosures.router,
        policy.router,
        signals.router,
    ):
        app.include_router(router, prefix=openapi.PREFIX)
        for route in router.routes:
            if isinstance(route, APIRoute):
                pattern, _, _ = compile_path(openapi.PREFIX + route.path)
                allow.append((pattern, set(route.methods or ())))
    app.state.allow = allow  # for the Allow header of a 405 (gateway.api.problems)


def document(public_url: str, catalog: Catalog) -> dict[str, Any]:
    """The OpenAPI document as served, without a running gateway (``gateway openapi``)."""
    app = _new_app()
    _routes(app)
    return openapi.build(app, public_url, DESCRIPTION, catalog)


def _documents(app: FastAPI, public_url: str, catalog: Catalog) -> None:
    cached: dict[str, Any] = {}
    spec_url = openapi.PREFIX + "/openapi.json"

    @app.get(spec_url, include_in_schema=False)
    async def _openapi() -> JSONResponse:
        if not cached:
            cached.update(openapi.build(app, public_url, DESCRIPTION, catalog))
        return JSONResponse(cached)

    app.mount("/static", StaticFiles(directory=_STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    async def _swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=spec_url,
            title=app.title,
            swagger_js_url="/static/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui.css",
            swagger_favicon_url="/static/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def _redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=spec_url,
            title=app.title,
            redoc_js_url="/static/redoc.standalone.js",
            redoc_favicon_url="/static/favicon.png",
            with_google_fonts=False,
        )
