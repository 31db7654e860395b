"""Dates of things already done cannot be in the future (issue 10, item 2.5).

Each form declares it on the field (``"x-max-date": "today"``); the engine refuses a later date
against its own clock, and the task page shows the limit on the date input.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine import FormInvalid
from engine.forms import FormDefinition, load_form
from web.formview import FormLabels, build_fields

pytestmark = pytest.mark.integration

FORMS = Path(__file__).resolve().parents[2] / "forms"

TODAY = date(2026, 3, 2)  # the fake clock's day in Ecuador (tests/conftest.py)
FUTURE = "No puede ser una fecha futura"

# Every field that records something that already happened, by form: "group/field" inside a
# repeatable group. Planned dates (schedule stages, deadlines, a new commitment date) may be future.
PAST_EVENT_DATES = {
    ("recibir_solicitud", "request_date"),
    ("realizar_entrevista", "interviews/interview_date"),
    ("realizar_entrevista", "home_visit_date"),
    ("emitir_diagnostico", "report_date"),
    ("remitir_informe", "sent_date"),
    ("solicitar_apoyo", "support_requests/request_date"),
    ("generar_respuesta", "response_date"),
    ("archivar_expediente", "archived_date"),
    ("sla_planificar_publicacion", "plan_approved_date"),
    ("sla_elaborar_informe", "report_date"),
    ("sla_revisar_informe", "review_session_date"),
    ("sla_revision_final", "final_review_date"),
    ("sla_aprobar_informe", "approval_date"),
    ("sla_comunicar_aprobacion", "communication_date"),
    ("sla_remitir_informe", "remittance_date"),
    ("sla_confirmar_recepcion", "reception_date"),
    ("sla_control_mdt", "control_date"),
    ("sla_informe_seguimiento", "followup_report_date"),
    ("sla_aprobar_plan_acciones", "plan_approval_date"),
    ("sla_remitir_plan_acciones", "plan_remittance_date"),
    ("sla_resolucion_mdt", "mdt_resolution_date"),
}
PLANNED_DATES = {
    ("atender_vencimiento", "new_commitment_date"),
    ("sla_acciones_mejora", "new_actions/deadline"),
    ("sla_planificar_publicacion", "schedule/start_date"),
    ("sla_planificar_publicacion", "schedule/end_date"),
}


def _forms() -> dict[str, FormDefinition]:
    """Every form of forms/, as the library loads it."""
    forms = {}
    for schema in sorted(FORMS.glob("*.json")):
        if schema.name.endswith(".ui.json"):
            continue
        ui = schema.with_name(schema.stem + ".ui.json")
        forms[schema.stem] = load_form(schema.stem, schema.read_text(encoding="utf-8"),
                                       ui.read_text(encoding="utf-8") if ui.exists() else None)
    return forms


def _date_fields() -> dict[tuple[str, str], dict[str, Any]]:
    """Every date field of every form, with its schema, keyed by (form, path)."""
    found = {}
    for form_id, form in _forms().items():
        for name, prop in form.properties().items():
            if prop.get("format") == "date":
                found[(form_id, name)] = prop
            for sub, sub_prop in prop.get("items", {}).get("properties", {}).items():
                if sub_prop.get("format") == "date":
                    found[(form_id, f"{name}/{sub}")] = sub_prop
    return found


def _with_date(path: str, day: date) -> dict[str, Any]:
    """Form data holding only the date (in a one-row group when the field is in one)."""
    if "/" in path:
        group, field = path.split("/")
        return {group: [{field: day.isoformat()}]}
    return {path: day.isoformat()}


def _errors_at(form_id: str, path: str, day: date) -> list[str]:
    """The messages the form gives the date field (other fields, left empty, complain too)."""
    form = _forms()[form_id]
    try:
        form.validate(_with_date(path, day), today=TODAY)
    except FormInvalid as refused:
        field = path.replace("/", "/0/")
        return refused.by_field().get(field, [])
    return []


def test_every_date_field_is_either_a_past_event_or_a_planned_date():
    dates = _date_fields()
    assert set(dates) == PAST_EVENT_DATES | PLANNED_DATES
    limited = {key for key, prop in dates.items() if prop.get("x-max-date") == "today"}
    assert limited == PAST_EVENT_DATES


@pytest.mark.parametrize(("form_id", "path"), sorted(PAST_EVENT_DATES))
def test_a_past_event_date_refuses_tomorrow_and_takes_today(form_id, path):
    assert _errors_at(form_id, path, TODAY + timedelta(days=1)) == [FUTURE]
    assert _errors_at(form_id, path, TODAY) == []
    assert _errors_at(form_id, path, TODAY - timedelta(days=30)) == []


@pytest.mark.parametrize(("form_id", "path"), sorted(PLANNED_DATES))
def test_a_planned_date_may_be_in_the_future(form_id, path):
    assert _errors_at(form_id, path, TODAY + timedelta(days=90)) == []


def test_the_engine_refuses_a_future_visit_with_its_own_clock(walker, clock):
    walker.start()
    walker.do("reasignar_solicitud")
    walker.do("analizar_solicitud")
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    with pytest.raises(FormInvalid) as refused:
        walker.do("realizar_entrevista", home_visit_date=tomorrow, interviews=[
            {"interviewee_type": "requirente", "interviewee_name": "Rosa Chicaiza",
             "interview_date": tomorrow, "summary": "Relata la situación."}])
    assert refused.value.by_field() == {"home_visit_date": [FUTURE],
                                        "interviews/0/interview_date": [FUTURE]}
    clock.advance(days=1)  # tomorrow has come: the same dates are now today's
    walker.do("realizar_entrevista", home_visit_date=tomorrow, interviews=[
        {"interviewee_type": "requirente", "interviewee_name": "Rosa Chicaiza",
         "interview_date": tomorrow, "summary": "Relata la situación."}])
    assert "emitir_diagnostico" in walker.open_activities()


def _input(html: str, name: str) -> str:
    match = re.search(r'<input id="f-' + re.escape(name) + r'"[^>]*>', html)
    assert match, name
    return match.group(0)


def test_the_task_page_shows_the_limit_and_names_the_field_it_refuses(walker, web):
    walker.start()
    walker.do("reasignar_solicitud")
    walker.do("analizar_solicitud")
    task = walker.task("realizar_entrevista")
    worker = web(walker.who_for("realizar_entrevista"))
    html = worker.get(f"/tareas/{task.task_id}").get_data(as_text=True)
    assert 'max="2026-03-02"' in _input(html, "home_visit_date")
    assert 'max="2026-03-02"' in _input(html, "interviews-__index__-interview_date")
    assert "Hasta hoy, 02/03/2026: no puede ser una fecha futura." in html

    refused = worker.post(f"/tareas/{task.task_id}", {
        "action": "complete", "home_visit": "true", "home_visit_date": "03/03/2026",
        "home_visit_findings": "Vivienda con hacinamiento.", "institutional_visit": "false",
        "findings": "Situación de vulnerabilidad económica."}).get_data(as_text=True)
    summary = refused[refused.index("error-summary"):refused.index("</ul>")]
    assert 'href="#f-home_visit_date">Fecha de la visita domiciliaria</a>: ' + FUTURE in summary


def test_the_new_request_page_limits_the_reception_date_and_a_deadline_has_no_limit(walker, web,
                                                                                  app):
    html = web(walker.coordinator).get("/casos/nuevo/social_case").get_data(as_text=True)
    assert 'max="2026-03-02"' in _input(html, "request_date")

    form = _forms()["atender_vencimiento"]
    with app.test_request_context():
        fields = build_fields(form.schema, FormLabels(form.schema, form.ui, "es"), {}, {},
                              lambda _role: [], {}, today=TODAY)
    dates = {f.key: f.max_date for f in fields if f.kind == "date"}
    assert dates == {"new_commitment_date": None}
