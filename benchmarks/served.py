"""Served processes for the benchmarks: the guarded gateway (`gateway serve`) and the unguarded
passthrough, each on a free loopback port of a seeded demo home, with their CPU time read from
/proc (the process and its worker children)."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from gateway.testing import free_port, start_gateway, start_server, stop_server

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    if int(fields[1]) == self.proc.pid:
                        children.append(int(entry.name))
        return [self.proc.pid, *children]

    def cpu_seconds(self) -> float:
        """User + system time of the server process and its live children."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / TICKS

    def rss_mib(self) -> float:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024


@contextlib.contextmanager
def guarded(home: Path, workers: int = 1) -> Iterator[Served]:
    """`gateway serve` on ``home`` (development mode: the demo's unsigned policy directory)."""
    port = free_port()
    args = ["serve", "--home", str(home), "--workers", str(workers)]
    env = {"GATEWAY_POLICY_MODE": "development"}
    proc = start_gateway(args, port, home / f"server-{port}.log", env)
    try:
        yield Served(proc, port)
    finally:
        stop_server(proc, within=20)


@contextlib.contextmanager
def unguarded(home: Path, workers: int = 1) -> Iterator[Served]:
    """The passthrough (benchmarks/passthrough.py) on ``home``'s source files."""
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.passthrough", "--home", str(home)]
    argv += ["--workers", str(workers)]
    proc = start_server(argv, port, home / f"server-{port}.log")
    try:
        yield Served(proc, port)
    finally:
        stop_server(proc, within=20)


def token(base: str, client: str, secret: str) -> str:
    basic = base64.b64encode(f"{client}:{secret}".encode()).decode()
    r = httpx.post(
        f"{base}/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    r.raise_for_status()
    return str(r.json()["access_token"])
