"""Tamper drills on signals (ADR 0017): a signal or match written or changed behind the
gateway's back is never matched, told or sent; every change the gateway makes itself keeps
the rows sealed (registration, matching, withdrawal, expiry, key rotation)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select, text

from gateway.errors import RegistryTampered
from gateway.keys import SIGNAL_PSEUDONYM
from gateway.runtime import passphrase
from gateway.sealcheck import check_registry, inspect
from gateway.signals.rotation import Rotation, rotate_signal_keys
from gateway.signals.tables import signal, signal_match
from gateway.testing import TestGateway, synthetic_bsn

CONTACT = {"name": "Team Vroegsignalering", "phone": "075-0000999"}


def register(gw: TestGateway, client: str, bsn: str, area: str) -> Any:
    body = {"bsn": bsn, "area": area, "contact": CONTACT, "consent": False}
    r = gw.client.post("/v1/signals", json=body, headers=gw.auth(client))
    assert r.status_code == 201, r.text
    return r.json()


def rotate(gw: TestGateway) -> Rotation:
    """What `gateway signals rotate-key` does, on the test gateway."""
    settings = gw.gateway.settings
    return rotate_signal_keys(
        gw.gateway.db,
        gw.gateway.ledger,
        gw.gateway.signals.keys.keys,
        settings.keys_dir / SIGNAL_PSEUDONYM,
        passphrase(settings),
        gw.gateway.active.current.version,
        by="test",
        seals=gw.gateway.seals,
    )


def matches(gw: TestGateway, client: str) -> Any:
    return gw.client.get("/v1/signals/matches", headers=gw.auth(client))


def test_a_forged_match_tells_nobody_who_else_signals(each_db_gw: TestGateway) -> None:
    # The police and the housing corporation are never matched on these areas (the policy):
    # a match row written into the database would tell each of the other's signal and contact.
    gw = each_db_gw
    bsn = synthetic_bsn(21)
    police = register(gw, "politie-wijkagent", bsn, "criminaliteit")["signal"]["signal_id"]
    woco = register(gw, "woco-consulent", bsn, "schulden")["signal"]["signal_id"]
    assert matches(gw, "woco-consulent").json()["matches"] == []
    with gw.gateway.db.begin() as conn:
        orgs = dict(conn.execute(select(signal.c.id, signal.c.org_oin)).all())
        a, b = sorted([police, woco])
        conn.execute(
            insert(signal_match).values(
                id="match-" + "f" * 20,
                signal_a=a,
                signal_b=b,
                org_a=orgs[a],
                org_b=orgs[b],
                reveal_to_a=True,
                reveal_to_b=True,
                matched_at="2026-11-24T10:00:00Z",
                state="ledgered",
                seal="0" * 64,
            )
        )
    for client in ("woco-consulent", "politie-wijkagent"):
        r = matches(gw, client)
        assert r.status_code == 503 and "criminaliteit" not in r.text and "Team" not in r.text
    with pytest.raises(RegistryTampered):
        check_registry(gw.gateway.db, gw.gateway.seals)


def test_a_match_made_to_reveal_the_area_reveals_nothing(each_db_gw: TestGateway) -> None:
    # GGZ's area stays hidden from the municipality (the policy); flipping the bit in the row
    # must not show it.
    gw = each_db_gw
    bsn = synthetic_bsn(22)
    body = {"bsn": bsn, "area": "psychische_gezondheid", "contact": CONTACT, "consent": True}
    ggz = gw.client.post("/v1/signals", json=body, headers=gw.auth("ggz-behandelaar"))
    assert ggz.status_code == 201, ggz.text
    register(gw, "zaanstad-meldpunt", bsn, "psychische_gezondheid")
    (told,) = matches(gw, "zaanstad-meldpunt").json()["matches"]
    assert told["other"].get("area") is None
    with gw.gateway.db.begin() as conn:
        conn.execute(text("UPDATE signal_match SET reveal_to_a = true, reveal_to_b = true"))
    r = matches(gw, "zaanstad-meldpunt")
    assert r.status_code == 503 and "psychische_gezondheid" not in r.text


def test_a_forged_signal_is_never_matched(each_db_gw: TestGateway) -> None:
    gw = each_db_gw
    bsn = synthetic_bsn(23)
    register(gw, "woco-consulent", bsn, "schulden")
    with gw.gateway.db.begin() as conn:
        conn.execute(text("UPDATE signal SET active_until = '2099-01-01T00:00:00Z'"))
    body = {"bsn": bsn, "area": "overlast", "contact": CONTACT, "consent": False}
    r = gw.client.post("/v1/signals", json=body, headers=gw.auth("zaanstad-regie"))
    assert r.status_code == 503 and "Parteon" not in r.text
    assert not [e for e in gw.new_entries() if e.header.facts.action == "signal.match"]
    report = inspect(gw.gateway.db, gw.gateway.seals)
    assert report.mismatched["signal"] == 1


def test_what_the_gateway_changes_itself_stays_sealed(each_db_gw: TestGateway) -> None:
    gw = each_db_gw
    bsn = synthetic_bsn(24)
    first = register(gw, "woco-consulent", bsn, "schulden")["signal"]["signal_id"]
    assert len(register(gw, "zaanstad-regie", bsn, "overlast")["matches"]) == 1
    gone = gw.client.delete(f"/v1/signals/{first}", headers=gw.auth("woco-consulent"))
    assert gone.status_code == 200
    gw.gateway.signals.run_clock()
    assert rotate(gw).rekeyed == 2
    report = check_registry(gw.gateway.db, gw.gateway.seals)
    assert report.checked["signal"] == 2 and report.checked["signal_match"] == 1


def test_a_rotation_does_not_launder_a_forged_signal(each_db_gw: TestGateway) -> None:
    gw = each_db_gw
    register(gw, "woco-consulent", synthetic_bsn(25), "schulden")
    with gw.gateway.db.begin() as conn:
        conn.execute(text('UPDATE signal SET contact = \'{"name": "Mallory"}\''))
    before = gw.gateway.store.count()
    with pytest.raises(RegistryTampered):
        rotate(gw)
    assert gw.gateway.store.count() == before  # refused before anything was ledgered
    assert inspect(gw.gateway.db, gw.gateway.seals).mismatched["signal"] == 1
