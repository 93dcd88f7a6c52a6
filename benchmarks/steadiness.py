"""How steady the machine is right now: the same ~1 ms of pure-Python CPU work, timed many times.

On a shared VM the CPU's speed swings from one moment to the next (measured here in session 9:
p90 1.6x the median for work that touches no disk and no other thread). A p99 latency can be
no steadier than this, so the report prints it beside the latency figures: a p99 goal missed
while this probe shows p99 ≈ 2x p50 says as much about the machine as about the gateway.
"""

from __future__ import annotations

import statistics
import time


def _work() -> int:
    total = 0
    for i in range(20_000):
        total += i * i
    return total


def probe(samples: int = 2000) -> tuple[float, float]:
    """(p50, p99) in ms of the same CPU work, with 1 ms pauses in between (as a request's)."""
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        _work()
        times.append((time.perf_counter() - start) * 1000)
        time.sleep(0.001)
    times.sort()
    return statistics.median(times), times[int(samples * 0.99) - 1]


def describe(samples: int = 2000) -> str:
    p50, p99 = probe(samples)
    return f"the same ~1 ms of CPU work: p50 {p50:.2f} ms, p99 {p99:.2f} ms ({p99 / p50:.2f}x)"
