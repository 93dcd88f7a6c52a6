"""Structured JSON logs that refuse personal data.

:func:`refuse_personal_data` is a structlog processor: any value that looks like a BSN (nine
digits passing the elfproef, anywhere in a string) and any key that names personal data
(``bsn``, ``naam``, ``name``, ...) is replaced by ``"[refused]"`` and the event is marked
``pii_refused``. Call sites should never get here; this is the net under them.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from gateway.identifiers import elfproef

_NINE_DIGITS = re.compile(r"(?<!\d)\d{9}(?!\d)")
PERSONAL_KEYS = frozenset(
    {"bsn", "naam", "name", "achternaam", "voornaam", "geboortedatum", "adres", "justification"}
)
REFUSED = "[refused]"


def _has_bsn(text: str) -> bool:
    # NOTE: every log line's every string passes here; most hold no run of nine digits, which
    # one search in C answers without a generator.
    first = _NINE_DIGITS.search(text)
    if first is None:
        return False
    return any(elfproef(m.group(0)) for m in _NINE_DIGITS.finditer(text, first.start()))


def _scrub(value: Any) -> tuple[Any, bool]:
    kind = type(value)
    if kind is str:  # the usual case first
        return (REFUSED, True) if _has_bsn(value) else (value, False)
    if value is None or kind is bool:
        return value, False
    if isinstance(value, str):
        return (REFUSED, True) if _has_bsn(value) else (value, False)
    if isinstance(value, int) and not isinstance(value, bool):
        # Only nine digits can be a BSN: a smaller number is never one, whatever its zeros.
        return (
            (REFUSED, True) if 10**8 <= value < 10**9 and elfproef(str(value)) else (value, False)
        )
    if isinstance(value, list | tuple):
        items = [_scrub(v) for v in value]
        return [v for v, _ in items], any(hit for _, hit in items)
    if isinstance(value, dict):
        out, hit = {}, False
        for k, v in value.items():
            if str(k).lower() in PERSONAL_KEYS:
                out[k], hit = REFUSED, True
                continue
            out[k], sub = _scrub(v)
            hit = hit or sub
        return out, hit
    return value, False


def refuse_personal_data(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    refused = []
    for key in list(event_dict):
        if key.lower() in PERSONAL_KEYS:
            event_dict[key] = REFUSED
            refused.append(key)
            continue
        event_dict[key], hit = _scrub(event_dict[key])
        if hit:
            refused.append(key)
    if refused:
        event_dict["pii_refused"] = sorted(refused)
    return event_dict


class _CurrentStderr:
    """Standard error as it is when a line is written, not when logging was configured (a
    command runner may swap and close the stream in between)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            refuse_personal_data,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
