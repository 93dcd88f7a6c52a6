"""The policy means the same on both engines: rego-cpp (embedded) and OPA's own evaluator.

A Hypothesis stream of policy inputs — valid ones across the whole catalogue, and malformed
ones with members missing, null or of the wrong type — must give identical decisions. Before
the policy was rewritten (ADR 0009) this found OPA releasing fields where rego-cpp denied.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from gateway.catalog import Catalog
from gateway.policy.bundle import load_policy_set
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.golib import GolibEngine
from gateway.settings import bundled_policy_dir
from gateway.testing import policy_inputs, sample_policy_input

POLICY = load_policy_set(bundled_policy_dir())
CATALOG = Catalog(POLICY.catalog)


@pytest.fixture(scope="module")
def engines() -> tuple[EmbeddedEngine, GolibEngine]:
    return EmbeddedEngine(POLICY), GolibEngine(POLICY)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(inp=policy_inputs(CATALOG))
def test_both_engines_decide_the_same(
    engines: tuple[EmbeddedEngine, GolibEngine], inp: dict[str, Any]
) -> None:
    embedded, opa = engines
    assert embedded.evaluate(inp) == opa.evaluate(inp)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(inp=policy_inputs(CATALOG))
def test_both_engines_explain_the_same(
    engines: tuple[EmbeddedEngine, GolibEngine], inp: dict[str, Any]
) -> None:
    embedded, opa = engines
    assert embedded.explain(inp) == opa.explain(inp)


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

    old = load_policy_set(Path(__file__).parent / "fixtures" / "issue7-start", validate=False)
    embedded, opa = EmbeddedEngine(old), GolibEngine(old)
    found = find(
        policy_inputs(CATALOG),
        lambda inp: embedded.evaluate(inp) != opa.evaluate(inp),
        settings=settings(max_examples=2_000, database=None),
    )
    assert embedded.evaluate(found) != opa.evaluate(found)


def _signal_inputs() -> Any:
    """Signals inputs: valid ones over every organisation type, role and area, and malformed
    ones (members missing, null, of the wrong type; unknown names)."""
    from hypothesis import strategies as st

    org_types = [*sorted(CATALOG.org_types), "onbekend"]
    roles = [*sorted(CATALOG.roles), "onbekend"]
    areas = [*sorted(CATALOG.signal_areas), "onbekend"]
    odd = st.sampled_from([None, 0, "", [], {}, True])
    side = st.fixed_dictionaries(
        {"org_type": st.sampled_from(org_types), "role": st.sampled_from(roles)},
        optional={"area": st.sampled_from(areas) | odd},
    )
    requester = st.fixed_dictionaries(
        {
            "verified": st.sampled_from([True, True, False, None]),
            "org_type": st.sampled_from(org_types),
            "role": st.sampled_from(roles),
        },
        optional={"oin": st.just("00000099000000000001") | odd},
    )
    register = st.fixed_dictionaries(
        {"action": st.just("register")},
        optional={
            "requester": requester | odd,
            "area": st.sampled_from(areas) | odd,
            "consent": st.booleans() | odd,
        },
    )
    match = st.fixed_dictionaries(
        {"action": st.just("match")},
        optional={"signal": side | odd, "other": side | odd},
    )
    return register | match | st.fixed_dictionaries({}, optional={"action": odd})


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(inp=_signal_inputs())
def test_both_engines_decide_signals_the_same(
    engines: tuple[EmbeddedEngine, GolibEngine], inp: dict[str, Any]
) -> None:
    embedded, opa = engines
    answer = embedded.evaluate_signal(inp)
    assert answer == opa.evaluate_signal(inp)
    assert set(answer) == {"allow", "reasons", "basis", "reveal_area"}
    assert answer["allow"] is (answer["reasons"] == [])


def test_the_default_signal_decision_denies_on_both_engines(
    engines: tuple[EmbeddedEngine, GolibEngine],
) -> None:
    for engine in engines:
        assert engine.evaluate_signal({}) == {
            "allow": False,
            "reasons": ["policy_undefined"],
            "basis": None,
            "reveal_area": False,
        }
