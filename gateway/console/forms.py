"""Reading the consoles' form and filter values: every value checked against its own rule, every
problem listed, and no submitted value repeated in a message (it may be a mistyped BSN)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from datetime import date, timedelta

from gateway.bsn import Bsn

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FIRST_DAY, _LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)
"""The days a form takes: a period's exclusive end (the day after) must still be a date."""


def day(value: str, problems: list[str], name: str) -> str | None:
    """A calendar day as YYYY-MM-DD, or None (empty, or a problem added)."""
    if not value:
        return None
    if not _DATE.match(value):
        problems.append(f"{name}: a date as YYYY-MM-DD")
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        problems.append(f"{name}: not a date")
        return None
    if not _FIRST_DAY <= parsed <= _LAST_DAY:
        problems.append(f"{name}: a date from {_FIRST_DAY} to {_LAST_DAY}")
        return None
    return value


def unknown_filters(names: Iterable[str], allowed: Collection[str]) -> list[str]:
    """A problem for each filter name that is not one of the page's. The name is not repeated:
    it is the one part of an address a person can type anything into (a BSN, say)."""
    return ["a filter this page does not have" for n in set(names) if n not in allowed]


def day_after(value: str) -> str:
    """The RFC 3339 start of the day after ``value``: the exclusive end of a period."""
    return (date.fromisoformat(value) + timedelta(days=1)).isoformat() + "T00:00:00Z"


def bsn(value: str, problems: list[str]) -> Bsn | None:
    digits = value.strip().replace(" ", "").replace(".", "")
    try:
        return Bsn(digits)
    except ValueError:
        # The entered value is not repeated: it may be a BSN with a typo.
        problems.append("bsn: not a valid BSN (9 digits passing the 11-check)")
        return None
