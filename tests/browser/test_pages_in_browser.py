"""What every page must get right whatever the case: typed markup shown as text, due states in
words, signing out, and confidential cases hidden from people outside the procedure."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from engine import Engine
from tests.browser.conftest import (
    COORDINATOR,
    LEADER,
    NAMES,
    SOCIAL_WORKER,
    LiveServer,
    recent_day,
    sign_in,
    typed_date,
)
from tests.conftest import DEMO_PASSWORD, form_for

pytestmark = pytest.mark.browser

SCRIPT_NAME = "<script>alert('nombre')</script>Rosa"
SCRIPT_SUMMARY = 'Situación <img src=x onerror="alert(1)"> <b>grave</b> & urgente'
OUTSIDER = "marta.sosa"


def start_case(engine: Engine, request_date: date, **fields: Any) -> Any:
    """Open a social case directly through the engine (these tests are about the pages)."""
    return engine.start_case("social_case", by=COORDINATOR, data=form_for(
        "recibir_solicitud", request_date=request_date.isoformat(), **fields))


def days_back(engine: Engine, working_days: int) -> date:
    """The day ``working_days`` working days before today (Ecuador's calendar)."""
    day, counted = recent_day(), 0
    while counted < working_days:
        day -= timedelta(days=1)
        if engine.calendar.is_working_day(day):
            counted += 1
    return day


@pytest.fixture(scope="module")
def outsider(live_server: LiveServer) -> str:
    """A person whose position has no role in the social case (an accountant)."""
    engine = live_server.engine
    with engine._writer.begin() as session:
        position = engine.directory.ensure_position(session, "Analista de Contabilidad",
                                                    source="test")
        engine.directory.create_person(session, OUTSIDER, "Marta Sosa", now=engine.clock(),
                                       password=DEMO_PASSWORD, positions=[position])
    return OUTSIDER


def test_typed_markup_is_shown_as_text_on_the_case_page_and_in_the_inbox(
        new_page: Any) -> None:
    coordinator = new_page()
    sign_in(coordinator, COORDINATOR)
    coordinator.goto("/casos/nuevo/social_case")
    coordinator.get_by_label("Fecha de recepción de la solicitud").fill(typed_date(recent_day()))
    coordinator.get_by_role("radio", name="El propio servidor legislativo").check()
    coordinator.get_by_label("Nombre de quien solicita").fill(SCRIPT_NAME)
    # Left empty on purpose: the page comes back once with the markup in the fields.
    coordinator.get_by_role("radio", name="Formal", exact=True).check()
    coordinator.get_by_role("radio", name="Escrita", exact=True).check()
    coordinator.get_by_label("Resumen de la situación").fill(SCRIPT_SUMMARY)
    coordinator.get_by_role("button", name="Registrar solicitud").click()
    expect(coordinator.get_by_label("Servidor/a legislativo/a a quien se atiende")
           ).to_have_accessible_description(re.compile("Este campo es obligatorio$"))
    expect(coordinator.get_by_label("Nombre de quien solicita")).to_have_value(SCRIPT_NAME)
    expect(coordinator.get_by_label("Resumen de la situación")).to_have_value(SCRIPT_SUMMARY)

    coordinator.get_by_label("Servidor/a legislativo/a a quien se atiende").fill(
        "<i>Kevin</i> Chicaiza")
    coordinator.get_by_role("button", name="Registrar solicitud").click()
    expect(coordinator.get_by_role("heading", name=re.compile(r"^Caso CS-"))).to_be_visible()
    number = coordinator.url.rsplit("/", 1)[-1]

    # The case page: the literal text is there, and it made no element.
    expect(coordinator.locator("dl.case-facts")).to_contain_text(SCRIPT_NAME)
    data = coordinator.get_by_role("region", name="Datos del caso")
    expect(data).to_contain_text(SCRIPT_SUMMARY)
    expect(data).to_contain_text("<i>Kevin</i> Chicaiza")
    for tag in ("main script", "main img", "main b", "main i"):
        expect(coordinator.locator(tag)).to_have_count(0)

    # The leader's inbox lists the case with its requester as typed.
    leader = new_page()
    sign_in(leader, LEADER)
    row = leader.get_by_role("region", name=re.compile("^Disponibles para mi rol")).get_by_role(
        "row").filter(has_text=number)
    expect(row).to_contain_text(SCRIPT_NAME)
    expect(leader.locator("main script")).to_have_count(0)
    # …and so does the task page's summary of the case.
    row.get_by_role("link", name="Recibir y reasignar la solicitud de intervención").click()
    side = leader.get_by_role("complementary")
    expect(side).to_contain_text(SCRIPT_NAME)
    expect(side).to_contain_text(SCRIPT_SUMMARY)
    expect(leader.locator("main img, main script")).to_have_count(0)


def test_due_states_are_written_not_only_coloured(live_server: LiveServer,
                                                  page: Page) -> None:
    engine = live_server.engine
    overdue = start_case(engine, recent_day(60), requester_name="Vencida Uno")
    soon = start_case(engine, days_back(engine, 14), requester_name="Pronto Dos")
    on_time = start_case(engine, recent_day(), requester_name="Tiempo Tres")
    # A case past activity 6: activity 7 has no deadline.
    no_deadline = start_case(engine, recent_day(), requester_name="Sin Plazo Cuatro")
    for activity in ("reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico", "validar_informe"):
        task = next(t for t in no_deadline.open_tasks if t.activity_id == activity)
        data = form_for(activity)
        if activity == "reasignar_solicitud":
            data["social_worker"] = SOCIAL_WORKER
        by = LEADER if task.role == "lider_seguridad" else SOCIAL_WORKER
        no_deadline = engine.complete_task(task.task_id, by=by, form_data=data)
    expected = {overdue.number: "Vencida", soon.number: "Por vencer",
                on_time.number: "A tiempo", no_deadline.number: "Sin plazo"}
    # The set-up itself: each case is in the state its name says.
    states = {case.number: engine.due_state(case.open_tasks[0].due_at)
              for case in (overdue, soon, on_time, no_deadline)}
    assert states == {overdue.number: "vencida", soon.number: "por_vencer",
                      on_time.number: "a_tiempo", no_deadline.number: "sin_plazo"}

    sign_in(page, LEADER)
    available = page.get_by_role("region", name=re.compile("^Disponibles para mi rol"))
    for number, label in expected.items():
        row = available.get_by_role("row").filter(has_text=number)
        if number != no_deadline.number:
            row = row.filter(has_text="Recibir y reasignar la solicitud de intervención")
        badge = row.locator(".badge")
        expect(badge).to_have_text(label)
        expect(badge).to_be_visible()
    # Filtering by state uses the same words.
    page.get_by_label("Estado").select_option(label="Vencida")
    page.get_by_role("button", name="Filtrar").click()
    expect(available.get_by_role("row").filter(has_text=re.compile(r"CS-\d"))).to_have_count(1)
    expect(available).to_contain_text(overdue.number)

    # The case page and the task page say it too.
    page.goto(f"/casos/{overdue.number}")
    deadline = page.locator("dl.case-facts dt:has-text('Plazo del diagnóstico') + dd")
    expect(deadline.locator(".badge")).to_have_text("Vencida")
    due_day = deadline.inner_text().split()[0]
    # The flag says when the deadline passed (not when the case was flagged).
    expect(page.locator("dd[data-status] .badge")).to_have_text(f"Plazo vencido el {due_day}")
    page.goto(f"/casos/{soon.number}")
    expect(deadline.locator(".badge")).to_have_text("Por vencer")
    expect(page.locator("dd[data-status] .badge")).to_have_count(0)
    page.get_by_role("region", name="Tareas abiertas").get_by_role("link").click()
    expect(page.locator(".page-head .badge")).to_have_text("Por vencer")


def test_signing_out_ends_the_session(page: Page) -> None:
    sign_in(page, SOCIAL_WORKER)
    expect(page.get_by_text(NAMES[SOCIAL_WORKER], exact=True)).to_be_visible()
    page.get_by_role("button", name="Salir").click()
    expect(page).to_have_url(re.compile(r"/entrar$"))
    expect(page.get_by_role("status")).to_have_text("Sesión cerrada.")
    expect(page.get_by_role("button", name="Salir")).to_have_count(0)
    # The inbox now asks for the password again, and comes back after it.
    page.goto("/bandeja")
    expect(page).to_have_url(re.compile(r"/entrar\?next=(/|%2F)bandeja$"))
    expect(page.get_by_role("heading", name="Ingresar a Cauce")).to_be_visible()
    page.get_by_label("Usuario").fill(SOCIAL_WORKER)
    page.get_by_label("Contraseña").fill("no-es-la-clave")
    page.get_by_role("button", name="Ingresar").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("Usuario")).to_have_value(SOCIAL_WORKER)


def test_a_person_outside_the_procedure_gets_not_found_for_a_confidential_case(
        live_server: LiveServer, outsider: str, new_page: Any) -> None:
    case = start_case(live_server.engine, recent_day(), requester_name="Confidencial Cinco")
    task = case.open_tasks[0]
    page = new_page()
    sign_in(page, outsider)
    expect(page.get_by_text("No hay tareas en esta lista.")).to_have_count(2)
    for path in (f"/casos/{case.number}", f"/casos/{case.number}/informe",
                 f"/casos/{case.number}/diagrama.bpmn", f"/tareas/{task.task_id}"):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        expect(page.get_by_role("heading", name="No encontrado")).to_be_visible()
        expect(page.get_by_text("No encontramos lo que busca.")).to_be_visible()
        expect(page.locator("main")).not_to_contain_text("Confidencial Cinco")
    # The same answer as for a case that does not exist: nothing tells them it is there.
    response = page.goto("/casos/CS-1999-9999")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="No encontrado")).to_be_visible()

    # Someone of the procedure opens the same address.
    insider = new_page()
    sign_in(insider, LEADER)
    response = insider.goto(f"/casos/{case.number}")
    assert response is not None and response.status == 200
    expect(insider.locator("dl.case-facts")).to_contain_text("Confidencial Cinco")
