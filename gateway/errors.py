"""The gateway's one error hierarchy.

Every failure the gateway reports is a :class:`GatewayError`. The HTTP layer maps it once to an
RFC 9457 ``application/problem+json`` document (:mod:`gateway.api.problems`); the CLI maps it once
to an exit code (:func:`gateway.cli.run`). Each class has its own exit code (docs/cli.md);
messages never carry personal data: they name fields, sources and codes, never values.

    GatewayError                    HTTP  exit
    ├── InvalidRequest               400   65  every validation problem, listed
    │   ├── PayloadTooLarge          413   66  the body exceeds the documented limit
    │   └── RequestTimeout           408   89  the body did not arrive within its deadline
    ├── AuthenticationFailed         401   67  missing, expired or forged token; bad credentials
    │   └── RateLimited              429   68  too many failed attempts; carries Retry-After
    ├── Forbidden                    403   69  the verified requester may not do this
    │   └── DisclosureDenied         403   80  the policy released nothing (carries the receipt)
    ├── NotFound                     404   71
    ├── Conflict                     409   72
    ├── Unavailable                  503   73  fail-closed: nothing released
    │   ├── LedgerUnavailable        503   74  the ledger's database cannot be reached or written
    │   ├── PolicyUnavailable        503   75  the engine could not be loaded or consulted at all
    │   ├── KeyUnavailable           503   76  a key is missing, unreadable, damaged or locked
    │   └── RegistryTampered         503   88  a client or case row fails its seal (ADR 0017)
    ├── ConfigurationError           500   78  the instance is set up wrongly
    ├── LedgerCorrupted              500    1  `gateway ledger verify` found a bad entry
    ├── BodyShredded                 410   85  a body whose period key was destroyed (retention)
    └── DecisionFailure              —     79  never reaches a client as such: each becomes a
        ├── EngineError              —     81  per-source denial (`engine_error`)
        ├── MalformedDecision        —     82  per-source denial (`malformed_decision`)
        ├── TransformError           —     83  a withheld field (`transform_failed`)
        └── ConnectorError           —     84  a source in error (re-exported by connectors)

An unexpected exception (a bug) is HTTP 500 and exit 70, with no text from the exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

UNEXPECTED_EXIT = 70
"""Exit code of a bug: an exception outside this tree."""


@dataclass(frozen=True)
class Problem:
    """One validation problem: where (a JSON-pointer-like path) and what, never the value."""

    location: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"location": self.location, "message": self.message}


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"
    exit_code: ClassVar[int] = 64

    def __init__(
        self,
        detail: str,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = dict(extra or {})
        self.headers: dict[str, str] = dict(headers or {})


class InvalidRequest(GatewayError):
    status = 400
    slug = "invalid-request"
    title = "The request is not valid"
    exit_code = 65

    def __init__(self, problems: Sequence[Problem], detail: str | None = None) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        super().__init__(
            detail or f"{n} problem{'s' if n != 1 else ''} found in the request",
            extra={"errors": [p.as_dict() for p in self.problems]},
        )


class PayloadTooLarge(InvalidRequest):
    status = 413
    slug = "payload-too-large"
    title = "The request body is too large"
    exit_code = 66

    def __init__(self, limit: int) -> None:
        super().__init__(
            [Problem("/", f"the body may be at most {limit} bytes")],
            detail=f"request bodies are limited to {limit} bytes",
        )


class RequestTimeout(InvalidRequest):
    """A request body that did not arrive within its deadline (gateway/api/deadlines.py)."""

    status = 408
    slug = "request-timeout"
    title = "The request body did not arrive in time"
    exit_code = 89

    def __init__(self, seconds: float) -> None:
        super().__init__([Problem("/", f"the body must arrive within {seconds:g} s")])


class AuthenticationFailed(GatewayError):
    status = 401
    slug = "unauthenticated"
    title = "Authentication failed"
    exit_code = 67


class RateLimited(AuthenticationFailed):
    status = 429
    slug = "too-many-requests"
    title = "Too many failed attempts"
    exit_code = 68

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed attempts; try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


class Forbidden(GatewayError):
    status = 403
    slug = "forbidden"
    title = "Not allowed"
    exit_code = 69


class DisclosureDenied(Forbidden):
    slug = "disclosure-denied"
    title = "The policy denied this disclosure"
    exit_code = 80


class SignalRefused(Forbidden):
    """The policy does not let this organisation and role signal on this area. The reasons
    are about the requester's own rights, never about the person."""

    slug = "signal-refused"
    title = "The policy does not permit this signal"
    exit_code = 87

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__(
            "the policy does not let this organisation and role signal on this area",
            extra={"reasons": list(reasons)},
        )


class NotFound(GatewayError):
    status = 404
    slug = "not-found"
    title = "Not found"
    exit_code = 71


class Conflict(GatewayError):
    status = 409
    slug = "conflict"
    title = "Conflict"
    exit_code = 72


class Unavailable(GatewayError):
    status = 503
    slug = "unavailable"
    title = "Temporarily unavailable; nothing was released"
    exit_code = 73


class LedgerUnavailable(Unavailable):
    slug = "ledger-unavailable"
    title = "The access ledger is unavailable; nothing was released"
    exit_code = 74


class PolicySuperseded(LedgerUnavailable):
    """A decision made under a policy version that another worker (or a reload) superseded
    before the decision could be recorded: it is not recorded and nothing is released."""

    slug = "policy-superseded"
    title = "The policy changed while the request was decided; nothing was released, ask again"
    exit_code = 86

    def __init__(self, made_under: str, in_force: str) -> None:
        super().__init__(
            "the decision was made under a policy version that is no longer in force",
            headers={"Retry-After": "1"},
        )
        self.made_under = made_under
        self.in_force = in_force


class PolicyUnavailable(Unavailable):
    slug = "policy-unavailable"
    title = "The policy engine is unavailable; nothing was released"
    exit_code = 75


class KeyUnavailable(Unavailable):
    slug = "key-unavailable"
    title = "A key is missing or cannot be opened; nothing was released"
    exit_code = 76


class RegistryTampered(Unavailable):
    """A registry row that decides who is given what does not match its seal: changed, added
    or unsealed behind the gateway's back (gateway/rowseals.py). Nothing is released on it."""

    slug = "registry-integrity"
    title = "The gateway's registry failed its integrity check; nothing was released"
    exit_code = 88


class ConfigurationError(GatewayError):
    slug = "configuration"
    title = "The gateway is not configured correctly"
    exit_code = 78


class BundleRejected(ConfigurationError):
    """A policy bundle that is not signed by a trusted key, or not what its manifest says."""

    slug = "policy-bundle-rejected"
    title = "The policy bundle was refused"
    exit_code = 77


class LedgerCorrupted(GatewayError):
    slug = "ledger-corrupted"
    title = "The access ledger failed verification"
    exit_code = 1

    def __init__(self, detail: str, *, sequence: int | None) -> None:
        super().__init__(detail, extra={"sequence": sequence})
        self.sequence = sequence


class BodyShredded(GatewayError):
    """A ledger body whose period key was destroyed under the retention policy: unreadable by
    design, not by tampering (its hash and signature still verify)."""

    status = 410
    slug = "shredded"
    title = "Destroyed under the retention policy"
    exit_code = 85


class DecisionFailure(GatewayError):
    """A part of one decision failed; the disclosure core turns it into a denial or a withheld
    field for that source only, so it never widens or fails a whole response."""

    slug = "decision-failure"
    exit_code = 79


class EngineError(DecisionFailure):
    """The policy engine could not produce a decision (compile error, crash, bad transport)."""

    exit_code = 81


class MalformedDecision(DecisionFailure):
    """The engine answered, but not with a decision document (docs/decision.md)."""

    exit_code = 82


class TransformError(DecisionFailure):
    """A value does not fit the transform the policy chose; the field is withheld."""

    exit_code = 83


class ConnectorError(DecisionFailure):
    """A source system could not answer. Reported per source; never widens a response."""

    exit_code = 84
