"""A small closed-loop HTTP/1.1 load generator on asyncio (wrk is not on every machine).

``concurrency`` connections, kept alive, each sending a request again as soon as the previous
answer is read, for ``duration`` seconds: the same request, or the next of several in turn.
Raw sockets and pre-built requests keep the client's own cost to a few tens of microseconds a
request, so the server — not the client — is what is measured (both share the machine; the
server's CPU is read from /proc separately).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    concurrency: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build_request(
    host: str,
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in {"POST", "PUT"}:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    host: str, port: int, request: Callable[[], bytes], deadline: float, result: LoadResult
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (start := time.perf_counter()) < deadline:
            writer.write(request())
            try:
                status = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                result.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            result.latencies.append(time.perf_counter() - start)
            result.statuses[status] += 1
    finally:
        writer.close()


async def _load(
    host: str, port: int, requests: Sequence[bytes], concurrency: int, duration: float
) -> LoadResult:
    result = LoadResult(concurrency, duration)
    turn = itertools.count()

    def request() -> bytes:
        return requests[next(turn) % len(requests)]

    start = time.perf_counter()
    deadline = start + duration
    await asyncio.gather(
        *(_connection(host, port, request, deadline, result) for _ in range(concurrency))
    )
    result.seconds = time.perf_counter() - start
    return result


def run_load(
    host: str, port: int, request: bytes | Sequence[bytes], concurrency: int, duration: float
) -> LoadResult:
    """Load the server at ``host:port`` with ``request`` (several: each in turn); return what
    was measured."""
    requests = [request] if isinstance(request, bytes) else list(request)
    try:
        import uvloop

        return uvloop.run(_load(host, port, requests, concurrency, duration))
    except ImportError:
        return asyncio.run(_load(host, port, requests, concurrency, duration))
