"""SQLAlchemy models and the database connection (SQLite by default, PostgreSQL for scale)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
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
    func,
    literal_column,
    text,
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

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        # SQLite's integers straight to datetimes (process_result_value's own rule), without
        # the decorator's generic wrapper: an inbox page converts two per row.
        def process(value: Any) -> datetime | None:
            return None if value is None else _EPOCH + int(value) * _MICROSECOND

        return process


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
    # The case list (engine/case_search.py) walks these in key order, the id breaking ties.
    __table_args__ = (
        Index("ix_case_started", "started_at", "id"),
        Index("ix_case_process_started", "process_id", "started_at", "id"),
        Index("ix_case_started_by", "started_by", "started_at", "id"),
    )


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
    # The inbox reads pages in index order (engine/inbox.py): for the unclaimed tasks of an
    # audience, which grow with the role, an index per offered sort; for the claimed ones (what
    # one person holds) by due date and by arrival. The task id keeps equal values in a fixed
    # order. Unclaimed-only (partial) indexes: "assignee_id IS NULL" inside the key would stop
    # PostgreSQL from reading it in order (only "=" conditions fix a key column for it).
    __table_args__ = (
        *[Index(f"ix_open_task_available_{name}", "audience", column, "task_id",
                sqlite_where=text("assignee_id IS NULL"),
                postgresql_where=text("assignee_id IS NULL"))
          for name, column in (("due", "due_at"), ("created", "created_at"),
                               ("case", "case_number"), ("requester", "requester"),
                               ("activity", "activity_name"), ("process", "process_name"))],
        Index("ix_open_task_mine_due", "assignee_id", "due_at", "task_id"),
        Index("ix_open_task_mine_created", "assignee_id", "created_at", "task_id"),
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
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_event_seq"),
                      # "Cases I took part in" and case visibility by one's own actions.
                      Index("ix_case_event_actor", "actor_id", "case_id"))


class CaseFollowRow(Base):
    """A case a person follows, and the last event of it they have seen."""

    __tablename__ = "case_follow"
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), primary_key=True, index=True)
    last_seen_seq: Mapped[int] = mapped_column(Integer, default=0)
    followed_at: Mapped[datetime]


# Sorting by requester puts cases without one first; an expression index keeps that order.
# The empty string is a literal (not a parameter) so that the planner can match the index.
CASE_REQUESTER_KEY = func.coalesce(CaseRow.requester, literal_column("''"))
Index("ix_case_requester_key", CASE_REQUESTER_KEY, CaseRow.id)


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


class SignInThrottleRow(Base):
    """Failed sign-ins counted under one key: a client, an account, or an (account, client) pair."""

    __tablename__ = "sign_in_throttle"
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(index=True)
    blocked_until: Mapped[datetime | None]


class SignInSessionRow(Base):
    """A signed-in session (a page's cookie or an API token) the server can end."""

    __tablename__ = "sign_in_session"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # sha256 of the secret the cookie or token carries: a copy of the table signs nobody in.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


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


@dataclass(frozen=True)
class PoolSettings:
    """How one process holds its PostgreSQL connections (``CAUCE_DB_*`` environment variables).

    Each app or worker process has its own pool: the server must accept the sum of every
    process's ``size + max_overflow`` (PostgreSQL's ``max_connections`` is 100 by default).
    """

    size: int = 5
    max_overflow: int = 10
    # Seconds a request waits for a free connection before it fails (and is answered 503).
    timeout_seconds: float = 30.0
    # Test a connection before lending it: after a database restart, stale connections are
    # replaced instead of failing the next request.
    pre_ping: bool = True
    # Replace connections older than this (a proxy or firewall may drop idle ones); -1: never.
    recycle_seconds: int = 1800
    # The server cancels a statement running longer than this; 0: no limit.
    statement_timeout_ms: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PoolSettings:
        """Read the settings from the environment; unset or empty variables keep the default."""
        env = os.environ if environ is None else environ
        default = cls()

        def number(name: str, fallback: float) -> float:
            raw = env.get(name, "").strip()
            try:
                return float(raw) if raw else fallback
            except ValueError:
                raise ValueError(f"{name} debe ser un número, no {raw!r}") from None

        pre_ping = env.get("CAUCE_DB_POOL_PRE_PING", "").strip().lower()
        return cls(
            size=int(number("CAUCE_DB_POOL_SIZE", default.size)),
            max_overflow=int(number("CAUCE_DB_MAX_OVERFLOW", default.max_overflow)),
            timeout_seconds=number("CAUCE_DB_POOL_TIMEOUT", default.timeout_seconds),
            pre_ping=default.pre_ping if not pre_ping else pre_ping not in ("0", "false", "no"),
            recycle_seconds=int(number("CAUCE_DB_POOL_RECYCLE", default.recycle_seconds)),
            statement_timeout_ms=int(number("CAUCE_DB_STATEMENT_TIMEOUT_MS",
                                            default.statement_timeout_ms)),
        )


def connect(url: str, *, echo: bool = False, pool: PoolSettings | None = None) -> SqlEngine:
    """Create the SQLAlchemy engine for ``url`` with the settings each backend needs.

    PostgreSQL's pool follows ``pool`` (by default, the ``CAUCE_DB_*`` environment variables).
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, json_serializer=_compact_json)
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    settings = pool or PoolSettings.from_env()
    connect_args: dict[str, Any] = {}
    if settings.statement_timeout_ms > 0:
        # Set at connection start-up, so it holds for every transaction on the connection.
        connect_args["options"] = f"-c statement_timeout={settings.statement_timeout_ms}"
    return create_engine(url, echo=echo, json_serializer=_compact_json,
                         pool_size=settings.size, max_overflow=settings.max_overflow,
                         pool_timeout=settings.timeout_seconds, pool_pre_ping=settings.pre_ping,
                         pool_recycle=settings.recycle_seconds, connect_args=connect_args)


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
    """Bring the schema to the newest revision (idempotent), the event log's guards included."""
    # The migrations import these models: import them late, not at module load.
    from .schema import upgrade

    upgrade(engine)


def drop_schema(engine: SqlEngine) -> None:
    """Drop every table (tests and ``init-db --drop``), the record of migrations included."""
    Base.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


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
    # The task whose form sent it (None: the API, a new case's form); see documents.py.
    task_id: Mapped[str | None] = mapped_column(String(36))


class IncidentRow(Base):
    """Something wrong with a case that people must look at, e.g. it stalled (engine.incidents).

    Kept apart from the case's event log: it is an observation about the case, not a step of it.
    """

    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    # When the condition began (the case's last step), when a check found it, when it ended.
    since: Mapped[datetime]
    detected_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Two workers finding the same stall at once record it once.
    __table_args__ = (UniqueConstraint("case_id", "kind", "since", name="uq_incident_once"),)


class WorkerHeartbeatRow(Base):
    """The last round of one timer worker (``flask worker``), for the readiness check."""

    __tablename__ = "worker_heartbeat"
    # host:pid, so that several workers on several machines each keep their own row.
    worker: Mapped[str] = mapped_column(String(200), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(index=True)
    rounds: Mapped[int] = mapped_column(Integer, default=0)


class VerificationRunRow(Base):
    """One run of ``audit verify``: who asked, when, over which cases, and how it went."""

    __tablename__ = "verification_run"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    # A username, or "sistema" for the CLI and the worker (auditors come later).
    by: Mapped[str] = mapped_column(String(100))
    process_id: Mapped[str | None] = mapped_column(String(100))
    since: Mapped[datetime | None]
    cases: Mapped[int] = mapped_column(Integer)
    problems: Mapped[int] = mapped_column(Integer)
    # The newest checkpoint the database was compared against (engine/anchoring.py), if any.
    checkpoint: Mapped[str | None] = mapped_column(String(100))


class VerificationResultRow(Base):
    """The outcome of one case (or one checkpoint finding) in a verification run."""

    __tablename__ = "verification_result"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("verification_run.id"), index=True)
    # No foreign key: the finding "this case was deleted" names a case the table no longer has.
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    case_number: Mapped[str | None] = mapped_column(String(40))
    ok: Mapped[bool] = mapped_column(Boolean)
    kind: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)


class AccessLogRow(Base):
    """A read of a confidential case by someone outside its lanes (an auditor): append-only,
    hash-chained across the whole table (see engine/access_log.py)."""

    __tablename__ = "access_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    # Unique: two concurrent readers cannot both chain onto the same predecessor.
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[datetime]
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    username: Mapped[str] = mapped_column(String(100))
    roles: Mapped[str] = mapped_column(String(300))
    # No foreign key: the record of a read outlives whatever happens to the case.
    case_id: Mapped[int] = mapped_column(Integer, index=True)
    case_number: Mapped[str] = mapped_column(String(40))
    process_id: Mapped[str] = mapped_column(String(100))
    what: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(String(300))
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


# The access log is guarded like the case log: nobody edits or removes a recorded read.
_APPEND_ONLY["sqlite"] += [
    "CREATE TRIGGER IF NOT EXISTS access_log_no_update BEFORE UPDATE ON access_log "
    "BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS access_log_no_delete BEFORE DELETE ON access_log "
    "BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END",
]
_APPEND_ONLY["postgresql"] += [
    "CREATE OR REPLACE FUNCTION access_log_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'access_log is append-only'; END; $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS access_log_append_only ON access_log",
    "CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log "
    "FOR EACH ROW EXECUTE FUNCTION access_log_append_only()",
]


def install_append_only_guards(connection: Any) -> None:
    """(Re)install the triggers that refuse UPDATE and DELETE on the append-only logs.

    Idempotent. Deliberately not run by every start-up: a guard someone dropped is evidence
    that verification must still be able to report.
    """
    for statement in _APPEND_ONLY.get(connection.dialect.name, []):
        connection.exec_driver_sql(statement)
