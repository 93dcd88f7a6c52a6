"""One policy decision, in process: the embedded engine against memoised answers (the engine's
own, remembered per normalised input; gateway/policy/memo.py), for the family overview's seven
sources. Prints p50/p99 in microseconds, per decision and per whole request, in one run.

    python benchmarks/bench_decisions.py [--rounds 500]
"""

from __future__ import annotations

import argparse
import statistics
import time

from gateway.catalog import Catalog
from gateway.policy.bundle import load_policy_set
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.engine import remembered_each
from gateway.policy.memo import MemoEngine
from gateway.settings import bundled_policy_dir
from gateway.testing import sample_policy_input


def measure(evaluate: object, inputs: list[dict[str, object]], rounds: int) -> list[float]:
    per_request = []
    for _ in range(rounds):
        t = time.perf_counter_ns()
        for inp in inputs:
            evaluate(inp)  # type: ignore[operator]
        per_request.append((time.perf_counter_ns() - t) / 1000)
    return per_request


def show(label: str, per_request: list[float], sources: int) -> None:
    q = statistics.quantiles(per_request, n=100)
    print(
        f"{label:22} request p50 {q[49]:8.0f} µs  p99 {q[98]:8.0f} µs   "
        f"per decision p50 {q[49] / sources:7.0f} µs"
    )


def family_request(rounds: int) -> tuple[list[float], list[float], int]:
    """Per-request µs for the seven decisions of an MDA++ family overview: the engine's, and
    the memo's as the serving path reads them (``remembered_each``: the answers recalled with
    their shared part encoded once, parsed decisions kept); and the number of sources."""
    policy = load_policy_set(bundled_policy_dir())
    sources = Catalog(policy.catalog).purpose_sources("mda_plus_plus")
    inputs = [sample_policy_input(s) for s in sources]
    engine = EmbeddedEngine(policy)
    memo = MemoEngine(engine, policy.modules, verify_share=0.0)
    for inp in inputs:
        memo.evaluate(inp)  # remembered once
    shared = {k: v for k, v in inputs[0].items() if k != "request"}
    requests = [inp["request"] for inp in inputs]

    def served(_: object) -> None:
        decisions = remembered_each(memo, shared, requests, sources)
        assert all(d is not None for d in decisions)

    try:
        return (
            measure(engine.evaluate, inputs, rounds),
            measure(served, [{}], rounds),
            len(inputs),
        )
    finally:
        memo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    plain, remembered, sources = family_request(args.rounds)
    show("engine (rego-cpp)", plain, sources)
    show("memoised", remembered, sources)
    ratio = statistics.median(plain) / statistics.median(remembered)
    print(f"memoised is {ratio:.0f}x faster per request ({sources} sources)")


if __name__ == "__main__":
    main()
