"""Signals through the API: registering, matching, what a match reveals, withdrawal, expiry,
the ledger, and a case started from a match."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gateway.clock import utc_now
from gateway.signals.decision import SignalDecision
from gateway.testing import TestGateway, synthetic_bsn

WOCO = "00000099000000000009"
ZAANSTAD = "00000099000000000001"
GGZ = "00000099000000000008"
CONTACT = {"name": "Team Vroegsignalering", "phone": "075-0000999"}


def register(gw: TestGateway, client: str, bsn: str, area: str, *, consent: bool = False) -> Any:
    body = {"bsn": bsn, "area": area, "contact": CONTACT, "consent": consent}
    return gw.client.post("/v1/signals", json=body, headers=gw.auth(client))


def test_two_partners_on_the_same_person_are_told_of_each_other_and_nothing_more(
    gw: TestGateway,
) -> None:
    bsn = synthetic_bsn(1)
    first = register(gw, "woco-consulent", bsn, "schulden")
    assert first.status_code == 201, first.text
    assert first.json()["matches"] == [] and first.json()["created"] is True
    second = register(gw, "zaanstad-regie", bsn, "overlast")
    assert second.status_code == 201
    (match,) = second.json()["matches"]
    # Exactly this, nothing about the concern: the other organisation, whom to call, the date
    # and (not sensitive) the area.
    assert set(match) == {"match_id", "signal_id", "matched_at", "status", "other"}
    assert match["signal_id"] == second.json()["signal"]["signal_id"]
    assert match["other"] == {
        "oin": WOCO,
        "organisation": "Woningcorporatie Parteon",
        "contact": CONTACT,
        "registered_on": first.json()["signal"]["registered_at"][:10],
        "area": "schulden",
    }
    pulled = gw.client.get("/v1/signals/matches", headers=gw.auth("woco-consulent")).json()
    (theirs,) = pulled["matches"]
    assert theirs["match_id"] == match["match_id"]
    assert theirs["other"]["oin"] == ZAANSTAD and theirs["other"]["area"] == "overlast"
    assert pulled["_links"] == {"next": None}
    for text in (first.text, second.text, str(pulled)):
        assert bsn not in text


def test_registering_again_is_the_same_signal(gw: TestGateway) -> None:
    bsn = synthetic_bsn(2)
    one = register(gw, "woco-consulent", bsn, "schulden")
    two = register(gw, "woco-consulent", bsn, "schulden")
    assert (one.status_code, two.status_code) == (201, 200)
    assert two.json()["created"] is False
    assert one.json()["signal"]["signal_id"] == two.json()["signal"]["signal_id"]
    listed = gw.client.get("/v1/signals", headers=gw.auth("woco-consulent")).json()["signals"]
    assert [s["signal_id"] for s in listed] == [one.json()["signal"]["signal_id"]]


def test_a_non_permitted_area_is_refused_clearly_and_ledgered(gw: TestGateway) -> None:
    before = gw.gateway.store.count()
    r = register(gw, "woco-consulent", synthetic_bsn(3), "psychische_gezondheid")
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/signal-refused")
    assert r.json()["reasons"] == ["area_not_permitted"]
    assert synthetic_bsn(3) not in r.text
    (entry,) = [e for e in gw.gateway.store.entries() if e.seq > before]
    assert entry.header.facts.action == "signal.register"
    assert entry.header.facts.outcome == "deny"
    body = gw.ledgered(entry.entry_hash)
    assert body["reasons"] == ["area_not_permitted"] and body["area"] == "psychische_gezondheid"
    assert gw.client.get("/v1/signals", headers=gw.auth("woco-consulent")).json()["signals"] == []


def test_an_unknown_area_and_a_bad_body_list_every_problem(gw: TestGateway) -> None:
    r = register(gw, "woco-consulent", synthetic_bsn(4), "geheim_dossier")
    assert r.status_code == 400 and r.json()["errors"][0]["location"] == "/area"
    bad = gw.client.post(
        "/v1/signals",
        json={"bsn": "123456789", "area": "Schulden!", "contact": {"phone": "x"}},
        headers=gw.auth("woco-consulent"),
    )
    assert bad.status_code == 400
    locations = {e["location"] for e in bad.json()["errors"]}
    assert {"/bsn", "/area", "/contact/name", "/contact/phone"} <= locations
    assert "123456789" not in bad.text


def test_ggz_signals_only_with_consent_and_its_area_stays_hidden_from_the_municipality(
    gw: TestGateway,
) -> None:
    bsn = synthetic_bsn(5)
    refused = register(gw, "ggz-behandelaar", bsn, "psychische_gezondheid")
    assert refused.status_code == 403 and refused.json()["reasons"] == ["consent_required"]
    ggz = register(gw, "ggz-behandelaar", bsn, "psychische_gezondheid", consent=True)
    assert ggz.status_code == 201
    # A housing corporation is never matched on mental health.
    assert register(gw, "woco-consulent", bsn, "schulden").json()["matches"] == []
    meldpunt = register(gw, "zaanstad-meldpunt", bsn, "psychische_gezondheid")
    (match,) = meldpunt.json()["matches"]
    assert match["other"]["oin"] == GGZ and match["other"]["area"] is None
    (theirs,) = gw.client.get("/v1/signals/matches", headers=gw.auth("ggz-behandelaar")).json()[
        "matches"
    ]
    assert theirs["other"]["oin"] == ZAANSTAD
    assert theirs["other"]["area"] == "psychische_gezondheid"  # GGZ is in revealed_to


def test_a_withdrawn_signal_stops_matching(gw: TestGateway) -> None:
    bsn = synthetic_bsn(6)
    sig = register(gw, "woco-consulent", bsn, "schulden").json()["signal"]["signal_id"]
    assert (
        gw.client.delete(f"/v1/signals/{sig}", headers=gw.auth("zaanstad-regie")).status_code == 404
    )  # another organisation's signal is not there for it
    gone = gw.client.delete(f"/v1/signals/{sig}", headers=gw.auth("woco-consulent"))
    assert gone.status_code == 200 and gone.json()["status"] == "withdrawn"
    again = gw.client.delete(f"/v1/signals/{sig}", headers=gw.auth("woco-consulent"))
    assert again.json()["status"] == "withdrawn"
    assert register(gw, "zaanstad-regie", bsn, "overlast").json()["matches"] == []
    actions = [e.header.facts.action for e in gw.new_entries()]
    assert actions.count("signal.withdraw") == 1
    # A new registration after withdrawal is a new signal.
    renewed = register(gw, "woco-consulent", bsn, "schulden")
    assert renewed.status_code == 201 and renewed.json()["signal"]["signal_id"] != sig
    assert len(renewed.json()["matches"]) == 1


def test_expired_signals_never_match_and_are_destroyed_after_keeping(gw: TestGateway) -> None:
    bsn = synthetic_bsn(7)
    sig = register(gw, "woco-consulent", bsn, "schulden").json()["signal"]
    signals = gw.gateway.signals
    run = signals.run_clock(utc_now() + timedelta(days=2 * 366 + 1))
    assert run.expired >= 1
    assert register(gw, "zaanstad-regie", bsn, "overlast").json()["matches"] == []
    listed = gw.client.get("/v1/signals", headers=gw.auth("woco-consulent")).json()["signals"]
    assert [s["status"] for s in listed if s["signal_id"] == sig["signal_id"]] == ["expired"]
    signals.run_clock(utc_now() + timedelta(days=5 * 366 + 1))
    listed = gw.client.get("/v1/signals", headers=gw.auth("woco-consulent")).json()["signals"]
    assert sig["signal_id"] not in {s["signal_id"] for s in listed}
    actions = [e.header.facts.action for e in gw.new_entries()]
    assert "signal.expire" in actions and "signal.destroy" in actions


def test_matches_are_paged_with_cursors(gw: TestGateway) -> None:
    for n in range(5):
        bsn = synthetic_bsn(100 + n)
        register(gw, "woco-consulent", bsn, "schulden")
        register(gw, "zaanstad-regie", bsn, "schulden")
    seen: list[str] = []
    url = "/v1/signals/matches?limit=2"
    while url:
        page = gw.client.get(url, headers=gw.auth("woco-consulent")).json()
        assert len(page["matches"]) <= 2
        seen += [m["match_id"] for m in page["matches"]]
        nxt = page["_links"]["next"]
        assert nxt is None or nxt["href"].startswith(gw.gateway.settings.resolved_public_url)
        url = "/v1" + nxt["href"].split("/v1", 1)[1] if nxt else ""
    assert len(seen) == len(set(seen)) == 5
    bad = gw.client.get(
        "/v1/signals/matches?cursor=bm90LWEtY3Vyc29y", headers=gw.auth("woco-consulent")
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["location"] == "/cursor"


def test_every_step_is_ledgered_and_registration_is_filed_under_the_person(
    gw: TestGateway,
) -> None:
    bsn = synthetic_bsn(8)
    register(gw, "woco-consulent", bsn, "schulden")
    register(gw, "zaanstad-regie", bsn, "overlast")
    entries = gw.new_entries()
    registrations = [e for e in entries if e.header.facts.action == "signal.register"]
    (match,) = [e for e in entries if e.header.facts.action == "signal.match"]
    from gateway.bsn import Bsn, Pseudonymiser

    person = Pseudonymiser(gw.gateway.keys.pseudonym_key).pseudonym(Bsn(bsn))
    assert [e.subject for e in registrations] == [person, person]
    assert match.subject == ""  # later entries name signals, not the person
    body = gw.ledgered(match.entry_hash)
    assert body["organisations"] == sorted(body["organisations"]) or len(body["organisations"]) == 2
    assert set(body["organisations"]) == {WOCO, ZAANSTAD}
    # The ledger's public header says nothing about the area or the person.
    for e in [*registrations, match]:
        assert e.header.facts.purpose == "" and e.header.facts.case_id == ""


def test_a_regisseur_starts_a_case_from_a_match(gw: TestGateway) -> None:
    bsn = synthetic_bsn(9)
    register(gw, "woco-consulent", bsn, "schulden")
    (match,) = register(gw, "zaanstad-regie", bsn, "schulden").json()["matches"]
    url = f"/v1/signals/matches/{match['match_id']}/case"
    wrong = gw.client.post(
        url,
        json={"bsn": synthetic_bsn(10), "purpose": "zvh_casusoverleg"},
        headers=gw.auth("zaanstad-regie"),
    )
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["location"] == "/bsn"
    outsider = gw.client.post(
        url, json={"bsn": bsn, "purpose": "zvh_casusoverleg"}, headers=gw.auth("politie-wijkagent")
    )
    assert outsider.status_code == 404
    made = gw.client.post(
        url, json={"bsn": bsn, "purpose": "zvh_casusoverleg"}, headers=gw.auth("zaanstad-regie")
    )
    assert made.status_code == 201, made.text
    case_id = made.json()["case_id"]
    woco_cases = gw.client.get("/v1/cases", headers=gw.auth("woco-consulent")).json()["cases"]
    (case,) = [c for c in woco_cases if c["case_id"] == case_id]
    assert [s["relation"] for s in case["subjects"]] == ["hoofdpersoon"]


@pytest.mark.parametrize("client", ["woco-consulent", "politie-wijkagent"])
def test_a_municipality_only_directs_the_case(gw: TestGateway, client: str) -> None:
    bsn = synthetic_bsn(11)
    register(gw, "zaanstad-regie", bsn, "overlast")
    (match,) = register(gw, client, bsn, "overlast").json()["matches"]
    r = gw.client.post(
        f"/v1/signals/matches/{match['match_id']}/case",
        json={"bsn": bsn, "purpose": "zvh_casusoverleg"},
        headers=gw.auth(client),
    )
    assert r.status_code == 403


def test_only_paging_parameters_pass_and_nothing_is_echoed(gw: TestGateway) -> None:
    headers = gw.auth("woco-consulent")
    for url in (
        "/v1/signals/matches?bsn=999990007",
        "/v1/signals/matches?limit=2&limit=3",
        "/v1/cases?limit=2",
        "/v1/signals/matches?limit=999990007",
    ):
        r = gw.client.get(url, headers=headers)
        assert r.status_code == 400, url
        assert "999990007" not in r.text


def test_an_organisation_not_matched_on_the_area_never_matches(gw: TestGateway) -> None:
    bsn = synthetic_bsn(12)
    assert register(gw, "politie-wijkagent", bsn, "criminaliteit").status_code == 201
    assert register(gw, "woco-consulent", bsn, "schulden").json()["matches"] == []
    assert (
        gw.client.get("/v1/signals/matches", headers=gw.auth("politie-wijkagent")).json()["matches"]
        == []
    )


def test_a_match_left_pending_is_decided_again_and_ledgered_or_dropped(gw: TestGateway) -> None:
    from sqlalchemy import delete, insert, select

    from gateway.signals.tables import signal_match

    bsn = synthetic_bsn(13)
    woco = register(gw, "woco-consulent", bsn, "schulden").json()["signal"]["signal_id"]
    (match,) = register(gw, "zaanstad-regie", bsn, "overlast").json()["matches"]
    police = register(gw, "politie-wijkagent", bsn, "criminaliteit").json()["signal"]["signal_id"]
    db = gw.gateway.db
    long_ago = "2026-01-01T00:00:00Z"
    with db.begin() as conn:
        row = dict(
            conn.execute(select(signal_match).where(signal_match.c.id == match["match_id"]))
            .one()
            ._mapping
        )
        conn.execute(delete(signal_match))
        # As a process that stopped between storing and ledgering would leave them (sealed:
        # the gateway wrote them).
        seals = gw.gateway.seals
        a, b = sorted([woco, police])
        for stored in (
            {**row, "state": "pending", "matched_at": long_ago},
            {
                "id": "match-" + "0" * 20,
                "signal_a": a,
                "signal_b": b,
                "org_a": "x",
                "org_b": "y",
                "reveal_to_a": True,
                "reveal_to_b": True,
                "matched_at": long_ago,
                "state": "pending",
            },
        ):
            seal = seals.seal("signal_match", stored)
            conn.execute(insert(signal_match).values(**{**stored, "seal": seal}))
    before = gw.gateway.store.count()
    run = gw.gateway.signals.run_clock()
    assert run.settled == 2
    with db.connect() as conn:
        left = conn.execute(select(signal_match.c.id, signal_match.c.state)).all()
    assert [(r.id, r.state) for r in left] == [(match["match_id"], "ledgered")]
    (entry,) = [e for e in gw.gateway.store.entries() if e.seq > before]
    assert entry.header.facts.action == "signal.match"
    assert (
        gw.client.get("/v1/signals/matches", headers=gw.auth("woco-consulent")).json()["matches"][
            0
        ]["match_id"]
        == match["match_id"]
    )


def test_the_ledger_entries_and_the_rows_they_record_commit_together(
    gw: TestGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import func, select

    from gateway.errors import LedgerUnavailable
    from gateway.signals.tables import signal

    service = gw.gateway.signals
    assert service._joined  # the default: entries and rows in one database, one transaction
    bsn = synthetic_bsn(14)
    register(gw, "woco-consulent", bsn, "schulden")
    before = gw.gateway.store.count()

    def fail(*_: object) -> None:
        raise LedgerUnavailable("the disk filled up half-way")

    monkeypatch.setattr(service, "_queue_deliveries", fail)
    r = register(gw, "zaanstad-regie", bsn, "overlast")
    assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")
    assert gw.gateway.store.count() == before  # neither the registration nor its match
    with gw.gateway.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(signal)).scalar_one() == 1
    monkeypatch.undo()
    assert len(register(gw, "zaanstad-regie", bsn, "overlast").json()["matches"]) == 1


def test_remembered_match_decisions_take_one_hop_and_match_the_same(
    gw: TestGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first pair asks the engine on the policy lane (read, decide, then commit: two hops
    to a thread); once the policy's answers are remembered, the read, the decisions and the
    commit take one — and the outcome, matches and ledger entries are the same."""
    service = gw.gateway.signals
    hops: list[str] = []
    run = service._run

    async def counted(fn: Any, *args: Any) -> Any:
        hops.append(fn.__name__)
        return await run(fn, *args)

    monkeypatch.setattr(service, "_run", counted)
    outcomes = []
    for n in (31, 32):
        bsn = synthetic_bsn(n)
        register(gw, "woco-consulent", bsn, "schulden")
        hops.clear()
        before = gw.gateway.ledger.store.count()
        second = register(gw, "zaanstad-regie", bsn, "overlast")
        assert second.status_code == 201, second.text
        (match,) = second.json()["matches"]
        written = gw.gateway.ledger.store.count() - before
        outcomes.append((list(hops), match["other"]["oin"], match["other"]["area"], written))
    first, then = outcomes
    assert first[0] == ["_read_and_commit_if_recalled", "_commit_registration"]
    assert then[0] == ["_read_and_commit_if_recalled"]
    assert first[1:] == then[1:] == (WOCO, "schulden", 2)  # registration + match entries


def test_a_recalled_decision_is_the_engines_and_a_tripped_memo_denies(gw: TestGateway) -> None:
    """The one-hop path's decisions: nothing remembered is None (ask the engine), a remembered
    answer is exactly the engine's, and a memo whose fail-closed switch tripped is a denial."""
    from gateway.signals.decision import parse, recalled_signal

    engine = gw.gateway.active.current.engine
    assert type(engine).__name__ == "MemoEngine"
    side = {"org_type": "woningcorporatie", "role": "woonconsulent", "area": "schulden"}
    other = {"org_type": "gemeente", "role": "procesregisseur", "area": "overlast"}
    asked = {"action": "match", "signal": side, "other": other}
    assert recalled_signal(engine, asked) is None
    answer = engine.evaluate_signal(asked)
    recalled = recalled_signal(engine, asked)
    assert recalled is not None and recalled == parse(answer)
    engine._tripped = True
    assert recalled_signal(engine, asked) == SignalDecision.deny("engine_error")
