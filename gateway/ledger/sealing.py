"""Envelope encryption of ledger bodies for the auditor.

Each body gets a fresh 256-bit data key; the body is sealed with AES-256-GCM under that key,
with the entry's public header as associated data (so a body cannot be moved to another entry).
The data key is wrapped for the auditor's X25519 public key: an ephemeral X25519 key agreement,
HKDF-SHA256 (RFC 5869) over the shared secret, and AES-256-GCM key wrap — the ECIES shape of
RFC 9180 (HPKE) base mode without its wire format. The gateway keeps neither the data key nor
the ephemeral private key, so once written it cannot read a body back; only the auditor can.

Two forms of ``wrapped_key``, told apart by length (both open with :func:`open_sealed`):

* 48 bytes — the data key and its tag under a KEK used for this one body (zero nonce);
* 60 bytes — a random 96-bit nonce, then the data key and its tag, under the KEK of an epoch
  of seals sharing one agreement (``wraps.py``); the wrap's associated data also carries the
  body's nonce, which binds the wrapped key to its body.

``key_id`` names the wrapping key (a fingerprint of the auditor public key) so that per-period
keys can follow: a retention job that destroys a period's private key makes that period's
bodies unreadable while every hash and signature still verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.ledger.wraps import KeyWraps, agree, derive_kek, raw_public

_WRAP_AAD = b"gateway-ledger-v1 body-key"
_EPOCH_WRAP_AAD = b"gateway-ledger-v2 body-key\x00"  # then the body's nonce
_ONE_WRAP = 32 + 16  # a data key and its tag
_EPOCH_WRAP = 12 + _ONE_WRAP  # a nonce in front


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def key_id(public: X25519PublicKey) -> str:
    return _key_id(raw_public(public))


def _key_id(raw: bytes) -> str:
    return "x25519:" + hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Recipient:
    """A key bodies are sealed for, with its raw bytes and key id worked out once: a seal
    needs all three, and working them out per seal cost ~5 µs of an append's ~100."""

    public: X25519PublicKey
    raw: bytes
    key_id: str

    @classmethod
    def of(cls, public: X25519PublicKey) -> Recipient:
        raw = raw_public(public)
        return cls(public, raw, _key_id(raw))


@dataclass(frozen=True)
class SealedBody:
    key_id: str
    ephemeral: str
    wrapped_key: str
    nonce: str
    ciphertext: str

    def as_dict(self) -> dict[str, str]:
        return {
            "key_id": self.key_id,
            "ephemeral": self.ephemeral,
            "wrapped_key": self.wrapped_key,
            "nonce": self.nonce,
            "ciphertext": self.ciphertext,
        }

    def canonical_json(self) -> str:
        """``canonical(self.as_dict())`` (RFC 8785), written directly: the keys in their sorted
        order, and every value base64 or a key id, so there is nothing to escape. On every
        append's path (a test holds it to the general encoder)."""
        return (
            f'{{"ciphertext":"{self.ciphertext}","ephemeral":"{self.ephemeral}",'
            f'"key_id":"{self.key_id}","nonce":"{self.nonce}","wrapped_key":"{self.wrapped_key}"}}'
        )

    @classmethod
    def from_dict(cls, doc: dict[str, str]) -> SealedBody:
        return cls(
            **{k: doc[k] for k in ("key_id", "ephemeral", "wrapped_key", "nonce", "ciphertext")}
        )


BODY_KEYS: tuple[str, ...] = tuple(sorted(SealedBody.__dataclass_fields__))
"""A sealed body's keys in their canonical (RFC 8785) order: what every check of a stored
body's shape expects (verify.py, and the fast paths spanscan and pgscan)."""


def seal(
    plaintext: bytes,
    aad: bytes,
    auditor: X25519PublicKey | Recipient,
    wraps: KeyWraps | None = None,
) -> SealedBody:
    """``plaintext`` sealed for ``auditor``: under the current epoch's KEK where ``wraps`` is
    given (gateway/ledger/wraps.py), else under a KEK agreed here for this body alone."""
    to = auditor if isinstance(auditor, Recipient) else Recipient.of(auditor)
    # One read of the system's CSPRNG for the data key, the body's nonce and the wrap's nonce
    # (AESGCM.generate_key is os.urandom too): one system call per seal instead of three.
    fresh = os.urandom(32 + 12 + 12)
    data_key, nonce, wrap_nonce = fresh[:32], fresh[32:44], fresh[44:]
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, aad)

    if wraps is None:
        agreed = agree(to.public, to.raw)
        ephemeral = agreed.ephemeral
        # NOTE: a zero nonce is safe here: this KEK is used exactly once (fresh ephemeral key).
        wrapped = AESGCM(agreed.kek).encrypt(b"\0" * 12, data_key, _WRAP_AAD)
    else:
        epoch = wraps.take(to.public, to.raw)
        ephemeral = epoch.ephemeral
        wrapped = wrap_nonce + epoch.wrap.encrypt(wrap_nonce, data_key, _EPOCH_WRAP_AAD + nonce)
    return SealedBody(
        key_id=to.key_id,
        ephemeral=_b64(ephemeral),
        wrapped_key=_b64(wrapped),
        nonce=_b64(nonce),
        ciphertext=_b64(ciphertext),
    )


def open_sealed(sealed: SealedBody, aad: bytes, auditor: X25519PrivateKey) -> bytes:
    """Auditor side: unwrap the data key and decrypt. Raises ``InvalidTag`` on any tampering."""
    ephemeral_raw = _unb64(sealed.ephemeral)
    ephemeral = X25519PublicKey.from_public_bytes(ephemeral_raw)
    kek = AESGCM(
        derive_kek(auditor.exchange(ephemeral), ephemeral_raw, raw_public(auditor.public_key()))
    )
    wrapped, nonce = _unb64(sealed.wrapped_key), _unb64(sealed.nonce)
    if len(wrapped) == _ONE_WRAP:
        data_key = kek.decrypt(b"\0" * 12, wrapped, _WRAP_AAD)
    elif len(wrapped) == _EPOCH_WRAP:
        data_key = kek.decrypt(wrapped[:12], wrapped[12:], _EPOCH_WRAP_AAD + nonce)
    else:
        raise InvalidTag
    return AESGCM(data_key).decrypt(nonce, _unb64(sealed.ciphertext), aad)
