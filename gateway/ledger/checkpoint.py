"""Signed checkpoints: the ledger's size and Merkle root at a moment, kept outside its database.

A checkpoint commits to ``size`` entries (their RFC 6962 root and the last entry's hash), the
time, the ledger-signing key and the auditor key the bodies were sealed for, signed with the
ledger key. It is written to a directory the database role cannot rewrite (``HOME/checkpoints``
by default) and can be copied anywhere: whoever holds one can later prove that the ledger still
contains exactly those entries — a restored backup, a truncated tail or a rewritten history
(even with a re-signed head) no longer matches its root.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.errors import ConfigurationError, LedgerCorrupted
from gateway.files import write_private
from gateway.ledger.entry import canonical
from gateway.ledger.merkle import TreeBuilder

_CONTEXT = b"gateway-ledger-checkpoint-v1"


def signing_key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Checkpoint:
    size: int
    root: str
    """Hex RFC 6962 tree head of the first ``size`` entries."""
    last_entry_hash: str
    time: str
    ledger_key_id: str
    auditor_key_id: str
    signature: str = ""

    def message(self) -> bytes:
        unsigned = {k: v for k, v in asdict(self).items() if k != "signature"}
        return _CONTEXT + canonical(unsigned)

    def signed(self, key: Ed25519PrivateKey) -> Checkpoint:
        sig = base64.b64encode(key.sign(self.message())).decode("ascii")
        return Checkpoint(**{**asdict(self), "signature": sig})

    def signature_valid(self, key: Ed25519PublicKey) -> bool:
        try:
            key.verify(base64.b64decode(self.signature, validate=True), self.message())
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str) -> Checkpoint:
        try:
            doc = json.loads(text)
            return cls(**{k: doc[k] for k in cls.__dataclass_fields__})
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"{where} is not a ledger checkpoint") from exc


@dataclass(frozen=True)
class TreeState:
    """The chain as stored, reduced to what a checkpoint commits to."""

    size: int
    root: str
    last_entry_hash: str
    prefix_root: str | None
    """The root of the first ``prefix_size`` entries, when asked for."""


def tree_state(entry_hashes: Iterable[str], prefix_size: int | None = None) -> TreeState:
    builder = TreeBuilder()
    last = ""
    prefix: str | None = None
    for h in entry_hashes:
        builder.add(bytes.fromhex(h))
        last = h
        if builder.size == prefix_size:
            prefix = builder.root().hex()
    if prefix_size == 0:
        prefix = TreeBuilder().root().hex()
    return TreeState(builder.size, builder.root().hex(), last, prefix)


def check_against(state: TreeState, checkpoint: Checkpoint, key: Ed25519PublicKey) -> None:
    """Raise :class:`LedgerCorrupted` unless the ledger still holds the checkpoint's entries.

    ``state`` must have been computed with ``prefix_size=checkpoint.size``.
    """
    if not checkpoint.signature_valid(key) or checkpoint.ledger_key_id != signing_key_id(key):
        raise LedgerCorrupted("the checkpoint is not signed by this ledger's key", sequence=None)
    if state.size < checkpoint.size:
        raise LedgerCorrupted(
            f"the ledger has {state.size} entries but a checkpoint commits to "
            f"{checkpoint.size}: entries were removed or an older copy was restored",
            sequence=state.size + 1,
        )
    if state.prefix_root != checkpoint.root:
        raise LedgerCorrupted(
            f"the first {checkpoint.size} entries no longer match the checkpoint's root: "
            "history was rewritten (a fork)",
            sequence=None,
        )


class CheckpointDir:
    """Checkpoints as files, one per size, never overwritten."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, checkpoint: Checkpoint) -> Path:
        target = self.path / f"checkpoint-{checkpoint.size:012d}.json"
        if target.exists():
            return target  # the same size was checkpointed before; never rewrite one
        # Another worker process may have checkpointed the same size a moment ago.
        with contextlib.suppress(FileExistsError):
            write_private(target, checkpoint.to_json().encode(), exclusive=True)
        return target

    def latest(self) -> Checkpoint | None:
        files = sorted(self.path.glob("checkpoint-*.json")) if self.path.is_dir() else []
        if not files:
            return None
        return Checkpoint.from_json(files[-1].read_text(), files[-1].name)
