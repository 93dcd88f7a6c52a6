"""Two thin ASGI layers around every request.

:class:`Conventions` (outermost) adds what every response carries: ``API-Version``, a W3C
``traceparent``, ``Cache-Control: no-store``, and CORS on the public documents.

:class:`Guard` bounds every input before any work is done on it:

* a query string is refused (400) — a BSN in a URL must be refused, never silently ignored,
  and the query is not logged either — except the paging parameters ``limit`` and ``cursor``
  on the paged lists (:data:`PAGED`), at most ``MAX_QUERY`` bytes, checked there;
* a body over ``max_body`` bytes is refused (413) from its ``Content-Length`` or while it is
  read, so an oversized body is never buffered whole; one not in within ``body_seconds`` is
  408 (the head has its deadline in gateway/api/deadlines.py);
* a JSON body must be valid UTF-8 and nested at most ``MAX_DEPTH`` deep (400 with the problem
  listed), checked in one linear pass before the JSON parser's recursion sees it, and no object
  in it may hold a member name twice (RFC 7493 §2.3).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog

from gateway.api.problems import gateway_error_response
from gateway.errors import GatewayError, InvalidRequest, PayloadTooLarge, Problem, RequestTimeout
from gateway.randomness import random_hex

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_DEPTH = 16
PUBLIC_PATHS = frozenset({"/v1/openapi.json"})
_HEX = frozenset("0123456789abcdef")
_NINE_DIGITS = re.compile(r"[0-9]{9}")


def fresh_id(nbytes: int, draw: Callable[[int], str] = random_hex) -> str:
    """A random hex id (a trace's or a span's) with no nine digits in a row. The log net
    (gateway/logging.py) refuses any nine-digit run that passes the elfproef, since it could be
    a BSN; an id it refused no longer ties the request's log lines to its answer and its ledger
    entry. Measured: 5 % of 16-hex-digit and 14 % of 32-hex-digit ids hold such a run, about one
    in eleven of those passes the elfproef. (An id a client sends is kept as sent, and refused in
    the log if it must be.)"""
    while True:
        value = draw(nbytes)
        if _NINE_DIGITS.search(value) is None:
            return value


def trace_of(traceparent: str | None) -> tuple[str, str | None]:
    """(trace id, caller's span id) from a W3C ``traceparent``
    (00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>); a fresh trace if it is absent or
    malformed."""
    if traceparent:
        parts = traceparent.split("-")
        trace = parts[1] if len(parts) == 4 else ""
        if len(trace) == 32 and set(trace) <= _HEX and trace != "0" * 32:
            parent = parts[2]
            valid = len(parent) == 16 and set(parent) <= _HEX and parent != "0" * 16
            return trace, parent if valid else None
    return fresh_id(16), None


def trace_id_of(traceparent: str | None) -> str:
    return trace_of(traceparent)[0]


class Conventions:
    def __init__(self, app: ASGIApp, api_version: str) -> None:
        self.app = app
        self.api_version = api_version.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        traceparent = headers.get(b"traceparent", b"").decode("latin-1")
        trace_id, parent_span_id = trace_of(traceparent)
        span_id = fresh_id(8)  # this request's span: answered, and ledgered
        public = scope["path"] in PUBLIC_PATHS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = list(message.get("headers", []))
                out += [
                    (b"api-version", self.api_version),
                    (b"traceparent", f"00-{trace_id}-{span_id}-01".encode()),
                    (b"cache-control", b"no-store"),
                ]
                if public:
                    out.append((b"access-control-allow-origin", b"*"))
                message["headers"] = out
            await send(message)

        structlog.contextvars.bind_contextvars(
            trace_id=trace_id, span_id=span_id, parent_span_id=parent_span_id
        )
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            structlog.contextvars.unbind_contextvars("trace_id", "span_id", "parent_span_id")


PAGED = frozenset({"/v1/signals", "/v1/signals/matches"})
"""The paged lists: the only paths that take a query string (``limit``, ``cursor``)."""
PAGING = frozenset({b"limit", b"cursor"})
MAX_QUERY = 600


CONSOLE_PATHS = ("/console/", "/local-idp/")
"""Pages for people (gateway/console): their forms' filters and the sign-in protocol travel in
the query, bounded here and checked by each page against its own list. A BSN never does: the
console takes a person only in a POSTed form."""


def _query_allowed(scope: Scope) -> bool:
    if scope.get("path", "").startswith(CONSOLE_PATHS):
        return len(scope["query_string"]) <= MAX_QUERY * 4
    return _paging_only(scope)


def _paging_only(scope: Scope) -> bool:
    query: bytes = scope["query_string"]
    if scope.get("path") not in PAGED or scope["method"] != "GET" or len(query) > MAX_QUERY:
        return False
    names = [pair.split(b"=", 1)[0] for pair in query.split(b"&")]
    return all(name in PAGING for name in names) and len(names) == len(set(names))


UPLOADS = {"/console/policy/replay": 4 * 1024 * 1024 + 64 * 1024}
"""Forms that carry a file larger than ``max_body``: a candidate policy bundle (at most
``gateway.policy.signing.MAX_BUNDLE_BYTES``) with the rest of its form."""


class Guard:
    def __init__(self, app: ASGIApp, max_body: int, body_seconds: float) -> None:
        self.app = app
        self.max_body = max_body
        self.body_seconds = body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            if scope.get("query_string") and not _query_allowed(scope):
                raise InvalidRequest(
                    [
                        Problem(
                            "?",
                            "this API takes no query parameters (only limit and cursor on "
                            "paged lists); send data in the body",
                        )
                    ]
                )
            if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
                await self.app(scope, receive, send)
                return
            body = await self._read(scope, receive)
            if _is_json(scope):
                _check_json(body)
        except GatewayError as exc:
            await gateway_error_response(exc)(scope, receive, send)
            return

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        limit = max(self.max_body, UPLOADS.get(scope.get("path", ""), 0))
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise InvalidRequest([Problem("/", "Content-Length is not a number")]) from None
                if declared > limit:
                    raise PayloadTooLarge(limit)
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_seconds):  # a slow sender keeps nothing long
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        break
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLarge(limit)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise RequestTimeout(self.body_seconds) from None
        return b"".join(chunks)


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return bool(media == b"application/json" or media.endswith(b"+json"))
    return False


def _check_json(body: bytes) -> None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest([Problem("/", "the body is not valid UTF-8")]) from None
    _check_depth(text)
    duplicates = _duplicate_members(text)
    if duplicates:
        # NOTE: the member's name is not echoed: a client chooses it, and it may be a BSN.
        raise InvalidRequest(
            [Problem("/", "an object has a member name more than once (RFC 7493 §2.3)")]
            * duplicates
        )


def _check_depth(text: str) -> None:
    # Cheap exit for the usual shallow body; the scan below is linear in the body size.
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise InvalidRequest(
                    [Problem("/", f"the body is nested more than {MAX_DEPTH} deep")]
                )
        elif ch in "]}":
            depth -= 1


def _duplicate_members(text: str) -> int:
    """How many member names repeat within their object. A parser keeps one of them (Python's
    the last), another component on the way may keep the other: one body, two meanings to
    whoever logs, checks or forwards it. Not JSON at all: 0, the app's parser reports it."""
    repeats = 0

    def members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeats
        doc = dict(pairs)
        repeats += len(pairs) - len(doc)
        return doc

    try:
        json.loads(text, object_pairs_hook=members)
    except ValueError:
        return 0
    return repeats
