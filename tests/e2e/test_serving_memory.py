"""A served gateway gives the memory of a client-secret check back (gateway/api/server.py)."""

from __future__ import annotations

import platform
from pathlib import Path

import httpx
import pytest

from gateway.api.server import return_large_buffers
from gateway.testing import free_port, seed_demo_home, start_gateway, stop_server

ENV = {"GATEWAY_POLICY_MODE": "development"}


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_threshold_is_set_where_glibc_is() -> None:
    assert return_large_buffers() is True


@pytest.mark.slow
@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator behaviour")
def test_issuing_tokens_does_not_grow_the_servers_memory(tmp_path: Path) -> None:
    """Each token checks a client secret with scrypt (16 MiB). Without a fixed mmap threshold
    glibc kept each such buffer after the first: measured +16 MiB a token, 162 → 210 MiB."""
    home = tmp_path / "home"
    secrets = seed_demo_home(home, ENV)
    port = free_port()
    proc = start_gateway(["serve", "--home", str(home)], port, tmp_path / "server.log", ENV)
    try:

        def token() -> None:
            r = httpx.post(
                f"http://127.0.0.1:{port}/v1/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=("zaanstad-regie", secrets["clients"]["zaanstad-regie"]),
                timeout=30,
            )
            assert r.status_code == 200

        token()
        before = _rss_mib(proc.pid)
        for _ in range(4):
            token()
        assert _rss_mib(proc.pid) - before < 10
    finally:
        stop_server(proc)
