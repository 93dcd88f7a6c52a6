"""A signal's periods: active (it matches), then kept (for accountability only), then destroyed.

Periods come from the catalogue per area (``active_for``, ``kept_for``: ISO 8601 years, months,
days). Times are stored as RFC 3339 UTC strings of one fixed form, so comparing two of them as
strings compares the instants — which is what lets the database index do the clock's work.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.clock import add_period

DEFAULT_ACTIVE = "P2Y"
DEFAULT_KEPT = "P5Y"


def stamp(moment: datetime) -> str:
    """The stored form: ``2026-11-23T06:00:00Z`` (seconds, UTC)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def periods(area: dict[str, object] | None, registered: datetime) -> tuple[str, str]:
    """(active_until, kept_until) for a signal on ``area`` registered at ``registered``."""
    spec = area or {}
    active = add_period(registered, str(spec.get("active_for", DEFAULT_ACTIVE)))
    kept = add_period(registered, str(spec.get("kept_for", DEFAULT_KEPT)))
    return stamp(active), stamp(max(kept, active))
