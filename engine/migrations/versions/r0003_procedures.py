"""Procedure versions, drafts and migrations (process owner's workshop).

Who published each version and why, the one draft per procedure, play-mode trials and bulk
case migration jobs.

Revision ID: r0003
Revises: r0002
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "r0003"
down_revision: str | None = "r0002"
branch_labels = None
depends_on = None

# engine.store.UtcDateTime as each backend stores it (frozen here: the model may change later).
UTC_DATETIME = sa.BigInteger().with_variant(sa.DateTime(timezone=True), "postgresql")
TABLES = ("migration_job", "procedure_trial", "procedure_draft", "procedure_version_note")


def _create_table(name: str, *columns: Any) -> None:
    if not sa.inspect(op.get_bind()).has_table(name):
        op.create_table(name, *columns)


def upgrade() -> None:
    """Add the workshop's tables."""
    _create_table(
        "procedure_version_note",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["process_version.id"]),
        sa.PrimaryKeyConstraint("version_id"),
    )
    _create_table(
        "procedure_draft",
        sa.Column("process_id", sa.String(length=100), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("base_version_id", sa.Integer(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["base_version_id"], ["process_version.id"]),
        sa.PrimaryKeyConstraint("process_id"),
    )
    _create_table(
        "procedure_trial",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("process_id", sa.String(length=100), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("now_at", UTC_DATETIME, nullable=False),
        sa.Column("bundle", sa.JSON(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("completed", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _create_table(
        "migration_job",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("process_id", sa.String(length=100), nullable=False),
        sa.Column("from_version_id", sa.Integer(), nullable=False),
        sa.Column("to_version_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("case_ids", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("moved", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("finished", sa.Boolean(), nullable=False),
        sa.Column("refusals", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    """Drop the workshop's tables."""
    for name in TABLES:
        op.drop_table(name)
