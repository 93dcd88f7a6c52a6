"""The auditor's keys and the ledger, opened for reading: everything ``gateway audit`` needs and
the serving gateway never has (the auditor's private key, the pseudonym key's sealed copy)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import Engine

from gateway.bsn import Bsn, Pseudonymiser
from gateway.db import make_engine
from gateway.errors import BodyShredded, LedgerCorrupted
from gateway.keys import (
    AUDITOR_PRIVATE,
    load_auditor_private,
    load_auditor_pseudonym_key,
    load_ledger_public,
)
from gateway.ledger.periods import open_entry
from gateway.ledger.stores import LedgerStore, StoredEntry, store_for
from gateway.typing import SubjectPseudonym


@dataclass(frozen=True)
class AuditorAccess:
    engine: Engine
    store: LedgerStore
    auditor: X25519PrivateKey
    ledger_key: Ed25519PublicKey
    pseudonymiser: Pseudonymiser

    @classmethod
    def open(
        cls, database_url: str, auditor_dir: Path, passphrase: bytes, ledger_public: Path
    ) -> AuditorAccess:
        auditor = load_auditor_private(auditor_dir / AUDITOR_PRIVATE, passphrase)
        engine = make_engine(database_url, create=False)
        return cls(
            engine=engine,
            store=store_for(engine),
            auditor=auditor,
            ledger_key=load_ledger_public(ledger_public),
            pseudonymiser=Pseudonymiser(load_auditor_pseudonym_key(auditor_dir, auditor)),
        )

    def pseudonym(self, bsn: Bsn) -> SubjectPseudonym:
        return self.pseudonymiser.pseudonym(bsn)

    def body(self, row: StoredEntry) -> dict[str, Any]:
        try:
            opened = open_entry(self.store, row, self.auditor)
        except InvalidTag:
            raise LedgerCorrupted(
                f"entry {row.seq}: the body does not open with this auditor key "
                "(another key, or tampered)",
                sequence=row.seq,
            ) from None
        doc: dict[str, Any] = json.loads(opened)
        return doc

    def body_or_none(self, row: StoredEntry) -> dict[str, Any] | None:
        """The opened body, or None if its period was shredded under the retention policy."""
        try:
            return self.body(row)
        except BodyShredded:
            return None
