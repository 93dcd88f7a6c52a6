"""Policy test cases as data: a privacy officer adds a request and its expected decision in
YAML (``policies/tests/*.yaml``) without writing Rego. ``gateway policy test`` runs them on both
engines next to the Rego unit tests.

A case names the request by the attributes the policy decides on (the same as a point of
``gateway policy prove``'s input space) and what is expected; only what is named is checked::

    - name: GGZ crisis contact under break-glass for the meldpunt
      request:
        purpose: wvggz_verkennend_onderzoek
        stage: casusoverleg
        role: meldpunt_medewerker      # the organisation type follows from the role
        source: ggz.behandeling
        urgency: spoed                 # default regulier
        justified: true                # default false
        consent: false                 # the person consented to this source; default false
        minor: false                   # default false
        standing: member               # member (default), closed, outsider or unlinked
        fields: [crisiskaart_contact]  # default: all the source offers
      expect:
        allow: true
        released: {crisiskaart_contact: contact}   # exactly these, in these forms
        withheld: {in_behandeling: consent_required}   # at least these, for these reasons
        reasons: [no_field_released]   # at least these request-level reasons
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.catalog import Catalog
from gateway.errors import ConfigurationError
from gateway.policy.prove import released
from gateway.policy.space import Point
from gateway.typing import Stage


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaseRequest(_Strict):
    purpose: str
    stage: Stage
    role: str
    source: str
    urgency: Literal["regulier", "spoed"] = "regulier"
    justified: bool = False
    consent: bool = False
    minor: bool = False
    standing: Literal["member", "closed", "outsider", "unlinked"] = "member"
    fields: list[str] = []


class Expectation(_Strict):
    allow: bool | None = None
    released: dict[str, str] | None = None
    withheld: dict[str, str] = {}
    reasons: list[str] = []


class PolicyCase(_Strict):
    name: str = Field(min_length=1, max_length=200)
    request: CaseRequest
    expect: Expectation


def load_cases(policy_cases: Mapping[str, Any], catalog: Catalog) -> dict[str, list[PolicyCase]]:
    out: dict[str, list[PolicyCase]] = {}
    problems = []
    for file, doc in sorted(policy_cases.items()):
        if not isinstance(doc, list):
            problems.append(f"{file}: expected a list of cases")
            continue
        for i, raw in enumerate(doc):
            try:
                case = PolicyCase.model_validate(raw)
            except ValidationError as exc:
                for e in exc.errors()[:10]:
                    loc = "/".join(str(p) for p in e["loc"])
                    problems.append(f"{file}[{i}]/{loc}: {e['msg']}")
                continue
            if case.request.role not in catalog.roles:
                problems.append(f"{file}[{i}]/request/role: not a role in the catalogue")
                continue
            out.setdefault(file, []).append(case)
    if problems:
        raise ConfigurationError("policy test cases are not valid: " + "; ".join(problems[:20]))
    return out


def policy_input(case: PolicyCase, catalog: Catalog) -> dict[str, Any]:
    r = case.request
    point = Point(
        r.purpose,
        catalog.roles[r.role]["org_types"][0],
        r.role,
        r.source,
        r.stage,
        r.minor,
        r.consent,
        r.urgency,
        r.justified,
        r.standing,
    )
    inp = point.policy_input()
    inp["request"]["fields"] = list(r.fields)
    return inp


def check(case: PolicyCase, decision: Any) -> str:
    """ "" if ``decision`` meets the expectation, else what differs."""
    doc = decision if isinstance(decision, dict) else {}
    want = case.expect
    problems = []
    if want.allow is not None and doc.get("allow") is not want.allow:
        problems.append(f"allow is {doc.get('allow')!r}, expected {want.allow!r}")
    if want.released is not None:
        got = {f: g[0] for f, g in released(doc).items()}
        if got != want.released:
            problems.append(f"released {got}, expected {want.released}")
    withheld = doc.get("withheld") or {}
    for f, reason in want.withheld.items():
        if withheld.get(f) != reason:
            problems.append(f"{f} withheld as {withheld.get(f)!r}, expected {reason!r}")
    missing = [r for r in want.reasons if r not in (doc.get("reasons") or [])]
    if missing:
        problems.append(f"reasons {doc.get('reasons')} lack {missing}")
    return "; ".join(problems)


def run_cases(
    cases: Mapping[str, list[PolicyCase]],
    catalog: Catalog,
    evaluate: Callable[[Mapping[str, Any]], Any],
) -> list[tuple[str, str, str]]:
    """(file, case name, "" or what differs) for every case."""
    return [
        (file, case.name, check(case, evaluate(policy_input(case, catalog))))
        for file, file_cases in cases.items()
        for case in file_cases
    ]
