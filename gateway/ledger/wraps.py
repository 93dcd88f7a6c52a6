"""Key agreements for sealing, made before a request needs them.

Sealing a ledger body (``sealing.py``) wraps its data key under a key-encryption key (KEK)
agreed with the recipient through a fresh ephemeral X25519 key: a key generation and an
exchange, ~0.1 ms of public-key work that holds the GIL and does not depend on the body. A
request that seals inline waits for it. :class:`KeyWraps` makes agreements ahead on a thread of
its own — while requests wait on the disk, the network or each other — and a seal takes one
ready-made. Nothing about the format changes: an entry sealed from the pool is the same
ephemeral-static ECIES as one sealed inline (ADR 0008), and opens the same way.

What keeps this safe:

* every agreement is handed out once (``deque.popleft`` is atomic) and its ephemeral private
  key is dropped as soon as the KEK is derived, exactly as inline;
* agreements are kept per recipient key (a ledger period's key changes with the period), so an
  agreement is never used to wrap for another key;
* a forked child inherits its parent's memory: two processes using the same agreement would
  wrap two data keys under one KEK with the same nonce, so every pool forgets its agreements in
  the child at fork (``os.register_at_fork``) and makes new ones there;
* an empty pool is never waited for: the seal agrees inline, as it always did.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import OrderedDict, deque
from dataclasses import dataclass

import structlog
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = structlog.get_logger(__name__)

_WRAP_INFO = b"gateway-ledger-v1 body-key wrap"
_PAUSE = 50e-6
"""Between two agreements the refill thread sleeps: a thread waiting for the GIL gets it then.
NOTE: not ``sleep(0)``: that lets go of the GIL but takes it straight back, and a waiting
thread can wait a whole switch interval (5 ms) for it. (Measured, weakly on this noisy machine:
a registration's p99 5.6-6.7 ms with ``sleep(0)`` against 3.6-5.7 ms with no pool.)"""


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
    into the sealed body) and the KEK derived from it. Used for exactly one data key."""

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


class _Pool:
    __slots__ = ("ready", "recipient")

    def __init__(self, recipient: X25519PublicKey) -> None:
        self.recipient = recipient
        self.ready: deque[Agreement] = deque()


_LIVE: weakref.WeakSet[KeyWraps] = weakref.WeakSet()


class KeyWraps:
    """Agreements made ahead, per recipient key: up to ``depth`` each, for the ``keep``
    recipients used last. A thread (started on first use) tops a pool up once it is half
    empty, one agreement at a time with the GIL let go in between, so a request waiting for
    the GIL waits for at most one agreement (~0.1 ms)."""

    def __init__(self, depth: int = 64, keep: int = 16) -> None:
        if depth < 2 or keep < 1:
            raise ValueError("a pool holds at least two agreements for at least one recipient")
        self._depth = depth
        self._keep = keep
        self._start()
        _LIVE.add(self)

    def _start(self) -> None:
        # Also the state a forked child starts from (see _forget_all_after_fork).
        self._pools: OrderedDict[bytes, _Pool] = OrderedDict()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def take(self, recipient: X25519PublicKey, recipient_raw: bytes) -> Agreement:
        """An agreement with ``recipient`` that nobody else gets: a ready one, or (none
        ready, or closed) one made here."""
        pool = self._pools.get(recipient_raw)
        if pool is None:
            pool = self._pool_for(recipient, recipient_raw)
        try:
            found = pool.ready.popleft()
        except IndexError:
            found = agree(recipient, recipient_raw)
        if len(pool.ready) <= self._depth // 2 and not self._closed:
            self._refill_soon()
        return found

    def ready(self, recipient: X25519PublicKey) -> int:
        """How many agreements with ``recipient`` are ready (for tests and metrics)."""
        pool = self._pools.get(raw_public(recipient))
        return 0 if pool is None else len(pool.ready)

    def close(self) -> None:
        """Stop making agreements and forget the ready ones; later seals agree inline."""
        self._closed = True
        with self._lock:
            self._pools.clear()
        self._wake.set()

    def _pool_for(self, recipient: X25519PublicKey, raw: bytes) -> _Pool:
        with self._lock:
            pool = self._pools.get(raw)
            if pool is None:
                pool = self._pools[raw] = _Pool(recipient)
                while len(self._pools) > self._keep:  # a period ended: its key is done
                    self._pools.popitem(last=False)
            else:
                self._pools.move_to_end(raw)
            return pool

    def _refill_soon(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=_refill, args=(weakref.ref(self),), name="key-wraps", daemon=True
                    )
                    self._thread.start()
        self._wake.set()

    def _top_up(self) -> None:
        """One round: every pool filled to its depth (called on the refill thread)."""
        with self._lock:  # a snapshot: take() may add a recipient meanwhile
            pools = list(self._pools.items())
        for raw, pool in pools:
            while len(pool.ready) < self._depth and not self._closed:
                if self._pools.get(raw) is not pool:
                    break  # forgotten meanwhile (closed, or a newer recipient took its place)
                pool.ready.append(agree(pool.recipient, raw))
                time.sleep(_PAUSE)  # let go of the GIL: a request may be waiting for it

    def _forget_after_fork(self) -> None:
        closed = self._closed
        self._start()
        self._closed = closed


def _refill(ref: weakref.ref[KeyWraps]) -> None:
    # The thread holds the pool only while topping it up, so a pool nobody uses any more is
    # collected and its thread ends within a second.
    while True:
        wraps = ref()
        if wraps is None or wraps._closed:
            return
        wake = wraps._wake
        del wraps
        if not wake.wait(1.0):
            continue
        wake.clear()
        wraps = ref()
        if wraps is None or wraps._closed:
            return
        try:
            wraps._top_up()
        except Exception as exc:  # a broken recipient key: the seal then fails inline, loudly
            log.error("ledger.key_wraps_failed", error=exc.__class__.__name__)
            with wraps._lock:
                wraps._pools.clear()
        del wraps


def _forget_all_after_fork() -> None:
    for wraps in list(_LIVE):
        wraps._forget_after_fork()


os.register_at_fork(after_in_child=_forget_all_after_fork)
