"""The policy means the same on both engines: rego-cpp (embedded) and OPA's own evaluator.

A Hypothesis stream of policy inputs — valid ones across the whole catalogue, and malformed
ones with members missing, null or of the wrong type — must give identical decisions. Before
the policy was rewritten (ADR 0009) this found OPA releasing fields where rego-cpp denied.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.catalog import Catalog
from gateway.policy.bundle import load_policy_set
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.golib import GolibEngine
from gateway.settings import bundled_policy_dir
from gateway.testing import sample_policy_input

POLICY = load_policy_set(bundled_policy_dir())
CATALOG = Catalog(POLICY.catalog)
OINS = ["00000099000000000001", "00000099000000000002", "00000099000000000008"]

# One value per member from the real domain, so valid inputs reach every branch.
DOMAIN: dict[tuple[str, str], list[Any]] = {
    ("requester", "verified"): [True, False],
    ("requester", "oin"): OINS,
    ("requester", "org_type"): sorted(CATALOG.org_types),
    ("requester", "role"): sorted(CATALOG.roles),
    ("case", "found"): [True, False],
    ("case", "status"): ["open", "closed"],
    ("case", "stage"): [
        "aanmelding",
        "screening",
        "casusoverleg",
        "plan",
        "monitoring",
        "afgesloten",
    ],
    ("case", "purpose"): [*sorted(CATALOG.purposes), "onbekend_doel"],
    ("case", "participants"): [OINS, OINS[:1], OINS[1:], []],
    ("subject", "linked"): [True, False],
    ("subject", "relation"): ["hoofdpersoon", "ex_partner", "kind"],
    ("subject", "minor"): [True, False],
    ("subject", "consents"): [[], ["ggz.behandeling"], ["ggz.behandeling", "gemeente.wijkteam"]],
    ("request", "source"): [*sorted(CATALOG.sources), "onbekende.bron"],
    ("request", "fields"): [[], ["naam"], ["crisiskaart_contact", "diagnose"]],
    ("request", "urgency"): ["regulier", "spoed"],
    ("request", "justified"): [True, False],
}
WRONG: list[Any] = [None, 0, 1.5, "", "x", [], ["x"], {}, {"a": 1}, True]


@st.composite
def policy_inputs(draw: st.DrawFn) -> dict[str, Any]:
    inp = copy.deepcopy(sample_policy_input())
    for (part, member), values in DOMAIN.items():
        inp[part][member] = draw(st.sampled_from(values))
    # Then break some of it: drop, null or mistype members, or whole parts.
    for _ in range(draw(st.integers(0, 3))):
        part = draw(st.sampled_from(sorted(inp)))
        action = draw(st.sampled_from(["drop", "wrong", "drop_part", "wrong_part"]))
        if action == "drop_part":
            inp.pop(part, None)
        elif action == "wrong_part":
            inp[part] = draw(st.sampled_from(WRONG))
        elif isinstance(inp.get(part), dict) and inp[part]:
            member = draw(st.sampled_from(sorted(inp[part])))
            if action == "drop":
                del inp[part][member]
            else:
                inp[part][member] = draw(st.sampled_from(WRONG))
    return inp


@pytest.fixture(scope="module")
def engines() -> tuple[EmbeddedEngine, GolibEngine]:
    return EmbeddedEngine(POLICY), GolibEngine(POLICY)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(inp=policy_inputs())
def test_both_engines_decide_the_same(
    engines: tuple[EmbeddedEngine, GolibEngine], inp: dict[str, Any]
) -> None:
    embedded, opa = engines
    assert embedded.evaluate(inp) == opa.evaluate(inp)


def test_a_missing_consent_list_releases_no_ggz_data_on_either_engine(
    engines: tuple[EmbeddedEngine, GolibEngine],
) -> None:
    """The defect the rewrite fixed: without `subject.consents`, OPA released GGZ fields."""
    inp = sample_policy_input("ggz.behandeling")
    inp["case"]["purpose"] = "wvggz_verkennend_onderzoek"
    inp["case"]["stage"] = "casusoverleg"
    del inp["subject"]["consents"]
    for engine in engines:
        decision = engine.evaluate(inp)
        released = {
            f
            for f, r in decision["fields"].items()
            if CATALOG.fields("ggz.behandeling")[f].sensitivity == "bijzonder"
        }
        assert released == set(), type(engine).__name__


def test_the_stream_finds_the_difference_in_the_policy_as_it_was() -> None:
    """The property is worth running: on the policy as it stood before the rewrite (kept as a
    fixture) it finds an input the engines decide differently."""
    from pathlib import Path

    from hypothesis import find

    old = load_policy_set(Path(__file__).parent / "fixtures" / "issue7-start")
    embedded, opa = EmbeddedEngine(old), GolibEngine(old)
    found = find(
        policy_inputs(),
        lambda inp: embedded.evaluate(inp) != opa.evaluate(inp),
        settings=settings(max_examples=2_000, database=None),
    )
    assert embedded.evaluate(found) != opa.evaluate(found)
