"""Served processes for the benchmarks: the guarded gateway (`gateway serve`) and the unguarded
passthrough, each on a free loopback port of a seeded demo home, with their CPU time read from
/proc (the process and its worker children)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

TICKS = os.sysconf("SC_CLK_TCK")
GATEWAY = ["-c", "from gateway.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed_demo(home: Path) -> dict[str, object]:
    """`gateway demo --no-serve`: keys, demo region, source files; returns the demo secrets."""
    subprocess.run(  # noqa: S603 - a fixed argv
        [sys.executable, *GATEWAY, "demo", "--home", str(home), "--no-serve"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUTF8": "1"},
    )
    doc: dict[str, object] = json.loads((home / "var" / "demo-secrets.json").read_text())
    return doc


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
def serve(argv: list[str], home: Path, env: Mapping[str, str] | None = None) -> Iterator[Served]:
    port = free_port()
    log = (home / f"server-{port}.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - a fixed argv
        [sys.executable, *argv, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={**os.environ, "PYTHONUTF8": "1", **(env or {})},
    )
    served = Served(proc, port)
    try:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited; see {log.name}")
            with contextlib.suppress(httpx.TransportError):
                httpx.get(served.base + "/v1/health", timeout=0.5)
                break
            time.sleep(0.1)
        yield served
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def guarded(home: Path, workers: int = 1) -> contextlib.AbstractContextManager[Served]:
    argv = [*GATEWAY, "serve", "--home", str(home)]
    if workers > 1:
        argv += ["--workers", str(workers)]
    return serve(argv, home, {"GATEWAY_POLICY_MODE": "development"})


def unguarded(home: Path) -> contextlib.AbstractContextManager[Served]:
    return serve(["-m", "benchmarks.passthrough", "--home", str(home)], home)


def token(base: str, client: str, secret: str) -> str:
    basic = base64.b64encode(f"{client}:{secret}".encode()).decode()
    r = httpx.post(
        f"{base}/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    r.raise_for_status()
    return str(r.json()["access_token"])
