"""Every path of PRO-GTH-GTS-002 through the engine facade, against a real database."""

from __future__ import annotations

import pytest

from engine import Engine

pytestmark = pytest.mark.integration

DIAGNOSIS = ["analizar_solicitud", "realizar_entrevista", "emitir_diagnostico"]


def test_a_request_that_is_not_a_social_case_is_referred_and_closed(walker):
    case = walker.start()
    assert case.number == "CS-2026-0001"
    assert walker.open_activities() == ["reasignar_solicitud"]

    case = walker.do("reasignar_solicitud", is_social_case=False,
                     referred_to="Dirección Médica", referral_reason="Es un tema de salud.")

    assert case.status == "completed"
    assert case.outcome == "Caso derivado"
    assert case.open_tasks == ()
    assert case.data["referral"] == {"is_social_case": False, "referred_to": "Dirección Médica",
                                     "referral_reason": "Es un tema de salud."}


def test_a_case_with_support_runs_activities_one_to_eleven_in_order(walker):
    walker.start()
    order = ["reasignar_solicitud", *DIAGNOSIS, "validar_informe", "remitir_informe",
             "solicitar_apoyo", "generar_respuesta", "generar_expediente", "archivar_expediente"]
    for activity in order:
        assert walker.open_activities() == [activity]
        walker.do(activity)

    case = walker.case
    assert case.status == "completed"
    assert case.outcome == "Expediente archivado"
    assert case.data["archive_number"] == 1
    assert case.data["retention_until"] == "2031-03-02"  # archived 02/03/2026 + 5 years


def test_a_case_without_support_goes_from_the_review_straight_to_the_archive(walker):
    walker.start()
    for activity in ["reasignar_solicitud", *DIAGNOSIS]:
        walker.do(activity)
    walker.do("validar_informe", report_validated=True, requires_support=False)

    assert walker.open_activities() == ["archivar_expediente"]
    case = walker.do("archivar_expediente")
    assert case.status == "completed"
    assert "support_requests" not in case.data


def test_a_rejected_report_returns_to_the_diagnosis_with_the_observations(walker):
    walker.start()
    for activity in ["reasignar_solicitud", *DIAGNOSIS]:
        walker.do(activity)

    walker.do("validar_informe", report_validated=False,
              review_observations="Falta detallar las estrategias.")
    assert walker.open_activities() == ["emitir_diagnostico"]
    detail = walker.engine.task(walker.task("emitir_diagnostico").task_id, by=walker.social_worker)
    assert detail.case_data["review_observations"] == "Falta detallar las estrategias."

    walker.do("emitir_diagnostico", strategies=["Acompañamiento", "Red de apoyo familiar"])
    walker.do("validar_informe", report_validated=True, requires_support=False)
    case = walker.do("archivar_expediente")
    assert case.status == "completed"
    history = walker.engine.history(case.number, by=walker.leader)
    reviews = [e for e in history if e.activity_id == "validar_informe"]
    assert [e.data["form"]["report_validated"] for e in reviews] == [False, True]


def test_archive_numbers_follow_one_numeric_sequence_across_cases(walker):
    numbers = []
    for _ in range(2):
        walker.start()
        for activity in ["reasignar_solicitud", *DIAGNOSIS]:
            walker.do(activity)
        walker.do("validar_informe", report_validated=True, requires_support=False)
        numbers.append(walker.do("archivar_expediente", archive_number=99).data["archive_number"])
    assert numbers == [1, 2]


def test_a_restart_between_every_step_changes_nothing(walker, reload):
    """Each step runs on a brand-new engine (no caches) that restores the case from the DB."""
    walker.start()
    steps = ["reasignar_solicitud", *DIAGNOSIS, "validar_informe", "remitir_informe",
             "solicitar_apoyo", "generar_respuesta", "generar_expediente", "archivar_expediente"]
    for activity in steps:
        fresh: Engine = reload()
        walker.case = fresh.case(walker.case.number, by=walker.leader)
        walker.do(activity, engine=fresh)

    straight = _run_straight(walker.engine, walker)
    assert walker.case.status == straight.status == "completed"
    assert _without_sequences(walker.case.data) == _without_sequences(straight.data)
    assert walker.engine.replay(walker.case.number, by=walker.leader).proven


def _run_straight(engine, walker):
    walker.start()
    for activity in ["reasignar_solicitud", *DIAGNOSIS, "validar_informe", "remitir_informe",
                     "solicitar_apoyo", "generar_respuesta", "generar_expediente",
                     "archivar_expediente"]:
        walker.do(activity)
    return walker.case


def _without_sequences(data):
    return {k: v for k, v in data.items() if k != "archive_number"}


def test_a_case_keeps_the_version_it_started_on(walker, engine, database_url, clock, tmp_path):
    import shutil

    from engine import ProcessLibrary
    from tests.conftest import ROOT, form_for, make_engine

    walker.start()
    started_on = walker.case.version_hash

    bpmn = tmp_path / "bpmn"
    shutil.copytree(ROOT / "bpmn", bpmn)
    source = (bpmn / "social_case.bpmn").read_text()
    (bpmn / "social_case.bpmn").write_text(
        source.replace('name="Solicitar apoyo"', 'name="Solicitar apoyo (v2)"'))
    changed = make_engine(database_url, ProcessLibrary.load_directory(bpmn, ROOT / "forms"),
                          clock)
    assert changed.library.get("social_case").version_hash != started_on

    walker.engine = changed
    walker.case = changed.case(walker.case.number, by=walker.leader)
    assert walker.case.version_hash == started_on
    walker.do("reasignar_solicitud")
    assert walker.case.version_hash == started_on
    fresh_case = changed.start_case("social_case", by=walker.coordinator,
                                    data=form_for("recibir_solicitud"))
    assert fresh_case.version_hash != started_on
    changed.sql.dispose()
