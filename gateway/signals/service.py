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

import asyncio
import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy import (
    Connection,
    Engine,
    delete,
    insert,
    or_,
    select,
)

from gateway.auth.principal import Principal
from gateway.bsn import Bsn, Pseudonymiser
from gateway.clock import utc_now
from gateway.db import Sql
from gateway.errors import (
    InvalidRequest,
    KeyUnavailable,
    LedgerUnavailable,
    Problem,
    SignalRefused,
)
from gateway.lanes import Lane
from gateway.ledger.entry import Action, Facts, Outcome
from gateway.ledger.writer import Ledger, Record
from gateway.policy.snapshot import ActivePolicy
from gateway.rowseals import RowSeals
from gateway.signals.decision import SignalDecision, decide_signal, parse, recalled_signal
from gateway.signals.lifecycle import periods, stamp
from gateway.signals.reading import SignalReader
from gateway.signals.store import (
    LATE,
    LIVE,
    OTHERS,
    PAIRED,
    KeyHolder,
    Seen,
    SignalRow,
    insert_new,
    match_row,
    one_at_a_time,
    reseal,
    row_of,
    signals,
    writer_for,
)
from gateway.signals.tables import (
    signal,
    signal_delivery,
    signal_match,
)
from gateway.signals.webhooks import new_delivery_id

log = structlog.get_logger(__name__)
T = TypeVar("T")

_HOOKED_CLIENTS = Sql(
    "SELECT w.client_id, c.oin FROM client_webhook w JOIN client c ON c.client_id = w.client_id"
)
PENDING_GRACE = timedelta(seconds=60)
"""A pending match older than this was left by a process that stopped between storing and
ledgering it; the clock run ledgers it then."""
_CHUNK = 500
"""Signal ids per expiry or destruction entry."""


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


class SignalService:
    def __init__(
        self,
        db: Engine,
        policy: ActivePolicy,
        keys: KeyHolder,
        pseudonymiser: Pseudonymiser,
        ledger: Ledger,
        lane: Lane,
        seals: RowSeals,
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
        self._seals = seals
        self._timeout = policy_timeout
        self._queue_timeout = policy_queue_timeout
        self.reader = SignalReader(db, keys, seals, organisations or (lambda: {}))
        # Rows written in the ledger's own transaction where it keeps its entries in this
        # database (the default); a separate ledger store gets them just after.
        self._joined = ledger.store.joins(db)
        self._writer = writer_for(db)
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
        return await self._decide(self._match_input(mine, other))

    @staticmethod
    def _match_input(mine: SignalRow, other: SignalRow) -> dict[str, Any]:
        return {"action": "match", "signal": mine.policy_view(), "other": other.policy_view()}

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
        # One hop to a thread for the reads, the match decisions and the durable commit when
        # the policy's answers on the others are remembered (the usual case); otherwise the
        # engine is asked from here, on the policy lane, and a second hop commits.
        read = await self._run(
            self._read_and_commit_if_recalled,
            principal,
            bsn,
            area,
            dict(contact),
            consent,
            decision,
            version,
            subject,
        )
        if isinstance(read, Registration):
            return read
        seen, mine = read
        found = []
        for other in seen.others:
            there = await self.may_learn(mine, other)
            back = await self.may_learn(other, mine)
            if there.allow and back.allow:
                found.append((other, there.reveal_area, back.reveal_area))
        asked = (area, consent, decision, version, subject)
        return await self._run(self._commit_registration, principal, seen, mine, found, *asked)

    def _read_and_commit_if_recalled(
        self,
        principal: Principal,
        bsn: Bsn,
        area: str,
        contact: dict[str, str],
        consent: bool,
        decision: SignalDecision,
        version: str,
        subject: str,
    ) -> Registration | tuple[Seen, SignalRow]:
        seen = self._read(principal, bsn, area)
        mine = seen.existing or self._new_signal(principal, area, contact, consent)
        engine = self._policy.current.engine
        found = []
        for other in seen.others:
            there = recalled_signal(engine, self._match_input(mine, other))
            back = recalled_signal(engine, self._match_input(other, mine))
            if there is None or back is None:
                return seen, mine
            if there.allow and back.allow:
                found.append((other, there.reveal_area, back.reveal_area))
        asked = (area, consent, decision, version, subject)
        return self._commit_registration(principal, seen, mine, found, *asked)

    def _commit_registration(
        self,
        principal: Principal,
        seen: Seen,
        mine: SignalRow,
        found: Sequence[tuple[SignalRow, bool, bool]],
        area: str,
        consent: bool,
        decision: SignalDecision,
        version: str,
        subject: str,
    ) -> Registration:
        reg = {
            "signal": mine.id,
            "area": area,
            "basis": decision.basis,
            "consent": consent,
            "repeat": seen.existing is not None,
            "active_until": mine.active_until,
        }
        stored, matches = self._commit(principal, seen, mine, found, reg, version, subject)
        return Registration(stored, seen.existing is None, matches)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        # The standard library's hop (as the rest of the gateway): ~55 µs less than anyio's
        # per call.
        return await asyncio.to_thread(fn, *args)

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

    def _read(self, principal: Principal, bsn: Bsn, area: str) -> Seen:
        """What the registration is decided on: the person's pseudonym, the organisation's
        live signal on this person and area (if any), and the other organisations' active
        signals on the person that have no match with it yet."""
        now = stamp(self._clock())
        with self._db.connect() as conn:
            keys = self.keys.current(conn)
            pseudonym = keys.pseudonym(bsn)
            existing = self._live(conn, principal.oin, pseudonym, area)
            others = signals(
                conn, OTHERS, {"p": pseudonym, "oin": principal.oin, "now": now}, self._seals
            )
            if existing is not None and others:
                matched = PAIRED.run(conn, {"id": existing.id}).fetchall()
                paired = {sid for pair in matched for sid in pair}
                others = [o for o in others if o.id not in paired]
        return Seen(keys.fingerprint, pseudonym, existing, others, now)

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
        seen: Seen,
        mine: SignalRow,
        found: Sequence[tuple[SignalRow, bool, bool]],
        reg: Mapping[str, Any],
        version: str,
        subject: str,
    ) -> tuple[SignalRow, list[dict[str, Any]]]:
        """One ledger group (the registration and its matches) and the rows it records, in one
        transaction where the ledger shares the database (one durable commit; the rows exist
        exactly when their entries do), else the rows right after the group. A signal another
        organisation stored on the person after the read is found in that transaction and
        matched through the pending path, so no match is lost to a race."""
        now = stamp(self._clock())
        rows = [
            # Ledgered with the registration, in its group: stored so, never pending.
            match_row(mine, other, mine_sees, other_sees, now, self._seals, state="ledgered")
            for other, mine_sees, other_sees in found
        ]
        records = [self._record("signal.register", principal, "permit", version, reg, subject)]
        records += [self._match_record(principal, m, version) for m in rows]
        done: dict[str, Any] = {}

        def write(conn: Connection) -> None:
            one_at_a_time(conn, seen.pseudonym)
            if self.keys.current(conn).fingerprint != seen.fingerprint:
                raise KeyUnavailable("the signal key was rotated meanwhile; ask again")
            inserted = seen.existing is None and insert_new(
                conn, signal, self._signal_values(mine, seen, version)
            )
            # Not inserted: the same registration made concurrently stands (or it existed).
            stored = (
                mine if inserted else self._live(conn, principal.oin, seen.pseudonym, mine.area)
            )
            if stored is None:
                raise LedgerUnavailable("the signal could not be stored")
            lost = stored.id != mine.id  # an identical registration stored first: it stands
            # A conflict: matched concurrently by the other side.
            kept = [] if lost else [m for m in rows if insert_new(conn, signal_match, m)]
            self._queue_deliveries(conn, [m["id"] for m in kept])
            seen_ids = {o.id for o, _, _ in found} | {o.id for o in seen.others}
            late = [
                r
                for r in signals(
                    conn,
                    LATE,
                    {"p": seen.pseudonym, "oin": principal.oin, "since": seen.at},
                    self._seals,
                )
                if r.id not in seen_ids
            ]
            done.update(stored=stored, lost=lost, kept=kept, late=late)

        # The decision, its outcome and every match are recorded before — or, joined, together
        # with — anything stored; never after.
        if self._joined:
            self._ledger.append_batch(records, also=write)
        else:
            self._ledger.append_batch(records)
            with self._writer.begin() as conn:
                write(conn)
        mine, lost, kept, late = done["stored"], done["lost"], done["kept"], done["late"]
        if late:
            self._match_late(principal, mine, late, version)
        if seen.existing is not None or late or lost:
            return mine, self.reader.matches_of_signal(principal.oin, mine.id)
        names = self.reader.names()
        return mine, [
            self.reader.notice_of(
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

    def _signal_values(self, mine: SignalRow, seen: Seen, version: str) -> dict[str, Any]:
        row = {
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
        return {**row, "seal": self._seals.seal("signal", row)}

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
        found = signals(conn, LIVE, {"oin": oin, "p": pseudonym, "area": area}, self._seals)
        return found[0] if found else None

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
                row = match_row(mine, other, reveal_mine, reveal_other, now, self._seals)
                if insert_new(conn, signal_match, row):  # else matched before, or concurrently
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
                reseal(conn, self._seals, signal_match, m["id"], state="ledgered")
            self._queue_deliveries(conn, [m["id"] for m in stored])

    def _queue_deliveries(self, conn: Connection, match_ids: Sequence[str]) -> None:
        """An outbox row per match side and client with a webhook (gateway/signals/webhooks)."""
        if not match_ids:
            return  # the usual registration: no new match, no read
        clients: dict[str, list[str]] = {}
        for client_id, oin in _HOOKED_CLIENTS.run(conn).fetchall():
            clients.setdefault(oin, []).append(client_id)
        if not clients:
            return
        now = stamp(self._clock())
        for match_id in match_ids:
            for oin, notice in self.reader.notices(conn, match_id).items():
                for client_id in clients.get(oin, ()):
                    row = {
                        "id": new_delivery_id(),
                        "client_id": client_id,
                        "match_id": match_id,
                        "payload": json.dumps(
                            {"type": "signal.match", "data": notice}, sort_keys=True
                        ),
                        "attempts": 0,
                        "next_attempt_at": now,
                        "status": "pending",
                        "last_error": "",
                        "created_at": now,
                    }
                    seal = self._seals.seal("signal_delivery", row)
                    conn.execute(insert(signal_delivery).values(**row, seal=seal))

    # -- withdrawing ----------------------------------------------------------------------------

    def withdraw(self, principal: Principal, signal_id: str) -> SignalRow:
        row = self.reader.own_signal(principal, signal_id)
        if row.status != "active":
            return row  # withdrawing twice changes nothing and records nothing new
        body = {"signal": row.id, "area": row.area}
        self._ledger.append(
            self._record("signal.withdraw", principal, "permit", self._policy.current.version, body)
        )
        with self._writer.begin() as conn:
            active = signal.c.status == "active"
            reseal(conn, self._seals, signal, row.id, active, status="withdrawn", live=row.id)
        return self.reader.own_signal(principal, signal_id)

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
                active = signal.c.status == "active"
                for sig_id in chunk:
                    reseal(conn, self._seals, signal, sig_id, active, status="expired", live=sig_id)
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
        keep: list[dict[str, Any]] = []
        drop: list[str] = []
        with self._db.connect() as conn:
            for m in stale:
                found = list(
                    conn.execute(
                        select(signal).where(signal.c.id.in_([m["signal_a"], m["signal_b"]]))
                    )
                )
                if not self._seals.check("signal_match", m) or not all(
                    self._seals.check("signal", r._mapping) for r in found
                ):
                    # Written behind the gateway's back: neither shown nor dropped (it stays
                    # for `gateway registry check` to name, and fails wherever it is read).
                    log.error("registry.seal_mismatch", table="signal_match")
                    continue
                rows = {r.id: row_of(r) for r in found}
                a, b = rows.get(m["signal_a"]), rows.get(m["signal_b"])
                if a is None or b is None or a.status != "active" or b.status != "active":
                    drop.append(m["id"])
                    continue
                there, back = self._learns_now(engine, a, b), self._learns_now(engine, b, a)
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
                    reveal = {"reveal_to_a": m["reveal_to_a"], "reveal_to_b": m["reveal_to_b"]}
                    reseal(conn, self._seals, signal_match, m["id"], **reveal)
            self._ledger_matches(None, keep, version)


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield list(ids[i : i + _CHUNK])
