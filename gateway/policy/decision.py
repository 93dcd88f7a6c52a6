"""The decision document: what the policy returns for one (request, source), as plain values.

Parsing is strict: anything that is not exactly the documented shape (docs/decision.md) is a
:class:`MalformedDecision`, which the caller turns into a denial. A decision is data; denial is
the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from gateway.errors import MalformedDecision
from gateway.typing import TRANSFORM_NAMES, FieldName, SourceId, Transform


@dataclass(frozen=True)
class Grant:
    """One field the policy allows: how it may be released and on which legal basis."""

    transform: Transform
    basis: str
    break_glass: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"transform": self.transform, "basis": self.basis, "break_glass": self.break_glass}


@dataclass(frozen=True)
class Decision:
    source: SourceId
    allow: bool
    fields: Mapping[FieldName, Grant] = field(default_factory=dict)
    withheld: Mapping[FieldName, str] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    obligations: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def deny(cls, source: SourceId, reason: str) -> Decision:
        return cls(source=source, allow=False, reasons=(reason,))

    @property
    def needs_review(self) -> bool:
        return any(o.get("type") == "review" for o in self.obligations)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "allow": self.allow,
            "fields": {k: g.as_dict() for k, g in sorted(self.fields.items())},
            "withheld": dict(sorted(self.withheld.items())),
            "reasons": list(self.reasons),
            "obligations": [dict(o) for o in self.obligations],
        }

    @cached_property
    def ledger_json(self) -> orjson.Fragment:
        """:meth:`as_dict` as JSON with sorted keys, made once per decision object, for the
        ledger body (which orjson writes with this embedded as it is): a remembered decision
        is one object shared by every request that gets it (gateway/policy/engine.py)."""
        return orjson.Fragment(orjson.dumps(self.as_dict(), option=orjson.OPT_SORT_KEYS))


_GRANTS: dict[tuple[str, str, bool], Grant] = {}
_GRANTS_KEPT = 4096


def _grant(transform: Transform, basis: str, break_glass: bool) -> Grant:
    """The one :class:`Grant` for these values (a grant is immutable, so one object serves
    every decision that names it). A family overview parses some fifty grants, and a frozen
    dataclass is slow to build; the distinct grants are few (transforms × legal bases)."""
    key = (transform, basis, break_glass)
    found = _GRANTS.get(key)
    if found is None:
        found = Grant(transform=transform, basis=basis, break_glass=break_glass)
        if len(_GRANTS) < _GRANTS_KEPT:  # bounded: bases are the policy's text, not input
            _GRANTS[key] = found
    return found


def _str_list(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedDecision(f"{what} must be a list of strings")
    return tuple(value)


def parse_decision(raw: Any, source: SourceId) -> Decision:
    """Validate an engine's raw JSON value into a :class:`Decision` for ``source``."""
    if not isinstance(raw, dict):
        raise MalformedDecision("decision is not an object")
    allow = raw.get("allow")
    if not isinstance(allow, bool):
        raise MalformedDecision("decision.allow must be a boolean")
    if raw.get("source") != source:
        # NOTE: a decision about another source must never authorise this one.
        raise MalformedDecision("decision.source does not match the requested source")
    fields_raw = raw.get("fields")
    withheld_raw = raw.get("withheld")
    obligations_raw = raw.get("obligations")
    if not isinstance(fields_raw, dict) or not isinstance(withheld_raw, dict):
        raise MalformedDecision("decision.fields and decision.withheld must be objects")
    if not isinstance(obligations_raw, list) or not all(
        isinstance(o, dict) for o in obligations_raw
    ):
        raise MalformedDecision("decision.obligations must be a list of objects")
    grants: dict[FieldName, Grant] = {}
    for name, grant in fields_raw.items():
        if not isinstance(grant, dict):
            raise MalformedDecision("each granted field must be an object")
        transform, basis = grant.get("transform"), grant.get("basis")
        if transform not in TRANSFORM_NAMES:
            raise MalformedDecision("a granted field has an unknown transform")
        if not isinstance(basis, str) or not basis:
            raise MalformedDecision("a granted field has no legal basis")
        grants[FieldName(name)] = _grant(transform, basis, grant.get("break_glass") is True)
    withheld: dict[FieldName, str] = {}
    for name, reason in withheld_raw.items():
        if not isinstance(reason, str):
            raise MalformedDecision("each withheld field needs a reason code")
        withheld[FieldName(name)] = reason
    if allow != bool(grants):
        raise MalformedDecision("decision.allow disagrees with its granted fields")
    return Decision(
        source=source,
        allow=allow,
        fields=grants,
        withheld=withheld,
        reasons=_str_list(raw.get("reasons"), "decision.reasons"),
        obligations=tuple(obligations_raw),
    )
