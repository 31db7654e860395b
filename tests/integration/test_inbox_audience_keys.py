"""Inbox of a person whose tasks arrive under several audience keys (role, position, ...):
one list in one order across the keys, and a count that adds the keys up to its cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from engine import InboxFilters
from engine.inbox import COUNT_CAP
from engine.store import OpenTaskRow
from tests.integration.test_inbox_keyset import insert_case_row

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 15, tzinfo=UTC)


@pytest.fixture
def leader(engine, people):
    return engine.person("ana.guaman")


def _fill(engine, keys: list[str], per_key: int) -> None:
    """Open ``per_key`` unclaimed tasks under each key, their due dates interleaved across the
    keys (every fifth without one), plus tasks of a key the person does not hold."""
    with engine._writer.begin() as session:
        insert_case_row(session)
        rows = []
        for n in range(per_key * (len(keys) + 1)):
            key = (keys + ["role:not_hers"])[n % (len(keys) + 1)]
            rows.append({
                "task_id": f"t{n:07d}", "case_id": 1, "process_id": "social_case",
                "process_name": "Atención", "case_number": f"CS-2026-{n:05d}",
                "requester": f"Persona {n % 7}", "activity_id": "reasignar_solicitud",
                "activity_name": "Recibir y reasignar", "lane": "lider_seguridad",
                "role": "lider_seguridad", "audience": key, "assignee_id": None,
                "form_id": None, "created_at": NOW - timedelta(minutes=n),
                "due_at": None if n % 5 == 0 else NOW + timedelta(hours=(n * 37) % 101)})
        session.execute(insert(OpenTaskRow), rows)


@pytest.mark.parametrize("descending", [False, True])
def test_tasks_of_several_keys_come_in_one_order_page_after_page(engine, leader, descending):
    keys = sorted(leader.audience)
    assert len(keys) >= 2
    _fill(engine, keys, 9)
    filters = InboxFilters(sort="due_at", descending=descending)
    pages, cursor = [], None
    while True:
        page = engine.inbox(leader, filters=filters, per_page=4,
                            cursor_available=cursor).available
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    seen = [t for page in pages for t in page.items]
    # Every task of her keys once (none of the other key), each page full but the last.
    assert len(seen) == len({t.task_id for t in seen}) == 9 * len(keys)
    assert all(len(page.items) == 4 for page in pages[:-1])
    assert all(page.total == 9 * len(keys) and not page.total_capped for page in pages)
    # In due order across the keys, ties by task id, tasks without a due date last.
    expected = sorted((t for t in seen if t.due_at is not None),
                      key=lambda t: (t.due_at, t.task_id), reverse=descending)
    expected += sorted((t for t in seen if t.due_at is None), key=lambda t: t.task_id,
                       reverse=descending)
    assert [t.task_id for t in seen] == [t.task_id for t in expected]
    # "Anterior" from the last page gives back the page before it.
    before = engine.inbox(leader, filters=filters, per_page=4,
                          cursor_available=pages[-1].previous_cursor).available
    assert [t.task_id for t in before.items] == [t.task_id for t in pages[-2].items]


def test_the_count_adds_up_the_keys_and_stops_past_a_thousand(engine, leader):
    keys = sorted(leader.audience)[:2]
    # Neither key alone passes the cap; together they do.
    _fill(engine, keys, COUNT_CAP // 2 + 20)
    page = engine.inbox(leader).available
    assert page.total == COUNT_CAP and page.total_capped
    assert len(page.items) == 50 and page.next_cursor
