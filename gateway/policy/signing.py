"""Signed policy bundles: what a privacy officer releases and the gateway activates.

A bundle is a gzip'd tar of the policy directory's files plus ``manifest.json`` (revision,
creation time, the policy version, each file's SHA-256, the signing key's id) and
``manifest.sig`` (Ed25519 over ``"gateway-policy-bundle-v1" ||`` the RFC 8785 form of the
manifest). The policy-signing key is the privacy officers', separate from every key of the
gateway; the gateway holds only its public half (``HOME/keys/policy-signing.pub``).

Opening a bundle checks, before anything is compiled: its size and shape (regular files only,
relative paths, bounded counts and sizes), a signature by a trusted key, and that the files are
exactly those the manifest lists with exactly those hashes. The policy version of a bundle is the
same hash as of the directory it was built from, so the ledger names one version either way.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.clock import iso_now
from gateway.errors import BundleRejected
from gateway.ledger.checkpoint import signing_key_id
from gateway.ledger.entry import canonical
from gateway.policy.bundle import PolicySet, policy_files, policy_set_from_files, policy_version

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
_CONTEXT = b"gateway-policy-bundle-v1"
MAX_BUNDLE_BYTES = 4 * 1024 * 1024
MAX_FILE_BYTES = 1024 * 1024
MAX_FILES = 256
MAX_UNPACKED_BYTES = 16 * 1024 * 1024
"""A compressed bundle may not unpack to more than this (a gzip bomb is refused unread)."""


@dataclass(frozen=True)
class Manifest:
    revision: str
    created: str
    policy_version: str
    files: dict[str, str]
    """relative path → hex SHA-256"""
    signer: str
    """The id of the key that signed (``ed25519:`` + 16 hex)."""

    def message(self) -> bytes:
        return _CONTEXT + canonical(asdict(self))

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


def build_bundle(policy_dir: Path, key: Ed25519PrivateKey, revision: str) -> tuple[bytes, Manifest]:
    """The signed bundle of ``policy_dir`` (deterministic apart from the creation time)."""
    files = policy_files(policy_dir)
    policy_set_from_files(files, str(policy_dir))  # never sign what would not load
    manifest = Manifest(
        revision=revision,
        created=iso_now(),
        policy_version=policy_version(files),
        files={rel: hashlib.sha256(data).hexdigest() for rel, data in sorted(files.items())},
        signer=signing_key_id(key.public_key()),
    )
    signature = base64.b64encode(key.sign(manifest.message()))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        _member(tar, MANIFEST, json.dumps(manifest.as_dict(), indent=2, sort_keys=True).encode())
        _member(tar, SIGNATURE, signature + b"\n")
        for rel, data in sorted(files.items()):
            _member(tar, f"policy/{rel}", data)
    return buffer.getvalue(), manifest


def _read_members(data: bytes) -> dict[str, bytes]:
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleRejected("the bundle is larger than a policy set can be")
    members: dict[str, bytes] = {}
    unpacked = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for info in tar:
                path = PurePosixPath(info.name)
                if not info.isfile() or path.is_absolute() or ".." in path.parts:
                    raise BundleRejected(
                        f"the bundle holds something other than files: {info.name!r}"
                    )
                unpacked += info.size
                too_big = info.size > MAX_FILE_BYTES or unpacked > MAX_UNPACKED_BYTES
                if too_big or len(members) >= MAX_FILES:
                    raise BundleRejected("the bundle holds too many or too large files")
                if info.name in members:
                    raise BundleRejected(f"the bundle holds {info.name!r} twice")
                extracted = tar.extractfile(info)
                members[info.name] = extracted.read() if extracted is not None else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BundleRejected(f"the bundle is not a gzip'd tar ({exc.__class__.__name__})") from None
    return members


def open_bundle(data: bytes, trusted: Sequence[Ed25519PublicKey]) -> tuple[PolicySet, Manifest]:
    """Check ``data`` and return its policy set; :class:`BundleRejected` on anything amiss."""
    members = _read_members(data)
    try:
        doc = json.loads(members[MANIFEST])
        manifest = Manifest(**doc)
        signature = base64.b64decode(members[SIGNATURE].strip(), validate=True)
    except (KeyError, ValueError, TypeError):
        raise BundleRejected("the bundle has no readable manifest and signature") from None
    keys = {signing_key_id(k): k for k in trusted}
    key = keys.get(manifest.signer)
    if key is None:
        raise BundleRejected(f"the bundle is signed by {manifest.signer}, not a trusted key")
    try:
        key.verify(signature, manifest.message())
    except InvalidSignature:
        raise BundleRejected("the bundle's signature does not verify") from None
    files = {
        name.removeprefix("policy/"): body
        for name, body in members.items()
        if name.startswith("policy/")
    }
    others = {name for name in members if not name.startswith("policy/")}
    if others != {MANIFEST, SIGNATURE} or set(files) != set(manifest.files):
        raise BundleRejected("the bundle's files are not those its manifest lists")
    for rel, body in files.items():
        if hashlib.sha256(body).hexdigest() != manifest.files[rel]:
            raise BundleRejected(f"{rel} is not the file the manifest lists (altered)")
    if policy_version(files) != manifest.policy_version:
        raise BundleRejected("the manifest's policy version does not match its files")
    return policy_set_from_files(files, f"bundle {manifest.revision}"), manifest


def load_trusted_keys(paths: Sequence[Path]) -> list[Ed25519PublicKey]:
    from gateway.keys import load_ledger_public

    return [load_ledger_public(p) for p in paths]


def file_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def describe(manifest: Manifest) -> Mapping[str, str]:
    return {
        "revision": manifest.revision,
        "policy_version": manifest.policy_version,
        "signer": manifest.signer,
        "created": manifest.created,
    }
