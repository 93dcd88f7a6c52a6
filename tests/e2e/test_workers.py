"""`gateway serve --workers 2`: two processes on one port, one ledger in one order."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.ledger.stores import open_store
from gateway.settings import Settings

GATEWAY = [sys.executable, "-c", "from gateway.cli import main; main()"]
ENV = {**os.environ, "GATEWAY_POLICY_MODE": "development", "PYTHONUTF8": "1"}


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_two_workers_serve_one_ledger(tmp_path: Path) -> None:
    home = tmp_path / "home"
    subprocess.run(
        [*GATEWAY, "demo", "--home", str(home), "--no-serve"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    secrets = json.loads((home / "var" / "demo-secrets.json").read_text())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    proc = subprocess.Popen(
        [*GATEWAY, "serve", "--home", str(home), "--port", str(port), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env=ENV,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the workers did not come up"
            try:
                if httpx.get(f"{base}/v1/health", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        token = httpx.post(
            f"{base}/v1/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("zaanstad-regie", secrets["clients"]["zaanstad-regie"]),
        ).json()["access_token"]
        body = {"case_id": secrets["cases"]["mda"], "bsn": "999990019"}

        def ask(_: int) -> str:
            # A new connection each time, so the kernel spreads them over both workers.
            r = httpx.post(
                f"{base}/v1/disclosures",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert r.status_code == 200, r.text
            return str(r.json()["receipt"]["entry_hash"])

        with ThreadPoolExecutor(8) as pool:
            receipts = list(pool.map(ask, range(80)))
        assert len(_children(proc.pid)) >= 2  # the supervisor and its worker processes
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

    verified = CliRunner().invoke(app, ["ledger", "verify", "--home", str(home)])
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    store = open_store(Settings(home=home).resolved_database_url)
    try:
        assert set(receipts) <= set(store.entry_hashes())
    finally:
        store.close()
    assert "Traceback" not in log.read_text()
