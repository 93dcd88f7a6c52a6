"""Does the time of an outsider's answer tell it anything? Medians per situation, interleaved
in one run (in-process over the ASGI app, so network noise does not hide a difference):
an unknown case, someone else's case (a linked person, a person not in it), and someone
else's closed case.

    python benchmarks/bench_outsider_timing.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from gateway.testing import demo_bsn, make_test_gateway

SITUATIONS = {
    "unknown case": ("case-000000000000", "mda.moeder"),
    "other's case, linked person": ("mda", "mda.moeder"),
    "other's case, person not in it": ("mda", "buiten.casus"),
    "other's closed case": ("afgesloten", "mda.moeder"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        gw = make_test_gateway(Path(home))
        auth = gw.auth("purmerend-regie")
        bodies = {
            k: {"case_id": gw.case_ids.get(c, c), "bsn": demo_bsn(p)}
            for k, (c, p) in SITUATIONS.items()
        }
        samples: dict[str, list[float]] = {k: [] for k in SITUATIONS}
        for i in range(args.rounds + 20):
            for key, body in bodies.items():
                t = time.perf_counter()
                r = gw.client.post("/v1/disclosures", json=body, headers=auth)
                if i >= 20:  # warm-up rounds are not counted
                    samples[key].append(time.perf_counter() - t)
                assert r.status_code == 403
        gw.close()
    medians = {k: statistics.median(v) * 1e3 for k, v in samples.items()}
    for key, med in medians.items():
        q = statistics.quantiles(samples[key], n=10)
        print(f"{key:32} median {med:6.2f} ms   p10 {q[0] * 1e3:6.2f}   p90 {q[-1] * 1e3:6.2f}")
    print(f"largest / smallest median: {max(medians.values()) / min(medians.values()):.3f}")


if __name__ == "__main__":
    main()
