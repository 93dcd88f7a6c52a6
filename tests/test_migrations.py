"""The gateway database's schema is made only by the Alembic migrations, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from gateway.db import create_schema, import_tables, make_engine
from gateway.errors import ConfigurationError


def test_the_migrations_build_exactly_the_declared_tables(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    create_schema(engine)
    import_tables()
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    # A table or column changed in code without a migration shows up here.
    assert differences == []


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    create_schema(engine)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    create_schema(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == before


def test_a_database_from_a_newer_gateway_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    create_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(ConfigurationError, match="newer than this gateway knows"):
        create_schema(engine)


def test_a_serving_gateway_checkpoints_the_wal_off_the_request_path(tmp_path: Path) -> None:
    from gateway.db import AUTOCHECKPOINT_PAGES, checkpoint_wal

    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    create_schema(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == AUTOCHECKPOINT_PAGES
    with engine.begin() as conn:
        for n in range(50):
            conn.execute(
                text("INSERT INTO client_webhook VALUES (:c, 'https://x.example/', 't', NULL)"),
                {"c": f"c{n}"},
            )
    frames = checkpoint_wal(engine)
    assert frames is not None and frames[0] > 0 and frames[1] == frames[0]
    assert checkpoint_wal(make_engine("sqlite://")) is None
