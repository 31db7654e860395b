"""Schema migrations (Alembic, configured here: no alembic.ini) and their bookkeeping."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.engine import Engine as SqlEngine

from .store import Base, install_append_only_guards

MIGRATIONS = Path(__file__).with_name("migrations")
# The revision of the first release: a database with its tables and no alembic_version was
# made by it (or by a development tree since), and starts there.
FIRST_RELEASE = "r0001"
# Any fixed number: PostgreSQL serializes every process that migrates on it at start-up.
_LOCK_KEY = 0x63617563
# What upgrade() last did per database URL (start-up runs it before ``db upgrade`` does).
_upgrades: dict[str, tuple[str | None, str]] = {}
_in_process = threading.Lock()


@dataclass(frozen=True)
class Revision:
    """One schema revision as ``db history`` lists it."""

    revision: str
    down_revision: str | None
    summary: str
    is_head: bool


def alembic_config(connection: Connection | None = None) -> Config:
    """Return Alembic's configuration, built in code, to run revisions on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """Return the newest revision this code knows."""
    revision = _scripts().get_current_head()
    assert revision is not None
    return revision


def history() -> list[Revision]:
    """List every revision, newest first."""
    heads = set(_scripts().get_heads())
    return [Revision(revision=script.revision, down_revision=_one(script.down_revision),
                     summary=(script.doc or "").strip().splitlines()[0] if script.doc else "",
                     is_head=script.revision in heads)
            for script in _scripts().walk_revisions()]


def _one(down: str | Sequence[str] | None) -> str | None:
    if down is None or isinstance(down, str):
        return down
    return ", ".join(down)


def current(sql: SqlEngine) -> str | None:
    """Return the database's revision (None: empty, or made before migrations existed)."""
    with sql.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def last_upgrade(sql: SqlEngine) -> tuple[str | None, str] | None:
    """Return (before, after) of the last upgrade of this database in this process, if any."""
    return _upgrades.get(sql.url.render_as_string(hide_password=True))


def upgrade(sql: SqlEngine) -> tuple[str | None, str]:
    """Bring the database to the newest revision; return (revision before, revision after).

    ``before`` is None for an empty database, FIRST_RELEASE for one the first release made.
    An empty database gets the models' tables at once (the same schema the revisions build,
    which a test keeps true) and is stamped; one made by the first release, which has tables
    but no revision, starts at that revision; the others run their missing revisions.
    """
    # Alembic's op and context are module-wide: one migration at a time in a process, and the
    # database's lock (PostgreSQL's advisory lock, SQLite's write lock) across processes.
    with _in_process, sql.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
        context = MigrationContext.configure(connection)
        before = context.get_current_revision()
        if before == head():
            return before, before
        if before is None and not _has_tables(connection):
            Base.metadata.create_all(connection)
            context.stamp(_scripts(), head())
        else:
            if before is None:
                context.stamp(_scripts(), FIRST_RELEASE)
                before = FIRST_RELEASE
            command.upgrade(alembic_config(connection), "head")
        # The append-only guards are idempotent and kept beside the models: (re)install them
        # all, so that a guard added with a table needs no revision of its own.
        install_append_only_guards(connection)
    _upgrades[sql.url.render_as_string(hide_password=True)] = (before, head())
    return before, head()


def stamp_head(connection: Connection) -> None:
    """Record that the database has the newest schema (after a restore into created tables)."""
    MigrationContext.configure(connection).stamp(_scripts(), head())


def differences(sql: SqlEngine) -> list[Any]:
    """Return how the database's schema differs from the models (empty when they agree)."""
    with sql.connect() as connection, warnings.catch_warnings():
        # SQLite cannot reflect expression indexes (ix_case_requester_key): Alembic warns and
        # skips them, so callers check those by name (see expression_indexes).
        warnings.filterwarnings("ignore", message=".*expression-based index")
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


_KINDS = {"add": "falta en la base de datos", "remove": "sobra en la base de datos",
          "modify": "difiere"}


def describe(difference: Any) -> str:
    """Say in one line what one of ``differences`` is (e.g. "columna document_ref.task_id: …")."""
    if isinstance(difference, list):
        return "; ".join(describe(item) for item in difference)
    action, _, what = str(difference[0]).partition("_")
    subject = next((item for item in reversed(difference) if hasattr(item, "name")), None)
    if action == "modify":
        return f"columna {difference[2]}.{difference[3]}: {what} {_KINDS[action]}"
    table = getattr(getattr(subject, "table", None), "name", None)
    name = getattr(subject, "name", None) or "(sin nombre)"
    place = f"{table}.{name}" if table and what != "table" else str(name)
    label = {"table": "tabla", "column": "columna", "index": "índice", "constraint": "restricción",
             "fk": "clave foránea"}.get(what, what)
    if what == "column":
        place = f"{difference[2]}.{name}"
    return f"{label} {place}: {_KINDS.get(action, action)}"


def index_names(sql: SqlEngine) -> dict[str, set[str]]:
    """Return every table's index names as the database has them (expression indexes too)."""
    with sql.connect() as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(
                "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index'")
        else:
            rows = connection.exec_driver_sql(
                "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = current_schema()")
        names: dict[str, set[str]] = {}
        for table, name in rows:
            names.setdefault(table, set()).add(name)
        return names


def _has_tables(connection: Connection) -> bool:
    names = set(inspect(connection).get_table_names())
    return bool(names & set(Base.metadata.tables))
