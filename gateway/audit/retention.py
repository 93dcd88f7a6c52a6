"""Retention by crypto-shredding: which period keys are past their purpose's retention, and
destroying them. A destroyed period's bodies can no longer be opened by anyone; the entries, the
chain, the Merkle tree and every checkpoint still verify.

Not (yet) covered: the public header's subject pseudonym stays in the entry (it is part of the
hashed header); it links entries to each other, never to a person without the pseudonym key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from gateway import clock
from gateway.catalog import Catalog
from gateway.errors import LedgerUnavailable
from gateway.ledger.periods import PeriodKeyRow

DEFAULT_RETENTION_YEARS = 5


@dataclass(frozen=True)
class DuePeriod:
    key_id: str
    scope: str
    period: str
    retention_years: int
    expired_on: date


def _expiry(period: str, years: int) -> date:
    year, month = (int(x) for x in period.split("-"))
    # The period ends at the start of the next month; retention counts from there.
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return date(year + years, month, 1)


def due(engine: Engine, catalog: Catalog, today: date) -> list[DuePeriod]:
    """Period keys of purposes whose retention has passed (the gateway's own events, scope
    "", are kept)."""
    try:
        with Session(engine) as session:
            rows = session.exec(
                select(PeriodKeyRow)
                .where(col(PeriodKeyRow.destroyed_at).is_(None), PeriodKeyRow.scope != "")
                .order_by(col(PeriodKeyRow.period))
            ).all()
    except SQLAlchemyError as exc:
        raise LedgerUnavailable("the ledger's period keys cannot be read") from exc
    out = []
    for row in rows:
        years = int(
            catalog.purposes.get(row.scope, {}).get("retention_years", DEFAULT_RETENTION_YEARS)
        )
        expired_on = _expiry(row.period, years)
        if expired_on <= today:
            out.append(DuePeriod(row.key_id, row.scope, row.period, years, expired_on))
    return out


def shred(engine: Engine, periods: list[DuePeriod]) -> None:
    """Destroy the sealed private keys of ``periods`` (irreversible)."""
    try:
        with Session(engine) as session:
            for p in periods:
                row = session.get(PeriodKeyRow, p.key_id)
                if row is not None and row.destroyed_at is None:
                    row.sealed_private = ""
                    row.destroyed_at = clock.iso_now("seconds")
                    session.add(row)
            session.commit()
    except SQLAlchemyError as exc:
        raise LedgerUnavailable("the ledger's period keys cannot be written") from exc
