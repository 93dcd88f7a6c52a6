"""Measures, in one run: embedded-engine decisions per second, and a family-overview request
through the guarded path (policy + ledger + projection + transforms, over HTTP in-process)
against an unguarded passthrough that reads every field of every source.

    python benchmarks/bench_disclosure.py [--rounds 200]

Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from gateway.bsn import Bsn
from gateway.demo.region import region
from gateway.testing import make_test_gateway, sample_policy_input


def timed(fn, rounds: int) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        gw = make_test_gateway(Path(home))
        person = region().persons["mda.ex_partner"]
        engine = gw.gateway.engine
        sample_input = sample_policy_input()
        decisions = timed(lambda: engine.evaluate(sample_input), args.rounds * 5)

        token = gw.auth("zaanstad-regie")
        body = {"case_id": gw.case_ids["mda"], "bsn": person.bsn}
        guarded = timed(
            lambda: gw.client.post("/v1/disclosures", json=body, headers=token), args.rounds
        )

        catalog = gw.gateway.catalog
        sources = catalog.purpose_sources("mda_plus_plus")
        bsn = Bsn(person.bsn)

        async def passthrough() -> None:
            await asyncio.gather(
                *(
                    asyncio.to_thread(gw.connectors[s].fetch, bsn, list(catalog.fields(s)))
                    for s in sources
                )
            )

        unguarded = timed(lambda: asyncio.run(passthrough()), args.rounds)

    med = statistics.median
    print(
        f"embedded engine: {1 / med(decisions):,.0f} decisions/s "
        f"(median {med(decisions) * 1e3:.2f} ms)"
    )
    print(
        f"family overview, guarded (HTTP, {len(sources)} sources): "
        f"median {med(guarded) * 1e3:.1f} ms"
    )
    print(f"family overview, unguarded passthrough:        median {med(unguarded) * 1e3:.2f} ms")
    print(f"guarded / unguarded: {med(guarded) / med(unguarded):.1f}x")


if __name__ == "__main__":
    main()
