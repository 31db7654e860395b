"""The service charter's dashboard: latest classification per commitment, deviation counts,
services per state, control charts and improvement actions, checked against the case's own data
read independently; its page, downloads and the *no cumple* alert."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine import PermissionDenied, charter
from engine.control_chart import individuals_chart
from tests.integration.test_sla_support import SERVICE

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.integration.test_sla_support"]

ACTION = {"commitment_id": "C1", "action_type": "correctiva",
          "description": "Abrir dos ventanillas en hora pico.",
          "cause_addressed": "Personal insuficiente entre 10:00 y 12:00.",
          "responsible": "Coordinación de Centros de Atención", "deadline": "2026-06-30"}


@pytest.fixture
def engine(sla_engine):
    return sla_engine


@pytest.fixture
def people(sla_people):
    return sla_people


def observed(c1: float, c2: float = 12) -> list[dict[str, object]]:
    return [{"commitment_id": "C1", "observed": c1, "data_source": "sistema_gestion"},
            {"commitment_id": "C2", "observed": c2, "data_source": "registro_atencion"}]


@pytest.fixture
def measured(sla, clock):
    """A published service with two measured periods: C1 fails twice, an action is open."""
    sla.publish()
    sla.fire_period_close(clock)
    sla.do("seg_recolectar_datos", observations=observed(0.80))
    sla.run("seg_verificar_cumplimiento")
    sla.do("seg_identificar_desviaciones", deviation_analyses=[{
        "commitment_id": "C1", "cause_origin": "operativo_interno",
        "root_cause": "Personal insuficiente en hora pico.", "ola_breach": True,
        "remediation_applied": True, "remediation_detail": "Atención preferente."}])
    sla.do("seg_elaborar_informe")
    sla.do("seg_acciones_mejora", new_actions=[ACTION])
    sla.run("seg_aprobar_plan", "seg_remitir_plan", "seg_revisar_vigencia")
    sla.fire_period_close(clock, datetime(2026, 7, 1, 13, tzinfo=UTC))
    sla.do("seg_recolectar_datos", observations=observed(0.85, 14), action_progress=[
        {"action_id": "AM-001", "progress_note": "Una ventanilla abierta."}])
    clock.set(datetime(2026, 7, 15, 15, tzinfo=UTC))  # past the action's deadline (30/06)
    return sla


def test_the_figures_match_the_cases_own_data(engine, people, measured):
    board = engine.charter_dashboard(people["gestor_carta"][0])
    data = measured.case.data
    # Independently: the history's periods, then the current matrix once collected.
    periods = [p["rows"] for p in data["followup_history"]] + [data["followup_matrix"]]
    by_id = {c.commitment_id: c for c in board.commitments}
    assert set(by_id) == {"C1", "C2"}
    for cid, status in by_id.items():
        rows = [next(r for r in period if r["commitment_id"] == cid) for period in periods]
        assert [m.observed for m in status.measures] == [r["observed"] for r in rows]
        assert status.latest.compliance == rows[-1]["compliance"]
        assert status.latest.deviation == rows[-1]["deviation"]
        assert status.limits == individuals_chart([r["observed"] for r in rows])
    assert by_id["C1"].latest.compliance == "no_cumple"
    latest = [next(r for r in data["followup_matrix"] if r["commitment_id"] == c)
              for c in ("C1", "C2")]
    for level in ("leve", "moderada", "critica"):
        assert board.severities[level] == sum(r["deviation"] == level for r in latest)
    states = dict(board.states)
    assert states[charter.current_state(engine, SERVICE)] == 1
    actions = data["improvement_actions"]
    assert [(a.action_id, a.status) for a in board.actions] == [
        (a["action_id"], a["status"]) for a in actions]
    assert board.open_actions == sum(a["status"] in ("pendiente", "en_ejecucion")
                                     for a in actions)
    assert board.overdue_actions == sum(a["status"] in ("pendiente", "en_ejecucion")
                                        and a["deadline"] < "2026-07-15" for a in actions)
    assert board.overdue_actions == 1


def test_a_commitment_that_turns_no_cumple_alerts_the_owner_and_the_manager(engine, people,
                                                                            measured, web):
    for role in ("gestor_carta", "propietario_carta"):
        alerts = engine.manager_alerts(people[role][0])
        assert [a.kind for a in alerts] == ["compromiso_no_cumple"]
        assert "C1" in alerts[0].message and "no cumple" in alerts[0].message
    assert engine.manager_alerts(people["unidad"][0] if "unidad" in people
                                 else people["mdt"][0]) == []
    page = web(people["gestor_carta"][0]).get("/bandeja").get_data(as_text=True)
    assert "Alertas de gestión" in page and "compromiso C1" in page


def test_the_page_shows_the_control_charts_and_downloads_its_tables(engine, people, measured,
                                                                   web):
    client = web(people["gestor_carta"][0])
    page = client.get("/gestion/carta-de-servicios").get_data(as_text=True)
    assert "No cumple" in page and "Gráfico de control" in page and "<svg" in page
    assert "AM-001" in page
    csv_text = client.get("/gestion/carta-de-servicios/compromisos.csv").get_data(as_text=True)
    assert "C1" in csv_text and "No cumple" in csv_text and "0,8" in csv_text
    pdf = client.get("/gestion/carta-de-servicios.pdf")
    assert pdf.data.startswith(b"%PDF")
    assert web(people["trabajador_social"][0]).get(
        "/gestion/carta-de-servicios").status_code == 403
    with pytest.raises(PermissionDenied):
        engine.charter_dashboard(people["gestor_cs"][0])
