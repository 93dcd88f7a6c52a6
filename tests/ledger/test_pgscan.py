"""PostgreSQL's fast path (gateway/ledger/pgscan.py) says "sound" only where the Python path
does: it passes every intact entry, and whatever a writer to the database changes, a span it
passes (its seals checked) is one whose every row the Python fast path passes too."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from gateway.db import create_schema, make_engine
from gateway.ledger import pgscan
from gateway.ledger.entry import head_signature_valid
from gateway.ledger.spanscan import ScannedSpan
from gateway.ledger.stores import store_for
from gateway.ledger.tables import ENTRY_AT
from gateway.ledger.writer import Ledger
from gateway.testing import rows_pass_the_fast_path, sample_record

pytestmark = pytest.mark.postgres

SIGNING = Ed25519PrivateKey.generate()
SIZE = 40
_ALL = "SELECT {} FROM ledger_entry WHERE seq >= :a AND seq <= :b ORDER BY seq".format(  # noqa: S608
    ", ".join(ENTRY_AT)
)


@pytest.fixture
def pg_ledger(pg_url: str) -> Any:
    engine = make_engine(pg_url)
    create_schema(engine)
    writer = Ledger(store_for(engine), SIGNING, X25519PrivateKey.generate().public_key())
    for start in range(0, SIZE, 4):  # a seal on every fourth entry
        writer.append_batch([sample_record(start + i) for i in range(4)])
    writer.store.close()
    yield engine
    engine.dispose()


def _python_says_sound(conn: Connection, first: int, last: int) -> bool:
    rows = conn.execute(text(_ALL), {"a": first, "b": last}).all()
    return rows_pass_the_fast_path(rows, SIGNING.public_key())


def _sealed_ok(found: ScannedSpan) -> bool:
    return all(head_signature_valid(s, h, seal, SIGNING.public_key()) for s, h, seal in found.seals)


def test_every_intact_span_is_sound_with_its_ends_and_seals(pg_ledger: Any) -> None:
    with pg_ledger.connect() as conn:
        whole = pgscan.span(conn, 1, SIZE)
        assert whole is not None and _sealed_ok(whole)
        assert (whole.count, whole.first_seq, whole.last_seq) == (SIZE, 1, SIZE)
        assert whole.first_prev == "0" * 64 and len(whole.seals) == SIZE // 4
        rows = conn.execute(text(_ALL), {"a": 1, "b": SIZE}).all()
        assert whole.last_hash == rows[-1][ENTRY_AT["entry_hash"]]
        middle = pgscan.span(conn, 7, 13)
        assert middle is not None and middle.first_prev == rows[5][ENTRY_AT["entry_hash"]]
        empty = pgscan.span(conn, SIZE + 1, SIZE + 9)
        assert empty is not None and empty.count == 0


_TEXT = [c for c in ENTRY_AT if c not in ("seq", "review")]


def _edited(draw: Any, value: Any) -> Any:
    if isinstance(value, str) and value and draw(st.booleans()):
        at = draw(st.integers(0, len(value) - 1))
        char = draw(st.characters(codec="utf-8", exclude_characters="\x00"))
        return value[:at] + char + value[at + 1 :]
    return draw(
        st.one_of(
            st.none(),
            st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8),
            st.sampled_from(["permit", "disclosure.decision", "0" * 64, "ab", '{"a":"b"}']),
        )
    )


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_whatever_a_writer_changes_a_sound_span_is_sound_to_python(
    pg_ledger: Any, data: st.DataObject
) -> None:
    with pg_ledger.connect() as conn:
        outer = conn.begin()
        try:
            for _ in range(data.draw(st.integers(1, 3))):
                seq = data.draw(st.integers(1, SIZE))
                column = data.draw(st.sampled_from([*_TEXT, "review", "seq"]))
                select = f"SELECT {column} FROM ledger_entry WHERE seq = :s"  # noqa: S608
                update = f"UPDATE ledger_entry SET {column} = :v WHERE seq = :s"  # noqa: S608
                current = conn.execute(text(select), {"s": seq}).first()
                if current is None:
                    continue  # renumbered by an earlier change
                if column == "seq":
                    new: Any = data.draw(st.integers(-3, 2 * SIZE))
                elif column == "review":
                    new = not current[0]
                else:
                    new = _edited(data.draw, current[0])
                savepoint = conn.begin_nested()
                try:
                    conn.execute(text(update), {"v": new, "s": seq})
                    savepoint.commit()
                except DBAPIError:
                    savepoint.rollback()  # a NULL, a duplicate: no such ledger can exist
            first = data.draw(st.integers(1, SIZE))
            last = data.draw(st.integers(first, SIZE + 2))
            found = pgscan.span(conn, first, last)
            if found is not None and _sealed_ok(found):
                assert _python_says_sound(conn, first, last)
        finally:
            outer.rollback()


def test_a_ledger_the_server_cannot_read_is_unavailable_not_a_crash(pg_ledger: Any) -> None:
    from gateway.errors import LedgerUnavailable
    from gateway.ledger.parallel import _scanner
    from gateway.ledger.stores.sql import SqlStore

    scan = _scanner(SqlStore(pg_ledger))
    assert scan is not None and scan(1, SIZE) is not None
    with pg_ledger.begin() as conn:
        conn.execute(text("ALTER TABLE ledger_entry RENAME TO gone"))
    with pytest.raises(LedgerUnavailable):
        scan(1, SIZE)
