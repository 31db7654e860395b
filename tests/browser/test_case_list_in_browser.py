"""Finding a case once one's task is done: from the inbox to a closed case through the case list,
following a case and seeing its news on the home page; the list at phone width (390 px)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    COORDINATOR,
    LEADER,
    SOCIAL_PEOPLE,
    diagnosed_case,
    recent_day,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.browser
# test_staff_pages_in_browser.py imports it from here.
PEOPLE = SOCIAL_PEOPLE


@pytest.fixture(scope="module")
def cases(live_server):
    """A closed social case, and one waiting for the social worker's analysis."""
    walker = diagnosed_case(live_server, requester_name="Rosa Chicaiza")
    walker.do("validar_informe", requires_support=False)
    closed = walker.do("archivar_expediente")
    if "atender_vencimiento" in walker.open_activities():
        # The form data's March dates put the diagnosis deadline in the past (real clock).
        closed = walker.do("atender_vencimiento")
    assert closed.status == "completed", walker.open_activities()
    # Requested today: its diagnosis deadline is ahead (no escalation task beside analysis).
    walker.start(requester_name="Marco Tipán", request_date=recent_day().isoformat())
    open_case = walker.do("reasignar_solicitud")
    return {"closed": closed, "open": open_case, "walker": walker}


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    wide = page.evaluate("""(limit) => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > limit + 1)
        .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '')
        .trim().slice(0, 30))""", viewport)
    assert width <= viewport, f"the page is {width} px wide in a {viewport} px window: {wide}"


def test_a_person_goes_from_the_inbox_to_a_closed_case_through_the_case_list(
        page: Page, cases, tmp_path):
    closed = cases["closed"]
    sign_in(page, LEADER)
    # Her task in it is done: the inbox no longer lists the case.
    expect(page.get_by_role("main")).not_to_contain_text(closed.number)
    page.get_by_role("navigation", name="Navegación principal").get_by_role(
        "link", name="Casos").click()
    expect(page.get_by_role("heading", name="Casos", level=1)).to_be_visible()
    page.get_by_role("link", name="En los que participé").click()
    expect(page.get_by_role("link", name="En los que participé")).to_have_attribute(
        "aria-current", "page")
    page.get_by_label("Estado").select_option(label="Cerrado")
    page.get_by_label("Buscar").fill("chicaiza")
    page.get_by_role("button", name="Filtrar").click()
    rows = page.locator("table.case-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(closed.number)
    expect(rows.first).to_contain_text("Cerrado")
    screenshot(page, "case-list-desktop", tmp_path)
    rows.first.get_by_role("link", name=closed.number).click()

    expect(page.get_by_role("heading", name=f"Caso {closed.number}")).to_be_visible()
    expect(page.locator("dd[data-status]")).to_contain_text("Cerrado")
    page.get_by_role("button", name="Seguir").click()
    expect(page.get_by_role("status").filter(has_text="Sigue el caso")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Siguiendo"))).to_be_visible()
    page.get_by_role("link", name="Bandeja de tareas").first.click()
    following = page.get_by_role("region", name=re.compile("^Seguimiento"))
    expect(following).to_contain_text(closed.number)
    expect(following).to_contain_text("Sin novedades")


def test_a_followed_case_shows_its_news_until_it_is_opened(new_page, cases, tmp_path):
    open_case = cases["open"]
    page = new_page()
    sign_in(page, COORDINATOR)
    page.goto("/casos")
    row = page.locator("table.case-list tbody tr").filter(has_text=open_case.number)
    expect(row).to_contain_text("Analizar la solicitud de intervención")
    expect(row).to_contain_text("a cargo de Sofía Naranjo")
    row.get_by_role("button", name="Seguir").click()
    expect(page.locator("table.case-list tbody tr").filter(
        has_text=open_case.number).get_by_role("button", name=re.compile("Siguiendo"))
    ).to_be_visible()

    cases["walker"].case = open_case
    cases["walker"].do("analizar_solicitud")
    page.goto("/bandeja")
    following = page.get_by_role("region", name=re.compile("^Seguimiento"))
    expect(following).to_contain_text("1 novedad")
    expect(following).to_contain_text("Analizar la solicitud de intervención")
    expect(following).to_contain_text("Sofía Naranjo")
    screenshot(page, "inbox-following", tmp_path)
    following.get_by_role("link", name=open_case.number).click()
    expect(page.get_by_role("heading", name=f"Caso {open_case.number}")).to_be_visible()
    page.goto("/bandeja")
    expect(page.get_by_role("region", name=re.compile("^Seguimiento"))).to_contain_text(
        "Sin novedades")


def test_the_case_list_works_at_phone_width(new_page, cases, tmp_path):
    page = new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, LEADER)
    page.goto("/casos")
    expect(page.locator("table.case-list tbody tr")).to_have_count(2)
    no_sideways_scroll(page)
    first = page.locator("table.case-list tbody tr").first
    box = first.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    # Each case is a card: its fields are labelled, one under the other.
    expect(first.locator("td[data-label='Procedimiento']")).to_be_visible()
    screenshot(page, "case-list-390", tmp_path)
