"""Manual tasks and plain BPMN tasks are human tasks with no form: offered to their lane's role in
the inbox, shown with their instructions, and marked as done (engine, pages, API, replay)."""

from __future__ import annotations

import pytest

from app import create_app
from engine import Engine, FormInvalid, ScriptLimits
from tests.conftest import FAST_HASHER, WebClient
from tests.integration.test_runtime_safety import PASSWORD, build_library

pytestmark = pytest.mark.integration

INSTRUCTIONS = "Revise que la carpeta física esté completa y firmada."


def _process(tag: str) -> dict[str, dict[str, object]]:
    return {"checklist": dict(
        refs=["start", "check", "done"],
        body=f"""<bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check"/>
    <bpmn:{tag} id="check" name="Verificar la carpeta">
      <bpmn:documentation>{INSTRUCTIONS}</bpmn:documentation></bpmn:{tag}>
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="done"/>
    <bpmn:endEvent id="done" name="Carpeta verificada"/>""", extra="")}


@pytest.fixture(params=["manualTask", "task"])
def setup(request, tmp_path, database_url, clock):
    library = build_library(tmp_path, _process(request.param), {})
    eng = Engine(database_url, library, clock=clock, password_hasher=FAST_HASHER,
                 script_limits=ScriptLimits(), documents_dir=tmp_path / "docs")
    eng.create_schema()
    for username in ("ana", "beto"):
        eng.add_person(username, username.title(), password=PASSWORD, positions=("Oficinista",))
    app = create_app({"DATABASE_URL": database_url, "ENGINE": eng, "TESTING": True,
                      "SECRET_KEY": "test-secret", "BPMN_DIR": str(tmp_path / "bpmn"),
                      "FORMS_DIR": str(tmp_path / "forms"),
                      "DOCUMENTS_DIR": str(tmp_path / "docs")})
    yield eng, app
    eng.sql.dispose()


def _signed_in(app, username: str) -> WebClient:
    client = WebClient(app.test_client())
    assert client.login(username, PASSWORD).status_code == 302
    return client


def test_a_task_with_no_form_is_offered_to_its_role_and_marked_done_through_the_engine(setup):
    eng, _app = setup
    case = eng.start_case("checklist", by="ana")
    [task] = case.open_tasks
    assert (task.activity_id, task.activity_name, task.form_id) == (
        "check", "Verificar la carpeta", None)
    assert [t.task_id for t in eng.inbox("beto").available.items] == [task.task_id]
    detail = eng.task(task.task_id, by="beto")
    assert detail.form_schema is None and detail.instructions == INSTRUCTIONS

    with pytest.raises(FormInvalid):  # no form: nothing to write into the case
        eng.complete_task(task.task_id, by="beto", form_data={"sneaked": "in"})
    done = eng.complete_task(task.task_id, by="beto", form_data={})
    assert done.status == "completed" and done.outcome == "Carpeta verificada"
    assert eng.inbox("beto").available.items == ()
    replay = eng.replay(case.id, by="ana")
    assert replay.chain_intact and replay.stored_state_matches
    assert all(step.recorded_state == step.replayed_state for step in replay.steps)


def test_the_task_page_shows_the_instructions_and_marks_the_task_done(setup):
    eng, app = setup
    case = eng.start_case("checklist", by="ana")
    task_id = case.open_tasks[0].task_id
    client = _signed_in(app, "beto")

    inbox = client.get("/bandeja").get_data(as_text=True)
    assert "Verificar la carpeta" in inbox and case.number in inbox
    page = client.get(f"/tareas/{task_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Verificar la carpeta" in html and INSTRUCTIONS in html
    assert "Marcar como hecha" in html and "El caso hasta ahora" in html
    assert "Guardar borrador" not in html
    case_page = client.get(f"/casos/{case.number}").get_data(as_text=True)
    assert "Verificar la carpeta" in case_page

    # Without the CSRF token nothing happens.
    refused = client.http.post(f"/tareas/{task_id}", data={"action": "complete"})
    assert refused.status_code == 400
    assert eng.case(case.id, by="ana").status == "open"

    done = client.post(f"/tareas/{task_id}", {"action": "complete"})
    assert done.status_code == 302
    assert eng.case(case.id, by="ana").status == "completed"
    assert "marcada como hecha" in client.get("/bandeja").get_data(as_text=True)
    history = eng.history(case.id, by="ana")
    assert [e.event_type for e in history][-2:] == ["task_completed", "case_completed"]
    assert history[-2].actor == "beto"


def test_the_api_marks_a_task_with_no_form_done_with_an_empty_body(setup):
    eng, app = setup
    case = eng.start_case("checklist", by="ana")
    task_id = case.open_tasks[0].task_id
    client = app.test_client()
    token = client.post("/api/login", json={"username": "beto", "password": PASSWORD}
                        ).get_json()["token"]
    response = client.post(f"/api/tasks/{task_id}/complete", json={},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["status"] == "completed"
