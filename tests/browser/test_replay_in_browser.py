"""The auditor's replay page in a real browser: an auditor finds a closed social case in the case
list, replays it on its diagram with the keyboard, sees the review loop's count, and proves it;
the page at phone width (390 px)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import AUDITOR, diagnosed_case, recent_day, screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def closed(live_server):
    """A closed social case whose technical report was rejected once."""
    walker = diagnosed_case(live_server, requester_name="Rosa Chicaiza",
                            request_date=recent_day().isoformat())
    walker.do("validar_informe", report_validated=False,
              review_observations="Falta detallar las estrategias.")
    walker.do("emitir_diagnostico", strategies=["Acompañamiento", "Red de apoyo familiar"])
    walker.do("validar_informe", report_validated=True, requires_support=False)
    case = walker.do("archivar_expediente")
    assert case.status == "completed", walker.open_activities()
    return case


def open_replay(page: Page, number: str) -> None:
    sign_in(page, AUDITOR)
    menu = page.get_by_role("button", name="Menú")
    if menu.is_visible():  # on a phone the navigation folds behind it
        menu.click()
    page.get_by_role("navigation", name="Navegación principal").get_by_role(
        "link", name="Casos", exact=True).click()
    page.get_by_label("Estado").select_option(label="Cerrado")
    page.get_by_label("Buscar").fill("chicaiza")
    page.get_by_role("button", name="Filtrar").click()
    rows = page.locator("table.case-list tbody tr")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link", name=number).click()
    expect(page.get_by_role("heading", name=f"Caso {number}")).to_be_visible()
    page.get_by_role("link", name="Reproducir historial").click()
    expect(page.locator("#replay")).to_have_attribute("data-ready", "true")


def test_an_auditor_replays_a_closed_case_with_the_keyboard_and_proves_it(
        page: Page, closed, tmp_path):
    open_replay(page, closed.number)
    label = page.locator("#step-label")
    expect(label).to_contain_text("Paso 1 de")
    panel = page.locator("#step-panel")
    expect(panel).to_contain_text("Inició el caso")
    page.locator("h1").click()  # the keys work anywhere on the page, not only on the slider
    page.keyboard.press("ArrowRight")
    expect(label).to_contain_text("Paso 2 de")
    expect(panel).to_contain_text("Recibir")
    expect(panel).to_contain_text("Lucía Andrade")
    expect(panel.locator(".step-changes li[data-key='requester_name']")).to_contain_text(
        "Rosa Chicaiza")
    expect(panel).to_contain_text("días hábiles")
    page.keyboard.press("ArrowLeft")
    expect(label).to_contain_text("Paso 1 de")
    # The slider itself: End goes to the last step, where the review loop ran twice.
    page.locator("#step").focus()
    page.keyboard.press("End")
    expect(page.locator(".loop-badge[data-element='emitir_diagnostico']")).to_have_text("×2")
    expect(page.locator(".loop-badge[data-element='validar_informe']")).to_have_text("×2")
    expect(page.locator("g[data-element-id='archivar_expediente']")).to_have_class(
        re.compile("cauce-done"))
    # A middle step, for the record: the diagram and the panel side by side.
    total = int(page.locator("#step").get_attribute("max") or "0")
    page.locator("#step").fill(str(total // 2))
    expect(label).to_contain_text(f"Paso {total // 2 + 1} de")
    screenshot(page, "replay-desktop", tmp_path)

    page.get_by_role("button", name="Verificar").click()
    proof = page.locator("#proof")
    expect(proof).to_have_attribute("data-ok", "true")
    expect(proof).to_contain_text("✓")
    expect(page.locator("table.verifications tbody tr")).to_have_count(1)
    expect(page.locator("table.verifications")).to_contain_text(AUDITOR)

    # Her reads of this confidential case are on the record, for her and the other auditors.
    page.get_by_role("link", name="Registro de accesos").click()
    expect(page.locator("#chain")).to_have_attribute("data-ok", "true")
    # Two replays: the page, then the page again with the proof (each fetched its steps).
    expect(page.locator("table.access-log tr[data-what='replay']")).to_have_count(2)
    expect(page.locator("table.access-log tr[data-what='case']").first).to_contain_text(
        closed.number)
    screenshot(page, "access-log-desktop", tmp_path)


def test_the_replay_page_is_usable_at_phone_width(new_page, closed, tmp_path):
    page = new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    open_replay(page, closed.number)
    page.locator("#step").focus()
    page.keyboard.press("End")
    for _ in range(6):
        page.keyboard.press("ArrowLeft")
    expect(page.locator("#step-panel h2")).to_be_visible()
    diagram = page.locator("#replay-diagram").bounding_box()
    assert diagram is not None and diagram["width"] <= 390 and diagram["height"] >= 300
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > 391)
        .slice(0, 6).map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '')
        .trim().slice(0, 30))""")
    assert width <= 390, f"the page scrolls sideways: {width} px: {wide}"
    screenshot(page, "replay-390", tmp_path)
