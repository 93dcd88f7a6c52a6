"""Retention by crypto-shredding: old periods become unreadable, the ledger still verifies."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.audit.retention import due, shred
from gateway.catalog import Catalog
from gateway.db import create_schema, make_engine
from gateway.errors import BodyShredded
from gateway.ledger.checkpoint import check_against, tree_state
from gateway.ledger.integrity import new_checkpoint
from gateway.ledger.periods import open_entry
from gateway.ledger.stores import store_for
from gateway.ledger.verify import verify_store
from gateway.ledger.writer import Ledger
from gateway.testing import sample_record

SIGNING = Ed25519PrivateKey.generate()
AUDITOR = X25519PrivateKey.generate()
CATALOG = Catalog({"purposes": {"mda_plus_plus": {"retention_years": 5}}})


def test_old_periods_are_shredded_and_the_ledger_still_verifies(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'l.db'}")
    create_schema(engine)
    store = store_for(engine)
    times = iter(["2019-03-04T10:00:00.000000Z"] * 3 + ["2026-11-01T10:00:00.000000Z"] * 2)
    ledger = Ledger(store, SIGNING, AUDITOR.public_key(), clock=lambda: next(times))
    for i in range(5):
        ledger.append(sample_record(i))
    checkpoint = new_checkpoint(store, SIGNING, AUDITOR.public_key())

    listed = due(store, CATALOG, date(2026, 11, 22))
    assert [(p.scope, p.period) for p in listed] == [("mda_plus_plus", "2019-03")]
    assert due(store, CATALOG, date(2024, 3, 31)) == []  # 2019-03 ends 2019-04-01, +5 years
    shred(store, listed)

    for entry in store.entries():
        if entry.time.startswith("2019"):
            with pytest.raises(BodyShredded):
                open_entry(store, entry, AUDITOR)
            # The subject index went with the key: the hashed commitment names nobody now.
            assert entry.subject is None and entry.subject_salt is None
        else:
            assert open_entry(store, entry, AUDITOR)
            assert entry.subject == "ab" * 32
    key = SIGNING.public_key()
    assert verify_store(store, key).entries == 5
    check_against(tree_state(store.entry_hashes(), checkpoint.size), checkpoint, key)
    assert due(store, CATALOG, date(2026, 11, 22)) == []  # nothing left to destroy


def test_a_subject_index_removed_outside_retention_is_caught(tmp_path: Path) -> None:
    from sqlalchemy import text

    from gateway.errors import LedgerCorrupted

    engine = make_engine(f"sqlite:///{tmp_path / 'l.db'}")
    create_schema(engine)
    store = store_for(engine)
    ledger = Ledger(store, SIGNING, AUDITOR.public_key())
    for i in range(3):
        ledger.append(sample_record(i))
    with engine.begin() as conn:  # hiding entry 2 from a data subject's access report
        conn.execute(text("UPDATE ledger_entry SET subject=NULL, subject_salt=NULL WHERE seq=2"))
    with pytest.raises(LedgerCorrupted, match="not shredded") as info:
        verify_store(store, SIGNING.public_key())
    assert info.value.sequence == 2


def test_the_retention_command_and_reports_after_shredding(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from gateway.cli import app
    from gateway.testing import TEST_AUDITOR_PASSPHRASE, demo_bsn, make_test_gateway

    gw = make_test_gateway(tmp_path)
    r = gw.client.post(
        "/v1/disclosures",
        json={"case_id": gw.case_ids["pga"], "bsn": demo_bsn("pga.veelpleger")},
        headers=gw.auth("zaanstad-regie"),
    )
    assert r.status_code == 200
    gw.close()
    runner, home = CliRunner(), ["--home", str(tmp_path)]
    assert "no period" in runner.invoke(app, ["audit", "retention", *home]).output
    later = ["--today", "2099-01-01"]
    listed = runner.invoke(app, ["audit", "retention", *home, *later])
    assert "persoonsgerichte_aanpak" in listed.output and "list only" in listed.output
    applied = runner.invoke(app, ["audit", "retention", *home, *later, "--apply"])
    assert applied.exit_code == 0 and "destroyed" in applied.output
    env = {"GATEWAY_AUDITOR_PASSPHRASE": TEST_AUDITOR_PASSPHRASE.decode()}
    report = runner.invoke(
        app, ["audit", "report", *home], input=demo_bsn("pga.veelpleger") + "\n", env=env
    )
    assert report.exit_code == 0, report.output
    doc = json.loads(report.output)
    assert doc["disclosures"] == []  # the person's entries can no longer be found …
    destroyed = {p["purpose"] for p in doc["destroyed_periods"]}  # … and the report says why
    assert "persoonsgerichte_aanpak" in destroyed
    assert runner.invoke(app, ["ledger", "verify", *home]).exit_code == 0
