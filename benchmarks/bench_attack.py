"""Normal requests with and without an attacker, against a served demo (a real process).

The attacker sends, concurrently and without pause: maximal-size JSON bodies (just under the
body limit, valid JSON, a valid token), oversized bodies (refused with 413), and wrong-secret
token requests (each one a scrypt check until the rate limit answers 429). The normal client
asks for the MDA++ family overview and for /v1/health. Printed: p50 and p99 of both, with and
without the attacker, measured in this one run.

    python benchmarks/bench_attack.py [--requests 200] [--attackers 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from gateway.testing import ServedDemo, served_demo


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def token(demo: ServedDemo, client: str) -> str:
    r = httpx.post(
        f"{demo.base}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client, demo.secrets["clients"][client]),
    )
    return str(r.json()["access_token"])


def normal_run(demo: ServedDemo, bearer: str, n: int) -> tuple[list[float], list[float]]:
    body = {"case_id": demo.secrets["cases"]["mda"], "bsn": "999990019"}
    overview, health = [], []
    with httpx.Client(headers={"Authorization": f"Bearer {bearer}"}, timeout=30) as client:
        for _ in range(n):
            t = time.perf_counter()
            r = client.post(f"{demo.base}/disclosures", json=body)
            overview.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
            t = time.perf_counter()
            client.get(f"{demo.base}/health")
            health.append(time.perf_counter() - t)
    return overview, health


def attacker(demo: ServedDemo, bearer: str, stop: threading.Event, counts: dict[str, int]) -> None:
    limit = 16_384
    filler = "x" * (limit - 400)
    big = json.dumps(
        {"case_id": demo.secrets["cases"]["mda"], "bsn": "999990019", "justification": filler}
    ).encode()[: limit - 10]
    valid_big = json.dumps(
        {
            "case_id": demo.secrets["cases"]["mda"],
            "bsn": "999990019",
            "urgency": "spoed",
            "justification": "x" * 2000,
            "fields": {"gemeente.brp": ["naam", "adres", "woonplaats", "huishouden"]},
            "sources": ["gemeente.brp"],
        }
    )
    padded = (valid_big + " " * (limit - len(valid_big) - 1)).encode()
    oversized = b"{" + b" " * (1024 * 1024) + b"}"
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
    with httpx.Client(timeout=30) as client:
        i = 0
        while not stop.is_set():
            kind = i % 4
            i += 1
            try:
                if kind == 0:
                    r = client.post(f"{demo.base}/disclosures", content=padded, headers=headers)
                elif kind == 1:
                    r = client.post(f"{demo.base}/disclosures", content=oversized, headers=headers)
                elif kind == 2:
                    r = client.post(f"{demo.base}/disclosures", content=big, headers=headers)
                else:
                    r = client.post(
                        f"{demo.base}/oauth/token",
                        data={"grant_type": "client_credentials"},
                        auth=("zaanstad-regie", "wrong-secret"),
                    )
                key = f"{r.status_code}"
            except httpx.HTTPError as exc:
                key = exc.__class__.__name__
            counts[key] = counts.get(key, 0) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--attackers", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home, served_demo(Path(home)) as demo:
        normal_token, attacker_token = token(demo, "zaanstad-regie"), token(demo, "woco-consulent")
        normal_run(demo, normal_token, 20)  # warm up
        quiet = normal_run(demo, normal_token, args.requests)

        stop, counts = threading.Event(), {}
        threads = [
            threading.Thread(target=attacker, args=(demo, attacker_token, stop, counts))
            for _ in range(args.attackers)
        ]
        for t in threads:
            t.start()
        time.sleep(1.0)
        loud = normal_run(demo, normal_token, args.requests)
        stop.set()
        for t in threads:
            t.join()

    def show(label: str, runs: tuple[list[float], list[float]]) -> dict[str, Any]:
        overview, health = runs
        row = {
            "overview_p50_ms": statistics.median(overview) * 1e3,
            "overview_p99_ms": percentile(overview, 0.99) * 1e3,
            "health_p50_ms": statistics.median(health) * 1e3,
            "health_p99_ms": percentile(health, 0.99) * 1e3,
        }
        print(f"{label:16} " + "  ".join(f"{k} {v:7.1f}" for k, v in row.items()))
        return row

    a = show("no attacker", quiet)
    b = show("with attacker", loud)
    print(f"attacker requests by answer: {dict(sorted(counts.items()))}")
    overview = b["overview_p99_ms"] / a["overview_p99_ms"]
    health = b["health_p99_ms"] / a["health_p99_ms"]
    print(f"p99 ratio with/without attacker: overview {overview:.2f}, health {health:.2f}")


if __name__ == "__main__":
    main()
