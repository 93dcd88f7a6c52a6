"""Random hex for values that are not secrets: trace and span ids, and the salts of subject
commitments (stored in the ledger row beside the subject they salt).

Read from the OS's CSPRNG 4 KiB at a time: on this kind of VM a ``getrandom`` system call costs
enough that one per id or salt showed in profiles (~2 % of a served request, ~10 % of a ledger
append). **Keys never come from here**: a buffer keeps the bytes it handed out until it is
refilled, and a data key must not outlive its use (gateway/ledger/sealing.py reads its own).
A forked child starts with an empty buffer: it must never hand out its parent's values.
"""

from __future__ import annotations

import os
import threading

_BLOCK = 4096


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._pool, self._at = b"", 0

    def hex(self, nbytes: int) -> str:
        with self._lock:
            if self._at + nbytes > len(self._pool):
                self._pool, self._at = os.urandom(max(_BLOCK, nbytes)), 0
            start, self._at = self._at, self._at + nbytes
            return self._pool[start : self._at].hex()


_pool = _Pool()


def random_hex(nbytes: int) -> str:
    """``nbytes`` random bytes as lower-case hex (never the same bytes twice)."""
    return _pool.hex(nbytes)
