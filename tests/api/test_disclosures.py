"""DOMAIN.md's rules, each exercised through the HTTP API on the demo region."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.audit.export import entry_summary
from gateway.policy.bundle import load_policy_set
from gateway.policy.engine import PolicyEngine
from gateway.policy.golib import GolibEngine
from gateway.settings import bundled_policy_dir
from gateway.testing import TestGateway, demo_bsn, make_test_gateway

# Every rule through the HTTP API on both engines: the embedded one (rego-cpp) and OPA's own
# evaluator in its place (issue 7: the decision tests pass on both).
ENGINES = ["embedded", "opa"]


def _engine(name: str) -> Any:
    if name == "embedded":
        return None
    return lambda _embedded: GolibEngine(load_policy_set(bundled_policy_dir()))


@pytest.fixture(scope="module", params=ENGINES)
def shared_gw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestGateway]:
    # Every answer from the engine itself: the rules are proven on each engine, not on a memo.
    gw = make_test_gateway(
        tmp_path_factory.mktemp(f"rules-{request.param}"),
        engine=_engine(request.param),
        policy_memo=False,
    )
    yield gw
    gw.close()


@pytest.fixture(params=ENGINES)
def gw(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestGateway]:
    gw = make_test_gateway(tmp_path, engine=_engine(request.param), policy_memo=False)
    yield gw
    gw.close()


def test_the_gateway_decides_on_the_engine_asked_for(shared_gw: TestGateway) -> None:
    engine: PolicyEngine = shared_gw.gateway.engine
    assert type(engine).__name__ in ("EmbeddedEngine", "GolibEngine")


def disclose(gw: TestGateway, client: str, case: str, person: str, **body: Any) -> Any:
    payload = {"case_id": gw.case_ids.get(case, case), "bsn": demo_bsn(person), **body}
    return gw.client.post("/v1/disclosures", json=payload, headers=gw.auth(client))


def released(response: Any) -> dict[str, dict[str, Any]]:
    return {s["source"]: s["fields"] for s in response.json()["sources"] if s["fields"]}


def reasons(response: Any) -> dict[str, list[str]]:
    """Per-source reasons of a 403 (participants see them; outsiders see no sources)."""
    return {s["source"]: s["reasons"] for s in response.json()["sources"]}


# Rule 1 and 9: deny by default; every decision ledgered before data


def test_family_overview_releases_per_source_with_receipt(shared_gw: TestGateway) -> None:
    r = disclose(shared_gw, "zaanstad-regie", "mda", "mda.ex_partner")
    assert r.status_code == 200
    body = r.json()
    assert set(body["receipt"]) == {"entry_hash", "recorded_at"}
    assert len(body["receipt"]["entry_hash"]) == 64
    sources = {s["source"]: s for s in body["sources"]}
    assert set(sources) == set(shared_gw.gateway.catalog.purpose_sources("mda_plus_plus"))
    brp = sources["gemeente.brp"]["fields"]
    assert brp["geboortedatum"]["transform"] == "age" and isinstance(
        brp["geboortedatum"]["value"], int
    )
    assert sources["politie.incidenten"]["fields"]["wapens"] == {
        "value": True,
        "transform": "exists",
        "legal_basis": "wpg_20",
        "break_glass": False,
    }
    assert sources["politie.incidenten"]["withheld"] == {"processen_verbaal": "geheim"}
    assert sources["reclassering.toezicht"]["fields"]["toezichthouder"]["transform"] == "contact"


def test_denial_is_problem_json_with_receipt(shared_gw: TestGateway) -> None:
    r = disclose(shared_gw, "purmerend-regie", "mda", "mda.moeder")
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert len(problem["receipt"]["entry_hash"]) == 64
    # An outsider learns nothing about the case: one reason, no sources (the exact reason,
    # not_a_participant, is only in the sealed ledger body).
    assert problem["reasons"] == ["no_access_to_case"] and problem["sources"] == []


# Rule 2: the requester comes from the verified token


def test_body_cannot_set_organisation_or_role(shared_gw: TestGateway) -> None:
    r = disclose(
        shared_gw,
        "woco-consulent",
        "mda",
        "mda.moeder",
        role="procesregisseur",
        oin="00000099000000000001",
    )
    assert r.status_code == 400
    locations = {e["location"] for e in r.json()["errors"]}
    assert locations == {"/role", "/oin"}


def test_same_request_different_role_sees_different_fields(shared_gw: TestGateway) -> None:
    regie = released(
        disclose(shared_gw, "zaanstad-regie", "mda", "mda.ex_partner", sources=["om.strafzaken"])
    )
    agent = released(
        disclose(shared_gw, "politie-wijkagent", "mda", "mda.ex_partner", sources=["om.strafzaken"])
    )
    assert set(regie["om.strafzaken"]) == {
        "lopende_zaak",
        "status",
        "contactverbod",
        "volgende_zitting",
    }
    assert set(agent["om.strafzaken"]) == {"lopende_zaak", "contactverbod"}


# Rule 3: case exists, open, participant; subject linked


def test_unknown_case_denied_and_ledgered(shared_gw: TestGateway) -> None:
    r = disclose(shared_gw, "zaanstad-regie", "case-000000000000", "mda.moeder")
    assert r.status_code == 403
    assert r.json()["reasons"] == ["no_access_to_case"]
    ledgered = shared_gw.ledgered(r.json()["receipt"]["entry_hash"])
    assert ledgered["decisions"][0]["reasons"] == ["case_not_found"]


def test_closed_case_releases_nothing(shared_gw: TestGateway) -> None:
    r = disclose(shared_gw, "zaanstad-regie", "afgesloten", "mda.moeder")
    assert r.status_code == 403
    assert all("case_closed" in v for v in reasons(r).values())


def test_nothing_about_a_subject_outside_the_case(shared_gw: TestGateway) -> None:
    r = disclose(shared_gw, "zaanstad-regie", "mda", "buiten.casus")
    assert r.status_code == 403
    assert all(v == ["subject_not_in_case"] for v in reasons(r).values())


def test_org_type_outside_purpose_denied(shared_gw: TestGateway) -> None:
    # The housing corporation takes part in the PGA case but MDA++ is not its purpose.
    r = disclose(shared_gw, "woco-consulent", "mda", "mda.moeder")
    assert r.status_code == 403


# Rule 4: requested ∩ necessary ∩ offered; geheim never


def test_requested_fields_narrow_the_release(shared_gw: TestGateway) -> None:
    r = disclose(
        shared_gw,
        "zaanstad-regie",
        "mda",
        "mda.ex_partner",
        sources=["politie.incidenten"],
        fields={"politie.incidenten": ["wapens", "processen_verbaal"]},
    )
    src = r.json()["sources"][0]
    assert set(src["fields"]) == {"wapens"}
    assert src["withheld"] == {"processen_verbaal": "geheim"}
    # A field the source does not offer is a malformed request, refused before any decision.
    unknown = disclose(
        shared_gw,
        "zaanstad-regie",
        "mda",
        "mda.ex_partner",
        fields={"politie.incidenten": ["wapens", "schoenmaat"]},
    )
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["location"] == "/fields/politie.incidenten/1"


def test_screening_stage_gives_only_dat_information(shared_gw: TestGateway) -> None:
    r = disclose(
        shared_gw,
        "politie-wijkagent",
        "huisverbod",
        "huisverbod.uithuisgeplaatste",
        sources=["veilig_thuis.meldingen"],
    )
    fields = r.json()["sources"][0]["fields"]
    assert {f: v["transform"] for f, v in fields.items()} == {
        "lopende_melding": "exists",
        "contactpersoon": "contact",
    }


def test_band_transform_for_rent_arrears(shared_gw: TestGateway) -> None:
    r = disclose(
        shared_gw, "zaanstad-meldpunt", "wvggz", "wvggz.man", sources=["woningcorporatie.huur"]
    )
    assert r.json()["sources"][0]["fields"]["huurachterstand"]["value"] == ">=1000"


# Rule 5: special categories, GGZ consent, criminal-law data


def test_ggz_without_consent_withholds(shared_gw: TestGateway) -> None:
    r = disclose(shared_gw, "zaanstad-meldpunt", "wvggz", "wvggz.man", sources=["ggz.behandeling"])
    assert r.status_code == 403
    assert reasons(r)["ggz.behandeling"] == ["no_field_released"]
    # The 403 shows why, field by field.
    assert set(r.json()["sources"][0]["withheld"].values()) >= {"consent_required"}


def test_ggz_with_recorded_consent_releases(shared_gw: TestGateway) -> None:
    r = disclose(shared_gw, "zaanstad-regie", "zvh", "zvh.vrouw", sources=["ggz.behandeling"])
    src = r.json()["sources"][0]
    assert set(src["fields"]) == {"in_behandeling", "regiebehandelaar"}
    assert src["withheld"]["diagnose"] == "geheim"


def test_source_outside_purpose_denied(shared_gw: TestGateway) -> None:
    r = disclose(shared_gw, "zaanstad-meldpunt", "wvggz", "wvggz.man", sources=["om.strafzaken"])
    assert reasons(r)["om.strafzaken"] == ["source_not_in_purpose"]


# Rule 6: children only in purposes that include them


def test_children_in_mda(shared_gw: TestGateway) -> None:
    r = disclose(
        shared_gw, "rvdk-onderzoek", "mda", "mda.kind1", sources=["veilig_thuis.meldingen"]
    )
    assert r.status_code == 200
    assert r.json()["sources"][0]["fields"]["kinderen_betrokken"]["value"] is True


# Rule 7: urgency and break-glass


def test_break_glass_needs_written_justification(shared_gw: TestGateway) -> None:
    r = disclose(
        shared_gw,
        "politie-wijkagent",
        "wvggz",
        "wvggz.man",
        sources=["ggz.behandeling"],
        urgency="spoed",
    )
    assert r.status_code == 403
    r = disclose(
        shared_gw,
        "politie-wijkagent",
        "wvggz",
        "wvggz.man",
        sources=["ggz.behandeling"],
        urgency="spoed",
        justification="Acute dreiging, betrokkene verward op straat",
    )
    assert r.status_code == 200
    body = r.json()
    assert body["review_required"] is True
    src = body["sources"][0]
    assert set(src["fields"]) == {"crisiskaart_contact"}
    assert src["fields"]["crisiskaart_contact"]["break_glass"] is True
    assert src["obligations"][0]["urgency_horizon"] == "PT15M"


def test_break_glass_is_flagged_in_the_public_ledger_header(gw: TestGateway) -> None:
    disclose(
        gw,
        "politie-wijkagent",
        "wvggz",
        "wvggz.man",
        sources=["ggz.behandeling"],
        urgency="spoed",
        justification="Acute dreiging",
    )
    last = list(gw.gateway.store.entries())[-1]
    assert last.facts.review is True and last.facts.outcome == "partial"


# Rule 8: every decision explains itself


def test_every_field_is_released_or_explained(shared_gw: TestGateway) -> None:
    r = disclose(shared_gw, "veiligthuis", "mda", "mda.ex_partner")
    catalog = shared_gw.gateway.catalog
    for src in r.json()["sources"]:
        offered = set(catalog.fields(src["source"]))
        if src["status"] == "released":
            assert set(src["fields"]) | set(src["withheld"]) == offered
            assert all(f["legal_basis"] for f in src["fields"].values())
        else:
            assert src["reasons"] or src["status"] == "no_record"


def test_ledger_body_names_the_trace_and_the_requester(gw: TestGateway) -> None:
    trace = "0af7651916cd43dd8448eb211c80319c"
    gw.client.post(
        "/v1/disclosures",
        json={"case_id": gw.case_ids["pga"], "bsn": demo_bsn("pga.veelpleger")},
        headers={**gw.auth("om-officier"), "traceparent": f"00-{trace}-b7ad6b7169203331-01"},
    )
    decision, fetch = list(gw.gateway.store.entries())[-2:]
    assert (decision.facts.action, fetch.facts.action) == (
        "disclosure.decision",
        "disclosure.fetch",
    )
    assert gw.ledgered(fetch.entry_hash)["trace_id"] == trace
    row = decision
    assert (
        row.facts.requester_oin == "00000099000000000003"
        and row.facts.purpose == "persoonsgerichte_aanpak"
    )
    assert demo_bsn("pga.veelpleger") not in json.dumps(entry_summary(row))
    body = gw.ledgered(row.entry_hash)
    assert body["trace_id"] == trace
    assert body["requester"]["role"] == "officier_van_justitie"
    assert {d["source"] for d in body["decisions"]} == set(
        gw.gateway.catalog.purpose_sources("persoonsgerichte_aanpak")
    )
    # The complete policy input, so the decision can be replayed exactly.
    assert body["input"]["case"]["stage"] == "plan"
    assert body["input"]["case"]["participants"] and "consents" in body["input"]["subject"]


def test_the_answer_is_the_response_models_own_serialisation(shared_gw: TestGateway) -> None:
    """The endpoint writes its answer with orjson, not through FastAPI's response model: the
    bytes must be the model's own, and a value orjson does not know is written as pydantic
    writes it."""
    from datetime import date
    from decimal import Decimal

    import orjson
    from pydantic import TypeAdapter

    from gateway.api.routers.disclosures import _jsonable
    from gateway.api.schemas import DisclosureOut

    r = disclose(shared_gw, "zaanstad-regie", "mda", "mda.ex_partner")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content == DisclosureOut.model_validate_json(r.content).model_dump_json().encode()
    odd = {"v": Decimal("1.50"), "d": date(2026, 11, 24), "b": b"x", "t": (1, "a")}
    assert orjson.dumps(odd, default=_jsonable) == TypeAdapter(dict[str, Any]).dump_json(odd)
