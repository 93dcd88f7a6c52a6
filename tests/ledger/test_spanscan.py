"""The verifier's compiled fast path (docs/adr/0018) says "sound" only where the Python path
does: it passes every intact entry, and whatever a writer to the database changes, a span it
passes (its seals checked) is one whose every row the Python fast path passes too."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.db import create_schema, make_engine
from gateway.ledger import spanscan
from gateway.ledger.parallel import _Checker
from gateway.ledger.stores import open_store, store_for
from gateway.ledger.tables import ENTRY_AT
from gateway.ledger.writer import Ledger
from gateway.testing import rows_pass_the_fast_path, sample_record

pytestmark = pytest.mark.skipif(
    not spanscan.available(),
    reason="the compiled fast path was not built here (no C compiler or headers at install); "
    "verification takes the pure-Python path, which tests/ledger/test_parallel_verify.py covers",
)

SIGNING = Ed25519PrivateKey.generate()
SIZE = 40
TEMPLATE = Path(tempfile.mkdtemp()) / "ledger.db"


def _template() -> Path:
    if not TEMPLATE.exists():
        engine = make_engine(f"sqlite:///{TEMPLATE}")
        create_schema(engine)
        writer = Ledger(store_for(engine), SIGNING, X25519PrivateKey.generate().public_key())
        for start in range(0, SIZE, 4):  # a seal on every fourth entry
            writer.append_batch([sample_record(start + i) for i in range(4)])
        writer.store.close()
        engine.dispose()
    return TEMPLATE


def _python_says_sound(path: Path, first: int, last: int) -> bool:
    store = open_store(f"sqlite:///{path}")
    try:
        rows = store.entry_rows(first, last)  # type: ignore[attr-defined]
    finally:
        store.close()
    return rows_pass_the_fast_path(rows, SIGNING.public_key())


def test_every_intact_span_is_sound_with_its_ends_and_seals() -> None:
    path = _template()
    whole = spanscan.span(str(path), 1, SIZE)
    assert whole is not None
    assert (whole.count, whole.first_seq, whole.last_seq) == (SIZE, 1, SIZE)
    assert whole.first_prev == "0" * 64
    rows = {r[ENTRY_AT["seq"]]: r for r in sqlite3.connect(path).execute(_ALL)}
    assert whole.last_hash == rows[SIZE][ENTRY_AT["entry_hash"]]
    assert whole.seals == [
        (seq, r[ENTRY_AT["entry_hash"]], r[ENTRY_AT["seal"]])
        for seq, r in sorted(rows.items())
        if r[ENTRY_AT["seal"]] is not None
    ]
    middle = spanscan.span(str(path), 7, 13)
    assert middle is not None and (middle.count, middle.first_seq, middle.last_seq) == (7, 7, 13)
    assert middle.first_prev == rows[6][ENTRY_AT["entry_hash"]]
    empty = spanscan.span(str(path), SIZE + 1, SIZE + 9)
    assert empty is not None and empty.count == 0


def test_a_file_it_cannot_read_is_left_to_the_long_way(tmp_path: Path) -> None:
    assert spanscan.span(str(tmp_path / "no-such.db"), 1, 10) is None
    (tmp_path / "not-a-db").write_bytes(b"x" * 4096)
    assert spanscan.span(str(tmp_path / "not-a-db"), 1, 10) is None


_ALL = "SELECT {} FROM ledger_entry ORDER BY seq".format(", ".join(ENTRY_AT))  # noqa: S608

_TEXT_COLUMNS = [c for c in ENTRY_AT if c not in ("seq", "review")]


def _edited(draw: Any, value: Any) -> Any:
    """Another value for a column: an edit of one character (any: quotes, backslashes,
    control characters, non-ASCII), a value of another storage class, or NULL."""
    others = st.one_of(
        st.none(),
        st.integers(-3, 2**40),
        st.binary(max_size=8),
        st.text(max_size=8),
        st.sampled_from(["permit", "deny", "disclosure.decision", "0" * 64]),
    )
    if isinstance(value, str) and value and draw(st.booleans()):
        at = draw(st.integers(0, len(value) - 1))
        char = draw(st.characters(codec="utf-8"))
        return value[:at] + char + value[at + 1 :]
    return draw(others)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_whatever_a_writer_changes_a_sound_span_is_sound_to_python(
    data: st.DataObject,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.db"
        shutil.copyfile(_template(), path)
        db = sqlite3.connect(path)
        for _ in range(data.draw(st.integers(1, 3))):
            seq = data.draw(st.integers(1, SIZE))
            column = data.draw(st.sampled_from([*_TEXT_COLUMNS, "review", "seq"]))
            # A column name from the table's own list, never from outside.
            select = f"SELECT {column} FROM ledger_entry WHERE seq = ?"  # noqa: S608
            update = f"UPDATE ledger_entry SET {column} = ? WHERE seq = ?"  # noqa: S608
            current = db.execute(select, (seq,)).fetchone()
            if current is None:
                continue  # renumbered by an earlier change
            new = _edited(data.draw, current[0])
            try:
                db.execute(update, (new, seq))
            except sqlite3.DatabaseError:
                continue  # a duplicate or a NULL key: no such ledger can exist
        db.commit()
        db.close()
        first = data.draw(st.integers(1, SIZE))
        last = data.draw(st.integers(first, SIZE + 2))
        found = spanscan.span(str(path), first, last)
        # What verification acts on: the span, once its seals are checked (in Python).
        scan = partial(spanscan.span, str(path))
        checker = _Checker(SIGNING.public_key(), frozenset(), scan=scan)
        if checker.compiled(first, last) is not None:
            assert _python_says_sound(path, first, last)
        if found is not None:
            rows = {
                r[ENTRY_AT["seq"]]: r
                for r in sqlite3.connect(path).execute(_ALL)
                if first <= r[ENTRY_AT["seq"]] <= last
            }
            assert found.count == len(rows)
            assert found.seals == [
                (seq, r[ENTRY_AT["entry_hash"]], r[ENTRY_AT["seal"]])
                for seq, r in sorted(rows.items())
                if r[ENTRY_AT["seal"]] is not None
            ]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("purpose", 'mda"x'),  # a quote: JSON would escape it
        ("case_id", "case\\1"),  # a backslash
        ("case_id", "café"),  # not ASCII
        ("time", "2026\t11"),  # a control character
        ("prev_hash", "ab"),  # too short to be a link (and never read past its end)
        ("entry_hash", ""),  # empty
    ],
)
def test_what_is_not_plain_is_left_to_the_long_way(column: str, value: str, tmp_path: Path) -> None:
    """Not a failure, just "not sure": such a value (one JSON would escape, or a link that is
    not 64 characters) never passes here, whatever its hash."""
    path = tmp_path / "ledger.db"
    shutil.copyfile(_template(), path)
    with sqlite3.connect(path) as db:
        db.execute(f"UPDATE ledger_entry SET {column} = ? WHERE seq = 5", (value,))  # noqa: S608
    assert spanscan.span(str(path), 1, SIZE) is None
    assert spanscan.span(str(path), 5, SIZE) is None  # the span's first row too
    assert spanscan.span(str(path), 6, SIZE) is not None  # the rest is still sound


def test_a_short_link_rehashed_is_still_left_to_the_long_way(tmp_path: Path) -> None:
    """A span's first row is not linked inside the span; its link is handed to the caller,
    64 characters of it, so a shorter one — even re-hashed into a row that is otherwise
    sound — is "not sure", never read past its end."""
    from gateway.ledger.entry import leaf_hash, leaf_text

    path = tmp_path / "ledger.db"
    shutil.copyfile(_template(), path)
    with sqlite3.connect(path) as db:
        row = dict(zip(ENTRY_AT, db.execute(_ALL + "").fetchall()[4], strict=True))
        assert row["seq"] == 5
        leaf = leaf_text(
            row["action"],
            row["body"],
            row["case_id"],
            row["outcome"],
            row["policy_version"],
            "ab",
            row["purpose"],
            row["requester_oin"],
            bool(row["review"]),
            5,
            row["subject_commit"],
            row["time"],
        )
        assert leaf is not None
        db.execute(
            "UPDATE ledger_entry SET prev_hash = 'ab', entry_hash = ? WHERE seq = 5",
            (leaf_hash(leaf),),
        )
    assert spanscan.span(str(path), 5, 5) is None
    assert spanscan.span(str(path), 4, 4) is not None
