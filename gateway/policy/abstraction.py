"""The open-ended members of a sharing input, replaced in the memo's key by what the policy reads
of them — so that every case shares its answers with every other case.

A sharing decision sees four members that take unboundedly many values: the case id, the
requester's OIN, the case's participants and the subject's consents. The shipped policy reads
them only through three facts: whether the requester's OIN is among the participants (and is a
string), whether the requested source is among the consents, and — the case id — not at all.
Two inputs that agree on those facts and on everything else get one answer, so
gateway/policy/memo.py keys them alike: its key space becomes space.py's finite space (plus the
field lists asked for) instead of one key per case, organisation and consent list.

That premise rests on the policy text and is **checked there**, not assumed (:func:`facts`):
every occurrence of those members' names must be one of the reading forms in :data:`_FORMS`,
each of which reads its member only through its fact, and no module may read input members
without naming them (``space.dynamic_reads``). A policy that reads them any other way gets the
exact key for that member — slower, never wrong. Behind the check stand the memo's background
re-evaluation of real inputs (ADR 0011: a difference trips its fail-closed switch) and a
property test on both engines (tests/policy/test_abstraction.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from gateway.policy.space import dynamic_reads

Fact = Literal["case_id", "participation", "consent"]
FACTS: frozenset[Fact] = frozenset(("case_id", "participation", "consent"))

# Each form as it reads with its whitespace collapsed to single spaces. A form that names a
# member reads it only through the fact: the whole rule, so its variables cannot leak.
_PARTICIPANT_RULE = (
    "participant(inp) if { some oin in inp.case.participants oin == inp.requester.oin }"
)
_FORMS: dict[Fact, tuple[str, tuple[str, ...]]] = {
    # The OIN is also read as "is it a string" (the requester check), which every input the
    # abstraction applies to satisfies; the catalogue's `participants` are organisation types.
    "participation": (
        r"\b(?:oin|participants)\b",
        (
            _PARTICIPANT_RULE,
            "is_string(inp.requester.oin)",
            "some org_type in cat.purposes[inp.case.purpose].participants",
        ),
    ),
    "consent": (
        r"\bconsents\b",
        ("consented(inp) if { some source in inp.subject.consents source == inp.request.source }",),
    ),
    # `id` is a common word: here a basis's id in the catalogue and a comprehension variable.
    "case_id": (
        r"\bid\b",
        (
            '"bases": {s: id | some s in ["gewoon", "bijzonder", "strafrechtelijk"] '
            "id := basis_for(inp, cat, s) }",
            "ids := [b.id | some b in cat.purposes[inp.case.purpose].bases",
        ),
    ),
}
_COMMENT_LINE = re.compile(r"^\s*#.*$", re.MULTILINE)
_SPACE = re.compile(r"\s+")


def facts(modules: Mapping[str, str]) -> frozenset[Fact]:
    """The facts through which, and only through which, the policy reads their members."""
    if dynamic_reads(modules):
        return frozenset()
    # Whole comment lines only: a `#` inside a string must not hide the rest of its line.
    text = _SPACE.sub(" ", _COMMENT_LINE.sub("", "\n".join(modules.values())))
    found: set[Fact] = set()
    for fact, (names, forms) in _FORMS.items():
        rest = text
        for form in forms:
            rest = rest.replace(form, " ")
        if not re.search(names, rest):
            found.add(fact)
    return frozenset(found)


def shared(parts: Mapping[str, Any], use: frozenset[Fact]) -> tuple[dict[str, Any], bool] | None:
    """``parts`` (an input without its ``request``) with the members of ``use`` taken out, and
    whether the requester takes part in the case; None where a member is not of the shape the
    gateway builds (such an input keeps its exact key)."""
    out = dict(parts)
    participates = False
    if use & {"participation", "case_id"}:
        case = parts.get("case")
        if not isinstance(case, dict):
            return None
        case = out["case"] = dict(case)
        if "case_id" in use:
            case.pop("id", None)
        if "participation" in use:
            requester = parts.get("requester")
            if not isinstance(requester, dict):
                return None
            oin, participants = requester.get("oin"), case.pop("participants", None)
            if not isinstance(oin, str) or not _strings(participants):
                return None
            out["requester"] = {k: v for k, v in requester.items() if k != "oin"}
            participates = oin in participants
    if "consent" in use:
        subject = parts.get("subject")
        if not isinstance(subject, dict) or not _strings(subject.get("consents")):
            return None
        out["subject"] = {k: v for k, v in subject.items() if k != "consents"}
    return out, participates


def consented(parts: Mapping[str, Any], request: Any, use: frozenset[Fact]) -> bool | None:
    """Whether the requested source is among the consents (False when consents are not taken
    out of the key); None where the request is not of the shape the gateway builds."""
    if "consent" not in use:
        return False
    source = request.get("source") if isinstance(request, dict) else None
    if not isinstance(source, str):
        return None
    return source in parts["subject"]["consents"]


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
