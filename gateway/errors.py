"""The gateway's one error hierarchy.

Every failure the gateway reports is a :class:`GatewayError`. The HTTP layer maps it once to an
RFC 9457 ``application/problem+json`` document (:mod:`gateway.api.problems`); the CLI maps it once
to an exit code (:mod:`gateway.cli`). Messages never carry personal data: they name fields,
sources and codes, never values.

    GatewayError
    ├── InvalidRequest          400  every validation problem, listed
    ├── AuthenticationFailed    401  missing, expired or forged token; bad client credentials
    ├── Forbidden               403  the verified requester may not do this
    │   └── DisclosureDenied    403  the policy denied every source (carries the ledger receipt)
    ├── NotFound                404
    ├── Conflict                409
    ├── Unavailable             503  fail-closed: nothing released
    │   ├── LedgerUnavailable        the ledger could not append, so no data may leave
    │   ├── PolicyUnavailable        the engine could not be loaded or consulted at all
    │   └── KeyUnavailable           a key is missing, unreadable or the passphrase is wrong
    ├── ConfigurationError      500  the instance is set up wrongly (CLI: exit 78)
    └── LedgerCorrupted              ``gateway ledger verify`` found a bad entry (CLI: exit 1)

Connector failures are *not* in this tree: they are reported per source inside a disclosure
(:class:`connectors.interface.ConnectorError`) and never fail or widen a whole response.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Problem:
    """One validation problem: where (a JSON pointer-like path) and what, never the value."""

    location: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"location": self.location, "message": self.message}


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"
    exit_code: ClassVar[int] = 1

    def __init__(self, detail: str, *, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = dict(extra or {})


class InvalidRequest(GatewayError):
    status = 400
    slug = "invalid-request"
    title = "The request is not valid"
    exit_code = 2

    def __init__(self, problems: Sequence[Problem], detail: str | None = None) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        super().__init__(
            detail or f"{n} problem{'s' if n != 1 else ''} found in the request",
            extra={"errors": [p.as_dict() for p in self.problems]},
        )


class AuthenticationFailed(GatewayError):
    status = 401
    slug = "unauthenticated"
    title = "Authentication failed"
    exit_code = 77


class Forbidden(GatewayError):
    status = 403
    slug = "forbidden"
    title = "Not allowed"
    exit_code = 77


class DisclosureDenied(Forbidden):
    slug = "disclosure-denied"
    title = "The policy denied this disclosure"


class NotFound(GatewayError):
    status = 404
    slug = "not-found"
    title = "Not found"
    exit_code = 66


class Conflict(GatewayError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class Unavailable(GatewayError):
    status = 503
    slug = "unavailable"
    title = "Temporarily unavailable; nothing was released"
    exit_code = 69


class LedgerUnavailable(Unavailable):
    slug = "ledger-unavailable"
    title = "The access ledger is unavailable; nothing was released"


class PolicyUnavailable(Unavailable):
    slug = "policy-unavailable"
    title = "The policy engine is unavailable; nothing was released"


class KeyUnavailable(Unavailable):
    slug = "key-unavailable"
    title = "A key is missing or cannot be opened; nothing was released"


class ConfigurationError(GatewayError):
    slug = "configuration"
    title = "The gateway is not configured correctly"
    exit_code = 78


class LedgerCorrupted(GatewayError):
    slug = "ledger-corrupted"
    title = "The access ledger failed verification"
    exit_code = 1

    def __init__(self, detail: str, *, sequence: int | None) -> None:
        super().__init__(detail, extra={"sequence": sequence})
        self.sequence = sequence
