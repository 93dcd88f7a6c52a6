"""Signals: register, withdraw, match, notify, expire — decided by the policy, ledgered.

A signal says only *that* an organisation is involved with a person on an area of concern, and
whom to call (DAT-information). It is stored as the matching pseudonym (``pseudonyms.py``), never
as a BSN. Two active signals of two organisations on the same person match when the signals
policy lets each side learn of the other; both sides are then told the other organisation, its
contact and the date — the area only where the policy reveals it, never anything else.

Accountability, in the order the events happen:

* ``signal.register`` — the decision (permit or deny, with reasons) and its outcome, filed under
  the person's ledger pseudonym so the auditor's art. 15 report finds it; written before the
  signal is stored.
* ``signal.match`` — one per match, written before the match is shown to anyone: a match is
  stored *pending* first and becomes visible (pull, push) only once ledgered. A pending match
  that outlived a crash is ledgered by the next clock run.
* ``signal.withdraw``, ``signal.expire``, ``signal.destroy``, ``signal.notify`` and
  ``signal_key.rotate`` (``rotation.py``).

The later entries carry the signal ids in their sealed bodies, not the person: the gateway keeps
no link from a signal back to the ledger pseudonym, and the auditor follows the ids from the
registration entries (gateway.audit.report).

Concurrency: two organisations signalling the same person at the same moment each store their
signal first and look for the other afterwards, so at least one of them sees the other; the
pair's unique constraint keeps one match, and only the side that stored it ledgers it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.auth.principal import Principal
from gateway.bsn import Bsn, Pseudonymiser
from gateway.clock import utc_now
from gateway.errors import (
    InvalidRequest,
    KeyUnavailable,
    LedgerUnavailable,
    NotFound,
    Problem,
    SignalRefused,
)
from gateway.lanes import Lane
from gateway.ledger.entry import Action, Facts, Outcome
from gateway.ledger.writer import Ledger, Record
from gateway.policy.snapshot import ActivePolicy
from gateway.signals.decision import SignalDecision, decide_signal, parse
from gateway.signals.lifecycle import parse_stamp, periods, stamp
from gateway.signals.pseudonyms import SignalKeys
from gateway.signals.tables import (
    client_webhook,
    signal,
    signal_delivery,
    signal_key_state,
    signal_match,
)

log = structlog.get_logger(__name__)

# The registration path's statements, built once (building a statement costs more than running
# it on SQLite).
_KEY_STATE = select(signal_key_state.c.fingerprint).where(signal_key_state.c.id == 1)
_LIVE = select(signal).where(
    signal.c.org_oin == bindparam("oin"),
    signal.c.pseudonym == bindparam("p"),
    signal.c.area == bindparam("area"),
    signal.c.live == "",
)
_OTHERS = select(signal).where(
    signal.c.pseudonym == bindparam("p"),
    signal.c.status == "active",
    signal.c.org_oin != bindparam("oin"),
    signal.c.active_until > bindparam("now"),
)
_LATE = select(signal).where(
    signal.c.pseudonym == bindparam("p"),
    signal.c.status == "active",
    signal.c.org_oin != bindparam("oin"),
    signal.c.registered_at >= bindparam("since"),
)
_IGNORING = {
    (dialect, table.name): make(table).on_conflict_do_nothing()
    for dialect, make in (("sqlite", sqlite_insert), ("postgresql", pg_insert))
    for table in (signal, signal_match)
}
"""INSERT … ON CONFLICT DO NOTHING: a duplicate is skipped inside the transaction (a savepoint
would, on SQLite, commit the transaction it starts)."""


def _insert_new(conn: Connection, table: Table, row: Mapping[str, Any]) -> bool:
    """Insert ``row`` unless it conflicts with a unique constraint; True if inserted."""
    return bool(conn.execute(_IGNORING[(conn.dialect.name, table.name)], dict(row)).rowcount)


MAX_PAGE = 200
PENDING_GRACE = timedelta(seconds=60)
"""A pending match older than this was left by a process that stopped between storing and
ledgering it; the clock run ledgers it then."""
_CHUNK = 500
"""Signal ids per expiry or destruction entry."""


@dataclass(frozen=True)
class SignalRow:
    id: str
    org_oin: str
    org_type: str
    role: str
    area: str
    contact: dict[str, str]
    registered_at: str
    active_until: str
    kept_until: str
    status: str
    consent: bool = False

    def view(self) -> dict[str, Any]:
        """What the signalling organisation sees of its own signal."""
        return {
            "signal_id": self.id,
            "area": self.area,
            "contact": self.contact,
            "registered_at": self.registered_at,
            "active_until": self.active_until,
            "kept_until": self.kept_until,
            "status": self.status,
        }

    def policy_view(self) -> dict[str, str]:
        return {"org_type": self.org_type, "role": self.role, "area": self.area}


def _row(r: Any) -> SignalRow:
    return SignalRow(
        id=r.id,
        org_oin=r.org_oin,
        org_type=r.org_type,
        role=r.role,
        area=r.area,
        contact=json.loads(r.contact),
        registered_at=r.registered_at,
        active_until=r.active_until,
        kept_until=r.kept_until,
        status=r.status,
        consent=bool(r.consent),
    )


@dataclass(frozen=True)
class _Seen:
    """What a registration read before it was decided."""

    fingerprint: str
    pseudonym: str
    existing: SignalRow | None
    others: list[SignalRow]
    at: str


@dataclass(frozen=True)
class Registration:
    signal: SignalRow
    created: bool
    matches: list[dict[str, Any]]


@dataclass(frozen=True)
class ClockRun:
    expired: int = 0
    destroyed: int = 0
    settled: int = 0


@dataclass
class KeyHolder:
    """The matching key chain in use, and a way to read the chain from disk again when the
    database says another process rotated it (``signal_key_state``)."""

    keys: SignalKeys
    reload: Callable[[], SignalKeys] | None = None
    _checked: str | None = field(default=None, init=False)

    def current(self, conn: Connection) -> SignalKeys:
        state = conn.execute(_KEY_STATE).scalar_one_or_none()
        if state is None or state == self.keys.fingerprint:
            return self.keys
        if self.reload is not None:
            fresh = self.reload()
            if fresh.fingerprint == state:
                self.keys = fresh
                return fresh
        raise KeyUnavailable(
            "signal-pseudonym.key is not the key the stored signals were made with; nothing "
            "was matched"
        )


class SignalService:
    def __init__(
        self,
        db: Engine,
        policy: ActivePolicy,
        keys: KeyHolder,
        pseudonymiser: Pseudonymiser,
        ledger: Ledger,
        lane: Lane,
        *,
        policy_timeout: float = 1.0,
        policy_queue_timeout: float = 2.0,
        organisations: Callable[[], Mapping[str, str]] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._db = db
        self._policy = policy
        self.keys = keys
        self._pseudonymiser = pseudonymiser
        self._ledger = ledger
        self._lane = lane
        self._timeout = policy_timeout
        self._queue_timeout = policy_queue_timeout
        self._organisations = organisations or (lambda: {})
        self._writer = _writer_for(db)
        self._names_cache: tuple[float, dict[str, str]] = (0.0, {})
        self._clock = clock

    def close(self) -> None:
        if self._writer is not self._db:
            self._writer.dispose()

    # -- policy ---------------------------------------------------------------------------------

    async def _decide(self, policy_input: Mapping[str, Any]) -> SignalDecision:
        return await decide_signal(
            self._policy.current.engine,
            self._lane,
            policy_input,
            self._timeout,
            self._queue_timeout,
        )

    async def may_learn(self, mine: SignalRow, other: SignalRow) -> SignalDecision:
        return await self._decide(
            {"action": "match", "signal": mine.policy_view(), "other": other.policy_view()}
        )

    def _areas(self) -> Mapping[str, Any]:
        return self._policy.current.catalog.signal_areas

    # -- registering ----------------------------------------------------------------------------

    async def register(
        self,
        principal: Principal,
        bsn: Bsn,
        area: str,
        contact: Mapping[str, str],
        consent: bool,
    ) -> Registration:
        areas = self._areas()
        if area not in areas:
            names = ", ".join(sorted(areas)) or "none"
            raise InvalidRequest([Problem("/area", f"not an area of concern; one of: {names}")])
        version = self._policy.current.version
        decision = await self._decide(
            {
                "action": "register",
                "requester": principal.policy_view(),
                "area": area,
                "consent": consent,
            }
        )
        subject = self._pseudonymiser.pseudonym(bsn)
        if not decision.allow:
            body = {"area": area, "consent": consent, "reasons": list(decision.reasons)}
            await self._run(
                self._ledger.append,
                self._record("signal.register", principal, "deny", version, body, subject),
            )
            raise SignalRefused(decision.reasons)
        seen = await self._run(self._read, principal, bsn, area)
        mine = seen.existing or self._new_signal(principal, area, dict(contact), consent)
        found = []
        for other in seen.others:
            there = await self.may_learn(mine, other)
            back = await self.may_learn(other, mine)
            if there.allow and back.allow:
                found.append((other, there.reveal_area, back.reveal_area))
        reg = {
            "signal": mine.id,
            "area": area,
            "basis": decision.basis,
            "consent": consent,
            "repeat": seen.existing is not None,
            "active_until": mine.active_until,
        }
        mine, matches = await self._run(
            self._commit, principal, seen, mine, found, reg, version, subject
        )
        return Registration(mine, seen.existing is None, matches)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        import anyio.to_thread

        return await anyio.to_thread.run_sync(lambda: fn(*args))

    def _record(
        self,
        action: Action,
        principal: Principal | None,
        outcome: Outcome,
        version: str,
        body: Mapping[str, Any],
        subject: str = "",
    ) -> Record:
        facts = Facts(
            action=action,
            policy_version=version,
            requester_oin=principal.oin if principal is not None else "",
            purpose="",
            case_id="",
            outcome=outcome,
            review=False,
        )
        who = {"requester": principal.ledger_view()} if principal is not None else {}
        return Record(facts=facts, subject=subject, body={**who, **body})

    def _read(self, principal: Principal, bsn: Bsn, area: str) -> _Seen:
        """What the registration is decided on: the person's pseudonym, the organisation's
        live signal on this person and area (if any), and the other organisations' active
        signals on the person that have no match with it yet."""
        now = stamp(self._clock())
        with self._db.connect() as conn:
            keys = self.keys.current(conn)
            pseudonym = keys.pseudonym(bsn)
            existing = self._live(conn, principal.oin, pseudonym, area)
            others = [
                _row(r)
                for r in conn.execute(_OTHERS, {"p": pseudonym, "oin": principal.oin, "now": now})
            ]
            if existing is not None and others:
                matched = conn.execute(
                    select(signal_match.c.signal_a, signal_match.c.signal_b).where(
                        or_(
                            signal_match.c.signal_a == existing.id,
                            signal_match.c.signal_b == existing.id,
                        )
                    )
                ).all()
                paired = {sid for pair in matched for sid in pair}
                others = [o for o in others if o.id not in paired]
        return _Seen(keys.fingerprint, pseudonym, existing, others, now)

    def _new_signal(
        self, principal: Principal, area: str, contact: dict[str, str], consent: bool
    ) -> SignalRow:
        now = self._clock()
        active_until, kept_until = periods(self._areas().get(area), now)
        return SignalRow(
            id="sig-" + secrets.token_hex(10),
            org_oin=principal.oin,
            org_type=principal.org_type,
            role=principal.role,
            area=area,
            contact=contact,
            registered_at=stamp(now),
            active_until=active_until,
            kept_until=kept_until,
            status="active",
            consent=consent,
        )

    def _commit(
        self,
        principal: Principal,
        seen: _Seen,
        mine: SignalRow,
        found: Sequence[tuple[SignalRow, bool, bool]],
        reg: Mapping[str, Any],
        version: str,
        subject: str,
    ) -> tuple[SignalRow, list[dict[str, Any]]]:
        """One ledger group (the registration and its matches), then one transaction that
        stores what the group recorded. A signal another organisation stored on the person
        meanwhile (after the read) is found in the same transaction and matched through the
        pending path, so no match is lost to a race."""
        now = stamp(self._clock())
        rows = [
            self._match_row(mine, other, mine_sees, other_sees, now)
            for other, mine_sees, other_sees in found
        ]
        records = [self._record("signal.register", principal, "permit", version, reg, subject)]
        records += [self._match_record(principal, m, version) for m in rows]
        # The decision, its outcome and every match are recorded before anything is stored.
        self._ledger.append_batch(records)
        late: list[SignalRow] = []
        lost = False
        with self._writer.begin() as conn:
            _one_at_a_time(conn, seen.pseudonym)
            if self.keys.current(conn).fingerprint != seen.fingerprint:
                raise KeyUnavailable("the signal key was rotated meanwhile; ask again")
            inserted = seen.existing is None and _insert_new(
                conn, signal, self._signal_values(mine, seen, version)
            )
            # Not inserted: the same registration made concurrently stands (or it existed).
            stored = (
                mine if inserted else self._live(conn, principal.oin, seen.pseudonym, mine.area)
            )
            if stored is None:
                raise LedgerUnavailable("the signal could not be stored")
            lost = stored.id != mine.id
            if lost:  # an identical registration stored first: it stands, with its matches
                rows = []
                mine = stored
            # A conflict: matched concurrently by the other side.
            kept = [m for m in rows if _insert_new(conn, signal_match, {**m, "state": "ledgered"})]
            self._queue_deliveries(conn, [m["id"] for m in kept])
            known = {o.id for o, _, _ in found}
            seen_ids = known | {o.id for o in seen.others}
            late = [
                _row(r)
                for r in conn.execute(
                    _LATE, {"p": seen.pseudonym, "oin": principal.oin, "since": seen.at}
                )
                if r.id not in seen_ids
            ]
        if late:
            self._match_late(principal, mine, late, version)
        if seen.existing is not None or late or lost:
            return mine, self._matches_of_signal(principal.oin, mine.id)
        names = self._names()
        return mine, [
            self._notice_of(
                m,
                mine,
                other,
                m["reveal_to_a"] if m["signal_a"] == mine.id else m["reveal_to_b"],
                names,
            )
            for m, (other, _, _) in zip(rows, found, strict=True)
            if m in kept
        ]

    def _match_late(
        self, principal: Principal, mine: SignalRow, late: Sequence[SignalRow], version: str
    ) -> None:
        """Signals stored by others while this registration was decided: decided here, the
        slow way (pending, ledgered, shown), on this thread."""
        engine = self._policy.current.engine
        found = []
        for other in late:
            there = self._learns_now(engine, mine, other)
            back = self._learns_now(engine, other, mine)
            if there.allow and back.allow:
                found.append((other, there.reveal_area, back.reveal_area))
        self._match(principal, mine, found, version)

    @staticmethod
    def _learns_now(engine: Any, a: SignalRow, b: SignalRow) -> SignalDecision:
        """A match decision made on the calling thread (the clock and the rare late path)."""
        evaluate = getattr(engine, "evaluate_signal", None)
        if evaluate is None:
            return SignalDecision.deny("policy_undefined")
        try:
            raw = evaluate({"action": "match", "signal": a.policy_view(), "other": b.policy_view()})
        except Exception as exc:  # an engine failure is no match (fail closed)
            log.error("signals.engine_error", error=exc.__class__.__name__)
            return SignalDecision.deny("engine_error")
        return parse(raw)

    def _signal_values(self, mine: SignalRow, seen: _Seen, version: str) -> dict[str, Any]:
        return {
            "id": mine.id,
            "org_oin": mine.org_oin,
            "org_type": mine.org_type,
            "role": mine.role,
            "pseudonym": seen.pseudonym,
            "area": mine.area,
            "contact": json.dumps(mine.contact, sort_keys=True),
            "consent": mine.consent,
            "registered_at": mine.registered_at,
            "active_until": mine.active_until,
            "kept_until": mine.kept_until,
            "status": "active",
            "live": "",
            "policy_version": version,
        }

    @staticmethod
    def _match_row(
        mine: SignalRow, other: SignalRow, mine_sees: bool, other_sees: bool, now: str
    ) -> dict[str, Any]:
        a, b = (mine, other) if mine.id < other.id else (other, mine)
        return {
            "id": "match-" + secrets.token_hex(10),
            "signal_a": a.id,
            "signal_b": b.id,
            "org_a": a.org_oin,
            "org_b": b.org_oin,
            "reveal_to_a": mine_sees if a is mine else other_sees,
            "reveal_to_b": other_sees if a is mine else mine_sees,
            "matched_at": now,
            "state": "pending",
        }

    def _match_record(
        self, principal: Principal | None, m: Mapping[str, Any], version: str
    ) -> Record:
        return self._record(
            "signal.match",
            principal,
            "permit",
            version,
            {
                "match": m["id"],
                "signals": [m["signal_a"], m["signal_b"]],
                "organisations": [m["org_a"], m["org_b"]],
                "area_revealed": {"a": m["reveal_to_a"], "b": m["reveal_to_b"]},
            },
        )

    def _live(self, conn: Connection, oin: str, pseudonym: str, area: str) -> SignalRow | None:
        r = conn.execute(_LIVE, {"oin": oin, "p": pseudonym, "area": area}).first()
        return _row(r) if r is not None else None

    # -- matching -------------------------------------------------------------------------------

    def _match(
        self,
        principal: Principal | None,
        mine: SignalRow,
        found: Sequence[tuple[SignalRow, bool, bool]],
        version: str,
    ) -> None:
        """Store the new matches pending, ledger the ones this call stored, then make them
        visible and queue their webhook deliveries."""
        if not found:
            return
        now = stamp(self._clock())
        stored: list[dict[str, Any]] = []
        with self._writer.begin() as conn:
            for other, reveal_mine, reveal_other in found:
                row = self._match_row(mine, other, reveal_mine, reveal_other, now)
                if _insert_new(conn, signal_match, row):  # else matched before, or concurrently
                    stored.append(row)
        self._ledger_matches(principal, stored, version)

    def _ledger_matches(
        self, principal: Principal | None, stored: Sequence[Mapping[str, Any]], version: str
    ) -> None:
        if not stored:
            return
        records = [self._match_record(principal, m, version) for m in stored]
        self._ledger.append_batch(records)
        with self._writer.begin() as conn:
            for m in stored:
                conn.execute(
                    update(signal_match)
                    .where(signal_match.c.id == m["id"])
                    .values(state="ledgered")
                )
            self._queue_deliveries(conn, [m["id"] for m in stored])

    def _queue_deliveries(self, conn: Connection, match_ids: Sequence[str]) -> None:
        hooks = dict(conn.execute(select(client_webhook.c.client_id, client_webhook.c.url)).all())
        if not hooks:
            return
        clients: dict[str, list[str]] = {}
        for client_id, oin in conn.execute(text("SELECT client_id, oin FROM client")).all():
            if client_id in hooks:
                clients.setdefault(oin, []).append(client_id)
        now = stamp(self._clock())
        for match_id in match_ids:
            for oin, notice in self._notices(conn, match_id).items():
                for client_id in clients.get(oin, ()):
                    conn.execute(
                        insert(signal_delivery).values(
                            id="msg_" + secrets.token_hex(12),
                            client_id=client_id,
                            match_id=match_id,
                            payload=json.dumps(
                                {"type": "signal.match", "data": notice}, sort_keys=True
                            ),
                            attempts=0,
                            next_attempt_at=now,
                            status="pending",
                            last_error="",
                            created_at=now,
                        )
                    )

    def _notices(self, conn: Connection, match_id: str) -> dict[str, dict[str, Any]]:
        """What each side of a match is told, by OIN: its own signal, the other organisation,
        its contact and the date, and the other's area only where the policy revealed it."""
        m = conn.execute(select(signal_match).where(signal_match.c.id == match_id)).first()
        if m is None:
            return {}
        return self._told(conn, [m]).get(m.id, {})

    def _told(self, conn: Connection, matches: Sequence[Any]) -> dict[str, dict[str, Any]]:
        """``_notices`` for several match rows, reading their signals in one query."""
        ids = {sid for m in matches for sid in (m.signal_a, m.signal_b)}
        rows = {
            r.id: _row(r) for r in conn.execute(select(signal).where(signal.c.id.in_(list(ids))))
        }
        names = self._names()
        out: dict[str, dict[str, Any]] = {}
        for m in matches:
            a, b = rows.get(m.signal_a), rows.get(m.signal_b)
            if a is None or b is None:
                continue
            doc = dict(m._mapping)
            out[m.id] = {
                a.org_oin: self._notice_of(doc, a, b, m.reveal_to_a, names),
                b.org_oin: self._notice_of(doc, b, a, m.reveal_to_b, names),
            }
        return out

    def _names(self) -> Mapping[str, str]:
        """Organisation names by OIN, read at most once a minute (they change rarely)."""
        at, names = self._names_cache
        if time.monotonic() - at > 60 or not names:
            names = dict(self._organisations())
            self._names_cache = (time.monotonic(), names)
        return names

    @staticmethod
    def _notice_of(
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

    def _matches_of_signal(self, oin: str, signal_id: str) -> list[dict[str, Any]]:
        with self._db.connect() as conn:
            matches = conn.execute(
                select(signal_match)
                .where(
                    signal_match.c.state == "ledgered",
                    or_(signal_match.c.signal_a == signal_id, signal_match.c.signal_b == signal_id),
                )
                .order_by(signal_match.c.matched_at, signal_match.c.id)
            ).all()
            told = self._told(conn, matches)
        return [told[m.id][oin] for m in matches if oin in told.get(m.id, {})]

    def matches_for(
        self, principal: Principal, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the matches the requester's organisation is part of, oldest first, and
        the cursor of the next page (None at the end)."""
        limit = max(1, min(limit, MAX_PAGE))
        after = _decode_cursor(cursor)
        mine = or_(signal_match.c.org_a == principal.oin, signal_match.c.org_b == principal.oin)
        query = select(signal_match).where(signal_match.c.state == "ledgered", mine)
        if after is not None:
            at, last = after
            query = query.where(
                or_(
                    signal_match.c.matched_at > at,
                    and_(signal_match.c.matched_at == at, signal_match.c.id > last),
                )
            )
        query = query.order_by(signal_match.c.matched_at, signal_match.c.id).limit(limit + 1)
        with self._db.connect() as conn:
            page = conn.execute(query).all()
            more = len(page) > limit
            page = page[:limit]
            told = self._told(conn, page)
            out = [told[m.id][principal.oin] for m in page if principal.oin in told.get(m.id, {})]
        next_cursor = _encode_cursor(page[-1].matched_at, page[-1].id) if more and page else None
        return out, next_cursor

    def signals_for(
        self, principal: Principal, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        limit = max(1, min(limit, MAX_PAGE))
        after = _decode_cursor(cursor)
        query = select(signal).where(signal.c.org_oin == principal.oin)
        if after is not None:
            at, last = after
            query = query.where(
                or_(
                    signal.c.registered_at > at,
                    and_(signal.c.registered_at == at, signal.c.id > last),
                )
            )
        query = query.order_by(signal.c.registered_at, signal.c.id).limit(limit + 1)
        with self._db.connect() as conn:
            rows = [_row(r) for r in conn.execute(query)]
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = _encode_cursor(rows[-1].registered_at, rows[-1].id) if more and rows else None
        return [r.view() for r in rows], nxt

    def own_signal(self, principal: Principal, signal_id: str) -> SignalRow:
        with self._db.connect() as conn:
            r = conn.execute(select(signal).where(signal.c.id == signal_id)).first()
        # Another organisation's signal gets the answer an unknown id gets.
        if r is None or r.org_oin != principal.oin:
            raise NotFound("no such signal")
        return _row(r)

    def match_for(self, principal: Principal, match_id: str) -> tuple[SignalRow, SignalRow]:
        """(the requester's signal, the other's) of a ledgered match the requester is in."""
        with self._db.connect() as conn:
            m = conn.execute(select(signal_match).where(signal_match.c.id == match_id)).first()
            if m is None or m.state != "ledgered" or principal.oin not in (m.org_a, m.org_b):
                raise NotFound("no such match")
            rows = {
                r.id: _row(r)
                for r in conn.execute(
                    select(signal).where(signal.c.id.in_([m.signal_a, m.signal_b]))
                )
            }
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
            stored = conn.execute(
                select(signal.c.pseudonym).where(signal.c.id == signal_id)
            ).scalar_one_or_none()
        return stored is not None and hmac.compare_digest(stored, keys.pseudonym(bsn))

    # -- withdrawing ----------------------------------------------------------------------------

    def withdraw(self, principal: Principal, signal_id: str) -> SignalRow:
        row = self.own_signal(principal, signal_id)
        if row.status != "active":
            return row  # withdrawing twice changes nothing and records nothing new
        body = {"signal": row.id, "area": row.area}
        self._ledger.append(
            self._record("signal.withdraw", principal, "permit", self._policy.current.version, body)
        )
        with self._writer.begin() as conn:
            conn.execute(
                update(signal)
                .where(signal.c.id == row.id, signal.c.status == "active")
                .values(status="withdrawn", live=row.id)
            )
        return self.own_signal(principal, signal_id)

    # -- the clock ------------------------------------------------------------------------------

    def run_clock(self, now: datetime | None = None) -> ClockRun:
        """Expire what is past its active period, destroy what is past its keeping period, and
        ledger matches left pending by a process that stopped. Each step is ledgered before the
        rows change; running it twice at once records the same facts twice, never loses one."""
        now = now or self._clock()
        at = stamp(now)
        version = self._policy.current.version
        with self._db.connect() as conn:
            due = list(
                conn.execute(
                    select(signal.c.id).where(
                        signal.c.status == "active", signal.c.active_until <= at
                    )
                ).scalars()
            )
            gone = list(
                conn.execute(select(signal.c.id).where(signal.c.kept_until <= at)).scalars()
            )
            stale = [
                dict(r._mapping)
                for r in conn.execute(
                    select(signal_match).where(
                        signal_match.c.state == "pending",
                        signal_match.c.matched_at <= stamp(now - PENDING_GRACE),
                    )
                )
            ]
        for chunk in _chunks(due):
            self._ledger.append(
                self._record("signal.expire", None, "permit", version, {"signals": chunk})
            )
            with self._writer.begin() as conn:
                for sig_id in chunk:
                    conn.execute(
                        update(signal)
                        .where(signal.c.id == sig_id, signal.c.status == "active")
                        .values(status="expired", live=sig_id)
                    )
        for chunk in _chunks(gone):
            self._ledger.append(
                self._record("signal.destroy", None, "permit", version, {"signals": chunk})
            )
            with self._writer.begin() as conn:
                matches = select(signal_match.c.id).where(
                    or_(signal_match.c.signal_a.in_(chunk), signal_match.c.signal_b.in_(chunk))
                )
                conn.execute(delete(signal_delivery).where(signal_delivery.c.match_id.in_(matches)))
                conn.execute(
                    delete(signal_match).where(
                        or_(signal_match.c.signal_a.in_(chunk), signal_match.c.signal_b.in_(chunk))
                    )
                )
                conn.execute(delete(signal).where(signal.c.id.in_(chunk)))
        if stale:
            self._settle(stale, version)
        if due or gone or stale:
            log.info("signals.clock", expired=len(due), destroyed=len(gone), settled=len(stale))
        return ClockRun(len(due), len(gone), len(stale))

    def _settle(self, stale: Sequence[dict[str, Any]], version: str) -> None:
        """Matches a stopped process stored but never ledgered: decided again under the policy
        in force now (both directions), then ledgered and shown — or dropped."""
        engine = self._policy.current.engine

        def learns(a: SignalRow, b: SignalRow) -> SignalDecision:
            return self._learns_now(engine, a, b)

        keep: list[dict[str, Any]] = []
        drop: list[str] = []
        with self._db.connect() as conn:
            for m in stale:
                rows = {
                    r.id: _row(r)
                    for r in conn.execute(
                        select(signal).where(signal.c.id.in_([m["signal_a"], m["signal_b"]]))
                    )
                }
                a, b = rows.get(m["signal_a"]), rows.get(m["signal_b"])
                if a is None or b is None or a.status != "active" or b.status != "active":
                    drop.append(m["id"])
                    continue
                there, back = learns(a, b), learns(b, a)
                if there.allow and back.allow:
                    keep.append(
                        {**m, "reveal_to_a": there.reveal_area, "reveal_to_b": back.reveal_area}
                    )
                else:
                    drop.append(m["id"])
        if drop:
            with self._writer.begin() as conn:
                conn.execute(delete(signal_match).where(signal_match.c.id.in_(drop)))
        if keep:
            with self._writer.begin() as conn:
                for m in keep:
                    conn.execute(
                        update(signal_match)
                        .where(signal_match.c.id == m["id"])
                        .values(reveal_to_a=m["reveal_to_a"], reveal_to_b=m["reveal_to_b"])
                    )
            self._ledger_matches(None, keep, version)


def _writer_for(db: Engine) -> Engine:
    """Where writes go: on a SQLite file an engine whose transactions take the write lock at
    BEGIN (so a transaction is one commit, and registrations on SQLite are serialised)."""
    if db.dialect.name == "sqlite" and db.url.database not in (None, "", ":memory:"):
        from gateway.ledger.stores.sqlite import immediate_engine

        return immediate_engine(db)
    return db


def _one_at_a_time(conn: Connection, pseudonym: str) -> None:
    """Serialise the transactions that store signals on one person. SQLite does by itself (one
    writer); PostgreSQL runs them side by side under READ COMMITTED, where two registrations
    could each miss the other's uncommitted row — a transaction-scoped advisory lock on the
    pseudonym makes the second wait, and then see the first."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": int(pseudonym[:15], 16)})


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield list(ids[i : i + _CHUNK])


def _encode_cursor(at: str, last: str) -> str:
    raw = json.dumps([at, last], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> tuple[str, str] | None:
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
