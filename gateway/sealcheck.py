"""Every sealed registry row checked at once (gateway/rowseals.py, ADR 0017): clients, cases,
linked people, client webhooks and break-glass sign-offs (console sessions and queued
notifications are checked when used: they are short-lived). At start-up, by ``gateway
registry check``, and before ``gateway registry seal`` seals rows written before seals existed.

One connection, one pass per table: a registry of 100,000 cases is a second's
work. A participant or consent row whose case or link is not there counts as a mismatch: it
was not written by the gateway, which never leaves one behind.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Table, select, text, update
from sqlmodel import SQLModel

from gateway.db import import_tables
from gateway.errors import RegistryTampered
from gateway.rowseals import Row, RowSeals, sealed
from gateway.rowseals import Table as SealedTable

TABLES: tuple[SealedTable, ...] = (
    "client",
    "case",
    "case_subject",
    "client_webhook",
    "break_glass_review",
    "policy_activation",
    "signal",
    "signal_match",
)


@dataclass
class RegistryReport:
    """Per table: rows checked, rows with no seal, rows whose seal does not match."""

    checked: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    unsealed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    mismatched: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))

    @property
    def sound(self) -> bool:
        return not any(self.unsealed.values()) and not any(self.mismatched.values())

    def summary(self) -> str:
        parts = [
            f"{table}: {self.checked[table]} checked, {self.unsealed[table]} without a seal, "
            f"{self.mismatched[table]} not matching"
            for table in TABLES
        ]
        return "; ".join(parts)


@dataclass(frozen=True)
class _Row:
    table: Table
    key: dict[str, Any]
    """The row's primary key, column by column."""
    stored: str | None
    computed: str


def _table(name: SealedTable) -> Table:
    import_tables()  # every table in the metadata, whichever modules were imported so far
    return SQLModel.metadata.tables[name]


_PLAIN: tuple[SealedTable, ...] = (
    "client",
    "client_webhook",
    "break_glass_review",
    "policy_activation",
    "signal",
    "signal_match",
)
"""Tables whose seal covers their own columns only."""


def _rows(conn: Connection, seals: RowSeals, report: RegistryReport) -> Iterator[_Row]:
    tables = {name: _table(name) for name in TABLES}
    keys = {name: [c.name for c in t.primary_key.columns] for name, t in tables.items()}

    def row(name: SealedTable, values: Row, **sets: Iterable[str]) -> _Row:
        # NOTE: once per row of every sealed table at start-up (10^5 signals: ~1.4 s).
        table = tables[name]
        key = {column: values[column] for column in keys[name]}
        return _Row(table, key, values["seal"], seals.seal(name, values, **sets))

    for name in _PLAIN:
        for found in conn.execute(select(_table(name))):
            yield row(name, found._mapping)

    participants: dict[str, list[str]] = defaultdict(list)
    for case_id, oin in conn.execute(text("SELECT case_id, oin FROM case_participant")):
        participants[case_id].append(oin)
    for found in conn.execute(select(_table("case"))):
        values = found._mapping
        yield row("case", values, participants=participants.pop(values["id"], []))
    report.mismatched["case"] += len(participants)  # participants of no case

    consents: dict[tuple[str, str], list[str]] = defaultdict(list)
    for case_id, subject, source in conn.execute(
        text("SELECT case_id, subject, source FROM case_consent")
    ):
        consents[(case_id, subject)].append(source)
    for found in conn.execute(select(_table("case_subject"))):
        values = found._mapping
        link = (values["case_id"], values["subject"])
        yield row("case_subject", values, consents=consents.pop(link, []))
    report.mismatched["case_subject"] += len(consents)  # consents of no linked person


def inspect(engine: Engine, seals: RowSeals) -> RegistryReport:
    """Every sealed row checked (read only)."""
    report = RegistryReport()
    with engine.connect() as conn:
        for row in _rows(conn, seals, report):
            _count(report, row)
    return report


def check_registry(engine: Engine, seals: RowSeals) -> RegistryReport:
    """:func:`inspect`, raising unless every row matches its seal (a server does not start)."""
    report = inspect(engine, seals)
    if not report.sound:
        hint = ""
        if any(report.unsealed.values()) and not any(report.mismatched.values()):
            hint = (
                "; rows written before seals existed are sealed once, by an operator, with "
                "`gateway registry seal`"
            )
        raise RegistryTampered(f"the registry fails its seals ({report.summary()}){hint}")
    return report


def seal_unsealed(engine: Engine, seals: RowSeals, *, apply: bool = True) -> RegistryReport:
    """Seal every row that has no seal yet, in one transaction; refuse (and change nothing) if
    any row has a seal that does not match: that is tampering, not an upgrade. ``apply=False``:
    the same checks and report, nothing written."""
    report = RegistryReport()
    with engine.begin() as conn:
        rows = list(_rows(conn, seals, report))
        for row in rows:
            _count(report, row)
        if any(report.mismatched.values()):
            raise RegistryTampered(f"not sealing: rows fail their seals ({report.summary()})")
        for row in rows:
            if apply and row.stored is None:
                _store(conn, row)
    return report


def _count(report: RegistryReport, row: _Row) -> None:
    name = row.table.name
    report.checked[name] += 1
    if not row.computed:  # values no seal covers (bytes where text belongs): never sealed
        report.mismatched[name] += 1
    elif row.stored is None:
        report.unsealed[name] += 1
    elif not sealed(row.stored, row.computed):
        report.mismatched[name] += 1


def _store(conn: Connection, row: _Row) -> None:
    table = row.table
    same = [table.c[name] == value for name, value in row.key.items()]
    conn.execute(update(table).where(*same, table.c.seal.is_(None)).values(seal=row.computed))
