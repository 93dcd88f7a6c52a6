"""Alembic environment: migrations run on the connection the gateway hands over
(:func:`gateway.db.migrate`), inside its transaction and lock."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import gateway.db

gateway.db.import_tables()
connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them; Alembic's batch mode does that
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
