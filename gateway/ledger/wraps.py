"""Key agreements for sealing: one ephemeral X25519 agreement serves a short epoch of seals.

Sealing a ledger body (``sealing.py``) wraps its data key under a key-encryption key (KEK)
agreed with the recipient through an ephemeral X25519 key: a key generation and an exchange,
~0.1 ms of public-key work holding the GIL — half of what sealing an entry costs, for work that
does not depend on the body. :class:`KeyWraps` makes one agreement per recipient key and uses
its KEK for the seals of a short *epoch* (at most ``uses`` seals and ``seconds`` seconds); each
seal then wraps its data key under a random 96-bit nonce of its own, stored in front of the
wrapped key (ADR 0008, "One key agreement per epoch"). The auditor opens it with the same
exchange as before.

What keeps this safe:

* a KEK wraps at most ``uses`` data keys, each under a fresh random nonce (AES-GCM's bound for
  random nonces is 2^32 messages a key; 1,024 leaves a collision chance below 2^-76), and the
  wrap's associated data carries the body's own nonce, so a wrapped key moved to another body
  of the same epoch does not open;
* an epoch ends after ``seconds``, and an ended epoch's KEK is dropped by the next seal or by
  :meth:`KeyWraps.forget_ended` (a serving gateway calls it every second): a memory compromise
  of a running gateway exposes at most the current epoch's bodies — ``uses`` at most, sealed in
  the last ``seconds`` or two, bodies it was writing anyway (per-seal agreements exposed none;
  ADR 0008 weighs the two);
* epochs are kept per recipient key (a ledger period's key changes with the period), so a KEK
  never wraps for another key;
* a forked child forgets every epoch (``os.register_at_fork``) and agrees afresh: random
  nonces would keep a shared KEK safe, but a process's secrets stay its own.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_WRAP_INFO = b"gateway-ledger-v1 body-key wrap"


def raw_public(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def derive_kek(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    """HKDF-SHA256 over the shared secret, salted with both public keys (RFC 9180's shape)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_WRAP_INFO
    ).derive(shared)


@dataclass(frozen=True)
class Agreement:
    """One ephemeral key agreement with a recipient: the ephemeral public key (raw, it goes
    into the sealed body) and the KEK derived from it."""

    ephemeral: bytes
    kek: bytes


def agree(recipient: X25519PublicKey, recipient_raw: bytes | None = None) -> Agreement:
    """A fresh agreement with ``recipient``, made here and now."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = raw_public(ephemeral.public_key())
    shared = ephemeral.exchange(recipient)
    return Agreement(
        ephemeral_raw, derive_kek(shared, ephemeral_raw, recipient_raw or raw_public(recipient))
    )


@dataclass(eq=False)
class Epoch:
    """An agreement in use: its ephemeral public key and its KEK (as a ready AES-GCM
    instance), for seals until ``ends`` (monotonic seconds) or ``left`` reaches zero."""

    ephemeral: bytes
    wrap: AESGCM
    ends: float
    left: int


_LIVE: weakref.WeakSet[KeyWraps] = weakref.WeakSet()


class KeyWraps:
    """The current epoch per recipient key, for the ``keep`` recipients used last; an epoch
    serves at most ``uses`` seals within ``seconds``. Thread-safe; nothing runs in the
    background (a new epoch's agreement is made by the seal that needs it, ~0.1 ms)."""

    def __init__(
        self,
        uses: int = 1024,
        seconds: float = 1.0,
        keep: int = 16,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if uses < 1 or seconds <= 0 or keep < 1:
            raise ValueError("an epoch serves at least one seal, for some time, for a recipient")
        self._uses = uses
        self._seconds = seconds
        self._keep = keep
        self._clock = clock
        self._lock = threading.Lock()
        self._epochs: OrderedDict[bytes, Epoch] = OrderedDict()
        self.agreements = 0
        """Agreements made so far (for tests and metrics)."""
        _LIVE.add(self)

    def take(self, recipient: X25519PublicKey, recipient_raw: bytes) -> Epoch:
        """The epoch a seal for ``recipient`` uses now (counted as one use)."""
        now = self._clock()
        with self._lock:
            epoch = self._epochs.get(recipient_raw)
            if epoch is None or epoch.left <= 0 or now >= epoch.ends:
                # NOTE: made under the lock: two seals arriving together share one new epoch
                # instead of making two agreements.
                agreed = agree(recipient, recipient_raw)
                epoch = Epoch(agreed.ephemeral, AESGCM(agreed.kek), now + self._seconds, self._uses)
                self._epochs[recipient_raw] = epoch
                self.agreements += 1
                while len(self._epochs) > self._keep:  # a period ended: its key is done
                    self._epochs.popitem(last=False)
            else:
                self._epochs.move_to_end(recipient_raw)
            epoch.left -= 1
            return epoch

    def forget_ended(self) -> None:
        """Forget the epochs whose time is up, so that no KEK outlives its epoch for long
        when no seal comes to replace it."""
        now = self._clock()
        with self._lock:
            for raw in [raw for raw, epoch in self._epochs.items() if now >= epoch.ends]:
                del self._epochs[raw]

    def held(self) -> int:
        """How many epochs (KEKs) are held (for tests and metrics)."""
        return len(self._epochs)

    def close(self) -> None:
        """Forget every epoch (later seals agree afresh)."""
        with self._lock:
            self._epochs.clear()

    def _forget_after_fork(self) -> None:
        self._lock = threading.Lock()  # another thread may have held it at the fork
        self._epochs = OrderedDict()


def _forget_all_after_fork() -> None:
    for wraps in list(_LIVE):
        wraps._forget_after_fork()


os.register_at_fork(after_in_child=_forget_all_after_fork)
