"""One ledger entry as plain values: its public header, sealed body and hash (format 3).

Canonical form: the JSON Canonicalization Scheme (RFC 8785, through the ``rfc8785`` library), so
every byte is defined and any JCS implementation can recompute a hash.

* ``content``    = the header without its place in the chain (``seq``, ``prev_hash``): what the
  gateway knows about the event before it is ordered; the body's AEAD associated data
* ``leaf``       = canonical JSON of the whole header and the sealed body
* ``entry_hash`` = SHA-256(0x00 || leaf) — the RFC 6962 §2.1 leaf hash, so the Merkle tree over
  the entries reuses it
* ``prev_hash``  = the previous entry's ``entry_hash`` (64 zeros for the first): the chain
* ``seal``       = Ed25519 over ``"gateway-ledger-head-v1" || seq || entry_hash`` on the last entry
  of every committed group (and in the head row): through the chain it covers every entry before

The data subject appears in the header only as ``subject_commit`` = SHA-256(salt || pseudonym)
with a random 128-bit salt per entry. The pseudonym and the salt are stored beside the entry, as
an index that verification checks against the commitment; when retention shreds a period, its
index is deleted, and what remains in the hashed header can no longer be linked to anyone.

Format 3 replaces format 2's per-entry signature with per-group seals (see ADR 0008): sealing
bodies happens before the ledger lock and verification is hashing, not public-key work.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT_VERSION = 3
GENESIS = "0" * 64
_HEAD_SIG_CONTEXT = b"gateway-ledger-head-v1"

Outcome = Literal["permit", "partial", "deny"]
OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))
Action = Literal[
    "disclosure.decision",
    "disclosure.fetch",
    "case.create",
    "case.stage",
    "case.link",
    "auditor_key.change",
    "policy.activate",
]
ACTIONS: frozenset[str] = frozenset(get_args(Action))


def canonical(doc: Any) -> bytes:
    # RFC 8785 (JCS): sorted keys (by UTF-16 code units), no whitespace, ES6 number form, UTF-8.
    return rfc8785.dumps(doc)


def leaf_hash(leaf: bytes) -> str:
    # RFC 6962 §2.1: MTH({d0}) = SHA-256(0x00 || d0)
    return hashlib.sha256(b"\x00" + leaf).hexdigest()


def new_salt() -> str:
    return os.urandom(16).hex()


def commit_subject(subject: str, salt: str) -> str:
    """A hiding commitment to the subject pseudonym: without the salt it names nobody."""
    return hashlib.sha256(bytes.fromhex(salt) + subject.encode()).hexdigest()


@dataclass(frozen=True)
class Facts:
    """What an entry says publicly about the event; chosen by whoever records it. The one
    list of the header's public columns: the table, the queries and the hash follow it."""

    action: Action
    policy_version: str
    requester_oin: str
    purpose: str
    case_id: str
    outcome: Outcome
    review: bool


FACT_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Facts))


@dataclass(frozen=True)
class Header:
    """What anyone may see and index without the auditor key: no BSN, no name, no field values."""

    seq: int
    prev_hash: str
    time: str
    facts: Facts
    subject_commit: str

    def content(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "time": self.time,
            **asdict(self.facts),
            "subject_commit": self.subject_commit,
        }

    def aad(self) -> bytes:
        """The body's associated data: the content, fixed before the entry is ordered."""
        return content_aad(self.time, self.facts, self.subject_commit)

    def as_dict(self) -> dict[str, Any]:
        return {**self.content(), "seq": self.seq, "prev_hash": self.prev_hash}


def content_aad(time: str, facts: Facts, subject_commit: str) -> bytes:
    return canonical(
        {"v": FORMAT_VERSION, "time": time, **asdict(facts), "subject_commit": subject_commit}
    )


def leaf_bytes(header: Header, body: dict[str, str]) -> bytes:
    return canonical({**header.as_dict(), "body": body})


def entry_hash(header: Header, body: dict[str, str]) -> str:
    return leaf_hash(leaf_bytes(header, body))


def _verify(key: Ed25519PublicKey, signature_b64: str, message: bytes) -> bool:
    try:
        raw = base64.b64decode(signature_b64, validate=True)
        key.verify(raw, message)
    except (InvalidSignature, ValueError):
        return False
    # NOTE: only the canonical encoding: base64's last character has spare bits, so other
    # strings decode to the same signature — a stored byte that changed must not verify.
    return base64.b64encode(raw).decode("ascii") == signature_b64


def head_message(seq: int, entry_hash: str) -> bytes:
    return _HEAD_SIG_CONTEXT + seq.to_bytes(8, "big") + bytes.fromhex(entry_hash)


def sign_head(seq: int, entry_hash: str, key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.sign(head_message(seq, entry_hash))).decode("ascii")


def head_signature_valid(seq: int, entry_hash: str, signature: str, key: Ed25519PublicKey) -> bool:
    try:
        message = head_message(seq, entry_hash)
    except (ValueError, OverflowError):
        return False
    return _verify(key, signature, message)
