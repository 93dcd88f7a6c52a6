"""Signed policy bundles: build, verify, activate, reload — and every way a bundle is refused."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from gateway.cli import app
from gateway.errors import BundleRejected, ConfigurationError
from gateway.keys import POLICY_PUBLIC, POLICY_SIGNING, load_policy_signing
from gateway.policy.signing import build_bundle, open_bundle
from gateway.settings import bundled_policy_dir
from gateway.testing import demo_bsn, make_test_gateway

PASS = "policy officers' passphrase"


@pytest.fixture
def signer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The privacy officers' key directory (away from any gateway home)."""
    monkeypatch.setenv("GATEWAY_POLICY_SIGNING_PASSPHRASE", PASS)
    officers = tmp_path / "officers"
    r = CliRunner().invoke(app, ["policy", "keygen", str(officers)])
    assert r.exit_code == 0, r.output
    return officers


def key(signer: Path) -> Ed25519PrivateKey:
    return load_policy_signing(signer / POLICY_SIGNING, PASS.encode())


def bundle_bytes(signer: Path, policy_dir: Path | None = None, rev: str = "r1") -> bytes:
    return build_bundle(policy_dir or bundled_policy_dir(), key(signer), rev)[0]


def repack(data: bytes, change: dict[str, bytes | None]) -> bytes:
    """The bundle with members replaced (bytes), removed (None) or added."""
    members: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for info in tar:
            f = tar.extractfile(info)
            members[info.name] = f.read() if f else b""
    for name, body in change.items():
        if body is None:
            members.pop(name, None)
        else:
            members[name] = body
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


def test_keygen_build_and_verify_on_the_command_line(signer: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "bundle.tar.gz"
    built = runner.invoke(
        app,
        [
            *("policy", "build", "--key", str(signer / POLICY_SIGNING), "--out", str(out)),
            *("--revision", "2026-11-23.1", "--home", str(tmp_path)),
        ],
    )
    assert built.exit_code == 0, built.output
    checked = runner.invoke(
        app, ["policy", "verify", str(out), "--public-key", str(signer / POLICY_PUBLIC)]
    )
    assert checked.exit_code == 0, checked.output
    assert "2026-11-23.1" in checked.stdout and "bundle verified" in checked.stdout
    other = tmp_path / "other.pub"
    runner.invoke(app, ["policy", "keygen", str(tmp_path / "other")])
    shutil.copy(tmp_path / "other" / POLICY_PUBLIC, other)
    refused = runner.invoke(app, ["policy", "verify", str(out), "--public-key", str(other)])
    assert refused.exit_code == 77 and "not a trusted key" in refused.output


def test_the_bundle_carries_the_same_version_as_its_directory(signer: Path) -> None:
    from gateway.policy.bundle import load_policy_set

    policy, manifest = open_bundle(bundle_bytes(signer), [key(signer).public_key()])
    assert (
        policy.version == manifest.policy_version == load_policy_set(bundled_policy_dir()).version
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"policy/sharing.rego": b'package sharing\ndecision := {"allow": true}\n'}, "altered"),
        ({"policy/extra.rego": b"package extra\n"}, "not those its manifest lists"),
        ({"policy/catalog/sources.yaml": None}, "not those its manifest lists"),
        ({"manifest.sig": b"AAAA\n"}, "signature"),
        ({"manifest.json": b"{}"}, "manifest"),
        ({"../escape.rego": b"x"}, "other than files"),
    ],
)
def test_a_tampered_bundle_is_refused(
    signer: Path, change: dict[str, bytes | None], reason: str
) -> None:
    data = repack(bundle_bytes(signer), change)
    with pytest.raises(BundleRejected, match=reason):
        open_bundle(data, [key(signer).public_key()])


def test_an_edited_manifest_does_not_verify(signer: Path) -> None:
    data = bundle_bytes(signer)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        f = tar.extractfile("manifest.json")
        assert f is not None
        manifest = json.loads(f.read())
    manifest["revision"] = "someone else's"
    forged = repack(data, {"manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(BundleRejected, match="signature does not verify"):
        open_bundle(forged, [key(signer).public_key()])


def test_a_bundle_that_unpacks_to_too_much_is_refused_unread(signer: Path) -> None:
    # Highly compressible: small on disk, 2 MiB a member once unpacked.
    bomb = repack(bundle_bytes(signer), {"policy/big.rego": b"\0" * (2 * 1024 * 1024)})
    assert len(bomb) < 1024 * 1024
    with pytest.raises(BundleRejected, match="too many or too large"):
        open_bundle(bomb, [key(signer).public_key()])


def test_not_a_bundle_at_all_is_refused(signer: Path) -> None:
    with pytest.raises(BundleRejected, match="not a gzip'd tar"):
        open_bundle(b"plain text", [key(signer).public_key()])
    with pytest.raises(BundleRejected, match="larger"):
        open_bundle(b"\0" * (5 * 1024 * 1024), [key(signer).public_key()])


def _home_with(signer: Path, home: Path, data: bytes) -> Path:
    (home / "keys").mkdir(parents=True, exist_ok=True)
    shutil.copy(signer / POLICY_PUBLIC, home / "keys" / POLICY_PUBLIC)
    path = home / "bundle.tar.gz"
    path.write_bytes(data)
    return path


def test_the_gateway_runs_only_a_signed_bundle(signer: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="only a signed policy bundle"):
        make_test_gateway(tmp_path / "unsigned", policy_mode="signed")
    home = tmp_path / "signed"
    bundle = _home_with(signer, home, bundle_bytes(signer))
    gw = make_test_gateway(home, policy_mode="signed", policy_bundle=bundle)
    try:
        [activation] = [
            e for e in gw.gateway.store.entries() if e.facts.action == "policy.activate"
        ]
        origin = gw.ledgered(activation.entry_hash)["origin"]
        assert origin["kind"] == "bundle" and origin["revision"] == "r1"
        assert origin["signer"].startswith("ed25519:")
    finally:
        gw.close()
    bundle.write_bytes(repack(bundle.read_bytes(), {"policy/extra.rego": b"package x\n"}))
    with pytest.raises(BundleRejected):
        make_test_gateway(home, policy_mode="signed", policy_bundle=bundle)


def test_a_new_bundle_is_activated_without_restart_and_a_bad_one_is_not(
    signer: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    bundle = _home_with(signer, home, bundle_bytes(signer))
    gw = make_test_gateway(home, policy_mode="signed", policy_bundle=bundle)

    def ask() -> dict[str, object]:
        r = gw.client.post(
            "/v1/disclosures",
            json={"case_id": gw.case_ids["mda"], "bsn": demo_bsn("mda.ex_partner")},
            headers=gw.auth("veiligthuis"),
        )
        assert r.status_code == 200
        return dict(r.json())

    try:
        before = ask()["policy_version"]
        assert gw.gateway.reload_policy() is False  # unchanged: nothing to do

        # A changed policy (one field less for Veilig Thuis), signed: activated and ledgered.
        changed = tmp_path / "changed"
        shutil.copytree(bundled_policy_dir(), changed)
        necessity = changed / "catalog" / "necessity.yaml"
        text = necessity.read_text()
        old_row = "gemeente.brp: {naam: plain, geboortedatum: age, adres: plain, huishouden: count}"
        assert old_row in text
        necessity.write_text(text.replace(old_row, old_row.replace(", huishouden: count", "")))
        bundle.write_bytes(bundle_bytes(signer, changed, "r2"))
        assert gw.gateway.reload_policy() is True
        after = ask()
        assert after["policy_version"] != before
        activations = [e for e in gw.gateway.store.entries() if e.facts.action == "policy.activate"]
        assert activations[-1].facts.policy_version == after["policy_version"]

        # A tampered bundle: refused, the r2 policy keeps serving; the same file is not tried
        # again (no log flood every poll), a new one is.
        bundle.write_bytes(repack(bundle.read_bytes(), {"policy/extra.rego": b"package x\n"}))
        assert gw.gateway.reload_policy() is False
        refused = gw.gateway.refused_bundle
        assert refused is not None
        assert gw.gateway.reload_policy() is False and gw.gateway.refused_bundle == refused
        assert ask()["policy_version"] == after["policy_version"]
        # An unreadable one: the same.
        bundle.unlink()
        assert gw.gateway.reload_policy() is False
        assert ask()["policy_version"] == after["policy_version"]
    finally:
        gw.close()


def test_the_gateway_will_not_run_beside_the_policy_signing_key(
    signer: Path, tmp_path: Path
) -> None:
    make_test_gateway(tmp_path).close()
    shutil.copy(signer / POLICY_SIGNING, tmp_path / "keys" / POLICY_SIGNING)
    with pytest.raises(ConfigurationError, match="belongs to the privacy officers"):
        make_test_gateway(tmp_path)


def test_a_good_bundle_waits_for_the_ledger_and_is_then_activated(
    signer: Path, tmp_path: Path
) -> None:
    from gateway.ledger.stores import MemoryStore

    store = MemoryStore()
    home = tmp_path / "home"
    bundle = _home_with(signer, home, bundle_bytes(signer))
    gw = make_test_gateway(home, policy_mode="signed", policy_bundle=bundle, store=store)
    try:
        changed = tmp_path / "changed"
        shutil.copytree(bundled_policy_dir(), changed)
        (changed / "sharing.rego").write_text((changed / "sharing.rego").read_text() + "\n# r2\n")
        bundle.write_bytes(bundle_bytes(signer, changed, "r2"))
        before = gw.gateway.active.current.version
        store.fail_appends = True  # no ledger, no activation …
        assert gw.gateway.reload_policy() is False
        assert gw.gateway.refused_bundle is None and gw.gateway.active.current.version == before
        store.fail_appends = False  # … but the bundle is not held against it
        assert gw.gateway.reload_policy() is True
        assert gw.gateway.active.current.version != before
    finally:
        gw.close()


def test_two_workers_never_record_decisions_under_two_versions_at_once(
    signer: Path, tmp_path: Path
) -> None:
    """Two gateway processes on one ledger (here: two gateways in one process). When one
    activates a new version, the other's next decision under the old one is refused — nothing
    recorded, nothing released, a 503 to ask again — and the other loads the version in force
    on its own, without waiting for its next poll."""
    from fastapi.testclient import TestClient

    from gateway.api.app import create_app
    from gateway.runtime import build_gateway

    home = tmp_path / "home"
    bundle = _home_with(signer, home, bundle_bytes(signer))
    a = make_test_gateway(home, policy_mode="signed", policy_bundle=bundle)
    b = build_gateway(a.gateway.settings, connectors=a.connectors)
    b_client = TestClient(create_app(b), base_url="http://127.0.0.1", client=("127.0.0.1", 5000))
    body = {"case_id": a.case_ids["mda"], "bsn": demo_bsn("mda.ex_partner")}
    headers = a.auth("veiligthuis")
    try:
        first = b_client.post("/v1/disclosures", json=body, headers=headers)
        assert first.status_code == 200
        v1 = first.json()["policy_version"]

        changed = tmp_path / "changed"
        shutil.copytree(bundled_policy_dir(), changed)
        necessity = changed / "catalog" / "necessity.yaml"
        necessity.write_text(necessity.read_text().replace(", huishouden: count}", "}", 1))
        bundle.write_bytes(bundle_bytes(signer, changed, "r2"))
        assert a.gateway.reload_policy() is True  # worker A activates r2
        v2 = a.gateway.active.current.version
        assert v2 != v1 and b.active.current.version == v1

        entries = a.gateway.store.count()
        refused = b_client.post("/v1/disclosures", json=body, headers=headers)
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["type"].endswith("policy-superseded")
        assert "Proefweg" not in refused.text
        assert a.gateway.store.count() == entries  # nothing recorded under the old version

        deadline = time.monotonic() + 30  # worker B loads r2 by itself
        while b.active.current.version != v2 and time.monotonic() < deadline:
            time.sleep(0.05)
        again = b_client.post("/v1/disclosures", json=body, headers=headers)
        assert again.status_code == 200 and again.json()["policy_version"] == v2
        decided = [
            e.facts.policy_version
            for e in a.gateway.store.entries()
            if e.facts.action in ("disclosure.decision", "policy.activate")
        ]
        # In ledger order: every decision carries the version of the activation before it.
        in_force = None
        for e in a.gateway.store.entries():
            if e.facts.action == "policy.activate":
                in_force = e.facts.policy_version
            elif e.facts.action == "disclosure.decision":
                assert e.facts.policy_version == in_force
        assert decided.count(v2) >= 2
    finally:
        b.close()
        a.close()
