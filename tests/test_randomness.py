"""Random hex for ids and salts (gateway/randomness.py): read in blocks, never repeated, never
shared with a forked child."""

from __future__ import annotations

import os

from gateway.ledger.entry import new_salt
from gateway.randomness import random_hex


def test_values_are_hex_of_the_size_asked_and_never_repeat_across_refills() -> None:
    values = [random_hex(16) for _ in range(2_000)]  # ~8 refills of the 4 KiB block
    assert all(len(v) == 32 and int(v, 16) >= 0 for v in values)
    assert len(set(values)) == len(values)
    assert len(random_hex(5_000)) == 10_000  # more than a block at once
    salts = {new_salt() for _ in range(500)}
    assert len(salts) == 500 and all(len(s) == 32 for s in salts)


def test_a_forked_child_never_hands_out_its_parents_values() -> None:
    random_hex(8)  # the block holds unread bytes now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write, ",".join(random_hex(8) for _ in range(4)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split(",")
    os.waitpid(pid, 0)
    parent = [random_hex(8) for _ in range(4)]
    assert len(child) == 4 and not set(child) & set(parent)
