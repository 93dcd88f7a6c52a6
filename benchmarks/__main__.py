"""Every figure of the speed issue, measured side by side in one run, each with its goal.

    python -m benchmarks                 # the full run (about 25 minutes on 2 cores)
    python -m benchmarks --quick         # shorter loads and a 100,000-entry ledger
    python -m benchmarks --only served   # one part: served, decisions, ledger, verify, fanout,
                                         # signals

* served — the guarded gateway (`gateway serve`) and the unguarded passthrough
  (benchmarks/passthrough.py: same HTTP stack, connectors, source files and BSN) as real
  processes on loopback, loaded by benchmarks/load.py at several concurrencies; requests/s, the
  ratio, server CPU per request (from /proc) and RSS after 100 and after 10,000 requests; and
  the ratio at c = 64 with two worker processes each;
* decisions — one request's seven policy decisions in process: engine and memo;
* ledger — durable appends/s on SQLite and PostgreSQL (one writer; through the group
  committer from 32 threads and from 256 callers on one event loop); four writer processes on
  one new SQLite file;
* verify — `verify` rate and peak RSS over a ledger of --entries entries (in a child process);
* fanout — a family overview whose seven sources each take 50 ms: total ÷ slowest source;
* signals — registrations answered with their matches against a million active signals
  (benchmarks/bench_signals.py): latency, throughput with 16 at once, RSS.

Numbers are printed, never asserted; docs/performance.md keeps the last full run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PARTS = ("served", "decisions", "ledger", "verify", "fanout", "signals")


@dataclass
class Row:
    figure: str
    measured: str
    goal: str
    met: bool | None = None


def note(text: str) -> None:
    print(f"… {text}", file=sys.stderr, flush=True)


# -- served --------------------------------------------------------------------------------------


def served(quick: bool) -> list[Row]:
    from benchmarks.load import build_request, run_load
    from benchmarks.served import guarded, token, unguarded
    from gateway.testing import seed_demo_home

    seconds = 4.0 if quick else 10.0
    levels = (1, 16, 64)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        note("seeding a demo home")
        secrets = seed_demo_home(home)
        cases, clients = secrets["cases"], secrets["clients"]
        assert isinstance(cases, dict) and isinstance(clients, dict)
        many = _case_copies(home, 1_000 if quick else 3_000)

        def overview(srv: Any, with_token: bool, case_ids: Sequence[str] = ()) -> list[bytes]:
            """The family overview request (one for each of ``case_ids``, or about the demo's
            MDA++ case), with a token for the guarded gateway — one, as a client keeps it."""
            headers = {}
            if with_token:
                bearer = token(srv.base, "zaanstad-regie", str(clients["zaanstad-regie"]))
                headers = {"Authorization": f"Bearer {bearer}"}
            return [
                build_request(
                    "127.0.0.1",
                    srv.port,
                    "POST",
                    "/v1/disclosures",
                    json.dumps({"case_id": case_id, "bsn": "999990019"}).encode(),
                    headers,
                )
                for case_id in case_ids or [cases["mda"]]
            ]

        results: dict[str, dict[int, tuple[float, float, float]]] = {}
        rss: tuple[float, float] = (0.0, 0.0)
        spread: tuple[float, float, int] = (0.0, 0.0, 0)
        for name, start in (("unguarded", unguarded), ("guarded", guarded)):
            results[name] = {}
            with start(home) as srv:
                (request,) = overview(srv, name == "guarded")
                done = 0
                while done < 100:  # warm up: pools, memo, first-use allocations
                    done += run_load("127.0.0.1", srv.port, request, 1, 0.5).requests
                before = srv.rss_mib()
                for c in levels:
                    note(f"{name}: {seconds:.0f} s at concurrency {c}")
                    cpu = srv.cpu_seconds()
                    r = run_load("127.0.0.1", srv.port, request, c, seconds)
                    cpu = srv.cpu_seconds() - cpu
                    ok = r.statuses.get(200, 0)
                    if ok != r.requests:
                        note(f"{name}: {r.requests - ok} answers were not 200: {dict(r.statuses)}")
                    results[name][c] = (r.rate, cpu / max(r.requests, 1), r.percentile(0.99))
                    done += r.requests
                if name == "guarded":
                    note(f"guarded: {seconds:.0f} s at concurrency 16, a new case each request")
                    each = overview(srv, True, many)
                    r = run_load("127.0.0.1", srv.port, each, 16, seconds)
                    if r.statuses.get(200, 0) != r.requests:
                        note(f"guarded, many cases: answers were {dict(r.statuses)}")
                    spread = (r.rate, r.percentile(0.99), min(r.requests, len(many)))
                    done += r.requests
                    target = 2_000 if quick else 10_000
                    while done < target:
                        note(f"guarded: {done:,} of {target:,} requests for the memory figure")
                        done += run_load("127.0.0.1", srv.port, request, 16, 5.0).requests
                    rss = (before, srv.rss_mib())
        for c in levels:
            g, u = results["guarded"][c], results["unguarded"][c]
            ratio = g[0] / u[0] if u[0] else 0.0
            rows.append(
                Row(
                    f"family overview req/s, guarded ÷ unguarded, c = {c}",
                    f"{g[0]:,.0f} ÷ {u[0]:,.0f} = {ratio:.2f} (p99 {g[2] * 1e3:,.0f} ms)",
                    "≥ 0.9",
                    ratio >= 0.9,
                )
            )
        u16 = results["unguarded"][16][0]
        ratio = spread[0] / u16 if u16 else 0.0
        rows.append(
            Row(
                f"the same, c = 16, each request about another case ({spread[2]:,} cases)",
                f"{spread[0]:,.0f} ÷ {u16:,.0f} = {ratio:.2f} (p99 {spread[1] * 1e3:,.0f} ms)",
                "≥ 0.9",
                ratio >= 0.9,
            )
        )
        cpu_g = statistics.median(results["guarded"][c][1] for c in levels)
        cpu_u = statistics.median(results["unguarded"][c][1] for c in levels)
        rows.append(
            Row(
                "server CPU per family request",
                f"{cpu_g * 1e3:.1f} ms (unguarded {cpu_u * 1e3:.1f} ms)",
                "≤ 2.5 ms",
                cpu_g <= 0.0025,
            )
        )
        note(f"two worker processes each: {seconds:.0f} s at concurrency 64")
        both = {}
        for name, start in (("unguarded", unguarded), ("guarded", guarded)):
            with start(home, workers=2) as srv:
                (request,) = overview(srv, name == "guarded")
                run_load("127.0.0.1", srv.port, request, 8, 1.0)  # warm up both workers
                cpu = srv.cpu_seconds()
                r = run_load("127.0.0.1", srv.port, request, 64, seconds)
                both[name] = (r.rate, (srv.cpu_seconds() - cpu) / max(r.requests, 1))
        (g2, g2_cpu), (u2, u2_cpu) = both["guarded"], both["unguarded"]
        rows.append(
            Row(
                "the same, c = 64, two worker processes each (`serve --workers 2`)",
                f"{g2:,.0f} ÷ {u2:,.0f} = {g2 / u2 if u2 else 0.0:.2f}; CPU per request "
                f"{g2_cpu * 1e3:.1f} ms (unguarded {u2_cpu * 1e3:.1f} ms)",
                "≥ 0.9",
                u2 > 0 and g2 / u2 >= 0.9,
            )
        )
        rows.append(
            Row(
                f"RSS after 100 → {done:,} guarded requests",
                f"{rss[0]:.0f} → {rss[1]:.0f} MiB",
                "stays flat",
                rss[1] - rss[0] < 0.15 * rss[0],
            )
        )
    return rows


def _case_copies(home: Path, n: int) -> list[str]:
    """N more cases like the demo's MDA++ case in ``home`` (real traffic asks about many cases:
    a memo keyed per case would start cold on each)."""
    from gateway.runtime import build_gateway
    from gateway.settings import Settings
    from gateway.testing import demo_case_copies

    note(f"opening {n:,} more cases")
    gw = build_gateway(Settings(home=home, policy_mode="development"))
    try:
        return demo_case_copies(gw, "mda", n)
    finally:
        gw.close()


# -- decisions -----------------------------------------------------------------------------------


def decisions(quick: bool) -> list[Row]:
    from benchmarks.bench_decisions import family_request

    note("policy decisions in process")
    samples, remembered_samples, sources = family_request(100 if quick else 500)
    plain = statistics.quantiles(samples, n=100)
    remembered = statistics.quantiles(remembered_samples, n=100)
    return [
        Row(
            f"policy, one whole request ({sources} sources), in process",
            f"engine p50 {plain[49]:,.0f} µs p99 {plain[98]:,.0f} µs · "
            f"memo p50 {remembered[49]:,.0f} µs p99 {remembered[98]:,.0f} µs",
            "p50 ≤ 100 µs",
            remembered[49] <= 100,
        )
    ]


# -- ledger --------------------------------------------------------------------------------------


def ledger(quick: bool) -> list[Row]:
    from sqlalchemy import create_engine, text

    from benchmarks.bench_ledger import PG, concurrent_rate, loop_rate, postgres_url, rates
    from gateway.testing import run_writers

    appends = 300 if quick else 1000
    rows = []

    def fresh(url: str) -> str:
        """The PostgreSQL schema emptied for the next measurement (SQLite: a new file)."""
        if url.startswith("sqlite"):
            return url.replace(".db", "+.db")
        schema = url.split("%3D")[1]
        with create_engine(PG).begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        return url

    with tempfile.TemporaryDirectory() as tmp:
        urls = {"SQLite": f"sqlite:///{Path(tmp) / 'one.db'}"}
        pg = postgres_url()
        if pg is not None:
            urls["PostgreSQL"] = pg
        for db, url in urls.items():
            note(f"{db} appends")
            single, _ = rates(url, appends)
            url = fresh(url)
            grouped, size = concurrent_rate(url, appends * 4)
            url = fresh(url)
            looped, loop_size = loop_rate(url, appends * 20)
            if db == "PostgreSQL":
                with create_engine(PG).begin() as conn:
                    conn.execute(text(f"DROP SCHEMA {url.split('%3D')[1]} CASCADE"))
            rows.append(
                Row(
                    f"durable ledger appends/s, {db}",
                    f"one writer {single:,.0f} · group commit: 32 threads {grouped:,.0f} "
                    f"(mean group {size:.1f}), 256 callers on an event loop {looped:,.0f} "
                    f"(mean group {loop_size:.0f})",
                    "≥ 50,000",
                    max(grouped, looped) >= 50_000,
                )
            )
        note("four writer processes on one new SQLite file")
        try:
            run_writers(f"sqlite:///{Path(tmp) / 'shared.db'}", 4, 100 if quick else 250)
            outcome, met = "0 failures", True
        except AssertionError as exc:
            outcome, met = f"failed: {str(exc)[:120]}", False
        rows.append(
            Row("ledger appends, 4 processes on one SQLite file", outcome, "0 failures", met)
        )
    return rows


# -- verify --------------------------------------------------------------------------------------


def verify(entries: int) -> list[Row]:
    from benchmarks.bench_ledger import verify_rate

    with tempfile.TemporaryDirectory() as tmp:
        count, seconds, peak = verify_rate(Path(tmp), entries)
    rate = count / seconds
    return [
        Row(
            f"`verify` over {count:,} entries",
            f"{rate:,.0f} entries/s, peak RSS {peak:,.0f} MiB",
            "≥ 500,000 entries/s, flat memory",
            rate >= 500_000,
        )
    ]


# -- fan-out -------------------------------------------------------------------------------------


def fanout(quick: bool) -> list[Row]:
    from connectors.memory import AsyncInMemoryConnector
    from gateway.testing import make_test_gateway, memory_connectors

    latency = 0.05
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        probe = make_test_gateway(Path(tmp) / "probe")
        catalog = probe.gateway.catalog
        probe.close()
        threaded = memory_connectors(catalog, local=False)  # the lanes, not the local path
        direct = {s: AsyncInMemoryConnector(s, c.records) for s, c in threaded.items()}
        for path, connectors in (("threads", threaded), ("async path", direct)):
            note(f"fan-out ({path}): every source answers after {latency * 1e3:.0f} ms")
            for connector in connectors.values():
                connector.delay_seconds = latency
            total = _overview(Path(tmp) / path, connectors, 25 if quick else 100)
            rows.append(
                Row(
                    f"family overview, 7 sources of {latency * 1e3:.0f} ms ({path}): "
                    "total ÷ slowest",
                    f"{total * 1e3:.1f} ms → {total / latency:.2f}",
                    "≤ 1.15",
                    total / latency <= 1.15,
                )
            )
    return rows


# -- signals -------------------------------------------------------------------------------------


def signals(quick: bool) -> list[Row]:
    from benchmarks.bench_signals import run

    count = 100_000 if quick else 1_000_000
    note(f"signals: loading {count:,} active signals, then registering against them")
    r = run(count, 500 if quick else 2000)
    return [
        Row(
            f"signal registration answered with its matches, {count:,} active signals",
            f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms "
            f"({r['matches_per_registration']:.2f} matches each)",
            "p99 < 5 ms",
            r["p99_ms"] < 5,
        ),
        Row(
            f"the same through the API (in process: token, validation, JSON), {count:,} signals",
            f"p50 {r['http_p50_ms']:.2f} ms, p99 {r['http_p99_ms']:.2f} ms",
            "p99 < 5 ms",
            r["http_p99_ms"] < 5,
        ),
        Row(
            "signal registrations/s, 16 at once",
            f"{r['registrations_per_s_c16']:,.0f}",
            "—",
        ),
        Row(
            f"RSS while registering against {count:,} signals",
            f"{r['rss_before']:.0f} → {r['rss_after']:.0f} MiB",
            "flat",
            r["rss_after"] - r["rss_before"] < 32,
        ),
    ]


def _overview(home: Path, connectors: Mapping[str, Any], rounds: int) -> float:
    """Median time of a family overview, in process, at the ASGI boundary: the gateway's own
    time (HTTP routing, token, validation, policy, ledger, fan-out, JSON) without an HTTP
    client's work in the same process (benchmarks/asgi.py)."""
    from benchmarks.asgi import post_json
    from benchmarks.bench_signals import on_server_loop
    from gateway.api.app import create_app
    from gateway.testing import demo_bsn, make_test_gateway

    gw = make_test_gateway(home, connectors=connectors)
    app = create_app(gw.gateway)
    body = {"case_id": gw.case_ids["mda"], "bsn": demo_bsn("mda.ex_partner")}
    headers = gw.auth("veiligthuis")

    async def run() -> list[float]:
        samples = []
        for i in range(rounds):
            start = time.perf_counter()
            status, _ = await post_json(app, "/v1/disclosures", body, headers)
            if i >= 5:  # the first requests fill the memo and the pools
                samples.append(time.perf_counter() - start)
            assert status == 200, status
        return samples

    samples = on_server_loop(run())  # the event loop a served gateway runs on
    gw.close()
    return statistics.median(samples)


# -- the report ----------------------------------------------------------------------------------


def machine() -> str:
    import os
    import platform

    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="shorter loads, a smaller ledger")
    parser.add_argument("--only", choices=PARTS, action="append", help="run only these parts")
    parser.add_argument("--entries", type=int, help="ledger size for `verify` (default 10^6)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    import structlog

    # The in-process parts log like a gateway does; keep that off the report on stdout.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    entries = args.entries or (100_000 if args.quick else 1_000_000)
    parts: dict[str, Callable[[], list[Row]]] = {
        "served": lambda: served(args.quick),
        "decisions": lambda: decisions(args.quick),
        "ledger": lambda: ledger(args.quick),
        "verify": lambda: verify(entries),
        "fanout": lambda: fanout(args.quick),
        "signals": lambda: signals(args.quick),
    }
    from benchmarks.steadiness import describe

    rows: list[Row] = []
    before = describe()
    for name in args.only or PARTS:
        rows += parts[name]()
    print(f"machine: {machine()}")
    # p99 figures are no steadier than the machine: measured before and after the parts.
    print(f"steadiness before: {before}; after: {describe()}")
    if args.markdown:
        print("| figure | measured | goal | met |\n|---|---|---|---|")
        for r in rows:
            met = "—" if r.met is None else ("yes" if r.met else "no")
            print(f"| {r.figure} | {r.measured} | {r.goal} | {met} |")
        return
    width = max(len(r.figure) for r in rows)
    for r in rows:
        met = "" if r.met is None else ("met" if r.met else "NOT MET")
        print(f"{r.figure:<{width}}  {r.measured}  [goal {r.goal}: {met}]")


if __name__ == "__main__":
    main()
