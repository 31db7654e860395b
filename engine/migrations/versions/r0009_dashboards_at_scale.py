"""Dashboards at scale: partial, covering indexes for the managers' dashboards at 100,000 cases.

Each holds only the events one question of the dashboards needs, with what it reads (see
``engine/indicators.py``): each case's attendance (a validated report or a referral), the unit
named in each request, and each case's steps in order for the times per activity.

Revision ID: r0009
Revises: r0008
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "r0009"
down_revision: str | None = "r0008"
branch_labels = None
depends_on = None

STEPS = "event_type IN ('case_started', 'task_completed', 'timer_fired')"
REQUEST = "activity_id = 'recibir_solicitud' AND event_type = 'task_completed'"


# The JSON is read with the ``->``/``->>`` operators SQLite (3.38 on) and PostgreSQL share, so
# the statements and the indexes read the same on both.
UNIT = "((data -> 'form') ->> 'beneficiary_unit')"
# (The kind of event is checked by the statements, not by the index: see indicators._of_kind.)
ATTENDANCE = ("activity_id = 'validar_informe' AND "
              "CAST((data -> 'form') -> 'report_validated' AS TEXT) = 'true' OR "
              "activity_id = 'reasignar_solicitud' AND "
              "CAST((data -> 'form') -> 'is_social_case' AS TEXT) = 'false'")


def upgrade() -> None:
    """Add the attendance, request-unit and steps indexes of the event log."""
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 38):
        raise RuntimeError(f"Cauce needs SQLite 3.38 or newer (JSON operators); this Python has "
                           f"SQLite {sqlite3.sqlite_version}")
    op.create_index("ix_case_event_attended", "case_event",
                    ["case_id", "at", "activity_id", "event_type"], unique=False,
                    sqlite_where=sa.text(ATTENDANCE), postgresql_where=sa.text(ATTENDANCE))
    op.create_index("ix_case_event_request_unit", "case_event", ["case_id", sa.text(UNIT)],
                    unique=False, sqlite_where=sa.text(REQUEST),
                    postgresql_where=sa.text(REQUEST))
    op.create_index("ix_case_event_steps", "case_event",
                    ["case_id", "seq", "event_type", "at", "activity_id"], unique=False,
                    sqlite_where=sa.text(STEPS), postgresql_where=sa.text(STEPS))


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_case_event_steps", table_name="case_event")
    op.drop_index("ix_case_event_request_unit", table_name="case_event")
    op.drop_index("ix_case_event_attended", table_name="case_event")
