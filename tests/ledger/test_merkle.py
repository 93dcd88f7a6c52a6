"""RFC 6962 tree heads and proofs: every honest proof verifies, no proof for a changed entry
or a rewritten history does."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from gateway.ledger.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    node,
    root,
    verify_consistency,
    verify_inclusion,
)


def leaf(i: int) -> bytes:
    return hashlib.sha256(b"\x00" + str(i).encode()).digest()


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 written out recursively, to check the streaming builder against."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node(reference_root(leaves[:k]), reference_root(leaves[k:]))


@given(st.integers(min_value=0, max_value=300))
def test_streaming_root_equals_the_recursive_definition(n: int) -> None:
    leaves = [leaf(i) for i in range(n)]
    assert root(leaves) == reference_root(leaves)


@given(st.integers(min_value=1, max_value=200), st.data())
def test_every_inclusion_proof_verifies_and_a_changed_entry_never_does(
    n: int, data: st.DataObject
) -> None:
    leaves = [leaf(i) for i in range(n)]
    head = root(leaves)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = inclusion_proof(index, leaves)
    assert verify_inclusion(leaves[index], index, n, proof, head)
    assert not verify_inclusion(leaf(10_000), index, n, proof, head)
    if n > 1:
        assert not verify_inclusion(leaves[index], (index + 1) % n, n, proof, head)


@given(st.integers(min_value=1, max_value=200), st.data())
def test_every_consistency_proof_verifies_and_a_rewritten_history_never_does(
    n: int, data: st.DataObject
) -> None:
    leaves = [leaf(i) for i in range(n)]
    m = data.draw(st.integers(min_value=1, max_value=n))
    proof = consistency_proof(m, leaves)
    assert verify_consistency(m, n, root(leaves[:m]), root(leaves), proof)
    # A fork: the same old size, but one of its entries changed before the new head was made.
    changed = data.draw(st.integers(min_value=0, max_value=m - 1))
    forked = [leaf(10_000) if i == changed else x for i, x in enumerate(leaves)]
    if m < n:
        assert not verify_consistency(m, n, root(leaves[:m]), root(forked), proof)
        assert not verify_consistency(
            m, n, root(leaves[:m]), root(forked), consistency_proof(m, forked)
        )
