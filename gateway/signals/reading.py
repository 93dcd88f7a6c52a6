"""The agencies' read side of signals: their own signals, their matches, and what each side of
a match is told — the other organisation, its contact and the date, the area only where the
policy revealed it. Pages are ordered and resumed with an opaque cursor.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Select, and_, or_, select

from gateway.auth.principal import Principal
from gateway.bsn import Bsn
from gateway.errors import InvalidRequest, NotFound, Problem
from gateway.rowseals import RowSeals
from gateway.signals.lifecycle import parse_stamp
from gateway.signals.store import KeyHolder, SignalRow, require_sealed, row_of
from gateway.signals.tables import signal, signal_match

MAX_PAGE = 200


class SignalReader:
    def __init__(
        self,
        db: Engine,
        keys: KeyHolder,
        seals: RowSeals,
        organisations: Callable[[], Mapping[str, str]],
    ) -> None:
        self._db = db
        self.keys = keys
        self._seals = seals
        self._organisations = organisations
        self._names_cache: tuple[float, dict[str, str]] = (0.0, {})

    def notices(self, conn: Connection, match_id: str) -> dict[str, dict[str, Any]]:
        """What each side of a match is told, by OIN: its own signal, the other organisation,
        its contact and the date, and the other's area only where the policy revealed it."""
        m = conn.execute(select(signal_match).where(signal_match.c.id == match_id)).first()
        if m is None:
            return {}
        return self.told(conn, [m]).get(m.id, {})

    def told(self, conn: Connection, matches: Sequence[Any]) -> dict[str, dict[str, Any]]:
        """``_notices`` for several match rows, reading their signals in one query."""
        ids = {sid for m in matches for sid in (m.signal_a, m.signal_b)}
        found = list(conn.execute(select(signal).where(signal.c.id.in_(list(ids)))))
        # What is told, to either side or in a webhook's text: only what the gateway wrote.
        for m in matches:
            require_sealed(self._seals, "signal_match", m._mapping)
        for r in found:
            require_sealed(self._seals, "signal", r._mapping)
        rows = {r.id: row_of(r) for r in found}
        names = self.names()
        out: dict[str, dict[str, Any]] = {}
        for m in matches:
            a, b = rows.get(m.signal_a), rows.get(m.signal_b)
            if a is None or b is None:
                continue
            doc = dict(m._mapping)
            out[m.id] = {
                a.org_oin: self.notice_of(doc, a, b, m.reveal_to_a, names),
                b.org_oin: self.notice_of(doc, b, a, m.reveal_to_b, names),
            }
        return out

    def names(self) -> Mapping[str, str]:
        """Organisation names by OIN, read at most once a minute (they change rarely)."""
        at, names = self._names_cache
        if time.monotonic() - at > 60 or not names:
            names = dict(self._organisations())
            self._names_cache = (time.monotonic(), names)
        return names

    @staticmethod
    def notice_of(
        m: Mapping[str, Any],
        mine: SignalRow,
        other: SignalRow,
        reveal: bool,
        names: Mapping[str, str],
    ) -> dict[str, Any]:
        active = mine.status == "active" and other.status == "active"
        notice: dict[str, Any] = {
            "match_id": m["id"],
            "signal_id": mine.id,
            "matched_at": m["matched_at"],
            "status": "active" if active else "inactive",
            "other": {
                "oin": other.org_oin,
                "organisation": names.get(other.org_oin, ""),
                "contact": other.contact,
                "registered_on": other.registered_at[:10],
            },
        }
        if reveal:
            notice["other"]["area"] = other.area
        return notice

    # -- reading --------------------------------------------------------------------------------

    def matches_of_signal(self, oin: str, signal_id: str) -> list[dict[str, Any]]:
        with self._db.connect() as conn:
            matches = conn.execute(
                select(signal_match)
                .where(
                    signal_match.c.state == "ledgered",
                    or_(signal_match.c.signal_a == signal_id, signal_match.c.signal_b == signal_id),
                )
                .order_by(signal_match.c.matched_at, signal_match.c.id)
            ).all()
            told = self.told(conn, matches)
        return [told[m.id][oin] for m in matches if oin in told.get(m.id, {})]

    def matches_for(
        self, principal: Principal, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the matches the requester's organisation is part of, oldest first, and
        the cursor of the next page (None at the end)."""
        mine = or_(signal_match.c.org_a == principal.oin, signal_match.c.org_b == principal.oin)
        query = select(signal_match).where(signal_match.c.state == "ledgered", mine)
        with self._db.connect() as conn:
            page, nxt = _page(
                conn, query, signal_match.c.matched_at, signal_match.c.id, limit, cursor
            )
            told = self.told(conn, page)
        return [told[m.id][principal.oin] for m in page if principal.oin in told.get(m.id, {})], nxt

    def signals_for(
        self, principal: Principal, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the organisation's own signals, oldest first, and the next cursor."""
        query = select(signal).where(signal.c.org_oin == principal.oin)
        with self._db.connect() as conn:
            page, nxt = _page(conn, query, signal.c.registered_at, signal.c.id, limit, cursor)
        for r in page:
            require_sealed(self._seals, "signal", r._mapping)
        return [row_of(r).view() for r in page], nxt

    def own_signal(self, principal: Principal, signal_id: str) -> SignalRow:
        with self._db.connect() as conn:
            r = conn.execute(select(signal).where(signal.c.id == signal_id)).first()
        # Another organisation's signal gets the answer an unknown id gets.
        if r is None or r.org_oin != principal.oin:
            raise NotFound("no such signal")
        require_sealed(self._seals, "signal", r._mapping)
        return row_of(r)

    def match_for(self, principal: Principal, match_id: str) -> tuple[SignalRow, SignalRow]:
        """(the requester's signal, the other's) of a ledgered match the requester is in."""
        with self._db.connect() as conn:
            m = conn.execute(select(signal_match).where(signal_match.c.id == match_id)).first()
            if m is None or m.state != "ledgered" or principal.oin not in (m.org_a, m.org_b):
                raise NotFound("no such match")
            require_sealed(self._seals, "signal_match", m._mapping)
            found = list(
                conn.execute(select(signal).where(signal.c.id.in_([m.signal_a, m.signal_b])))
            )
            for r in found:
                require_sealed(self._seals, "signal", r._mapping)
            rows = {r.id: row_of(r) for r in found}
        mine_id, other_id = (
            (m.signal_a, m.signal_b) if m.org_a == principal.oin else (m.signal_b, m.signal_a)
        )
        if mine_id not in rows or other_id not in rows:
            raise NotFound("no such match")
        return rows[mine_id], rows[other_id]

    def pseudonym_matches(self, signal_id: str, bsn: Bsn) -> bool:
        """Whether ``bsn`` is the person behind the stored signal ``signal_id``."""
        with self._db.connect() as conn:
            keys = self.keys.current(conn)
            row = conn.execute(select(signal).where(signal.c.id == signal_id)).first()
        if row is None:
            return False
        require_sealed(self._seals, "signal", row._mapping)
        return hmac.compare_digest(row.pseudonym, keys.pseudonym(bsn))


def _page(
    conn: Connection,
    query: Select[Any],
    at: ColumnElement[str],
    ident: ColumnElement[str],
    limit: int,
    cursor: str | None,
) -> tuple[list[Any], str | None]:
    """Keyset paging on (``at``, ``ident``): the rows after the cursor, at most ``limit`` of
    them, and the cursor of the next page (None at the end)."""
    limit = max(1, min(limit, MAX_PAGE))
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(or_(at > after[0], and_(at == after[0], ident > after[1])))
    rows = list(conn.execute(query.order_by(at, ident).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]._mapping
    return rows, encode_cursor(last[at], last[ident])


def encode_cursor(at: str, last: str) -> str:
    raw = json.dumps([at, last], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    if not cursor:
        return None
    refused = InvalidRequest([Problem("/cursor", "not a cursor this API gave out")])
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, last = json.loads(raw)
        parse_stamp(at)
    except (ValueError, TypeError, AttributeError, binascii.Error, UnicodeDecodeError):
        raise refused from None
    if not isinstance(at, str) or not isinstance(last, str):
        raise refused
    return at, last
