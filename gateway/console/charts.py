"""Counts of disclosures and denials from the ledger's public headers, and their bar charts as
plain geometry for server-rendered SVG (no script, nothing fetched by the browser)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.ledger.stores.base import StoredEntry


@dataclass
class Tally:
    disclosures: Counter[str] = field(default_factory=Counter)
    denials: Counter[str] = field(default_factory=Counter)

    def add(self, key: str, outcome: str) -> None:
        (self.denials if outcome == "deny" else self.disclosures)[key] += 1

    def keys(self) -> list[str]:
        return sorted(set(self.disclosures) | set(self.denials))


@dataclass
class Counts:
    per_day: Tally = field(default_factory=Tally)
    per_organisation: Tally = field(default_factory=Tally)
    per_purpose: Tally = field(default_factory=Tally)


def count(rows: Iterable[StoredEntry], names: dict[str, str]) -> Counts:
    """Decisions only: a request that released something is a disclosure, one that released
    nothing a denial (the header's outcome)."""
    counts = Counts()
    for row in rows:
        outcome = row.facts.outcome
        counts.per_day.add(row.time[:10], outcome)
        oin = row.facts.requester_oin
        counts.per_organisation.add(names.get(oin, oin), outcome)
        counts.per_purpose.add(row.facts.purpose, outcome)
    return counts


@dataclass(frozen=True)
class Bar:
    label: str
    disclosures: int
    denials: int
    x: float
    y: float
    width_disclosures: float
    width_denials: float


@dataclass(frozen=True)
class BarChart:
    """Horizontal stacked bars, one per key: disclosures then denials."""

    bars: list[Bar]
    width: int
    height: int
    label_width: int
    maximum: int


def bar_chart(tally: Tally, *, width: int = 720, row: int = 26, label_width: int = 250) -> BarChart:
    keys = tally.keys()
    maximum = max((tally.disclosures[k] + tally.denials[k] for k in keys), default=0)
    scale = (width - label_width - 60) / maximum if maximum else 0.0
    bars = [
        Bar(
            label=k,
            disclosures=tally.disclosures[k],
            denials=tally.denials[k],
            x=label_width,
            y=i * row + 4,
            width_disclosures=tally.disclosures[k] * scale,
            width_denials=tally.denials[k] * scale,
        )
        for i, k in enumerate(keys)
    ]
    return BarChart(bars, width, max(len(bars), 1) * row + 8, label_width, maximum)
