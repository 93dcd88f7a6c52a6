from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert

import connectors.sql
from connectors.interface import ConnectorError, WouldWait, local
from connectors.memory import InMemoryConnector
from connectors.sql import SqlConnector, records_table
from gateway.bsn import Bsn

COLUMNS = {"naam": "string", "wapens": "bool", "incidentsoorten": "list", "geheim_veld": "string"}


RECORD = {
    "bsn": "999993847",
    "naam": "Demo",
    "wapens": True,
    "incidentsoorten": '["a", "b"]',
    "geheim_veld": "nooit",
}


def _source(url: str) -> SqlConnector:
    """A source table at ``url`` holding :data:`RECORD`, and a connector on it."""
    engine = create_engine(url)
    table = records_table(COLUMNS)
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [RECORD])
    engine.dispose()
    return SqlConnector("test.bron", url, columns=COLUMNS)


@pytest.fixture
def sql(tmp_path: Path) -> SqlConnector:
    return _source(f"sqlite:///{tmp_path / 'src.db'}")


def test_sql_selects_only_the_allowed_columns(sql: SqlConnector) -> None:
    statement = sql.statement_for(["wapens", "incidentsoorten"]).sql
    select_list = statement.split("FROM")[0]
    assert "wapens" in select_list and "incidentsoorten" in select_list
    assert "naam" not in select_list and "geheim_veld" not in select_list
    assert sql.statement_for(["wapens", "incidentsoorten"]).positional  # SQLite's qmark style


def test_sql_fetch_decodes_types(sql: SqlConnector) -> None:
    assert sql.fetch(Bsn("999993847"), ["wapens", "incidentsoorten"]) == {
        "wapens": True,
        "incidentsoorten": ["a", "b"],
    }
    assert sql.fetch(Bsn("123456782"), ["naam"]) is None


def test_sql_refuses_unknown_or_empty_projection(sql: SqlConnector) -> None:
    with pytest.raises(ConnectorError):
        sql.fetch(Bsn("999993847"), ["naam; DROP TABLE records"])
    with pytest.raises(ConnectorError):
        sql.fetch(Bsn("999993847"), [])


def test_sql_failure_is_connector_error_without_the_bsn(tmp_path: Path) -> None:
    broken = SqlConnector("test.bron", f"sqlite:///{tmp_path / 'missing.db'}", columns=COLUMNS)
    with pytest.raises(ConnectorError) as info:
        broken.fetch(Bsn("999993847"), ["naam"])
    assert "999993847" not in str(info.value)
    assert info.value.__cause__ is None


def test_memory_connector_projects_and_records() -> None:
    mem = InMemoryConnector("x", {"999993847": {"a": 1, "b": 2}})
    assert mem.fetch(Bsn("999993847"), ["a"]) == {"a": 1}
    assert mem.projections == [("a",)]
    mem.fail = True
    with pytest.raises(ConnectorError):
        mem.fetch(Bsn("999993847"), ["a"])


# -- the local path -------------------------------------------------------------------------------


@pytest.mark.parametrize("fields", [["wapens", "incidentsoorten"], ["naam"], ["geheim_veld"]])
def test_the_local_path_answers_as_fetch(sql: SqlConnector, fields: list[str]) -> None:
    assert local(sql) is sql
    for bsn in ("999993847", "123456782"):
        assert sql.fetch_local(Bsn(bsn), fields) == sql.fetch(Bsn(bsn), fields)
    with pytest.raises(ConnectorError):
        sql.fetch_local(Bsn("999993847"), ["naam; DROP TABLE records"])


def test_a_source_looked_up_without_an_index_has_no_local_path(tmp_path: Path) -> None:
    """A key without an index makes every lookup a scan, which could hold the event loop for
    as long as the table is big: such a source is read on its lane only."""
    url = f"sqlite:///{tmp_path / 'scan.db'}"
    engine = create_engine(url)
    plain = Table("records", MetaData(), Column("bsn", String), Column("naam", String))
    plain.metadata.create_all(engine)
    engine.dispose()
    source = SqlConnector("test.bron", url, columns={"naam": "string"})
    assert not source.is_local and local(source) is None


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///{tmp}/missing.db"])
def test_no_local_path_without_a_local_file(tmp_path: Path, url: str) -> None:
    source = SqlConnector("test.bron", url.format(tmp=tmp_path), columns=COLUMNS)
    assert not source.is_local


def test_a_locked_file_declines_at_once(sql: SqlConnector, tmp_path: Path) -> None:
    """A writer holding the file: the local path does not wait for it (the lane does)."""
    assert sql.fetch_local(Bsn("999993847"), ["naam"]) == {"naam": "Demo"}  # connection open
    writer = sqlite3.connect(tmp_path / "src.db", isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(WouldWait) as info:
            sql.fetch_local(Bsn("999993847"), ["naam"])
        assert time.monotonic() - started < 1.0  # not the driver's 5 s busy timeout
        assert "999993847" not in str(info.value) and info.value.__cause__ is None
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert sql.fetch_local(Bsn("999993847"), ["naam"]) == {"naam": "Demo"}


def test_a_read_past_its_budget_is_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connectors.sql, "_PROGRESS_STEPS", 1)  # look at the clock every step
    monkeypatch.setattr(connectors.sql, "LOCAL_BUDGET_SECONDS", -1.0)  # always past it
    source = _source(f"sqlite:///{tmp_path / 'src.db'}")
    with pytest.raises(WouldWait):
        source.fetch_local(Bsn("999993847"), ["naam"])
    monkeypatch.setattr(connectors.sql, "LOCAL_BUDGET_SECONDS", 60.0)
    assert source.fetch_local(Bsn("999993847"), ["naam"]) == {"naam": "Demo"}
    source.dispose()


def test_waiting_for_the_gil_is_not_counted_against_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The progress handler is Python: under load it may wait for the GIL (up to the 5 ms
    switch interval) before it can look at the clock. That wait is not the read's own work, so
    it must not interrupt the read (seen under load: indexed lookups declined as 'interrupted'
    and their sources paused)."""
    # About once a read (a lookup here is ~30 steps), as in service where the step count
    # runs on across a cached statement's executions.
    monkeypatch.setattr(connectors.sql, "_PROGRESS_STEPS", 25)
    source = _source(f"sqlite:///{tmp_path / 'src.db'}")
    stop = threading.Event()

    def hog() -> None:  # pure Python: holds the GIL for whole switch intervals
        while not stop.is_set():
            sum(range(10_000))

    thread = threading.Thread(target=hog)
    thread.start()
    try:
        for _ in range(100):
            assert source.fetch_local(Bsn("999993847"), ["naam"]) == {"naam": "Demo"}
    finally:
        stop.set()
        thread.join()
        source.dispose()


def test_the_local_path_cannot_write(sql: SqlConnector) -> None:
    sql.fetch_local(Bsn("999993847"), ["naam"])
    conn = sql._loop_reads.conn
    assert conn is not None
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM records")


def test_dispose_closes_the_local_connections(sql: SqlConnector) -> None:
    sql.fetch_local(Bsn("999993847"), ["naam"])
    conn = sql._loop_reads.conn
    assert conn is not None
    sql.dispose()
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")


def test_memory_connector_local_path_declines_when_told_to_stall() -> None:
    mem = InMemoryConnector("x", {"999993847": {"a": 1}})
    assert local(mem) is mem and mem.fetch_local(Bsn("999993847"), ["a"]) == {"a": 1}
    mem.delay_seconds = 0.1
    with pytest.raises(WouldWait):
        mem.fetch_local(Bsn("999993847"), ["a"])
    assert local(InMemoryConnector("x", {}, local=False)) is None


@pytest.mark.postgres
def test_sql_fetch_on_postgresql_binds_by_name(pg_url: str) -> None:
    """psycopg takes its parameter by name (``%(subject)s``), SQLite's driver by position."""
    source = _source(pg_url)
    try:
        assert not source.statement_for(["naam"]).positional
        assert source.fetch(Bsn("999993847"), ["wapens", "incidentsoorten"]) == {
            "wapens": True,
            "incidentsoorten": ["a", "b"],
        }
        assert source.fetch(Bsn("123456782"), ["naam"]) is None
        assert not source.is_local  # a network database is read on its lane
    finally:
        source.dispose()
