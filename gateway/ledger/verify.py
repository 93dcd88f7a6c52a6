"""Verifying the ledger: every hash, every link, every signature, and the signed head.

Verification needs only the ledger's public key — not the auditor's private key, not the
gateway's secrets — so anyone holding a copy of the database can run it. The steps, in order,
for each stored row:

1. the sequence number is the previous one plus one (a deletion or reordering breaks this);
2. the header and sealed body re-hash to the stored ``entry_hash`` (any modification);
3. ``prev_hash`` equals the previous entry's hash (the chain);
4. the entry signature verifies under the ledger key;

and finally 5. the signed head names the last entry (a truncated tail breaks this).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.errors import LedgerCorrupted
from gateway.ledger.entry import (
    ACTIONS,
    GENESIS,
    canonical,
    entry_signature_valid,
    head_signature_valid,
    leaf_hash,
)
from gateway.ledger.store import LedgerHeadRow, LedgerRow, row_to_entry


@dataclass(frozen=True)
class VerifyReport:
    entries: int
    head_seq: int
    head_hash: str


def verify_rows(
    rows: Iterable[LedgerRow],
    head: LedgerHeadRow | None,
    key: Ed25519PublicKey,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    iterator = iter(rows)
    try:
        return _verify(iterator, head, key, progress)
    finally:
        # NOTE: a streaming reader holds a database transaction open; close it even when
        # verification stops at a bad entry.
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _verify(
    rows: Iterator[LedgerRow],
    head: LedgerHeadRow | None,
    key: Ed25519PublicKey,
    progress: Callable[[int], None] | None,
) -> VerifyReport:
    expected_seq, prev = 1, GENESIS
    for row in rows:
        if row.seq != expected_seq:
            raise LedgerCorrupted(
                f"entry {row.seq}: expected sequence {expected_seq} (entry missing or reordered)",
                sequence=row.seq,
            )
        try:
            entry = row_to_entry(row)
            recomputed = leaf_hash(entry.leaf())
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            raise LedgerCorrupted(
                f"entry {row.seq}: unreadable ({exc.__class__.__name__})", sequence=row.seq
            ) from exc
        if canonical(entry.body.as_dict()).decode("utf-8") != row.body:
            # NOTE: the stored body must be byte-for-byte canonical, so even a whitespace edit
            # that would not change the parsed value is caught.
            raise LedgerCorrupted(
                f"entry {row.seq}: body is not in canonical form", sequence=row.seq
            )
        if row.outcome not in ("permit", "partial", "deny"):
            raise LedgerCorrupted(f"entry {row.seq}: unknown outcome", sequence=row.seq)
        if row.action not in ACTIONS:
            raise LedgerCorrupted(f"entry {row.seq}: unknown action", sequence=row.seq)
        if recomputed != row.entry_hash:
            raise LedgerCorrupted(
                f"entry {row.seq}: content does not match its hash", sequence=row.seq
            )
        if row.prev_hash != prev:
            raise LedgerCorrupted(
                f"entry {row.seq}: does not link to entry {row.seq - 1}", sequence=row.seq
            )
        if not entry_signature_valid(entry, key):
            raise LedgerCorrupted(f"entry {row.seq}: signature does not verify", sequence=row.seq)
        prev = row.entry_hash
        if progress is not None:
            progress(row.seq)
        expected_seq += 1

    last = expected_seq - 1
    if head is not None and head.seq == 0 and last == 0:
        # The genesis head of a ledger that has not had an entry yet.
        if head.entry_hash != GENESIS or not head_signature_valid(0, GENESIS, head.signature, key):
            raise LedgerCorrupted("the genesis head does not verify", sequence=None)
        return VerifyReport(entries=0, head_seq=0, head_hash=GENESIS)
    if head is None:
        if last != 0:
            raise LedgerCorrupted(
                f"entry {last}: the signed chain head that should name it is missing",
                sequence=last,
            )
        return VerifyReport(entries=0, head_seq=0, head_hash=GENESIS)
    if head.seq != last or head.entry_hash != prev:
        first_bad = min(head.seq, last + 1)
        raise LedgerCorrupted(
            f"entry {first_bad}: the signed head names entry {head.seq} but the ledger ends at "
            f"entry {last}",
            sequence=first_bad,
        )
    if not head_signature_valid(head.seq, head.entry_hash, head.signature, key):
        raise LedgerCorrupted(
            f"entry {head.seq}: the chain head signature does not verify", sequence=head.seq
        )
    return VerifyReport(entries=last, head_seq=head.seq, head_hash=head.entry_hash)
