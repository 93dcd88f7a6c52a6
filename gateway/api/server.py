"""Serving: one process, or several worker processes behind one listening socket.

`gateway serve --workers N` first builds the gateway once in the supervising process — every
start-up check (keys, policy, ledger head, migrations, the policy's activation entry) runs and
fails there, before any worker exists — and then starts N uvicorn workers, each building its own
gateway from the same settings (passed in the environment) and serving on the shared socket.

What stays one across workers (docs/adr/0012-serving.md):

* **the ledger order** — every worker appends to the one store; SQLite serialises writers on
  the file (``BEGIN IMMEDIATE``, tested with four writer processes), PostgreSQL on its head row;
* **the policy version** — every worker enforces the bundle at ``GATEWAY_POLICY_BUNDLE`` and
  polls it; the ledger records a decision only under the version of the newest activation (read
  under its write lock), so no worker's decision under a superseded version is ever recorded —
  and one refused that way makes its worker load the version in force at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

from fastapi import FastAPI

from gateway.settings import Settings

_PASSED = ("home", "host", "port", "policy_mode")
"""Settings a command line can set that are not already in the environment."""


def worker_environment(settings: Settings) -> dict[str, str]:
    """The environment that makes :func:`worker_app` build the same gateway as ``settings``."""
    return {f"GATEWAY_{name.upper()}": str(getattr(settings, name)) for name in _PASSED}


_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
_LARGE = 128 * 1024


def return_large_buffers() -> bool:
    """Make glibc give every freed allocation above 128 KiB back to the system at once.

    Each token issued checks a client secret with scrypt, which allocates 16 MiB. By default
    glibc raises its threshold for such allocations after the first one is freed, so later ones
    come from, and stay in, a thread's heap: measured on a served gateway, RSS 162 → 178 → 194 →
    210 MiB over three tokens. Once raised, the policy engine's large buffers (rego-cpp) stay
    in the heaps too: in an in-process benchmark without this call, the memo's re-checks grew
    RSS ~17 MiB per 1,000 requests, and not at all with it. A fixed threshold (``mallopt``)
    keeps each such allocation a mapping of its own, unmapped when freed. True where set
    (glibc); elsewhere nothing changes."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _LARGE))


def worker_app() -> FastAPI:
    """uvicorn's app factory in each worker process."""
    from gateway.api.app import create_app
    from gateway.api.deadlines import use_head_deadline
    from gateway.logging import configure_logging
    from gateway.runtime import build_gateway

    return_large_buffers()
    settings = Settings()
    use_head_deadline(settings.request_head_seconds)  # this process's connections
    gw = build_gateway(settings)
    configure_logging()
    return create_app(gw, owns_gateway=True)


def apply_environment(settings: Settings) -> None:
    os.environ.update(worker_environment(settings))
