"""The signals policy's answer as a plain value, and the one way to ask for it.

Every failure — no signals entrypoint, an engine error or timeout, a full policy lane, an answer
that is not a decision document — is a denial with a reason code, exactly as for disclosures
(gateway.policy.engine.decide).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from gateway.errors import EngineError
from gateway.lanes import Lane, LaneFull
from gateway.policy.engine import MISSING, PolicyEngine

log = structlog.get_logger(__name__)


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
    try:
        raw = recall(policy_input) if recall is not None else MISSING
        if raw is MISSING:
            raw = await lane.run(
                evaluate, policy_input, timeout=timeout, queue_timeout=queue_timeout
            )
    except TimeoutError:
        log.warning("signals.policy_timeout", timeout_s=timeout)
        return SignalDecision.deny("engine_timeout")
    except LaneFull:
        log.warning("signals.policy_busy")
        return SignalDecision.deny("engine_busy")
    except EngineError as exc:
        log.error("signals.engine_error", error=str(exc)[:200])
        return SignalDecision.deny("engine_error")
    except Exception as exc:  # an engine bug is a denial too
        log.error("signals.engine_crashed", error=exc.__class__.__name__)
        return SignalDecision.deny("engine_error")
    return parse(raw)
