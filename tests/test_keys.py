from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gateway.errors import Conflict, KeyUnavailable
from gateway.keys import ALL_FILES, AUDITOR_PRIVATE, init_keys, load_auditor_private, load_keyring


def test_init_writes_every_key_with_mode_0600(tmp_path: Path) -> None:
    paths = init_keys(tmp_path / "keys", None)
    assert sorted(p.name for p in paths) == sorted(ALL_FILES)
    for p in paths:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    init_keys(tmp_path, None)
    with pytest.raises(Conflict):
        init_keys(tmp_path, None)
    init_keys(tmp_path, None, force=True)


def test_keyring_does_not_hold_the_auditor_private_key(tmp_path: Path) -> None:
    init_keys(tmp_path, None)
    ring = load_keyring(tmp_path, None)
    assert not any("X25519PrivateKey" in type(v).__name__ for v in vars(ring).values())
    assert len(ring.pseudonym_key) == 32


def test_passphrase_encrypts_private_keys(tmp_path: Path) -> None:
    init_keys(tmp_path, b"correct horse")
    for name in ("token-signing.key", "ledger-signing.key", AUDITOR_PRIVATE):
        assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / name).read_bytes()
    assert b"scrypt-aes256gcm" in (tmp_path / "pseudonym.key").read_bytes()
    ring = load_keyring(tmp_path, b"correct horse")
    assert len(ring.pseudonym_key) == 32
    load_auditor_private(tmp_path / AUDITOR_PRIVATE, b"correct horse")


@pytest.mark.parametrize("given", [None, b"wrong"])
def test_wrong_or_missing_passphrase_is_key_unavailable(
    tmp_path: Path, given: bytes | None
) -> None:
    init_keys(tmp_path, b"correct horse")
    with pytest.raises(KeyUnavailable) as info:
        load_keyring(tmp_path, given)
    assert "correct horse" not in str(info.value)


def test_missing_key_is_key_unavailable(tmp_path: Path) -> None:
    init_keys(tmp_path, None)
    (tmp_path / "ledger-signing.key").unlink()
    with pytest.raises(KeyUnavailable, match=r"ledger-signing\.key"):
        load_keyring(tmp_path, None)
