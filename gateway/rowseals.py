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
  queue, and blocks the real review (the first sign-off stands).

A row is checked wherever it decides something (a token issued, a case's context read for a
disclosure, a participant's case list, a change by the regisseur) and every row at start-up; a
mismatch releases nothing (:class:`~gateway.errors.RegistryTampered`). What a seal does not
prevent: putting back an older, once-valid set of rows (a replay); the ledger's ``case.*``
entries are where an auditor finds what the registry said when.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"gateway-row-seals-v1"
_CONTEXT = b"gateway-row-seal-v1\x00"


class RowSeals:
    """Computes the seal of each kind of registry row (plain values in, hex out)."""

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

    def client(
        self,
        *,
        client_id: str,
        secret_hash: str,
        oin: str,
        organisation: str,
        org_type: str,
        role: str,
        user_ref: str,
    ) -> str:
        return self._mac(
            "client",
            {
                "client_id": client_id,
                "secret_hash": secret_hash,
                "oin": oin,
                "organisation": organisation,
                "org_type": org_type,
                "role": role,
                "user_ref": user_ref,
            },
        )

    def case(
        self,
        *,
        case_id: str,
        purpose: str,
        stage: str,
        status: str,
        regisseur_oin: str,
        participants: Iterable[str],
    ) -> str:
        return self._mac(
            "case",
            {
                "case_id": case_id,
                "purpose": purpose,
                "stage": stage,
                "status": status,
                "regisseur_oin": regisseur_oin,
                "participants": sorted(participants),
            },
        )

    def subject(
        self,
        *,
        case_id: str,
        subject: str,
        subject_ref: str,
        relation: str,
        minor: bool,
        bsn_sealed: str,
        consents: Iterable[str],
    ) -> str:
        return self._mac(
            "subject",
            {
                "case_id": case_id,
                "subject": subject,
                "subject_ref": subject_ref,
                "relation": relation,
                "minor": bool(minor),
                "bsn_sealed": bsn_sealed,
                "consents": sorted(consents),
            },
        )

    def console_session(
        self, *, id_hash: str, subject: str, name: str, roles: str, csrf: str, created_at: str
    ) -> str:
        # Not last_seen_at (written every half minute) nor the auditor key kept in the row
        # (sealed under the session's cookie already: a changed one does not open).
        return self._mac(
            "console_session",
            {
                "id_hash": id_hash,
                "subject": subject,
                "name": name,
                "roles": roles,
                "csrf": csrf,
                "created_at": created_at,
            },
        )

    def webhook(self, *, client_id: str, url: str, created_at: str) -> str:
        return self._mac("webhook", {"client_id": client_id, "url": url, "created_at": created_at})

    def delivery(
        self, *, delivery_id: str, client_id: str, match_id: str, payload: str, created_at: str
    ) -> str:
        # Not attempts, status or the next attempt's time: the dispatcher writes those.
        return self._mac(
            "delivery",
            {
                "delivery_id": delivery_id,
                "client_id": client_id,
                "match_id": match_id,
                "payload": payload,
                "created_at": created_at,
            },
        )

    def review(
        self, *, entry_hash: str, verdict: str, note: str, reviewer: str, reviewed_at: str
    ) -> str:
        return self._mac(
            "review",
            {
                "entry_hash": entry_hash,
                "verdict": verdict,
                "note": note,
                "reviewer": reviewer,
                "reviewed_at": reviewed_at,
            },
        )

    def _mac(self, kind: str, doc: dict[str, Any]) -> str:
        # Any injective encoding serves (only this module reads it): JSON with sorted keys and
        # every non-ASCII character escaped never fails on what a database can hold (a lone
        # surrogate, say), and a value of another type (an integer where text was) encodes
        # differently. A value JSON cannot hold at all (bytes) can match no seal.
        try:
            text = json.dumps(
                {"kind": kind, **doc}, sort_keys=True, separators=(",", ":"), ensure_ascii=True
            )
        except (TypeError, ValueError):
            return _UNSEALABLE
        return hmac.digest(self._key, _CONTEXT + text.encode("ascii"), "sha256").hex()


_UNSEALABLE = ""


def sealed(stored: object, computed: str) -> bool:
    """True if the stored seal is the computed one (a row without a seal never is; nor is one
    whose values no seal covers)."""
    if computed == _UNSEALABLE or not isinstance(stored, str) or not stored.isascii():
        return False
    return hmac.compare_digest(stored.encode("ascii"), computed.encode("ascii"))
