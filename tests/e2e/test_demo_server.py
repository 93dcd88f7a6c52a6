"""The README's path, for real: `gateway demo` as a process, HTTP over a socket, SQL sources."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from gateway.testing import ServedDemo

pytestmark = pytest.mark.slow


def test_demo_serves_a_family_overview_over_http(demo: ServedDemo) -> None:
    secret = demo.secrets["clients"]["zaanstad-regie"]
    token = httpx.post(
        f"{demo.base}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("zaanstad-regie", secret),
    ).json()["access_token"]
    r = httpx.post(
        f"{demo.base}/disclosures",
        headers={"Authorization": f"Bearer {token}"},
        json={"case_id": demo.secrets["cases"]["mda"], "bsn": "999990019"},
    )
    assert r.status_code == 200
    assert r.headers["api-version"] == "1.0.0"
    sources = {s["source"]: s for s in r.json()["sources"]}
    # Real SQL sources: the projection came back typed (bool, list) and transformed.
    assert sources["politie.incidenten"]["fields"]["wapens"]["value"] is True
    assert (
        sources["reclassering.toezicht"]["fields"]["bijzondere_voorwaarden"]["value"][0]
        == "contactverbod"
    )
    assert b"ENCRYPTED PRIVATE KEY" in (demo.home / "keys" / "ledger-signing.key").read_bytes()

    cli = [sys.executable, "-c", "from gateway.cli import main; main()"]
    verify = subprocess.run(
        [*cli, "ledger", "verify", "--home", str(demo.home)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr
    assert "ledger intact:" in verify.stdout


def test_databases_and_secrets_are_private(demo: ServedDemo) -> None:
    var = demo.home / "var"
    files = [var / "gateway.db", var / "demo-secrets.json", *(var / "sources").glob("*.db")]
    assert len(files) > 3
    for path in files:
        assert path.stat().st_mode & 0o077 == 0, path
