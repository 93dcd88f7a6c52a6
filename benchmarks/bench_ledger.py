"""The ledger's own costs, measured in one run: durable appends per second (one at a time, and
batched in one transaction), on SQLite and — when one answers at 127.0.0.1:5432 — PostgreSQL;
then verification speed and peak memory over a ledger of --entries entries (verification runs
in a child process so its peak RSS is its own).

    python benchmarks/bench_ledger.py [--entries 100000] [--appends 500]
"""

from __future__ import annotations

import argparse
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from gateway.db import create_schema, make_engine
from gateway.ledger.stores import store_for
from gateway.ledger.writer import Ledger
from gateway.testing import sample_record

SIGNING = Ed25519PrivateKey.generate()
AUDITOR = X25519PrivateKey.generate().public_key()
PG = "postgresql+psycopg://root@127.0.0.1:5432/test"

VERIFY = """
import sys, time
from cryptography.hazmat.primitives import serialization
from gateway.db import make_engine
from gateway.ledger.stores import open_store
from gateway.ledger.parallel import verify_store_parallel
store = open_store(sys.argv[1])
key = serialization.load_pem_public_key(sys.argv[2].encode())
t = time.perf_counter()
report = verify_store_parallel(store, key)  # one process per core, as `ledger verify` does
print(report.entries, time.perf_counter() - t)
"""


def rates(url: str, appends: int) -> tuple[float, float]:
    engine = make_engine(url)
    create_schema(engine)
    ledger = Ledger(store_for(engine), SIGNING, AUDITOR)
    t = time.perf_counter()
    for i in range(appends):
        ledger.append(sample_record(i))
    single = appends / (time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(0, appends, 100):
        ledger.append_batch([sample_record(i + j) for j in range(100)])
    batched = appends / (time.perf_counter() - t)
    ledger.store.close()
    engine.dispose()
    return single, batched


def concurrent_rate(url: str, appends: int, threads: int = 32) -> tuple[float, float]:
    """Durable appends/s from ``threads`` threads through the group committer (each append
    answered only when its group is durable), and the mean group size."""
    from concurrent.futures import ThreadPoolExecutor

    from gateway.ledger.batcher import GroupCommitter

    engine = make_engine(url)
    create_schema(engine)
    ledger = Ledger(store_for(engine), SIGNING, AUDITOR)
    committer = GroupCommitter(ledger)
    ledger.attach(committer)
    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda i: ledger.append(sample_record(i)), range(appends)))
    rate = appends / (time.perf_counter() - t)
    groups = committer.groups
    committer.close()
    ledger.store.close()
    engine.dispose()
    return rate, appends / max(groups, 1)


def loop_rate(url: str, appends: int, in_flight: int = 256) -> tuple[float, float]:
    """Durable appends/s from ``in_flight`` callers on one event loop, each awaiting its entry
    as the disclosure path does (``Ledger.submit_on``), and the mean group size: the group
    committer's own capacity, without a thread per caller."""
    import asyncio

    from gateway.ledger.batcher import GroupCommitter

    engine = make_engine(url)
    create_schema(engine)
    ledger = Ledger(store_for(engine), SIGNING, AUDITOR)
    committer = GroupCommitter(ledger)
    ledger.attach(committer)
    records = [sample_record(i) for i in range(appends)]
    ledger.append(records[0])  # the period key and the first epoch, outside the timing
    before = committer.groups

    async def caller(mine: list[Any]) -> None:
        loop = asyncio.get_running_loop()
        for record in mine:
            await ledger.submit_on(record, loop)

    async def run() -> None:
        await asyncio.gather(*(caller(records[i::in_flight]) for i in range(in_flight)))

    t = time.perf_counter()
    asyncio.run(run())
    rate = appends / (time.perf_counter() - t)
    groups = committer.groups - before
    committer.close()
    ledger.store.close()
    engine.dispose()
    return rate, appends / max(groups, 1)


def verify_rate(tmp: Path, entries: int) -> tuple[int, float, float]:
    """Write a ledger of ``entries`` entries in ``tmp``, verify it as `ledger verify` does in a
    child process (so its peak RSS is its own); (entries verified, seconds, peak RSS MiB).
    Progress goes to stderr."""
    url = f"sqlite:///{tmp / 'big.db'}"
    engine = make_engine(url)
    create_schema(engine)
    ledger = Ledger(store_for(engine), SIGNING, AUDITOR)
    start = time.perf_counter()
    for i in range(0, entries, 1000):
        if i % 50_000 == 0:
            print(f"… writing a ledger of {entries:,} entries: {i:,}", file=sys.stderr, flush=True)
        ledger.append_batch([sample_record(i + j) for j in range(min(1000, entries - i))])
    print(f"… written in {time.perf_counter() - start:.0f} s; verifying", file=sys.stderr)
    ledger.store.close()
    engine.dispose()
    pem = SIGNING.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    done = subprocess.run(  # noqa: S603 - a fixed argv
        [sys.executable, "-c", VERIFY, url, pem.decode()],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"verification failed:\n{done.stderr[-2000:]}")
    count, seconds = done.stdout.split()
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return int(count), float(seconds), peak


def postgres_url() -> str | None:
    schema = "bench_" + secrets.token_hex(4)
    try:
        with create_engine(PG).begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except OperationalError:
        return None
    return f"{PG}?options=-csearch_path%3D{schema}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--appends", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        s1, sb = rates(f"sqlite:///{Path(tmp) / 'rates.db'}", args.appends)
        print(f"SQLite      durable appends/s: one at a time {s1:7.0f}   batches of 100 {sb:7.0f}")
        sc, sg = concurrent_rate(f"sqlite:///{Path(tmp) / 'group.db'}", args.appends * 4)
        print(f"SQLite      32 threads, group commit: {sc:7.0f} appends/s (mean group {sg:.1f})")
        pg = postgres_url()
        if pg:
            p1, pb = rates(pg, args.appends)
            print(
                f"PostgreSQL  durable appends/s: one at a time {p1:7.0f}   batches of 100 {pb:7.0f}"
            )
            schema = pg.split("%3D")[1]
            with create_engine(PG).begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                conn.execute(text(f"CREATE SCHEMA {schema}"))
            pc, pg_group = concurrent_rate(pg, args.appends * 4)
            print(
                f"PostgreSQL  32 threads, group commit: {pc:7.0f} appends/s "
                f"(mean group {pg_group:.1f})"
            )
            with create_engine(PG).begin() as conn:
                schema = pg.split("%3D")[1]
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))

        entries, seconds, peak = verify_rate(Path(tmp), args.entries)
        print(
            f"verify: {entries} entries in {seconds:.1f} s = {entries / seconds:,.0f} entries/s, "
            f"peak RSS {peak:.0f} MiB"
        )


if __name__ == "__main__":
    main()
