"""Signals at scale: registering (with its matches) against --signals active signals.

A demo gateway (SQLite, embedded engine, memo on) is filled with --signals active signals on
synthetic people — written straight into the table with the gateway's own matching key, as a
bulk load would — and then answers registrations through the service, as the API calls it:
half on people who already have signals (each finding matches), half on new people. Printed:
latency p50/p99 one at a time, throughput with 16 at once, and RSS before and after.

    python benchmarks/bench_signals.py [--signals 1000000] [--registrations 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from gateway.bsn import Bsn
from gateway.db import checkpoint_wal
from gateway.signals.lifecycle import periods, stamp
from gateway.signals.tables import signal
from gateway.testing import make_test_gateway, synthetic_bsn

# (client, area) pairs whose signals on one person match each other (the policy's pairs).
SIDES = [
    ("woco-consulent", "schulden"),
    ("zaanstad-regie", "overlast"),
    ("politie-wijkagent", "overlast"),
    ("ggd-oggz", "overlast"),
]
NEWCOMER = ("purmerend-regie", "schulden")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(gw: Any, count: int) -> int:
    """``count`` active signals on count/2 people, two organisations each; returns people."""
    keys = gw.gateway.signals.keys.keys
    areas = gw.gateway.catalog.signal_areas
    now = gw.gateway.signals._clock()
    people = count // 2
    who = {c: gw.principal(c) for c, _ in SIDES}
    batch: list[dict[str, Any]] = []
    version = gw.gateway.active.current.version
    serial = 0
    with gw.gateway.db.begin() as conn:
        for n in range(people):
            p = keys.pseudonym(Bsn(synthetic_bsn(n)))
            for client, area in (SIDES[n % 4], SIDES[(n + 1) % 4]):
                a, k = periods(areas.get(area), now)
                me = who[client]
                serial += 1
                row = {
                    "id": f"sig-{serial:020x}",
                    "org_oin": me.oin,
                    "org_type": me.org_type,
                    "role": me.role,
                    "pseudonym": p,
                    "area": area,
                    "contact": json.dumps({"name": "Team"}),
                    "consent": False,
                    "registered_at": stamp(now),
                    "active_until": a,
                    "kept_until": k,
                    "status": "active",
                    "live": "",
                    "policy_version": version,
                }
                # Sealed as the gateway seals what it stores (ADR 0017).
                batch.append({**row, "seal": gw.gateway.seals.seal("signal", row)})
            if len(batch) >= 20_000:
                conn.execute(insert(signal), batch)
                batch = []
        if batch:
            conn.execute(insert(signal), batch)
    return people


async def measure(gw: Any, people: int, registrations: int) -> dict[str, float]:
    service = gw.gateway.signals
    newcomer = gw.principal(NEWCOMER[0])
    contact = {"name": "Team"}
    latencies: list[float] = []
    matched = 0
    for i in range(registrations):
        # Even: a person with signals (matches); odd: someone new (no match).
        n = (i * 7919) % people if i % 2 == 0 else people + i
        t = time.perf_counter()
        done = await service.register(newcomer, Bsn(synthetic_bsn(n)), NEWCOMER[1], contact, False)
        latencies.append(time.perf_counter() - t)
        matched += len(done.matches)
    latencies.sort()

    async def one(i: int) -> None:
        n = people + registrations + i
        await service.register(newcomer, Bsn(synthetic_bsn(n)), NEWCOMER[1], contact, False)

    concurrent = registrations
    t = time.perf_counter()
    for start in range(0, concurrent, 16):
        await asyncio.gather(*(one(i) for i in range(start, min(start + 16, concurrent))))
    throughput = concurrent / (time.perf_counter() - t)
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "matches_per_registration": matched / registrations,
        "registrations_per_s_c16": throughput,
    }


async def measure_http(gw: Any, people: int, registrations: int, offset: int) -> dict[str, float]:
    """The same registrations through the API (in process, at the ASGI boundary: validation,
    token, JSON, middleware — not an HTTP client's own work, benchmarks/asgi.py)."""
    from benchmarks.asgi import post_json
    from gateway.api.app import create_app

    headers = {"Authorization": f"Bearer {gw.token(NEWCOMER[0])}"}
    app = create_app(gw.gateway)
    latencies: list[float] = []
    for i in range(registrations):
        n = (i * 7919 + offset) % people if i % 2 == 0 else people + offset + i
        body = {"bsn": synthetic_bsn(n), "area": NEWCOMER[1], "contact": {"name": "Team"}}
        t = time.perf_counter()
        status, answer = await post_json(app, "/v1/signals", body, headers)
        latencies.append(time.perf_counter() - t)
        assert status in (200, 201), answer
    latencies.sort()
    return {
        "http_p50_ms": statistics.median(latencies) * 1000,
        "http_p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def on_server_loop(work: Any) -> Any:
    """Run ``work`` on the event loop a served gateway runs on: uvicorn picks uvloop where it
    is installed (a dependency, ADR 0012), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(work)
    return uvloop.run(work)


def run(signals: int, registrations: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        gw = make_test_gateway(Path(home))
        try:
            t = time.perf_counter()
            people = fill(gw, signals)
            load_s = time.perf_counter() - t
            # As a serving gateway does: the WAL is checkpointed on a thread of its own.
            stop = threading.Event()
            checkpoints = threading.Thread(
                target=lambda: [
                    checkpoint_wal(gw.gateway.db) for _ in iter(lambda: stop.wait(1.0), True)
                ],
                daemon=True,
            )
            checkpoints.start()
            before = rss_mib()
            warm = on_server_loop(measure(gw, people, 200))  # memo, caches, connections
            del warm
            result = on_server_loop(measure(gw, people, registrations))
            result |= on_server_loop(measure_http(gw, people, registrations, 3 * registrations))
            after = rss_mib()
            stop.set()
            checkpoints.join()
        finally:
            gw.close()
    return {
        **result,
        "signals": signals,
        "load_s": load_s,
        "rss_before": before,
        "rss_after": after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=1_000_000)
    parser.add_argument("--registrations", type=int, default=2000)
    args = parser.parse_args()
    from benchmarks.steadiness import describe

    steadiness = describe()
    r = run(args.signals, args.registrations)
    print(f"machine steadiness before the run: {steadiness}")
    print(
        f"signals {r['signals']:,} (loaded in {r['load_s']:.0f} s): registration p50 "
        f"{r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms (goal < 5 ms); through the API "
        f"p50 {r['http_p50_ms']:.2f} ms, p99 {r['http_p99_ms']:.2f} ms; "
        f"{r['matches_per_registration']:.2f} matches each; {r['registrations_per_s_c16']:.0f} "
        f"registrations/s with 16 at once; RSS {r['rss_before']:.0f} -> {r['rss_after']:.0f} MiB",
        file=sys.stdout,
    )


if __name__ == "__main__":
    main()
