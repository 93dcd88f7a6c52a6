"""Per-period body keys: retention by crypto-shredding.

Ledger bodies are not sealed for the auditor's key directly but for a *period key*: an X25519
key pair per (purpose, month, auditor key). The gateway keeps only the period's public key; the
private key is stored sealed for the auditor. Destroying a period's sealed private key
(``gateway audit retention --apply``) makes that period's bodies unreadable for everyone, while
every hash, seal, chain link and checkpoint still verifies — the ciphertext is what is
hashed.
"""

from __future__ import annotations

import base64
import json
import threading

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from gateway.clock import iso_now
from gateway.errors import BodyShredded, LedgerUnavailable
from gateway.ledger.sealing import Recipient, SealedBody, key_id, open_sealed, seal
from gateway.ledger.stores.base import LedgerStore, PeriodKey, StoredEntry


def _aad(kid: str) -> bytes:
    return b"gateway-period-key-v1\0" + kid.encode()


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class PeriodKeys:
    """Finds or makes the period key to seal an entry for (one writer or several)."""

    def __init__(self, store: LedgerStore) -> None:
        self._store = store
        self._cache: dict[tuple[str, str, str], Recipient] = {}
        self._lock = threading.Lock()

    def public_for(self, scope: str, time: str, auditor: Recipient) -> Recipient:
        slot = (scope, time[:7], auditor.key_id)
        found = self._cache.get(slot)  # NOTE: no lock to read: a slot, once set, never changes
        if found is not None:
            return found
        with self._lock:
            if slot not in self._cache:
                made = self._find_or_make(*slot, auditor.public)
                self._cache[slot] = Recipient.of(made)
            return self._cache[slot]

    def _find_or_make(
        self, scope: str, period: str, auditor_id: str, auditor: X25519PublicKey
    ) -> X25519PublicKey:
        private = X25519PrivateKey.generate()
        kid = key_id(private.public_key())
        private_raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        winner = self._store.add_period_key(
            PeriodKey(
                key_id=kid,
                scope=scope,
                period=period,
                auditor_key_id=auditor_id,
                public_key=base64.b64encode(_raw(private.public_key())).decode(),
                sealed_private=json.dumps(seal(private_raw, _aad(kid), auditor).as_dict()),
                created_at=iso_now("seconds"),
            )
        )
        if winner.destroyed_at is not None:
            raise LedgerUnavailable(f"the period {period} of {scope or 'the gateway'} is shredded")
        return X25519PublicKey.from_public_bytes(base64.b64decode(winner.public_key))


def open_body(
    store: LedgerStore, sealed: SealedBody, aad: bytes, auditor: X25519PrivateKey
) -> bytes:
    """Auditor side: open a body through its period key (or directly, for older entries)."""
    row = store.period_key(sealed.key_id)
    if row is None:
        return open_sealed(sealed, aad, auditor)
    if not row.sealed_private:
        raise BodyShredded(
            f"the body's period key ({row.scope or 'gateway'} {row.period}) was destroyed under "
            "the retention policy"
        )
    raw = open_sealed(
        SealedBody.from_dict(json.loads(row.sealed_private)), _aad(row.key_id), auditor
    )
    return open_sealed(sealed, aad, X25519PrivateKey.from_private_bytes(raw))


def auditor_of(store: LedgerStore, body_key_id: str) -> str:
    """The auditor key id a body sealed under ``body_key_id`` is ultimately for."""
    row = store.period_key(body_key_id)
    return row.auditor_key_id if row is not None else body_key_id


def open_entry(store: LedgerStore, entry: StoredEntry, auditor: X25519PrivateKey) -> bytes:
    """Auditor side: the plaintext body of a stored entry (bound to its header)."""
    sealed = SealedBody.from_dict(json.loads(entry.body))
    return open_body(store, sealed, entry.header.aad(), auditor)
