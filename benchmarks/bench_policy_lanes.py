"""Where policy evaluations should run: a thread lane (one interpreter per thread, regopy
releases the GIL) or a process pool (one interpreter per process, killable on overrun).

Measured in one run on the same policy and input: decisions per second with two workers, and
the median latency of one decision when the pool is idle. The process pool's extra cost is the
pickling and the round trip to another process on every decision.

    python benchmarks/bench_policy_lanes.py [--decisions 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from gateway.lanes import Lane
from gateway.policy.bundle import load_policy_set
from gateway.policy.embedded import EmbeddedEngine
from gateway.settings import bundled_policy_dir
from gateway.testing import sample_policy_input

INPUT: dict[str, Any] = sample_policy_input()

_ENGINE: EmbeddedEngine | None = None


def _init() -> None:
    global _ENGINE
    _ENGINE = EmbeddedEngine(load_policy_set(bundled_policy_dir()))


def _evaluate(policy_input: dict[str, Any]) -> Any:
    assert _ENGINE is not None
    return _ENGINE.evaluate(policy_input)


async def through_lane(engine: EmbeddedEngine, n: int) -> tuple[float, float]:
    lane = Lane("bench", 2, queue_limit=n + 1)
    await lane.run(engine.evaluate, INPUT, timeout=10)  # warm both interpreters lazily
    single = []
    for _ in range(50):
        t = time.perf_counter()
        await lane.run(engine.evaluate, INPUT, timeout=10)
        single.append(time.perf_counter() - t)
    t = time.perf_counter()
    await asyncio.gather(*(lane.run(engine.evaluate, INPUT, timeout=60) for _ in range(n)))
    elapsed = time.perf_counter() - t
    lane.close()
    return n / elapsed, statistics.median(single)


async def through_processes(n: int) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(2, initializer=_init) as pool:
        await asyncio.gather(*(loop.run_in_executor(pool, _evaluate, INPUT) for _ in range(4)))
        single = []
        for _ in range(50):
            t = time.perf_counter()
            await loop.run_in_executor(pool, _evaluate, INPUT)
            single.append(time.perf_counter() - t)
        t = time.perf_counter()
        await asyncio.gather(*(loop.run_in_executor(pool, _evaluate, INPUT) for _ in range(n)))
        elapsed = time.perf_counter() - t
    return n / elapsed, statistics.median(single)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=2000)
    args = parser.parse_args()
    engine = EmbeddedEngine(load_policy_set(bundled_policy_dir()))
    threads = asyncio.run(through_lane(engine, args.decisions))
    processes = asyncio.run(through_processes(args.decisions))
    for label, (rate, single) in (("thread lane", threads), ("process pool", processes)):
        print(
            f"{label:13} {rate:7.0f} decisions/s (2 workers)   one decision {single * 1e3:.2f} ms"
        )
    print(f"thread lane / process pool throughput: {threads[0] / processes[0]:.2f}x")


if __name__ == "__main__":
    main()
