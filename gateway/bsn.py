"""BSN validation (the *elfproef*) and keyed pseudonyms.

A :class:`Bsn` never renders its digits: ``str()`` and ``repr()`` mask it, so an accidental log
line or exception message cannot leak it. The digits are reachable only through ``.digits``,
which the code uses at exactly three edges: pseudonymising, sealing for the auditor, and asking
a source system.
"""

from __future__ import annotations

import hashlib
import hmac

from gateway.identifiers import BSN_RULE, elfproef
from gateway.typing import SubjectPseudonym


class Bsn:
    """A validated *burgerservicenummer* that refuses to show itself."""

    __slots__ = ("_digits",)

    def __init__(self, digits: str) -> None:
        if not elfproef(digits):
            # NOTE: the message deliberately does not repeat the input.
            raise ValueError(f"not a valid BSN ({BSN_RULE})")
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
