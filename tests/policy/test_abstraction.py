"""The memo's key holds facts instead of the case id, OIN, participants and consents
(gateway/policy/abstraction.py): only where the policy text reads them through those facts, and
two inputs with the same facts get the same answer from both engines."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.catalog import Catalog
from gateway.policy.abstraction import facts
from gateway.policy.bundle import load_policy_set
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.golib import GolibEngine
from gateway.policy.memo import MemoEngine
from gateway.settings import bundled_policy_dir
from gateway.testing import policy_inputs, sample_policy_input

POLICY = load_policy_set(bundled_policy_dir())
CATALOG = Catalog(POLICY.catalog)
SHARING = POLICY.modules
ALL = {"case_id", "participation", "consent"}


def _with(extra: str) -> dict[str, str]:
    return {**SHARING, "extra.rego": f"package extra\n\nimport rego.v1\n\n{extra}\n"}


def test_the_shipped_policy_reads_the_open_ended_members_only_through_their_facts() -> None:
    assert facts(SHARING) == ALL


@pytest.mark.parametrize(
    ("extra", "lost"),
    [
        ("many(inp) if count(inp.case.participants) > 2", {"participation"}),
        ('police(inp) if startswith(inp.requester.oin, "000000990")', {"participation"}),
        ('ggz if "ggz.behandeling" in input.subject.consents', {"consent"}),
        ('pinned if input.case.id == "case-1"', {"case_id"}),
        ('pinned if input.case["id"] == "case-1"', ALL),  # a computed read: no fact is safe
        ("n := count([v | some v in input.case])", ALL),
        ('x := object.get(input.case, "participants", [])', ALL),
        # The allowed `consented` rule, asked about another source than the requested one:
        ('ggz if sharing.consented({"subject": input.subject, "request": {"source": "ggz"}})', ALL),
        ("x := input\ny if count(x.case.participants) > 2", ALL),
        ("# the participants, the oin, the consents and the id, in a comment line", set()),
    ],
)
def test_a_policy_that_reads_a_member_another_way_keeps_its_exact_key(
    extra: str, lost: set[str]
) -> None:
    assert facts(_with(extra)) == ALL - lost


MEMO = MemoEngine(EmbeddedEngine(POLICY), SHARING, verify_share=0.0)


def test_inputs_with_the_same_facts_share_a_key_and_others_do_not() -> None:
    a = sample_policy_input()
    b = copy.deepcopy(a)
    b["case"]["id"] = "case-another"
    b["requester"]["oin"] = "00000099000000000077"
    b["case"]["participants"] = ["00000099000000000055", "00000099000000000077"]
    b["subject"]["consents"] = [*a["subject"]["consents"], "politie.bvh"]
    if a["request"]["source"] == "politie.bvh":  # keep the requested source's consent alike
        b["subject"]["consents"] = a["subject"]["consents"]
    assert MEMO.key(a) == MEMO.key(b) and MEMO.key(a).startswith(b"a")

    outsider = copy.deepcopy(b)
    outsider["case"]["participants"] = ["00000099000000000055"]
    assert MEMO.key(outsider) != MEMO.key(b)

    consented = copy.deepcopy(b)
    consented["subject"]["consents"] = [a["request"]["source"]]
    assert (MEMO.key(consented) == MEMO.key(b)) == (
        a["request"]["source"] in b["subject"]["consents"]
    )

    odd = copy.deepcopy(a)
    odd["case"]["participants"] = [a["requester"]["oin"], 7]  # not the gateway's shape
    assert MEMO.key(odd).startswith(b"{")


def test_the_signals_entrypoint_keeps_exact_keys() -> None:
    one = {"action": "register", "requester": {"verified": True, "oin": "1"}, "area": "x"}
    other = {**one, "requester": {"verified": True, "oin": "2"}}
    assert MEMO._signal_key(one) != MEMO._signal_key(other)


_OIN = st.text("0123456789", min_size=20, max_size=20)
_SOURCES = [*sorted(CATALOG.sources), "onbekende.bron"]


@st.composite
def twins(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """An input the gateway could build and another with the same facts: another case id,
    OIN, participant list and consent list, and another user and relation (never read)."""
    one = draw(policy_inputs(CATALOG, malformed=False))
    two = copy.deepcopy(one)
    oin = draw(_OIN)
    others = draw(st.lists(_OIN.filter(lambda o: o != oin), max_size=4))
    participates = one["requester"]["oin"] in one["case"]["participants"]
    if participates:
        others.insert(draw(st.integers(0, len(others))), oin)
    source = one["request"]["source"]
    consents = draw(st.lists(st.sampled_from([s for s in _SOURCES if s != source]), max_size=4))
    if source in one["subject"]["consents"]:
        consents.insert(draw(st.integers(0, len(consents))), source)
    two["requester"].update(oin=oin, user=draw(st.text(max_size=8)))
    two["case"].update(id=draw(st.text(max_size=12)), participants=others)
    two["subject"].update(consents=consents, relation=draw(st.sampled_from(["kind", "x"])))
    return one, two


ENGINES = {"embedded": EmbeddedEngine(POLICY), "opa": GolibEngine(POLICY)}


@pytest.mark.parametrize("name", sorted(ENGINES))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=twins())
def test_inputs_with_the_same_facts_get_the_same_answer(
    name: str, pair: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    one, two = pair
    engine = ENGINES[name]
    assert MEMO.key(one) == MEMO.key(two)
    assert engine.evaluate(one) == engine.evaluate(two)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=twins())
def test_a_twin_is_answered_from_memory_with_the_engines_answer(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    one, two = pair
    memo = MemoEngine(ENGINES["embedded"], SHARING, verify_share=0.0)
    memo.evaluate(one)
    assert memo.evaluate(two) == ENGINES["embedded"].evaluate(two)
    # An outsider's input is never remembered (test_memo.py): both went to the engine.
    assert (memo.hits, memo.misses) == ((0, 0) if memo.key(one) is None else (1, 1))
    memo.close()
