"""A client that sends slowly keeps nothing for long (gateway/api/deadlines.py): a request head
not complete in time closes its connection, a body not complete in time is 408."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import pytest

from gateway.testing import free_port, seed_demo_home, start_gateway, stop_server

ENV = {
    "GATEWAY_POLICY_MODE": "development",
    "GATEWAY_REQUEST_HEAD_SECONDS": "1",
    "GATEWAY_REQUEST_BODY_SECONDS": "1",
}


def _closed(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_slow_heads_are_closed_and_slow_bodies_get_408(tmp_path: Path, workers: int) -> None:
    home = tmp_path / "home"
    seed_demo_home(home, ENV)
    port = free_port()
    args = ["serve", "--home", str(home), "--workers", str(workers)]
    proc = start_gateway(args, port, tmp_path / "server.log", ENV)
    try:
        # Before: measured, 1,500 such connections were all still open after 22 s.
        slow = []
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            slow.append(s)
        quiet = socket.create_connection(("127.0.0.1", port), timeout=5)  # sends nothing
        time.sleep(2.5)
        assert all(_closed(s) for s in [*slow, quiet])
        health = httpx.get(f"http://127.0.0.1:{port}/v1/health")
        assert health.status_code == 200 and "server" not in health.headers

        body = json.dumps({"case_id": "x", "bsn": "999990019"}).encode()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(
            b"POST /v1/disclosures HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:5]
        )
        started = time.monotonic()
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
        assert time.monotonic() - started < 5
        head, _, problem = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408")
        assert b"application/problem+json" in head
        assert json.loads(problem)["status"] == 408
        s.close()

        # What the HTTP parser itself refuses is a problem too (uvicorn wrote text/plain).
        for raw in (
            b"GET /v1/health?bsn=999990019 HTTP/9.9\r\nHost: x\r\n\r\n",
            b"POST /v1/disclosures HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40),  # TLS to plain HTTP
        ):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(raw)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
            s.close()
            head, _, problem = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400"), answer[:80]
            assert b"content-type: application/problem+json" in head.lower()
            doc = json.loads(problem)
            assert doc["status"] == 400 and doc["errors"]
            assert b"999990019" not in answer and b"uvicorn" not in answer.lower()
    finally:
        stop_server(proc)
