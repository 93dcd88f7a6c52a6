"""`gateway serve --workers 2`: two processes on one port, one ledger in one order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.ledger.stores import open_store
from gateway.settings import Settings
from gateway.testing import free_port, seed_demo_home, start_gateway, stop_server

ENV = {"GATEWAY_POLICY_MODE": "development"}


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
    secrets = seed_demo_home(home, ENV)
    port, log = free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    args = ["serve", "--home", str(home), "--workers", "2"]
    proc = start_gateway(args, port, log, ENV, within=90)
    try:
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
        stop_server(proc, within=60)

    verified = CliRunner().invoke(app, ["ledger", "verify", "--home", str(home)])
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    store = open_store(Settings(home=home).resolved_database_url)
    try:
        assert set(receipts) <= set(store.entry_hashes())
    finally:
        store.close()
    assert "Traceback" not in log.read_text()
