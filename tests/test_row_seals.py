"""Tamper drills on the registry (ADR 0017): a client or case row changed behind the gateway's
back releases nothing, stops the next start, and is named by `gateway registry check`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, text
from typer.testing import CliRunner

from gateway.cli import app
from gateway.errors import RegistryTampered
from gateway.rowseals import RowSeals, sealed
from gateway.runtime import build_gateway
from gateway.sealcheck import check_registry, inspect, seal_unsealed
from gateway.settings import Settings
from gateway.testing import TestGateway, demo_bsn, synthetic_bsn

PERSON = "mda.ex_partner"


def test_a_seal_changes_with_every_value_and_every_kind() -> None:
    seals = RowSeals.of(Ed25519PrivateKey.generate())
    row: dict[str, Any] = {
        "id": "case-1",
        "purpose": "p",
        "stage": "s",
        "status": "open",
        "regisseur_oin": "1" * 20,
    }
    members = ["1" * 20, "2" * 20]

    def case(**change: Any) -> str:
        participants = change.pop("participants", members)
        return seals.seal("case", {**row, **change}, participants=participants)

    base = case()
    assert case(participants=["2" * 20, "1" * 20]) == base  # a set
    assert seals.seal("case", {**row, "updated_at": "x"}, participants=members) == base
    for name, other in [
        ("id", "case-2"),
        ("purpose", "q"),
        ("stage", "t"),
        ("status", "closed"),
        ("regisseur_oin", "2" * 20),
        ("participants", ["1" * 20]),
        ("participants", ["1" * 20, "2" * 20, "3" * 20]),
    ]:
        assert case(**{name: other}) != base, name
    subject: dict[str, Any] = {
        "case_id": "case-1",
        "subject": "pseudo",
        "subject_ref": "subj-1",
        "relation": "hoofdpersoon",
        "minor": False,
        "bsn_sealed": "{}",
    }
    link = seals.seal("case_subject", subject, consents=[])
    assert seals.seal("case_subject", {**subject, "minor": 0}, consents=[]) == link  # a driver's 0
    for name, other in [("minor", True), ("subject", "x")]:
        assert seals.seal("case_subject", {**subject, name: other}, consents=[]) != link, name
    assert seals.seal("case_subject", subject, consents=["ggz.behandeling"]) != link
    assert seals.seal("client_webhook", {"client_id": "case-1", "url": "p", "created_at": "s"}) != (
        seals.seal(
            "break_glass_review",
            {
                "entry_hash": "case-1",
                "verdict": "p",
                "note": "s",
                "reviewer": "",
                "reviewed_at": "",
            },
        )
    )  # the kind is sealed too
    other_instance = RowSeals.of(Ed25519PrivateKey.generate())
    assert other_instance.seal("case", row, participants=members) != base  # per instance
    flipped = base[:-1] + ("1" if base[-1] == "0" else "0")
    assert not sealed(None, base) and not sealed(flipped, base) and sealed(base, base)
    assert seals.check("case", {**row, "seal": base}, participants=members)
    assert not seals.check("case", {**row, "seal": None}, participants=members)


def _write(gw: TestGateway, sql: str, **params: Any) -> None:
    with gw.gateway.db.begin() as conn:
        conn.execute(text(sql), params)


def _outsider(conn: Connection, case_id: str) -> tuple[str, str]:
    members = {r[0] for r in conn.execute(text("SELECT oin FROM case_participant"))}
    inside = {
        r[0]
        for r in conn.execute(
            text("SELECT oin FROM case_participant WHERE case_id = :c"), {"c": case_id}
        )
    }
    for client_id, oin in conn.execute(text("SELECT client_id, oin FROM client")):
        if oin not in inside and oin in members:
            return client_id, oin
    raise AssertionError("the demo has an organisation outside the MDA++ case")


def _restart_refused(gw: TestGateway) -> None:
    gw.gateway.close()
    with pytest.raises(RegistryTampered):
        build_gateway(gw.gateway.settings, connectors={})


def test_a_client_made_another_organisation_gets_no_token(each_db_gw: TestGateway) -> None:
    gw = each_db_gw
    body = {"case_id": gw.case_ids["mda"], "bsn": demo_bsn(PERSON)}
    # The drill that found it: a GGD client given the municipality's OIN, type and role in the
    # database was issued a token as the municipality and got the family overview.
    _write(
        gw,
        "UPDATE client SET (oin, organisation, org_type, role) = "
        "(SELECT oin, organisation, org_type, role FROM client WHERE client_id = 'zaanstad-regie')"
        " WHERE client_id = 'ggd-oggz'",
    )
    with pytest.raises(RegistryTampered):
        gw.auth("ggd-oggz")
    secret = gw.gateway.settings.var_dir / "demo-secrets.json"
    import json

    password = json.loads(secret.read_text())["clients"]["ggd-oggz"]
    r = gw.client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("ggd-oggz", password),
    )
    assert r.status_code == 503 and "registry-integrity" in r.json()["type"]
    assert "access_token" not in r.text
    # The other clients are untouched and still served.
    ok = gw.client.post("/v1/disclosures", json=body, headers=gw.auth("zaanstad-regie"))
    assert ok.status_code == 200
    _restart_refused(gw)


Tamper = Callable[[TestGateway, str, str], None]


def _participant(gw: TestGateway, case_id: str, oin: str) -> None:
    _write(gw, "INSERT INTO case_participant (case_id, oin) VALUES (:c, :o)", c=case_id, o=oin)


def _stage(gw: TestGateway, case_id: str, oin: str) -> None:
    _write(gw, "UPDATE \"case\" SET stage = 'aanmelding' WHERE id = :c", c=case_id)


def _consent(gw: TestGateway, case_id: str, oin: str) -> None:
    _write(
        gw,
        "INSERT INTO case_consent (case_id, subject, source, recorded_at, recorded_by) "
        "SELECT case_id, subject, 'ggz.behandeling', '2026-01-01', :o FROM case_subject "
        "WHERE case_id = :c",
        c=case_id,
        o=oin,
    )


def _minor(gw: TestGateway, case_id: str, oin: str) -> None:
    _write(gw, "UPDATE case_subject SET minor = NOT minor WHERE case_id = :c", c=case_id)


def _blob(gw: TestGateway, case_id: str, oin: str) -> None:
    # Bytes where text belongs, as a sqlite3 shell can write: no seal covers them (not a 500).
    _write(gw, 'UPDATE "case" SET stage = CAST(stage AS BLOB) WHERE id = :c', c=case_id)


@pytest.mark.parametrize("tamper", [_participant, _stage, _consent, _minor, _blob])
def test_a_case_changed_behind_the_gateways_back_releases_nothing(
    each_db_gw: TestGateway, tamper: Tamper
) -> None:
    gw = each_db_gw
    if tamper is _blob and gw.gateway.db.dialect.name != "sqlite":
        pytest.skip("a PostgreSQL text column holds no bytes")
    case_id = gw.case_ids["mda"]
    with gw.gateway.db.connect() as conn:
        outsider, oin = _outsider(conn, case_id)
    body = {"case_id": case_id, "bsn": demo_bsn(PERSON)}
    headers = gw.auth("zaanstad-regie")
    tamper(gw, case_id, oin)
    released = gw.gateway.store.count()
    for who in (headers, gw.auth(outsider)):
        r = gw.client.post("/v1/disclosures", json=body, headers=who)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert "sources" not in r.json() and case_id not in r.text
    assert gw.gateway.store.count() == released  # nothing was decided, nothing fetched
    assert gw.client.get("/v1/cases", headers=headers).status_code == 503
    # The regisseur's next change does not launder the row with a fresh seal: a change to the
    # case checks the case's seal first; one to a linked person's row leaves that row as it is.
    moved = gw.client.patch(f"/v1/cases/{case_id}", json={"stage": "afgesloten"}, headers=headers)
    if tamper in (_participant, _stage, _blob):
        assert moved.status_code == 503
    assert not inspect(gw.gateway.db, gw.gateway.seals).sound
    _restart_refused(gw)


def test_other_cases_are_served_while_one_fails_its_seal(each_db_gw: TestGateway) -> None:
    gw = each_db_gw
    _stage(gw, gw.case_ids["mda"], "")
    other = {"case_id": gw.case_ids["wvggz"], "bsn": demo_bsn("wvggz.man")}
    r = gw.client.post("/v1/disclosures", json=other, headers=gw.auth("politie-wijkagent"))
    assert r.status_code == 200 and r.json()["sources"]
    # A request about a case that is not there has no seal to fail on: the outsider's answer.
    body = {"case_id": "case-nothere", "bsn": demo_bsn(PERSON)}
    r = gw.client.post("/v1/disclosures", json=body, headers=gw.auth("zaanstad-regie"))
    assert r.status_code == 403


def test_rows_of_no_case_are_a_mismatch(gw: TestGateway) -> None:
    # SQLite's (conftest's gw): a hand can write a row there that breaks a foreign key.
    # As a hand with the sqlite3 shell writes it: foreign keys are not enforced there.
    with gw.gateway.db.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
        conn.execute(
            text("INSERT INTO case_participant (case_id, oin) VALUES ('case-ghost', :o)"),
            {"o": "1" * 20},
        )
        conn.commit()
        conn.exec_driver_sql("PRAGMA foreign_keys = ON")
    report = inspect(gw.gateway.db, gw.gateway.seals)
    assert report.mismatched["case"] == 1 and not report.sound
    body = {"case_id": "case-ghost", "bsn": demo_bsn(PERSON)}
    r = gw.client.post("/v1/disclosures", json=body, headers=gw.auth("zaanstad-regie"))
    assert r.status_code == 503


def test_rows_from_before_seals_are_sealed_once_by_the_operator(each_db_gw: TestGateway) -> None:
    gw = each_db_gw
    settings: Settings = gw.gateway.settings
    home = ["--home", str(settings.home)]
    runner = CliRunner(env={"GATEWAY_DATABASE_URL": settings.resolved_database_url})
    bsn = synthetic_bsn(31)
    for client, area in (("woco-consulent", "schulden"), ("zaanstad-regie", "overlast")):
        body = {"bsn": bsn, "area": area, "contact": {"name": "Team"}, "consent": False}
        assert gw.client.post("/v1/signals", json=body, headers=gw.auth(client)).status_code == 201
    tables = ("client", '"case"', "case_subject", "policy_activation", "signal", "signal_match")
    for table in tables:
        # As migrations 0005, 0009 and 0010 leave them (fixed table names).
        _write(gw, f"UPDATE {table} SET seal = NULL")  # noqa: S608
    unsealed = inspect(gw.gateway.db, gw.gateway.seals).unsealed
    assert unsealed["signal"] == 2 and unsealed["signal_match"] == 1
    gw.gateway.close()
    with pytest.raises(RegistryTampered, match="gateway registry seal"):
        build_gateway(settings, connectors={})
    assert runner.invoke(app, ["registry", "check", *home]).exit_code == 88
    dry = runner.invoke(app, ["registry", "seal", *home])
    assert dry.exit_code == 0 and "would seal" in dry.stdout
    assert runner.invoke(app, ["registry", "check", *home]).exit_code == 88  # nothing written
    done = runner.invoke(app, ["registry", "seal", "--yes", *home])
    assert done.exit_code == 0, done.output
    check = runner.invoke(app, ["registry", "check", *home])
    assert check.exit_code == 0 and "registry sound" in check.stdout
    build_gateway(settings, connectors={}).close()


def test_sealing_refuses_when_a_sealed_row_was_changed(each_db_gw: TestGateway) -> None:
    gw = each_db_gw
    _write(gw, "UPDATE client SET seal = NULL WHERE client_id = 'ggd-oggz'")
    _write(gw, "UPDATE client SET role = 'officier' WHERE client_id = 'politie-wijkagent'")
    with pytest.raises(RegistryTampered, match="not sealing"):
        seal_unsealed(gw.gateway.db, gw.gateway.seals)
    report = inspect(gw.gateway.db, gw.gateway.seals)
    assert report.unsealed["client"] == 1 and report.mismatched["client"] == 1  # unchanged
    with pytest.raises(RegistryTampered):
        check_registry(gw.gateway.db, gw.gateway.seals)
