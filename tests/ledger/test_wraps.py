"""One key agreement per epoch of seals (gateway/ledger/wraps.py): bounded in uses and time,
per recipient, bound to each body, and forgotten in a forked child."""

from __future__ import annotations

import base64
import os
import threading
import time
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.ledger.sealing import SealedBody, open_sealed, seal
from gateway.ledger.wraps import KeyWraps, raw_public
from gateway.testing import make_test_gateway

AUDITOR = X25519PrivateKey.generate()
OTHER = X25519PrivateKey.generate()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _wrapped_length(sealed: SealedBody) -> int:
    return len(base64.b64decode(sealed.wrapped_key))


def test_bodies_sealed_in_one_epoch_open_with_the_recipients_key_only() -> None:
    wraps = KeyWraps()
    sealed = []
    for n in range(40):  # both recipients interleaved
        to = AUDITOR if n % 2 else OTHER
        sealed.append((to, seal(b"body %d" % n, b"aad", to.public_key(), wraps)))
    for n, (to, body) in enumerate(sealed):
        assert _wrapped_length(body) == 60  # the epoch form: a nonce in front
        assert open_sealed(body, b"aad", to) == b"body %d" % n
        wrong = OTHER if to is AUDITOR else AUDITOR
        with pytest.raises(InvalidTag):
            open_sealed(body, b"aad", wrong)
    assert wraps.agreements == 2  # one per recipient, not one per body
    assert len({b.ephemeral for to, b in sealed if to is AUDITOR}) == 1


def test_a_body_sealed_alone_keeps_the_single_use_form() -> None:
    sealed = seal(b"alone", b"aad", AUDITOR.public_key())
    assert _wrapped_length(sealed) == 48
    assert open_sealed(sealed, b"aad", AUDITOR) == b"alone"


def test_a_wrapped_key_moved_to_another_body_of_its_epoch_does_not_open() -> None:
    wraps = KeyWraps()
    first = seal(b"first", b"aad", AUDITOR.public_key(), wraps)
    second = seal(b"second", b"aad", AUDITOR.public_key(), wraps)
    assert first.ephemeral == second.ephemeral
    moved = SealedBody(
        first.key_id, first.ephemeral, second.wrapped_key, first.nonce, first.ciphertext
    )
    with pytest.raises(InvalidTag):
        open_sealed(moved, b"aad", AUDITOR)
    # and a wrapped key of any other length is refused as tampering, not guessed at
    cut = SealedBody(
        first.key_id,
        first.ephemeral,
        base64.b64encode(base64.b64decode(first.wrapped_key)[:-1]).decode(),
        first.nonce,
        first.ciphertext,
    )
    with pytest.raises(InvalidTag):
        open_sealed(cut, b"aad", AUDITOR)


def test_an_epoch_ends_after_its_uses_and_after_its_time() -> None:
    clock = Clock()
    wraps = KeyWraps(uses=3, seconds=1.0, clock=clock)
    public = AUDITOR.public_key()
    raw = raw_public(public)
    firsts = [wraps.take(public, raw).ephemeral for _ in range(3)]
    assert len(set(firsts)) == 1
    fourth = wraps.take(public, raw).ephemeral  # uses exhausted: a new agreement
    assert fourth != firsts[0]
    clock.now += 0.999
    assert wraps.take(public, raw).ephemeral == fourth
    clock.now += 0.001  # the epoch's second is over
    assert wraps.take(public, raw).ephemeral != fourth
    assert wraps.agreements == 3


def test_concurrent_seals_never_overuse_an_epoch() -> None:
    wraps = KeyWraps(uses=10)
    public = AUDITOR.public_key()
    raw = raw_public(public)
    taken: list[bytes] = []
    lock = threading.Lock()

    def take() -> None:
        mine = [wraps.take(public, raw).ephemeral for _ in range(150)]
        with lock:
            taken.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 600
    uses = {e: taken.count(e) for e in set(taken)}
    assert max(uses.values()) <= 10
    assert len(uses) == wraps.agreements == 60


def test_only_the_recipients_used_last_are_kept_and_close_forgets_all() -> None:
    wraps = KeyWraps(keep=2)
    keys = [X25519PrivateKey.generate().public_key() for _ in range(3)]
    first = [wraps.take(key, raw_public(key)).ephemeral for key in keys]
    assert wraps.take(keys[2], raw_public(keys[2])).ephemeral == first[2]
    assert wraps.take(keys[0], raw_public(keys[0])).ephemeral != first[0]  # it was dropped
    wraps.close()
    assert wraps.take(keys[2], raw_public(keys[2])).ephemeral != first[2]
    sealed = seal(b"after close", b"", AUDITOR.public_key(), wraps)
    assert open_sealed(sealed, b"", AUDITOR) == b"after close"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_never_uses_its_parents_epoch() -> None:
    wraps = KeyWraps()
    public = AUDITOR.public_key()
    raw = raw_public(public)
    parents = wraps.take(public, raw).ephemeral
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it would use, then leave at once
        try:
            os.write(write, wraps.take(public, raw).ephemeral.hex().encode())
        finally:
            os._exit(0)
    os.close(write)
    child = bytes.fromhex(os.read(read, 200).decode())
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32
    assert child != parents
    assert wraps.take(public, raw).ephemeral == parents  # the parent's epoch goes on


def test_an_ended_epoch_is_forgotten_without_waiting_for_the_next_seal() -> None:
    clock = Clock()
    wraps = KeyWraps(seconds=1.0, clock=clock)
    for key in (AUDITOR, OTHER):
        wraps.take(key.public_key(), raw_public(key.public_key()))
    clock.now += 0.5
    wraps.take(OTHER.public_key(), raw_public(OTHER.public_key()))  # still the same epoch
    wraps.forget_ended()
    assert wraps.held() == 2
    clock.now += 0.5  # both epochs began at 1000.0 and end at 1001.0
    wraps.forget_ended()
    assert wraps.held() == 0


def test_a_serving_gateway_drops_its_keys_once_their_epoch_is_over(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path)
    try:
        wraps = gw.gateway.ledger._wraps
        with gw.client:  # the app's lifespan runs: its background tasks with it
            assert wraps.held() >= 1  # the demo's seeded entries were sealed in an epoch
            deadline = time.monotonic() + 20  # a bound for a hung test, not a timing
            while wraps.held() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert wraps.held() == 0
    finally:
        gw.close()
