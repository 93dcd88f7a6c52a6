"""Retention by crypto-shredding: which period keys are past their purpose's retention, and
destroying them. A destroyed period's bodies can no longer be opened by anyone, and its entries'
subject index (pseudonym and salt) is deleted with the key, so what stays in the hashed header
links the entries to nobody; the entries, the chain, the Merkle tree and every checkpoint still
verify.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from gateway import clock
from gateway.catalog import Catalog
from gateway.ledger.stores.base import LedgerStore

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


def due(store: LedgerStore, catalog: Catalog, today: date) -> list[DuePeriod]:
    """Period keys of purposes whose retention has passed (the gateway's own events, scope
    "", are kept)."""
    out = []
    for key in store.period_keys(live=True):
        if key.scope == "":
            continue
        years = int(
            catalog.purposes.get(key.scope, {}).get("retention_years", DEFAULT_RETENTION_YEARS)
        )
        expired_on = _expiry(key.period, years)
        if expired_on <= today:
            out.append(DuePeriod(key.key_id, key.scope, key.period, years, expired_on))
    return out


def shred(store: LedgerStore, periods: list[DuePeriod]) -> None:
    """Destroy the sealed private keys of ``periods`` and their entries' subject index
    (irreversible)."""
    store.shred([p.key_id for p in periods], clock.iso_now("seconds"))
