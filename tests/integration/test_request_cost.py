"""What one completion costs outside the runtime: SQL statements per request, pinned.

Every round trip to PostgreSQL costs a fraction of a millisecond of server and client CPU, so the
number of statements a completion sends is counted here (engine verb, JSON API and HTML form),
and a change that adds one shows up as a failing count, not as a slower benchmark weeks later.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from app import create_app
from engine import Engine, NotFound
from engine.sign_in import SessionCache
from engine.store import ProcessRow, ProcessVersionRow, connect, drop_schema
from engine.views import PersonView
from tests.conftest import DEMO_PASSWORD, FAST_HASHER, form_for

pytestmark = pytest.mark.integration

SHOW = bool(os.environ.get("CAUCE_SHOW_SQL"))
# Completing "reasignar_solicitud" (its form names a social worker, checked against the directory)
# and getting the case back. The engine verb: lock the task and its case (1), check the named
# person and their positions (2), rewrite the open tasks (2: delete what is no longer ready,
# insert with the assignee's id looked up inside the INSERT — the rows before the step are the
# restored workflow's READY tasks, not read back), append the event (1), save the case (1); and
# the e-mail outbox's event row for the task that arrives, same transaction (1,
# engine/outbox.py). The answer names the assignee the step looked up itself (it was one more
# read).
ENGINE_STATEMENTS = 8
# The API adds nothing once the bearer's session is remembered (it was 4 statements per call:
# the session, the person, their positions, and the transaction around them).
API_STATEMENTS = ENGINE_STATEMENTS
# The HTML form adds the page's own reads before the verb (task, case, draft, versions,
# documents); the session cookie's lookup is remembered like the API's.
HTML_STATEMENTS = 14  # was 17 before the open-task read and two assignee reads went


@contextmanager
def counted(engine) -> Iterator[list[str]]:
    """Collect every statement the engine's database connection sends inside the block."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many) -> None:
        # SQLite's explicit BEGIN is a statement; PostgreSQL's driver sends its own, unseen.
        if not statement.startswith("BEGIN"):
            statements.append(" ".join(statement.split())[:160])

    event.listen(engine.sql, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sql, "before_cursor_execute", record)
        if SHOW:
            print(f"\n{len(statements)} statements")
            for line in statements:
                print("  ", line)


def started_case(walker):
    walker.start()
    return walker.task("reasignar_solicitud").task_id


def test_completing_a_task_through_the_engine_sends_a_bounded_number_of_statements(
        engine, walker):
    task_id = started_case(walker)
    leader = engine.person(walker.leader)
    data = form_for("reasignar_solicitud", social_worker=walker.social_worker)
    with counted(engine) as statements:
        engine.complete_task(task_id, by=leader, form_data=data)
    assert len(statements) <= ENGINE_STATEMENTS, statements


def test_completing_a_task_through_the_api_sends_a_bounded_number_of_statements(
        engine, walker, database_url):
    app = create_app({"DATABASE_URL": database_url, "ENGINE": engine, "TESTING": True,
                      "SECRET_KEY": "test"})
    client = app.test_client()
    task_id = started_case(walker)
    token = client.post("/api/login", json={"username": walker.leader,
                                             "password": DEMO_PASSWORD}).get_json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=bearer).status_code == 200  # a client's earlier call
    data = form_for("reasignar_solicitud", social_worker=walker.social_worker)
    with counted(engine) as statements:
        response = client.post(f"/api/tasks/{task_id}/complete", json={"data": data},
                               headers=bearer)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert len(statements) <= API_STATEMENTS, statements


def test_completing_a_task_through_the_html_form_sends_a_bounded_number_of_statements(
        engine, walker, web):
    task_id = started_case(walker)
    leader = web(walker.leader)
    leader.get(f"/tareas/{task_id}")
    with counted(engine) as statements:
        done = leader.post(f"/tareas/{task_id}", {"action": "complete", "is_social_case": "true",
                                                  "social_worker": walker.social_worker})
    assert done.status_code == 302, done.get_data(as_text=True)
    assert len(statements) <= HTML_STATEMENTS, statements


# -- the session cache -------------------------------------------------------------------------


def test_a_session_is_looked_up_once_within_the_cache_seconds(engine, people):
    signed = engine.sign_in("ana.guaman", DEMO_PASSWORD)
    engine.session_person(signed.token)
    with counted(engine) as statements:
        again = engine.session_person(signed.token)
    assert statements == [] and again.username == "ana.guaman"


def test_signing_out_ends_a_cached_session_at_once_in_this_process(engine, people):
    signed = engine.sign_in("ana.guaman", DEMO_PASSWORD)
    engine.session_person(signed.token)
    engine.sign_out(signed.token)
    with pytest.raises(NotFound):
        engine.session_person(signed.token)


def test_a_password_change_ends_every_other_cached_session_at_once(engine, people):
    kept = engine.sign_in("ana.guaman", DEMO_PASSWORD)
    other = engine.sign_in("ana.guaman", DEMO_PASSWORD, kind="api")
    engine.session_person(kept.token), engine.session_person(other.token)
    engine.change_password("ana.guaman", DEMO_PASSWORD, "otra-clave-larga-2", keep=kept.token)
    with pytest.raises(NotFound):
        engine.session_person(other.token)
    assert engine.session_person(kept.token).username == "ana.guaman"


def test_a_session_ended_by_another_process_stops_working_within_the_cache_seconds(
        engine, database_url, library, clock, people):
    other = Engine(database_url, library, clock=clock, password_hasher=FAST_HASHER)
    try:
        signed = engine.sign_in("ana.guaman", DEMO_PASSWORD)
        engine.session_person(signed.token)
        other.sign_out(signed.token)
        # Still remembered here: the documented window (at most ``seconds``).
        assert engine.session_person(signed.token).username == "ana.guaman"
        engine.sessions.clear()  # what the seconds passing does
        with pytest.raises(NotFound):
            engine.session_person(signed.token)
    finally:
        other.sql.dispose()


def person_view(person_id: int = 1) -> PersonView:
    return PersonView(id=person_id, username="ana", full_name="Ana", roles=frozenset(),
                      positions=(), audience=frozenset())


def test_a_cached_session_goes_stale_after_its_seconds_and_at_its_own_expiry():
    moment = [100.0]
    cache = SessionCache(seconds=3, monotonic=lambda: moment[0])
    now = datetime(2026, 3, 2, 15, tzinfo=UTC)
    cache.put("secreto", person_view(), now + timedelta(minutes=5))
    assert cache.get("secreto", now) == person_view()
    moment[0] += 3.01
    assert cache.get("secreto", now) is None
    cache.put("secreto", person_view(), now + timedelta(minutes=5))
    assert cache.get("secreto", now + timedelta(minutes=5)) is None


def test_a_session_cache_of_zero_seconds_remembers_nothing():
    cache = SessionCache(seconds=0)
    now = datetime(2026, 3, 2, 15, tzinfo=UTC)
    cache.put("secreto", person_view(), now + timedelta(minutes=5))
    assert cache.get("secreto", now) is None


def test_the_session_cache_keeps_at_most_its_size():
    cache = SessionCache(seconds=60, size=2)
    now = datetime(2026, 3, 2, 15, tzinfo=UTC)
    for n in range(3):
        cache.put(f"s{n}", person_view(n), now + timedelta(minutes=5))
    assert cache.get("s0", now) is None and cache.get("s2", now) == person_view(2)


# -- several processes starting at once ----------------------------------------------------------

STARTERS = 4


def _start_up(database_url: str, library, barrier, results) -> None:
    """One app process's start-up: its own engine, the schema, the library's versions."""
    try:
        barrier.wait(timeout=60)
        engine = Engine(database_url, library, password_hasher=FAST_HASHER)
        try:
            engine.create_schema()
            results.put(("ok", engine.publish_library()))
        finally:
            engine.sql.dispose()
    except Exception as failure:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put(("error", f"{type(failure).__name__}: {failure}"))


def test_several_processes_starting_at_once_on_a_fresh_database_all_come_up(
        database_url, library):
    sql = connect(database_url)
    drop_schema(sql)  # fresh: no tables, no versions (PostgreSQL's test database is reused)
    sql.dispose()
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(STARTERS), context.Queue()
    starters = [context.Process(target=_start_up, args=(database_url, library, barrier, results))
                for _ in range(STARTERS)]
    for starter in starters:
        starter.start()
    outcomes = [results.get(timeout=120) for _ in starters]
    for starter in starters:
        starter.join(timeout=30)
    assert [kind for kind, _ in outcomes] == ["ok"] * STARTERS, outcomes
    assert len({str(current) for _, current in outcomes}) == 1  # the same version ids
    sql = connect(database_url)
    try:
        with sql.connect() as connection:
            versions = connection.execute(select(func.count()).select_from(
                ProcessVersionRow)).scalar_one()
            processes = connection.execute(select(func.count()).select_from(
                ProcessRow)).scalar_one()
    finally:
        sql.dispose()
    assert versions == processes == len(library.list())
