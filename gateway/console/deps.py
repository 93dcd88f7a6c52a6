"""What every console page needs: the console's parts, the signed-in user, role and CSRF checks,
and the one place where a refusal becomes a page."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.audit.access import AuditorAccess
from gateway.audit.report import organisations
from gateway.bsn import Pseudonymiser
from gateway.console.oidc import OidcClient
from gateway.console.render import Renderer
from gateway.console.sessions import ConsoleSession, SessionStore
from gateway.errors import KeyUnavailable
from gateway.keys import auditor_private_from_pem
from gateway.ledger.entry import Action, Facts
from gateway.ledger.stores.base import Also
from gateway.ledger.writer import Receipt, Record, append_with
from gateway.runtime import Gateway

SESSION_COOKIE = "console"
LOGIN_COOKIE = "console-login"
Role = Literal["privacy_officer", "auditor"]


@dataclass
class Console:
    gw: Gateway
    sessions: SessionStore
    oidc: OidcClient
    renderer: Renderer
    redirect_uri: str
    pseudonymiser: Pseudonymiser
    secure_cookies: bool
    last_verification: dict[str, Any] | None = None
    """The last chain verification this process ran from the console (shown until the next;
    each worker process keeps its own)."""

    def cookie(self, name: str) -> str:
        """The cookie's name: ``__Host-`` prefixed when it is Secure, so a browser refuses it
        unless it came over https from this host with path / and no domain (no sibling host
        can plant or overwrite it)."""
        return "__Host-" + name if self.secure_cookies else name

    def token(self, request: Request) -> str | None:
        return request.cookies.get(self.cookie(SESSION_COOKIE))

    def auditor_key_from(self, pem: bytes, passphrase: bytes | None) -> X25519PrivateKey | None:
        """The auditor's key from what an auditor handed over, if it opens and is the key the
        ledger seals for now (one answer for a wrong file, passphrase or auditor)."""
        try:
            key = auditor_private_from_pem(pem, passphrase)
        except KeyUnavailable:
            return None
        expected = self.gw.keys.auditor_public.public_bytes_raw()
        return key if key.public_key().public_bytes_raw() == expected else None

    def auditor_access(self, key: X25519PrivateKey) -> AuditorAccess:
        """The offline tools' view of the ledger, with the key an auditor handed over."""
        return AuditorAccess(
            engine=self.gw.db,
            store=self.gw.store,
            auditor=key,
            ledger_key=self.gw.keys.ledger_signing.public_key(),
            pseudonymiser=self.pseudonymiser,
        )

    def organisations(self) -> dict[str, str]:
        """Organisation names by OIN (blocking: call off the event loop)."""
        return organisations(self.gw.db)

    def session_auditor_key(self, request: Request) -> X25519PrivateKey | None:
        token = self.token(request)
        return self.sessions.auditor_key(token) if token else None

    def nav(self, session: ConsoleSession | None) -> list[tuple[str, str]]:
        """(path, message key) of the pages this user's roles reach."""
        if session is None:
            return []
        items: list[tuple[str, str]] = []
        if "privacy_officer" in session.identity.roles:
            items += [
                ("/console/policy/matrix", "po.matrix"),
                ("/console/policy/dry-run", "po.dry_run"),
                ("/console/policy/versions", "po.bundles"),
                ("/console/policy/replay", "po.replay"),
                ("/console/policy/break-glass", "po.break_glass"),
            ]
        if "auditor" in session.identity.roles:
            items += [
                ("/console/audit", "au.status"),
                ("/console/audit/search", "au.search"),
                ("/console/audit/charts", "au.charts"),
                ("/console/audit/anomalies", "au.anomalies"),
                ("/console/audit/key", "au.key"),
            ]
        return items

    def page(
        self,
        request: Request,
        session: ConsoleSession | None,
        name: str,
        context: Mapping[str, Any] | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        base = {"session": session, "nav": self.nav(session)}
        return self.renderer.page(request, name, {**base, **(context or {})}, status)

    async def ledger(
        self,
        action: Action,
        session: ConsoleSession,
        subject: str,
        body: Mapping[str, Any],
        also: Also | None = None,
    ) -> Receipt:
        """Record a console action before its result is shown; raises if it cannot be.
        ``also`` writes the action's own rows with the entry (``append_with``)."""
        facts = Facts(action, self.gw.active.current.version, "", "", "", "permit", review=False)
        record = Record(
            facts=facts,
            subject=subject,
            body={
                "console_user": session.identity.subject,
                "roles": sorted(session.identity.roles),
                **body,
            },
        )
        if also is not None:
            return await asyncio.to_thread(append_with, self.gw.ledger, self.gw.db, record, also)
        return await asyncio.to_thread(self.gw.ledger.append, record)


class ConsoleRefusal(Exception):
    """Ends a console request with a page (or a redirect to sign in)."""

    def __init__(self, kind: Literal["signin", "forbidden", "csrf", "not_found"]) -> None:
        super().__init__(kind)
        self.kind = kind


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


ConsoleDep = Annotated[Console, Depends(console_of)]


async def optional_session(request: Request, console: ConsoleDep) -> ConsoleSession | None:
    token = console.token(request)
    if not token:
        return None
    return await asyncio.to_thread(console.sessions.get, token)


async def signed_in(
    session: Annotated[ConsoleSession | None, Depends(optional_session)],
) -> ConsoleSession:
    if session is None:
        raise ConsoleRefusal("signin")
    return session


def role(needed: Role) -> Callable[..., Any]:
    async def check(session: Annotated[ConsoleSession, Depends(signed_in)]) -> ConsoleSession:
        if needed not in session.identity.roles:
            raise ConsoleRefusal("forbidden")
        return session

    return check


async def csrf_checked(
    request: Request,
    session: Annotated[ConsoleSession, Depends(signed_in)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> ConsoleSession:
    """Every state-changing or revealing form: the session's token, and an Origin (where the
    browser sends one) that is the console's own."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if not session.csrf_ok(csrf) or (origin is not None and origin != own):
        raise ConsoleRefusal("csrf")
    return session


Session = Annotated[ConsoleSession, Depends(signed_in)]
Officer = Annotated[ConsoleSession, Depends(role("privacy_officer"))]
Auditor = Annotated[ConsoleSession, Depends(role("auditor"))]
Posted = Annotated[ConsoleSession, Depends(csrf_checked)]


async def refusal_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleRefusal)
    console = console_of(request)
    if exc.kind == "signin":
        if request.method == "GET":
            return RedirectResponse("/console/", status_code=303)
        return console.page(request, None, "error.html", {"message": "error.expired"}, 401)
    session = await optional_session(request, console)
    status, message = {
        "forbidden": (403, "error.forbidden"),
        "csrf": (403, "error.csrf"),
        "not_found": (404, "error.not_found"),
    }[exc.kind]
    return console.page(request, session, "error.html", {"message": message}, status)
