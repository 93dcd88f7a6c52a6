"""Rollback, truncation, wiping and forks: invisible to the chain alone (each leaves a chain
that verifies), caught against a checkpoint, and refused by a server before it appends."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from gateway.cli import app
from gateway.db import create_schema, make_engine
from gateway.errors import LedgerCorrupted, LedgerUnavailable
from gateway.ledger.checkpoint import Checkpoint, CheckpointDir, check_against, tree_state
from gateway.ledger.integrity import check_startup, new_checkpoint
from gateway.ledger.stores import store_for
from gateway.ledger.verify import verify_store
from gateway.ledger.writer import Ledger
from gateway.testing import sample_record

SIGNING = Ed25519PrivateKey.generate()
AUDITOR = X25519PrivateKey.generate().public_key()
KEY = SIGNING.public_key()


def ledger_at(path: Path, entries: int, offset: int = 0) -> tuple[Engine, Ledger]:
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    store = store_for(engine)
    ledger = Ledger(store, SIGNING, AUDITOR)
    ledger.observe(check_startup(store, KEY, CheckpointDir(path.parent / "none")))
    for i in range(entries):
        ledger.append(sample_record(offset + i))
    return engine, ledger


def chain_verifies(engine: Engine) -> int:
    return verify_store(store_for(engine), KEY).entries


def against(engine: Engine, checkpoint: Checkpoint) -> None:
    check_against(tree_state(store_for(engine).entry_hashes(), checkpoint.size), checkpoint, KEY)


def checkpoint_of(engine: Engine) -> Checkpoint:
    return new_checkpoint(store_for(engine), SIGNING, AUDITOR)


def sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def test_an_honest_ledger_keeps_matching_its_checkpoints(tmp_path: Path) -> None:
    engine, ledger = ledger_at(tmp_path / "l.db", 5)
    first = checkpoint_of(engine)
    for i in range(4):
        ledger.append(sample_record(100 + i))
    against(engine, first)  # a grown ledger still holds the older checkpoint's entries
    second = checkpoint_of(engine)
    assert (first.size, second.size) == (5, 9) and second.signature_valid(KEY)
    against(engine, second)


def test_restoring_an_older_copy_is_caught(tmp_path: Path) -> None:
    engine, ledger = ledger_at(tmp_path / "l.db", 3)
    ledger.store.close()
    engine.dispose()
    shutil.copy(tmp_path / "l.db", tmp_path / "backup.db")
    for i in range(3):
        ledger.append(sample_record(10 + i))
    checkpoint = checkpoint_of(engine)
    ledger.store.close()
    engine.dispose()
    shutil.copy(tmp_path / "backup.db", tmp_path / "l.db")
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"l.db{suffix}").unlink(missing_ok=True)
    restored = make_engine(f"sqlite:///{tmp_path / 'l.db'}")
    assert chain_verifies(restored) == 3  # the chain alone cannot tell
    with pytest.raises(LedgerCorrupted, match="entries were removed or an older copy"):
        against(restored, checkpoint)


def test_truncation_with_the_old_head_restored_is_caught(tmp_path: Path) -> None:
    engine, ledger = ledger_at(tmp_path / "l.db", 3)
    with engine.connect() as conn:
        old_head = conn.execute(text("SELECT seq, entry_hash, signature FROM ledger_head")).one()
    for i in range(3):
        ledger.append(sample_record(10 + i))
    checkpoint = checkpoint_of(engine)
    sql(engine, "DELETE FROM ledger_entry WHERE seq > 3")
    sql(
        engine,
        "UPDATE ledger_head SET seq=:seq, entry_hash=:hash, signature=:sig",
        seq=old_head[0],
        hash=old_head[1],
        sig=old_head[2],
    )
    assert chain_verifies(engine) == 3
    with pytest.raises(LedgerCorrupted):
        against(engine, checkpoint)
    # A server that was running on it refuses to append on top of the cut ledger ...
    with pytest.raises(LedgerUnavailable, match="went back"):
        ledger.append(sample_record(99))
    # ... and a restarted one refuses to start.
    checkpoints = CheckpointDir(tmp_path / "checkpoints")
    checkpoints.write(checkpoint)
    with pytest.raises(LedgerCorrupted):
        check_startup(store_for(engine), KEY, checkpoints)


def test_wiping_everything_is_caught(tmp_path: Path) -> None:
    engine, _ = ledger_at(tmp_path / "l.db", 4)
    checkpoint = checkpoint_of(engine)
    sql(engine, "DELETE FROM ledger_entry")
    sql(engine, "DELETE FROM ledger_head")
    assert chain_verifies(engine) == 0
    with pytest.raises(LedgerCorrupted):
        against(engine, checkpoint)


def test_a_rewritten_history_with_the_signing_key_is_a_fork(tmp_path: Path) -> None:
    honest, _ = ledger_at(tmp_path / "a" / "l.db", 6)
    checkpoint = new_checkpoint(store_for(honest), SIGNING, AUDITOR)
    # Whoever holds the signing key can build a different chain of the same length that
    # verifies on its own; the checkpoint's root still tells them apart.
    forged, _ = ledger_at(tmp_path / "b" / "l.db", 7, offset=50)
    assert chain_verifies(forged) == 7
    with pytest.raises(LedgerCorrupted, match="rewritten"):
        against(forged, checkpoint)


def test_a_head_that_names_no_entry_stops_appends_and_start_up(tmp_path: Path) -> None:
    engine, ledger = ledger_at(tmp_path / "l.db", 3)
    sql(engine, "DELETE FROM ledger_entry WHERE seq = 3")
    with pytest.raises(LedgerUnavailable, match="does not name its last entry"):
        ledger.append(sample_record(9))
    with pytest.raises(LedgerCorrupted, match="names entry 3"):
        check_startup(store_for(engine), KEY, CheckpointDir(tmp_path / "none"))


def test_a_checkpoint_from_another_key_or_edited_is_refused(tmp_path: Path) -> None:
    engine, _ = ledger_at(tmp_path / "l.db", 2)
    checkpoint = checkpoint_of(engine)
    other = new_checkpoint(store_for(engine), Ed25519PrivateKey.generate(), AUDITOR)
    edited = Checkpoint(**{**checkpoint.__dict__, "size": 1})
    for bad in (other, edited):
        with pytest.raises(LedgerCorrupted, match="not signed"):
            against(engine, bad)


def test_checkpoints_are_never_overwritten(tmp_path: Path) -> None:
    engine, _ = ledger_at(tmp_path / "l.db", 2)
    directory = CheckpointDir(tmp_path / "cp")
    path = directory.write(checkpoint_of(engine))
    before = path.read_bytes()
    directory.write(checkpoint_of(engine))  # same size, later time
    assert path.read_bytes() == before and path.stat().st_mode & 0o077 == 0


def test_two_checkpoints_of_one_ledger_are_consistent_and_a_fork_is_not(
    tmp_path: Path,
) -> None:

    home = tmp_path / "home"
    (home / "keys").mkdir(parents=True)
    pub = home / "ledger.pub"

    pub.write_bytes(
        KEY.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    engine, ledger = ledger_at(home / "l.db", 3)
    old = CheckpointDir(tmp_path / "cp").write(checkpoint_of(engine))
    for i in range(4):
        ledger.append(sample_record(20 + i))
    new = CheckpointDir(tmp_path / "cp").write(checkpoint_of(engine))
    db = ["--database-url", f"sqlite:///{home / 'l.db'}", "--public-key", str(pub)]
    r = CliRunner().invoke(app, ["ledger", "consistency", str(old), str(new), *db])
    assert r.exit_code == 0, r.output
    assert '"size": 7' in r.output
    # An "old" checkpoint from a different history of three entries does not fit.
    forked, _ = ledger_at(tmp_path / "fork" / "l.db", 3, offset=90)
    fork = CheckpointDir(tmp_path / "fork-cp").write(
        new_checkpoint(store_for(forked), SIGNING, AUDITOR)
    )
    r = CliRunner().invoke(app, ["ledger", "consistency", str(fork), str(new), *db])
    assert r.exit_code == 1 and "fork" in r.output


def test_a_writer_stops_when_its_store_is_replaced_or_recreated(tmp_path: Path) -> None:
    engine, ledger = ledger_at(tmp_path / "l.db", 2)
    ledger.append(sample_record(5))
    sql(engine, "UPDATE ledger_head SET store_id = 'another store'")
    with pytest.raises(LedgerUnavailable, match="replaced or re-created"):
        ledger.append(sample_record(6))


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_a_worker_starting_beside_a_busy_one_sees_a_consistent_head(
    db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """`serve --workers 2`: one worker may append while the other runs its start-up check.
    The check reads the head and the last entry together; read one after the other, an append
    between them looked like a ledger cut short (seen in CI: a worker refused to start)."""
    import threading

    from gateway.ledger.integrity import check_head

    url = f"sqlite:///{tmp_path / 'l.db'}" if db == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    create_schema(engine)
    store = store_for(engine)
    writer = Ledger(store, SIGNING, AUDITOR)
    writer.append(sample_record(0))
    stop = threading.Event()

    def busy() -> None:
        i = 1
        while not stop.is_set():
            writer.append(sample_record(i))
            i += 1

    appender = threading.Thread(target=busy)
    appender.start()
    try:
        sizes = [check_head(store_for(engine), SIGNING.public_key()) for _ in range(300)]
    finally:
        stop.set()
        appender.join()
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]  # it grew while checked, never "cut"
    store.close()
    engine.dispose()
