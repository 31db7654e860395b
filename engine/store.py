"""SQLAlchemy models and the database connection (SQLite by default, PostgreSQL for scale)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    PostgreSQL keeps them as ``timestamptz``; SQLite, which has no date type, as integer
    microseconds since 1970 (8 bytes instead of 26 characters, and ordered the same way).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | int | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if dialect.name == "sqlite":
            return (value - _EPOCH) // _MICROSECOND
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return _EPOCH + int(value) * _MICROSECOND
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON}


class ProcessVersionRow(Base):
    """An immutable version of a procedure: its files, parsed spec and manifest."""

    __tablename__ = "process_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    bundle: Mapped[dict[str, Any]] = mapped_column(JSON)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(40), default="files")


class ProcessRow(Base):
    """A procedure and the version new cases start on."""

    __tablename__ = "process"
    process_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    current_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))


class CaseRow(Base):
    """One running or finished case: its workflow state and what the inbox needs about it."""

    __tablename__ = "case"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    status: Mapped[str] = mapped_column(String(20), index=True)
    outcome: Mapped[str | None] = mapped_column(String(200))
    requester: Mapped[str | None] = mapped_column(String(300))
    subject: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime]
    started_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    overdue_at: Mapped[datetime | None]
    next_timer_at: Mapped[datetime | None] = mapped_column(index=True)
    deadlines: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[bytes] = mapped_column(LargeBinary)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary(32))
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # Optimistic locking: every write is "UPDATE … WHERE version = :seen" (see api._Step).
    version: Mapped[int] = mapped_column(Integer, default=1)


class OpenTaskRow(Base):
    """A READY human task, as the inbox lists it (rewritten on every change of its case)."""

    __tablename__ = "open_task"
    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(100))
    process_name: Mapped[str] = mapped_column(String(300))
    case_number: Mapped[str] = mapped_column(String(40))
    requester: Mapped[str | None] = mapped_column(String(300))
    activity_id: Mapped[str] = mapped_column(String(100))
    activity_name: Mapped[str] = mapped_column(String(300))
    lane: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(100))
    audience: Mapped[str] = mapped_column(String(200))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    form_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    __table_args__ = (
        Index("ix_open_task_available", "audience", "assignee_id", "due_at"),
        Index("ix_open_task_mine", "assignee_id", "due_at"),
    )


class CaseEventRow(Base):
    """The append-only log of a case, hash-chained: what happened, who, when, with what data."""

    __tablename__ = "case_event"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    actor: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str | None] = mapped_column(String(100))
    event_type: Mapped[str] = mapped_column(String(40))
    task_id: Mapped[str | None] = mapped_column(String(36))
    activity_id: Mapped[str | None] = mapped_column(String(100))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    state_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # sha256(previous event's hash + this event's canonical content): see audit.event_hash.
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_event_seq"),)


class TaskDraftRow(Base):
    """A person's unfinished form for a task (kept until the task is completed)."""

    __tablename__ = "task_draft"
    task_id: Mapped[str] = mapped_column(ForeignKey("open_task.task_id", ondelete="CASCADE"),
                                         primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    saved_at: Mapped[datetime]


class PersonRow(Base):
    """Someone who signs in."""

    __tablename__ = "person"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]


class PositionRow(Base):
    """A position (cargo) of the org directory."""

    __tablename__ = "position"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(300), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    unit_code: Mapped[str | None] = mapped_column(String(40))
    unit_name: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(60))


class PersonPositionRow(Base):
    """Who holds which position."""

    __tablename__ = "person_position"
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    position_id: Mapped[int] = mapped_column(ForeignKey("position.id"), primary_key=True,
                                             index=True)


class CounterRow(Base):
    """A named sequence (case numbers per process and year, archive numbers)."""

    __tablename__ = "counter"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


_APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS case_event_no_update BEFORE UPDATE ON case_event "
        "BEGIN SELECT RAISE(ABORT, 'case_event is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS case_event_no_delete BEFORE DELETE ON case_event "
        "BEGIN SELECT RAISE(ABORT, 'case_event is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION case_event_append_only() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'case_event is append-only'; END; $$ LANGUAGE plpgsql",
        "DROP TRIGGER IF EXISTS case_event_append_only ON case_event",
        "CREATE TRIGGER case_event_append_only BEFORE UPDATE OR DELETE ON case_event "
        "FOR EACH ROW EXECUTE FUNCTION case_event_append_only()",
    ],
}


def connect(url: str, *, echo: bool = False) -> SqlEngine:
    """Create the SQLAlchemy engine for ``url`` with the settings each backend needs."""
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, json_serializer=_compact_json)
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, echo=echo, pool_pre_ping=True, json_serializer=_compact_json)


_compact_json = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


def _configure_sqlite(engine: SqlEngine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the lock up front: a deferred transaction that reads, then writes after
        # another writer committed, fails instead of waiting.
        mode = "DEFERRED" if connection.get_execution_options().get("read_only") else "IMMEDIATE"
        connection.exec_driver_sql(f"BEGIN {mode}")


def create_schema(engine: SqlEngine) -> None:
    """Create every table (idempotent) and the append-only guard of the event log."""
    Base.metadata.create_all(engine)
    with engine.begin() as connection:
        for statement in _APPEND_ONLY.get(engine.dialect.name, []):
            connection.exec_driver_sql(statement)


def drop_schema(engine: SqlEngine) -> None:
    """Drop every table (tests and ``init-db --drop``)."""
    Base.metadata.drop_all(engine)


def session_factories(engine: SqlEngine) -> tuple[sessionmaker[Any], sessionmaker[Any]]:
    """Return (writer, reader) session factories; readers never take SQLite's write lock."""
    # Verbs flush explicitly; autoflush would write the case row twice per verb.
    writer = sessionmaker(engine, expire_on_commit=False, autoflush=False)
    reader = sessionmaker(engine.execution_options(read_only=True), expire_on_commit=False)
    return writer, reader


def next_in_sequence(session: Any, name: str) -> int:
    """Return the next value of a named sequence; unique and gap-free under concurrency."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    session.execute(upsert(CounterRow).values(name=name, value=0).on_conflict_do_nothing())
    from sqlalchemy import update

    # The row lock taken by this UPDATE serializes concurrent callers until commit.
    return int(session.execute(
        update(CounterRow).where(CounterRow.name == name)
        .values(value=CounterRow.value + 1).returning(CounterRow.value)
    ).scalar_one())


class DocumentRow(Base):
    """A stored file, addressed by the SHA-256 of its content (stored once however often used)."""

    __tablename__ = "document"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime]


class DocumentRefRow(Base):
    """A document as someone attached it: its name, who, and the case it belongs to."""

    __tablename__ = "document_ref"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("document.sha256"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("person.id"))
    uploaded_at: Mapped[datetime]
    # Empty until the form that attaches it is completed (a new case has no id yet).
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id"), index=True)
    activity_id: Mapped[str | None] = mapped_column(String(100))
