"""The one clock. Everything that stamps a time or computes an age asks here, so tests and
replays can pin time in one place and the formats cannot drift apart."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_now(timespec: str = "milliseconds") -> str:
    """RFC 3339 UTC with a ``Z``, e.g. ``2026-11-22T10:00:00.123Z``."""
    return utc_now().isoformat(timespec=timespec).replace("+00:00", "Z")


def today() -> date:
    # NOTE: the machine's local date: ages and years are about Dutch calendar days, and the
    # gateway runs on Dutch time; UTC would age a person an hour late on their birthday.
    return date.today()


def epoch_seconds() -> int:
    return int(time.time())
