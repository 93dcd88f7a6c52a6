"""The ledger on PostgreSQL (the database for several replicas), in a throwaway schema."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from gateway.db import create_schema, make_engine
from gateway.errors import LedgerCorrupted
from gateway.ledger.store import Ledger, read_entries, read_head
from gateway.ledger.verify import verify_rows
from gateway.testing import sample_record as record

pytestmark = pytest.mark.postgres
SERVER = "postgresql+psycopg://root@127.0.0.1:5432/test"


@pytest.fixture
def pg() -> Iterator[Engine]:
    schema = "gw_" + secrets.token_hex(4)
    admin = create_engine(SERVER)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except OperationalError:
        pytest.skip("no PostgreSQL at 127.0.0.1:5432 (the CI machine runs one)")
    engine = make_engine(f"{SERVER}?options=-csearch_path%3D{schema}")
    create_schema(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_ledger_appends_and_verifies_on_postgresql(pg: Engine) -> None:
    signing, auditor = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    ledger = Ledger(pg, signing, auditor.public_key())
    for i in range(5):
        ledger.append(record(i, "deny"))
    report = verify_rows(read_entries(pg), read_head(pg), signing.public_key())
    assert report.entries == 5
    with pg.begin() as conn:
        conn.execute(text("UPDATE ledger_entry SET outcome='permit' WHERE seq=4"))
    with pytest.raises(LedgerCorrupted) as info:
        verify_rows(read_entries(pg), read_head(pg), signing.public_key())
    assert info.value.sequence == 4


def test_two_appenders_share_one_chain(pg: Engine) -> None:
    """Two Ledger objects (two processes' worth of locks) appending concurrently."""
    from concurrent.futures import ThreadPoolExecutor

    signing, auditor = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    # Seed the head so both appenders contend on the row lock, not on the first insert.
    Ledger(pg, signing, auditor.public_key()).append(record(0))
    ledgers = [Ledger(pg, signing, auditor.public_key()) for _ in range(2)]

    def work(i: int) -> int:
        return ledgers[i % 2].append(record(i)).seq

    with ThreadPoolExecutor(max_workers=4) as pool:
        seqs = sorted(pool.map(work, range(1, 41)))
    assert seqs == list(range(2, 42))
    assert verify_rows(read_entries(pg), read_head(pg), signing.public_key()).entries == 41
