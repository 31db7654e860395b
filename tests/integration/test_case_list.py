"""The case list (/casos, GET /api/cases): who sees which case, filters, search, order, pages,
following a case and its news; one statement read along the case indexes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import event, insert

from engine import CaseFilters, InvalidCaseCursor, NotFound
from engine.assignment import position_key
from engine.store import OpenTaskRow
from tests.conftest import CaseWalker, form_for

pytestmark = pytest.mark.integration


def numbers(page):
    return [c.number for c in page.items]


def walk_to_the_end(walker: CaseWalker, **start):
    walker.start(**start)
    walker.do("reasignar_solicitud")
    for activity in ("analizar_solicitud", "realizar_entrevista", "emitir_diagnostico"):
        walker.do(activity)
    walker.do("validar_informe", requires_support=False)
    walker.do("archivar_expediente")
    assert walker.case.status == "completed"
    return walker.case


@pytest.fixture
def three_cases(engine, people, clock):
    """Three social cases a day apart: the first closed, the second at analysis, the last new."""
    walker = CaseWalker(engine, people)
    closed = walk_to_the_end(walker, requester_name="Rosa Chicaiza")
    clock.advance(days=1)
    analysis = walker.start(requester_name="Marco Tipán")
    walker.do("reasignar_solicitud")
    analysis = walker.case
    clock.advance(days=1)
    fresh = walker.start(requester_name="Nube_Ortiz 100%")
    return closed, analysis, fresh


# -- who sees what ---------------------------------------------------------------------------


def test_everyone_with_a_role_in_the_procedure_sees_its_cases_and_nobody_else(
        engine, people, three_cases):
    every = sorted(c.number for c in three_cases)
    for role in ("coordinador_th", "lider_seguridad", "trabajador_social"):
        for username in people[role]:
            assert sorted(numbers(engine.list_cases(username))) == every, username
    for role in ("procesos", "unidad", "planificacion", "maxima_autoridad", "mdt"):
        for username in people.get(role, []):
            # A social case is confidential: outside its procedure it does not exist.
            assert numbers(engine.list_cases(username)) == [], username
            with pytest.raises(NotFound):
                engine.case(three_cases[0].number, by=username)


def test_a_person_without_a_role_sees_only_a_case_offered_to_their_position(
        engine, people, three_cases):
    head = engine.add_person("jefa.unidad", "Jefa de Unidad", password="clave-segura-99",
                             positions=("Directora de Pruebas",))
    assert head.roles == frozenset()
    assert numbers(engine.list_cases(head)) == []
    code = next(a for a in head.audience if a.startswith("position:")).split(":", 1)[1]
    _closed, analysis, _fresh = three_cases
    with engine.sql.begin() as connection:
        connection.execute(insert(OpenTaskRow), [dict(
            task_id="offered-to-the-unit", case_id=analysis.id, process_id="social_case",
            process_name="x", case_number=analysis.number, requester=None,
            activity_id="analizar_solicitud", activity_name="x", lane=None, role="unidad",
            audience=position_key(code), assignee_id=None, form_id=None,
            created_at=analysis.started_at, due_at=None)])

    assert numbers(engine.list_cases(head)) == [analysis.number]
    # The case page follows the same rule.
    assert engine.case(analysis.number, by=head).number == analysis.number
    with pytest.raises(NotFound):
        engine.case(three_cases[0].number, by=head)


def test_a_page_is_one_statement_besides_the_version_lookup(engine, people, three_cases):
    leader = engine.person(people["lider_seguridad"][0])
    engine.list_cases(leader)  # process versions parsed and cached
    statements = []

    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(engine.sql, "before_cursor_execute", count)
    try:
        page = engine.list_cases(leader)
    finally:
        event.remove(engine.sql, "before_cursor_execute", count)
    assert len(page.items) == 3
    # The person's readable versions (a handful of rows), then the page itself.
    assert len(statements) == 2
    assert "process_version" in statements[0] and "open_task" in statements[1]


# -- what a row says -------------------------------------------------------------------------


def test_each_row_says_where_the_case_stands_and_who_holds_it(engine, people, three_cases):
    closed, analysis, fresh = three_cases
    page = engine.list_cases(people["lider_seguridad"][0])
    rows = {c.number: c for c in page.items}
    assert [c.number for c in page.items] == [fresh.number, analysis.number, closed.number]

    assert rows[closed.number].status == "completed"
    assert rows[closed.number].current_activity is None
    assert rows[closed.number].completed_at is not None
    assert rows[closed.number].due_state == "sin_plazo"

    at_analysis = rows[analysis.number]
    assert at_analysis.status == "open"
    assert at_analysis.current_activity == "Analizar la solicitud de intervención"
    assert at_analysis.current_holder == "Sofía Naranjo"  # the social worker chosen in step 2
    assert at_analysis.due_state == "a_tiempo" and at_analysis.due_at is not None
    assert at_analysis.requester == "Marco Tipán"
    assert at_analysis.process_name == "Atención y Seguimiento de Casos Sociales"
    assert at_analysis.started_by == people["coordinador_th"][0]

    assert rows[fresh.number].current_holder is None  # offered to the leaders' role
    assert rows[fresh.number].open_tasks == 1


# -- filters, search, order, pages -----------------------------------------------------------


def test_filters_by_state_procedure_and_start_dates(engine, people, three_cases, clock):
    closed, analysis, fresh = three_cases
    leader = people["lider_seguridad"][0]

    def listed(**filters):
        return sorted(numbers(engine.list_cases(leader, filters=CaseFilters(**filters))))

    assert listed(status="completed") == [closed.number]
    assert listed(status="open") == sorted([analysis.number, fresh.number])
    assert listed(process_id="sla_planning") == []
    assert listed(process_id="social_case") == sorted(c.number for c in three_cases)
    first_day = date(2026, 3, 2)  # the fake clock's Monday, in Quito
    assert listed(started_from=first_day, started_to=first_day) == [closed.number]
    assert listed(started_from=first_day + timedelta(days=1)) == sorted(
        [analysis.number, fresh.number])
    assert listed(started_to=first_day + timedelta(days=1)) == sorted(
        [closed.number, analysis.number])
    assert listed(started_from=first_day + timedelta(days=5)) == []


def test_my_requests_and_the_cases_i_took_part_in(engine, people, three_cases):
    closed, analysis, fresh = three_cases
    coordinator, other_coordinator = people["coordinador_th"]
    social_worker, other_worker = people["trabajador_social"]
    mine = CaseFilters(scope="requested")
    assert len(engine.list_cases(coordinator, filters=mine).items) == 3
    assert engine.list_cases(other_coordinator, filters=mine).items == ()
    took_part = CaseFilters(scope="participated")
    # The social worker completed tasks of the closed case only (the others wait for them).
    assert numbers(engine.list_cases(social_worker, filters=took_part)) == [closed.number]
    assert engine.list_cases(other_worker, filters=took_part).items == ()
    leader = people["lider_seguridad"][0]
    assert sorted(numbers(engine.list_cases(leader, filters=took_part))) == sorted(
        [closed.number, analysis.number])


def test_search_by_number_or_requester_and_odd_search_text(engine, people, three_cases):
    closed, analysis, fresh = three_cases
    leader = people["lider_seguridad"][0]

    def found(text):
        return numbers(engine.list_cases(leader, filters=CaseFilters(search=text)))

    assert found("tipán") == [analysis.number]
    assert found(closed.number.lower()) == [closed.number]
    assert found("0001") == [closed.number]
    # LIKE's wildcards are literal text here.
    assert found("%") == [fresh.number] and found("_") == [fresh.number]
    assert found("nube_") == [fresh.number]
    assert found("a" * 100_000) == []
    assert found("\x00") == numbers(engine.list_cases(leader))
    assert found("😀'; DROP TABLE case; --") == []


def test_sorting_and_a_cursor_walk_every_case_once(engine, people, three_cases):
    leader = people["lider_seguridad"][0]
    every = sorted(c.number for c in three_cases)
    for sort in ("started_at", "number", "requester", "process"):
        for descending in (False, True):
            filters = CaseFilters(sort=sort, descending=descending)
            seen, cursor = [], None
            for _ in range(5):
                page = engine.list_cases(leader, filters=filters, cursor=cursor, per_page=1)
                seen += numbers(page)
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert sorted(seen) == every and len(seen) == 3, (sort, descending)
            if sort == "number":
                assert seen == (every[::-1] if descending else every)
    by_requester = numbers(engine.list_cases(leader, filters=CaseFilters(
        sort="requester", descending=False)))
    assert by_requester == [three_cases[1].number, three_cases[2].number,
                            three_cases[0].number]  # Marco, Nube, Rosa


@pytest.mark.parametrize("cursor", [
    "x", "!!!!", "e30", "a" * 10_000, "W10", "eyJzIjoibnVtYmVyIiwiZCI6dHJ1ZSwiayI6WzFdfQ",
    "eyJzIjoic3RhcnRlZF9hdCIsImQiOnRydWUsImsiOlsibm8iLDFdfQ", "ñandú", "\x00"])
def test_a_forged_cursor_is_refused_with_a_message(engine, people, cursor):
    with pytest.raises(InvalidCaseCursor) as refused:
        engine.list_cases(people["lider_seguridad"][0], cursor=cursor)
    assert "cursor" in refused.value.message


def test_a_cursor_of_another_order_is_refused(engine, people, three_cases):
    leader = people["lider_seguridad"][0]
    page = engine.list_cases(leader, per_page=1)
    assert page.next_cursor
    with pytest.raises(InvalidCaseCursor):
        engine.list_cases(leader, filters=CaseFilters(sort="number"), cursor=page.next_cursor)


# -- following -------------------------------------------------------------------------------


def test_following_a_case_shows_its_news_until_the_case_page_is_opened(
        engine, people, clock):
    walker = CaseWalker(engine, people)
    case = walker.start()
    coordinator = people["coordinador_th"][0]
    engine.follow_case(case.number, by=coordinator)
    engine.follow_case(case.number, by=coordinator)  # twice is once
    [followed] = engine.followed_cases(coordinator)
    assert followed.number == case.number and followed.news == 0
    assert followed.last_event_type is None

    clock.advance(hours=1)
    walker.do("reasignar_solicitud")
    clock.advance(hours=1)
    walker.do("analizar_solicitud")
    [followed] = engine.followed_cases(coordinator)
    assert followed.news == 2
    assert followed.last_event_type == "task_completed"
    assert followed.last_activity_name == "Analizar la solicitud de intervención"
    assert followed.last_actor == "Sofía Naranjo"
    assert followed.last_event_at == clock.now
    assert engine.list_cases(coordinator).items[0].following is True

    assert engine.case_seen(case.number, by=coordinator) is True
    assert engine.followed_cases(coordinator)[0].news == 0
    # One's own actions are no news.
    social_worker = people["trabajador_social"][0]
    engine.follow_case(case.id, by=social_worker)
    walker.do("realizar_entrevista")
    assert engine.followed_cases(social_worker)[0].news == 0
    assert engine.followed_cases(coordinator)[0].news == 1

    engine.unfollow_case(case.number, by=coordinator)
    assert engine.followed_cases(coordinator) == []
    assert engine.case_seen(case.number, by=coordinator) is False
    assert engine.list_cases(coordinator).items[0].following is False
    assert numbers(engine.list_cases(social_worker, filters=CaseFilters(
        scope="following"))) == [case.number]


def test_nobody_follows_a_case_they_may_not_see(engine, people):
    walker = CaseWalker(engine, people)
    case = walker.start()
    outsider = people["procesos"][0]
    for verb in (engine.follow_case, engine.unfollow_case, engine.case_seen):
        with pytest.raises(NotFound):
            verb(case.number, by=outsider)
    with pytest.raises(NotFound):
        engine.follow_case("CS-2026-9999", by=people["coordinador_th"][0])


# -- the page and the API --------------------------------------------------------------------


def test_the_case_list_page_lists_filters_and_follows(web, people, three_cases):
    closed, analysis, fresh = three_cases
    client = web(people["lider_seguridad"][0])
    page = client.get("/casos")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for case in three_cases:
        assert case.number in html
    assert "Marco Tipán" in html and "Analizar la solicitud de intervención" in html
    html = client.get("/casos?state=completed").get_data(as_text=True)
    assert closed.number in html and fresh.number not in html
    html = client.get("/casos?from=03/03/2026").get_data(as_text=True)
    assert closed.number not in html and fresh.number in html
    html = client.get("/casos?q=tip%C3%A1n").get_data(as_text=True)
    assert analysis.number in html and fresh.number not in html

    response = client.post(f"/casos/{analysis.number}/seguir", data={"next": "/casos"})
    assert response.status_code == 302
    home = client.get("/bandeja").get_data(as_text=True)
    following = home.split('id="following-title"')[1]
    assert "Seguimiento" in home and analysis.number in following and "Sin novedades" in following
    page = client.get(f"/casos/{analysis.number}").get_data(as_text=True)
    assert 'aria-pressed="true"' in page
    response = client.post(f"/casos/{analysis.number}/dejar-de-seguir", data={"next": "/casos"})
    assert response.status_code == 302 and response.headers["Location"] == "/casos"
    assert 'id="following-title"' not in client.get("/bandeja").get_data(as_text=True)
    # A forged "next" never leads off the site.
    response = client.post(f"/casos/{analysis.number}/seguir",
                           data={"next": "https://evil.example/"})
    assert response.headers["Location"] == f"/casos/{analysis.number}"


def test_the_home_page_tells_what_changed_in_a_followed_case(web, people, engine, clock):
    walker = CaseWalker(engine, people)
    case = walker.start()
    client = web(people["coordinador_th"][0])
    response = client.post(f"/casos/{case.number}/seguir")
    assert response.status_code == 302, response.get_data(as_text=True)
    clock.advance(hours=1)  # (within the sign-in session's lifetime)
    walker.do("reasignar_solicitud")
    walker.do("analizar_solicitud")
    home = client.get("/bandeja").get_data(as_text=True)
    news = home.split('id="following-title"')[1]
    assert "2 novedades" in news and "Completó la tarea" in news
    assert "Analizar la solicitud de intervención" in news and "02/03/2026 11:00" in news
    client.get(f"/casos/{case.number}")
    assert "Sin novedades" in client.get("/bandeja").get_data(as_text=True)


@pytest.mark.parametrize("query", [
    "cursor=forjado", "cursor=" + "a" * 5000, "from=99/99/9999", "to=2026-13-40",
    "sort=nada&dir=raro", "q=" + "x" * 100_000, "state=%00", "process=%00", "scope=todo",
    "q=%ED%A0%80", "from=" + "1" * 10_000, "cursor=%00", "process=" + "p" * 5000])
def test_odd_input_never_breaks_the_page(web, people, three_cases, query):
    client = web(people["lider_seguridad"][0])
    response = client.get(f"/casos?{query}")
    assert response.status_code in (200, 400)
    assert "Traceback" not in response.get_data(as_text=True)


def test_people_outside_the_procedure_get_an_empty_list_and_cannot_follow(
        web, people, three_cases):
    client = web(people["procesos"][0])
    html = client.get("/casos").get_data(as_text=True)
    for case in three_cases:
        assert case.number not in html
    assert client.post(f"/casos/{three_cases[0].number}/seguir").status_code == 404


def _token(app, username):
    response = app.test_client().post("/api/login", json={"username": username,
                                                          "password": "clave-de-prueba-1"})
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def test_the_api_lists_pages_and_follows(app, people, three_cases):
    closed, analysis, fresh = three_cases
    http = app.test_client()
    leader = _token(app, people["lider_seguridad"][0])
    first = http.get("/api/cases?per_page=2&sort=number&dir=asc", headers=leader)
    assert first.status_code == 200, first.get_data(as_text=True)
    body = first.get_json()
    assert [c["number"] for c in body["cases"]] == sorted(c.number for c in three_cases)[:2]
    assert body["cases"][0]["status"] == "completed"
    second = http.get(f"/api/cases?per_page=2&sort=number&dir=asc&cursor={body['next_cursor']}",
                      headers=leader).get_json()
    assert [c["number"] for c in second["cases"]] == [fresh.number]
    assert second["next_cursor"] is None
    filtered = http.get("/api/cases?state=open&scope=participated&q=tip",
                        headers=leader).get_json()
    assert [c["number"] for c in filtered["cases"]] == [analysis.number]
    assert http.get("/api/cases?cursor=nope", headers=leader).status_code == 400
    assert http.get("/api/cases?from=31/31/2026", headers=leader).status_code == 400
    assert http.get("/api/cases").status_code == 401

    assert http.post(f"/api/cases/{analysis.number}/follow",
                     headers=leader).get_json() == {"following": True}
    assert [c["number"] for c in http.get("/api/cases?scope=following",
                                          headers=leader).get_json()["cases"]] == [
        analysis.number]
    assert http.delete(f"/api/cases/{analysis.number}/follow",
                       headers=leader).get_json() == {"following": False}
    outsider = _token(app, people["procesos"][0])
    assert http.post(f"/api/cases/{analysis.number}/follow",
                     headers=outsider).status_code == 404


def test_walker_form_data_still_valid_for_closing_a_case(engine, people):
    # Guards the helper above: validar_informe without support goes straight to archiving.
    assert form_for("validar_informe", requires_support=False)["requires_support"] is False


# -- at scale --------------------------------------------------------------------------------


@pytest.fixture
def crowded(engine):
    """20,000 cases written straight into the tables (bench/case_list_bench.py's generator)."""
    from bench.case_list_bench import populate

    return populate(engine, 20_000)


def _plan(engine, person, filters):
    statement = engine.case_list_statement(person, filters=filters)
    compiled = statement.compile(dialect=engine.sql.dialect,
                                 compile_kwargs={"literal_binds": True})
    with engine.sql.connect() as connection:
        if engine.sql.dialect.name == "sqlite":
            return "\n".join(row[-1] for row in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}"))
        connection.exec_driver_sql("SET jit = off")
        return "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {compiled}"))


def test_at_scale_each_page_walks_a_case_index_in_order(engine, crowded):
    people, head = crowded["people"], crowded["head"]
    leader = people["ana.guaman"]
    expected = [
        (leader, CaseFilters(), "ix_case_started"),
        (leader, CaseFilters(scope="participated"), "ix_case_started"),
        (people["lucia.andrade"], CaseFilters(scope="requested"), "ix_case_started_by"),
        (leader, CaseFilters(process_id="social_case", status="open"),
         "ix_case_process_started"),
        (leader, CaseFilters(sort="requester", descending=False), "ix_case_requester_key"),
    ]
    for person, filters, index in expected:
        plan = _plan(engine, person, filters)
        page_part = plan.split("SCAN page")[0] if "SCAN page" in plan else plan
        assert index in plan, (filters, plan)
        if engine.sql.dialect.name == "sqlite":
            # Read in index order, stopping after a page: no sort of every visible case.
            assert "USE TEMP B-TREE" not in page_part, (filters, plan)
        else:
            assert 'Seq Scan on "case"' not in plan, (filters, plan)
        assert len(engine.list_cases(person, filters=filters).items) == 50
    # Without a role, the few cases one's tasks and actions name are found first.
    plan = _plan(engine, head, CaseFilters())
    if engine.sql.dialect.name == "sqlite":
        assert "MULTI-INDEX OR" in plan and "SCAN case" not in plan, plan
    visible = engine.list_cases(head, per_page=100).items
    assert 0 < len(visible) < 100 and all(c.status == "open" for c in visible)
