"""Memoised decisions return exactly what the engine returns, and fail closed when they don't."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.catalog import Catalog
from gateway.errors import EngineError
from gateway.policy.bundle import load_policy_set
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.engine import MISSING
from gateway.policy.memo import _BACKLOG, MemoEngine, droppable
from gateway.settings import bundled_policy_dir
from gateway.testing import demo_bsn, make_test_gateway, policy_inputs, sample_policy_input

POLICY = load_policy_set(bundled_policy_dir())
ENGINE = EmbeddedEngine(POLICY)
MEMO = MemoEngine(ENGINE, POLICY.modules, verify_share=0.0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=st.lists(policy_inputs(Catalog(POLICY.catalog)), min_size=1, max_size=4))
def test_memoised_answers_are_the_engines(inputs: list[dict[str, Any]]) -> None:
    for inp in [*inputs, *inputs]:  # the second round is answered from memory
        assert MEMO.evaluate(inp) == ENGINE.evaluate(inp)
    assert MEMO.hits > 0


def test_only_members_the_policy_never_names_are_left_out_of_the_key() -> None:
    assert droppable(POLICY.modules) == {("requester", "user"), ("subject", "relation")}
    reads_relation = {"x.rego": "package x\nk if input.subject.relation == 1\n"}
    assert droppable(reads_relation) == {("requester", "user")}
    assert droppable({"x.rego": "package x\nn := count(walk(input))\n"}) == frozenset()
    a, b = sample_policy_input(), sample_policy_input()
    b["requester"]["user"] = "someone else"
    assert MEMO.key(a) == MEMO.key(b)
    b["case"]["stage"] = "plan"
    assert MEMO.key(a) != MEMO.key(b)


class Drifting:
    """An engine whose answers change after a while (as a corrupted memo would look)."""

    def __init__(self) -> None:
        self.calls = 0
        self.version = "sha256:drift"

    def evaluate(self, policy_input: Mapping[str, Any]) -> Any:
        self.calls += 1
        return {"allow": self.calls == 1, "fields": {}, "reasons": [], "withheld": {}}


def test_a_disagreement_raises_the_alarm_and_fails_closed() -> None:
    memo = MemoEngine(Drifting(), POLICY.modules, verify_share=1.0)  # verify every hit
    inp = sample_policy_input()
    memo.evaluate(inp)
    memo.evaluate(inp)  # served from memory; the background check sees another answer
    deadline = time.monotonic() + 5
    while not memo.tripped and time.monotonic() < deadline:
        time.sleep(0.01)
    assert memo.tripped
    with pytest.raises(EngineError, match="failing closed"):
        memo.evaluate(inp)
    memo.close()


def test_a_gateway_with_memoised_decisions_answers_as_without(tmp_path: Any) -> None:
    gw = make_test_gateway(tmp_path, policy_memo=True)
    try:
        answers = []
        for _ in range(3):
            r = gw.client.post(
                "/v1/disclosures",
                json={"case_id": gw.case_ids["mda"], "bsn": demo_bsn("mda.ex_partner")},
                headers=gw.auth("veiligthuis"),
            )
            assert r.status_code == 200
            answers.append([(s["source"], s["fields"]) for s in r.json()["sources"]])
        assert answers[0] == answers[1] == answers[2]
        memo = gw.gateway.engine
        assert isinstance(memo, MemoEngine) and memo.hits >= 14  # 7 sources, twice
    finally:
        gw.close()


def test_a_replaced_memo_still_answers_its_in_flight_requests() -> None:
    memo = MemoEngine(ENGINE, POLICY.modules, verify_share=1.0)
    inp = sample_policy_input()
    first = memo.evaluate(inp)
    memo.close()  # its snapshot was replaced by a reload
    assert memo.evaluate(inp) == first  # answered from memory, the check skipped


def test_a_gateway_whose_memo_disagrees_denies_everything_after(tmp_path: Any) -> None:
    """The alarm path inside a serving gateway: answers remembered on the event loop, checked
    in the background; after the first disagreement every source is an `engine_error`."""

    class Flipping:
        def __init__(self, inner: Any) -> None:
            self.inner, self.version, self.calls = inner, inner.version, 0

        def evaluate(self, policy_input: Mapping[str, Any]) -> Any:
            self.calls += 1
            answer = self.inner.evaluate(policy_input)
            return answer if self.calls <= 7 else {**answer, "reasons": ["drifted"]}

    gw = make_test_gateway(tmp_path, engine=Flipping, policy_memo_verify_share=1.0)
    body = {"case_id": gw.case_ids["mda"], "bsn": demo_bsn("mda.ex_partner")}
    try:
        first = gw.client.post("/v1/disclosures", json=body, headers=gw.auth("veiligthuis"))
        assert first.status_code == 200
        memo = gw.gateway.engine
        assert isinstance(memo, MemoEngine)
        gw.client.post("/v1/disclosures", json=body, headers=gw.auth("veiligthuis"))
        deadline = time.monotonic() + 5
        while not memo.tripped and time.monotonic() < deadline:
            time.sleep(0.01)
        assert memo.tripped
        denied = gw.client.post("/v1/disclosures", json=body, headers=gw.auth("veiligthuis"))
        assert denied.status_code == 403
        assert {r for s in denied.json()["sources"] for r in s["reasons"]} == {"engine_error"}
    finally:
        gw.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inp=policy_inputs(Catalog(POLICY.catalog)))
def test_a_remembered_decision_is_the_engines_parsed_once(inp: dict[str, Any]) -> None:
    """decide() reads a remembered answer's JSON and keeps what it parsed from it: the decision
    must be the one parsed from the engine's own answer, and the ledger's JSON of it its
    as_dict(); a second request gets the very same object."""
    import asyncio
    import json

    import orjson

    from gateway.lanes import Lane
    from gateway.policy.engine import _parsed, decide

    asked = inp.get("request")
    source = asked.get("source") if isinstance(asked, dict) else None
    source = source if isinstance(source, str) else "brp"  # what a caller passes is a name
    memo = MemoEngine(ENGINE, POLICY.modules, verify_share=0.0)
    memo.evaluate(inp)  # remembered
    lane = Lane("test-policy", workers=1)
    try:
        first, second = (asyncio.run(decide(memo, lane, inp, source, 5, 5)) for _ in range(2))
    finally:
        lane.close()
    expected, _ = _parsed(ENGINE.evaluate(inp), source)
    assert first == expected
    remembered = memo.key(inp) is not None  # an outsider's input never is
    kept = remembered and first.reasons not in {("policy_undefined",), ("malformed_decision",)}
    assert second is first if kept else second == first
    assert json.loads(orjson.dumps([first.ledger_json])) == [first.as_dict()]
    # Both requests answered from memory, or (an outsider's input) neither.
    assert (memo.misses, memo.hits) == ((1, 2) if remembered else (0, 0))


def test_a_malformed_remembered_answer_is_denied_every_time_and_not_kept() -> None:
    from gateway.policy.engine import _PARSED, _parsed_once

    answer = b'{"allow": true, "source": "brp", "fields": {}}'  # allow without a grant
    for _ in range(2):
        decision = _parsed_once(answer, "brp")  # type: ignore[arg-type]
        assert not decision.allow and decision.reasons == ("malformed_decision",)
    assert not any(key[0] == answer for key in _PARSED)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=st.lists(policy_inputs(Catalog(POLICY.catalog)), min_size=1, max_size=3))
def test_recalling_one_disclosures_inputs_together_is_recalling_each(
    inputs: list[dict[str, Any]],
) -> None:
    """A disclosure recalls its sources' decisions with the shared part encoded once: each must
    be what recalling that input alone gives (remembered or not)."""
    memo = MemoEngine(ENGINE, POLICY.modules, verify_share=0.0)
    memo.evaluate(inputs[0])  # one remembered, the others maybe not
    for inp in inputs:
        shared = {k: v for k, v in inp.items() if k != "request"}
        requests = [inp.get("request"), *(i.get("request") for i in inputs)]
        together = memo.recall_json_each(shared, requests)
        alone = [memo.recall_json({**shared, "request": r}) for r in requests]
        assert together == alone


class Counting:
    """An engine (the real one unless ``inner``), counting its evaluations; ``gate`` (if set)
    holds each one back."""

    def __init__(self, inner: Any = ENGINE, gate: threading.Event | None = None) -> None:
        self.inner, self.version, self.calls, self.gate = inner, inner.version, 0, gate

    def evaluate(self, policy_input: Mapping[str, Any]) -> Any:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(10)
        return self.inner.evaluate(policy_input)


def _settled(memo: MemoEngine) -> None:
    deadline = time.monotonic() + 10
    while memo._backlog and time.monotonic() < deadline:
        time.sleep(0.01)


def test_every_answers_first_hit_is_checked_and_later_hits_by_share() -> None:
    """The first hit is the first time another input may share the key (ADR 0016)."""
    memo = MemoEngine(Drifting(), POLICY.modules, verify_share=1e-12)
    inp = sample_policy_input()
    memo.evaluate(inp)
    memo.evaluate(inp)  # the first hit: checked, and the drifted engine disagrees
    deadline = time.monotonic() + 5
    while not memo.tripped and time.monotonic() < deadline:
        time.sleep(0.01)
    assert memo.tripped
    memo.close()

    counting = Counting()
    memo = MemoEngine(counting, POLICY.modules, verify_share=1e-12)
    for _ in range(6):  # one miss, one checked first hit, four hits left to the share
        memo.evaluate(inp)
    _settled(memo)
    assert counting.calls == 2 and memo.hits == 5 and not memo.tripped
    memo.close()


def test_no_check_at_all_when_verification_is_off() -> None:
    counting = Counting()
    memo = MemoEngine(counting, POLICY.modules, verify_share=0.0)
    for _ in range(3):
        memo.evaluate(sample_policy_input())
    assert counting.calls == 1
    memo.close()


def test_the_checkers_backlog_is_bounded_and_a_skipped_first_hit_stays_first() -> None:
    gate = threading.Event()
    counting = Counting(gate=gate)
    memo = MemoEngine(counting, POLICY.modules, verify_share=1e-12)
    gate.set()
    inputs = []
    for i in range(_BACKLOG + 20):  # that many different answers remembered
        inp = sample_policy_input()
        inp["request"]["fields"] = [f"veld_{i}"]
        memo.evaluate(inp)
        inputs.append(inp)
    gate.clear()  # from here the checker is stuck
    for inp in inputs:
        memo.evaluate(inp)  # every first hit wants a check
    assert memo._backlog == _BACKLOG  # the rest were not queued ...
    gate.set()
    _settled(memo)
    before = counting.calls
    for inp in inputs:
        memo.evaluate(inp)  # ... so their next hit is their first check
    _settled(memo)
    assert counting.calls - before == 20 and not memo.tripped
    memo.close()


def test_the_order_a_client_names_fields_in_is_one_key(tmp_path: Any) -> None:
    """Field lists are sets: were their order part of the key, a client could make every
    request a memo miss (seven engine evaluations) by permuting the names it asks for."""
    gw = make_test_gateway(tmp_path, policy_memo=True)
    try:
        memo = gw.gateway.engine
        assert isinstance(memo, MemoEngine)
        names = ["naam", "adres", "woonplaats", "geboortedatum"]
        for order in (names, names[::-1], sorted(names), [names[2], names[0], names[3], names[1]]):
            r = gw.client.post(
                "/v1/disclosures",
                json={
                    "case_id": gw.case_ids["mda"],
                    "bsn": demo_bsn("mda.ex_partner"),
                    "sources": ["gemeente.brp"],
                    "fields": {"gemeente.brp": order},
                },
                headers=gw.auth("veiligthuis"),
            )
            assert r.status_code == 200, r.text
        assert memo.misses == 1 and memo.hits == 3
    finally:
        gw.close()


def test_an_outsiders_decision_is_never_remembered() -> None:
    """So that its time cannot tell an unknown case from someone else's: remembered, the key of
    an unknown case is warm after one probe while each kind of real case is cold at first."""
    counting = Counting()
    memo = MemoEngine(counting, POLICY.modules, verify_share=1.0)
    member = sample_policy_input()
    unknown = copy.deepcopy(member)
    unknown["case"].update(found=False, id="case-000000000000", participants=[], stage="")
    others = copy.deepcopy(member)
    others["case"]["participants"] = ["00000099000000000042"]
    for inp in (unknown, others):
        assert memo.key(inp) is None
        for _ in range(3):
            assert memo.evaluate(inp) == ENGINE.evaluate(inp)
    assert counting.calls == 6 and memo.hits == 0
    shared = {k: v for k, v in others.items() if k != "request"}
    assert memo.recall_json_each(shared, [others["request"]]) == [MISSING]
    memo.evaluate(member)
    memo.evaluate(member)
    assert memo.hits == 1  # a participant's decisions are remembered as before
    memo.close()


def test_a_gateway_asks_the_engine_for_every_outsider_request(tmp_path: Any) -> None:
    gw = make_test_gateway(tmp_path, engine=Counting, policy_memo_verify_share=0.0)
    try:
        memo = gw.gateway.engine
        assert isinstance(memo, MemoEngine) and isinstance(memo.inner, Counting)
        outsider = gw.auth("purmerend-regie")
        for case_id in ("case-000000000000", gw.case_ids["mda"]) * 2:
            body = {"case_id": case_id, "bsn": demo_bsn("mda.moeder")}
            r = gw.client.post("/v1/disclosures", json=body, headers=outsider)
            assert r.status_code == 403
        assert memo.inner.calls == 4 and memo.hits == 0  # one evaluation each, every time
    finally:
        gw.close()
