"""Retention, disposal actas and tombstones (auditor's workbench).

An *acta de eliminación* per disposal (its tombstones inside, hash-chained acta to acta) and
the link from each disposed case to its acta (engine/disposal.py).

Revision ID: r0004
Revises: r0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0004"
down_revision: str | None = "r0003"
branch_labels = None
depends_on = None

# engine.store.UtcDateTime as each backend stores it (frozen here: the model may change later).
UTC_DATETIME = sa.BigInteger().with_variant(sa.DateTime(timezone=True), "postgresql")


def upgrade() -> None:
    """Add the actas and the disposed-case links."""
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("disposal_act"):
        op.create_table(
            "disposal_act",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("number", sa.String(length=40), nullable=False),
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("at", UTC_DATETIME, nullable=False),
            sa.Column("by_username", sa.String(length=100), nullable=False),
            sa.Column("by_name", sa.String(length=300), nullable=False),
            sa.Column("by_role", sa.String(length=300), nullable=False),
            sa.Column("legal_basis", sa.Text(), nullable=False),
            sa.Column("cases", sa.JSON(), nullable=False),
            sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("number"),
            sa.UniqueConstraint("seq"),
        )
    if not inspector.has_table("disposed_case"):
        op.create_table(
            "disposed_case",
            sa.Column("case_id", sa.Integer(), nullable=False),
            sa.Column("act_id", sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(["act_id"], ["disposal_act.id"]),
            sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
            sa.PrimaryKeyConstraint("case_id"),
        )
        op.create_index("ix_disposed_case_act_id", "disposed_case", ["act_id"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_disposed_case_act_id", table_name="disposed_case")
    op.drop_table("disposed_case")
    op.drop_table("disposal_act")
