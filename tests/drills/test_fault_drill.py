"""The fault-injection drill: every fault the speed issue lists, one after another, on a
gateway that otherwise works. For each: no data it should not release, a clear
application/problem+json where the request cannot be answered, and a ledger entry wherever one
can still be written."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from typer.testing import CliRunner

from connectors.memory import InMemoryConnector
from gateway.cli import app
from gateway.errors import EngineError, KeyUnavailable
from gateway.ledger.stores import MemoryStore
from gateway.ledger.stores.sqlite import SqliteStore
from gateway.settings import Settings
from gateway.testing import TestGateway, demo_bsn, make_test_gateway, memory_connectors

# A value only the demo region's BRP holds for this person: it must not appear in a refusal.
SECRET_VALUE = "Proefweg"
PERSON = "mda.ex_partner"


def ask(gw: TestGateway, **extra: Any) -> Any:
    body = {"case_id": gw.case_ids["mda"], "bsn": demo_bsn(PERSON), **extra}
    return gw.client.post("/v1/disclosures", json=body, headers=gw.auth("zaanstad-regie"))


class FaultyEngine:
    """The real engine's version, but every evaluation raises or hangs."""

    def __init__(self, inner: Any, mode: str) -> None:
        self.inner, self.mode = inner, mode

    @property
    def version(self) -> str:
        return str(self.inner.version)

    def evaluate(self, policy_input: Mapping[str, Any]) -> Any:
        if self.mode == "hang":
            time.sleep(5)
        raise EngineError("injected engine failure")


@pytest.mark.parametrize(
    ("mode", "reason"), [("raise", "engine_error"), ("hang", "engine_timeout")]
)
def test_engine_raising_or_hanging_denies_and_is_ledgered(
    tmp_path: Path, mode: str, reason: str
) -> None:
    gw = make_test_gateway(
        tmp_path,
        engine=lambda inner: FaultyEngine(inner, mode),
        policy_timeout_seconds=0.2,
    )
    try:
        r = ask(gw)
        assert r.status_code == 403
        assert r.headers["content-type"] == "application/problem+json"
        assert SECRET_VALUE not in r.text
        assert {reason} == {x for s in r.json()["sources"] for x in s["reasons"]}
        [entry] = gw.new_entries()
        assert entry.facts.action == "disclosure.decision" and entry.facts.outcome == "deny"
    finally:
        gw.close()


def _fill_up(store: SqliteStore) -> None:
    """Let the ledger's file grow no further: SQLite answers 'database or disk is full', as it
    does on a full disk."""
    writer = store._write_engine()
    writer.dispose()

    @event.listens_for(writer, "connect")
    def _full(dbapi_connection: Any, _record: Any) -> None:
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")


@pytest.mark.parametrize("fault", ["database unavailable", "database full"])
def test_a_ledger_that_cannot_write_releases_nothing(tmp_path: Path, fault: str) -> None:
    store = MemoryStore() if fault == "database unavailable" else None
    gw = make_test_gateway(tmp_path, store=store)
    try:
        if isinstance(gw.gateway.store, MemoryStore):
            gw.gateway.store.broken = "the database server does not answer"
        else:
            assert isinstance(gw.gateway.store, SqliteStore)
            _fill_up(gw.gateway.store)
            # Make sure the next entry needs a new page: the file is full at its current size.
            for _ in range(3):
                ask(gw)
        before = gw.gateway.store.count() if fault == "database full" else None
        r = ask(gw)
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert "ledger" in r.json()["title"].lower()
        assert SECRET_VALUE not in r.text
        if before is not None:
            assert gw.gateway.store.count() == before  # nothing half-written
        brp = gw.connectors["gemeente.brp"]
        assert isinstance(brp, InMemoryConnector)
        fetched_before_fault = len(brp.projections)
        ask(gw)
        assert len(brp.projections) == fetched_before_fault  # nothing fetched without a ledger
    finally:
        gw.close()


@pytest.mark.parametrize("fault", ["missing", "corrupt"])
def test_a_missing_or_corrupt_key_stops_the_start(tmp_path: Path, fault: str) -> None:
    gw = make_test_gateway(tmp_path)
    gw.close()
    key = Settings(home=tmp_path).keys_dir / "ledger-signing.key"
    if fault == "missing":
        key.unlink()
    else:
        key.write_bytes(key.read_bytes()[:60])  # cut short, as a failed copy leaves it
    result = CliRunner().invoke(app, ["serve", "--home", str(tmp_path)])
    assert result.exit_code == KeyUnavailable.exit_code
    assert "ledger-signing.key" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("fault", ["slow", "failing", "extra columns"])
def test_a_faulty_source_costs_only_its_own_part(tmp_path: Path, fault: str) -> None:
    probe = make_test_gateway(tmp_path / "probe")
    connectors = memory_connectors(probe.gateway.catalog)
    probe.close()
    police = connectors["politie.incidenten"]
    if fault == "slow":
        police.delay_seconds = 1.0
    elif fault == "failing":
        police.fail = True
    else:
        # The source answers with every column it has, asked or not.
        police.fetch = _everything(police)  # type: ignore[method-assign]
    gw = make_test_gateway(tmp_path / "home", connectors=connectors)
    gw.gateway.disclosures.connector_timeout = 0.2
    try:
        r = ask(gw, sources=["gemeente.brp", "politie.incidenten"])
        assert r.status_code == 200
        by_source = {s["source"]: s for s in r.json()["sources"]}
        assert by_source["gemeente.brp"]["status"] == "released"
        granted = set(by_source["politie.incidenten"]["fields"])
        if fault == "extra columns":
            # Only what was granted is read from the record; the geheim value never leaves.
            assert granted and "processen_verbaal" not in granted and "extra" not in granted
            assert "PV-1" not in r.text
        else:
            assert by_source["politie.incidenten"]["status"] == "error"
            assert granted == set()
        decision, fetch = gw.new_entries()
        assert decision.facts.action == "disclosure.decision"
        assert fetch.facts.action == "disclosure.fetch"
    finally:
        gw.close()


def _everything(connector: InMemoryConnector) -> Any:
    original = connector.fetch

    def fetch(subject: Any, fields: Any) -> Any:
        record = original(subject, fields)
        return None if record is None else {**record, "processen_verbaal": "PV-1", "extra": 1}

    return fetch


def test_a_ledger_that_hangs_releases_nothing_after_its_timeout(tmp_path: Path) -> None:
    """The ledger's database stops answering mid-commit: the request waits at most the ledger
    timeout (on its event loop, no thread of its own), then 503; nothing was fetched."""

    class Hanging(MemoryStore):
        hang = False

        def append(self, build: Any) -> None:
            if self.hang:
                time.sleep(1.5)
            super().append(build)

    store = Hanging()
    gw = make_test_gateway(tmp_path, store=store, ledger_timeout_seconds=0.3)
    try:
        store.hang = True
        r = ask(gw)
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert SECRET_VALUE not in r.text
        brp = gw.connectors["gemeente.brp"]
        assert isinstance(brp, InMemoryConnector) and brp.projections == []
    finally:
        store.hang = False
        gw.close()
