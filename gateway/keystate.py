"""The keys this database was written with, checked at start-up.

A restored backup with the wrong ``pseudonym.key`` starts, and then finds nobody: every BSN
gives another pseudonym, so every linked person reads as not linked and every request is
denied, with no word on why. A replaced ``webhook-signing.key`` makes every partner's signature
check fail. The ledger, auditor and signal keys have checks of their own; these two had none.
Each key's fingerprint is recorded at the first start and compared at every start after.

A fingerprint names a key without revealing it: an HMAC of a fixed label under the secret key,
the SHA-256 of the public half of a key pair.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Column, Engine, String, Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from gateway.clock import iso_now
from gateway.errors import ConfigurationError
from gateway.keys import PSEUDONYM, WEBHOOK_SIGNING, KeyRing

key_fingerprint = Table(
    "key_fingerprint",
    SQLModel.metadata,
    Column("name", String(), primary_key=True),  # the key's file name
    Column("fingerprint", String(), nullable=False),
    Column("recorded_at", String(), nullable=False),
)

_LABEL = b"gateway-key-fingerprint-v1"


def fingerprints(keys: KeyRing) -> dict[str, str]:
    return {
        PSEUDONYM: hmac.new(keys.pseudonym_key, _LABEL, hashlib.sha256).hexdigest()[:32],
        WEBHOOK_SIGNING: _public(keys.webhook_signing),
    }


def _public(key: Ed25519PrivateKey) -> str:
    return hashlib.sha256(key.public_key().public_bytes_raw()).hexdigest()[:32]


def check_fingerprints(db: Engine, found: Mapping[str, str]) -> None:
    """Record each key's fingerprint the first time; refuse a key that is not the recorded one."""
    for _ in range(2):  # a second pass after another process recorded first
        try:
            _check(db, found)
        except IntegrityError:
            continue
        return
    raise ConfigurationError("the keys' fingerprints could not be recorded")


_STORED = select(key_fingerprint.c.name, key_fingerprint.c.fingerprint)


def _check(db: Engine, found: Mapping[str, str]) -> None:
    with db.begin() as conn:
        stored: dict[str, str] = {name: fp for name, fp in conn.execute(_STORED)}
        for name, fingerprint in found.items():
            if name not in stored:
                conn.execute(
                    insert(key_fingerprint).values(
                        name=name, fingerprint=fingerprint, recorded_at=iso_now()
                    )
                )
            elif not hmac.compare_digest(stored[name], fingerprint):
                raise ConfigurationError(
                    f"{name} is not the key this database was written with; restore the key "
                    "file that belongs to it"
                )
