"""Bad form data is refused with the field and the reason, and nothing is written."""

from __future__ import annotations

import pytest

from engine import FormInvalid
from tests.conftest import form_for

pytestmark = pytest.mark.integration


def _snapshot(engine, case_number, by):
    case = engine.case(case_number, by=by)
    return case.updated_at, case.open_tasks, len(engine.history(case_number, by=by)), case.data


def test_malformed_data_names_every_bad_field_in_spanish_and_changes_nothing(walker, engine):
    walker.start()
    walker.do("reasignar_solicitud")
    before = _snapshot(engine, walker.case.number, walker.leader)
    task = walker.task("analizar_solicitud")

    with pytest.raises(FormInvalid) as raised:
        engine.complete_task(task.task_id, by=walker.social_worker, form_data={
            "request_analysis": 42, "planned_action": "teletransporte", "extra": "x"})

    assert raised.value.by_field() == {
        "extra": ["Este formulario no tiene ese campo"],
        "planned_action": ["Elija una de las opciones permitidas"],
        "request_analysis": ["Debe ser texto"],
    }
    assert _snapshot(engine, walker.case.number, walker.leader) == before


def test_conditional_fields_are_required_only_when_they_apply(walker):
    walker.start()
    with pytest.raises(FormInvalid) as raised:
        walker.do("reasignar_solicitud", is_social_case=False)
    assert raised.value.by_field() == {"referral_reason": ["Este campo es obligatorio"],
                                       "referred_to": ["Este campo es obligatorio"]}


def test_nested_group_errors_point_at_the_row_and_field(walker):
    walker.start()
    walker.do("reasignar_solicitud")
    walker.do("analizar_solicitud")
    with pytest.raises(FormInvalid) as raised:
        walker.do("realizar_entrevista", interviews=[
            {"interviewee_type": "requirente", "interviewee_name": "Rosa",
             "interview_date": "2026-02-31", "summary": "x"},
            {"interviewee_type": "familiar", "interview_date": "2026-03-02", "summary": "y"}])
    assert raised.value.by_field() == {
        "interviews/0/interview_date": ["Fecha no válida (use dd/mm/aaaa)"],
        "interviews/1/interviewee_name": ["Este campo es obligatorio"],
    }


def test_an_invalid_first_form_creates_no_case_and_burns_no_number(walker, engine):
    with pytest.raises(FormInvalid):
        engine.start_case("social_case", by=walker.coordinator,
                          data=form_for("recibir_solicitud", channel_medium="paloma mensajera"))
    assert walker.start().number == "CS-2026-0001"


def test_read_only_fields_cannot_be_supplied(walker):
    walker.start()
    for activity in ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico"]:
        walker.do(activity)
    walker.do("validar_informe", report_validated=True, requires_support=False)
    assert walker.do("archivar_expediente", archive_number=777).data["archive_number"] == 1
