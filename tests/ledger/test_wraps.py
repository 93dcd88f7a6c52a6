"""Key agreements made ahead (gateway/ledger/wraps.py): each used once, per recipient, and
forgotten in a forked child."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.ledger.sealing import open_sealed, seal
from gateway.ledger.wraps import KeyWraps, raw_public

AUDITOR = X25519PrivateKey.generate()
OTHER = X25519PrivateKey.generate()


def _until(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    """Wait for the refill thread (a bound for a hung test, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_body_sealed_from_the_pool_opens_with_the_recipients_key_only() -> None:
    wraps = KeyWraps(depth=8)
    try:
        for n in range(40):  # both recipients interleaved, the pools drained and refilled
            to = AUDITOR if n % 2 else OTHER
            sealed = seal(b"body %d" % n, b"aad", to.public_key(), wraps)
            assert open_sealed(sealed, b"aad", to) == b"body %d" % n
            wrong = OTHER if to is AUDITOR else AUDITOR
            with pytest.raises(Exception):  # noqa: B017 - InvalidTag, or a bad key size
                open_sealed(sealed, b"aad", wrong)
        assert _until(lambda: wraps.ready(AUDITOR.public_key()) == 8)
    finally:
        wraps.close()


def test_no_agreement_is_handed_out_twice_under_concurrent_takes() -> None:
    wraps = KeyWraps(depth=16)
    public = AUDITOR.public_key()
    raw = raw_public(public)
    taken: list[bytes] = []
    lock = threading.Lock()

    def take() -> None:
        mine = [wraps.take(public, raw).ephemeral for _ in range(150)]
        with lock:
            taken.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        wraps.close()
    assert len(taken) == 600
    assert len(set(taken)) == 600


def test_only_the_recipients_used_last_are_kept() -> None:
    wraps = KeyWraps(depth=4, keep=2)
    keys = [X25519PrivateKey.generate().public_key() for _ in range(3)]
    try:
        for key in keys:
            wraps.take(key, raw_public(key))
        assert _until(lambda: wraps.ready(keys[2]) == 4)
        assert wraps.ready(keys[0]) == 0  # the oldest recipient's pool is gone
        assert _until(lambda: wraps.ready(keys[1]) == 4)
    finally:
        wraps.close()


def test_a_closed_pool_holds_nothing_and_seals_still_work() -> None:
    wraps = KeyWraps(depth=4)
    wraps.take(AUDITOR.public_key(), raw_public(AUDITOR.public_key()))
    assert _until(lambda: wraps.ready(AUDITOR.public_key()) == 4)
    wraps.close()
    assert wraps.ready(AUDITOR.public_key()) == 0
    sealed = seal(b"after close", b"", AUDITOR.public_key(), wraps)
    assert open_sealed(sealed, b"", AUDITOR) == b"after close"
    assert wraps.ready(AUDITOR.public_key()) == 0  # closed: nothing is made ahead any more


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_never_uses_its_parents_agreements() -> None:
    wraps = KeyWraps(depth=8)
    public = AUDITOR.public_key()
    raw = raw_public(public)
    try:
        wraps.take(public, raw)
        assert _until(lambda: wraps.ready(public) == 8)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report what it would use, then leave at once
            try:
                ready = wraps.ready(public)
                ephemeral = wraps.take(public, raw).ephemeral.hex().encode()
                os.write(write, b"%d:" % ready + ephemeral)
            finally:
                os._exit(0)
        os.close(write)
        report = os.read(read, 200)
        os.close(read)
        os.waitpid(pid, 0)
        ready_in_child, child_ephemeral = report.split(b":")
        assert ready_in_child == b"0"
        # Everything the parent has ready, and what it takes next, differs from the child's.
        parents = {wraps.take(public, raw).ephemeral.hex().encode() for _ in range(8)}
        assert child_ephemeral not in parents
    finally:
        wraps.close()
