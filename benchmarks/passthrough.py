"""The unguarded baseline: the same family overview with no gateway in the way.

Same HTTP stack (FastAPI on uvicorn), same connectors, same source files and the same BSN as the
guarded gateway — but no token, no case, no policy, no ledger: every field of every source of the
purpose is read and returned. What the guarded path costs is measured against this.

    python -m benchmarks.passthrough --home HOME --port 8001
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from fastapi import Body, FastAPI

from gateway.bsn import Bsn
from gateway.catalog import Catalog
from gateway.policy.bundle import load_policy_set
from gateway.runtime import sql_connectors
from gateway.settings import Settings


def create_passthrough(settings: Settings, purpose: str) -> FastAPI:
    catalog = Catalog(load_policy_set(settings.resolved_policy_dir).catalog)
    connectors = sql_connectors(settings, catalog)
    sources = catalog.purpose_sources(purpose)
    wanted = {s: sorted(catalog.fields(s)) for s in sources}
    app = FastAPI()

    @app.get("/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/disclosures")
    def disclose(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        bsn = Bsn(body["bsn"])
        return {
            "sources": [
                {"source": s, "fields": connectors[s].fetch(bsn, wanted[s])} for s in sources
            ]
        }

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--purpose", default="mda_plus_plus")
    args = parser.parse_args()
    app = create_passthrough(Settings(home=args.home), args.purpose)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
