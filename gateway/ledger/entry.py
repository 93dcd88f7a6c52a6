"""One ledger entry: its public header, sealed body, hash and signature, as plain values.

Canonical form: the JSON Canonicalization Scheme (RFC 8785, through the ``rfc8785`` library), so
every byte is defined and any JCS implementation can recompute a hash. Format version 2 adds the
``action`` to every header: a disclosure's decision and its fetch, and each change to a case.

* ``leaf``       = canonical JSON of every field but ``entry_hash`` and ``signature``
* ``entry_hash`` = SHA-256(0x00 || leaf) — the RFC 6962 §2.1 leaf hash, so a Merkle tree over
  the same entries can be added without re-hashing history
* ``prev_hash``  = the previous entry's ``entry_hash`` (64 zeros for the first): the chain
* ``signature``  = Ed25519 over ``"gateway-ledger-entry-v1" || entry_hash``
* the body's AEAD associated data is the canonical header (the leaf without ``body``)
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any, Literal, get_args

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.ledger.sealing import SealedBody

FORMAT_VERSION = 2
GENESIS = "0" * 64
_ENTRY_SIG_CONTEXT = b"gateway-ledger-entry-v1"
_HEAD_SIG_CONTEXT = b"gateway-ledger-head-v1"

Outcome = Literal["permit", "partial", "deny"]
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


@dataclass(frozen=True)
class Header:
    """What anyone may see and index without the auditor key: no BSN, no name, no field values."""

    seq: int
    time: str
    prev_hash: str
    policy_version: str
    requester_oin: str
    purpose: str
    case_id: str
    subject: str
    outcome: Outcome
    review: bool
    action: Action = "disclosure.decision"

    def as_dict(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "action": self.action,
            "seq": self.seq,
            "time": self.time,
            "prev_hash": self.prev_hash,
            "policy_version": self.policy_version,
            "requester_oin": self.requester_oin,
            "purpose": self.purpose,
            "case_id": self.case_id,
            "subject": self.subject,
            "outcome": self.outcome,
            "review": self.review,
        }

    def aad(self) -> bytes:
        return canonical(self.as_dict())


@dataclass(frozen=True)
class Entry:
    header: Header
    body: SealedBody
    entry_hash: str
    signature: str

    def leaf(self) -> bytes:
        return leaf_bytes(self.header, self.body)


def leaf_bytes(header: Header, body: SealedBody) -> bytes:
    return canonical({**header.as_dict(), "body": body.as_dict()})


def sign_entry(header: Header, body: SealedBody, key: Ed25519PrivateKey) -> Entry:
    digest = leaf_hash(leaf_bytes(header, body))
    signature = key.sign(_ENTRY_SIG_CONTEXT + bytes.fromhex(digest))
    return Entry(header, body, digest, base64.b64encode(signature).decode("ascii"))


def _verify(key: Ed25519PublicKey, signature_b64: str, message: bytes) -> bool:
    try:
        key.verify(base64.b64decode(signature_b64, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def entry_signature_valid(entry: Entry, key: Ed25519PublicKey) -> bool:
    try:
        digest = bytes.fromhex(entry.entry_hash)
    except ValueError:
        return False
    return _verify(key, entry.signature, _ENTRY_SIG_CONTEXT + digest)


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
