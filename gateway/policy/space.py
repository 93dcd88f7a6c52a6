"""THE finite input space of the sharing policy: one enumeration, shared by ``policy prove``
(and, later, the decision table and the sharing matrix), so the three agree by construction.

A decision depends on finitely many attributes of its input: purpose, the requester's
organisation type and role, case stage, the subject's relation and minor flag, whether the
subject consented to the requested source, urgency, justification, the source, and the
requester's *standing* (a participant of an open case with the subject linked — or not). Every
combination is a :class:`Point`; its :meth:`Point.policy_input` is a complete, valid input.

Reductions (each exhaustive, and checked where it rests on the policy text):

* **fields**: every point asks for all fields the source offers (``fields: []``). The policy
  decides each field on its own (a field's outcome never depends on which others were asked),
  so this covers every subset; the unit tests pin that a field list only narrows.
* **consents**: only whether the *requested* source is among them (``consent``); **participants
  and the requester's OIN**: only whether the requester is among them (``standing``); **case
  id**: one. Checked in the policy text by :func:`gateway.policy.abstraction.facts` (the check
  that lets the memo share answers between cases): ``policy prove`` reports a reduction the
  policy does not support as unchecked and proves nothing.
* **members the policy never names** (today: ``relation``) are fixed to one value. Checked, not
  assumed: :func:`fixed_members` looks for the member's name in every policy module and for
  constructs that read input members without naming them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from gateway.catalog import Catalog
from gateway.typing import RELATIONS, STAGES

Standing = Literal["member", "closed", "outsider", "unlinked"]
STANDINGS: tuple[Standing, ...] = ("member", "closed", "outsider", "unlinked")
URGENCIES = ("regulier", "spoed")
REQUESTER_OIN = "00000099000000000001"
OTHER_OIN = "00000099000000000002"

# Reading input members without naming them: iterating an input object (keys and values, or
# values alone), indexing one with a computed key, walk(), the object and JSON built-ins that
# take keys as data; and using a case or subject object whole (copied into an input of one's
# own making, e.g. to ask `consented` about another source) or the input under another name.
# A guard for honest edits, not a parser: the memo re-evaluates real inputs behind it.
_INPUT = r"\binp(?:ut)?"
_PART = r"(?:\.(?:requester|case|subject|request))?"
_DYNAMIC_READS = re.compile(
    "|".join(
        (
            rf"some\s+\w+\s*,\s*\w+\s+in\s+{_INPUT}\b",
            rf"\bin\s+{_INPUT}{_PART}(?![\w.\[])",
            rf"{_INPUT}{_PART}\[",
            rf"\bobject\.\w+\(\s*{_INPUT}\b",
            r"walk\(|object\.keys\(|json\.(?:marshal|filter|remove|patch)",
            r"\b\w+\.(?:case|subject)\b(?![.\w\[])",
            rf"(?::=|=)\s*{_INPUT}\b(?![.\w\[])",
        )
    )
)


def dynamic_reads(modules: Mapping[str, str]) -> bool:
    """Whether a module reads input members without naming them."""
    return any(_DYNAMIC_READS.search(text) for text in modules.values())


@dataclass(frozen=True, order=True)
class Point:
    purpose: str
    org_type: str
    role: str
    source: str
    stage: str
    minor: bool
    consent: bool
    urgency: str
    justified: bool
    standing: Standing
    relation: str = "hoofdpersoon"

    def but(self, **changes: Any) -> Point:
        return Point(**{**asdict(self), **changes})

    def policy_input(self) -> dict[str, Any]:
        participants = [OTHER_OIN] if self.standing == "outsider" else [REQUESTER_OIN, OTHER_OIN]
        closed = self.standing == "closed"
        return {
            "requester": {
                "verified": True,
                "oin": REQUESTER_OIN,
                "org_type": self.org_type,
                "role": self.role,
                "user": "prove",
            },
            "case": {
                "found": True,
                "id": "case-prove",
                "status": "closed" if closed else "open",
                "stage": "afgesloten" if closed else self.stage,
                "purpose": self.purpose,
                "participants": participants,
            },
            "subject": {
                "linked": self.standing != "unlinked",
                "relation": self.relation,
                "minor": self.minor,
                "consents": [self.source] if self.consent else [],
            },
            "request": {
                "source": self.source,
                "fields": [],
                "urgency": self.urgency,
                "justified": self.justified,
            },
        }


def unnamed(modules: Mapping[str, str], members: Collection[str]) -> set[str]:
    """Those of ``members`` that no policy module names — so the policy cannot read them —
    or none at all if a module reads input members without naming them."""
    if dynamic_reads(modules):
        return set()
    text = "\n".join(modules.values())
    return {m for m in members if not re.search(rf"\b{re.escape(m)}\b", text)}


def fixed_members(modules: Mapping[str, str]) -> dict[str, str]:
    """Members that can be fixed to one value, with the value."""
    return {"relation": "hoofdpersoon"} if unnamed(modules, ["relation"]) else {}


def _roles(catalog: Catalog) -> list[tuple[str, str]]:
    return sorted(
        (org_type, role)
        for role, spec in catalog.roles.items()
        for org_type in spec.get("org_types", [])
    )


def _purposes(catalog: Catalog, only: Collection[str] | None) -> list[str]:
    return sorted(p for p in catalog.purposes if only is None or p in only)


def points(
    catalog: Catalog, fixed: Mapping[str, str], purposes: Collection[str] | None = None
) -> Iterator[Point]:
    """Every point, in a fixed order (``purposes``: only those purposes' points)."""
    relations = [fixed["relation"]] if "relation" in fixed else list(RELATIONS)
    for purpose, (org_type, role), source in itertools.product(
        _purposes(catalog, purposes), _roles(catalog), sorted(catalog.sources)
    ):
        for stage, minor, consent, urgency, justified, standing, relation in itertools.product(
            STAGES[:-1],
            (False, True),
            (False, True),
            URGENCIES,
            (False, True),
            STANDINGS,
            relations,
        ):
            yield Point(
                purpose,
                org_type,
                role,
                source,
                stage,
                minor,
                consent,
                urgency,
                justified,
                standing,
                relation,
            )


def size(
    catalog: Catalog, fixed: Mapping[str, str], purposes: Collection[str] | None = None
) -> int:
    relations = 1 if "relation" in fixed else len(RELATIONS)
    per_triple = (len(STAGES) - 1) * 2 * 2 * len(URGENCIES) * 2 * len(STANDINGS) * relations
    triples = len(_purposes(catalog, purposes)) * len(_roles(catalog)) * len(catalog.sources)
    return triples * per_triple
