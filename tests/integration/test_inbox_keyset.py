"""Inbox pages by keyset cursor: every task once, in order, both ways; capped counts; odd input."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import insert, text

from engine import InboxFilters, InvalidCursor
from engine.inbox import COUNT_CAP, Cursor
from engine.store import CaseRow, OpenTaskRow

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 15, tzinfo=UTC)
SORTS = ["due_at", "created_at", "case_number", "requester", "activity", "process"]
ATTRIBUTE = {"due_at": "due_at", "created_at": "created_at", "case_number": "case_number",
             "requester": "requester", "activity": "activity_name", "process": "process_name"}


def insert_case_row(session) -> None:
    """The one case the generated tasks belong to (its state is never restored)."""
    session.execute(insert(CaseRow), [{
        "id": 1, "number": "CS-2026-0001", "process_id": "social_case", "version_id": 1,
        "status": "open", "started_at": NOW, "updated_at": NOW, "state": b"W",
        "fingerprint": bytes(32), "last_seq": 0, "last_hash": bytes(32), "version": 1,
        "deadlines": {}}])


def _fill(engine, leader, tasks: int, *, others: int = 0) -> None:
    """Open ``tasks`` tasks for the leader's role (ties, no-deadline and no-requester rows
    among them) and ``others`` for other roles; two claimed by the leader."""
    with engine._writer.begin() as session:
        insert_case_row(session)
        rows = []
        for n in range(tasks + others):
            mine = n in (3, 11)
            rows.append({
                "task_id": f"t{n:07d}", "case_id": 1, "process_id": "social_case",
                "process_name": ["Atención", "Becas", "Compras"][n % 3],
                "case_number": f"CS-2026-{(n * 7919) % 100_000:05d}",
                "requester": None if n % 5 == 0 else f"Persona {n % 9}",
                "activity_id": "reasignar_solicitud", "activity_name": f"Actividad {n % 4}",
                "lane": "lider_seguridad", "role": "lider_seguridad",
                "audience": "role:lider_seguridad" if n < tasks else f"role:other_{n % 3}",
                "assignee_id": leader.id if mine else None, "form_id": None,
                "created_at": NOW - timedelta(minutes=n % 6),
                "due_at": None if n % 4 == 0 else NOW + timedelta(days=n % 5)})
        session.execute(insert(OpenTaskRow), rows)


@pytest.fixture
def leader(engine, people):
    return engine.person("ana.guaman")


def _walk(engine, leader, filters, per_page):
    """Follow "Siguiente" to the end; return the pages' ids, then walk "Anterior" back."""
    pages, cursor = [], None
    while True:
        page = engine.inbox(leader, filters=filters, cursor_available=cursor,
                            per_page=per_page).available
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    back = [pages[-1]]
    while back[-1].previous_cursor is not None:
        back.append(engine.inbox(leader, filters=filters, per_page=per_page,
                                 cursor_available=back[-1].previous_cursor).available)
    return pages, back


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("sort", SORTS)
def test_following_the_cursors_lists_every_task_once_in_order_and_back_again(
        engine, leader, sort, descending):
    _fill(engine, leader, 60, others=40)
    filters = InboxFilters(sort=sort, descending=descending)
    pages, back = _walk(engine, leader, filters, per_page=7)

    seen = [t for page in pages for t in page.items]
    assert len(seen) == len({t.task_id for t in seen}) == 58
    assert all(page.total == 58 and not page.total_capped for page in pages)
    assert pages[0].previous_cursor is None
    # The same order as sorting everything: values in the direction asked, no value last.
    attribute = ATTRIBUTE[sort]
    valued = [t for t in seen if getattr(t, attribute) is not None]
    assert seen[len(valued):] == [t for t in seen if getattr(t, attribute) is None]
    keys = [getattr(t, attribute) for t in valued]
    if sort in ("due_at", "created_at"):  # strings follow the database's collation
        assert keys == sorted(keys, reverse=descending)
    # "Anterior" from the last page gives back the same pages, the first one included.
    assert [[t.task_id for t in p.items] for p in reversed(back)] == [
        [t.task_id for t in p.items] for p in pages]


def test_a_filtered_search_pages_through_its_matches_only(engine, leader):
    _fill(engine, leader, 60)
    filters = InboxFilters(search="persona 4", due_state="a_tiempo")
    pages, _ = _walk(engine, leader, filters, per_page=2)
    seen = [t for page in pages for t in page.items]
    assert seen and all(t.requester == "Persona 4" for t in seen)
    assert pages[0].total == len(seen)


def test_the_counts_stop_past_a_thousand(engine, leader):
    _fill(engine, leader, COUNT_CAP + 30)
    inbox = engine.inbox(leader)
    assert inbox.available.total == COUNT_CAP and inbox.available.total_capped
    assert inbox.mine.total == 2 and not inbox.mine.total_capped
    assert len(inbox.available.items) == 50 and inbox.available.next_cursor


@pytest.mark.parametrize("cursor", [
    "basura", "!!!", "A" * 5000, "eyJ4IjoxfQ",  # {"x":1}
    Cursor("due_at", False, "no es fecha", "t1", False).encode(),
    Cursor("due_at", False, "2026-03-02T15:00:00", "t1", False).encode(),  # no time zone
    Cursor("case_number", False, None, "t1", False).encode(),  # never empty
    Cursor("case_number", False, "CS\x00", "t1", False).encode(),
    Cursor("due_at", False, NOW, "t" * 40, False).encode(),
    Cursor("created_at", False, NOW, "t1", False).encode(),  # another order's cursor
    Cursor("due_at", True, NOW, "t1", False).encode(),
])
def test_a_cursor_the_inbox_did_not_hand_out_is_refused(engine, leader, cursor):
    _fill(engine, leader, 10)
    with pytest.raises(InvalidCursor):
        engine.inbox(leader, cursor_available=cursor)


def test_a_cursor_still_works_after_its_task_is_gone(engine, leader):
    _fill(engine, leader, 30)
    first = engine.inbox(leader, per_page=5).available
    with engine._writer.begin() as session:
        session.execute(text("DELETE FROM open_task WHERE task_id = :t"),
                        {"t": first.items[-1].task_id})
    second = engine.inbox(leader, per_page=5, cursor_available=first.next_cursor).available
    assert len(second.items) == 5
    assert not {t.task_id for t in second.items} & {t.task_id for t in first.items}


@pytest.mark.parametrize("sort", SORTS)
def test_every_offered_sort_of_the_available_list_reads_its_own_index(engine, leader, sort):
    _fill(engine, leader, 200, others=2000)
    with engine.sql.begin() as connection:
        connection.execute(text("ANALYZE"))
    first = engine.inbox(leader, filters=InboxFilters(sort=sort), per_page=5).available
    statement = engine.inbox_statement(leader, filters=InboxFilters(sort=sort), per_page=5,
                                       cursor_available=first.next_cursor)
    compiled = statement.compile(dialect=engine.sql.dialect,
                                 compile_kwargs={"literal_binds": True})
    suffix = {"due_at": "_due", "created_at": "_created", "case_number": "_case",
              "requester": "_requester", "activity": "_activity", "process": "_process"}[sort]
    with engine.sql.connect() as connection:
        if engine.sql.dialect.name == "sqlite":
            plan = "\n".join(row[-1] for row in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}"))
            assert f"INDEX ix_open_task_available{suffix} " in plan
            assert "SCAN open_task" not in plan
        else:
            connection.exec_driver_sql("SET enable_seqscan = off")  # tiny table: force plans
            plan = "\n".join(row[0] for row in connection.exec_driver_sql(
                f"EXPLAIN {compiled}"))
            # Read in index order (not a bitmap scan of every row, then a sort); an index-only
            # scan when the page is picked on (sort value, task id) before its rows are read.
            assert re.search(rf"Index (Only )?Scan using ix_open_task_available{suffix} ", plan)
            assert "Seq Scan on open_task" not in plan


def test_the_inbox_page_follows_its_cursor_links_and_ignores_a_forged_one(engine, leader,
                                                                          web):
    _fill(engine, leader, 120)
    client = web("ana.guaman")
    page = client.get("/bandeja").get_data(as_text=True)
    assert 'data-count="available">118<' in page
    following = re.findall(r'href="([^"]*cursor_available=[^"]*)" rel="next"', page)
    assert len(following) == 1
    second = client.get(unescape(following[0]))
    assert second.status_code == 200
    html = second.get_data(as_text=True)
    assert 'rel="prev"' in html and 'rel="next"' in html
    for odd in ("cursor_available=basura", "cursor_mine=%00", "page_available=99999999999",
                "q=" + "x" * 100_000, "sort=requester&cursor_available="
                + Cursor("due_at", False, NOW, "t1", False).encode()):
        response = client.get(f"/bandeja?{odd}")
        assert response.status_code == 200, odd
        html = response.get_data(as_text=True)
        assert "Bandeja de tareas" in html
        # The search box shows what was searched: at most 200 characters.
        assert len(re.search(r'name="q" value="([^"]*)"', html).group(1)) <= 200


def test_the_inbox_page_says_more_than_a_thousand(engine, leader, web):
    _fill(engine, leader, COUNT_CAP + 5)
    page = web("ana.guaman").get("/bandeja").get_data(as_text=True)
    assert 'data-count="available">más de 1.000<' in page
