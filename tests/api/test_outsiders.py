"""An organisation outside a case learns nothing about it: not whether it exists, who is in it,
its purpose, or whether it is closed."""

from __future__ import annotations

import json
from typing import Any

from gateway.testing import TestGateway, demo_bsn

OUTSIDER = "purmerend-regie"  # a municipality that takes part in none of the demo cases


def answer(
    gw: TestGateway, case: str, person: str, **extra: Any
) -> tuple[int, str, dict[str, Any]]:
    r = gw.client.post(
        "/v1/disclosures",
        json={"case_id": gw.case_ids.get(case, case), "bsn": demo_bsn(person), **extra},
        headers=gw.auth(OUTSIDER),
    )
    body = r.json()
    receipt = body.pop("receipt")
    assert set(receipt) == {"entry_hash", "recorded_at"}  # no sequence number: no volume
    return r.status_code, r.headers["content-type"], body


def test_unknown_others_and_closed_cases_look_identical(shared_gw: TestGateway) -> None:
    situations = [
        ("case-000000000000", "mda.moeder"),  # unknown case
        ("mda", "mda.moeder"),  # someone else's case, a linked adult
        ("mda", "mda.kind1"),  # ... a linked minor (was: minor_out_of_scope)
        ("mda", "buiten.casus"),  # ... a person not linked (was: subject_not_in_case)
        ("afgesloten", "mda.moeder"),  # someone else's closed case (was: case_closed)
        ("wvggz", "wvggz.man"),  # another purpose (was: its source list)
    ]
    answers = [answer(shared_gw, c, p) for c, p in situations]
    answers.append(answer(shared_gw, "mda", "mda.moeder", sources=["ggz.behandeling"]))
    first = answers[0]
    assert first[0] == 403 and first[1] == "application/problem+json"
    assert first[2]["reasons"] == ["no_access_to_case"] and first[2]["sources"] == []
    canonical = {json.dumps(a, sort_keys=True) for a in answers}
    assert len(canonical) == 1, canonical


def test_case_management_does_not_tell_an_outsider_a_case_exists(shared_gw: TestGateway) -> None:
    auth = shared_gw.auth(OUTSIDER)
    real, unknown = shared_gw.case_ids["mda"], "case-000000000000"
    link = {"bsn": demo_bsn("buiten.casus"), "relation": "overig", "minor": False}
    for case_id in (real, unknown):
        patched = shared_gw.client.patch(
            f"/v1/cases/{case_id}", json={"stage": "plan"}, headers=auth
        )
        linked = shared_gw.client.post(f"/v1/cases/{case_id}/subjects", json=link, headers=auth)
        assert (patched.status_code, linked.status_code) == (404, 404)
        assert patched.json()["detail"] == linked.json()["detail"] == "no such case"


def test_a_participant_still_gets_the_exact_reasons(shared_gw: TestGateway) -> None:
    r = shared_gw.client.post(
        "/v1/disclosures",
        json={"case_id": shared_gw.case_ids["mda"], "bsn": demo_bsn("buiten.casus")},
        headers=shared_gw.auth("zaanstad-regie"),
    )
    assert r.status_code == 403
    assert {tuple(s["reasons"]) for s in r.json()["sources"]} == {("subject_not_in_case",)}
