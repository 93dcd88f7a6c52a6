from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from gateway.testing import TestGateway, make_test_gateway

# Tests never fail on timings: Hypothesis's per-example deadline (200 ms) turns a slow moment
# on a loaded CI machine into "unreliable test timings" — seen on the RFC 8785 property test.
settings.register_profile("gateway", deadline=None)
settings.load_profile("gateway")

# Test homes run the policy directory unsigned (development mode), as `make_test_gateway`
# does; this covers the CLI commands tests run on them too. The tests of signed bundles set
# `policy_mode`/GATEWAY_POLICY_MODE=signed themselves.
os.environ.setdefault("GATEWAY_POLICY_MODE", "development")


@pytest.fixture(scope="session")
def shared_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestGateway]:
    """One demo gateway for tests that only read cases (disclosures append to its ledger)."""
    gw = make_test_gateway(tmp_path_factory.mktemp("shared-home"))
    yield gw
    gw.close()


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[TestGateway]:
    """A fresh demo gateway for tests that change state or break parts of it."""
    gw = make_test_gateway(tmp_path)
    yield gw
    gw.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def each_db_gw(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestGateway]:
    """:func:`gw` on SQLite, and on PostgreSQL (the database of several replicas)."""
    settings: dict[str, str] = {}
    if request.param == "postgresql":
        settings["database_url"] = request.getfixturevalue("pg_url")
    gw = make_test_gateway(tmp_path, **settings)
    yield gw
    gw.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``after_all`` check what the others observed, so they run last."""
    items.sort(key=lambda item: item.get_closest_marker("after_all") is not None)


POSTGRES = "postgresql+psycopg://root@127.0.0.1:5432/test"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL on a throwaway schema of the PostgreSQL at 127.0.0.1:5432, dropped afterwards
    (dispose engines on it first); skipped where none answers — the CI machine runs one."""
    schema = "gw_" + secrets.token_hex(4)
    admin = create_engine(POSTGRES)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except OperationalError:
        admin.dispose()
        pytest.skip("no PostgreSQL at 127.0.0.1:5432 (the CI machine runs one)")
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
