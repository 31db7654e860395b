"""The staff pages in Chromium (issue 10): the review loop as the reviewer and the social worker
see it (2.3), and the inbox, task page and case page on a 390 px phone (2.7)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LEADER, SOCIAL_WORKER, screenshot, sign_in
from tests.browser.test_case_list_in_browser import PEOPLE, no_sideways_scroll
from tests.conftest import CaseWalker

pytestmark = pytest.mark.browser

OBSERVATIONS = "Complete el análisis de la red de apoyo familiar."
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def in_review(live_server):
    """A social case waiting for the leader's review of the technical report."""
    walker = CaseWalker(live_server.engine, PEOPLE)
    walker.start(requester_name="Inés Quishpe")
    for activity in ("reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico"):
        walker.do(activity)
    return walker


def test_the_reviewer_reads_the_report_and_returns_it_and_the_social_worker_sees_why(
        new_page, in_review, tmp_path):
    number = in_review.case.number
    review = in_review.task("validar_informe")
    leader = new_page()
    sign_in(leader, LEADER)
    leader.goto(f"/tareas/{review.task_id}")
    document = leader.get_by_role("region", name="Documento en revisión")
    expect(document.get_by_role("heading", name="Informe Técnico de Trabajo Social"))\
        .to_be_visible()
    expect(document).to_contain_text("Vulnerabilidad económica y sobrecarga de cuidado.")
    screenshot(leader, "review-task-desktop", tmp_path)
    leader.get_by_label("No, devolver con observaciones").check()
    leader.get_by_label("Observaciones de la revisión").fill(OBSERVATIONS)
    leader.get_by_role("button", name="Completar").click()
    expect(leader.get_by_role("status").filter(has_text="completada")).to_be_visible()

    worker = new_page()
    sign_in(worker, SOCIAL_WORKER)
    row = worker.locator("table.tasks tbody tr").filter(has_text=number)
    expect(row).to_contain_text("Devuelto con observaciones")
    row.get_by_role("link", name=re.compile("^Emitir diagnóstico")).click()
    returned = worker.get_by_role("note")
    expect(returned).to_contain_text("Devuelto con observaciones")
    expect(returned).to_contain_text(OBSERVATIONS)
    expect(returned).to_contain_text("Ana Guamán")
    screenshot(worker, "returned-task-desktop", tmp_path)

    leader.goto(f"/casos/{number}")
    timeline = leader.get_by_role("region", name="Historial").get_by_role("listitem")
    expect(timeline.filter(has_text="Devolvió con observaciones «Revisar y validar"))\
        .to_contain_text(OBSERVATIONS)


@pytest.fixture(scope="module")
def assigned(live_server):
    """A social case whose next task is the social worker's (whatever ran before)."""
    walker = CaseWalker(live_server.engine, PEOPLE)
    walker.start(requester_name="Rosa Chicaiza")
    walker.do("reasignar_solicitud")
    return walker


def test_inbox_task_and_case_pages_fit_a_phone_with_a_menu(new_page, assigned, tmp_path):
    page: Page = new_page()
    page.set_viewport_size(PHONE)
    sign_in(page, SOCIAL_WORKER)
    no_sideways_scroll(page)
    menu = page.get_by_role("button", name="Menú")
    nav = page.get_by_role("navigation", name="Navegación principal")
    expect(menu).to_be_visible()
    expect(nav).to_be_hidden()
    first = page.locator("table.tasks tbody tr").first
    expect(first.locator("td[data-label='Actividad']")).to_be_visible()
    box = first.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    screenshot(page, "inbox-390", tmp_path)
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Casos")).to_be_visible()
    screenshot(page, "inbox-390-menu", tmp_path)
    no_sideways_scroll(page)
    menu.click()
    expect(nav).to_be_hidden()

    first.locator("td[data-label='Actividad'] a").click()
    expect(page.get_by_role("button", name="Completar")).to_be_visible()
    no_sideways_scroll(page)
    screenshot(page, "task-390", tmp_path)

    page.goto(f"/casos/{assigned.case.number}")
    expect(page.locator("#diagram[data-ready='true']")).to_be_attached()
    no_sideways_scroll(page)
    screenshot(page, "case-390", tmp_path)


def test_the_case_diagram_zooms_in_out_and_fits(new_page, in_review, tmp_path):
    page: Page = new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, LEADER)
    page.goto(f"/casos/{in_review.case.number}")
    diagram = page.locator("#diagram[data-ready='true']")
    expect(diagram).to_be_attached()
    fitted = int(diagram.get_attribute("data-zoom") or "0")
    tools = page.get_by_role("toolbar", name="Vista del diagrama")
    tools.get_by_role("button", name="Acercar").click()
    expect(diagram).not_to_have_attribute("data-zoom", str(fitted))
    assert int(diagram.get_attribute("data-zoom") or "0") > fitted
    tools.get_by_role("button", name="Alejar").click()
    tools.get_by_role("button", name="Alejar").click()
    assert int(diagram.get_attribute("data-zoom") or "0") < fitted
    tools.get_by_role("button", name="Ajustar").click()
    expect(diagram).to_have_attribute("data-zoom", str(fitted))
    # At full width the whole procedure is shown, wide enough to read its names.
    box = diagram.bounding_box()
    assert box is not None and box["width"] >= 1100 and box["height"] >= 560
    diagram.screenshot(path=str(screenshot(page, "case-desktop", tmp_path).with_name(
        "diagram-social-case.png")))
