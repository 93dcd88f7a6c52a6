"""The policy engine interface: one method, plain values in, a :class:`Decision` out.

An engine returns the raw decision document or raises :class:`EngineError`; :func:`decide`
wraps any engine so that *every* failure — an exception, a timeout, a malformed or missing
result — becomes a denial with a reason code. Nothing above this module ever sees an engine
error as anything but "deny".
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

import structlog

from gateway.policy.decision import Decision, MalformedDecision, parse_decision
from gateway.typing import SourceId

log = structlog.get_logger(__name__)


class EngineError(Exception):
    """The engine could not produce a decision (compile error, crash, bad transport)."""


class PolicyEngine(Protocol):
    """Evaluates ``data.sharing.decision`` for one input document."""

    @property
    def version(self) -> str:
        """Hash of the policy set this engine evaluates; recorded with every decision."""
        ...

    def evaluate(self, policy_input: Mapping[str, Any]) -> Any:
        """Return the raw decision value (``None`` if undefined) or raise :class:`EngineError`."""
        ...


async def decide(
    engine: PolicyEngine, policy_input: Mapping[str, Any], source: SourceId, timeout: float
) -> Decision:
    """Evaluate and validate; any failure is a denial (fail closed)."""
    try:
        raw = await asyncio.wait_for(asyncio.to_thread(engine.evaluate, policy_input), timeout)
    except TimeoutError:
        log.warning("policy.timeout", source=source, timeout_s=timeout)
        return Decision.deny(source, "engine_timeout")
    except EngineError as exc:
        log.error("policy.engine_error", source=source, error=str(exc)[:200])
        return Decision.deny(source, "engine_error")
    except Exception as exc:  # an engine bug is a denial too, never a release
        log.error("policy.engine_crashed", source=source, error=exc.__class__.__name__)
        return Decision.deny(source, "engine_error")
    if raw is None:
        return Decision.deny(source, "policy_undefined")
    try:
        return parse_decision(raw, source)
    except MalformedDecision as exc:
        log.error("policy.malformed_decision", source=source, error=str(exc))
        return Decision.deny(source, "malformed_decision")
