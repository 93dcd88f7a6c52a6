"""What the server checks before it appends, and how it writes checkpoints.

At start-up (before the first append): the signed head must name the chain's last entry, and
the ledger must still hold exactly the entries of the newest checkpoint in the checkpoint
directory. Any mismatch stops the server (:class:`LedgerCorrupted`): a rolled-back, truncated
or rewritten ledger is never served on, and so never made to verify again by new appends.
"""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from gateway.clock import iso_now
from gateway.errors import LedgerCorrupted
from gateway.ledger.checkpoint import (
    Checkpoint,
    CheckpointDir,
    check_against,
    signing_key_id,
    tree_state,
)
from gateway.ledger.entry import GENESIS, head_signature_valid
from gateway.ledger.periods import auditor_of
from gateway.ledger.sealing import key_id
from gateway.ledger.stores.base import EntryFilter, LedgerStore


def check_head(store: LedgerStore, key: Ed25519PublicKey) -> int:
    """The ledger's size, after checking that the signed head names its last entry."""
    # Read together: another worker may be appending while this one starts (serve --workers).
    head, last = store.head_and_last()
    if last is None and (head is None or head.seq == 0):
        if head is not None and not head_signature_valid(0, GENESIS, head.signature, key):
            raise LedgerCorrupted("the genesis head does not verify", sequence=None)
        return 0
    if head is None or last is None:
        raise LedgerCorrupted("the signed head and the entries disagree", sequence=None)
    last_seq, last_hash = last
    if (head.seq, head.entry_hash) != (last_seq, last_hash):
        raise LedgerCorrupted(
            f"the signed head names entry {head.seq} but the ledger ends at entry {last_seq}",
            sequence=min(head.seq, last_seq + 1),
        )
    if not head_signature_valid(head.seq, head.entry_hash, head.signature, key):
        raise LedgerCorrupted("the chain head signature does not verify", sequence=head.seq)
    return last_seq


def check_startup(store: LedgerStore, key: Ed25519PublicKey, checkpoints: CheckpointDir) -> int:
    size = check_head(store, key)
    latest = checkpoints.latest()
    if latest is not None:
        check_against(tree_state(store.entry_hashes(), prefix_size=latest.size), latest, key)
    return size


def new_checkpoint(
    store: LedgerStore, signing: Ed25519PrivateKey, auditor: X25519PublicKey
) -> Checkpoint:
    state = tree_state(store.entry_hashes())
    return Checkpoint(
        size=state.size,
        root=state.root,
        last_entry_hash=state.last_entry_hash,
        time=iso_now(),
        ledger_key_id=signing_key_id(signing.public_key()),
        auditor_key_id=key_id(auditor),
    ).signed(signing)


def last_auditor_key_id(store: LedgerStore) -> str | None:
    """The auditor key id the newest entry's body is sealed for (None for an empty ledger)."""
    last = store.last()
    if last is None:
        return None
    return auditor_of(store, json.loads(last.body)["key_id"])


def policy_in_force(store: LedgerStore) -> str | None:
    """The version of the newest ``policy.activate`` entry (None before the first): the only
    version a decision may be recorded under (gateway/ledger/writer.py)."""
    newest = None
    for entry in store.entries(EntryFilter(action="policy.activate")):
        newest = entry.header.facts.policy_version
    return newest
