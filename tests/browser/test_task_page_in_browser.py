"""The task form as a person sees it: fields that become required show it as the person fills
the form, the error summary takes focus and leads to each field, a Spanish file picker, and the
form kept with a clear message when someone else takes the task meanwhile (desktop and 390 px)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import COORDINATOR, LEADER, SOCIAL_WORKER, screenshot, sign_in
from tests.conftest import CaseWalker

pytestmark = pytest.mark.browser

PEOPLE = {"coordinador_th": [COORDINATOR], "lider_seguridad": [LEADER, "pablo.reyes"],
          "trabajador_social": [SOCIAL_WORKER]}
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def _mark_of(page: Page, key: str):
    return page.locator(f'[data-field="{key}"] .req-mark').first


@pytest.mark.parametrize("width", [1280, 390])
def test_a_field_becomes_required_as_the_person_fills_the_form_and_errors_lead_to_it(
        new_page, width, tmp_path):
    page = new_page()
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, COORDINATOR)
    page.goto("/casos/nuevo/social_case")
    relationship = page.locator("#f-requester_relationship")
    expect(_mark_of(page, "requester_relationship")).to_be_hidden()
    expect(relationship).not_to_have_attribute("aria-required", "true")

    page.get_by_label("La institución (autoridades o compañeros de trabajo)").check()
    expect(_mark_of(page, "requester_relationship")).to_be_visible()
    expect(relationship).to_have_attribute("aria-required", "true")
    page.get_by_label("El propio servidor legislativo").check()
    expect(_mark_of(page, "requester_relationship")).to_be_hidden()
    page.get_by_label("Un familiar del servidor").check()

    page.locator("#f-beneficiary_id_number").fill("12345")
    page.get_by_role("button", name=re.compile("Registrar|Iniciar|Enviar|Crear")).last.click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link", name="Relación con el servidor")).to_be_visible()
    expect(summary).to_contain_text("Debe tener 10 dígitos")
    expect(_mark_of(page, "requester_relationship")).to_be_visible()
    screenshot(page, f"task-form-errors-{width}", tmp_path)
    # The form fits the window (the top navigation at phone width is issue 10, item 7).
    right = page.evaluate("document.querySelector('main form').getBoundingClientRect().right")
    assert right <= width

    summary.get_by_role("link", name="Relación con el servidor").click()
    expect(relationship).to_be_focused()


def test_the_file_picker_speaks_spanish_and_names_the_chosen_file(new_page, tmp_path):
    page = new_page()
    sign_in(page, COORDINATOR)
    page.goto("/casos/nuevo/social_case")
    picker = page.locator(".file-pick")
    expect(picker).to_contain_text("Elegir archivo")
    expect(picker).to_contain_text("Ningún archivo elegido")
    document = tmp_path / "solicitud.pdf"
    document.write_bytes(PDF)
    page.locator("#f-attachments").set_input_files(str(document))
    expect(picker.locator(".file-names")).to_have_text("solicitud.pdf")


def test_the_social_worker_picker_is_marked_required_after_yes_it_proceeds(
        new_page, live_server, tmp_path):
    walker = CaseWalker(live_server.engine, PEOPLE)
    walker.start()
    task = walker.task("reasignar_solicitud")
    page = new_page()
    sign_in(page, LEADER)
    page.goto(f"/tareas/{task.task_id}")
    expect(page.get_by_text("Al completar esta tarea quedará a su nombre")).to_be_visible()
    page.get_by_label("Sí, procede").check()
    expect(page.locator('[data-field="social_worker"]')).to_be_visible()
    expect(_mark_of(page, "social_worker")).to_be_visible()
    expect(page.locator("#f-social_worker")).to_have_attribute("aria-required", "true")
    screenshot(page, "task-conditional-social-worker", tmp_path)


def test_someone_else_claiming_the_task_keeps_what_i_typed_and_says_who(
        new_page, live_server, tmp_path):
    walker = CaseWalker(live_server.engine, PEOPLE)
    walker.start()
    task = walker.task("reasignar_solicitud")
    page = new_page()
    page.set_viewport_size({"width": 390, "height": 860})
    sign_in(page, LEADER)
    page.goto(f"/tareas/{task.task_id}")
    page.locator("#f-assessment").fill("Mi análisis, escrito con cuidado")
    live_server.engine.claim(task.task_id, by="pablo.reyes")
    page.get_by_role("button", name="Completar").click()

    expect(page.locator("#task-fate")).to_contain_text("Pablo Reyes tomó esta tarea")
    expect(page.locator("#f-assessment")).to_have_value("Mi análisis, escrito con cuidado")
    expect(page.get_by_role("button", name="Guardar como borrador")).to_be_visible()
    expect(page.get_by_role("link", name="Volver a la bandeja")).to_be_visible()
    screenshot(page, "task-claimed-meanwhile-390", tmp_path)


PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def diagnosis(live_server):
    """A social case at the diagnosis: the side column holds the request and the interviews."""
    walker = CaseWalker(live_server.engine, PEOPLE)
    walker.start(requester_name="Carmen Toaquiza")
    for activity in ("reasignar_solicitud", "analizar_solicitud", "realizar_entrevista"):
        walker.do(activity)
    return walker


def test_on_a_phone_the_form_comes_first_and_the_case_folds_below_it(new_page, diagnosis,
                                                                     tmp_path):
    from tests.browser.test_case_list_in_browser import no_sideways_scroll

    page = new_page()
    page.set_viewport_size(PHONE)
    sign_in(page, SOCIAL_WORKER)
    page.goto(f"/tareas/{diagnosis.task('emitir_diagnostico').task_id}")
    first = page.locator("form.task-form [data-field] :is(input, textarea, select)").first
    expect(first).to_be_visible()
    box = first.bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["height"], box
    side = page.get_by_role("complementary", name="El caso hasta ahora")
    request_data = side.get_by_text("Rosa Chicaiza").first
    expect(request_data).to_be_hidden()  # folded
    form_box, side_box = page.locator("form.task-form").bounding_box(), side.bounding_box()
    assert form_box is not None and side_box is not None
    assert side_box["y"] >= form_box["y"] + form_box["height"]  # below the form
    # The page ends soon after the form: the folded side is one line (3,605 px unfolded).
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= form_box["y"] + form_box["height"] + 300, height
    no_sideways_scroll(page)
    screenshot(page, "task-390-folded", tmp_path)

    side.locator("summary").first.click()
    expect(request_data).to_be_visible()
    no_sideways_scroll(page)
    screenshot(page, "task-390-unfolded", tmp_path)

    page.set_viewport_size({"width": 1280, "height": 900})
    page.reload()
    expect(side.get_by_text("Rosa Chicaiza").first).to_be_visible()  # open beside the form
    screenshot(page, "task-1280-side", tmp_path)


def test_on_a_phone_the_reviewer_finds_the_decision_first_and_the_report_folded(
        new_page, diagnosis, tmp_path):
    from tests.browser.test_case_list_in_browser import no_sideways_scroll

    diagnosis.do("emitir_diagnostico")
    page = new_page()
    page.set_viewport_size(PHONE)
    sign_in(page, LEADER)
    page.goto(f"/tareas/{diagnosis.task('validar_informe').task_id}")
    decision = page.locator("form.task-form [data-field] input").first
    box = decision.bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["height"], box
    document = page.get_by_role("region", name="Documento en revisión")
    report_text = document.get_by_text("Vulnerabilidad económica y sobrecarga de cuidado.")
    expect(report_text).to_be_hidden()
    no_sideways_scroll(page)
    screenshot(page, "review-task-390-folded", tmp_path)
    document.locator("summary").click()
    expect(report_text).to_be_visible()
    expect(document.get_by_role("link", name="Abrir el Informe Técnico en otra pestaña"))\
        .to_be_visible()
    no_sideways_scroll(page)
    screenshot(page, "review-task-390-open", tmp_path)


def test_a_date_of_something_done_shows_its_limit_and_a_future_one_is_refused(new_page,
                                                                              tmp_path):
    from datetime import timedelta

    from tests.browser.conftest import recent_day, typed_date

    page = new_page()
    sign_in(page, COORDINATOR)
    page.goto("/casos/nuevo/social_case")
    received = page.locator("#f-request_date")
    expect(received).to_have_attribute("max", recent_day().isoformat())
    hint = page.locator('[data-field="request_date"] .date-limit')
    expect(hint).to_have_text(f"Hasta hoy, {typed_date(recent_day())}: no puede ser una fecha "
                              "futura.")
    received.fill(typed_date(recent_day() + timedelta(days=1)))
    page.get_by_role("button", name=re.compile("Registrar|Iniciar|Enviar|Crear")).last.click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary.locator("li").filter(has_text="Fecha de recepción de la solicitud"))\
        .to_contain_text("No puede ser una fecha futura")
    screenshot(page, "future-reception-date-refused", tmp_path)
