"""The unguarded baseline: the same family overview with no gateway in the way.

Same HTTP stack (FastAPI on uvicorn), same connectors, same source files and the same BSN as the
guarded gateway — but no token, no case, no policy, no ledger: every field of every source of the
purpose is read and returned. What the guarded path costs is measured against this.

The sources are read as the gateway reads them: on the event loop where the connector offers
its local path (ADR 0015), else in a thread. (Before the gateway had that path, this read them
in FastAPI's thread pool, one hop a request; reading on the loop makes this baseline faster, so
the ratio against it is the harder one.)

    python -m benchmarks.passthrough --home HOME --port 8001 [--workers 2]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import Body, FastAPI
from starlette.concurrency import run_in_threadpool

from connectors.interface import WouldWait, local
from gateway.bsn import Bsn
from gateway.catalog import Catalog
from gateway.policy.bundle import load_policy_set
from gateway.runtime import sql_connectors
from gateway.settings import Settings
from gateway.typing import SourceId


def create_passthrough(settings: Settings, purpose: str) -> FastAPI:
    catalog = Catalog(load_policy_set(settings.resolved_policy_dir).catalog)
    connectors = sql_connectors(settings, catalog)
    sources = catalog.purpose_sources(purpose)
    wanted = {s: sorted(catalog.fields(s)) for s in sources}
    app = FastAPI()

    @app.get("/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    here = {s: c for s in sources if (c := local(connectors[s])) is not None}

    async def read(source: SourceId, bsn: Bsn) -> Any:
        if source in here:
            try:
                return here[source].fetch_local(bsn, wanted[source])
            except WouldWait:
                pass
        return await run_in_threadpool(connectors[source].fetch, bsn, wanted[source])

    @app.post("/v1/disclosures")
    async def disclose(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        bsn = Bsn(body["bsn"])
        return {"sources": [{"source": s, "fields": await read(s, bsn)} for s in sources]}

    return app


def from_environment() -> FastAPI:
    """The app for each of several worker processes (uvicorn imports it by name)."""
    return create_passthrough(
        Settings(home=Path(os.environ["PASSTHROUGH_HOME"])), os.environ["PASSTHROUGH_PURPOSE"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--purpose", default="mda_plus_plus")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    common: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": args.port,
        "log_level": "warning",
        "access_log": False,
    }
    if args.workers > 1:
        os.environ.update(PASSTHROUGH_HOME=args.home, PASSTHROUGH_PURPOSE=args.purpose)
        uvicorn.run(
            "benchmarks.passthrough:from_environment", factory=True, workers=args.workers, **common
        )
        return
    uvicorn.run(create_passthrough(Settings(home=args.home), args.purpose), **common)


if __name__ == "__main__":
    main()
