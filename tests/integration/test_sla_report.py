"""§7.2 Elaboración del Informe Técnico para Carta de Servicios, and the Ministry's control."""

from __future__ import annotations

import pytest

from engine import FormInvalid, NotFound, charter
from engine.charter import IllegalTransition
from tests.integration.test_sla_support import REPORT_STEPS, sla_form

pytestmark = pytest.mark.integration
# The engine with the charter effects, its people and the case walker.
pytest_plugins = ["tests.integration.test_sla_support"]

EXPECTED_LANES = {
    "inf_recopilar_informacion": "procesos", "inf_elaborar_informe": "procesos",
    "inf_revisar_informe": "unidad", "inf_revision_final": "procesos",
    "inf_aprobar_informe": "planificacion", "inf_comunicar_aprobacion": "procesos",
    "inf_preparar_envio": "procesos", "inf_remitir_informe": "maxima_autoridad",
    "inf_confirmar_recepcion": "procesos", "inf_control_mdt": "mdt",
}


def test_an_approved_report_runs_its_nine_activities_and_the_ministry_publishes(sla):
    sla.plan()
    for activity in REPORT_STEPS:
        assert sla.open_activities() == [activity]
        assert sla.task(activity).lane == EXPECTED_LANES[activity]
        sla.do(activity)

    case = sla.case
    assert sla.state() == "Publicado"
    assert sla.transitions() == [(None, "Planificado"), ("Planificado", "Publicado")]
    # Published, the service goes on to its follow-up, which waits for the period to close.
    assert case.status == "open" and case.open_tasks == ()
    assert case.data["period_number"] == 1
    assert case.data["period_closes_at"] == "2026-04-01T08:00:00-05:00"


def test_reviewer_observations_send_the_report_back_until_they_are_resolved(sla):
    sla.plan()
    sla.run("inf_recopilar_informacion", "inf_elaborar_informe")
    sla.do("inf_revisar_informe", review_has_observations=True,
           review_observations=["Falta la cobertura provincial", "Precisar el OLA"])
    assert sla.open_activities() == ["inf_elaborar_informe"]
    detail = sla.engine.task(sla.task("inf_elaborar_informe").task_id,
                             by=sla.person_for("procesos"))
    assert detail.case_data["review_observations"] == ["Falta la cobertura provincial",
                                                       "Precisar el OLA"]

    resolutions = [{"observation": "Falta la cobertura provincial",
                    "resolution": "Se añadió el anexo territorial."},
                   {"observation": "Precisar el OLA", "resolution": "Se detallaron tiempos."}]
    sla.do("inf_elaborar_informe", observation_resolutions=resolutions, territorial_annex=True,
           territorial_annex_detail="Zonas 1 a 9 con estándar diferenciado.")
    sla.do("inf_revisar_informe", review_has_observations=True,
           review_observations=["Falta la firma de revisión"])
    assert sla.open_activities() == ["inf_elaborar_informe"]
    sla.run("inf_elaborar_informe", "inf_revisar_informe")
    assert sla.open_activities() == ["inf_revision_final"]
    reviews = [e.data["form"]["review_has_observations"]
               for e in sla.engine.history(sla.case.number, by=sla.person_for("procesos"))
               if e.activity_id == "inf_revisar_informe"]
    assert reviews == [True, True, False]


def test_a_commitment_without_indicator_or_inconsistent_data_cannot_pass_the_review(sla):
    sla.plan()
    sla.run("inf_recopilar_informacion", "inf_elaborar_informe")
    for field in ("every_commitment_has_indicator", "review_data_consistent"):
        with pytest.raises(FormInvalid) as refused:
            sla.do("inf_revisar_informe", **{field: False})
        assert "review_has_observations" in refused.value.by_field()
    with pytest.raises(FormInvalid) as refused:
        sla.do("inf_revisar_informe", review_has_observations=True)
    assert "review_observations" in refused.value.by_field()


def test_a_report_failing_the_final_review_goes_back_to_writing(sla):
    sla.plan()
    sla.run("inf_recopilar_informacion", "inf_elaborar_informe", "inf_revisar_informe")
    sla.do("inf_revision_final", meets_requirements=False,
           final_review_observations="No cumple la estructura mínima (falta vii).")
    assert sla.open_activities() == ["inf_elaborar_informe"]
    sla.run("inf_elaborar_informe", "inf_revisar_informe", "inf_revision_final")
    assert sla.open_activities() == ["inf_aprobar_informe"]


def test_a_rejected_report_returns_to_its_writing_as_step_five_says(sla):
    sla.plan()
    sla.run("inf_recopilar_informacion", "inf_elaborar_informe", "inf_revisar_informe",
            "inf_revision_final")
    with pytest.raises(FormInvalid):
        sla.do("inf_aprobar_informe", report_approved=False)
    sla.do("inf_aprobar_informe", report_approved=False,
           approval_observations="Las conclusiones no sustentan la viabilidad.")

    assert sla.open_activities() == ["inf_elaborar_informe"]
    assert sla.state() == "Planificado"
    sla.run("inf_elaborar_informe", "inf_revisar_informe", "inf_revision_final",
            "inf_aprobar_informe")
    assert sla.open_activities() == ["inf_comunicar_aprobacion"]


def test_a_report_the_ministry_does_not_publish_leaves_the_service_no_publicado(sla):
    sla.plan()
    sla.run(*REPORT_STEPS[:-1])
    case = sla.do("inf_control_mdt", published=False,
                  state_justification="El estándar no se sustenta en evidencia estable.")

    assert case.status == "completed"
    assert case.outcome == "Servicio No Publicado"
    assert sla.state() == "No Publicado"
    assert sla.transitions() == [(None, "Planificado"), ("Planificado", "No Publicado")]
    [*_, last] = charter.history(sla.engine, "jubilacion-por-vejez")
    assert last.justification == "El estándar no se sustenta en evidencia estable."
    assert last.actor == sla.person_for("mdt")

    assert charter.current_states(sla.engine) == {"jubilacion-por-vejez": "No Publicado"}
    # A later annual plan may put it forward again.
    sla.start()
    sla.run("pla_definir_ans", "pla_planificar_publicacion")
    assert sla.state() == "Planificado"


def test_the_ministry_decision_needs_its_technical_justification(sla):
    sla.plan()
    sla.run(*REPORT_STEPS[:-1])
    data = sla_form("inf_control_mdt")
    data.pop("state_justification")
    with pytest.raises(FormInvalid) as refused:
        sla.engine.complete_task(sla.task("inf_control_mdt").task_id, by=sla.person_for("mdt"),
                                 form_data=data)
    assert "state_justification" in refused.value.by_field()


def test_every_lane_is_closed_to_people_without_its_role(sla):
    sla.plan()
    for activity in REPORT_STEPS:
        task = sla.task(activity)
        holders = sla.holders(task.role)
        assert sla.offered_to(activity) == holders, activity
        for outsider in sorted(set(sla.everyone()) - holders)[:3]:
            with pytest.raises(NotFound):
                sla.engine.task(task.task_id, by=outsider)
            with pytest.raises(NotFound):
                sla.engine.complete_task(task.task_id, by=outsider, form_data=sla_form(activity))
        sla.do(activity)
    assert sla.state() == "Publicado"


def test_a_published_service_can_be_updated_through_a_report_started_on_its_own(sla):
    sla.publish()
    update = sla.engine.start_case("sla_report", by=sla.person_for("procesos"),
                                   data=sla_form("inf_registrar_servicio"))
    assert update.number == "SLAI-2026-0001"
    sla.case = update
    assert sla.open_activities() == ["inf_recopilar_informacion"]
    assert update.data["report_purpose"] == "actualizacion"

    case = sla.run(*REPORT_STEPS)

    assert case.status == "completed" and case.outcome == "Compromiso actualizado"
    assert sla.state() == "Actualizado"
    assert sla.transitions()[-1] == ("Publicado", "Actualizado")


def test_an_update_the_ministry_does_not_publish_keeps_the_state(sla):
    sla.publish()
    sla.case = sla.engine.start_case("sla_report", by=sla.person_for("procesos"),
                                     data=sla_form("inf_registrar_servicio"))
    sla.run(*REPORT_STEPS[:-1])
    case = sla.do("inf_control_mdt", published=False)
    assert case.outcome == "Actualización no publicada"
    assert sla.state() == "Publicado"


def test_only_a_published_service_can_start_an_update_report(sla):
    with pytest.raises(IllegalTransition) as refused:
        sla.engine.start_case("sla_report", by=sla.person_for("procesos"),
                              data=sla_form("inf_registrar_servicio"))
    assert refused.value.message.endswith(
        "requiere que esté «Publicado», «Renovado» o «Actualizado»")
