"""Reading the consoles' form and filter values: every value checked against its own rule, every
problem listed, and no submitted value repeated in a message (it may be a mistyped BSN)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from gateway.bsn import Bsn

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def day(value: str, problems: list[str], name: str) -> str | None:
    """A calendar day as YYYY-MM-DD, or None (empty, or a problem added)."""
    if not value:
        return None
    if not _DATE.match(value):
        problems.append(f"{name}: a date as YYYY-MM-DD")
        return None
    try:
        date.fromisoformat(value)
    except ValueError:
        problems.append(f"{name}: not a date")
        return None
    return value


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
