"""Verifying the ledger: every hash, every link, every seal, the subject index and the head.

Verification needs only the ledger's public key — not the auditor's private key, not the
gateway's secrets — so anyone holding a copy of the database can run it. For each stored entry,
in order:

1. the sequence number is the previous one plus one (a deletion or reordering breaks this);
2. the stored body is canonical JSON of a sealed body, and header and body re-hash to the stored
   ``entry_hash`` (any modification);
3. ``prev_hash`` equals the previous entry's hash (the chain);
4. the subject index matches the hashed commitment, or is gone only because the entry's
   retention period was shredded;
5. a seal, where there is one, verifies under the ledger key;

and finally 6. the signed head names the last entry. A tail rewritten and re-chained without the
signing key fails at the first seal (or the head) after the change; the failure names the first
entry not covered by a valid seal.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.errors import LedgerCorrupted
from gateway.ledger.entry import (
    ACTIONS,
    GENESIS,
    OUTCOMES,
    canonical,
    commit_subject,
    entry_hash_of,
    head_signature_valid,
    leaf_hash,
    leaf_text,
)
from gateway.ledger.sealing import BODY_KEYS
from gateway.ledger.stores.base import LedgerStore, StoredEntry, StoredHead
from gateway.ledger.tables import ENTRY_AT

_BODY_KEYS = frozenset(BODY_KEYS)


@dataclass(frozen=True)
class VerifyReport:
    entries: int
    head_seq: int
    head_hash: str


def verify_entries(
    entries: Iterable[StoredEntry],
    head: StoredHead | None,
    key: Ed25519PublicKey,
    shredded: Collection[str] = frozenset(),
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """``shredded``: the ids of period keys destroyed under the retention policy."""
    iterator = iter(entries)
    try:
        return _verify(iterator, head, key, shredded, progress)
    finally:
        # NOTE: a streaming reader holds a database transaction open; close it even when
        # verification stops at a bad entry.
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _fail(seq: int | None, message: str) -> LedgerCorrupted:
    where = f"entry {seq}: " if seq is not None else ""
    return LedgerCorrupted(where + message, sequence=seq)


_PLAIN = '"([^"\\\\\x00-\x1f\ud800-\udfff]*)"'
_CANONICAL_BODY = re.compile(
    "".join(
        ("," if i else "{") + re.escape(f'"{name}":') + _PLAIN for i, name in enumerate(BODY_KEYS)
    )
    + "}"
)
"""A sealed body in RFC 8785 form whose strings need no escape (base64, key ids): a match is
canonical JSON of the strings it captures, so no JSON is parsed or written again. Anything
else takes the full check below."""


def _body(entry: StoredEntry) -> dict[str, str]:
    return parse_body(entry.seq, entry.body)


def parse_body(seq: int, text: str) -> dict[str, str]:
    """The stored body as a sealed body, if it is one in canonical form; else LedgerCorrupted."""
    fast = _CANONICAL_BODY.fullmatch(text)
    if fast is not None:
        return dict(zip(BODY_KEYS, fast.groups(), strict=True))
    return parse_body_fully(seq, text)


def parse_body_fully(seq: int, text: str) -> dict[str, str]:
    """:func:`parse_body` the long way (parse, re-encode, compare): what a body that is not in
    the fast path's shape gets, and what a test holds the fast path to."""
    try:
        doc: dict[str, str] = json.loads(text)
        ok = isinstance(doc, dict) and set(doc) == _BODY_KEYS
        ok = ok and all(isinstance(v, str) for v in doc.values())
        if not ok or canonical(doc).decode("utf-8") != text:
            # NOTE: byte for byte: even a whitespace edit that parses the same is caught.
            raise _fail(seq, "body is not a sealed body in canonical form")
    except (ValueError, TypeError, OverflowError) as exc:
        raise _fail(seq, f"body is unreadable ({exc.__class__.__name__})") from exc
    return doc


def _verify(
    entries: Iterator[StoredEntry],
    head: StoredHead | None,
    key: Ed25519PublicKey,
    shredded: Collection[str],
    progress: Callable[[int], None] | None,
) -> VerifyReport:
    expected_seq, prev = 1, GENESIS
    covered = 0
    """The last entry covered by a valid seal."""
    for entry in entries:
        seq = entry.seq
        if seq != expected_seq:
            raise _fail(seq, f"expected sequence {expected_seq} (entry missing or reordered)")
        body = check_content(entry)
        if entry.header.prev_hash != prev:
            raise _fail(seq, f"does not link to entry {seq - 1}")
        if not check_index_and_seal(entry, body, shredded, key):
            raise seal_failure(seq, covered)
        if entry.seal is not None:
            covered = seq
        prev = entry.entry_hash
        if progress is not None:
            progress(seq)
        expected_seq += 1
    return check_head(expected_seq - 1, prev, covered, head, key)


def check_content(entry: StoredEntry) -> dict[str, str]:
    """Checks 2 (body canonical, header and body re-hash to the stored hash) and the closed
    vocabularies; returns the parsed body. Needs nothing but the entry itself, so it can run
    anywhere (gateway/ledger/parallel.py runs it on other cores)."""
    seq, header = entry.seq, entry.header
    body = _body(entry)
    facts = header.facts
    if facts.outcome not in OUTCOMES:
        raise _fail(seq, "unknown outcome")
    if facts.action not in ACTIONS:
        raise _fail(seq, "unknown action")
    try:
        recomputed = entry_hash_of(header, body, entry.body)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _fail(seq, f"unreadable ({exc.__class__.__name__})") from exc
    if recomputed != entry.entry_hash:
        raise _fail(seq, "content does not match its hash")
    return body


def check_index_and_seal(
    entry: StoredEntry, body: dict[str, str], shredded: Collection[str], key: Ed25519PublicKey
) -> bool:
    """Checks 4 and 5: raises for a bad subject index; False if the entry's seal is bad."""
    _check_subject(entry, body["key_id"], shredded)
    return entry.seal is None or head_signature_valid(entry.seq, entry.entry_hash, entry.seal, key)


_R = ENTRY_AT
_R_SEQ, _R_PREV, _R_BODY, _R_HASH, _R_SEAL = (
    _R[n] for n in ("seq", "prev_hash", "body", "entry_hash", "seal")
)
_R_SUBJECT, _R_SALT, _R_COMMIT = _R["subject"], _R["subject_salt"], _R["subject_commit"]
_R_LEAF = tuple(
    _R[n]
    for n in (
        "action",
        "body",
        "case_id",
        "outcome",
        "policy_version",
        "prev_hash",
        "purpose",
        "requester_oin",
        "review",
        "seq",
        "subject_commit",
        "time",
    )
)


_leaf_values = operator.itemgetter(*_R_LEAF)


def row_is_sound(
    row: Sequence[Any], expected: int, prev: str | None, key: Ed25519PublicKey
) -> bool:
    """True only where every check above passes on a stored row (every ledger_entry column,
    table order) — sequence ``expected``, canonical body, hash, link to ``prev`` (None: the
    caller checks it), subject index and seal — without building an entry: the fast path of
    parallel verification. False says nothing but "check it the long way" (which names the
    failure, or passes what this path never takes, such as a shredded subject index), so a
    verdict never rests on this function alone. A test holds it to the long way."""
    seq, body, entry_hash = row[_R_SEQ], row[_R_BODY], row[_R_HASH]
    if type(seq) is not int or seq != expected or (prev is not None and row[_R_PREV] != prev):
        return False
    if type(body) is not str or _CANONICAL_BODY.fullmatch(body) is None:
        return False
    action, _, case_id, outcome, version, prev_hash, purpose, oin, review, _, commit, time = (
        _leaf_values(row)
    )
    if type(review) is int and review in (0, 1):
        review = review == 1  # SQLite's form of a boolean
    if outcome not in OUTCOMES or action not in ACTIONS:
        return False
    leaf = leaf_text(
        action, body, case_id, outcome, version, prev_hash, purpose, oin, review, seq, commit, time
    )
    if leaf is None or leaf_hash(leaf) != entry_hash:
        return False
    subject, salt = row[_R_SUBJECT], row[_R_SALT]
    if type(subject) is not str or type(salt) is not str:
        return False
    try:
        if commit_subject(subject, salt) != commit or bytes.fromhex(salt).hex() != salt:
            return False
    except ValueError:
        return False
    seal = row[_R_SEAL]
    return seal is None or (type(seal) is str and head_signature_valid(seq, entry_hash, seal, key))


def seal_failure(seq: int, covered: int) -> LedgerCorrupted:
    return _fail(
        covered + 1,
        f"not covered by a valid seal (the seal of entry {seq} does not verify: "
        "rewritten and re-chained?)",
    )


def _check_subject(entry: StoredEntry, body_key: str, shredded: Collection[str]) -> None:
    if entry.subject is None or entry.subject_salt is None:
        if entry.subject is not None or entry.subject_salt is not None:
            raise _fail(entry.seq, "half of the subject index is missing")
        if body_key not in shredded:
            raise _fail(entry.seq, "the subject index was removed but the period is not shredded")
        return
    try:
        commit = commit_subject(entry.subject, entry.subject_salt)
        # Only the one stored form: "AB" and "ab" are the same salt, but not the same bytes.
        canonical_salt = bytes.fromhex(entry.subject_salt).hex() == entry.subject_salt
    except ValueError:
        commit, canonical_salt = "", False
    if commit != entry.header.subject_commit or not canonical_salt:
        raise _fail(entry.seq, "the subject index does not match the hashed commitment")


def check_head(
    last: int, prev: str, covered: int, head: StoredHead | None, key: Ed25519PublicKey
) -> VerifyReport:
    if head is None:
        if last != 0:
            raise _fail(last, "the signed chain head that should name it is missing")
        return VerifyReport(entries=0, head_seq=0, head_hash=GENESIS)
    if head.seq == 0 and last == 0:
        # The genesis head of a ledger that has not had an entry yet.
        if head.entry_hash != GENESIS or not head_signature_valid(0, GENESIS, head.signature, key):
            raise _fail(None, "the genesis head does not verify")
        return VerifyReport(entries=0, head_seq=0, head_hash=GENESIS)
    if head.seq != last or head.entry_hash != prev:
        first_bad = min(head.seq, last + 1)
        raise _fail(
            first_bad, f"the signed head names entry {head.seq} but the ledger ends at {last}"
        )
    if not head_signature_valid(head.seq, head.entry_hash, head.signature, key):
        raise _fail(
            min(covered + 1, head.seq),
            "not covered by a valid seal (the head's signature does not verify)",
        )
    return VerifyReport(entries=last, head_seq=head.seq, head_hash=head.entry_hash)


def verify_store(
    store: LedgerStore, key: Ed25519PublicKey, progress: Callable[[int], None] | None = None
) -> VerifyReport:
    """Verify everything a store holds (the public columns' raw values included)."""
    malformed = store.first_malformed()
    if malformed is not None:
        raise _fail(malformed, "a public column holds a value outside its hashed form")
    shredded = {k.key_id for k in store.period_keys(live=False) if k.destroyed_at is not None}
    return verify_entries(store.entries(), store.head(), key, shredded, progress)
