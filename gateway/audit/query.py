"""Finding ledger entries by what the public header holds — data subject (through the keyed
pseudonym of a BSN), organisation, purpose, case, outcome, review flag, period — without
decrypting anything that does not match."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from gateway.errors import LedgerUnavailable
from gateway.ledger.store import LedgerRow
from gateway.typing import SubjectPseudonym


@dataclass(frozen=True)
class Filter:
    subject: SubjectPseudonym | None = None
    requester_oin: str | None = None
    purpose: str | None = None
    case_id: str | None = None
    outcome: str | None = None
    review: bool | None = None
    action: str | None = None
    since: str | None = None
    """RFC 3339 UTC, inclusive (entries are stamped the same way, so text order is time order)."""
    until: str | None = None
    """RFC 3339 UTC, exclusive."""


def entries(engine: Engine, where: Filter) -> Iterator[LedgerRow]:
    statement = select(LedgerRow).order_by(col(LedgerRow.seq))
    for column, value in (
        (LedgerRow.subject, where.subject),
        (LedgerRow.requester_oin, where.requester_oin),
        (LedgerRow.purpose, where.purpose),
        (LedgerRow.case_id, where.case_id),
        (LedgerRow.outcome, where.outcome),
        (LedgerRow.review, where.review),
        (LedgerRow.action, where.action),
    ):
        if value is not None:
            statement = statement.where(col(column) == value)
    if where.since:
        statement = statement.where(col(LedgerRow.time) >= where.since)
    if where.until:
        statement = statement.where(col(LedgerRow.time) < where.until)
    try:
        with Session(engine) as session:
            yield from session.exec(statement)
    except SQLAlchemyError as exc:
        raise LedgerUnavailable("the ledger cannot be read") from exc
