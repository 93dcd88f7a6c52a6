"""The gateway's own database: one SQLAlchemy engine per URL (SQLite by default)."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from gateway.errors import ConfigurationError, LedgerUnavailable
from gateway.files import touch_private

if TYPE_CHECKING:
    # NOTE: Alembic is imported where migrations run, not here: every process that opens a
    # database imports this module (a verification worker, every CLI command), and Alembic
    # (with Mako and Pygments) is a sixth of a second of it.
    from alembic.config import Config


class Sql:
    """One statement with ``:name`` parameters, run on the driver's cursor of a SQLAlchemy
    connection (inside whatever transaction that connection is in).

    For the statements on every request's path: SQLAlchemy's execution machinery costs more
    than a short statement itself (measured: 0.73 ms against 0.32 ms for a signal
    registration's reads). The SQL text is the same on SQLite and PostgreSQL but for the
    parameter style, so it is written once and rendered for each."""

    def __init__(self, sql: str) -> None:
        self._by_dialect = {"sqlite": sql, "postgresql": re.sub(r":(\w+)", r"%(\1)s", sql)}

    def run(self, conn: Connection | Reads, params: Mapping[str, Any] | None = None) -> Any:
        """Execute; the cursor. A driver error is raised as SQLAlchemy raises it (a
        ``DBAPIError`` subclass), so callers handle one kind of database failure."""
        raw: Any = conn.raw if isinstance(conn, Reads) else conn.connection.dbapi_connection
        dialect = conn.dialect
        sql, values = self._by_dialect[dialect.name], dict(params or {})
        dbapi = dialect.loaded_dbapi
        try:
            cursor = raw.cursor()
            cursor.execute(sql, values)
        except dbapi.Error as exc:
            raise DBAPIError.instance(sql, values, exc, dbapi.Error) from exc
        return cursor


class Reads:
    """A pooled driver connection for a few reads on a request's path, without a SQLAlchemy
    ``Connection`` around it: building one (and its events) cost more than a short read on
    SQLite (measured: a read through ``engine.connect()`` 23-25 µs, through this 17 µs). The
    pool's checkout (pre-ping on a network database) and its reset on return are unchanged.

    ``with Reads(engine) as reads: Sql(...).run(reads, ...)``"""

    def __init__(self, engine: Engine) -> None:
        self.dialect = engine.dialect
        self.raw = engine.raw_connection()

    def __enter__(self) -> Reads:
        return self

    def __exit__(self, *_: object) -> None:
        self.raw.close()  # back to the pool, rolled back


def make_engine(url: str, *, create: bool = True, writable: bool | None = None) -> Engine:
    """An engine for ``url``. ``create=False`` is for tools on an existing ledger such as
    ``ledger verify``: a SQLite file must then exist (a mistyped path is an error, not a new
    empty database that "verifies"), and is opened read-only unless ``writable``."""
    writable = create if writable is None else writable
    if not url.startswith("sqlite:///"):
        return create_engine(url, pool_pre_ping=True)
    path = url.removeprefix("sqlite:///")
    memory = path in ("", ":memory:")
    if create and not memory:
        touch_private(Path(path))  # 0600 from the first byte
    if not create and not memory:
        if not Path(path).is_file():
            raise LedgerUnavailable(f"no database file at {path}")
        mode = "rw" if writable else "ro"
        url = f"sqlite:///file:{Path(path).resolve()}?mode={mode}&uri=true"
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # First: wait for a lock rather than fail (several processes may open a new file at
        # once, and switching it to WAL takes a lock too).
        cursor.execute("PRAGMA busy_timeout=10000")
        if create:
            # WAL lets readers run while the ledger appends; foreign keys keep links honest.
            _use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        if writable:
            # A serving gateway copies the WAL back into the database on a thread of its own
            # (checkpoint_wal, every second): a commit on the request path then never has to.
            # The high threshold only bounds the WAL where no server runs (the CLI's tools).
            cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        cursor.close()

    return engine


AUTOCHECKPOINT_PAGES = 10_000
"""About 40 MB of WAL before a committing connection checkpoints by itself."""


def checkpoint_wal(engine: Engine) -> tuple[int, int] | None:
    """Copy the SQLite WAL back into the database file (PASSIVE: it waits for no one and
    no one waits for it): (frames in the WAL, frames copied). None on other databases."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    with engine.connect() as conn:
        row = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    return int(row[1]), int(row[2])


def _use_wal(cursor: Any) -> None:
    """Switch a database file to WAL (a setting kept in the file, so this happens once).

    NOTE: SQLite answers "database is locked" at once, without its busy handler, when two
    connections switch a new file at the same moment; the loser waits and tries again."""
    for attempt in range(100):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.05)


def import_tables() -> None:
    """Register every table of the gateway database with the metadata Alembic compares."""
    import gateway.auth.clients
    import gateway.cases.models
    import gateway.console.tables
    import gateway.keystate
    import gateway.ledger.tables
    import gateway.signals.tables  # noqa: F401


_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x6761_7465  # any constant shared by every gateway process ("gate")


def _alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(engine: Engine) -> None:
    """Bring the gateway database to the newest schema (Alembic), or refuse one that is newer
    than this version knows. Several processes may start at once: they take turns (an advisory
    lock on PostgreSQL, the write lock on SQLite), and all but the first find nothing to do."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    try:
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            from gateway.ledger.stores.sqlite import immediate_engine

            target = immediate_engine(engine)
        else:
            target = engine
        with target.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
            current = MigrationContext.configure(conn).get_current_revision()
            if current is not None and current not in {r.revision for r in script.walk_revisions()}:
                raise ConfigurationError(
                    f"the database's schema ({current}) is newer than this gateway knows; "
                    "run the gateway version that wrote it"
                )
            if current != script.get_current_head():
                command.upgrade(_alembic_config(conn), "head")
        if target is not engine:
            target.dispose()
    except SQLAlchemyError as exc:
        raise LedgerUnavailable("the gateway database cannot be brought up to date") from exc


def create_schema(engine: Engine) -> None:
    """The gateway's tables, by migration (kept under this name for its callers)."""
    migrate(engine)
