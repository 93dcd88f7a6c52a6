"""The one place where errors become RFC 9457 ``application/problem+json`` responses.

Validation problems are 400 (not FastAPI's default 422), list *every* problem by location and
message, and never echo the submitted value — a rejected BSN must not come back in a response.
An unexpected exception is a bare 500 problem: no stack trace, no exception text.
"""

from __future__ import annotations

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


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def gateway_error_response(exc: GatewayError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="gateway"'} if exc.status == 401 else None
    return problem_response(exc.status, exc.slug, exc.title, exc.detail, exc.extra, headers)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return "/" + "/".join(parts)


def validation_problems(errors: list[dict[str, Any]]) -> list[Problem]:
    problems = []
    for err in errors:
        message = str(err.get("msg", "invalid"))
        # Pydantic prefixes custom validator messages; keep ours readable.
        message = message.removeprefix("Value error, ")
        problems.append(Problem(_location(tuple(err.get("loc", ()))), message))
    return problems


def install(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        return gateway_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return gateway_error_response(InvalidRequest(validation_problems(list(exc.errors()))))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem_response(exc.status_code, slug, str(exc.detail), str(exc.detail))

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
