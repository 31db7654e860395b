"""The auditor's conformance page in a real browser: from the menu to the procedure's fitness,
the case forced off the model, its replay, and the discovered map drawn as a picture; the page at
phone width (390 px)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import AUDITOR, diagnosed_case, recent_day, screenshot, sign_in
from tests.integration.test_conformance import _append_event

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def cases(live_server):
    """Two closed social cases (one with the review loop) and one forced off the model."""
    closed = []
    for rejected in (False, True):
        walker = diagnosed_case(live_server, requester_name="Rosa Chicaiza",
                                request_date=recent_day().isoformat())
        if rejected:
            walker.do("validar_informe", report_validated=False,
                      review_observations="Falta detallar las estrategias.")
            walker.do("emitir_diagnostico")
        walker.do("validar_informe", report_validated=True, requires_support=False)
        closed.append(walker.do("archivar_expediente"))
    walker.start(requester_name="Luis Toapanta", request_date=recent_day().isoformat())
    walker.do("reasignar_solicitud")
    _append_event(live_server.engine, walker.case.number, "emitir_diagnostico")
    return closed, walker.case


def test_an_auditor_finds_the_case_off_the_model_and_the_map(page: Page, cases, tmp_path):
    closed, forced = cases
    sign_in(page, AUDITOR)
    page.get_by_role("navigation", name="Navegación principal").get_by_role(
        "link", name="Conformidad").click()
    page.get_by_role("link", name="Conformidad y mapa").first.click()
    expect(page.get_by_role("heading", name="Conformidad con el procedimiento")).to_be_visible()
    expect(page.locator("#case-count")).to_have_text("3")
    expect(page.locator("#non-conforming-count")).to_have_text("1")
    row = page.locator(f'tr[data-case="{forced.number}"]')
    expect(row).to_contain_text("Emitir diagnóstico")
    expect(row).to_contain_text("Analizar la solicitud de intervención")
    expect(page.locator(f'tr[data-case="{closed[0].number}"]')).to_have_count(0)
    picture = page.get_by_role("img", name=re.compile("Mapa descubierto"))
    expect(picture).to_be_visible()
    box = picture.bounding_box()
    assert box and box["width"] > 500 and box["height"] > 400
    expect(page.locator("svg.follows-map g.node")).to_have_count(9)  # 7 activities, start, end
    expect(page.locator("table.follows")).to_contain_text("Revisar y validar el Informe")
    path = screenshot(page, "audit-conformance", tmp_path)
    assert path.stat().st_size > 10_000

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("#average-fitness")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width} px)"
    screenshot(page, "audit-conformance-390", tmp_path)

    row.get_by_role("link", name=forced.number).click()
    expect(page.locator("#replay")).to_have_attribute("data-ready", "true")


@pytest.fixture(scope="module")
def old_case(live_server):
    """A social case archived in 2020: its 5-year retention has passed."""
    walker = diagnosed_case(live_server, requester_name="Carmen Quishpe",
                            request_date=recent_day().isoformat())
    walker.do("validar_informe", report_validated=True, requires_support=False)
    return walker.do("archivar_expediente", archived_date="2020-06-15")


def test_the_owner_signs_an_acta_de_eliminacion(page: Page, live_server, old_case, tmp_path):
    from engine.demo import seed_demo_people
    from tests.conftest import DEMO_PASSWORD

    owner = next(a.username for a in seed_demo_people(live_server.engine, DEMO_PASSWORD)
                 if "propietario_cs" in a.roles)
    sign_in(page, owner)
    page.get_by_role("navigation", name="Navegación principal").get_by_role(
        "link", name="Conservación").click()
    expect(page.get_by_role("heading", name="Conservación de expedientes")).to_be_visible()
    expect(page.locator("#passed")).to_contain_text("15/06/2025")
    screenshot(page, "audit-retention", tmp_path)
    page.get_by_label(f"Eliminar {old_case.number}").check()
    page.get_by_label("Base legal").fill("PRO-GTH-GTS-002 §13: conservación de 5 años cumplida.")
    page.get_by_role("button", name="Firmar el acta y eliminar").click()
    expect(page.get_by_role("heading", name=re.compile("Acta de eliminación AE-"))).to_be_visible()
    expect(page.locator(f'tr[data-case="{old_case.number}"]')).to_be_visible()
    expect(page.locator("#act-hash")).to_have_text(re.compile("^[0-9a-f]{64}$"))
    screenshot(page, "audit-disposal", tmp_path)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width} px)"
    screenshot(page, "audit-disposal-390", tmp_path)
    page.goto("/auditoria/retencion")
    screenshot(page, "audit-retention-390", tmp_path)
    # Disposed: no longer awaiting disposal; listed among the actas.
    expect(page.locator(f'#passed tr[data-case="{old_case.number}"]')).to_have_count(0)
    expect(page.locator("ul.acts")).to_contain_text("AE-")
