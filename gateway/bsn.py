"""BSN validation (the *elfproef*) and keyed pseudonyms.

A :class:`Bsn` never renders its digits: ``str()`` and ``repr()`` mask it, so an accidental log
line or exception message cannot leak it. The digits are reachable only through ``.digits``,
which the code uses at exactly three edges: pseudonymising, sealing for the auditor, and asking
a source system.
"""

from __future__ import annotations

import hashlib
import hmac

from gateway.typing import SubjectPseudonym

_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def elfproef(digits: str) -> bool:
    """True if ``digits`` is nine digits passing 9A+8B+7C+6D+5E+4F+3G+2H-1I = 0 (mod 11)."""
    if len(digits) != 9 or not digits.isascii() or not digits.isdigit():
        return False
    total = sum(w * int(d) for w, d in zip(_WEIGHTS, digits, strict=True))
    # NOTE: 000000000 passes the arithmetic but is not an issued number.
    return total % 11 == 0 and digits != "000000000"


class Bsn:
    """A validated *burgerservicenummer* that refuses to show itself."""

    __slots__ = ("_digits",)

    def __init__(self, digits: str) -> None:
        if not elfproef(digits):
            # NOTE: the message deliberately does not repeat the input.
            raise ValueError("not a valid BSN (nine digits passing the elfproef)")
        self._digits = digits

    @property
    def digits(self) -> str:
        return self._digits

    def __repr__(self) -> str:
        return "Bsn(*********)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bsn) and hmac.compare_digest(self._digits, other._digits)

    def __hash__(self) -> int:
        return hash(("bsn", self._digits))


class Pseudonymiser:
    """HMAC-SHA256 under the instance's pseudonymisation key: stable, not reversible."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("pseudonymisation key must be at least 32 bytes")
        self._key = key

    def pseudonym(self, bsn: Bsn) -> SubjectPseudonym:
        mac = hmac.new(self._key, b"bsn:" + bsn.digits.encode("ascii"), hashlib.sha256)
        return SubjectPseudonym(mac.hexdigest())
