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
import json
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.randomness import random_hex

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
    "signal.register",
    "signal.withdraw",
    "signal.match",
    "signal.notify",
    "signal.expire",
    "signal.destroy",
    "signal_key.rotate",
    "console.view",
    "break_glass.review",
]
ACTIONS: frozenset[str] = frozenset(get_args(Action))


_SAFE_INT = 2**53


def _plain(value: Any) -> bool:
    """True if ``value`` holds only what the standard library serialises exactly as RFC 8785
    does: objects with ASCII keys (so code-point order is UTF-16 order), strings, booleans, null
    and integers JavaScript can hold — no floats (ES6 number form differs).

    Exact types only (a subclass takes the slow, always-right path) and no recursion: this runs
    twice per entry when a ledger is verified, and a flat object of strings is the usual case.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not -_SAFE_INT < item < _SAFE_INT:
                return False
            continue
        if depth > 8:
            return False
        if kind is dict:
            for key, member in item.items():
                if type(key) is not str or not key.isascii():
                    return False
                t = type(member)
                if t is not str and t is not bool and member is not None:
                    stack.append((member, depth + 1))
            continue
        if kind is list:
            stack.extend((member, depth + 1) for member in item)
            continue
        return False
    return True


def canonical(doc: Any) -> bytes:
    # RFC 8785 (JCS): sorted keys (by UTF-16 code units), no whitespace, ES6 number form, UTF-8.
    # NOTE: for the shapes the ledger hashes (ASCII keys; strings, booleans, small integers) the
    # standard library's C encoder writes the same bytes (escapes: \b \f \n \r \t, \u00xx in
    # lowercase, nothing else) ~5x faster; anything else goes through the rfc8785 library. A
    # property test holds the two to the same bytes.
    if _plain(doc):
        try:
            return json.dumps(
                doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 refuses it as JCS requires
    return rfc8785.dumps(doc)


def leaf_hash(leaf: bytes) -> str:
    # RFC 6962 §2.1: MTH({d0}) = SHA-256(0x00 || d0)
    return hashlib.sha256(b"\x00" + leaf).hexdigest()


def new_salt() -> str:
    # Not a secret while the entry's subject index is kept (the row holds both); once a
    # retention job removes the index, the salt is gone with it.
    return random_hex(16)


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
        f = self.facts
        return {
            "v": FORMAT_VERSION,
            "time": self.time,
            "action": f.action,
            "policy_version": f.policy_version,
            "requester_oin": f.requester_oin,
            "purpose": f.purpose,
            "case_id": f.case_id,
            "outcome": f.outcome,
            "review": f.review,
            "subject_commit": self.subject_commit,
        }

    def aad(self) -> bytes:
        """The body's associated data: the content, fixed before the entry is ordered."""
        return content_aad(self.time, self.facts, self.subject_commit)

    def as_dict(self) -> dict[str, Any]:
        return {**self.content(), "seq": self.seq, "prev_hash": self.prev_hash}


def content_aad(time: str, facts: Facts, subject_commit: str) -> bytes:
    """Canonical JSON of the content (``Header.content()``): written directly in RFC 8785's key
    order, as :func:`leaf_text` writes the leaf — every append seals a body under it, and the
    general encoder cost ~15 µs of an append's ~100 (measured). Anything unexpected takes the
    general path; a property test holds the two to the same bytes."""
    if type(facts.review) is bool:
        e = _escape
        try:
            return (
                f'{{"action":{e(facts.action)},"case_id":{e(facts.case_id)},'
                f'"outcome":{e(facts.outcome)},"policy_version":{e(facts.policy_version)},'
                f'"purpose":{e(facts.purpose)},"requester_oin":{e(facts.requester_oin)},'
                f'"review":{"true" if facts.review else "false"},'
                f'"subject_commit":{e(subject_commit)},"time":{e(time)},"v":{FORMAT_VERSION}}}'
            ).encode()
        except (TypeError, UnicodeEncodeError):
            pass  # not a string, or a lone surrogate: the general path decides
    return canonical(Header(0, "", time, facts, subject_commit).content())


def leaf_bytes(header: Header, body: dict[str, str]) -> bytes:
    return canonical({**header.as_dict(), "body": body})


def entry_hash(header: Header, body: dict[str, str]) -> str:
    return leaf_hash(leaf_bytes(header, body))


def entry_hash_of(header: Header, body: dict[str, str], body_json: str) -> str:
    """:func:`entry_hash` when the body's canonical JSON is already at hand (``body_json`` must
    be ``canonical(body)``: the writer made it so, verification checked it byte for byte).

    The leaf is written directly in RFC 8785's key order — ``body`` right after ``action`` —
    with each string escaped by the standard library's C string encoder, which writes exactly
    JCS's escapes (see :func:`canonical`). This runs for every entry appended and every entry
    verified; anything unexpected (a type, a number out of range, a lone surrogate) takes the
    plain path. A property test holds the two equal."""
    leaf = _leaf_fast(header, body_json)
    return leaf_hash(leaf) if leaf is not None else entry_hash(header, body)


_escape = json.encoder.encode_basestring
"""json.dumps(text, ensure_ascii=False) for one string, from the C encoder where there is one."""


def _leaf_fast(header: Header, body_json: str) -> bytes | None:
    f = header.facts
    return leaf_text(
        f.action,
        body_json,
        f.case_id,
        f.outcome,
        f.policy_version,
        header.prev_hash,
        f.purpose,
        f.requester_oin,
        f.review,
        header.seq,
        header.subject_commit,
        header.time,
    )


def leaf_text(
    action: Any,
    body_json: str,
    case_id: Any,
    outcome: Any,
    policy_version: Any,
    prev_hash: Any,
    purpose: Any,
    requester_oin: Any,
    review: Any,
    seq: Any,
    subject_commit: Any,
    time: Any,
) -> bytes | None:
    """The leaf of an entry from its values (in the leaf's key order), written directly; None
    where a value is not of its type or needs the plain path (see :func:`entry_hash_of`).
    Verification calls it on stored rows before building any entry."""
    if type(review) is not bool or type(seq) is not int or not -_SAFE_INT < seq < _SAFE_INT:
        return None
    e = _escape  # raises TypeError for anything but a string
    try:
        text = (
            f'{{"action":{e(action)},"body":{body_json},"case_id":{e(case_id)},'
            f'"outcome":{e(outcome)},"policy_version":{e(policy_version)},'
            f'"prev_hash":{e(prev_hash)},"purpose":{e(purpose)},'
            f'"requester_oin":{e(requester_oin)},"review":{"true" if review else "false"},'
            f'"seq":{seq},"subject_commit":{e(subject_commit)},'
            f'"time":{e(time)},"v":{FORMAT_VERSION}}}'
        )
        return text.encode("utf-8")
    except TypeError:
        return None
    except UnicodeEncodeError:
        return None  # a lone surrogate: the plain path refuses it as JCS requires


def _verify(key: Ed25519PublicKey, signature_b64: str, message: bytes) -> bool:
    try:
        raw = base64.b64decode(signature_b64, validate=True)
        key.verify(raw, message)
    except (InvalidSignature, ValueError, TypeError):  # TypeError: a stored value not text
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
