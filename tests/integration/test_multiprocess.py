"""Two app processes on two ports against one database: what one process keeps in memory (the
workflow cache, the current version of each procedure, the session cache) never serves stale
state after the other process changed it.

Real servers (waitress subprocesses, as ``make run`` and ``make serve-pg`` start them) on the
test database: PostgreSQL when ``TEST_DATABASE_URL`` is set, else a SQLite file both open.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import insert, select, text, update

from engine import Engine
from engine.clock import LOCAL_TZ
from engine.demo import seed_demo_people
from engine.store import (
    Base,
    CaseRow,
    ProcessRow,
    ProcessVersionRow,
    connect,
    install_append_only_guards,
)
from tests.conftest import DEMO_PASSWORD, FAST_HASHER, form_for
from tests.support.processes import Service, app_server, call, cauce_env, login

pytestmark = pytest.mark.integration


class Deployment:
    """Two app servers, A and B, and a signed-in token per role (valid on both)."""

    def __init__(self, a: Service, b: Service, people: dict[str, list[str]]):
        self.a, self.b = a, b
        self.people = people
        self.tokens = {role: login(a.url, names[0], DEMO_PASSWORD)
                       for role, names in people.items()
                       if role in ("coordinador_th", "lider_seguridad", "trabajador_social")}

    def start_case(self, server: Service) -> dict[str, Any]:
        status, body = call(server.url, "POST", "/api/cases", token=self.tokens["coordinador_th"],
                            body={"process": "social_case",
                                  "data": today_form("recibir_solicitud")})
        assert status == 201, body
        return body

    def complete(self, server: Service, task: dict[str, Any]) -> tuple[int, Any]:
        data = today_form(task["activity_id"])
        if task["activity_id"] == "reasignar_solicitud":
            data["social_worker"] = self.people["trabajador_social"][0]
        return call(server.url, "POST", f"/api/tasks/{task['task_id']}/complete",
                    token=self.tokens[task["role"]], body={"data": data})

    def case(self, server: Service, number: str) -> dict[str, Any]:
        status, body = call(server.url, "GET", f"/api/cases/{number}",
                            token=self.tokens["lider_seguridad"])
        assert status == 200, body
        return body


@pytest.fixture(scope="module")
def shared_url(_postgres_url: str | None, tmp_path_factory) -> str:
    """One database for the module's servers (they take ~10 s each to start)."""
    if _postgres_url is None:
        return f"sqlite:///{tmp_path_factory.mktemp('multiprocess') / 'cauce.db'}"
    sql = connect(_postgres_url)
    tables = ", ".join(f'"{t.name}"' for t in reversed(Base.metadata.sorted_tables))
    with sql.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        install_append_only_guards(connection)
    sql.dispose()
    return _postgres_url


@pytest.fixture(scope="module")
def mp_engine(shared_url: str, library) -> Iterator[Engine]:
    """This test's own view of the database (real clock, like the servers)."""
    engine = Engine(shared_url, library, password_hasher=FAST_HASHER)
    engine.create_schema()
    yield engine
    engine.sql.dispose()


@pytest.fixture(scope="module")
def mp_people(mp_engine: Engine) -> dict[str, list[str]]:
    by_role: dict[str, list[str]] = {}
    for account in seed_demo_people(mp_engine, DEMO_PASSWORD):
        for role in account.roles:
            by_role.setdefault(role, []).append(account.username)
    return by_role


@pytest.fixture(scope="module")
def deployment(mp_engine: Engine, mp_people, shared_url: str,
               tmp_path_factory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("servers")
    env = cauce_env(shared_url, workdir)
    servers = [app_server(name, env, workdir, threads=4) for name in ("app-a", "app-b")]
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready(timeout=180)
        yield Deployment(servers[0], servers[1], mp_people)
    finally:
        for server in servers:
            server.stop()


def today_form(activity: str) -> dict[str, Any]:
    """Valid form data dated today: the servers run on the real clock, and a request dated
    months ago would already be past its diagnosis deadline."""
    today = datetime.now(LOCAL_TZ).date().isoformat()

    def dated(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: today if k.endswith("_date") else dated(v) for k, v in value.items()}
        if isinstance(value, list):
            return [dated(v) for v in value]
        return value

    return dated(form_for(activity))


def _activities(case: dict[str, Any]) -> list[str]:
    return sorted(t["activity_id"] for t in case["open_tasks"])


def test_each_process_continues_a_case_the_other_just_moved(deployment, mp_engine, mp_people):
    d = deployment
    case = d.start_case(d.a)
    number = case["number"]
    # Alternating A and B: each process's cached workflow is one step behind.
    steps = [(d.b, "reasignar_solicitud"), (d.a, "analizar_solicitud"),
             (d.b, "realizar_entrevista"), (d.a, "emitir_diagnostico")]
    for server, activity in steps:
        assert _activities(case) == [activity], case["open_tasks"]
        (task,) = case["open_tasks"]
        status, case = d.complete(server, task)
        assert status == 200, case
        # The other process reads what this one wrote, not what it remembers.
        other = d.a if server is d.b else d.b
        seen = d.case(other, number)
        assert _activities(seen) == _activities(case)
    assert _activities(case) == ["validar_informe"]
    assert d.case(d.a, number)["data"]["planned_action"] == "entrevista_y_visita"
    history = mp_engine.history(number, by=mp_people["lider_seguridad"][0])
    assert [e.event_type for e in history].count("task_completed") == 5
    assert mp_engine.replay(number, by=mp_people["lider_seguridad"][0]).proven


def test_one_task_completed_through_both_processes_at_once_succeeds_once_and_409s_once(
        deployment, mp_engine, mp_people):
    d = deployment
    outcomes: Counter[int] = Counter()
    numbers = []
    for _ in range(4):
        case = d.start_case(d.a)
        numbers.append(case["number"])
        (task,) = case["open_tasks"]
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def race(server: Service, task: dict[str, Any] = task,
                 barrier: threading.Barrier = barrier, statuses: list[int] = statuses) -> None:
            barrier.wait()
            statuses.append(d.complete(server, task)[0])

        threads = [threading.Thread(target=race, args=(s,)) for s in (d.a, d.b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(statuses) == [200, 409], statuses
        outcomes.update(statuses)
    for number in numbers:
        history = mp_engine.history(number, by=mp_people["lider_seguridad"][0])
        completed = [e.activity_id for e in history if e.event_type == "task_completed"]
        assert completed == ["recibir_solicitud", "reasignar_solicitud"]
        assert mp_engine.replay(number, by=mp_people["lider_seguridad"][0]).proven
        for server in (d.a, d.b):
            assert _activities(d.case(server, number)) == ["analizar_solicitud"]
    assert outcomes == {200: 4, 409: 4}


def test_a_version_made_current_elsewhere_is_the_one_new_cases_start_on(deployment, mp_engine):
    d = deployment
    before = d.start_case(d.b)
    with mp_engine._writer.begin() as session:
        current = session.scalars(select(ProcessRow.current_version_id).where(
            ProcessRow.process_id == "social_case")).one()
        row = session.get(ProcessVersionRow, current)
        assert row is not None
        # What publishing does today (engine/procedures.py): a new immutable version row and
        # process.current_version_id pointing at it, written by another process.
        newer = session.execute(insert(ProcessVersionRow).values(
            process_id=row.process_id, content_hash="f" * 64, name=row.name + " (v2)",
            bundle=row.bundle, manifest=row.manifest, spec_json=row.spec_json,
            created_at=row.created_at, source="test").returning(ProcessVersionRow.id)).scalar_one()
        session.execute(update(ProcessRow).where(ProcessRow.process_id == "social_case")
                        .values(current_version_id=newer))
    after = {server.name: d.start_case(server) for server in (d.a, d.b)}
    with mp_engine._reader() as session:
        version_of = dict(session.execute(select(CaseRow.number, CaseRow.version_id)).all())
    assert version_of[before["number"]] == current
    assert {version_of[c["number"]] for c in after.values()} == {newer}
    # The cases on the new version run: their first open task can be completed.
    status, _ = d.complete(d.b, after["app-a"]["open_tasks"][0])
    assert status == 200
    with mp_engine._writer.begin() as session:  # the module's other tests use the files' one
        session.execute(update(ProcessRow).where(ProcessRow.process_id == "social_case")
                        .values(current_version_id=current))


def test_a_token_signed_out_on_one_process_stops_working_on_the_other_within_seconds(
        deployment, mp_people):
    d = deployment
    token = login(d.a.url, mp_people["trabajador_social"][1], DEMO_PASSWORD)
    assert call(d.b.url, "GET", "/api/me", token=token)[0] == 200  # B now remembers it
    assert call(d.a.url, "POST", "/api/logout", token=token)[0] == 204
    assert call(d.a.url, "GET", "/api/me", token=token)[0] == 401
    # B's session cache may answer from memory for at most its 3 seconds (README: Production).
    deadline = time.monotonic() + 3.5
    while call(d.b.url, "GET", "/api/me", token=token)[0] != 401:
        assert time.monotonic() < deadline, "B kept accepting a signed-out token"
        time.sleep(0.2)
