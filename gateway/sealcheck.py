"""Every sealed registry row checked at once (gateway/rowseals.py, ADR 0017): clients, cases,
linked people, client webhooks and break-glass sign-offs (console sessions and queued
notifications are checked when used: they are short-lived). At start-up, by ``gateway
registry check``, and before ``gateway registry seal`` seals rows written before seals existed.

Plain SQL on one connection, one pass per table: a registry of 100,000 cases is a second's
work. A participant or consent row whose case or link is not there counts as a mismatch: it
was not written by the gateway, which never leaves one behind.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text

from gateway.errors import RegistryTampered
from gateway.rowseals import RowSeals, sealed

TABLES = ("client", "case", "case_subject", "client_webhook", "break_glass_review")


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
    table: str
    key: tuple[str, ...]
    stored: str | None
    computed: str


def _rows(conn: Connection, seals: RowSeals, report: RegistryReport) -> Iterator[_Row]:
    for cid, secret_hash, oin, org, org_type, role, user_ref, stored in conn.execute(
        text(
            "SELECT client_id, secret_hash, oin, organisation, org_type, role, user_ref, seal "
            "FROM client"
        )
    ):
        computed = seals.client(
            client_id=cid,
            secret_hash=secret_hash,
            oin=oin,
            organisation=org,
            org_type=org_type,
            role=role,
            user_ref=user_ref,
        )
        yield _Row("client", (cid,), stored, computed)

    participants: dict[str, list[str]] = defaultdict(list)
    for case_id, oin in conn.execute(text("SELECT case_id, oin FROM case_participant")):
        participants[case_id].append(oin)
    for case_id, purpose, stage, status, regisseur, stored in conn.execute(
        text('SELECT id, purpose, stage, status, regisseur_oin, seal FROM "case"')
    ):
        computed = seals.case(
            case_id=case_id,
            purpose=purpose,
            stage=stage,
            status=status,
            regisseur_oin=regisseur,
            participants=participants.pop(case_id, []),
        )
        yield _Row("case", (case_id,), stored, computed)
    report.mismatched["case"] += len(participants)  # participants of no case

    consents: dict[tuple[str, str], list[str]] = defaultdict(list)
    for case_id, subject, source in conn.execute(
        text("SELECT case_id, subject, source FROM case_consent")
    ):
        consents[(case_id, subject)].append(source)
    for case_id, subject, ref, relation, minor, bsn_sealed, stored in conn.execute(
        text(
            "SELECT case_id, subject, subject_ref, relation, minor, bsn_sealed, seal "
            "FROM case_subject"
        )
    ):
        computed = seals.subject(
            case_id=case_id,
            subject=subject,
            subject_ref=ref,
            relation=relation,
            minor=bool(minor),
            bsn_sealed=bsn_sealed,
            consents=consents.pop((case_id, subject), []),
        )
        yield _Row("case_subject", (case_id, subject), stored, computed)
    report.mismatched["case_subject"] += len(consents)  # consents of no linked person

    for cid, url, created_at, stored in conn.execute(
        text("SELECT client_id, url, created_at, seal FROM client_webhook")
    ):
        computed = seals.webhook(client_id=cid, url=url, created_at=created_at)
        yield _Row("client_webhook", (cid,), stored, computed)

    for entry_hash, verdict, note, reviewer, reviewed_at, stored in conn.execute(
        text(
            "SELECT entry_hash, verdict, note, reviewer, reviewed_at, seal FROM break_glass_review"
        )
    ):
        computed = seals.review(
            entry_hash=entry_hash,
            verdict=verdict,
            note=note,
            reviewer=reviewer,
            reviewed_at=reviewed_at,
        )
        yield _Row("break_glass_review", (entry_hash,), stored, computed)


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
    report.checked[row.table] += 1
    if not row.computed:  # values no seal covers (bytes where text belongs): never sealed
        report.mismatched[row.table] += 1
    elif row.stored is None:
        report.unsealed[row.table] += 1
    elif not sealed(row.stored, row.computed):
        report.mismatched[row.table] += 1


_STORE = {
    "client": text("UPDATE client SET seal = :seal WHERE client_id = :k0 AND seal IS NULL"),
    "case": text('UPDATE "case" SET seal = :seal WHERE id = :k0 AND seal IS NULL'),
    "client_webhook": text(
        "UPDATE client_webhook SET seal = :seal WHERE client_id = :k0 AND seal IS NULL"
    ),
    "break_glass_review": text(
        "UPDATE break_glass_review SET seal = :seal WHERE entry_hash = :k0 AND seal IS NULL"
    ),
    "case_subject": text(
        "UPDATE case_subject SET seal = :seal WHERE case_id = :k0 AND subject = :k1 "
        "AND seal IS NULL"
    ),
}


def _store(conn: Connection, row: _Row) -> None:
    keys = {f"k{i}": k for i, k in enumerate(row.key)}
    conn.execute(_STORE[row.table], {"seal": row.computed, **keys})
