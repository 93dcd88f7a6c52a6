"""The kill -9 drill: a served gateway killed without warning, again and again, while several
clients keep asking. Every receipt a client was given must be in the ledger with the same hash,
the chain must verify, and every restart must come up clean (no start-up check tripping over
what a kill left behind)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.ledger.stores import open_store
from gateway.settings import Settings
from gateway.testing import free_port, seed_demo_home, start_gateway, stop_server

KILLS = int(os.environ.get("GATEWAY_DRILL_KILLS", "20"))
CLIENTS = ("zaanstad-regie", "politie-wijkagent", "om-officier")
ENV = {"GATEWAY_POLICY_MODE": "development"}


def _start(home: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """The gateway again on the same home; failing to come up is the drill failing."""
    try:
        return start_gateway(["serve", "--home", str(home)], port, log, ENV)
    except RuntimeError as exc:
        raise AssertionError(f"the gateway did not restart cleanly: {exc}") from None


def _token(base: str, client: str, secret: str) -> str:
    r = httpx.post(
        f"{base}/v1/oauth/token", data={"grant_type": "client_credentials"}, auth=(client, secret)
    )
    r.raise_for_status()
    return str(r.json()["access_token"])


def _client(
    base: str, token: str, body: dict[str, str], stop: threading.Event, out: list[str]
) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
        while not stop.is_set():
            try:
                r = http.post("/v1/disclosures", json=body, timeout=5)
            except httpx.TransportError:
                return  # the server is gone
            receipt = r.json().get("receipt") if r.status_code in (200, 403) else None
            if receipt:
                out.append(receipt["entry_hash"])


@pytest.mark.slow
def test_kill_nine_under_load_loses_no_receipt(tmp_path: Path) -> None:
    home = tmp_path / "home"
    secrets = seed_demo_home(home, ENV)
    body = {"case_id": secrets["cases"]["mda"], "bsn": "999990019"}
    port, log = free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    received: list[str] = []
    rng = random.Random(20261123)
    for _ in range(KILLS):
        proc = _start(home, port, log)
        tokens = [_token(base, c, secrets["clients"][c]) for c in CLIENTS]
        stop = threading.Event()
        threads = [
            threading.Thread(target=_client, args=(base, t, body, stop, received)) for t in tokens
        ]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.2, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert len(received) > KILLS, "the clients were given too few receipts to prove anything"

    # Restart once more, cleanly, and stop as a service manager would.
    proc = _start(home, port, log)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert stop_server(proc, within=30) in (0, -signal.SIGTERM)
    assert "Traceback" not in log.read_text()

    verified = CliRunner().invoke(app, ["ledger", "verify", "--home", str(home)])
    assert verified.exit_code == 0, verified.stdout + verified.stderr
    store = open_store(Settings(home=home).resolved_database_url, writable=False)
    try:
        in_ledger = set(store.entry_hashes())
    finally:
        store.close()
    missing = [h for h in received if h not in in_ledger]
    assert missing == [], f"{len(missing)} of {len(received)} receipts are not in the ledger"
