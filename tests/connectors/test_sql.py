from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert

from connectors.interface import ConnectorError
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
    finally:
        source.dispose()
