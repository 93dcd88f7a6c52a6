"""Key generation and loading (the only module that touches key files).

Four keys, all from ``cryptography``:

====================  ==========  ====================================================
file                  algorithm   use
====================  ==========  ====================================================
token-signing.key     ECDSA P-256 signs access tokens (JWT ``alg`` = ES256, pinned)
ledger-signing.key    Ed25519     signs every ledger entry hash and the chain head
ledger-signing.pub    Ed25519     verifies the ledger (what auditors need, with no secret)
auditor.pub           X25519      wraps each ledger body key; the gateway holds only this
pseudonym.key         HMAC-SHA256 keyed pseudonyms of BSNs (32 random bytes)
signal-pseudonym.key  HMAC-SHA256 the signals' matching keys, a rotatable chain (ADR 0013)
webhook-signing.key   Ed25519     signs webhook deliveries (Standard Webhooks ``v1a``)
====================  ==========  ====================================================

The auditor's key pair is written to a separate *auditor directory* (``auditor.key``, always
encrypted with the auditor's own passphrase, and ``auditor.pub``); the gateway's key directory
gets only a copy of ``auditor.pub``. The server refuses to start while a private auditor key is
in its key directory, and checks at start-up that its ledger-signing key matches
``ledger-signing.pub``.

The gateway's private keys are PKCS#8 PEM, encrypted with ``GATEWAY_KEY_PASSPHRASE`` when set
(best available encryption, i.e. AES-256-CBC under scrypt); the HMAC key is wrapped with
scrypt + AES-256-GCM under the same passphrase. Files are written 0600 in a 0700 directory.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from gateway.errors import ConfigurationError, Conflict, KeyUnavailable
from gateway.files import write_private
from gateway.ledger.sealing import SealedBody, open_sealed, seal

TOKEN_SIGNING = "token-signing.key"  # noqa: S105 — a file name
LEDGER_SIGNING = "ledger-signing.key"
LEDGER_PUBLIC = "ledger-signing.pub"
AUDITOR_PUBLIC = "auditor.pub"
AUDITOR_PRIVATE = "auditor.key"
PSEUDONYM = "pseudonym.key"
SIGNAL_PSEUDONYM = "signal-pseudonym.key"
WEBHOOK_SIGNING = "webhook-signing.key"
ADDED_FILES = (SIGNAL_PSEUDONYM, WEBHOOK_SIGNING)
"""Keys added after the first release: ``keys init --missing`` writes them into an existing
key directory without touching the others."""
ALL_FILES = (TOKEN_SIGNING, LEDGER_SIGNING, LEDGER_PUBLIC, AUDITOR_PUBLIC, PSEUDONYM, *ADDED_FILES)
"""What ``keys init`` writes into the gateway's key directory."""
POLICY_SIGNING = "policy-signing.key"
POLICY_PUBLIC = "policy-signing.pub"
"""The privacy officers' key pair for policy bundles; only the public half is the gateway's."""
AUDITOR_PSEUDONYM = "pseudonym.sealed"
AUDITOR_FILES = (AUDITOR_PRIVATE, AUDITOR_PUBLIC, AUDITOR_PSEUDONYM)
"""What it writes into the auditor directory: the auditor's key pair, and the pseudonymisation
key sealed for the auditor (so an auditor can find a person's entries from a BSN)."""
_PSEUDONYM_AAD = b"gateway-pseudonym-key-v1"


@dataclass(frozen=True)
class KeyRing:
    """The keys a running gateway holds. Note what is absent: the auditor's private key."""

    token_signing: ec.EllipticCurvePrivateKey
    ledger_signing: Ed25519PrivateKey
    auditor_public: X25519PublicKey
    pseudonym_key: bytes
    signal_keys: bytes
    """The signals' matching key chain (gateway.signals.pseudonyms.SignalKeys.from_bytes)."""
    webhook_signing: Ed25519PrivateKey


def _pem_encryption(passphrase: bytes | None) -> serialization.KeySerializationEncryption:
    if passphrase:
        return serialization.BestAvailableEncryption(passphrase)
    return serialization.NoEncryption()


def _private_pem(
    key: Ed25519PrivateKey | X25519PrivateKey | ec.EllipticCurvePrivateKey, passphrase: bytes | None
) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        _pem_encryption(passphrase),
    )


def _scrypt(passphrase: bytes, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase)


def _wrap_secret(secret: bytes, passphrase: bytes | None) -> bytes:
    if not passphrase:
        return json.dumps({"format": "raw", "key": base64.b64encode(secret).decode()}).encode()
    salt, nonce = os.urandom(16), os.urandom(12)
    sealed = AESGCM(_scrypt(passphrase, salt)).encrypt(nonce, secret, b"gateway-secret-v1")
    doc = {
        "format": "scrypt-aes256gcm",
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "sealed": base64.b64encode(sealed).decode(),
    }
    return json.dumps(doc).encode()


def _unwrap_secret(blob: bytes, passphrase: bytes | None, name: str = PSEUDONYM) -> bytes:
    try:
        doc = json.loads(blob)
        if doc["format"] == "raw":
            return base64.b64decode(doc["key"], validate=True)
        salt, nonce, sealed = (base64.b64decode(doc[k]) for k in ("salt", "nonce", "sealed"))
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyUnavailable(f"{name} is damaged (not the format keys init writes)") from exc
    if not passphrase:
        raise KeyUnavailable(f"{name} is encrypted and GATEWAY_KEY_PASSPHRASE is not set")
    try:
        return AESGCM(_scrypt(passphrase, salt)).decrypt(nonce, sealed, b"gateway-secret-v1")
    except (InvalidTag, ValueError) as exc:
        raise KeyUnavailable(f"{name}: wrong passphrase") from exc


def init_keys(
    keys_dir: Path,
    passphrase: bytes | None,
    *,
    auditor_dir: Path,
    auditor_passphrase: bytes,
    force: bool = False,
) -> list[Path]:
    """Generate the gateway's keys into ``keys_dir`` and the auditor's key pair into
    ``auditor_dir`` (its private half encrypted with ``auditor_passphrase``, which the gateway
    never needs). Refuses to overwrite unless ``force``."""
    if not auditor_passphrase:
        raise ConfigurationError(
            "the auditor key must be encrypted: set GATEWAY_AUDITOR_PASSPHRASE (the auditor's, "
            "not the operator's)"
        )
    if auditor_dir.resolve() == keys_dir.resolve():
        raise ConfigurationError("the auditor directory must not be the gateway's key directory")
    targets = [keys_dir / n for n in ALL_FILES] + [auditor_dir / n for n in AUDITOR_FILES]
    existing = [p for p in [*targets, keys_dir / AUDITOR_PRIVATE] if p.exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise Conflict(f"keys already exist: {names} (use --force to replace)")
    for path in existing:
        path.unlink()

    auditor = X25519PrivateKey.generate()
    auditor_pub = auditor.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ledger = Ed25519PrivateKey.generate()
    ledger_pub = ledger.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pseudonym_key = os.urandom(32)
    files = {
        **_added_files(keys_dir, passphrase),
        keys_dir / TOKEN_SIGNING: _private_pem(ec.generate_private_key(ec.SECP256R1()), passphrase),
        keys_dir / LEDGER_SIGNING: _private_pem(ledger, passphrase),
        keys_dir / LEDGER_PUBLIC: ledger_pub,
        keys_dir / AUDITOR_PUBLIC: auditor_pub,
        keys_dir / PSEUDONYM: _wrap_secret(pseudonym_key, passphrase),
        auditor_dir / AUDITOR_PRIVATE: _private_pem(auditor, auditor_passphrase),
        auditor_dir / AUDITOR_PUBLIC: auditor_pub,
        auditor_dir / AUDITOR_PSEUDONYM: seal_pseudonym_key(pseudonym_key, auditor.public_key()),
    }
    for path, data in files.items():
        write_private(path, data, exclusive=True)
    return list(files)


def _added_files(keys_dir: Path, passphrase: bytes | None) -> dict[Path, bytes]:
    return {
        keys_dir / SIGNAL_PSEUDONYM: _wrap_secret(os.urandom(32), passphrase),
        keys_dir / WEBHOOK_SIGNING: _private_pem(Ed25519PrivateKey.generate(), passphrase),
    }


def init_missing_keys(keys_dir: Path, passphrase: bytes | None) -> list[Path]:
    """Write the keys a key directory from an earlier version lacks (``ADDED_FILES``); the
    existing keys are not touched. Refuses a directory without the first release's keys."""
    if not keys_exist(keys_dir):
        raise KeyUnavailable(f"no keys in {keys_dir}: run `gateway keys init` first")
    written = []
    for path, data in _added_files(keys_dir, passphrase).items():
        if not path.exists():
            write_private(path, data, exclusive=True)
            written.append(path)
    return written


def write_signal_keys(path: Path, chain: bytes, passphrase: bytes | None) -> None:
    """Replace the signal key chain file (atomically, 0600)."""
    write_private(path, _wrap_secret(chain, passphrase), exclusive=False)


def read_signal_keys(path: Path, passphrase: bytes | None) -> bytes:
    return _unwrap_secret(_read(path.parent, path.name), passphrase, path.name)


def keys_exist(keys_dir: Path) -> bool:
    return all((keys_dir / name).is_file() for name in (TOKEN_SIGNING, LEDGER_SIGNING, PSEUDONYM))


def _read(keys_dir: Path, name: str) -> bytes:
    try:
        return (keys_dir / name).read_bytes()
    except OSError as exc:
        hint = "gateway keys init --missing" if name in ADDED_FILES else "gateway keys init"
        raise KeyUnavailable(f"cannot read {name} in the keys directory; run `{hint}`") from exc


def _load_private(data: bytes, name: str, passphrase: bytes | None) -> object:
    try:
        return serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError as exc:
        # cryptography raises TypeError for "encrypted but no password" and the reverse.
        raise KeyUnavailable(f"{name}: passphrase missing or not expected") from exc
    except ValueError as exc:
        raise KeyUnavailable(f"{name}: wrong passphrase or damaged key file") from exc


def load_ed25519(keys_dir: Path, name: str, passphrase: bytes | None) -> Ed25519PrivateKey:
    key = _load_private(_read(keys_dir, name), name, passphrase)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyUnavailable(f"{name} is not an Ed25519 key")
    return key


def load_token_signing(keys_dir: Path, passphrase: bytes | None) -> ec.EllipticCurvePrivateKey:
    key = _load_private(_read(keys_dir, TOKEN_SIGNING), TOKEN_SIGNING, passphrase)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise KeyUnavailable(f"{TOKEN_SIGNING} is not a P-256 key")
    return key


def load_auditor_private(path: Path, passphrase: bytes | None) -> X25519PrivateKey:
    """For auditors' offline tools only; the gateway itself never calls this."""
    return auditor_private_from_pem(_read(path.parent, path.name), passphrase, path.name)


def auditor_private_from_pem(
    data: bytes, passphrase: bytes | None, name: str = AUDITOR_PRIVATE
) -> X25519PrivateKey:
    """The auditor's key from its (encrypted) PEM: the offline tools' file, or what an auditor
    hands the console for one session (docs/adr/0014-console-auditor-key.md)."""
    key = _load_private(data, name, passphrase)
    if not isinstance(key, X25519PrivateKey):
        raise KeyUnavailable(f"{name} is not an X25519 key")
    return key


def _load_public(data: bytes, name: str) -> object:
    try:
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyUnavailable(f"{name} is not a PEM public key (damaged or the wrong file)") from exc


def load_ledger_public(path: Path) -> Ed25519PublicKey:
    """The ledger's public key from the file ``path`` (an auditor's copy may have any name)."""
    key = _load_public(_read(path.parent, path.name), path.name)
    if not isinstance(key, Ed25519PublicKey):
        raise KeyUnavailable(f"{path.name} is not an Ed25519 public key")
    return key


def init_policy_signing(directory: Path, passphrase: bytes) -> Path:
    """A new policy-signing key pair in ``directory`` (the private key under ``passphrase``);
    returns the public key's path, for the gateway's ``keys/``."""
    if not passphrase:
        raise ConfigurationError(
            "a policy-signing key is always passphrase-protected: set "
            "GATEWAY_POLICY_SIGNING_PASSPHRASE"
        )
    if (directory / POLICY_SIGNING).exists():
        raise Conflict(f"{directory / POLICY_SIGNING} exists; it is not overwritten")
    key = Ed25519PrivateKey.generate()
    write_private(directory / POLICY_SIGNING, _private_pem(key, passphrase))
    public = directory / POLICY_PUBLIC
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return public


def load_policy_signing(path: Path, passphrase: bytes) -> Ed25519PrivateKey:
    return load_ed25519(path.parent, path.name, passphrase or None)


def load_keyring(keys_dir: Path, passphrase: bytes | None) -> KeyRing:
    """The keys a running gateway holds, checked before it serves anything."""
    if (keys_dir / POLICY_SIGNING).exists():
        # NOTE: whoever holds it can make the gateway enforce any policy.
        raise ConfigurationError(
            f"{POLICY_SIGNING} is in the gateway's key directory {keys_dir}: the policy-signing "
            "key belongs to the privacy officers; move it off this server"
        )
    if (keys_dir / AUDITOR_PRIVATE).exists():
        # NOTE: with the auditor's private key at hand the operator could read every ledger body
        # and every sealed BSN; the gateway will not run beside it.
        raise ConfigurationError(
            f"{AUDITOR_PRIVATE} is in the gateway's key directory {keys_dir}: the auditor's "
            "private key belongs to the auditor; move it off this server"
        )
    auditor = _load_public(_read(keys_dir, AUDITOR_PUBLIC), AUDITOR_PUBLIC)
    if not isinstance(auditor, X25519PublicKey):
        raise KeyUnavailable("auditor.pub is not an X25519 public key")
    ledger_signing = load_ed25519(keys_dir, LEDGER_SIGNING, passphrase)
    ledger_public = load_ledger_public(keys_dir / LEDGER_PUBLIC)
    if _raw_public(ledger_signing.public_key()) != _raw_public(ledger_public):
        raise KeyUnavailable(
            f"{LEDGER_SIGNING} does not match {LEDGER_PUBLIC}: entries signed now would not "
            "verify; restore the matching pair"
        )
    return KeyRing(
        token_signing=load_token_signing(keys_dir, passphrase),
        ledger_signing=ledger_signing,
        auditor_public=auditor,
        pseudonym_key=_unwrap_secret(_read(keys_dir, PSEUDONYM), passphrase),
        signal_keys=read_signal_keys(keys_dir / SIGNAL_PSEUDONYM, passphrase),
        webhook_signing=load_ed25519(keys_dir, WEBHOOK_SIGNING, passphrase),
    )


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def seal_pseudonym_key(pseudonym_key: bytes, auditor: X25519PublicKey) -> bytes:
    """The pseudonymisation key sealed for an auditor (``pseudonym.sealed``)."""
    return json.dumps(seal(pseudonym_key, _PSEUDONYM_AAD, auditor).as_dict()).encode()


def load_auditor_public(path: Path) -> X25519PublicKey:
    key = _load_public(_read(path.parent, path.name), path.name)
    if not isinstance(key, X25519PublicKey):
        raise KeyUnavailable(f"{path.name} is not an X25519 public key")
    return key


def load_auditor_pseudonym_key(auditor_dir: Path, auditor: X25519PrivateKey) -> bytes:
    """The pseudonymisation key, from its copy sealed for the auditor (auditor tools only)."""
    blob = _read(auditor_dir, AUDITOR_PSEUDONYM)
    try:
        sealed = SealedBody.from_dict(json.loads(blob))
        return open_sealed(sealed, _PSEUDONYM_AAD, auditor)
    except (ValueError, KeyError, TypeError, InvalidTag) as exc:
        raise KeyUnavailable(
            f"{AUDITOR_PSEUDONYM} cannot be opened with this auditor key (damaged or another key)"
        ) from exc
