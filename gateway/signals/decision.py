"""The signals policy's answer as a plain value, and the one way to ask for it.

Every failure — no signals entrypoint, an engine error or timeout, a full policy lane, an answer
that is not a decision document — is a denial with a reason code, through the same step as
disclosures (gateway.policy.engine.ask).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.lanes import Lane
from gateway.policy.engine import MISSING, PolicyEngine, ask, recalled


@dataclass(frozen=True)
class SignalDecision:
    allow: bool
    reasons: tuple[str, ...]
    basis: str | None = None
    reveal_area: bool = False

    @classmethod
    def deny(cls, reason: str) -> SignalDecision:
        return cls(False, (reason,))


def parse(raw: Any) -> SignalDecision:
    if raw is None:
        return SignalDecision.deny("policy_undefined")
    if not isinstance(raw, dict):
        return SignalDecision.deny("malformed_decision")
    allow, reasons = raw.get("allow"), raw.get("reasons")
    basis, reveal = raw.get("basis"), raw.get("reveal_area", False)
    if (
        not isinstance(allow, bool)
        or not isinstance(reasons, list)
        or not all(isinstance(r, str) for r in reasons)
        or not (basis is None or isinstance(basis, str))
        or not isinstance(reveal, bool)
    ):
        return SignalDecision.deny("malformed_decision")
    if allow and reasons:  # an allow that gives reasons to deny is not a decision we trust
        return SignalDecision.deny("malformed_decision")
    if not allow and not reasons:
        return SignalDecision.deny("policy_undefined")
    return SignalDecision(allow, tuple(reasons), basis, reveal and allow)


async def decide_signal(
    engine: PolicyEngine,
    lane: Lane,
    policy_input: Mapping[str, Any],
    timeout: float,
    queue_timeout: float,
) -> SignalDecision:
    evaluate = getattr(engine, "evaluate_signal", None)
    if evaluate is None:
        return SignalDecision.deny("policy_undefined")
    recall = getattr(engine, "recall_signal", None)
    raw, failed = await ask(
        evaluate, recall, lane, policy_input, timeout, queue_timeout, entrypoint="signals"
    )
    return SignalDecision.deny(failed) if failed is not None else parse(raw)


def recalled_signal(engine: PolicyEngine, policy_input: Mapping[str, Any]) -> SignalDecision | None:
    """:func:`decide_signal` from the engine's memory alone, on the calling thread — None when
    nothing is remembered and the engine must be asked. Failures are denials, as there."""
    if getattr(engine, "evaluate_signal", None) is None:
        return SignalDecision.deny("policy_undefined")
    raw, failed = recalled(
        getattr(engine, "recall_signal", None), policy_input, entrypoint="signals"
    )
    if failed is not None:
        return SignalDecision.deny(failed)
    return None if raw is MISSING else parse(raw)
