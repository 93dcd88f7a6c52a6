"""The ledger's fast microsecond stamp is iso_now("microseconds"), second by second."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from gateway import clock


def test_the_fast_stamp_is_the_iso_stamp_of_the_same_moment() -> None:
    before = clock.utc_now()
    stamp = clock.iso_now_micro()
    after = clock.utc_now()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    assert before <= datetime.fromisoformat(stamp.replace("Z", "+00:00")) <= after


def test_the_fast_stamp_moves_on_with_the_second(monkeypatch: pytest.MonkeyPatch) -> None:
    # The second's text is cached; a stamp just past a second (or a day) must not reuse it.
    moments = iter([1_795_996_799_999_999_000, 1_795_996_800_000_001_000])
    monkeypatch.setattr(clock.time, "time_ns", lambda: next(moments))
    first, second = clock.iso_now_micro(), clock.iso_now_micro()
    for stamp, ns in zip(
        (first, second), (1_795_996_799_999_999, 1_795_996_800_000_001), strict=True
    ):
        expected = datetime.fromtimestamp(ns // 1_000_000, UTC).replace(microsecond=ns % 10**6)
        assert stamp == expected.isoformat(timespec="microseconds").replace("+00:00", "Z")
    assert first[:10] != second[:10]  # a new day, too
