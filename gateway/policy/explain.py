"""A hypothetical request through the policy in force: its decision and the rule path behind
each field's outcome (``gateway policy explain``, ``POST /v1/policy/dry-run``). Nothing is
fetched and no person is involved: the input names attributes, not a BSN."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.policy.snapshot import PolicySnapshot


def dry_run(snapshot: PolicySnapshot, policy_input: Mapping[str, Any]) -> dict[str, Any]:
    explain = getattr(snapshot.engine, "explain", None)
    return {
        "policy_version": snapshot.version,
        "decision": snapshot.engine.evaluate(policy_input),
        "explanation": explain(policy_input) if explain is not None else None,
    }


def as_text(result: Mapping[str, Any]) -> str:
    decision = result.get("decision") or {}
    lines = [f"policy   {result['policy_version']}"]
    lines.append(f"allow    {decision.get('allow')}   reasons: {decision.get('reasons')}")
    explanation = result.get("explanation") or {}
    failed = [c["check"] for c in explanation.get("request_checks", []) if c["result"] == "failed"]
    lines.append("request  " + ("failed: " + ", ".join(failed) if failed else "all checks passed"))
    released = decision.get("fields") or {}
    withheld = decision.get("withheld") or {}
    for name, steps in sorted((explanation.get("fields") or {}).items()):
        if name in released:
            g = released[name]
            glass = " (break-glass, reviewed)" if g.get("break_glass") else ""
            outcome = f"RELEASED as {g.get('transform')} on {g.get('basis')}{glass}"
        else:
            outcome = f"withheld: {withheld.get(name, '?')}"
        lines.append(f"\n{name}: {outcome}")
        lines += [f"  {s['step']:12} {s['result']}" for s in steps]
    return "\n".join(lines)
