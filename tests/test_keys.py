from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gateway.errors import ConfigurationError, Conflict, KeyUnavailable
from gateway.keys import (
    ALL_FILES,
    AUDITOR_FILES,
    AUDITOR_PRIVATE,
    LEDGER_PUBLIC,
    init_keys,
    load_auditor_private,
    load_keyring,
)

AUDITOR = b"the auditor's own passphrase"


def init(tmp_path: Path, passphrase: bytes | None = None, **kw: object) -> list[Path]:
    return init_keys(
        tmp_path / "keys",
        passphrase,
        auditor_dir=tmp_path / "auditor",
        auditor_passphrase=AUDITOR,
        **kw,  # type: ignore[arg-type]
    )


def test_init_writes_every_key_with_mode_0600(tmp_path: Path) -> None:
    paths = init(tmp_path)
    assert sorted(p.name for p in paths if p.parent.name == "keys") == sorted(ALL_FILES)
    assert sorted(p.name for p in paths if p.parent.name == "auditor") == sorted(AUDITOR_FILES)
    for p in paths:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    for d in ("keys", "auditor"):
        assert stat.S_IMODE((tmp_path / d).stat().st_mode) == 0o700


def test_the_auditor_key_is_never_in_the_gateways_key_directory(tmp_path: Path) -> None:
    init(tmp_path)
    assert not (tmp_path / "keys" / AUDITOR_PRIVATE).exists()
    pem = (tmp_path / "auditor" / AUDITOR_PRIVATE).read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in pem  # always, even without GATEWAY_KEY_PASSPHRASE
    load_auditor_private(tmp_path / "auditor" / AUDITOR_PRIVATE, AUDITOR)
    with pytest.raises(ConfigurationError):
        init_keys(tmp_path / "k2", None, auditor_dir=tmp_path / "a2", auditor_passphrase=b"")


def test_the_server_refuses_to_run_beside_the_auditor_key(tmp_path: Path) -> None:
    init(tmp_path)
    (tmp_path / "auditor" / AUDITOR_PRIVATE).rename(tmp_path / "keys" / AUDITOR_PRIVATE)
    with pytest.raises(ConfigurationError, match="auditor"):
        load_keyring(tmp_path / "keys", None)


def test_a_signing_key_that_does_not_match_its_public_key_is_refused(tmp_path: Path) -> None:
    init(tmp_path)
    other = tmp_path / "other"
    init_keys(other / "keys", None, auditor_dir=other / "auditor", auditor_passphrase=AUDITOR)
    (tmp_path / "keys" / LEDGER_PUBLIC).write_bytes((other / "keys" / LEDGER_PUBLIC).read_bytes())
    with pytest.raises(KeyUnavailable, match="does not match"):
        load_keyring(tmp_path / "keys", None)


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    init(tmp_path)
    with pytest.raises(Conflict):
        init(tmp_path)
    init(tmp_path, force=True)


def test_keyring_does_not_hold_the_auditor_private_key(tmp_path: Path) -> None:
    init(tmp_path)
    ring = load_keyring(tmp_path / "keys", None)
    assert not any("X25519PrivateKey" in type(v).__name__ for v in vars(ring).values())
    assert len(ring.pseudonym_key) == 32


def test_passphrase_encrypts_private_keys(tmp_path: Path) -> None:
    init(tmp_path, b"correct horse")
    keys = tmp_path / "keys"
    for name in ("token-signing.key", "ledger-signing.key"):
        assert b"ENCRYPTED PRIVATE KEY" in (keys / name).read_bytes()
    assert b"scrypt-aes256gcm" in (keys / "pseudonym.key").read_bytes()
    ring = load_keyring(keys, b"correct horse")
    assert len(ring.pseudonym_key) == 32


@pytest.mark.parametrize("given", [None, b"wrong"])
def test_wrong_or_missing_passphrase_is_key_unavailable(
    tmp_path: Path, given: bytes | None
) -> None:
    init(tmp_path, b"correct horse")
    with pytest.raises(KeyUnavailable) as info:
        load_keyring(tmp_path / "keys", given)
    assert "correct horse" not in str(info.value)


def test_missing_key_is_key_unavailable(tmp_path: Path) -> None:
    init(tmp_path)
    (tmp_path / "keys" / "ledger-signing.key").unlink()
    with pytest.raises(KeyUnavailable, match=r"ledger-signing\.key"):
        load_keyring(tmp_path / "keys", None)
