"""The verifier's compiled fast path (``_spanscan.c``, docs/adr/0018), where it was built.

It reads a span of entries from an SQLite file and checks each as :func:`verify.row_is_sound`
does, without the GIL and at hashing speed. It only ever says "sound" or "not sure": every
failure, and everything outside the plainest form, is left to the Python path, which names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.ledger.entry import ACTIONS, FORMAT_VERSION, OUTCOMES
from gateway.ledger.sealing import BODY_KEYS

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

try:
    from gateway.ledger import _spanscan
except ImportError:  # not built (no compiler or headers at install): the Python path only
    _spanscan = None  # type: ignore[assignment]

_ACTIONS = tuple(sorted(ACTIONS))
_OUTCOMES = tuple(sorted(OUTCOMES))


@dataclass(frozen=True)
class ScannedSpan:
    """A span in which every row is sound but for its seals, which the caller checks."""

    count: int
    first_seq: int | None
    first_prev: str
    last_seq: int
    last_hash: str
    seals: list[tuple[int, str, str]]
    """(seq, entry_hash, seal) of each sealed entry, in order."""


def available() -> bool:
    return _spanscan is not None


def sqlite_file(url: URL) -> str | None:
    """The file behind an SQLite URL; None for anything else (or a database in memory)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def span(path: str, first: int, last: int) -> ScannedSpan | None:
    """Entries ``first``..``last`` of the SQLite ledger at ``path``, checked; None where a row
    needs the long way (or the file could not be read here: the long way says why)."""
    if _spanscan is None:
        return None
    found = _spanscan.span(path, first, last, _ACTIONS, _OUTCOMES, BODY_KEYS, FORMAT_VERSION)
    return None if found is None else ScannedSpan(*found)
