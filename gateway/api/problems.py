"""The one place where errors become RFC 9457 ``application/problem+json`` responses.

Validation problems are 400 (not FastAPI's default 422), list *every* problem by location and
message, and never echo the submitted value — nor a member name the client chose: a location
keeps only names the API itself defines (see :class:`Vocabulary`); any other becomes ``*``.
An unexpected exception is a bare 500 problem: no stack trace, no exception text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import GatewayError, InvalidRequest, Problem

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://gateway.zorg-veiligheid.example/problems/"
log = structlog.get_logger(__name__)

IDENTITY_MEMBERS = frozenset({"oin", "org_type", "organisation", "role", "user", "client_id"})
"""Members a client might try to send to claim an identity (DOMAIN rule 2). Named when refused,
so a developer sees at once why; all of them come only from the token."""

_SLUGS = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}


@dataclass(frozen=True)
class Vocabulary:
    """The member names a location may repeat: the API's own, plus catalogue source ids."""

    names: frozenset[str]

    @classmethod
    def of(cls, models: Iterable[type[Any]], extra: Iterable[str] = ()) -> Vocabulary:
        names = {name for m in models for name in m.model_fields}
        return cls(frozenset(names | IDENTITY_MEMBERS | set(extra)))

    def location(self, loc: Iterable[Any]) -> str:
        parts = []
        for p in loc:
            if p in ("body", "query", "path", "header"):
                continue
            if isinstance(p, int) or p in self.names:
                parts.append(str(p))
            else:
                parts.append("*")  # NOTE: a client-chosen key may itself be personal data
        return "/" + "/".join(parts)


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    body.update(extra or {})
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {})
    )


def gateway_error_response(exc: GatewayError) -> JSONResponse:
    headers = dict(exc.headers)
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="gateway"')
    return problem_response(exc.status, exc.slug, exc.title, exc.detail, exc.extra, headers)


def validation_problems(
    errors: Iterable[Mapping[str, Any]], vocabulary: Vocabulary
) -> list[Problem]:
    problems = []
    for err in errors:
        if err.get("type") == "json_invalid":
            problems.append(Problem("/", "the body is not valid JSON"))
            continue
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(Problem(vocabulary.location(err.get("loc", ())), message))
    return problems


def _methods_for(request: Request) -> list[str]:
    """Every method of every route whose path matches (``app.state.allow``: (regex, methods)
    pairs that gateway.api.app records when it adds the routers)."""
    methods: set[str] = set()
    for pattern, allowed in getattr(request.app.state, "allow", ()):
        if pattern.match(request.url.path):
            methods |= allowed
    return sorted(methods - {"HEAD"})


def install(app: FastAPI, vocabulary: Vocabulary) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        return gateway_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return gateway_error_response(InvalidRequest(validation_problems(exc.errors(), vocabulary)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's or Starlette's "error parsing the body" (the guard catches the known
            # causes of a JSON body first; this is e.g. a form with too many fields).
            return gateway_error_response(
                InvalidRequest([Problem("/", "the body could not be read")])
            )
        slug = _SLUGS.get(exc.status_code, "http-error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route that matched the path only;
            # RFC 9110 §15.5.6 wants every method the resource supports.
            headers["Allow"] = ", ".join(_methods_for(request))
        return problem_response(
            exc.status_code, slug, str(exc.detail), str(exc.detail), headers=headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # NOTE: the exception text may hold data; log only its class.
        log.error("http.unexpected_error", error=exc.__class__.__name__, path=request.url.path)
        return problem_response(
            500,
            "internal",
            "Internal error",
            "The gateway failed unexpectedly; nothing was released.",
        )
