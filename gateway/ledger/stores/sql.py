"""The ledger in a SQL database (the parts SQLite and PostgreSQL share): plain SQLAlchemy Core,
no ORM objects, rows streamed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    RowMapping,
    Select,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import SQLAlchemyError

from gateway.db import Sql
from gateway.errors import LedgerUnavailable
from gateway.ledger.entry import FACT_NAMES, Facts, Header
from gateway.ledger.stores.base import (
    Also,
    Build,
    EntryFilter,
    PeriodKey,
    StoredEntry,
    StoredHead,
    Tip,
)
from gateway.ledger.tables import ENTRY_AT, ledger_entry, ledger_head, ledger_period_key

_E = ledger_entry.c
_STREAM = 5_000
_UNREADABLE = "the ledger cannot be read (no ledger at this database?)"


_AT = ENTRY_AT
_ACTION, _VERSION, _OIN, _PURPOSE, _CASE, _OUTCOME, _REVIEW = (_AT[n] for n in FACT_NAMES)
_SEQ, _PREV, _TIME, _COMMIT = _AT["seq"], _AT["prev_hash"], _AT["time"], _AT["subject_commit"]
_BODY, _HASH, _SEAL = _AT["body"], _AT["entry_hash"], _AT["seal"]
_SUBJECT, _SALT = _AT["subject"], _AT["subject_salt"]


# Column names from the table definition, never from input.
_RANGE = Sql(
    "SELECT {} FROM ledger_entry WHERE seq >= :first AND seq <= :last ORDER BY seq".format(  # noqa: S608
        ", ".join(c.name for c in ledger_entry.columns)
    )
)


def _boolean(value: Any) -> Any:
    # SQLite keeps a boolean as 0 or 1; a driver-level read gets the integer, where SQLAlchemy
    # would have given bool(value). (A stored value outside 0/1 fails first_malformed.)
    return value if value is None or type(value) is bool else bool(value)


def entry_from_row(row: Sequence[Any]) -> StoredEntry:
    """An entry from a row of every ledger_entry column, in the table's order (positions, not
    names: verification builds one of these per entry)."""
    return StoredEntry(
        header=Header(
            seq=row[_SEQ],
            prev_hash=row[_PREV],
            time=row[_TIME],
            facts=Facts(
                row[_ACTION],
                row[_VERSION],
                row[_OIN],
                row[_PURPOSE],
                row[_CASE],
                row[_OUTCOME],
                _boolean(row[_REVIEW]),
            ),
            subject_commit=row[_COMMIT],
        ),
        body=row[_BODY],
        entry_hash=row[_HASH],
        seal=row[_SEAL],
        subject=row[_SUBJECT],
        subject_salt=row[_SALT],
    )


def entry_values(entry: StoredEntry) -> tuple[Any, ...]:
    """An entry as a row of every ledger_entry column in the table's order (the inverse of
    :func:`entry_from_row`; a test holds the two to a round trip): what an append inserts,
    positionally — a dict per entry cost more than SQLite's insert of it."""
    h = entry.header
    f = h.facts
    return (
        h.seq,
        h.prev_hash,
        h.time,
        f.action,
        f.policy_version,
        f.requester_oin,
        f.purpose,
        f.case_id,
        f.outcome,
        f.review,
        h.subject_commit,
        entry.body,
        entry.entry_hash,
        entry.seal,
        entry.subject,
        entry.subject_salt,
    )


def entry_to_row(entry: StoredEntry) -> dict[str, Any]:
    return dict(zip(ENTRY_AT, entry_values(entry), strict=True))


def _head(row: RowMapping | None) -> StoredHead | None:
    if row is None:
        return None
    return StoredHead(row["seq"], row["entry_hash"], row["signature"], row["store_id"])


def _period_key(row: RowMapping | None) -> PeriodKey | None:
    return None if row is None else PeriodKey(**dict(row))


def _filtered(where: EntryFilter | None) -> Select[Any]:
    statement = select(ledger_entry).order_by(_E.seq)
    if where is None:
        return statement
    for column, value in (
        (_E.subject, where.subject),
        (_E.requester_oin, where.requester_oin),
        (_E.purpose, where.purpose),
        (_E.case_id, where.case_id),
        (_E.outcome, where.outcome),
        (_E.review, where.review),
        (_E.action, where.action),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if where.since:
        statement = statement.where(_E.time >= where.since)
    if where.until:
        statement = statement.where(_E.time < where.until)
    if where.first_seq is not None:
        statement = statement.where(_E.seq >= where.first_seq)
    if where.last_seq is not None:
        statement = statement.where(_E.seq <= where.last_seq)
    return statement


def _next_month(period: str) -> str:
    year, month = (int(x) for x in period.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}"


# Built once: an append runs these on every commit, and building a statement costs more than
# running it on SQLite.
_HEAD = select(ledger_head).where(ledger_head.c.id == 1)
_NAMED = select(_E.entry_hash).where(_E.seq == bindparam("at"))
_IN_FORCE = (
    select(_E.policy_version).where(_E.action == "policy.activate").order_by(_E.seq.desc()).limit(1)
)
_INSERT = ledger_entry.insert()
_H = ledger_head.c
_NEWEST = select(_E.seq, _E.entry_hash).order_by(_E.seq.desc()).limit(1).subquery()
_HEAD_AND_LAST = select(
    *(
        select(column).where(_H.id == 1).scalar_subquery().label(f"head_{name}")
        for column, name in (
            (_H.seq, "seq"),
            (_H.entry_hash, "hash"),
            (_H.signature, "signature"),
            (_H.store_id, "store"),
        )
    ),
    select(_NEWEST.c.seq).scalar_subquery().label("last_seq"),
    select(_NEWEST.c.entry_hash).scalar_subquery().label("last_hash"),
)
_MOVE_HEAD = (
    update(ledger_head)
    .where(ledger_head.c.id == 1)
    .values(seq=bindparam("to_seq"), entry_hash=bindparam("to_hash"), signature=bindparam("to_sig"))
)


class SqlStore:
    """Reads and the shape of an append; subclasses lock and insert the way their database
    needs."""

    name = "sql"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- the parts a database does its own way ------------------------------------------------

    def _write_engine(self) -> Engine:
        return self.engine

    def _lock_head(self, conn: Connection) -> RowMapping | None:
        return conn.execute(_HEAD).mappings().first()

    def _insert_ignoring_conflict(self, conn: Connection, table: Any, row: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- LedgerStore --------------------------------------------------------------------------

    def close(self) -> None:
        return None

    def check_alive(self) -> None:
        return None

    def ensure_genesis(self, head: StoredHead) -> None:
        row = {"id": 1, **vars(head)}
        try:
            with self._write_engine().begin() as conn:
                self._insert_ignoring_conflict(conn, ledger_head, row)
        except SQLAlchemyError as exc:
            raise LedgerUnavailable("the ledger's head cannot be written") from exc

    def head(self) -> StoredHead | None:
        return _head(self._one(_HEAD))

    def joins(self, engine: Engine) -> bool:
        return engine is self.engine or engine.url == self.engine.url

    def append(self, build: Build, also: Also | None = None) -> None:
        try:
            with self._write_engine().begin() as conn:
                locked = _head(self._lock_head(conn))
                if locked is None:
                    raise LedgerUnavailable("the ledger has no head (its store was emptied?)")
                named = conn.execute(_NAMED, {"at": locked.seq}).scalar_one_or_none()
                in_force = conn.execute(_IN_FORCE).scalar_one_or_none()
                entries, head = build(locked, Tip(named, in_force))
                if not entries:
                    return  # every entry was refused (gateway/ledger/writer.py): nothing changes
                conn.execute(_INSERT, [entry_to_row(e) for e in entries])
                conn.execute(
                    _MOVE_HEAD,
                    {"to_seq": head.seq, "to_hash": head.entry_hash, "to_sig": head.signature},
                )
                if also is not None:
                    also(conn)
        except SQLAlchemyError as exc:
            raise LedgerUnavailable("the access ledger could not record the decision") from exc

    def entries(self, where: EntryFilter | None = None) -> Iterator[StoredEntry]:
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=_STREAM).execute(
                    _filtered(where)
                )
                for row in result:
                    yield entry_from_row(row)
        except SQLAlchemyError as exc:
            raise LedgerUnavailable("the ledger's entries cannot be read") from exc

    def entry_rows(self, first: int, last: int) -> list[Sequence[Any]]:
        """Entries ``first``..``last`` as the driver's rows (every column, table order), read at
        once: parallel verification checks these before it builds any entry (verify.py)."""
        # On the driver's cursor: SQLAlchemy's row machinery cost 12 of the 17 µs an entry
        # took to read (measured, SQLite).
        try:
            with self.engine.connect() as conn:
                return list(_RANGE.run(conn, {"first": first, "last": last}).fetchall())
        except SQLAlchemyError as exc:
            raise LedgerUnavailable("the ledger's entries cannot be read") from exc

    def entry(self, seq: int) -> StoredEntry | None:
        row = self._one(select(ledger_entry).where(_E.seq == seq))
        return None if row is None else entry_from_row(tuple(row.values()))

    def last(self) -> StoredEntry | None:
        row = self._one(select(ledger_entry).order_by(_E.seq.desc()).limit(1))
        return None if row is None else entry_from_row(tuple(row.values()))

    def head_and_last(self) -> tuple[StoredHead | None, tuple[int, str] | None]:
        # NOTE: one statement, so one snapshot on SQLite and PostgreSQL alike (two statements
        # in a pysqlite "transaction" are not one: it begins none before a SELECT).
        row = self._one(_HEAD_AND_LAST)
        if row is None:  # a SELECT of scalar subqueries always has its row; never "empty"
            raise LedgerUnavailable(_UNREADABLE)
        head = None
        if row["head_seq"] is not None:
            head = StoredHead(
                row["head_seq"], row["head_hash"], row["head_signature"], row["head_store"]
            )
        last = None if row["last_seq"] is None else (row["last_seq"], row["last_hash"])
        return head, last

    def reopen_url(self) -> str | None:
        if self.engine.url.database in (None, "", ":memory:"):
            return None
        return self.engine.url.render_as_string(hide_password=False)

    def entry_hashes(self) -> Iterator[str]:
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=_STREAM).execute(
                    select(_E.entry_hash).order_by(_E.seq)
                )
                for (h,) in result:
                    yield h
        except SQLAlchemyError as exc:
            raise LedgerUnavailable("the ledger's entries cannot be read") from exc

    def count(self) -> int:
        row = self._scalar(select(func.count()).select_from(ledger_entry))
        return int(cast(int, row))

    def first_malformed(self) -> int | None:
        # NOTE: read as raw integers: the Boolean type would turn 2 into True.
        statement = (
            select(_E.seq)
            .where(sql_cast(_E.review, Integer).not_in([0, 1]))
            .order_by(_E.seq)
            .limit(1)
        )
        return cast(int | None, self._scalar(statement))

    def add_period_key(self, key: PeriodKey) -> PeriodKey:
        c = ledger_period_key.c
        try:
            with self._write_engine().begin() as conn:
                # NOTE: several writers may race for a new period; one row wins, all use it.
                self._insert_ignoring_conflict(conn, ledger_period_key, vars(key))
                row = (
                    conn.execute(
                        select(ledger_period_key).where(
                            c.scope == key.scope,
                            c.period == key.period,
                            c.auditor_key_id == key.auditor_key_id,
                        )
                    )
                    .mappings()
                    .one()
                )
        except SQLAlchemyError as exc:
            raise LedgerUnavailable("the ledger's period keys cannot be written") from exc
        return PeriodKey(**dict(row))

    def period_key(self, key_id: str) -> PeriodKey | None:
        return _period_key(
            self._one(select(ledger_period_key).where(ledger_period_key.c.key_id == key_id))
        )

    def period_keys(self, *, live: bool) -> list[PeriodKey]:
        c = ledger_period_key.c
        statement = select(ledger_period_key).order_by(c.period, c.scope)
        if live:
            statement = statement.where(c.destroyed_at.is_(None))
        try:
            with self.engine.connect() as conn:
                return [PeriodKey(**dict(r)) for r in conn.execute(statement).mappings()]
        except SQLAlchemyError as exc:
            raise LedgerUnavailable("the ledger's period keys cannot be read") from exc

    def shred(self, key_ids: Sequence[str], destroyed_at: str) -> None:
        c = ledger_period_key.c
        try:
            with self._write_engine().begin() as conn:
                for key_id in key_ids:
                    key = _period_key(
                        conn.execute(select(ledger_period_key).where(c.key_id == key_id))
                        .mappings()
                        .first()
                    )
                    if key is None or key.destroyed_at is not None:
                        continue
                    conn.execute(
                        update(ledger_period_key)
                        .where(c.key_id == key_id)
                        .values(sealed_private="", destroyed_at=destroyed_at)
                    )
                    # The period's entries are those of its purpose in its month (the period
                    # key was chosen from exactly these two header fields).
                    conn.execute(
                        update(ledger_entry)
                        .where(
                            _E.purpose == key.scope,
                            _E.time >= key.period,
                            _E.time < _next_month(key.period),
                        )
                        .values(subject=None, subject_salt=None)
                    )
        except SQLAlchemyError as exc:
            raise LedgerUnavailable("the ledger's period keys cannot be written") from exc

    # -- helpers ------------------------------------------------------------------------------

    def _one(self, statement: Select[Any]) -> RowMapping | None:
        try:
            with self.engine.connect() as conn:
                return conn.execute(statement).mappings().first()
        except SQLAlchemyError as exc:
            raise LedgerUnavailable(_UNREADABLE) from exc

    def _scalar(self, statement: Select[Any]) -> object:
        try:
            with self.engine.connect() as conn:
                return conn.execute(statement).scalar()
        except SQLAlchemyError as exc:
            raise LedgerUnavailable(_UNREADABLE) from exc
