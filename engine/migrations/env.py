"""Alembic environment: engine.schema hands over an open connection; nothing is read from files."""

from __future__ import annotations

from alembic import context

import engine  # noqa: F401  (every module's tables join the metadata)
from engine.store import Base

_connection = context.config.attributes.get("connection")
if _connection is None:
    raise RuntimeError("Run the migrations through engine.schema (flask db upgrade), "
                       "which passes the database connection")

context.configure(
    connection=_connection,
    target_metadata=Base.metadata,
    # SQLite alters a table by rebuilding it: let revisions use batch_alter_table.
    render_as_batch=_connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
