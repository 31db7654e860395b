"""Managers' dashboards and alerts: indexes for their aggregations over the event log.

Alerts are computed from the records each time (no table); the dashboards read the tasks
completed in a period and one activity across cases, which these two indexes serve.

Revision ID: r0006
Revises: r0004
"""

from __future__ import annotations

from alembic import op

revision = "r0006"
down_revision: str | None = "r0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the event log's indexes by kind and moment, and by activity and case."""
    op.create_index("ix_case_event_type_at", "case_event", ["event_type", "at"], unique=False)
    op.create_index("ix_case_event_activity", "case_event", ["activity_id", "case_id"],
                    unique=False)


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_case_event_activity", table_name="case_event")
    op.drop_index("ix_case_event_type_at", table_name="case_event")
