"""Start-up refuses what a key, a file or a row could have changed underneath it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from typer.testing import CliRunner

from connectors.interface import local
from gateway.cli import app
from gateway.errors import ConfigurationError
from gateway.keys import (
    AUDITOR_PUBLIC,
    PSEUDONYM,
    WEBHOOK_SIGNING,
    init_keys,
    load_auditor_pseudonym_key,
)
from gateway.ledger.periods import open_entry
from gateway.ledger.sealing import key_id
from gateway.runtime import build_gateway
from gateway.settings import Settings, bundled_policy_dir
from gateway.testing import (
    TEST_AUDITOR_PASSPHRASE,
    demo_bsn,
    make_test_gateway,
    seed_demo_home,
)


def _other_keys(tmp_path: Path) -> Path:
    """The key directory of another instance."""
    other = tmp_path / "other"
    init_keys(
        other / "keys",
        None,
        auditor_dir=other / "auditor",
        auditor_passphrase=TEST_AUDITOR_PASSPHRASE,
    )
    return other / "keys"


def test_a_swapped_auditor_key_stops_the_server_once_the_ledger_has_entries(
    tmp_path: Path,
) -> None:
    gw = make_test_gateway(tmp_path / "home")
    r = gw.client.post(
        "/v1/disclosures",
        json={"case_id": gw.case_ids["pga"], "bsn": demo_bsn("pga.veelpleger")},
        headers=gw.auth("zaanstad-regie"),
    )
    assert r.status_code == 200
    settings = gw.gateway.settings
    gw.close()
    shutil.copy(_other_keys(tmp_path) / AUDITOR_PUBLIC, settings.keys_dir / AUDITOR_PUBLIC)
    with pytest.raises(ConfigurationError, match="not the key the ledger seals for"):
        build_gateway(settings, connectors={})


@pytest.mark.parametrize("name", [PSEUDONYM, WEBHOOK_SIGNING])
def test_a_key_file_from_another_instance_stops_the_server(tmp_path: Path, name: str) -> None:
    # A restored backup with the wrong pseudonym key started, then found nobody: every linked
    # person read as not linked, every request was denied, and nothing said why.
    gw = make_test_gateway(tmp_path)
    settings = gw.gateway.settings
    gw.close()
    kept = (settings.keys_dir / name).read_bytes()
    shutil.copy(_other_keys(tmp_path) / name, settings.keys_dir / name)
    with pytest.raises(ConfigurationError, match=f"{name} is not the key this database"):
        build_gateway(settings, connectors={})
    (settings.keys_dir / name).write_bytes(kept)  # the right key back: it starts
    build_gateway(settings, connectors={}).close()


def test_a_deliberate_auditor_key_change_is_a_signed_ledger_event(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path)
    old_key = gw.auditor_key()
    settings = gw.gateway.settings
    gw.close()
    new_key = X25519PrivateKey.generate()
    pub = tmp_path / "new-auditor.pub"
    pub.write_bytes(
        new_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    r = CliRunner().invoke(app, ["keys", "change-auditor", str(pub), "--home", str(tmp_path)])
    assert r.exit_code == 0, r.output

    gw2 = build_gateway(settings, connectors={})  # starts: the change is in the ledger
    try:
        rows = list(gw2.store.entries())
        change = rows[-1]
        assert change.facts.action == "auditor_key.change"
        body = json.loads(open_entry(gw2.store, change, new_key))
        assert body["old_key_id"] == key_id(old_key.public_key())
        with pytest.raises(InvalidTag):  # the outgoing auditor cannot read what follows
            open_entry(gw2.store, change, old_key)
        handed = load_auditor_pseudonym_key(tmp_path / "auditor-handover", new_key)
        assert handed == gw2.keys.pseudonym_key
    finally:
        gw2.close()


def test_a_new_policy_version_is_announced_in_the_ledger_once(tmp_path: Path) -> None:
    gw = make_test_gateway(tmp_path)
    settings = gw.gateway.settings
    first = [r for r in gw.gateway.store.entries() if r.facts.action == "policy.activate"]
    assert len(first) == 1 and first[0].seq == 1
    gw.close()
    build_gateway(settings, connectors={}).close()  # same policy: nothing new
    policies = tmp_path / "policies"
    shutil.copytree(bundled_policy_dir(), policies)
    (policies / "sharing.rego").write_text((policies / "sharing.rego").read_text() + "\n# edit\n")
    gw2 = build_gateway(Settings(home=tmp_path), connectors={})  # now HOME/policies applies
    try:
        activations = [r for r in gw2.store.entries() if r.facts.action == "policy.activate"]
        assert len(activations) == 2 and activations[1].facts.policy_version == gw2.engine.version
        assert activations[1].facts.policy_version != activations[0].facts.policy_version
    finally:
        gw2.close()


def test_the_demo_regions_sources_are_read_on_the_event_loop(tmp_path: Path) -> None:
    """The demo's source files are local SQLite files keyed by an indexed BSN: each offers the
    local path (ADR 0015), and a family overview starts no source lane's thread."""
    seed_demo_home(tmp_path)
    gw = build_gateway(Settings(home=tmp_path, policy_mode="development"))
    try:
        sources = gw.disclosures.connectors
        assert len(sources) >= 7 and all(local(c) is not None for c in sources.values())
        assert set(gw.disclosures._local) == set(sources)
    finally:
        gw.close()
