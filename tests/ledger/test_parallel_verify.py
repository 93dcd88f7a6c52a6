"""Verification over several processes gives the sequential verifier's verdict: the same entry
named, the same message, for each kind of damage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.db import create_schema, make_engine
from gateway.errors import LedgerCorrupted
from gateway.ledger.entry import Header, entry_hash
from gateway.ledger.parallel import verify_store_parallel
from gateway.ledger.stores import LedgerStore, MemoryStore, open_store
from gateway.ledger.stores.base import StoredEntry
from gateway.ledger.stores.sql import SqlStore, entry_to_row
from gateway.ledger.tables import ledger_entry, ledger_head
from gateway.ledger.verify import verify_store
from gateway.ledger.writer import Ledger
from gateway.testing import sample_record

SIGNING = Ed25519PrivateKey.generate()
AUDITOR = X25519PrivateKey.generate()
SIZE = 60


def ledger() -> MemoryStore:
    store = MemoryStore()
    writer = Ledger(store, SIGNING, AUDITOR.public_key())
    for start in range(0, SIZE, 5):  # groups of five: a seal on every fifth entry
        writer.append_batch([sample_record(start + i) for i in range(5)])
    return store


def _rechain(store: MemoryStore, first: int, change: Callable[[StoredEntry], StoredEntry]) -> None:
    """Change entry ``first`` and re-hash everything after it, as someone without the signing
    key would (the seals stay as they were)."""
    prev = store.entry(first - 1).entry_hash if first > 1 else None  # type: ignore[union-attr]
    for seq in range(first, SIZE + 1):
        entry = store.entry(seq)
        assert entry is not None
        if seq == first:
            entry = change(entry)
        header = entry.header if prev is None else replace(entry.header, prev_hash=prev)
        body = __import__("json").loads(entry.body)
        prev = entry_hash(header, body)
        store.rewrite(seq, replace(entry, header=header, entry_hash=prev))


def _body_byte(store: MemoryStore) -> None:
    e = store.entry(23)
    assert e is not None
    store.rewrite(23, replace(e, body=e.body.replace('"', ' "', 1)))


def _missing(store: MemoryStore) -> None:
    e = store.entry(31)
    assert e is not None
    store.rewrite(30, e)


def _link(store: MemoryStore) -> None:
    e = store.entry(40)
    assert e is not None
    header: Header = replace(e.header, prev_hash="00" * 32)
    body = __import__("json").loads(e.body)
    store.rewrite(40, replace(e, header=header, entry_hash=entry_hash(header, body)))


def _seal(store: MemoryStore) -> None:
    e, other = store.entry(25), store.entry(30)
    assert e is not None and other is not None and e.seal and other.seal
    store.rewrite(25, replace(e, seal=other.seal))


def _subject(store: MemoryStore) -> None:
    e = store.entry(12)
    assert e is not None
    store.rewrite(12, replace(e, subject="another-person"))


def _retold(store: MemoryStore) -> None:
    _rechain(
        store, 33, lambda e: replace(e, header=replace(e.header, time=e.header.time[:-1] + "9"))
    )


def _gone(first: int, last: int) -> Callable[[MemoryStore], None]:
    def damage(store: MemoryStore) -> None:
        del store._entries[first - 1 : last]

    return damage


def _numbered_zero(store: MemoryStore) -> None:
    e = store.entry(1)
    assert e is not None
    store.rewrite(1, replace(e, header=replace(e.header, seq=0)))


def _renumbered(seq: int, to: int) -> Callable[[MemoryStore], None]:
    def damage(store: MemoryStore) -> None:
        e = store.entry(seq)
        assert e is not None
        store.rewrite(seq, replace(e, header=replace(e.header, seq=to)))

    return damage


def _link_at(seq: int) -> Callable[[MemoryStore], None]:
    def damage(store: MemoryStore) -> None:
        e = store.entry(seq)
        assert e is not None
        header: Header = replace(e.header, prev_hash="00" * 32)
        body = __import__("json").loads(e.body)
        store.rewrite(seq, replace(e, header=header, entry_hash=entry_hash(header, body)))

    return damage


# With spans of 7 (the test's chunk): 1-7, 8-14, 15-21, ... — damage inside a span, at its
# ends, and a whole span gone, where only the parent process can see it.
DAMAGE: dict[str, Callable[[MemoryStore], None]] = {
    "intact": lambda _: None,
    "a body byte": _body_byte,
    "an entry missing": _missing,
    "a broken link": _link,
    "a seal from elsewhere": _seal,
    "a subject index changed": _subject,
    "a tail re-chained without the key": _retold,
    "entries missing at a span's end": _gone(6, 7),
    "entries missing at a span's start": _gone(8, 9),
    "a whole span missing": _gone(8, 14),
    "the last entries missing": _gone(59, 60),
    "an entry numbered 0": _numbered_zero,
    "a broken link into a span": _link_at(8),
    "a broken link into the last span": _link_at(57),
    "the last entry renumbered far beyond the end": _renumbered(60, 2**40),
    "an entry renumbered far beyond the end": _renumbered(30, 2**40),
}


def on_sqlite(memory: MemoryStore, path: Path) -> LedgerStore:
    """The same rows in a SQLite file (the workers then read their ranges themselves)."""
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    head = memory.head()
    assert head is not None
    rows = {e.seq: entry_to_row(e) for e in reversed(list(memory.entries()))}  # a seq once
    with engine.begin() as conn:
        conn.execute(ledger_entry.insert(), [rows[seq] for seq in sorted(rows)])
        conn.execute(ledger_head.insert(), [{"id": 1, **vars(head)}])
    engine.dispose()
    return open_store(f"sqlite:///{path}")  # read-only, as `ledger verify` opens it


def on_postgres(memory: MemoryStore, url: str) -> LedgerStore:
    """The same rows in PostgreSQL (checked there by gateway/ledger/pgscan.py)."""
    engine = make_engine(url)
    create_schema(engine)
    head = memory.head()
    assert head is not None
    rows = {e.seq: entry_to_row(e) for e in reversed(list(memory.entries()))}
    with engine.begin() as conn:
        conn.execute(ledger_entry.insert(), [rows[seq] for seq in sorted(rows)])
        conn.execute(ledger_head.insert(), [{"id": 1, **vars(head)}])
    engine.dispose()
    return open_store(url)


KINDS = ["memory", "sqlite", "sqlite, pure Python", "postgresql"]
"""A store in this process (rows sent to worker processes); an SQLite file read by the
compiled fast path on threads (docs/adr/0018) where it was built; the same file read by worker
processes on the pure-Python path; PostgreSQL, each span checked by the server."""


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("damage", DAMAGE)
def test_parallel_and_sequential_verification_agree(
    damage: str, kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    memory = ledger()
    DAMAGE[damage](memory)
    store: LedgerStore = memory
    if kind.startswith("sqlite"):
        store = on_sqlite(memory, tmp_path / "ledger.db")
    elif kind == "postgresql":
        store = on_postgres(memory, request.getfixturevalue("pg_url"))
    compiled = kind != "sqlite, pure Python"
    key = SIGNING.public_key()

    def verdict(run: Callable[[], object]) -> object:
        try:
            report = run()
        except LedgerCorrupted as exc:
            return ("corrupted", exc.sequence, str(exc))
        return ("intact", report)

    sequential = verdict(lambda: verify_store(store, key))
    parallel = verdict(
        lambda: verify_store_parallel(
            store, key, workers=2, chunk=7, sequential_below=0, compiled=compiled
        )
    )
    if isinstance(store, SqlStore):
        store.engine.dispose()  # before the schema is dropped
    assert parallel == sequential
    assert (sequential[0] == "intact") == (damage == "intact")  # type: ignore[index]


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "pure Python"])
@pytest.mark.parametrize("also", ["intact", "a body byte", "an entry numbered 0", "a broken link"])
def test_a_malformed_boolean_is_named_first_by_both(
    also: str, compiled: bool, tmp_path: Path
) -> None:
    """A boolean stored as 2 is named before any other damage, wherever it is: the parallel
    verifier looks for it before it acts on any span's verdict (the compiled path only where a
    span took the long way: a span it passes has none)."""
    from sqlalchemy import text

    memory = ledger()
    DAMAGE[also](memory)
    store = on_sqlite(memory, tmp_path / "ledger.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE ledger_entry SET review = 2 WHERE seq = 50"))
    engine.dispose()
    key = SIGNING.public_key()
    found = []
    for run in (
        lambda: verify_store(store, key),
        lambda: verify_store_parallel(
            store, key, workers=2, chunk=7, sequential_below=0, compiled=compiled
        ),
    ):
        with pytest.raises(LedgerCorrupted) as info:
            run()
        found.append((info.value.sequence, str(info.value)))
    assert found[0] == found[1]
    assert found[0][0] == 50 and "outside its hashed form" in found[0][1]


def _rows() -> list[list[Any]]:
    from gateway.ledger.tables import ENTRY_AT

    rows = []
    for entry in ledger().entries():
        values = entry_to_row(entry)
        row = [values[name] for name in ENTRY_AT]
        row[ENTRY_AT["review"]] = int(row[ENTRY_AT["review"]])  # as SQLite gives it back
        rows.append(row)
    return rows


ROWS = _rows()


def _worker() -> None:
    from cryptography.hazmat.primitives import serialization

    from gateway.ledger import parallel

    raw = SIGNING.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    parallel._init(raw, frozenset(), None)


def test_the_row_fast_path_takes_every_intact_entry() -> None:
    from gateway.ledger.tables import ENTRY_AT
    from gateway.ledger.verify import row_is_sound

    prev = None
    for seq, row in enumerate(ROWS, start=1):
        assert row_is_sound(row, seq, prev, SIGNING.public_key())
        assert not row_is_sound(row, seq + 1, prev, SIGNING.public_key())
        prev = row[ENTRY_AT["entry_hash"]]


def _edited(value: Any) -> st.SearchStrategy[Any]:
    others = st.one_of(st.none(), st.booleans(), st.integers(-3, 70), st.text(max_size=8))
    if not isinstance(value, str) or not value:
        return others
    edit = st.tuples(st.integers(0, len(value) - 1), st.characters()).map(
        lambda at: value[: at[0]] + at[1] + value[at[0] + 1 :]
    )
    return st.one_of(edit, others)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_the_row_fast_path_only_takes_what_the_long_way_passes(data: st.DataObject) -> None:
    """A changed row is either refused by the fast path (and checked the long way, which names
    the failure) or passes the long way too: the fast path never decides a verdict alone."""
    from gateway.ledger import parallel
    from gateway.ledger.stores.sql import entry_from_row
    from gateway.ledger.tables import ENTRY_AT
    from gateway.ledger.verify import row_is_sound

    _worker()
    at = data.draw(st.integers(0, len(ROWS) - 1))
    row = list(ROWS[at])
    for column in data.draw(st.lists(st.sampled_from(list(ENTRY_AT)), min_size=1, max_size=2)):
        row[ENTRY_AT[column]] = data.draw(_edited(row[ENTRY_AT[column]]))
    prev = ROWS[at - 1][ENTRY_AT["entry_hash"]] if at else None
    if row_is_sound(row, at + 1, prev, SIGNING.public_key()):
        assert parallel._check_entry(entry_from_row(row), at + 1, prev) is None


def test_an_entry_as_values_is_the_row_the_database_holds(tmp_path: Path) -> None:
    """Appends insert entry_values() positionally and verification reads rows by position:
    both must follow the table's column order, or entries would be stored scrambled."""
    from gateway.ledger.stores.sql import entry_from_row, entry_values

    url = f"sqlite:///{tmp_path / 'l.db'}"
    engine = make_engine(url)
    create_schema(engine)
    store = open_store(url)
    Ledger(store, SIGNING, AUDITOR.public_key()).append_batch([sample_record(i) for i in range(3)])
    rows = store.entry_rows(1, 3)  # type: ignore[attr-defined]
    entries = list(store.entries())
    assert [tuple(r) for r in rows] == [entry_values(e) for e in entries]
    assert [entry_from_row(r) for r in rows] == entries
    assert entries[1].header.facts.purpose == sample_record(1).facts.purpose
