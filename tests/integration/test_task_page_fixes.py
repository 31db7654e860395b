"""What misled people or lost their work on the task page (issue 10, section 2): who took or
completed a task meanwhile, complete-implies-claim, attachments counted once, conditional
requirements shown in advance, messages that say what is expected, and smaller things."""

from __future__ import annotations

import io
import re

import pytest

from engine import FormInvalid
from engine.errors import TaskCompletedByOther, TaskHeldByOther
from engine.forms import load_form
from tests.conftest import form_for
from web.formview import required_conditions

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def _request_form(**overrides):
    data = {**form_for("recibir_solicitud"), "request_date": "02/03/2026", **overrides}
    return {k: v for k, v in data.items() if v is not None}


def _field_html(html: str, key: str) -> str:
    start = html.index(f'data-field="{key}"')
    end = html.find('<div class="field', start + 1)
    return html[start:end if end > 0 else None]


# -- 1. someone else claimed or completed the task while I was typing --------------------------


def test_completing_a_task_someone_else_claimed_meanwhile_names_them_and_keeps_the_input(
        web, walker, engine):
    walker.start()
    task = walker.task("reasignar_solicitud")
    ana = web("ana.guaman")
    assert ana.get(f"/tareas/{task.task_id}").status_code == 200
    engine.claim(task.task_id, by="pablo.reyes")

    response = ana.post(f"/tareas/{task.task_id}", {
        "action": "complete", "is_social_case": "true", "social_worker": "sofia.naranjo",
        "assessment": "Análisis largo que no debe perderse"})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Pablo Reyes tomó esta tarea" in html
    assert "otra persona la completó" not in html
    assert "Análisis largo que no debe perderse" in html
    assert "Guardar como borrador" in html and "Volver a la bandeja" in html
    assert engine.task(task.task_id, by="pablo.reyes").task.assignee == "pablo.reyes"

    saved = ana.post(f"/tareas/{task.task_id}", {
        "action": "draft", "assessment": "Análisis largo que no debe perderse"})
    assert saved.status_code == 302
    engine.release(task.task_id, by="pablo.reyes")
    again = ana.get(f"/tareas/{task.task_id}").get_data(as_text=True)
    assert "Análisis largo que no debe perderse" in again


def test_completing_a_task_someone_else_completed_names_them_and_keeps_the_input(
        web, walker, engine):
    walker.start()
    task = walker.task("reasignar_solicitud")
    ana = web("ana.guaman")
    ana.get(f"/tareas/{task.task_id}")
    walker.do("reasignar_solicitud", by="pablo.reyes")

    response = ana.post(f"/tareas/{task.task_id}", {
        "action": "complete", "is_social_case": "true", "social_worker": "sofia.naranjo",
        "assessment": "Mi análisis"})
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Pablo Reyes completó esta tarea" in html
    assert "Mi análisis" in html
    assert "Guardar como borrador" not in html and "Volver a la bandeja" in html


def test_opening_a_task_someone_else_took_says_who(web, walker, engine):
    walker.start()
    task = walker.task("reasignar_solicitud")
    engine.claim(task.task_id, by="pablo.reyes")
    ana = web("ana.guaman")
    response = ana.get(f"/tareas/{task.task_id}")
    assert response.status_code == 302
    inbox = ana.get("/bandeja").get_data(as_text=True)
    assert "Pablo Reyes tomó esta tarea" in inbox


def test_the_engine_says_who_holds_or_completed_a_task(walker, engine):
    walker.start()
    task = walker.task("reasignar_solicitud")
    engine.claim(task.task_id, by="pablo.reyes")
    data = form_for("reasignar_solicitud", social_worker="sofia.naranjo")
    with pytest.raises(TaskHeldByOther) as held:
        engine.complete_task(task.task_id, by="ana.guaman", form_data=data)
    assert held.value.holder_name == "Pablo Reyes"
    fate = engine.task_fate(task.task_id, by="ana.guaman")
    assert (fate.outcome, fate.by_name, fate.case_number) == ("claimed", "Pablo Reyes",
                                                              walker.case.number)

    engine.complete_task(task.task_id, by="pablo.reyes", form_data=data)
    with pytest.raises(TaskCompletedByOther) as done:
        engine.complete_task(task.task_id, by="ana.guaman", form_data=data)
    assert done.value.completed_by_name == "Pablo Reyes"
    fate = engine.task_fate(task.task_id, by="ana.guaman")
    assert (fate.outcome, fate.by) == ("completed", "pablo.reyes")
    assert fate.form_schema is not None and "is_social_case" in fate.form_schema["properties"]


# -- 2. completing implies claiming ------------------------------------------------------------


def test_completing_an_unclaimed_task_records_that_the_person_took_it(walker, engine):
    walker.start()
    walker.do("reasignar_solicitud")
    last = engine.history(walker.case.number, by=walker.leader)[-1]
    assert (last.event_type, last.actor, last.data["claimed"]) == (
        "task_completed", walker.leader, True)
    assert engine.replay(walker.case.number, by=walker.leader).proven


def test_completing_a_task_i_claimed_records_the_claim_once(walker, engine):
    walker.start()
    task = walker.task("reasignar_solicitud")
    engine.claim(task.task_id, by=walker.leader)
    walker.do("reasignar_solicitud")
    history = engine.history(walker.case.number, by=walker.leader)
    assert [e.event_type for e in history].count("task_claimed") == 1
    assert "claimed" not in history[-1].data


def test_an_unclaimed_task_page_says_completing_puts_it_in_my_name(web, walker, engine):
    walker.start()
    task = walker.task("reasignar_solicitud")
    ana = web("ana.guaman")
    note = "Al completar esta tarea quedará a su nombre"
    assert note in ana.get(f"/tareas/{task.task_id}").get_data(as_text=True)
    engine.claim(task.task_id, by="ana.guaman")
    assert note not in ana.get(f"/tareas/{task.task_id}").get_data(as_text=True)


# -- 4. attachments: once per case, owned by the form that sent them, orphans expire ----------


def test_attaching_the_same_file_again_after_a_failed_submit_lists_it_once(web, engine):
    coordinator = web("lucia.andrade")
    first = coordinator.post("/casos/nuevo/social_case", {
        **_request_form(situation_summary=None),
        "attachments__upload": (io.BytesIO(PDF), "solicitud.pdf")},
        content_type="multipart/form-data")
    assert first.status_code == 400
    sha = re.search(r'name="attachments" value="([0-9a-f]{64})"',
                    first.get_data(as_text=True)).group(1)
    second = coordinator.post("/casos/nuevo/social_case", {
        **_request_form(), "attachments": sha,
        "attachments__upload": (io.BytesIO(PDF), "solicitud.pdf")},
        content_type="multipart/form-data")
    assert second.status_code == 302
    documents = engine.case_documents("CS-2026-0001", by="ana.guaman")
    assert [d.filename for d in documents] == ["solicitud.pdf"]


def test_the_same_file_sent_twice_by_one_task_form_is_one_document(walker, engine):
    walker.start()
    walker.do("reasignar_solicitud")
    walker.do("analizar_solicitud")
    task = walker.task("realizar_entrevista")
    worker = walker.social_worker
    one = engine.store_document(by=worker, filename="acta.pdf", data=PDF, task_id=task.task_id)
    two = engine.store_document(by=worker, filename="acta.pdf", data=PDF, task_id=task.task_id)
    assert one.ref_id == two.ref_id
    walker.do("realizar_entrevista", attachments=[one.sha256, one.sha256])
    assert len(engine.case_documents(walker.case.number, by=worker)) == 1


def test_an_upload_of_one_task_form_is_not_adopted_by_another_form(walker, engine):
    walker.start()
    task = walker.task("reasignar_solicitud")
    coordinator = walker.coordinator
    document = engine.store_document(by=coordinator, filename="otra.pdf", data=PDF,
                                     task_id=task.task_id)
    with pytest.raises(FormInvalid) as refused:
        engine.start_case("social_case", by=coordinator,
                          data=form_for("recibir_solicitud", attachments=[document.sha256]))
    assert refused.value.by_field() == {
        "attachments": ["Documento desconocido; vuelva a adjuntarlo"]}


def test_an_upload_no_case_took_within_a_day_is_no_longer_linkable(engine, people, clock):
    coordinator = people["coordinador_th"][0]
    late = engine.store_document(by=coordinator, filename="vieja.pdf", data=PDF)
    clock.advance(hours=24, minutes=1)
    with pytest.raises(FormInvalid):
        engine.start_case("social_case", by=coordinator,
                          data=form_for("recibir_solicitud", attachments=[late.sha256],
                                        request_date=clock().date().isoformat()))
    fresh = engine.store_document(by=coordinator, filename="nueva.pdf", data=PDF)
    assert fresh.ref_id != late.ref_id
    clock.advance(hours=23)
    case = engine.start_case("social_case", by=coordinator,
                             data=form_for("recibir_solicitud", attachments=[fresh.sha256],
                                           request_date="2026-03-03"))
    assert [d.filename for d in engine.case_documents(case.number, by=coordinator)] == [
        "nueva.pdf"]


# -- 5. conditional requirements, the error summary, messages, dates ---------------------------


def test_the_conditions_that_make_a_field_required_come_from_the_schema(library):
    definition = library.get("social_case")
    request = definition.form("recibir_solicitud").schema
    assert required_conditions(request) == {"requester_relationship": [
        {"requester_type": {"enum": ["familiar", "institucion"]}}]}
    reassign = definition.form("reasignar_solicitud").schema
    assert required_conditions(reassign)["social_worker"] == [{"is_social_case": {"const": True}}]
    ans = library.get("sla_planning").form("sla_definir_ans").schema
    assert required_conditions(ans)["state_justification"] == [
        {"capability_level": {"maximum": 3}}]
    assert required_conditions(ans)["commitments"] == [{"capability_level": {"minimum": 4}}]


def test_a_conditionally_required_field_carries_its_condition_and_a_hidden_mark(web):
    html = web("lucia.andrade").get("/casos/nuevo/social_case").get_data(as_text=True)
    field = _field_html(html, "requester_relationship")
    assert "data-required-if='[{&#34;requester_type&#34;" in field or \
        'data-required-if=\'[{"requester_type"' in field
    assert 'class="req-mark" hidden' in field and "required" not in field.split(">", 2)[2]
    assert "form.js" in html[html.index("</main>"):]


def test_after_a_refused_submit_the_summary_links_each_field_and_the_mark_shows(web):
    response = web("lucia.andrade").post("/casos/nuevo/social_case", _request_form(
        requester_type="institucion", requester_relationship=None, situation_summary=None,
        beneficiary_id_number="12345"))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    summary = html[html.index("error-summary"):html.index("</ul>")]
    assert 'tabindex="-1"' in html[html.index("error-summary") - 200:html.index("error-summary")
                                   + 200]
    assert '<a href="#f-requester_relationship">Relación con el servidor</a>' in summary
    assert '<a href="#f-situation_summary">' in summary
    assert "Debe tener 10 dígitos" in summary
    field = _field_html(html, "requester_relationship")
    assert 'class="req-mark">' in field and 'required aria-required="true"' in field


def test_the_radio_a_summary_link_points_at_exists(web):
    html = web("lucia.andrade").post("/casos/nuevo/social_case", _request_form(
        requester_type=None)).get_data(as_text=True)
    assert '<a href="#f-requester_type">' in html
    assert 'id="f-requester_type"' in _field_html(html, "requester_type")


def test_a_reception_date_in_the_future_is_refused_with_the_engines_clock(engine, people, clock):
    coordinator = people["coordinador_th"][0]
    with pytest.raises(FormInvalid) as refused:
        engine.start_case("social_case", by=coordinator,
                          data=form_for("recibir_solicitud", request_date="2026-03-03"))
    assert refused.value.by_field() == {"request_date": ["No puede ser una fecha futura"]}
    engine.start_case("social_case", by=coordinator,
                      data=form_for("recibir_solicitud", request_date="2026-03-02"))
    clock.advance(days=1)
    engine.start_case("social_case", by=coordinator,
                      data=form_for("recibir_solicitud", request_date="2026-03-03"))


def test_a_pattern_message_comes_from_the_ui_json_when_it_gives_one():
    form = load_form("f", '{"type": "object", "properties": {"code": {"type": "string", '
                          '"pattern": "^[A-Z]{3}$"}, "phone": {"type": "string", '
                          '"pattern": "^[0-9]{7,10}$"}}}',
                     '{"fields": {"code": {"messages": {"pattern": "Tres letras mayúsculas"}}}}')
    with pytest.raises(FormInvalid) as refused:
        form.validate({"code": "ab", "phone": "12"})
    assert refused.value.by_field() == {"code": ["Tres letras mayúsculas"],
                                        "phone": ["Debe tener entre 7 y 10 dígitos"]}


# -- 10. smaller things ------------------------------------------------------------------------


def test_new_request_is_offered_only_to_people_who_can_start_a_case(web, engine):
    assert engine.startable_processes("lucia.andrade")
    assert not engine.startable_processes("ana.guaman")
    assert "Nueva solicitud" in web("lucia.andrade").get("/bandeja").get_data(as_text=True)
    assert "Nueva solicitud" not in web("ana.guaman").get("/bandeja").get_data(as_text=True)


def test_the_favicon_is_served_from_the_site(web, app):
    html = web("ana.guaman").get("/bandeja").get_data(as_text=True)
    href = re.search(r'<link rel="icon"[^>]*href="([^"]+)"', html).group(1)
    response = app.test_client().get(href)
    assert response.status_code == 200 and b"<svg" in response.data
    response.close()


def test_file_sizes_read_the_spanish_way_on_the_case_page(web, engine, app):
    from web.tasks import file_size

    with app.test_request_context():
        assert [file_size(n) for n in (193, 1229, 10 * 1024 * 1024)] == [
            "193 bytes", "1,2 KB", "10 MB"]
    coordinator = web("lucia.andrade")
    coordinator.post("/casos/nuevo/social_case", {
        **_request_form(), "attachments__upload": (io.BytesIO(PDF), "solicitud.pdf")},
        content_type="multipart/form-data")
    page = web("ana.guaman").get("/casos/CS-2026-0001").get_data(as_text=True)
    assert f"{len(PDF)} bytes" in page and "0 KB" not in page


def test_the_file_picker_speaks_spanish(web):
    html = web("lucia.andrade").get("/casos/nuevo/social_case").get_data(as_text=True)
    picker = _field_html(html, "attachments")
    assert "Elegir archivo" in picker and "Ningún archivo elegido" in picker


def test_the_archive_number_help_is_said_once(web, walker):
    walker.start()
    for activity in ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico", "validar_informe", "remitir_informe",
                     "solicitar_apoyo", "generar_respuesta", "generar_expediente"]:
        walker.do(activity)
    task = walker.task("archivar_expediente")
    html = web(walker.who_for("archivar_expediente")).get(
        f"/tareas/{task.task_id}").get_data(as_text=True)
    field = _field_html(html, "archive_number")
    assert field.count("Se asigna automáticamente") == 1
