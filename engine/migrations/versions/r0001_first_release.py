"""The schema of the first release (git 0c1e4c7), frozen: databases it made start here.

Revision ID: r0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

# engine.store.UtcDateTime as each backend stores it (frozen here: the model may change later).
UTC_DATETIME = sa.BigInteger().with_variant(sa.DateTime(timezone=True), "postgresql")
# engine.catalogue.ExactDecimal likewise.
EXACT_DECIMAL = sa.String(40).with_variant(sa.Numeric(asdecimal=True), "postgresql")

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


def upgrade() -> None:
    """Create the first release's tables and the event log's append-only guard."""
    op.create_table(
        "counter",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "document",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=120), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "indicator_unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path_key", sa.String(length=1000), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("name_key", sa.String(length=300), nullable=False),
        sa.Column("search_key", sa.String(length=1000), nullable=False),
        sa.Column("path", sa.JSON(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("headings", sa.Integer(), nullable=False),
        sa.Column("is_institution", sa.Boolean(), nullable=False),
        sa.Column("org_code", sa.String(length=40), nullable=True),
        sa.Column("attributions", sa.JSON(), nullable=False),
        sa.Column("objectives", sa.JSON(), nullable=False),
        sa.Column("strategies", sa.JSON(), nullable=False),
        sa.Column("risks", sa.JSON(), nullable=False),
        sa.Column("projects", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("path_key"),
    )
    op.create_index(
        op.f("ix_indicator_unit_name_key"), "indicator_unit", ["name_key"], unique=False
    )
    op.create_index(
        op.f("ix_indicator_unit_org_code"), "indicator_unit", ["org_code"], unique=False
    )
    op.create_table(
        "org_unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("printed_code", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("parent_code", sa.String(length=40), nullable=True),
        sa.Column("responsible", sa.String(length=300), nullable=True),
        sa.Column("responsible_unit", sa.String(length=300), nullable=True),
        sa.Column("position_code", sa.String(length=300), nullable=True),
        sa.Column("mission", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(op.f("ix_org_unit_parent_code"), "org_unit", ["parent_code"], unique=False)
    op.create_index(op.f("ix_org_unit_position_code"), "org_unit", ["position_code"], unique=False)
    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "position",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=300), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("unit_code", sa.String(length=40), nullable=True),
        sa.Column("unit_name", sa.String(length=300), nullable=True),
        sa.Column("source", sa.String(length=60), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "process_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=100), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("bundle", sa.JSON(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("content_hash"),
    )
    op.create_index(
        op.f("ix_process_version_process_id"), "process_version", ["process_id"], unique=False
    )
    op.create_table(
        "service_charter_state",
        sa.Column("service_code", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("case_number", sa.String(length=40), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("service_code"),
    )
    op.create_table(
        "service_charter_transition",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("service_code", sa.String(length=200), nullable=False),
        sa.Column("from_state", sa.String(length=40), nullable=True),
        sa.Column("to_state", sa.String(length=40), nullable=False),
        sa.Column("case_number", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_service_charter_transition_service_code"),
        "service_charter_transition",
        ["service_code"],
        unique=False,
    )
    op.create_table(
        "service_unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("org_code", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_table(
        "user_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("process_id", sa.String(length=100), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.Column("requester", sa.String(length=300), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("started_at", UTC_DATETIME, nullable=False),
        sa.Column("started_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.Column("completed_at", UTC_DATETIME, nullable=True),
        sa.Column("due_at", UTC_DATETIME, nullable=True),
        sa.Column("overdue_at", UTC_DATETIME, nullable=True),
        sa.Column("next_timer_at", UTC_DATETIME, nullable=True),
        sa.Column("deadlines", sa.JSON(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(length=32), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["started_by"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["process_version.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index(op.f("ix_case_next_timer_at"), "case", ["next_timer_at"], unique=False)
    op.create_index(op.f("ix_case_process_id"), "case", ["process_id"], unique=False)
    op.create_index(op.f("ix_case_status"), "case", ["status"], unique=False)
    op.create_table(
        "indicator",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("behaviour", sa.String(length=20), nullable=True),
        sa.Column("target_kind", sa.String(length=20), nullable=True),
        sa.Column("periodicity", sa.String(length=20), nullable=True),
        sa.Column("objective", sa.String(length=20), nullable=True),
        sa.Column("targets_open", sa.Boolean(), nullable=False),
        sa.Column("surplus_values", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["indicator_unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unit_id", "seq"),
    )
    op.create_index(op.f("ix_indicator_code"), "indicator", ["code"], unique=False)
    op.create_table(
        "person_position",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("position_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["position_id"],
            ["position.id"],
        ),
        sa.PrimaryKeyConstraint("person_id", "position_id"),
    )
    op.create_index(
        op.f("ix_person_position_position_id"), "person_position", ["position_id"], unique=False
    )
    op.create_table(
        "process",
        sa.Column("process_id", sa.String(length=100), nullable=False),
        sa.Column("current_version_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["current_version_id"],
            ["process_version.id"],
        ),
        sa.PrimaryKeyConstraint("process_id"),
    )
    op.create_table(
        "service",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("responsible_unit_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["responsible_unit_id"],
            ["service_unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "case_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("role", sa.String(length=100), nullable=True),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("activity_id", sa.String(length=100), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("state_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "seq", name="uq_case_event_seq"),
    )
    op.create_table(
        "document_ref",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", UTC_DATETIME, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("activity_id", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case.id"],
        ),
        sa.ForeignKeyConstraint(
            ["sha256"],
            ["document.sha256"],
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_document_ref_case_id"), "document_ref", ["case_id"], unique=False)
    op.create_index(op.f("ix_document_ref_sha256"), "document_ref", ["sha256"], unique=False)
    op.create_table(
        "indicator_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=20), nullable=False),
        sa.Column("value", EXACT_DECIMAL, nullable=True),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicator.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("indicator_id", "seq"),
    )
    op.create_table(
        "open_task",
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=100), nullable=False),
        sa.Column("process_name", sa.String(length=300), nullable=False),
        sa.Column("case_number", sa.String(length=40), nullable=False),
        sa.Column("requester", sa.String(length=300), nullable=True),
        sa.Column("activity_id", sa.String(length=100), nullable=False),
        sa.Column("activity_name", sa.String(length=300), nullable=False),
        sa.Column("lane", sa.String(length=100), nullable=True),
        sa.Column("role", sa.String(length=100), nullable=False),
        sa.Column("audience", sa.String(length=200), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("form_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("due_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case.id"],
        ),
        sa.PrimaryKeyConstraint("task_id"),
    )
    op.create_index(
        "ix_open_task_available", "open_task", ["audience", "assignee_id", "due_at"], unique=False
    )
    op.create_index(op.f("ix_open_task_case_id"), "open_task", ["case_id"], unique=False)
    op.create_index("ix_open_task_mine", "open_task", ["assignee_id", "due_at"], unique=False)
    op.create_table(
        "service_user_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("user_group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["service.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_group_id"],
            ["user_group.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("service_id", "user_group_id"),
    )
    op.create_index(
        op.f("ix_service_user_group_user_group_id"),
        "service_user_group",
        ["user_group_id"],
        unique=False,
    )
    op.create_table(
        "task_draft",
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("saved_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(["task_id"], ["open_task.task_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("task_id", "person_id"),
    )
    for statement in _APPEND_ONLY.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    """Refuse: going below the first release would drop every case."""
    raise NotImplementedError("r0001 is the first release: there is nothing below it")
