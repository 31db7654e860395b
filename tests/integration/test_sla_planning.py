"""§7.1 Planificación de la Publicación de Acuerdos de Nivel de Servicio, through the engine."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine import FormInvalid, NotFound, PermissionDenied
from engine.charter import IllegalTransition
from engine.store import CaseRow
from tests.integration.test_sla_support import (
    OTHER_UNIT_PERSON,
    SERVICE,
    UNIT_PERSON,
    UNIT_POSITION,
    sla_form,
)

pytestmark = pytest.mark.integration
# The engine with the charter effects, its people and the case walker.
pytest_plugins = ["tests.integration.test_sla_support"]


def test_a_process_below_capability_four_leaves_the_service_no_postulable(sla):
    case = sla.start()
    assert case.number == "SLA-2026-0001"
    assert (case.requester, case.subject) == ("Dirección del Sistema de Pensiones",
                                              "Jubilación por vejez")
    assert sla.open_activities() == ["pla_definir_ans"]

    case = sla.do("pla_definir_ans", capability_level=3,
                  state_justification="Autoevaluación 2025: nivel 3 (definido).")

    assert case.status == "completed"
    assert case.outcome == "Servicio No Postulable"
    assert sla.state() == "No Postulable"
    assert sla.transitions() == [(None, "No Postulable")]
    effects = [e for e in sla.engine.history(case.number, by=sla.person_for("procesos"))
               if e.event_type == "effect_applied"]
    assert [(e.activity_id, e.data["effect"], e.data["outcome"]) for e in effects] == [
        ("pla_registrar_servicio", "serviceStateRequired",
         {"service_code": SERVICE, "state": "sin registrar"}),
        ("pla_registrar_no_postulable", "serviceState",
         {"service_code": SERVICE, "from": "sin registrar", "to": "No Postulable"})]


def test_no_postulable_needs_its_technical_justification(sla):
    sla.start()
    with pytest.raises(FormInvalid) as refused:
        sla.do("pla_definir_ans", capability_level=3)
    assert "state_justification" in refused.value.by_field()
    assert sla.state() is None


def test_from_level_four_the_unit_must_define_factors_olas_requirements_and_commitments(sla):
    sla.start()
    data = sla_form("pla_definir_ans", capability_level=5)
    for name in ("quality_factors", "olas", "operational_requirements", "commitments"):
        data.pop(name)
    with pytest.raises(FormInvalid) as refused:
        sla.engine.complete_task(sla.task("pla_definir_ans").task_id, by=UNIT_PERSON,
                                 form_data=data)
    assert set(refused.value.by_field()) == {"quality_factors", "olas",
                                             "operational_requirements", "commitments"}


def test_an_operational_requirement_must_have_the_five_attributes(sla):
    sla.start()
    requirement = {**sla_form("pla_definir_ans")["operational_requirements"][0],
                   "attributes": ["claro", "medible", "asignable", "relevante"]}
    with pytest.raises(FormInvalid) as refused:
        sla.do("pla_definir_ans", operational_requirements=[requirement])
    assert "operational_requirements/0/attributes" in refused.value.by_field()


def test_a_consolidated_plan_makes_the_service_planificado_and_opens_the_report(sla):
    sla.start()
    sla.do("pla_definir_ans")
    assert sla.open_activities() == ["pla_planificar_publicacion"]

    case = sla.do("pla_planificar_publicacion")

    assert sla.state() == "Planificado"
    assert sla.open_activities() == ["inf_recopilar_informacion"]
    assert case.status == "open"
    assert case.data["report_purpose"] == "postulacion"
    assert case.data["service_state"] == "Planificado"
    [logged] = sla.transitions()
    assert logged == (None, "Planificado")


def test_commitments_not_consolidated_go_back_to_the_unit_with_the_observations(sla):
    sla.start()
    sla.do("pla_definir_ans")
    sla.do("pla_planificar_publicacion", commitments_validated=False,
           consolidation_observations="El compromiso C2 no tiene línea base.")

    assert sla.open_activities() == ["pla_definir_ans"]
    assert sla.state() is None
    detail = sla.engine.task(sla.task("pla_definir_ans").task_id, by=UNIT_PERSON)
    assert detail.case_data["consolidation_observations"] == (
        "El compromiso C2 no tiene línea base.")
    assert detail.form_ui["show_case_fields"] == ["consolidation_observations"]

    sla.do("pla_definir_ans")
    sla.do("pla_planificar_publicacion")
    assert sla.state() == "Planificado"


def test_a_validated_plan_needs_its_schedule_frequency_and_justification(sla):
    sla.start()
    sla.do("pla_definir_ans")
    data = {"commitments_validated": True}
    with pytest.raises(FormInvalid) as refused:
        sla.engine.complete_task(sla.task("pla_planificar_publicacion").task_id,
                                 by=sla.person_for("procesos"), form_data=data)
    assert {"schedule", "followup_frequency", "state_justification",
            "validated_commitment_ids"} <= set(refused.value.by_field())


def test_every_stage_of_the_schedule_has_a_responsible(sla):
    sla.start()
    sla.do("pla_definir_ans")
    stage = {"stage": "revision_tecnica", "start_date": "2026-03-09", "end_date": "2026-03-20"}
    with pytest.raises(FormInvalid) as refused:
        sla.do("pla_planificar_publicacion", schedule=[stage])
    assert "schedule/0/responsible" in refused.value.by_field()


def test_a_no_postulable_service_may_be_planned_in_a_later_cycle(sla):
    sla.start()
    sla.do("pla_definir_ans", capability_level=2, state_justification="Nivel 2.")
    sla.start()
    assert sla.case.number == "SLA-2026-0002"
    sla.run("pla_definir_ans", "pla_planificar_publicacion")
    assert sla.transitions() == [(None, "No Postulable"), ("No Postulable", "Planificado")]


def test_a_service_already_in_the_charter_cannot_start_another_planning(sla):
    sla.plan()
    with pytest.raises(IllegalTransition) as refused:
        sla.start()
    assert "está «Planificado»" in refused.value.message
    with sla.engine.read_session() as session:
        assert session.scalar(select(func.count()).select_from(CaseRow)) == 1


def test_only_the_process_office_may_start_a_charter_case(sla):
    for role in ("unidad", "planificacion", "maxima_autoridad", "mdt"):
        with pytest.raises(PermissionDenied):
            sla.engine.start_case("sla_planning", by=sla.people[role][0],
                                  data=sla_form("pla_registrar_servicio"))
    with pytest.raises(PermissionDenied):
        sla.engine.start_case("sla_planning", by=UNIT_PERSON,
                              data=sla_form("pla_registrar_servicio"))
    startable = {p.process_id for p in sla.engine.startable_processes(sla.person_for("procesos"))}
    assert {"sla_planning", "sla_report", "sla_followup"} <= startable


def test_the_unit_tasks_reach_only_the_head_of_the_chosen_unit(sla):
    sla.start()
    task = sla.task("pla_definir_ans")
    assert task.role == "unidad"

    assert [t.task_id for t in sla.engine.inbox(UNIT_PERSON).available.items] == [task.task_id]
    outsiders = [OTHER_UNIT_PERSON, *sla.people["unidad"], sla.person_for("procesos")]
    for outsider in outsiders:
        assert sla.engine.inbox(outsider).available.items == ()
        with pytest.raises(NotFound):
            sla.engine.task(task.task_id, by=outsider)
        with pytest.raises(NotFound):
            sla.engine.complete_task(task.task_id, by=outsider,
                                     form_data=sla_form("pla_definir_ans"))
    assert sla.open_activities() == ["pla_definir_ans"]
    assert sla.engine.person(UNIT_PERSON).positions == (UNIT_POSITION,)
