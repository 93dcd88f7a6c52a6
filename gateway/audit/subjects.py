"""Resolving a linked person's sealed BSN, for an investigation that requires it."""

from __future__ import annotations

import json

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.cases.models import SubjectRow
from gateway.cases.registry import subject_bsn_aad
from gateway.errors import LedgerCorrupted
from gateway.ledger.sealing import SealedBody, open_sealed


def open_subject_bsn(row: SubjectRow, auditor: X25519PrivateKey) -> str:
    """The BSN sealed in ``row``; refused if the sealed value belongs to another row."""
    sealed = SealedBody.from_dict(json.loads(row.bsn_sealed))
    try:
        return open_sealed(sealed, subject_bsn_aad(row.case_id, row.subject), auditor).decode()
    except InvalidTag:
        raise LedgerCorrupted(
            "a sealed BSN does not belong to its row (moved, altered or another key)",
            sequence=None,
        ) from None
