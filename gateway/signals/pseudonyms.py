"""The signals' matching pseudonyms: a keyed HMAC chain that can be rotated without BSNs.

A person's signal pseudonym is ``HMAC(k1, "signal-bsn:" || BSN)`` under the first key, then
``HMAC(k_i, "signal-rekey:" || p)`` for every later key. Rotating adds a key and re-keys every
stored pseudonym from the stored value alone — the gateway never needs, and never keeps, the
BSNs behind its signals. After a rotation the stored values depend on a key that did not exist
before it, so whoever copied the earlier key file can no longer compute them.

Why not a plain hash of the BSN: there are about 10^8 valid BSNs (nine digits, elfproef), so
SHA-256 of every one of them takes minutes on a laptop and turns every stored hash back into a
BSN. With a keyed HMAC that search needs the key; without it the values are unlinkable, also
between two deployments with different keys (docs/adr/0013-signal-pseudonyms.md).

The key chain is domain-separated from the ledger's pseudonym key (``pseudonym.key``): the
ledger's subject index cannot be re-keyed (its commitments are hashed into the chain), this one
must be.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from gateway.bsn import Bsn

KEY_BYTES = 32
_FIRST = b"signal-bsn:"
_REKEY = b"signal-rekey:"
_FINGERPRINT = b"signal-key-fingerprint"


@dataclass(frozen=True)
class SignalKeys:
    """The chain of matching keys, oldest first (never empty)."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys or any(len(k) != KEY_BYTES for k in self.keys):
            raise ValueError(f"a signal key chain holds one or more keys of {KEY_BYTES} bytes")

    @classmethod
    def from_bytes(cls, blob: bytes) -> SignalKeys:
        if not blob or len(blob) % KEY_BYTES:
            raise ValueError("not a signal key chain")
        return cls(tuple(blob[i : i + KEY_BYTES] for i in range(0, len(blob), KEY_BYTES)))

    def to_bytes(self) -> bytes:
        return b"".join(self.keys)

    @cached_property  # read four times a registration; the chain never changes
    def fingerprint(self) -> str:
        """Names the chain (its newest key) without revealing it: stored beside the signals, so
        a key file that does not belong to the database is found at start-up."""
        return hmac.new(self.keys[-1], _FINGERPRINT, hashlib.sha256).hexdigest()[:32]

    @property
    def generation(self) -> int:
        return len(self.keys)

    def pseudonym(self, bsn: Bsn) -> str:
        value = hmac.new(self.keys[0], _FIRST + bsn.digits.encode("ascii"), hashlib.sha256)
        p = value.hexdigest()
        for key in self.keys[1:]:
            p = rekey(key, p)
        return p

    def rotated(self, new_key: bytes) -> SignalKeys:
        return SignalKeys((*self.keys, new_key))


def rekey(key: bytes, pseudonym: str) -> str:
    """One rotation step on a stored pseudonym."""
    return hmac.new(key, _REKEY + pseudonym.encode("ascii"), hashlib.sha256).hexdigest()


def rekey_all(key: bytes, pseudonyms: Sequence[str]) -> list[str]:
    return [rekey(key, p) for p in pseudonyms]
