"""A process manager in the browser: the social case's dashboard (filter a quarter, drill into
a number, download a CSV), the heatmap on the diagram, and the charter's dashboard; screenshots
at desktop width and at 390 px to check that the charts render."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from engine.clock import LOCAL_TZ
from tests.browser.conftest import LiveServer, screenshot, sign_in
from tests.conftest import form_for

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def social_cases(live_server: LiveServer) -> list[str]:
    """Three requests received today: one referred, one in analysis, one just registered."""
    eng = live_server.engine
    coordinator = eng.people_with_role("coordinador_th")[0].username
    leader = eng.people_with_role("lider_seguridad")[0].username
    worker = eng.people_with_role("trabajador_social")[0].username
    today = eng.clock().astimezone(LOCAL_TZ).date().isoformat()
    numbers = []
    for step in range(3):
        case = eng.start_case("social_case", by=coordinator,
                              data=form_for("recibir_solicitud", request_date=today))
        numbers.append(case.number)
        task = case.open_tasks[0].task_id
        if step == 0:
            eng.complete_task(task, by=leader, form_data=form_for(
                "reasignar_solicitud", is_social_case=False, referred_to="Dirección Médica",
                referral_reason="Tema de salud."))
        elif step == 1:
            eng.complete_task(task, by=leader, form_data=form_for(
                "reasignar_solicitud", social_worker=worker))
    return numbers


def _quarter_key(live_server: LiveServer) -> str:
    today = live_server.engine.clock().astimezone(LOCAL_TZ).date()
    return f"{today.year}-T{(today.month - 1) // 3 + 1}"


def _charts_render(page) -> None:
    charts = page.locator("figure.chart svg")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 2
    box = charts.first.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50


def test_a_manager_filters_a_quarter_drills_into_a_number_and_downloads_csv(
        live_server, social_cases, new_page, tmp_path: Path):
    manager = live_server.engine.people_with_role("gestor_cs")[0].username
    page = new_page()
    sign_in(page, manager)
    page.get_by_role("link", name="Indicadores de gestión").click()
    page.get_by_role("link", name="Atención y Seguimiento de Casos Sociales").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Atención y Seguimiento de Casos Sociales")
    quarter = _quarter_key(live_server)
    page.locator("#periodo").select_option(quarter)
    page.get_by_role("button", name="Ver").click()
    expect(page).to_have_url(f"{live_server.url}/gestion/casos-sociales?periodo={quarter}"
                             "&unidad=")
    expect(page.locator("#numerador")).to_have_text("1 atendidas")
    expect(page.locator("#denominador")).to_have_text("3 recibidas")
    expect(page.locator(".indicator-card .value")).to_have_text("33,3 %")
    expect(page.get_by_text("Definición exacta")).to_be_visible()
    _charts_render(page)
    shot = screenshot(page, "dashboard-social", tmp_path)
    assert shot.stat().st_size > 20_000

    page.locator("#denominador").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Solicitudes recibidas")
    for number in social_cases:
        expect(page.get_by_role("link", name=number)).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Descargar CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("Caso;Recibido;Estado")
    assert all(number in text for number in social_cases)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/gestion/casos-sociales?periodo={quarter}")
    _charts_render(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    screenshot(page, "dashboard-social-390", tmp_path)


def test_the_heatmap_puts_counts_on_the_diagram_and_lists_an_elements_cases(
        live_server, social_cases, new_page, tmp_path: Path):
    manager = live_server.engine.people_with_role("gestor_cs")[0].username
    page = new_page()
    sign_in(page, manager)
    page.goto(f"/gestion/mapa/social_case?periodo={_quarter_key(live_server)}")
    expect(page.locator("#heatmap[data-ready='true']")).to_be_attached()
    badge = page.locator(".heat-badge[data-element='reasignar_solicitud']")
    expect(badge).to_contain_text("2 casos")
    screenshot(page, "dashboard-heatmap", tmp_path)
    badge.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "Recibir y reasignar la solicitud")
    expect(page.get_by_role("link", name=social_cases[1])).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    page.go_back()
    expect(page.locator("#heatmap[data-ready='true']")).to_be_attached()
    screenshot(page, "dashboard-heatmap-390", tmp_path)


def test_the_charters_manager_opens_the_charter_dashboard(live_server, new_page,
                                                          tmp_path: Path):
    manager = live_server.engine.people_with_role("gestor_carta")[0].username
    page = new_page()
    sign_in(page, manager)
    page.get_by_role("link", name="Indicadores de gestión").click()
    page.get_by_role("link", name="Carta Institucional de Servicios").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Carta Institucional de Servicios")
    expect(page.locator("#tabla-estados")).to_contain_text("Publicado")
    screenshot(page, "dashboard-charter", tmp_path)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    screenshot(page, "dashboard-charter-390", tmp_path)
    assert page.goto("/gestion/casos-sociales").status == 403
