"""The README's path, for real: `gateway demo` as a process, HTTP over a socket, SQL sources."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("demo-home")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from gateway.cli import main; main()",
            "demo",
            "--home",
            str(home),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "GATEWAY_KEY_PASSPHRASE": "demo-pass"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/v1/health", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            proc.kill()
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "no output")
        yield base, home
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_demo_serves_a_family_overview_over_http(demo_server: tuple[str, Path]) -> None:
    base, home = demo_server
    doc = json.loads((home / "var" / "demo-secrets.json").read_text())
    token = httpx.post(
        f"{base}/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("zaanstad-regie", doc["clients"]["zaanstad-regie"]),
    ).json()["access_token"]
    r = httpx.post(
        f"{base}/v1/disclosures",
        headers={"Authorization": f"Bearer {token}"},
        json={"case_id": doc["cases"]["mda"], "bsn": "999990019"},
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
    assert b"ENCRYPTED PRIVATE KEY" in (home / "keys" / "ledger-signing.key").read_bytes()

    verify = subprocess.run(
        [
            sys.executable,
            "-c",
            "from gateway.cli import main; main()",
            "ledger",
            "verify",
            "--home",
            str(home),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr
    assert "ledger intact: 1 entries" in verify.stdout
