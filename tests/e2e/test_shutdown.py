"""SIGTERM stops the server while a policy evaluation is still running (before lanes, the
default pool's threads were joined at exit and the process could not stop)."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from gateway.testing import demo_bsn

pytestmark = pytest.mark.slow

SERVER = """
import sys, uvicorn
from pathlib import Path
from gateway.testing import InstrumentedEngine, make_test_gateway

stall = lambda inner: InstrumentedEngine(inner, stall=lambda i: True, stall_seconds=120)
gw = make_test_gateway(Path(sys.argv[1]), engine=stall, policy_timeout_seconds=60)
print(gw.case_ids["mda"], flush=True)
uvicorn.run(gw.client.app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
            timeout_graceful_shutdown=2)
"""


def test_sigterm_while_evaluations_run(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp_path), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        case_id = proc.stdout.readline().strip()
        base = f"http://127.0.0.1:{port}/v1"
        for _ in range(100):
            try:
                httpx.get(f"{base}/health", timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        token = _token(tmp_path)

        def stuck_request() -> None:
            # The server going away mid-request is the point.
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(
                    f"{base}/disclosures",
                    json={"case_id": case_id, "bsn": demo_bsn("mda.ex_partner")},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=30,
                )

        threading.Thread(target=stuck_request, daemon=True).start()
        time.sleep(1.0)  # the evaluations are now stalled inside the policy lane
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        assert time.monotonic() - started < 15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _token(home: Path) -> str:
    from gateway.auth.clients import AuthlibClient, get_client
    from gateway.runtime import build_gateway
    from gateway.settings import Settings

    gw = build_gateway(Settings(home=home), connectors={})
    try:
        row = get_client(gw.db, "zaanstad-regie")
        assert row is not None
        return str(gw.token_generator.mint(AuthlibClient(row))["access_token"])
    finally:
        gw.close()
