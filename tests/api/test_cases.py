from __future__ import annotations

from gateway.testing import TestGateway, demo_bsn

VT = "00000099000000000006"


def test_participant_lists_cases_with_what_to_ask(shared_gw: TestGateway) -> None:
    r = shared_gw.client.get("/v1/cases", headers=shared_gw.auth("veiligthuis"))
    assert r.status_code == 200
    cases = {c["case_id"]: c for c in r.json()["cases"]}
    mda = cases[shared_gw.case_ids["mda"]]
    assert mda["stage"] == "casusoverleg" and mda["regisseur"] is False
    assert {s["relation"] for s in mda["subjects"]} == {"hoofdpersoon", "ex_partner", "kind"}
    assert "politie.incidenten" in mda["askable"]
    assert shared_gw.case_ids["wvggz"] not in cases  # not a participant there
    assert demo_bsn("mda.moeder") not in r.text
    politie = {a["field"]: a for a in mda["askable"]["politie.incidenten"]}
    assert politie["wapens"] == {"field": "wapens", "transform": "exists", "break_glass": False}


def test_askable_marks_break_glass_fields(shared_gw: TestGateway) -> None:
    r = shared_gw.client.get("/v1/cases", headers=shared_gw.auth("zaanstad-meldpunt"))
    wvggz = next(c for c in r.json()["cases"] if c["case_id"] == shared_gw.case_ids["wvggz"])
    ggz = {a["field"]: a["break_glass"] for a in wvggz["askable"]["ggz.behandeling"]}
    assert ggz == {"crisiskaart_contact": True, "in_behandeling": False, "regiebehandelaar": False}


def test_regisseur_builds_a_case_and_participants_then_see_it(gw: TestGateway) -> None:
    regie = gw.auth("zaanstad-regie")
    r = gw.client.post(
        "/v1/cases", json={"purpose": "huisverbod", "participants": [VT]}, headers=regie
    )
    assert r.status_code == 201
    case_id = r.json()["case_id"]
    assert r.json()["stage"] == "aanmelding"

    r = gw.client.post(
        f"/v1/cases/{case_id}/subjects",
        headers=regie,
        json={"bsn": demo_bsn("buiten.casus"), "relation": "hoofdpersoon", "minor": False},
    )
    assert r.status_code == 201 and r.json()["subject_ref"].startswith("subj-")
    dup = gw.client.post(
        f"/v1/cases/{case_id}/subjects",
        headers=regie,
        json={"bsn": demo_bsn("buiten.casus"), "relation": "hoofdpersoon", "minor": False},
    )
    assert dup.status_code == 409

    # At aanmelding nothing flows; at casusoverleg Veilig Thuis gets its row of the matrix.
    vt = gw.auth("veiligthuis")
    ask = {"case_id": case_id, "bsn": demo_bsn("buiten.casus"), "sources": ["gemeente.brp"]}
    assert gw.client.post("/v1/disclosures", json=ask, headers=vt).status_code == 403
    assert (
        gw.client.patch(
            f"/v1/cases/{case_id}", json={"stage": "casusoverleg"}, headers=regie
        ).status_code
        == 200
    )
    r = gw.client.post("/v1/disclosures", json=ask, headers=vt)
    assert r.status_code == 200
    assert set(r.json()["sources"][0]["fields"]) == {"naam", "adres", "huishouden"}

    # Backwards is refused; closing ends all sharing.
    assert (
        gw.client.patch(
            f"/v1/cases/{case_id}", json={"stage": "screening"}, headers=regie
        ).status_code
        == 409
    )
    assert (
        gw.client.patch(f"/v1/cases/{case_id}", json={"stage": "afgesloten"}, headers=regie).json()[
            "status"
        ]
        == "closed"
    )
    assert gw.client.post("/v1/disclosures", json=ask, headers=vt).status_code == 403


def test_only_the_regisseur_changes_a_case(shared_gw: TestGateway) -> None:
    case_id = shared_gw.case_ids["mda"]
    r = shared_gw.client.patch(
        f"/v1/cases/{case_id}", json={"stage": "plan"}, headers=shared_gw.auth("politie-wijkagent")
    )
    assert r.status_code == 403
    r = shared_gw.client.post(
        "/v1/cases", json={"purpose": "mda_plus_plus"}, headers=shared_gw.auth("politie-wijkagent")
    )
    assert r.status_code == 403


def test_case_input_is_validated(shared_gw: TestGateway) -> None:
    regie = shared_gw.auth("zaanstad-regie")
    r = shared_gw.client.post(
        "/v1/cases", json={"purpose": "x", "participants": ["123"]}, headers=regie
    )
    assert r.status_code == 400
    r = shared_gw.client.post("/v1/cases", json={"purpose": "onbekend"}, headers=regie)
    assert r.status_code == 400 and r.json()["errors"][0]["location"] == "/purpose"
    r = shared_gw.client.patch("/v1/cases/case-000000000000", json={"stage": "plan"}, headers=regie)
    assert r.status_code == 404


def test_api_conventions(shared_gw: TestGateway) -> None:
    r = shared_gw.client.get("/v1/openapi.json")
    assert r.status_code == 200 and r.headers["API-Version"] == "1.0.0"
    paths = r.json()["paths"]
    assert {"/oauth/token", "/cases", "/disclosures"} <= set(paths)
    assert r.json()["servers"][0]["url"].endswith("/v1")
    assert r.json()["info"]["version"] == r.headers["API-Version"]
    missing = shared_gw.client.get("/v1/nope")
    assert (
        missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    )
    trace = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
    r = shared_gw.client.get("/v1/health", headers={"traceparent": trace})
    assert r.headers["traceparent"].split("-")[1] == "ab" * 16


def test_malformed_bodies_are_400_problems(shared_gw: TestGateway) -> None:
    headers = {**shared_gw.auth("zaanstad-regie"), "Content-Type": "application/json"}
    for raw in (b"{not json", b"[]", b"", '{"bsn": "\u00e9"}'.encode()):
        r = shared_gw.client.post("/v1/disclosures", content=raw, headers=headers)
        assert r.status_code == 400, raw
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["errors"]


def test_case_endpoints_wait_for_the_ledger_off_the_event_loop() -> None:
    """Each reads the registry and most wait for a durable ledger entry: as coroutines they
    ran on the event loop and stalled every other request of the process meanwhile."""
    import inspect

    from fastapi.routing import APIRoute

    from gateway.api.routers.cases import router

    routes = [r for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) == 4
    for route in routes:
        assert not inspect.iscoroutinefunction(route.endpoint), route.path
