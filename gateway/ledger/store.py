"""Appending to and reading the ledger in the gateway's database.

Appends are serialised: a process lock plus one database transaction that locks the head row
(``SELECT … FOR UPDATE``), inserts the entry and moves the head, so several gateway processes
can append to one PostgreSQL ledger. Any database failure is a
:class:`LedgerUnavailable` — the caller must then release nothing.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from sqlalchemy import Engine, Integer, cast, func
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, col, select

from gateway.clock import iso_now
from gateway.errors import LedgerUnavailable
from gateway.ledger.entry import (
    GENESIS,
    Action,
    Entry,
    Header,
    Outcome,
    canonical,
    sign_entry,
    sign_head,
)
from gateway.ledger.periods import PeriodKeys, auditor_of
from gateway.ledger.sealing import SealedBody, seal


class LedgerRow(SQLModel, table=True):
    __tablename__ = "ledger_entry"

    seq: int = Field(primary_key=True)
    time: str
    prev_hash: str
    policy_version: str
    requester_oin: str = Field(index=True)
    purpose: str = Field(index=True)
    case_id: str = Field(index=True)
    subject: str = Field(index=True)
    outcome: str
    review: bool
    action: str = Field(default="disclosure.decision", index=True)
    body: str
    entry_hash: str
    signature: str


class LedgerHeadRow(SQLModel, table=True):
    __tablename__ = "ledger_head"

    id: int = Field(default=1, primary_key=True)
    seq: int
    entry_hash: str
    signature: str
    store_id: str = ""
    """Random, set with the genesis head: a writer that finds another id was given another
    store (dropped and re-created, or swapped) and stops."""


@dataclass(frozen=True)
class Record:
    """What the disclosure core asks the ledger to remember about one decision."""

    policy_version: str
    requester_oin: str
    purpose: str
    case_id: str
    subject: str
    outcome: Outcome
    review: bool
    body: Mapping[str, Any]
    action: Action = "disclosure.decision"

    @classmethod
    def gateway_event(cls, action: Action, policy_version: str, body: Mapping[str, Any]) -> Record:
        """An event of the gateway itself (no requester, case or person)."""
        return cls(
            policy_version=policy_version,
            requester_oin="",
            purpose="",
            case_id="",
            subject="",
            outcome="permit",
            review=False,
            body=body,
            action=action,
        )


@dataclass(frozen=True)
class Receipt:
    seq: int
    entry_hash: str
    time: str

    def as_dict(self) -> dict[str, Any]:
        """What a requester sees. NOTE: no sequence number: it would tell every requester how
        many decisions the gateway has made; the auditor finds the entry by its hash."""
        return {"entry_hash": self.entry_hash, "recorded_at": self.time}


def row_to_entry(row: LedgerRow) -> Entry:
    header = Header(
        seq=row.seq,
        time=row.time,
        prev_hash=row.prev_hash,
        policy_version=row.policy_version,
        requester_oin=row.requester_oin,
        purpose=row.purpose,
        case_id=row.case_id,
        subject=row.subject,
        outcome=row.outcome,  # type: ignore[arg-type]  # checked by verify via the hash
        review=row.review,
        action=row.action,  # type: ignore[arg-type]  # the same
    )
    return Entry(header, SealedBody.from_dict(json.loads(row.body)), row.entry_hash, row.signature)


def _plaintext(body: Mapping[str, Any]) -> bytes:
    # NOTE: the sealed plaintext is never hashed (its ciphertext is), so it needs to be JSON,
    # not canonical JSON; the standard library is ten times faster than RFC 8785 here.
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _ledger_time() -> str:
    return iso_now("microseconds")


def _file_identity(engine: Engine) -> tuple[Path, int, int] | None:
    """(path, device, inode) of a SQLite database file, or None for a server database."""
    if engine.url.get_backend_name() != "sqlite" or not engine.url.database:
        return None
    path = Path(engine.url.database)
    try:
        st = path.stat()
    except OSError:
        return None
    return path, st.st_dev, st.st_ino


class Ledger:
    def __init__(
        self,
        engine: Engine,
        signing_key: Ed25519PrivateKey,
        auditor: X25519PublicKey,
        clock: Callable[[], str] = _ledger_time,
    ) -> None:
        self._engine = engine
        self._signing_key = signing_key
        self._auditor = auditor
        self._clock = clock
        self._lock = threading.Lock()
        self._file = _file_identity(engine)
        self._periods = PeriodKeys(engine)
        self._seen = 0
        """The highest sequence this writer has seen; the ledger may only grow past it."""
        self._head_exists = False
        self._store_id: str | None = None

    def observe(self, seq: int) -> None:
        """Record the size and the store found at start-up (after the start-up checks)."""
        self._seen = max(self._seen, seq)
        self._ensure_head()
        head = read_head(self._engine)
        self._store_id = head.store_id if head is not None else None

    def _check_store(self) -> None:
        # NOTE: SQLite keeps writing to a file that was deleted or replaced under it, and after
        # a restart the ledger would be empty (and "verify"). Stop instead.
        if self._file is None:
            return
        path, dev, ino = self._file
        try:
            st = path.stat()
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != (dev, ino):
            raise LedgerUnavailable("the ledger's database file was removed or replaced")

    def _ensure_head(self) -> None:
        """Create the genesis head (sequence 0, signed) if there is none, in its own
        transaction. Every append then locks an existing row, so several writers starting on an
        empty ledger are serialised too (an INSERT of the first head could not be locked)."""
        if self._head_exists:
            return
        dialect = self._engine.dialect.name
        row = {
            "id": 1,
            "seq": 0,
            "entry_hash": GENESIS,
            "signature": sign_head(0, GENESIS, self._signing_key),
            "store_id": secrets.token_hex(16),
        }
        with self._engine.begin() as conn:
            if dialect == "postgresql":
                conn.execute(
                    postgresql_insert(LedgerHeadRow).values(**row).on_conflict_do_nothing()
                )
            elif dialect == "sqlite":
                conn.execute(sqlite_insert(LedgerHeadRow).values(**row).on_conflict_do_nothing())
            else:
                raise LedgerUnavailable(f"no ledger store for the {dialect} database")
        self._head_exists = True

    def change_auditor(self, record: Record, new_auditor: X25519PublicKey) -> Receipt:
        """Append ``record`` (the signed ``auditor_key.change`` event) sealed for the *new*
        auditor key, and seal every later entry for it. The change is itself in the chain, so
        nobody can swap the auditor key without leaving a signed, ordered trace."""
        receipt = self.append(replace(record, action="auditor_key.change"), new_auditor)
        self._auditor = new_auditor
        return receipt

    def append(self, record: Record, sealed_for: X25519PublicKey | None = None) -> Receipt:
        return self.append_batch([record], sealed_for)[0]

    def append_batch(
        self, records: Sequence[Record], sealed_for: X25519PublicKey | None = None
    ) -> list[Receipt]:
        """Append ``records`` in order, in one transaction: one durable commit for all of them
        (none is answered before all are durable; if the commit fails, none was written)."""
        self._check_store()
        receipts: list[Receipt] = []
        try:
            self._ensure_head()
            with self._lock, Session(self._engine) as session:
                # Row lock on the head: serialises appends across processes on PostgreSQL
                # (SQLite serialises writers itself and ignores FOR UPDATE).
                head = session.exec(
                    select(LedgerHeadRow).where(LedgerHeadRow.id == 1).with_for_update()
                ).first()
                self._check_head(session, head)
                seq = head.seq if head else 0
                prev = head.entry_hash if head else GENESIS
                for record in records:
                    seq += 1
                    header = Header(
                        seq=seq,
                        time=self._clock(),
                        prev_hash=prev,
                        policy_version=record.policy_version,
                        requester_oin=record.requester_oin,
                        purpose=record.purpose,
                        case_id=record.case_id,
                        subject=record.subject,
                        outcome=record.outcome,
                        review=record.review,
                        action=record.action,
                    )
                    auditor = sealed_for or self._auditor
                    period = self._periods.public_for(record.purpose, header.time, auditor)
                    body = seal(_plaintext(record.body), header.aad(), period)
                    entry = sign_entry(header, body, self._signing_key)
                    session.add(
                        LedgerRow(
                            **{k: v for k, v in header.as_dict().items() if k != "v"},
                            body=canonical(body.as_dict()).decode("utf-8"),
                            entry_hash=entry.entry_hash,
                            signature=entry.signature,
                        )
                    )
                    prev = entry.entry_hash
                    receipts.append(Receipt(seq=seq, entry_hash=prev, time=header.time))
                head_sig = sign_head(seq, prev, self._signing_key)
                if head is None:
                    session.add(LedgerHeadRow(seq=seq, entry_hash=prev, signature=head_sig))
                else:
                    head.seq, head.entry_hash, head.signature = seq, prev, head_sig
                    session.add(head)
                session.commit()
        except SQLAlchemyError as exc:
            raise LedgerUnavailable("the access ledger could not record the decision") from exc
        self._seen = seq
        return receipts

    def _check_head(self, session: Session, head: LedgerHeadRow | None) -> None:
        """Append only on top of the head this writer last saw (or a later one), and only if
        the head names an entry that is really there: a ledger rolled back or cut short under a
        running server is refused, not extended (which would make it verify again)."""
        seq = head.seq if head else 0
        if self._store_id is not None and (head is None or head.store_id != self._store_id):
            raise LedgerUnavailable("the ledger's store was replaced or re-created; stopping")
        if seq < self._seen:
            raise LedgerUnavailable(
                f"the ledger went back from entry {self._seen} to {seq}; refusing to append"
            )
        if head is not None and head.seq > 0:
            named = session.get(LedgerRow, head.seq)
            if named is None or named.entry_hash != head.entry_hash:
                raise LedgerUnavailable("the ledger's head does not name its last entry")


def read_entries(engine: Engine) -> Iterator[LedgerRow]:
    """Every stored row in sequence order (verification checks that the order is unbroken)."""
    # NOTE: streamed in chunks (yield_per): verifying a million entries must not hold them all.
    statement = select(LedgerRow).order_by(col(LedgerRow.seq)).execution_options(yield_per=2_000)
    try:
        with Session(engine) as session:
            yield from session.exec(statement)
    except SQLAlchemyError as exc:
        raise LedgerUnavailable("the ledger's entries cannot be read") from exc


def read_head(engine: Engine) -> LedgerHeadRow | None:
    try:
        with Session(engine) as session:
            return session.get(LedgerHeadRow, 1)
    except SQLAlchemyError as exc:
        raise LedgerUnavailable("the ledger's head cannot be read") from exc


def entry_hashes(engine: Engine) -> Iterator[str]:
    """Every entry hash in sequence order, streamed (the Merkle tree's leaves)."""
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=10_000).execute(
                select(LedgerRow.entry_hash).order_by(col(LedgerRow.seq))
            )
            for (h,) in result:
                yield h
    except SQLAlchemyError as exc:
        raise LedgerUnavailable("the ledger's entries cannot be read") from exc


def first_malformed_public_column(engine: Engine) -> int | None:
    """The first entry whose stored public columns hold a value outside their hashed form.

    The ORM reads ``review = 2`` as ``True``, so such a row would re-hash correctly while a
    query ``WHERE review = 1`` misses it; this check reads the raw values.
    """
    statement = (
        select(LedgerRow.seq)
        .where(cast(col(LedgerRow.review), Integer).not_in([0, 1]))
        .order_by(col(LedgerRow.seq))
        .limit(1)
    )
    try:
        with Session(engine) as session:
            return session.exec(statement).first()
    except SQLAlchemyError as exc:
        raise LedgerUnavailable("the ledger cannot be read") from exc


def last_auditor_key_id(engine: Engine) -> str | None:
    """The auditor key id the newest entry's body is sealed for (None for an empty ledger)."""
    statement = select(LedgerRow.body).order_by(col(LedgerRow.seq).desc()).limit(1)
    try:
        with Session(engine) as session:
            body = session.exec(statement).first()
    except SQLAlchemyError as exc:
        raise LedgerUnavailable("the ledger cannot be read") from exc
    if body is None:
        return None
    return auditor_of(engine, json.loads(body)["key_id"])


def last_policy_version(engine: Engine) -> str | None:
    """The policy version of the newest entry (None for an empty ledger)."""
    statement = select(LedgerRow.policy_version).order_by(col(LedgerRow.seq).desc()).limit(1)
    try:
        with Session(engine) as session:
            return session.exec(statement).first()
    except SQLAlchemyError as exc:
        raise LedgerUnavailable("the ledger cannot be read") from exc


def count_entries(engine: Engine) -> int:
    try:
        with Session(engine) as session:
            return int(session.exec(select(func.count()).select_from(LedgerRow)).one())
    except SQLAlchemyError as exc:
        raise LedgerUnavailable("the ledger cannot be read (no ledger at this database?)") from exc
