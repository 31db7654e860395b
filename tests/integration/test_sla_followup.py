"""§7.3 Seguimiento a la Carta de Servicios: periods on a timer, the decision tables, improvement
actions carried between periods, the review of validity, and a whole lifecycle replayed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine import FormInvalid, NotFound
from engine.charter import IllegalTransition
from tests.integration.test_sla_support import (
    COMMITMENTS,
    OTHER_UNIT_PERSON,
    PERIOD_STEPS,
    REPORT_STEPS,
    UNIT_PERSON,
    sla_form,
)

pytestmark = pytest.mark.integration
# The engine with the charter effects, its people and the case walker.
pytest_plugins = ["tests.integration.test_sla_support"]

COMPLIANT = [{"commitment_id": "C1", "observed": 0.97, "data_source": "sistema_gestion"},
             {"commitment_id": "C2", "observed": 12, "data_source": "registro_atencion"}]
ACTION = {"commitment_id": "C1", "action_type": "correctiva",
          "description": "Abrir dos ventanillas en hora pico.",
          "cause_addressed": "Personal insuficiente entre 10:00 y 12:00.",
          "responsible": "Coordinación de Centros de Atención", "deadline": "2026-06-30"}


def observed(c1: float, c2: float = 12) -> list[dict[str, object]]:
    return [{"commitment_id": "C1", "observed": c1, "data_source": "sistema_gestion"},
            {"commitment_id": "C2", "observed": c2, "data_source": "registro_atencion"}]


def rows(case) -> dict[str, dict[str, object]]:
    return {r["commitment_id"]: r for r in case.data["followup_matrix"]}


def at(year: int, month: int, day: int = 1) -> datetime:
    """08:00 in Quito: the moment a period that ended the day before closes."""
    return datetime(year, month, day, 13, 0, tzinfo=UTC)


def test_the_first_period_closes_at_the_end_of_the_quarter_and_wakes_the_unit(sla, clock):
    sla.publish()
    assert sla.case.open_tasks == ()
    assert (sla.case.data["period_start"], sla.case.data["period_last_day"]) == (
        "2026-03-02", "2026-03-31")

    clock.set(datetime(2026, 4, 1, 12, 59, tzinfo=UTC))
    assert sla.engine.fire_due_timers() == 0
    assert sla.fire_period_close(clock) == 1

    task = sla.task("seg_recolectar_datos")
    assert (task.lane, task.role) == ("unidad", "unidad")
    assert sla.offered_to("seg_recolectar_datos") == {UNIT_PERSON}
    for outsider in (OTHER_UNIT_PERSON, *sla.people["unidad"], sla.person_for("procesos")):
        with pytest.raises(NotFound):
            sla.engine.task(task.task_id, by=outsider)
    history = sla.engine.history(sla.case.number, by=sla.person_for("procesos"))
    assert [e.data["timers"] for e in history if e.event_type == "timer_fired"] == [
        ["seg_cierre_periodo"]]


FREQUENCIES = [
    ("mensual", at(2026, 4), at(2026, 5)),
    ("trimestral", at(2026, 4), at(2026, 7)),
    ("cuatrimestral", at(2026, 5), at(2026, 9)),
    ("semestral", at(2026, 7), at(2027, 1)),
    ("anual", at(2027, 1), at(2028, 1)),
]


@pytest.mark.parametrize(("frequency", "first", "second"), FREQUENCIES,
                         ids=[f[0] for f in FREQUENCIES])
def test_the_follow_up_repeats_at_the_frequency_chosen_for_the_service(sla, clock, frequency,
                                                                       first, second):
    sla.start()
    sla.do("pla_definir_ans")
    sla.do("pla_planificar_publicacion", followup_frequency=frequency)
    sla.run(*REPORT_STEPS)

    for number, moment in ((1, first), (2, second)):
        assert sla.case.data["period_number"] == number
        assert datetime.fromisoformat(sla.case.data["period_closes_at"]) == moment
        clock.set(moment.replace(minute=0, hour=moment.hour - 1))
        assert sla.engine.fire_due_timers() == 0
        assert sla.fire_period_close(clock, moment) == 1
        assert sla.open_activities() == ["seg_recolectar_datos"]
        sla.run(*PERIOD_STEPS)


def test_a_compliant_period_is_classified_and_needs_no_action_plan(sla, clock):
    sla.publish()
    sla.fire_period_close(clock)
    sla.do("seg_recolectar_datos", observations=observed(0.864, 15))

    matrix = rows(sla.case)
    assert matrix["C1"]["compliance"] == "cumplimiento_parcial"   # exactly 90 % of 0.96
    assert (matrix["C1"]["gap"], matrix["C1"]["deviation"]) == (0.1, "leve")
    assert (matrix["C2"]["compliance"], matrix["C2"]["difference"]) == ("cumple", 0)
    assert matrix["C2"]["deviation"] == "ninguna"
    assert sla.case.data["commitment_status"] == {"C1": "en_riesgo", "C2": "estable"}

    sla.run("seg_verificar_cumplimiento", "seg_identificar_desviaciones", "seg_elaborar_informe",
            "seg_acciones_mejora")
    assert sla.open_activities() == ["seg_revisar_vigencia"]
    assert sla.case.data["uncovered_commitments"] == []


def test_a_non_compliant_commitment_produces_an_action_followed_in_later_periods(sla, clock):
    sla.publish()
    sla.fire_period_close(clock)
    sla.do("seg_recolectar_datos", observations=observed(0.80))
    assert (rows(sla.case)["C1"]["compliance"], rows(sla.case)["C1"]["deviation"]) == (
        "no_cumple", "moderada")
    sla.run("seg_verificar_cumplimiento")
    sla.do("seg_identificar_desviaciones", deviation_analyses=[{
        "commitment_id": "C1", "cause_origin": "operativo_interno",
        "root_cause": "Personal insuficiente en hora pico.", "ola_breach": True,
        "remediation_applied": True, "remediation_detail": "Atención preferente."}])
    sla.do("seg_elaborar_informe")
    sla.do("seg_acciones_mejora", new_actions=[ACTION])

    assert (rows(sla.case)["C1"]["cause"], rows(sla.case)["C1"]["remediation_applied"]) == (
        "Personal insuficiente en hora pico.", True)
    assert sla.open_activities() == ["seg_aprobar_plan"]
    assert sla.offered_to("seg_aprobar_plan") == set(sla.people["planificacion"])
    sla.do("seg_aprobar_plan")
    assert sla.offered_to("seg_remitir_plan") == set(sla.people["maxima_autoridad"])
    sla.do("seg_remitir_plan")
    [action] = sla.case.data["improvement_actions"]
    assert (action["action_id"], action["status"], action["period_number"]) == (
        "AM-001", "pendiente", 1)
    sla.do("seg_revisar_vigencia")

    # Period 2: the open action is in the unit's form data; C1 fails a second time.
    sla.fire_period_close(clock, at(2026, 7))
    detail = sla.engine.task(sla.task("seg_recolectar_datos").task_id, by=UNIT_PERSON)
    assert [a["action_id"] for a in detail.case_data["open_actions"]] == ["AM-001"]
    sla.do("seg_recolectar_datos", observations=observed(0.85), action_progress=[
        {"action_id": "AM-001", "progress_note": "Una ventanilla abierta."}])
    assert (rows(sla.case)["C1"]["recurrence"], rows(sla.case)["C1"]["deviation"]) == (
        2, "moderada")
    sla.run("seg_verificar_cumplimiento", "seg_identificar_desviaciones", "seg_elaborar_informe")
    sla.do("seg_acciones_mejora", action_followup=[
        {"action_id": "AM-001", "status": "en_ejecucion", "progress_note": "50 % de avance."}])
    # The open action still covers C1: no new plan to approve.
    assert sla.open_activities() == ["seg_revisar_vigencia"]
    sla.do("seg_revisar_vigencia")

    # Period 3: a third failure is critical; the action is done and leaves the open list.
    sla.fire_period_close(clock, at(2026, 10))
    sla.do("seg_recolectar_datos", observations=observed(0.90))
    assert sla.case.data["followup_history"][0]["rows"][0]["cause"] == (
        "Personal insuficiente en hora pico.")
    assert (rows(sla.case)["C1"]["recurrence"], rows(sla.case)["C1"]["deviation"]) == (
        3, "critica")
    sla.run("seg_verificar_cumplimiento", "seg_identificar_desviaciones", "seg_elaborar_informe")
    sla.do("seg_acciones_mejora", new_actions=[{**ACTION, "deadline": "2026-12-31"}],
           action_followup=[{"action_id": "AM-001", "status": "cumplida",
                             "progress_note": "Ventanillas abiertas; efecto insuficiente."}])
    sla.run("seg_aprobar_plan", "seg_remitir_plan")
    actions = {a["action_id"]: a for a in sla.case.data["improvement_actions"]}
    assert actions["AM-001"]["status"] == "cumplida"
    assert [u["period_number"] for u in actions["AM-001"]["updates"]] == [2, 3]
    assert actions["AM-001"]["updates"][0]["unit_progress"] == "Una ventanilla abierta."
    assert [a["action_id"] for a in sla.case.data["open_actions"]] == ["AM-002"]
    assert len(sla.case.data["followup_history"]) == 2


def test_a_failure_without_any_action_goes_to_planning_for_approval(sla, clock):
    sla.publish()
    sla.fire_period_close(clock)
    sla.do("seg_recolectar_datos", observations=observed(0.5))
    sla.run("seg_verificar_cumplimiento", "seg_identificar_desviaciones", "seg_elaborar_informe",
            "seg_acciones_mejora")
    assert sla.open_activities() == ["seg_aprobar_plan"]
    assert sla.case.data["uncovered_commitments"] == ["C1"]
    assert rows(sla.case)["C1"]["deviation"] == "critica"


def test_a_rejected_action_plan_returns_to_its_formulation(sla, clock):
    sla.publish()
    sla.fire_period_close(clock)
    sla.do("seg_recolectar_datos", observations=observed(0.80))
    sla.run("seg_verificar_cumplimiento", "seg_identificar_desviaciones", "seg_elaborar_informe")
    sla.do("seg_acciones_mejora", new_actions=[ACTION])
    sla.do("seg_aprobar_plan", plan_approved=False,
           plan_observations="La acción no atiende la causa raíz.")
    assert sla.open_activities() == ["seg_acciones_mejora"]

    sla.do("seg_acciones_mejora", new_actions=[{**ACTION, "description": "Turnos por cita."}])
    sla.run("seg_aprobar_plan", "seg_remitir_plan")
    assert [a["description"] for a in sla.case.data["improvement_actions"]] == [
        "Turnos por cita."]


def test_inconsistent_data_go_back_to_the_unit_and_are_classified_again(sla, clock):
    sla.publish()
    sla.fire_period_close(clock)
    sla.do("seg_recolectar_datos", observations=[
        {"commitment_id": "C1", "observed": 0.5, "data_source": "otro"},
        {"commitment_id": "C9", "observed": 1, "data_source": "otro"}])
    assert sla.case.data["observation_issues"] == [
        "Falta el valor observado del compromiso C2",
        "El código C9 no corresponde a ningún compromiso vigente"]
    assert (rows(sla.case)["C2"]["compliance"], rows(sla.case)["C2"]["deviation"]) == (
        "sin_dato", "sin_dato")
    with pytest.raises(FormInvalid):
        sla.do("seg_verificar_cumplimiento", data_consistent=False)
    sla.do("seg_verificar_cumplimiento", data_consistent=False,
           verification_observations="Falta C2 y el código C9 no existe.")

    assert sla.open_activities() == ["seg_recolectar_datos"]
    sla.do("seg_recolectar_datos", observations=COMPLIANT)
    assert sla.case.data["observation_issues"] == []
    assert {r["compliance"] for r in sla.case.data["followup_matrix"]} == {"cumple"}


def test_a_renewal_the_ministry_approves_makes_the_service_renovado(sla, clock):
    sla.publish()
    sla.fire_period_close(clock)
    sla.run(*PERIOD_STEPS[:-1])
    with pytest.raises(FormInvalid):
        sla.do("seg_revisar_vigencia", validity_decision="renovar")
    sla.do("seg_revisar_vigencia", validity_decision="renovar",
           state_justification="Cuatro trimestres estables dentro de límites de control.")
    assert sla.offered_to("seg_resolucion_mdt") == set(sla.people["mdt"])

    sla.do("seg_resolucion_mdt")

    assert sla.state() == "Renovado"
    assert sla.transitions()[-1] == ("Publicado", "Renovado")
    assert sla.case.open_tasks == () and sla.case.data["period_number"] == 2


def test_a_renewal_the_ministry_denies_keeps_the_state_and_the_periods_go_on(sla, clock):
    sla.publish()
    sla.fire_period_close(clock)
    sla.run(*PERIOD_STEPS[:-1])
    sla.do("seg_revisar_vigencia", validity_decision="renovar", state_justification="Estable.")
    sla.do("seg_resolucion_mdt", mdt_approved=False,
           mdt_observations="Se requieren dos períodos más de evidencia.")
    assert sla.state() == "Publicado"
    assert sla.case.data["period_number"] == 2


def test_an_exclusion_the_ministry_approves_ends_the_case(sla, clock):
    sla.publish()
    sla.fire_period_close(clock)
    sla.run(*PERIOD_STEPS[:-1])
    sla.do("seg_revisar_vigencia", validity_decision="excluir",
           exclusion_reason="servicio_no_se_presta",
           state_justification="El servicio se transfiere a otra entidad por ley.")
    case = sla.do("seg_resolucion_mdt")

    assert case.status == "completed"
    assert case.outcome == "Servicio excluido de la Carta"
    assert sla.state() == "Excluido"
    assert sla.transitions() == [(None, "Planificado"), ("Planificado", "Publicado"),
                                 ("Publicado", "Excluido")]


def test_an_update_goes_through_a_new_technical_report_and_changes_the_commitments(sla, clock):
    sla.publish()
    sla.fire_period_close(clock)
    sla.run(*PERIOD_STEPS[:-1])
    proposed = [{**COMMITMENTS[0], "standard": 0.98}, COMMITMENTS[1]]
    sla.do("seg_revisar_vigencia", validity_decision="actualizar",
           update_reason="herramienta_tecnologica", proposed_commitments=proposed,
           state_justification="El nuevo turnero permite un estándar más exigente.")

    assert sla.open_activities() == ["inf_recopilar_informacion"]
    assert sla.case.data["report_purpose"] == "actualizacion"
    sla.run(*REPORT_STEPS)

    assert sla.state() == "Actualizado"
    assert sla.transitions()[-1] == ("Publicado", "Actualizado")
    assert sla.case.data["commitments"] == proposed
    assert sla.case.open_tasks == () and sla.case.data["period_number"] == 2
    sla.fire_period_close(clock, at(2026, 7))
    sla.do("seg_recolectar_datos", observations=observed(0.97))
    assert rows(sla.case)["C1"]["standard"] == 0.98
    assert rows(sla.case)["C1"]["compliance"] == "cumplimiento_parcial"


def test_an_update_the_ministry_does_not_publish_keeps_the_commitments(sla, clock):
    sla.publish()
    sla.fire_period_close(clock)
    sla.run(*PERIOD_STEPS[:-1])
    sla.do("seg_revisar_vigencia", validity_decision="actualizar", update_reason="cambio_proceso",
           proposed_commitments=COMMITMENTS[:1], state_justification="Cambio de proceso.")
    sla.run(*REPORT_STEPS[:-1])
    sla.do("inf_control_mdt", published=False)
    assert sla.state() == "Publicado"
    assert sla.case.data["commitments"] == COMMITMENTS
    assert sla.case.data["period_number"] == 2


def test_a_published_service_can_start_its_follow_up_on_its_own(sla, clock):
    sla.publish()
    followup = sla.engine.start_case("sla_followup", by=sla.person_for("procesos"),
                                     data=sla_form("seg_registrar_servicio",
                                                   followup_frequency="mensual"))
    assert followup.number == "SLAS-2026-0001"
    assert followup.open_tasks == ()
    assert followup.data["period_closes_at"] == "2026-04-01T08:00:00-05:00"


def test_a_service_not_published_cannot_start_a_follow_up(sla):
    sla.plan()
    with pytest.raises(IllegalTransition, match="está «Planificado»"):
        sla.engine.start_case("sla_followup", by=sla.person_for("procesos"),
                              data=sla_form("seg_registrar_servicio"))


def test_a_whole_lifecycle_replays_to_the_stored_state(sla, clock):
    """Planning with a return, a report with observations and a rejection, four periods
    (non-compliance with an action plan, renewal, update, exclusion), then a replay."""
    sla.start()
    sla.do("pla_definir_ans")
    sla.do("pla_planificar_publicacion", commitments_validated=False,
           consolidation_observations="Precisar el estándar de C2.")
    sla.run("pla_definir_ans", "pla_planificar_publicacion", "inf_recopilar_informacion",
            "inf_elaborar_informe")
    sla.do("inf_revisar_informe", review_has_observations=True, review_observations=["Ajustar"])
    sla.run("inf_elaborar_informe", "inf_revisar_informe", "inf_revision_final")
    sla.do("inf_aprobar_informe", report_approved=False, approval_observations="Completar.")
    sla.run(*REPORT_STEPS[1:])

    sla.fire_period_close(clock)
    sla.do("seg_recolectar_datos", observations=observed(0.80))
    sla.run("seg_verificar_cumplimiento", "seg_identificar_desviaciones", "seg_elaborar_informe")
    sla.do("seg_acciones_mejora", new_actions=[ACTION])
    sla.run("seg_aprobar_plan", "seg_remitir_plan", "seg_revisar_vigencia")

    sla.fire_period_close(clock, at(2026, 7))
    sla.run(*PERIOD_STEPS[:-1])
    sla.do("seg_revisar_vigencia", validity_decision="renovar", state_justification="Estable.")
    sla.do("seg_resolucion_mdt")

    sla.fire_period_close(clock, at(2026, 10))
    sla.run(*PERIOD_STEPS[:-1])
    sla.do("seg_revisar_vigencia", validity_decision="actualizar", update_reason="cambio_proceso",
           proposed_commitments=COMMITMENTS[:1], state_justification="Se simplifica.")
    sla.run(*REPORT_STEPS)

    sla.fire_period_close(clock, at(2027, 1))
    sla.do("seg_recolectar_datos", observations=observed(0.97)[:1])
    sla.run(*PERIOD_STEPS[1:-1])
    sla.do("seg_revisar_vigencia", validity_decision="excluir",
           exclusion_reason="compromiso_inviable", state_justification="Cambio normativo.")
    case = sla.do("seg_resolucion_mdt")

    assert case.status == "completed" and case.outcome == "Servicio excluido de la Carta"
    assert sla.transitions() == [
        (None, "Planificado"), ("Planificado", "Publicado"), ("Publicado", "Renovado"),
        ("Renovado", "Actualizado"), ("Actualizado", "Excluido")]
    assert len(case.data["followup_history"]) == 3
    replay = sla.engine.replay(case.number, by=sla.person_for("procesos"))
    assert replay.chain_intact and replay.stored_state_matches
    assert replay.proven
    assert sum(1 for s in replay.steps if s.event_type == "timer_fired") == 4
