"""OpenAPI metadata shared by the routers: which problems an operation can answer with, and the
headers every response carries (NL API Design Rules: /core/version-header)."""

from __future__ import annotations

from typing import Any

HEADERS: dict[str, Any] = {
    "API-Version": {
        "description": "The full version of this API (equals info.version).",
        "schema": {"type": "string", "example": "1.0.0"},
    },
}

_DESCRIPTIONS = {
    400: "Invalid request: every problem listed in `errors`",
    401: "Missing, expired or invalid token or client credentials",
    403: "The verified requester may not do this",
    404: "No such case, or one the requester's organisation does not take part in",
    405: "Method not allowed (see the Allow header)",
    408: "The request body did not arrive within its deadline (30 s)",
    409: "The case is closed, or the change conflicts with its state",
    413: "The request body is larger than the documented limit",
    429: "Too many failed attempts (see the Retry-After header)",
    500: "Unexpected failure; nothing was released",
    503: "Ledger, policy engine or key unavailable: nothing was released",
}


def problems(
    *statuses: int, model: type[Any] | None = None, **described: str
) -> dict[int | str, Any]:
    """``responses=`` for an operation: each status as problem+json (RFC 9457)."""
    from gateway.api.schemas import ProblemOut

    out: dict[int | str, Any] = {}
    for status in statuses:
        # NOTE: FastAPI files a model under application/json; gateway.api.openapi moves every
        # error response to application/problem+json, which is what the API sends.
        out[status] = {
            "description": described.get(f"s{status}", _DESCRIPTIONS[status]),
            "model": model if (model and status == 403) else ProblemOut,
        }
    return out


COMMON = (400, 408, 413, 500)
AUTHENTICATED = (*COMMON, 401)
