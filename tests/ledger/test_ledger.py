from __future__ import annotations

import itertools
import json
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
from gateway.ledger.entry import GENESIS
from gateway.ledger.periods import open_body
from gateway.ledger.sealing import SealedBody
from gateway.ledger.store import (
    Ledger,
    first_malformed_public_column,
    read_entries,
    read_head,
    row_to_entry,
)
from gateway.ledger.verify import verify_rows
from gateway.testing import sample_record as record

SIGNING = Ed25519PrivateKey.generate()
AUDITOR = X25519PrivateKey.generate()


def make_ledger(tmp_path: Path, entries: int = 5) -> tuple[Engine, Ledger]:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    create_schema(engine)
    ledger = Ledger(engine, SIGNING, AUDITOR.public_key())
    for i in range(entries):
        ledger.append(record(i))
    return engine, ledger


def verify(engine: Engine) -> int:
    return verify_rows(read_entries(engine), read_head(engine), SIGNING.public_key()).entries


def test_appends_chain_and_verify(tmp_path: Path) -> None:
    engine, ledger = make_ledger(tmp_path, 3)
    receipt = ledger.append(record(9, "deny"))
    assert receipt.seq == 4
    rows = list(read_entries(engine))
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(rows))
    assert rows[-1].entry_hash == receipt.entry_hash
    assert verify(engine) == 4


def test_empty_ledger_verifies(tmp_path: Path) -> None:
    engine, _ = make_ledger(tmp_path, 0)
    assert verify(engine) == 0


def test_only_the_auditor_can_open_a_body(tmp_path: Path) -> None:
    engine, _ = make_ledger(tmp_path, 1)
    entry = row_to_entry(next(read_entries(engine)))
    body = json.loads(open_body(engine, entry.body, entry.header.aad(), AUDITOR))
    assert body["n"] == 0
    with pytest.raises(InvalidTag):
        open_body(engine, entry.body, entry.header.aad(), X25519PrivateKey.generate())
    # The body is bound to its header: moved to another entry, it no longer opens.
    other = row_to_entry(next(iter(read_entries(engine))))
    forged_header = type(other.header)(**{**vars(other.header), "case_id": "case-9999"})
    with pytest.raises(InvalidTag):
        open_body(engine, entry.body, forged_header.aad(), AUDITOR)


def test_public_header_holds_no_body_content(tmp_path: Path) -> None:
    engine, _ = make_ledger(tmp_path, 1)
    row = next(read_entries(engine))
    assert "naam" not in row.body and "gemeente.brp" not in row.body
    assert set(json.loads(row.body)) == set(SealedBody.__dataclass_fields__)


def _exec(engine: Engine, sql: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


@pytest.mark.parametrize(
    ("sql", "bad_seq"),
    [
        ("UPDATE ledger_entry SET outcome='permit' WHERE seq=3", None),  # unchanged: control
        ("UPDATE ledger_entry SET case_id='case-x' WHERE seq=3", 3),
        ("UPDATE ledger_entry SET review=1 WHERE seq=2", 2),
        ("DELETE FROM ledger_entry WHERE seq=2", 3),
        ("UPDATE ledger_entry SET seq=seq+100 WHERE seq=1", 2),
        ("DELETE FROM ledger_entry WHERE seq=5", 5),
        (
            "UPDATE ledger_entry SET signature="
            "(SELECT signature FROM ledger_entry WHERE seq=1) WHERE seq=4",
            4,
        ),
    ],
)
def test_modification_deletion_and_reordering_are_named(
    tmp_path: Path, sql: str, bad_seq: int | None
) -> None:
    engine, _ = make_ledger(tmp_path, 5)
    _exec(engine, sql)
    if bad_seq is None:
        assert verify(engine) == 5
        return
    with pytest.raises(LedgerCorrupted) as info:
        verify(engine)
    assert info.value.sequence == bad_seq


def test_swapping_two_entries_is_detected(tmp_path: Path) -> None:
    engine, _ = make_ledger(tmp_path, 4)
    _exec(engine, "UPDATE ledger_entry SET seq=-1 WHERE seq=2")
    _exec(engine, "UPDATE ledger_entry SET seq=2 WHERE seq=3")
    _exec(engine, "UPDATE ledger_entry SET seq=3 WHERE seq=-1")
    with pytest.raises(LedgerCorrupted) as info:
        verify(engine)
    assert info.value.sequence == 2


def test_truncated_tail_with_rolled_back_head_needs_the_old_signature(tmp_path: Path) -> None:
    engine, _ = make_ledger(tmp_path, 3)
    _exec(engine, "DELETE FROM ledger_entry WHERE seq=3")
    _exec(
        engine,
        "UPDATE ledger_head SET seq=2, "
        "entry_hash=(SELECT entry_hash FROM ledger_entry WHERE seq=2)",
    )
    with pytest.raises(LedgerCorrupted, match="head signature"):
        verify(engine)


def test_append_failure_is_ledger_unavailable(tmp_path: Path) -> None:
    engine, ledger = make_ledger(tmp_path, 1)
    _exec(engine, "DROP TABLE ledger_entry")
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
    "outcome",
    "body",
    "entry_hash",
    "signature",
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
    engine, _ = make_ledger(tmp_path_factory.mktemp("tamper"), 4)
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
        verify(engine)
    assert info.value.sequence is not None and info.value.sequence <= seq + 1


def test_a_public_column_outside_its_hashed_form_is_named(tmp_path: Path) -> None:
    engine, _ = make_ledger(tmp_path, entries=4)
    assert first_malformed_public_column(engine) is None
    _exec(engine, "UPDATE ledger_entry SET review = 2 WHERE seq = 3")
    assert first_malformed_public_column(engine) == 3


def test_a_removed_or_replaced_database_file_stops_appends(tmp_path: Path) -> None:
    _, ledger = make_ledger(tmp_path, entries=2)
    db = tmp_path / "ledger.db"
    db.rename(tmp_path / "moved.db")
    with pytest.raises(LedgerUnavailable, match="removed or replaced"):
        ledger.append(record(7))
    (tmp_path / "moved.db").rename(db)
    ledger.append(record(8))  # the same file again: appends resume


def test_a_batch_is_one_chain_segment_committed_at_once(tmp_path: Path) -> None:
    engine, ledger = make_ledger(tmp_path, entries=2)
    receipts = ledger.append_batch([record(10 + i) for i in range(5)])
    assert [r.seq for r in receipts] == [3, 4, 5, 6, 7]
    rows = list(read_entries(engine))
    assert [r.entry_hash for r in rows[2:]] == [r.entry_hash for r in receipts]
    assert verify(engine) == 7
