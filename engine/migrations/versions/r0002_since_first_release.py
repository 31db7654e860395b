"""Everything since the first release: new tables, columns and indexes.

Sign-in sessions and throttling, followed cases, incidents, worker heartbeats, audit
verification runs and results, the access log; the task that attached a document; the case
list's and the inbox's indexes (the inbox's first two replaced).

Revision ID: r0002
Revises: r0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "r0002"
down_revision: str | None = "r0001"
branch_labels = None
depends_on = None

# engine.store.UtcDateTime as each backend stores it (frozen here: the model may change later).
UTC_DATETIME = sa.BigInteger().with_variant(sa.DateTime(timezone=True), "postgresql")


def _create_table(name: str, *columns: Any) -> None:
    # A database made by a development tree of this release may have the table already.
    if not sa.inspect(op.get_bind()).has_table(name):
        op.create_table(name, *columns)


def _add_column(table: str, column: sa.Column[Any]) -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}
    if column.name not in columns:
        op.add_column(table, column)


def upgrade() -> None:
    """Add the tables and indexes made since the first release."""
    _create_table(
        "sign_in_throttle",
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", UTC_DATETIME, nullable=False),
        sa.Column("blocked_until", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(
        op.f("ix_sign_in_throttle_last_failure_at"),
        "sign_in_throttle",
        ["last_failure_at"],
        unique=False,
        if_not_exists=True,
    )
    _create_table(
        "verification_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("finished_at", UTC_DATETIME, nullable=False),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.Column("process_id", sa.String(length=100), nullable=True),
        sa.Column("since", UTC_DATETIME, nullable=True),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.Column("checkpoint", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    _create_table(
        "worker_heartbeat",
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("beat_at", UTC_DATETIME, nullable=False),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("worker"),
    )
    op.create_index(
        op.f("ix_worker_heartbeat_beat_at"),
        "worker_heartbeat",
        ["beat_at"],
        unique=False,
        if_not_exists=True,
    )
    _create_table(
        "access_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("roles", sa.String(length=300), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("case_number", sa.String(length=40), nullable=False),
        sa.Column("process_id", sa.String(length=100), nullable=False),
        sa.Column("what", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("seq"),
    )
    op.create_index(
        op.f("ix_access_log_case_id"), "access_log", ["case_id"], unique=False, if_not_exists=True
    )
    _create_table(
        "sign_in_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("revoked_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        op.f("ix_sign_in_session_person_id"),
        "sign_in_session",
        ["person_id"],
        unique=False,
        if_not_exists=True,
    )
    _create_table(
        "verification_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("case_number", sa.String(length=40), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["verification_run.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_verification_result_case_id"),
        "verification_result",
        ["case_id"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        op.f("ix_verification_result_run_id"),
        "verification_result",
        ["run_id"],
        unique=False,
        if_not_exists=True,
    )
    _create_table(
        "case_follow",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("last_seen_seq", sa.Integer(), nullable=False),
        sa.Column("followed_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case.id"],
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("person_id", "case_id"),
    )
    op.create_index(
        op.f("ix_case_follow_case_id"), "case_follow", ["case_id"], unique=False, if_not_exists=True
    )
    _create_table(
        "incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("since", UTC_DATETIME, nullable=False),
        sa.Column("detected_at", UTC_DATETIME, nullable=False),
        sa.Column("resolved_at", UTC_DATETIME, nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "kind", "since", name="uq_incident_once"),
    )
    op.create_index(
        op.f("ix_incident_case_id"), "incident", ["case_id"], unique=False, if_not_exists=True
    )
    op.create_index(
        "ix_case_process_started",
        "case",
        ["process_id", "started_at", "id"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        "ix_case_started", "case", ["started_at", "id"], unique=False, if_not_exists=True
    )
    op.create_index(
        "ix_case_started_by",
        "case",
        ["started_by", "started_at", "id"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        "ix_case_event_actor",
        "case_event",
        ["actor_id", "case_id"],
        unique=False,
        if_not_exists=True,
    )
    op.drop_index(op.f("ix_open_task_available"), table_name="open_task", if_exists=True)
    op.drop_index(op.f("ix_open_task_mine"), table_name="open_task", if_exists=True)
    op.create_index(
        "ix_open_task_available_activity",
        "open_task",
        ["audience", "activity_name", "task_id"],
        unique=False,
        if_not_exists=True,
        sqlite_where=sa.text("assignee_id IS NULL"),
        postgresql_where=sa.text("assignee_id IS NULL"),
    )
    op.create_index(
        "ix_open_task_available_case",
        "open_task",
        ["audience", "case_number", "task_id"],
        unique=False,
        if_not_exists=True,
        sqlite_where=sa.text("assignee_id IS NULL"),
        postgresql_where=sa.text("assignee_id IS NULL"),
    )
    op.create_index(
        "ix_open_task_available_created",
        "open_task",
        ["audience", "created_at", "task_id"],
        unique=False,
        if_not_exists=True,
        sqlite_where=sa.text("assignee_id IS NULL"),
        postgresql_where=sa.text("assignee_id IS NULL"),
    )
    op.create_index(
        "ix_open_task_available_due",
        "open_task",
        ["audience", "due_at", "task_id"],
        unique=False,
        if_not_exists=True,
        sqlite_where=sa.text("assignee_id IS NULL"),
        postgresql_where=sa.text("assignee_id IS NULL"),
    )
    op.create_index(
        "ix_open_task_available_process",
        "open_task",
        ["audience", "process_name", "task_id"],
        unique=False,
        if_not_exists=True,
        sqlite_where=sa.text("assignee_id IS NULL"),
        postgresql_where=sa.text("assignee_id IS NULL"),
    )
    op.create_index(
        "ix_open_task_available_requester",
        "open_task",
        ["audience", "requester", "task_id"],
        unique=False,
        if_not_exists=True,
        sqlite_where=sa.text("assignee_id IS NULL"),
        postgresql_where=sa.text("assignee_id IS NULL"),
    )
    op.create_index(
        "ix_open_task_mine_created",
        "open_task",
        ["assignee_id", "created_at", "task_id"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        "ix_open_task_mine_due",
        "open_task",
        ["assignee_id", "due_at", "task_id"],
        unique=False,
        if_not_exists=True,
    )
    # The task whose form attached a document (engine/documents.py).
    _add_column("document_ref", sa.Column("task_id", sa.String(length=36), nullable=True))
    # Sorting the case list by requester, cases without one first (see engine.store).
    op.create_index(
        "ix_case_requester_key",
        "case",
        [sa.text("coalesce(requester, '')"), "id"],
        if_not_exists=True,
    )


def downgrade() -> None:
    """Drop what upgrade added (the inbox's first two indexes come back)."""
    with op.batch_alter_table("document_ref") as batch:
        batch.drop_column("task_id")
    for table in (
        "access_log",
        "verification_result",
        "verification_run",
        "worker_heartbeat",
        "incident",
        "case_follow",
        "sign_in_session",
        "sign_in_throttle",
    ):
        op.drop_table(table)
    for index, table in (
        ("ix_case_requester_key", "case"),
        ("ix_case_started", "case"),
        ("ix_case_process_started", "case"),
        ("ix_case_started_by", "case"),
        ("ix_case_event_actor", "case_event"),
        *[
            (f"ix_open_task_available_{name}", "open_task")
            for name in ("due", "created", "case", "requester", "activity", "process")
        ],
        ("ix_open_task_mine_due", "open_task"),
        ("ix_open_task_mine_created", "open_task"),
    ):
        op.drop_index(index, table_name=table)
    op.create_index("ix_open_task_available", "open_task", ["audience", "assignee_id", "due_at"])
    op.create_index("ix_open_task_mine", "open_task", ["assignee_id", "due_at"])
