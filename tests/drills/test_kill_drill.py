"""The kill -9 drill: a served gateway killed without warning, again and again, while several
clients keep asking. Every receipt a client was given must be in the ledger with the same hash,
the chain must verify, and every restart must come up clean (no start-up check tripping over
what a kill left behind)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.ledger.stores import open_store
from gateway.settings import Settings

KILLS = int(os.environ.get("GATEWAY_DRILL_KILLS", "20"))
CLIENTS = ("zaanstad-regie", "politie-wijkagent", "om-officier")
GATEWAY = [sys.executable, "-c", "from gateway.cli import main; main()"]
ENV = {**os.environ, "GATEWAY_POLICY_MODE": "development", "PYTHONUTF8": "1"}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(home: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [*GATEWAY, "serve", "--home", str(home), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        env=ENV,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the gateway did not restart cleanly:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=0.5).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("the gateway did not come up within 60 s")


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
    subprocess.run(
        [*GATEWAY, "demo", "--home", str(home), "--no-serve"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    secrets = json.loads((home / "var" / "demo-secrets.json").read_text())
    body = {"case_id": secrets["cases"]["mda"], "bsn": "999990019"}
    port, log = _free_port(), tmp_path / "server.log"
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
    proc.terminate()
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
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
