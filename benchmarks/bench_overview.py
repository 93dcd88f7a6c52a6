"""CPU per family overview in process: the served app at the ASGI boundary, on the demo home's
SQLite sources, on uvloop — the gateway's own work without HTTP parsing or a client in another
process, so that two variants can be compared in alternating runs on a machine whose speed
drifts (docs/performance.md, session 12).

    python -m benchmarks.bench_overview [--requests 1000] [--concurrency 1 16] [--no-memo]
                                        [--cases N]

``--no-memo`` turns the policy memo off: every decision is an engine evaluation. ``--cases N``
spreads the requests over N copies of the demo's MDA++ case (same people, same participants):
real traffic asks about many cases, and a memo keyed per case would start cold on each.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog
import uvloop

from benchmarks.asgi import post_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-memo", action="store_true")
    parser.add_argument("--cases", type=int, default=1)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from gateway.api.app import create_app
    from gateway.api.server import return_large_buffers
    from gateway.logging import configure_logging
    from gateway.runtime import build_gateway
    from gateway.settings import Settings
    from gateway.testing import demo_bsn, demo_case_copies, seed_demo_home

    # As `gateway serve` does: without it this process's RSS grew ~17 MiB per 1,000 requests
    # (docs/performance.md, session 14), which a served gateway never did.
    return_large_buffers()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        secrets = seed_demo_home(home)
        settings = Settings(home=home, policy_mode="development", policy_memo=not args.no_memo)
        gw = build_gateway(settings)
        configure_logging()
        # The log lines are written, as a server writes them, but not to this terminal.
        sink = Path(os.devnull).open("w")  # noqa: SIM115 - open for the whole run
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(sink))
        app = create_app(gw)
        client, secret = "zaanstad-regie", secrets["clients"]["zaanstad-regie"]
        with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 5000)) as tc:
            basic = base64.b64encode(f"{client}:{secret}".encode()).decode()
            answer = tc.post(
                "/v1/oauth/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}"},
            )
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        bsn = demo_bsn("mda.ex_partner")
        bodies: list[dict[str, Any]] = [
            {"case_id": case_id, "bsn": bsn}
            for case_id in [secrets["cases"]["mda"], *demo_case_copies(gw, "mda", args.cases - 1)]
        ]
        turn = itertools.count()

        async def one() -> None:
            body = bodies[next(turn) % len(bodies)]
            status, _ = await post_json(app, "/v1/disclosures", body, headers)
            assert status == 200, status

        async def run() -> None:
            for _ in range(100):  # pools, memo, first-use allocations
                await one()
            for _ in range(args.rounds):
                for c in args.concurrency:
                    each = max(1, args.requests // c)

                    async def worker(n: int = each) -> None:
                        for _ in range(n):
                            await one()

                    wall, cpu = time.perf_counter(), time.process_time()
                    await asyncio.gather(*(worker() for _ in range(c)))
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    done = each * c
                    print(
                        f"c = {c}: {done / wall:,.0f} requests/s, "
                        f"CPU {cpu / done * 1e3:.2f} ms a request",
                        flush=True,
                    )

        try:
            uvloop.run(run())
        finally:
            gw.close()
            sink.close()


if __name__ == "__main__":
    main()
