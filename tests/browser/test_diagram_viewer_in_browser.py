"""The shared diagram loader (web/static/diagram-viewer.js) in a real browser: when the diagram
cannot be drawn — its BPMN does not arrive, or the viewer script does not load — the case page
says so in Spanish where the diagram would be, and raises no JavaScript error."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LEADER, diagnosed_case, recent_day, screenshot, sign_in

pytestmark = pytest.mark.browser

FAILED = "No se pudo mostrar el diagrama."


@pytest.fixture(scope="module")
def case(live_server):
    """A social case waiting for the leader's validation."""
    walker = diagnosed_case(live_server, requester_name="Rosa Chicaiza",
                            request_date=recent_day().isoformat())
    return walker.case


def test_a_diagram_that_does_not_arrive_is_replaced_by_a_sentence(new_page, case, tmp_path):
    page: Page = new_page()
    sign_in(page, LEADER)
    page.route("**/diagrama.bpmn", lambda route: route.fulfill(status=500, body="no"))
    page.goto(f"/casos/{case.number}")
    diagram = page.locator("#diagram")
    expect(diagram).to_have_text(FAILED)
    expect(diagram).not_to_have_attribute("data-ready", "true")
    expect(diagram.locator("svg")).to_have_count(0)
    screenshot(page, "case-diagram-failed", tmp_path)


def test_without_the_viewer_script_the_case_page_says_the_diagram_is_missing(new_page, case):
    page: Page = new_page()
    sign_in(page, LEADER)
    page.route("**/bpmn-navigated-viewer.production.min.js", lambda route: route.abort())
    page.goto(f"/casos/{case.number}")
    expect(page.locator("#diagram")).to_have_text(FAILED)


def test_the_same_page_draws_the_diagram_when_everything_arrives(new_page, case):
    page: Page = new_page()
    sign_in(page, LEADER)
    page.goto(f"/casos/{case.number}")
    diagram = page.locator("#diagram[data-ready='true']")
    expect(diagram).to_be_attached()
    expect(diagram.locator(".djs-element.cauce-active")).not_to_have_count(0)
    expect(page.locator("#diagram")).not_to_contain_text(FAILED)
