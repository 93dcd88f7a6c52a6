"""Seals on the registry rows that decide who is given what (ADR 0017).

The policy decides on what the gateway's own database says: which organisation and role a
client speaks for, which organisations take part in a case, at which stage it is, which people
are linked to it and what they consented to. Whoever can write that database, but holds no key,
could otherwise make an outsider a participant or a municipality's client a police one — and the
ledger would faithfully record the release under the wrong name. So each such row carries a
seal: HMAC-SHA256, under a key derived from the ledger's signing key (which only the gateway
holds; auditors never do), over sorted-key JSON of the row and the rows that belong to it:

* a client: every column (its secret's hash, OIN, organisation, type, role, user reference);
* a case: its purpose, stage, status and regisseur, and the set of its participants;
* a linked person: the link (pseudonym, reference, relation, minor, sealed BSN) and the set of
  sources consented to;
* a console session: who signed in and with which roles (found by a cookie's hash, a forged
  row would otherwise be a session with any role the writer liked);
* a client's webhook (where its match notifications go) and each queued notification (what the
  gateway signs and sends there): otherwise a database writer could redirect notifications, or
  have the gateway sign a text of their choosing;
* a break-glass sign-off: otherwise a forged one takes a release off the privacy officer's
  queue, and blocks the real review (the first sign-off stands);
* a policy activation as the officers' console lists it (version, origin, signer): the
  ledger's ``policy.activate`` entry is sealed for the auditor, so this row is what an officer
  reads, and a forged one would show a version, source or signer that never was;
* a signal and a signal match: a forged signal is matched with a real one (another
  organisation told of a signal that never was), a forged or changed match tells an
  organisation who else signals on a person, or the area, where the policy never did; a
  signal kept "active" past its period is kept past retention.

A row is checked wherever it decides something (a token issued, a case's context read for a
disclosure, a participant's case list, a change by the regisseur) and every row at start-up; a
mismatch releases nothing (:class:`~gateway.errors.RegistryTampered`). What a seal does not
prevent: putting back an older, once-valid set of rows (a replay); the ledger's ``case.*``
entries are where an auditor finds what the registry said when.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlmodel import SQLModel

_INFO = b"gateway-row-seals-v1"
_CONTEXT = b"gateway-row-seal-v1\x00"


Table = Literal[
    "client",
    "case",
    "case_subject",
    "console_session",
    "client_webhook",
    "signal_delivery",
    "break_glass_review",
    "policy_activation",
    "signal",
    "signal_match",
]

COVERS: dict[Table, tuple[str, ...]] = {
    "client": ("client_id", "secret_hash", "oin", "organisation", "org_type", "role", "user_ref"),
    "case": ("id", "purpose", "stage", "status", "regisseur_oin"),
    "case_subject": ("case_id", "subject", "subject_ref", "relation", "minor", "bsn_sealed"),
    # Not last_seen_at (written every half minute) nor the auditor key kept in the row (sealed
    # under the session's cookie already: a changed one does not open).
    "console_session": ("id_hash", "subject", "name", "roles", "csrf", "created_at"),
    "client_webhook": ("client_id", "url", "created_at"),
    # Not attempts, status or the next attempt's time: the dispatcher writes those.
    "signal_delivery": ("id", "client_id", "match_id", "payload", "created_at"),
    "break_glass_review": ("entry_hash", "verdict", "note", "reviewer", "reviewed_at"),
    "policy_activation": (
        "id",
        "version",
        "previous",
        "activated_at",
        "kind",
        "revision",
        "signer",
        "created",
        "activated_by",
    ),
    # Every column: each is the match's input (organisation, type, role, area), what the other
    # side is told (contact, dates), or its life (status; live, the unique key's part).
    "signal": (
        "id",
        "org_oin",
        "org_type",
        "role",
        "pseudonym",
        "area",
        "contact",
        "consent",
        "registered_at",
        "active_until",
        "kept_until",
        "status",
        "live",
        "policy_version",
    ),
    "signal_match": (
        "id",
        "signal_a",
        "signal_b",
        "org_a",
        "org_b",
        "reveal_to_a",
        "reveal_to_b",
        "matched_at",
        "state",
    ),
}
"""The one list of what each table's seal covers (its columns; plus, for a case, the set of its
participants and, for a linked person, the set of its consents: ``sets``)."""

Row = Mapping[Any, Any]
"""A row's columns by name: a dict, a model's ``model_dump()`` or a driver's ``RowMapping``."""


def model_row(model: SQLModel) -> dict[str, Any]:
    """A model's columns as a :data:`Row`, read as attributes (``model_dump`` would serialise,
    and warn on a value of the wrong type, which is what a tampered row may hold)."""
    return {name: getattr(model, name) for name in type(model).model_fields}


_BOOLEAN = frozenset({"minor", "consent", "reveal_to_a", "reveal_to_b"})
"""Columns that are a bool in a model and 0 or 1 in a driver's row: sealed as a bool."""


class RowSeals:
    """Computes and checks the seal of a registry row (a mapping of its columns in, hex out)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("a row seal key is at least 32 bytes")
        self._key = key

    @classmethod
    def of(cls, ledger_signing: Ed25519PrivateKey) -> RowSeals:
        # A key of its own, derived (HKDF, RFC 5869) so that no second key file is needed and
        # a MAC is never computed under the signing key's raw bytes themselves.
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            ledger_signing.private_bytes_raw()
        )
        return cls(derived)

    def seal(self, table: Table, row: Row, **sets: Iterable[str]) -> str:
        """The seal of ``row`` (every column :data:`COVERS` names) with ``sets``."""
        doc: dict[str, Any] = {"kind": table}
        for name in COVERS[table]:
            doc[name] = bool(row[name]) if name in _BOOLEAN else row[name]
        for name, members in sets.items():
            doc[name] = sorted(members)
        return self._mac(doc)

    def check(self, table: Table, row: Row, **sets: Iterable[str]) -> bool:
        """True if ``row``'s stored ``seal`` is its seal (a row without one never matches)."""
        return sealed(row.get("seal"), self.seal(table, row, **sets))

    def _mac(self, doc: dict[str, Any]) -> str:
        # Any injective encoding serves (only this module reads it): JSON with sorted keys and
        # every non-ASCII character escaped never fails on what a database can hold (a lone
        # surrogate, say), and a value of another type (an integer where text was) encodes
        # differently. A value JSON cannot hold at all (bytes) can match no seal.
        try:
            text = _ENCODER.encode(doc)
        except (TypeError, ValueError):
            return _UNSEALABLE
        return hmac.digest(self._key, _CONTEXT + text.encode("ascii"), "sha256").hex()


_UNSEALABLE = ""
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)
"""json.dumps with these options, made once (a new encoder per call cost a fifth of a seal)."""


def sealed(stored: object, computed: str) -> bool:
    """True if the stored seal is the computed one (a row without a seal never is; nor is one
    whose values no seal covers)."""
    if computed == _UNSEALABLE or not isinstance(stored, str) or not stored.isascii():
        return False
    return hmac.compare_digest(stored.encode("ascii"), computed.encode("ascii"))
