"""Signal pseudonyms: stable under one key, unlinkable under another, rotated without BSNs, and
a key file that does not belong to the database stops the gateway at start-up."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from gateway.bsn import Bsn
from gateway.cli import app
from gateway.errors import ConfigurationError, KeyUnavailable
from gateway.keys import SIGNAL_PSEUDONYM, WEBHOOK_SIGNING, load_keyring, read_signal_keys
from gateway.settings import Settings
from gateway.signals.pseudonyms import SignalKeys, rekey
from gateway.testing import TestGateway, make_test_gateway, synthetic_bsn

runner = CliRunner()
KEY = st.binary(min_size=32, max_size=32)
BSN = st.integers(min_value=0, max_value=999_999).map(lambda n: Bsn(synthetic_bsn(n)))


@given(key=KEY, other=KEY, bsn=BSN)
def test_stable_under_one_key_and_unlinkable_under_another(
    key: bytes, other: bytes, bsn: Bsn
) -> None:
    one = SignalKeys((key,))
    assert one.pseudonym(bsn) == SignalKeys((key,)).pseudonym(bsn)
    if other != key:
        assert one.pseudonym(bsn) != SignalKeys((other,)).pseudonym(bsn)
        assert one.fingerprint != SignalKeys((other,)).fingerprint


@given(key=KEY, new=KEY, a=BSN, b=BSN)
def test_a_rotation_rekeys_from_the_stored_value_alone(
    key: bytes, new: bytes, a: Bsn, b: Bsn
) -> None:
    old = SignalKeys((key,))
    rotated = old.rotated(new)
    assert rotated.pseudonym(a) == rekey(new, old.pseudonym(a))
    assert rotated.generation == 2
    assert (rotated.pseudonym(a) == rotated.pseudonym(b)) == (a == b)
    assert SignalKeys.from_bytes(rotated.to_bytes()) == rotated


def test_a_pseudonym_is_not_a_plain_hash_of_the_bsn() -> None:
    import hashlib

    bsn = Bsn(synthetic_bsn(1))
    keyed = SignalKeys((os.urandom(32),)).pseudonym(bsn)
    for plain in (bsn.digits, "signal-bsn:" + bsn.digits):
        assert keyed != hashlib.sha256(plain.encode()).hexdigest()


def _register(gw: TestGateway, client: str, bsn: str, area: str) -> list[dict[str, object]]:
    body = {"bsn": bsn, "area": area, "contact": {"name": "Team"}}
    r = gw.client.post("/v1/signals", json=body, headers=gw.auth(client))
    assert r.status_code in (200, 201), r.text
    return list(r.json()["matches"])


def _stored(gw: TestGateway) -> list[str]:
    from sqlalchemy import select

    from gateway.signals.tables import signal

    with gw.gateway.db.connect() as conn:
        return list(conn.execute(select(signal.c.pseudonym).order_by(signal.c.id)).scalars())


def test_rotation_rekeys_every_signal_and_matching_goes_on(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path)
    bsn = synthetic_bsn(21)
    try:
        _register(gw, "woco-consulent", bsn, "schulden")
        before = _stored(gw)
        # A second process rotates the key while this gateway serves.
        r = runner.invoke(app, ["signals", "rotate-key", "--home", str(tmp_path)])
        assert r.exit_code == 0, r.output
        assert "generation 2" in r.stdout and "1 signals re-keyed" in r.stdout
        after = _stored(gw)
        assert after != before and len(after) == 1
        # The serving gateway finds the new chain (the database names it) and still matches.
        assert len(_register(gw, "zaanstad-regie", bsn, "overlast")) == 1
        rotations = [
            e for e in gw.gateway.store.entries() if e.header.facts.action == "signal_key.rotate"
        ]
        assert len(rotations) == 1
        body = gw.ledgered(rotations[0].entry_hash)
        assert body["generation"] == 2 and body["signals"] == 1
    finally:
        gw.close()
    assert not (tmp_path / "keys" / (SIGNAL_PSEUDONYM + ".next")).exists()


def test_a_key_file_that_does_not_belong_to_the_database_stops_start_up(tmp_path: Path) -> None:
    make_test_gateway(tmp_path).close()
    keys = tmp_path / "keys"
    shutil.copy(keys / SIGNAL_PSEUDONYM, tmp_path / "saved.key")
    runner.invoke(app, ["signals", "rotate-key", "--home", str(tmp_path)])
    shutil.copy(tmp_path / "saved.key", keys / SIGNAL_PSEUDONYM)  # the old file put back
    with pytest.raises(ConfigurationError, match="not the key the stored signals were made with"):
        make_test_gateway(tmp_path)


def test_an_interrupted_rotation_is_finished_or_forgotten_at_start_up(tmp_path: Path) -> None:
    from gateway.signals.rotation import check_signal_keys

    gw = make_test_gateway(tmp_path)
    path = tmp_path / "keys" / SIGNAL_PSEUDONYM
    old = SignalKeys.from_bytes(read_signal_keys(path, None))
    db = gw.gateway.db
    try:
        nxt = path.with_name(path.name + ".next")
        shutil.copy(path, nxt)  # a .next file whose rotation never committed
        assert check_signal_keys(db, old, path, None) == old
        assert not nxt.exists()
        # A rotation that committed but did not put its key in place.
        from sqlalchemy import update

        from gateway.keys import write_signal_keys
        from gateway.signals.tables import signal_key_state

        new = old.rotated(os.urandom(32))
        write_signal_keys(nxt, new.to_bytes(), None)
        with db.begin() as conn:
            conn.execute(update(signal_key_state).values(fingerprint=new.fingerprint))
        assert check_signal_keys(db, old, path, None) == new
        assert not nxt.exists() and SignalKeys.from_bytes(read_signal_keys(path, None)) == new
    finally:
        gw.close()


def test_keys_init_missing_adds_the_new_keys_to_an_old_key_directory(tmp_path: Path) -> None:
    make_test_gateway(tmp_path).close()
    keys = tmp_path / "keys"
    (keys / SIGNAL_PSEUDONYM).unlink()
    (keys / WEBHOOK_SIGNING).unlink()
    with pytest.raises(KeyUnavailable, match="keys init --missing"):
        load_keyring(keys, None)
    untouched = (keys / "ledger-signing.key").read_bytes()
    r = runner.invoke(app, ["keys", "init", "--missing", "--home", str(tmp_path)])
    assert r.exit_code == 0 and r.stdout.count("wrote") == 2
    assert (keys / "ledger-signing.key").read_bytes() == untouched
    assert load_keyring(keys, None).signal_keys
    again = runner.invoke(app, ["keys", "init", "--missing", "--home", str(tmp_path)])
    assert "no key was missing" in again.stdout
    assert Settings(home=tmp_path).keys_dir == keys
