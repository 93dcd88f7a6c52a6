"""The ledger through its seam: appends, verification and the tamper drill.

Behaviour tests run on every store (the in-memory fake and SQLite; PostgreSQL in
test_postgres.py); the tamper drill edits a SQLite file as someone with database access would.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from gateway.db import create_schema, make_engine
from gateway.errors import LedgerCorrupted, LedgerUnavailable
from gateway.ledger.entry import (
    ACTIONS,
    GENESIS,
    Facts,
    Header,
    canonical,
    commit_subject,
    content_aad,
    entry_hash,
    entry_hash_of,
)
from gateway.ledger.periods import open_entry
from gateway.ledger.stores import LedgerStore, MemoryStore, store_for
from gateway.ledger.stores.sqlite import SqliteStore
from gateway.ledger.verify import verify_store
from gateway.ledger.writer import Ledger
from gateway.testing import run_writers
from gateway.testing import sample_record as record

SIGNING = Ed25519PrivateKey.generate()
AUDITOR = X25519PrivateKey.generate()


def sqlite_store(tmp_path: Path) -> LedgerStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    create_schema(engine)
    return store_for(engine)


STORES: dict[str, Callable[[Path], LedgerStore]] = {
    "memory": lambda _: MemoryStore(),
    "sqlite": sqlite_store,
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerStore:
    return STORES[request.param](tmp_path)


def fill(store: LedgerStore, entries: int = 5) -> Ledger:
    ledger = Ledger(store, SIGNING, AUDITOR.public_key())
    for i in range(entries):
        ledger.append(record(i))
    return ledger


def verify(store: LedgerStore) -> int:
    return verify_store(store, SIGNING.public_key()).entries


# -- on every store --------------------------------------------------------------------------


def test_appends_chain_and_verify(store: LedgerStore) -> None:
    ledger = fill(store, 3)
    receipt = ledger.append(record(9, "deny"))
    assert receipt.seq == 4
    entries = list(store.entries())
    assert entries[0].header.prev_hash == GENESIS
    assert all(b.header.prev_hash == a.entry_hash for a, b in itertools.pairwise(entries))
    assert entries[-1].entry_hash == receipt.entry_hash
    assert verify(store) == 4


def test_empty_ledger_verifies(store: LedgerStore) -> None:
    fill(store, 0)
    assert verify(store) == 0


def test_a_batch_is_one_group_with_one_seal(store: LedgerStore) -> None:
    ledger = fill(store, 2)
    receipts = ledger.append_batch([record(10 + i) for i in range(5)])
    assert [r.seq for r in receipts] == [3, 4, 5, 6, 7]
    entries = list(store.entries())
    assert [e.entry_hash for e in entries[2:]] == [r.entry_hash for r in receipts]
    # Single appends are sealed each; a group only at its end (the chain covers the rest).
    assert [e.seal is not None for e in entries] == [True, True] + [False] * 4 + [True]
    assert verify(store) == 7


def test_only_the_auditor_can_open_a_body(store: LedgerStore) -> None:
    fill(store, 2)
    first, second = list(store.entries())
    assert json.loads(open_entry(store, first, AUDITOR))["n"] == 0
    with pytest.raises(InvalidTag):
        open_entry(store, first, X25519PrivateKey.generate())
    # The body is bound to its header: moved to another entry, it no longer opens.
    with pytest.raises(InvalidTag):
        open_entry(store, replace(second, body=first.body), AUDITOR)


def test_the_header_holds_no_body_content_and_no_pseudonym(store: LedgerStore) -> None:
    fill(store, 1)
    entry = next(store.entries())
    assert "naam" not in entry.body and "gemeente.brp" not in entry.body
    assert entry.subject == "ab" * 32  # the index beside the header…
    assert entry.subject not in json.dumps(entry.header.as_dict())  # …never in what is hashed
    assert entry.subject_salt is not None
    assert entry.header.subject_commit == commit_subject(entry.subject, entry.subject_salt)


def test_entries_are_found_by_their_public_facts(store: LedgerStore) -> None:
    from gateway.ledger.stores import EntryFilter

    fill(store, 3)
    Ledger(store, SIGNING, AUDITOR.public_key()).append(record(7, "deny"))
    denied = list(store.entries(EntryFilter(outcome="deny")))
    assert [e.seq for e in denied] == [4]
    assert [e.seq for e in store.entries(EntryFilter(case_id="case-0001"))] == [2]
    assert len(list(store.entries(EntryFilter(subject="ab" * 32)))) == 4


# -- the in-memory fake's failure switches -----------------------------------------------------


def test_an_unreachable_store_fails_closed() -> None:
    store = MemoryStore()
    ledger = fill(store, 1)
    store.broken = "the database is unreachable"
    with pytest.raises(LedgerUnavailable, match="unreachable"):
        ledger.append(record())
    store.broken = None
    store.fail_appends = True
    with pytest.raises(LedgerUnavailable):
        ledger.append(record())
    store.fail_appends = False
    assert verify(store) == 1  # nothing half-written


def test_a_writer_stops_when_its_store_was_cut_short_under_it() -> None:
    store = MemoryStore()
    ledger = fill(store, 3)
    store.truncate(2)
    with pytest.raises(LedgerUnavailable, match="head does not name"):
        ledger.append(record(9))


# -- the tamper drill, on a SQLite file ---------------------------------------------------------


def sqlite_with(tmp_path: Path, entries: int = 5) -> tuple[Engine, SqliteStore]:
    store = sqlite_store(tmp_path)
    assert isinstance(store, SqliteStore)
    fill(store, entries)
    return store.engine, store


def _exec(engine: Engine, sql: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


@pytest.mark.parametrize(
    ("sql", "bad_seq"),
    [
        ("UPDATE ledger_entry SET outcome='permit' WHERE seq=3", None),  # unchanged: control
        ("UPDATE ledger_entry SET case_id='case-x' WHERE seq=3", 3),
        ("UPDATE ledger_entry SET review=1 WHERE seq=2", 2),
        ("UPDATE ledger_entry SET review=2 WHERE seq=4", 4),  # outside its hashed form
        ("DELETE FROM ledger_entry WHERE seq=2", 3),
        ("UPDATE ledger_entry SET seq=seq+100 WHERE seq=1", 2),
        ("DELETE FROM ledger_entry WHERE seq=5", 5),
        ("UPDATE ledger_entry SET seal=(SELECT seal FROM ledger_entry WHERE seq=1) WHERE seq=4", 4),
        ("UPDATE ledger_entry SET subject='cd' WHERE seq=2", 2),  # another person's index
        ("UPDATE ledger_entry SET subject=NULL, subject_salt=NULL WHERE seq=3", 3),  # hidden
        ("UPDATE ledger_entry SET subject_salt=NULL WHERE seq=3", 3),
        ("UPDATE ledger_head SET signature=(SELECT seal FROM ledger_entry WHERE seq=2)", 5),
    ],
)
def test_modification_deletion_and_reordering_are_named(
    tmp_path: Path, sql: str, bad_seq: int | None
) -> None:
    engine, store = sqlite_with(tmp_path)
    _exec(engine, sql)
    if bad_seq is None:
        assert verify(store) == 5
        return
    with pytest.raises(LedgerCorrupted) as info:
        verify(store)
    assert info.value.sequence == bad_seq


def test_swapping_two_entries_is_detected(tmp_path: Path) -> None:
    engine, store = sqlite_with(tmp_path, 4)
    _exec(engine, "UPDATE ledger_entry SET seq=-1 WHERE seq=2")
    _exec(engine, "UPDATE ledger_entry SET seq=2 WHERE seq=3")
    _exec(engine, "UPDATE ledger_entry SET seq=3 WHERE seq=-1")
    with pytest.raises(LedgerCorrupted) as info:
        verify(store)
    assert info.value.sequence == 2


@pytest.mark.parametrize("drop_seals", [False, True])
def test_a_tail_rewritten_and_rechained_without_the_key_is_named(
    tmp_path: Path, drop_seals: bool
) -> None:
    """Someone with database access but not the signing key edits entry 3 and recomputes every
    hash after it (and, with drop_seals, removes the seals they cannot make): the first entry
    no valid seal covers is named."""
    engine, store = sqlite_with(tmp_path, 5)
    entries = list(store.entries())
    prev = entries[1].entry_hash
    for e in entries[2:]:
        facts = replace(e.facts, case_id="case-x") if e.seq == 3 else e.facts
        header = Header(e.seq, prev, e.time, facts, e.header.subject_commit)
        prev = entry_hash(header, json.loads(e.body))
        seal = "NULL" if drop_seals else "seal"
        _exec(
            engine,
            f"UPDATE ledger_entry SET case_id=:c, prev_hash=:p, entry_hash=:h, seal={seal} "  # noqa: S608
            "WHERE seq=:s",
            c=facts.case_id,
            p=header.prev_hash,
            h=prev,
            s=e.seq,
        )
    _exec(engine, "UPDATE ledger_head SET entry_hash=:h", h=prev)
    with pytest.raises(LedgerCorrupted, match="seal") as info:
        verify(store)
    assert info.value.sequence == 3


def test_a_truncated_tail_with_an_older_sealed_head_needs_a_checkpoint(tmp_path: Path) -> None:
    """Every committed group is sealed, so cutting the tail back to an older seal leaves a
    ledger that verifies on its own: that is what checkpoints kept outside the database are
    for (tests/ledger/test_checkpoints.py)."""
    engine, store = sqlite_with(tmp_path, 3)
    _exec(engine, "DELETE FROM ledger_entry WHERE seq=3")
    _exec(
        engine,
        "UPDATE ledger_head SET seq=2, entry_hash=(SELECT entry_hash FROM ledger_entry "
        "WHERE seq=2), signature=(SELECT seal FROM ledger_entry WHERE seq=2)",
    )
    assert verify(store) == 2


def test_an_emptied_store_stops_a_running_writer(tmp_path: Path) -> None:
    engine, store = sqlite_with(tmp_path, 1)
    ledger = Ledger(store, SIGNING, AUDITOR.public_key())
    ledger.observe(1)
    _exec(engine, "DELETE FROM ledger_entry")
    _exec(engine, "DELETE FROM ledger_head")
    with pytest.raises(LedgerUnavailable):
        ledger.append(record())


COLUMNS = [
    "time",
    "prev_hash",
    "policy_version",
    "requester_oin",
    "purpose",
    "case_id",
    "subject",
    "subject_salt",
    "subject_commit",
    "outcome",
    "body",
    "entry_hash",
    "seal",
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seq=st.integers(1, 4),
    column=st.sampled_from(COLUMNS),
    position=st.integers(0, 10_000),
    replacement=st.characters(min_codepoint=32, max_codepoint=126) | st.just("\t"),
)
def test_any_single_byte_change_fails_verification(
    tmp_path_factory: pytest.TempPathFactory, seq: int, column: str, position: int, replacement: str
) -> None:
    engine, store = sqlite_with(tmp_path_factory.mktemp("tamper"), 4)
    with engine.connect() as conn:
        value = conn.execute(
            text(f"SELECT {column} FROM ledger_entry WHERE seq=:s"),  # noqa: S608 — fixed list
            {"s": seq},
        ).scalar_one()
    i = position % len(value)
    if value[i] == replacement:
        replacement = "!" if replacement != "!" else "#"
    tampered = value[:i] + replacement + value[i + 1 :]
    _exec(engine, f"UPDATE ledger_entry SET {column}=:v WHERE seq=:s", v=tampered, s=seq)  # noqa: S608
    with pytest.raises(LedgerCorrupted) as info:
        verify(store)
    assert info.value.sequence is not None and info.value.sequence <= seq + 1


def test_a_removed_or_replaced_database_file_stops_appends(tmp_path: Path) -> None:
    _, store = sqlite_with(tmp_path, 2)
    ledger = Ledger(store, SIGNING, AUDITOR.public_key())
    db = tmp_path / "ledger.db"
    db.rename(tmp_path / "moved.db")
    with pytest.raises(LedgerUnavailable, match="removed or replaced"):
        ledger.append(record(7))
    (tmp_path / "moved.db").rename(db)
    ledger.append(record(8))  # the same file again: appends resume


@pytest.mark.slow
def test_several_writer_processes_on_one_sqlite_file(tmp_path: Path) -> None:
    """Four processes start at once on a file that does not exist yet (schema migration and
    the very first append included): none fails, one order, no gaps, the chain intact."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    signing = run_writers(url, processes=4, appends=25)
    store = store_for(make_engine(url, create=False))
    assert verify_store(store, signing.public_key()).entries == 100
    cases = sorted(e.facts.case_id for e in store.entries())
    assert cases == sorted(f"case-{100 * w + i:04d}" for w in range(4) for i in range(25))


@pytest.mark.parametrize(
    "sql",
    [
        # The same salt bytes, another spelling.
        "UPDATE ledger_entry SET subject_salt=upper(subject_salt) WHERE seq=2",
        # The same signature bytes: base64's last character before '==' has four spare bits.
        "UPDATE ledger_entry SET seal=substr(seal, 1, 85) || "
        "CASE substr(seal, 86, 1) WHEN 'A' THEN 'B' ELSE 'A' END || '==' WHERE seq=2",
    ],
)
def test_another_spelling_of_the_same_bytes_is_a_change_too(tmp_path: Path, sql: str) -> None:
    engine, store = sqlite_with(tmp_path, 3)
    _exec(engine, sql)
    with pytest.raises(LedgerCorrupted) as info:
        verify(store)
    assert info.value.sequence == 2


@settings(max_examples=200, deadline=None)
@given(
    action=st.sampled_from(sorted(ACTIONS)),
    text=st.text(max_size=40),
    review=st.booleans(),
    seq=st.integers(1, 2**40),
    body=st.dictionaries(st.text(max_size=12), st.text(max_size=60), max_size=6),
)
def test_the_spliced_leaf_hash_is_the_plain_one(
    action: str, text: str, review: bool, seq: int, body: dict[str, str]
) -> None:
    """entry_hash_of() splices the body's canonical JSON into the header's; it must give the
    hash of the whole canonical leaf, whatever the values (quotes, escapes, non-ASCII)."""
    facts = Facts(action, text, text[::-1], "p" + text, text, "permit", review)  # type: ignore[arg-type]
    header = Header(seq, "ab" * 32, "2026-11-23T00:00:00.000000Z", facts, text)
    assert entry_hash_of(header, body, canonical(body).decode()) == entry_hash(header, body)


@settings(max_examples=200, deadline=None)
@given(action=st.sampled_from(sorted(ACTIONS)), text=st.text(max_size=40), review=st.booleans())
def test_the_written_aad_is_the_canonical_content(action: str, text: str, review: bool) -> None:
    """content_aad() writes the content directly; a body sealed under other bytes than the
    canonical content would not open for the auditor (Header.aad() recomputes it)."""
    facts = Facts(action, text, text[::-1], "p" + text, text, "permit", review)  # type: ignore[arg-type]
    time = "2026-11-24T00:00:00.000000Z" if review else text
    header = Header(9, "ab" * 32, time, facts, text[:7])
    try:
        expected = canonical(header.content())
    except Exception as exc:  # a lone surrogate: refused on both paths
        with pytest.raises(type(exc)):
            content_aad(time, facts, text[:7])
    else:
        assert content_aad(time, facts, text[:7]) == expected == header.aad()


def test_a_store_opened_on_an_existing_file_writes_to_that_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tools such as retention open an existing ledger in SQLite's URI form; their writer once
    # rendered that URL percent-encoded and created a stray file under the working directory.
    path = tmp_path / "ledger.db"
    create_schema(make_engine(f"sqlite:///{path}"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    store = SqliteStore(make_engine(f"sqlite:///{path}", create=False, writable=True))
    Ledger(store, SIGNING, AUDITOR.public_key()).append(record(1))
    store.close()
    assert list(cwd.iterdir()) == []
    assert len(list(SqliteStore(make_engine(f"sqlite:///{path}", create=False)).entries())) == 1
