"""The ledger on PostgreSQL (the database for several replicas), in a throwaway schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from gateway.db import create_schema, make_engine
from gateway.errors import LedgerCorrupted, LedgerUnavailable
from gateway.ledger.stores import store_for
from gateway.ledger.verify import verify_store
from gateway.ledger.writer import Ledger
from gateway.testing import run_writers
from gateway.testing import sample_record as record

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    create_schema(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def test_ledger_appends_and_verifies_on_postgresql(pg: Engine) -> None:
    signing, auditor = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    ledger = Ledger(store_for(pg), signing, auditor.public_key())
    for i in range(5):
        ledger.append(record(i, "deny"))
    report = verify_store(store_for(pg), signing.public_key())
    assert report.entries == 5
    with pg.begin() as conn:
        conn.execute(text("UPDATE ledger_entry SET outcome='permit' WHERE seq=4"))
    with pytest.raises(LedgerCorrupted) as info:
        verify_store(store_for(pg), signing.public_key())
    assert info.value.sequence == 4


def test_several_writer_processes_from_an_empty_ledger(pg: Engine) -> None:
    """Four processes start at once on an empty ledger (the very first append included):
    one total order, no gaps, no forks, the chain and the head intact."""
    url = pg.url.render_as_string(hide_password=False)
    signing = run_writers(url, processes=4, appends=25)
    store = store_for(pg)
    assert verify_store(store, signing.public_key()).entries == 100
    cases = sorted(e.facts.case_id for e in store.entries())
    assert cases == sorted(f"case-{100 * w + i:04d}" for w in range(4) for i in range(25))


def test_two_appenders_share_one_chain(pg: Engine) -> None:
    """Two Ledger objects (two processes' worth of locks) appending concurrently."""
    from concurrent.futures import ThreadPoolExecutor

    signing, auditor = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    # Seed the head so both appenders contend on the row lock, not on the first insert.
    Ledger(store_for(pg), signing, auditor.public_key()).append(record(0))
    ledgers = [Ledger(store_for(pg), signing, auditor.public_key()) for _ in range(2)]

    def work(i: int) -> int:
        return ledgers[i % 2].append(record(i)).seq

    with ThreadPoolExecutor(max_workers=4) as pool:
        seqs = sorted(pool.map(work, range(1, 41)))
    assert seqs == list(range(2, 42))
    assert verify_store(store_for(pg), signing.public_key()).entries == 41


def test_a_writer_stops_when_its_store_is_dropped_and_recreated(pg: Engine) -> None:
    signing, auditor = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    ledger = Ledger(store_for(pg), signing, auditor.public_key())
    ledger.observe(0)
    for i in range(2):
        ledger.append(record(i))
    SQLModel.metadata.drop_all(pg)  # the whole gateway database, dropped and re-created
    with pg.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    create_schema(pg)
    other = Ledger(store_for(pg), signing, auditor.public_key())
    for i in range(5):  # longer than what the first writer saw: only the store id tells
        other.append(record(10 + i))
    with pytest.raises(LedgerUnavailable, match="replaced or re-created"):
        ledger.append(record(3))
