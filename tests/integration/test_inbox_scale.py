"""The inbox with 100,000 open tasks: one statement, answered from the open-task indexes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, insert, text

from engine import InboxFilters
from engine.store import CaseRow, OpenTaskRow

pytestmark = pytest.mark.integration

TASKS = 100_000


@pytest.fixture
def crowded(engine, people):
    """100,000 open tasks: most for other roles, 1,000 for the leader's role, 10 claimed."""
    leader = engine.person("ana.guaman")
    now = datetime(2026, 3, 2, 15, tzinfo=UTC)
    with engine._writer.begin() as session:
        session.execute(insert(CaseRow), [{
            "id": 1, "number": "CS-2026-0001", "process_id": "social_case", "version_id": 1,
            "status": "open", "started_at": now, "updated_at": now, "state": b"W",
            "fingerprint": bytes(32), "last_seq": 0, "last_hash": bytes(32), "version": 1,
            "deadlines": {}}])
        rows = []
        for n in range(TASKS):
            audience = "role:lider_seguridad" if n % 100 == 0 else f"role:other_{n % 7}"
            rows.append({
                "task_id": f"t{n:07d}", "case_id": 1, "process_id": "social_case",
                "process_name": "Atención y Seguimiento de Casos Sociales",
                "case_number": f"CS-2026-{n:05d}", "requester": f"Persona {n}",
                "activity_id": "reasignar_solicitud", "activity_name": "Recibir y reasignar",
                "lane": "lider_seguridad", "role": "lider_seguridad", "audience": audience,
                "assignee_id": leader.id if n % 10_000 == 0 else None, "form_id": None,
                "created_at": now, "due_at": now + timedelta(days=n % 40)})
        session.execute(insert(OpenTaskRow), rows)
    with engine.sql.begin() as connection:
        connection.execute(text("ANALYZE"))
    return leader


def test_the_inbox_is_one_statement_and_counts_both_lists(engine, crowded):
    statements = []

    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith(("SELECT", "WITH", "(SELECT")):
            statements.append(statement)

    event.listen(engine.sql, "before_cursor_execute", count)
    try:
        first = engine.inbox(crowded)
        inbox = engine.inbox(crowded, cursor_available=first.available.next_cursor)
    finally:
        event.remove(engine.sql, "before_cursor_execute", count)

    assert len(statements) == 2
    assert inbox.mine.total == 10 and len(inbox.mine.items) == 10
    assert inbox.available.total == 990 and len(inbox.available.items) == 50
    assert not inbox.available.total_capped
    assert inbox.available.items[0].due_at >= first.available.items[-1].due_at
    assert all(t.assignee is None for t in inbox.available.items)
    dues = [t.due_at for t in inbox.available.items]
    assert dues == sorted(dues)


def test_the_inbox_query_reads_the_open_task_indexes_not_the_table(engine, crowded):
    statement = engine.inbox_statement(crowded, filters=InboxFilters(due_state=None))
    compiled = statement.compile(dialect=engine.sql.dialect,
                                 compile_kwargs={"literal_binds": True})
    with engine.sql.connect() as connection:
        if engine.sql.dialect.name == "sqlite":
            plan = "\n".join(row[-1] for row in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}"))
            assert "USING INDEX ix_open_task_mine" in plan
            assert "USING INDEX ix_open_task_available" in plan
            assert "SCAN open_task" not in plan
        else:
            plan = "\n".join(row[0] for row in connection.exec_driver_sql(
                f"EXPLAIN {compiled}"))
            assert "ix_open_task_mine" in plan and "ix_open_task_available" in plan
            assert "Seq Scan on open_task" not in plan
