"""The managers' pages: who may open them (route × role), the drill-down, CSV/XLSX/PDF
downloads in Spanish formats, the heatmap's table, and the alerts on the home page."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from tests.conftest import CaseWalker

pytestmark = pytest.mark.integration

ROUTES = [
    "/gestion",
    "/gestion/casos-sociales?periodo=2026-T1",
    "/gestion/casos-sociales/casos?periodo=2026-T1&cifra=recibidas",
    "/gestion/casos-sociales/indicador-trimestral.csv?periodo=2026-T1",
    "/gestion/casos-sociales/tiempos.xlsx?periodo=2026-T1",
    "/gestion/casos-sociales.pdf?periodo=2026-T1",
    "/gestion/mapa/social_case?periodo=2026-T1",
    "/gestion/mapa/social_case/elemento/reasignar_solicitud?periodo=2026-T1",
    "/gestion/mapa/social_case/diagrama.bpmn",
]


@pytest.fixture
def cases(engine, people, clock):
    """Q1 2026: three requests; one referred, one validated, one still in analysis."""
    numbers = []
    for step in range(3):
        clock.set(datetime(2026, 3, 2 + step, 15, tzinfo=UTC))
        walker = CaseWalker(engine, people)
        walker.start(request_date=f"2026-03-0{2 + step}")
        numbers.append(walker.case.number)
        clock.advance(hours=2)
        if step == 0:
            walker.do("reasignar_solicitud", is_social_case=False,
                      referred_to="Dirección Médica", referral_reason="Tema de salud.")
        elif step == 1:
            for activity in ("reasignar_solicitud", "analizar_solicitud",
                             "realizar_entrevista", "emitir_diagnostico"):
                walker.do(activity)
                clock.advance(days=1)
            walker.do("validar_informe", report_validated=True, requires_support=False)
        else:
            walker.do("reasignar_solicitud")
    clock.set(datetime(2026, 4, 6, 15, tzinfo=UTC))
    return numbers


def test_the_manager_and_the_owner_open_every_page_and_others_get_403(web, people, cases):
    allowed = [web(people[role][0]) for role in ("gestor_cs", "propietario_cs")]
    # The owner and the manager hold lane positions too (the Coordinador/a General de Talento
    # Humano, the Líder de Seguridad): a lane alone opens nothing.
    refused = {role: web(people[role][0])
               for role in ("trabajador_social", "auditor_gth", "planificacion", "gestor_carta")}
    for url in ROUTES:
        for client in allowed:
            assert client.get(url).status_code == 200, url
        for role, client in refused.items():
            # The charter's manager has a list of dashboards too, just not this procedure's.
            expected = 200 if (url, role) == ("/gestion", "gestor_carta") else 403
            assert client.get(url).status_code == expected, (role, url)


def test_the_page_states_the_definition_and_links_each_number_to_its_cases(web, people, cases):
    client = web(people["gestor_cs"][0])
    page = client.get("/gestion/casos-sociales?periodo=2026-T1").get_data(as_text=True)
    assert "Definición exacta" in page and "no proceder como caso social" in page
    assert "66,7 %" in page  # 2 of 3 attended, Spanish decimal comma
    assert "Bajo la meta" in page
    assert "<svg" in page  # the charts, with their tables below
    drill = client.get("/gestion/casos-sociales/casos?periodo=2026-T1&cifra=atendidas")
    text = drill.get_data(as_text=True)
    assert cases[0] in text and cases[1] in text and cases[2] not in text
    assert f'href="/casos/{cases[0]}"' in text
    assert "02/03/2026" in text  # dd/mm/yyyy


def test_tables_download_as_spanish_csv_and_as_xlsx(web, people, cases):
    client = web(people["gestor_cs"][0])
    response = client.get("/gestion/casos-sociales/indicador-trimestral.csv?periodo=2026-T1")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    lines = response.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("Periodo;Solicitudes recibidas;Atendidas")
    assert lines[1].split(";")[:5] == ["T1 2026", "3", "2", "1", "66,7"]

    from openpyxl import load_workbook

    response = client.get("/gestion/casos-sociales/casos.xlsx?periodo=2026-T1&cifra=recibidas")
    sheet = load_workbook(io.BytesIO(response.data)).active
    numbers = sorted(row[0] for row in sheet.iter_rows(min_row=3, values_only=True))
    assert numbers == sorted(cases)
    pdf = client.get("/gestion/casos-sociales.pdf?periodo=2026-T1")
    assert pdf.headers["Content-Type"] == "application/pdf" and pdf.data.startswith(b"%PDF")


def test_the_heatmap_counts_the_cases_that_passed_each_element(web, people, cases):
    client = web(people["gestor_cs"][0])
    response = client.get("/gestion/mapa/social_case/mapa.csv?periodo=2026-T1")
    rows = {line.split(";")[0]: line.split(";")[1:]
            for line in response.get_data(as_text=True).lstrip("\ufeff").splitlines()[1:]}
    assert rows["Recibir y reasignar la solicitud de intervención"][0] == "3"
    assert rows["Revisar y validar el Informe Técnico de Trabajo Social"][0] == "1"
    assert rows["Caso derivado"][0] == "1"
    listed = client.get("/gestion/mapa/social_case/elemento/validar_informe?periodo=2026-T1")
    text = listed.get_data(as_text=True)
    assert cases[1] in text and cases[0] not in text


def test_a_quarter_below_target_alerts_the_manager_and_owner_on_their_home_page(web, people,
                                                                                cases):
    for role in ("gestor_cs", "propietario_cs"):
        page = web(people[role][0]).get("/bandeja").get_data(as_text=True)
        assert "Alertas de gestión" in page
        assert "T1 2026: 66,7 % (2 de 3 solicitudes atendidas)" in page
    page = web(people["trabajador_social"][0]).get("/bandeja").get_data(as_text=True)
    assert "Alertas de gestión" not in page
    assert "Indicadores de gestión" not in page


def test_a_quarter_on_target_raises_no_alert(engine, people, clock):
    clock.set(datetime(2026, 3, 2, 15, tzinfo=UTC))
    walker = CaseWalker(engine, people)
    walker.start(request_date="2026-03-02")
    walker.do("reasignar_solicitud", is_social_case=False, referred_to="Dirección Médica",
              referral_reason="Tema de salud.")
    clock.set(datetime(2026, 4, 6, 15, tzinfo=UTC))
    assert engine.manager_alerts(people["gestor_cs"][0]) == []
