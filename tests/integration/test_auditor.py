"""The auditor's workbench: the read-only auditor role per procedure, the access log of
confidential reads (append-only, hash-chained), the replay page's steps and its Verificar."""

from __future__ import annotations

import io
import json
import re

import pytest
from sqlalchemy import text

from engine import NotFound, PermissionDenied
from engine.assignment import parse_responsibility_table
from engine.store import Base
from tests.conftest import DEMO_PASSWORD, ROOT, CaseWalker, form_for

pytestmark = pytest.mark.integration

AUDITOR = "monica.pazmino"          # Auditor/a Interno/a de Talento Humano: the social case
CHARTER_AUDITOR = "esteban.chiriboga"  # the service charter's three procedures
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
DIAGNOSIS = ["analizar_solicitud", "realizar_entrevista", "emitir_diagnostico"]


def closed_case_with_a_review_loop(walker: CaseWalker, **start):
    """A social case whose report was rejected once, then closed."""
    walker.start(**start)
    for activity in ["reasignar_solicitud", *DIAGNOSIS]:
        walker.do(activity)
    walker.do("validar_informe", report_validated=False,
              review_observations="Falta detallar las estrategias.")
    walker.do("emitir_diagnostico", strategies=["Acompañamiento", "Red de apoyo familiar"])
    walker.do("validar_informe", report_validated=True, requires_support=False)
    walker.do("archivar_expediente")
    assert walker.case.status == "completed"
    return walker.case


@pytest.fixture
def closed(walker, engine):
    document = engine.store_document(by=walker.coordinator, filename="solicitud.pdf", data=PDF)
    return closed_case_with_a_review_loop(walker, attachments=[document.sha256]), document


def accesses(engine):
    return engine.list_accesses(AUDITOR)


# -- the role ---------------------------------------------------------------------------------


def test_each_procedure_names_its_auditor_in_the_responsibility_table(library):
    for definition in library.list():
        auditor = definition.responsibility.oversight["auditor"]
        assert auditor.role.startswith("auditor_") and auditor.positions
        assert auditor.role not in definition.roles()  # no lane: no task is ever offered to it
        assert definition.responsibility.to_json()["oversight"]["auditor"]["role"] == auditor.role


def test_an_oversight_block_is_checked_like_the_lanes(library):
    raw = json.loads((ROOT / "bpmn" / "social_case.responsibility.json").read_text())
    for bad, message in [
        ({"auditor": {"role": "coordinador_th", "role_name": "x", "positions": ["P"]}},
         "ya es de un carril"),
        ({"auditor": {"role": "a", "role_name": "x", "positions": []}}, "lista de cargos"),
        ({"dueño": {"role": "a", "role_name": "x", "positions": ["P"]}}, "tipo desconocido"),
        (["auditor"], "debe ser un objeto"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_responsibility_table(json.dumps({**raw, "oversight": bad}))
    without = {k: v for k, v in raw.items() if k != "oversight"}
    assert parse_responsibility_table(json.dumps(without)).oversight == {}


def test_demo_auditors_hold_their_role_through_their_position(engine, people):
    assert people["auditor_gth"] == [AUDITOR]
    assert people["auditor_carta"] == [CHARTER_AUDITOR]
    assert engine.person(AUDITOR).roles == frozenset({"auditor_gth"})
    assert engine.audited_processes(AUDITOR) == ["social_case"]
    assert engine.audited_processes(CHARTER_AUDITOR) == ["sla_followup", "sla_planning",
                                                          "sla_report"]
    assert engine.audited_processes(people["trabajador_social"][0]) == []


def test_an_auditor_reads_every_confidential_case_of_their_procedure_and_nothing_else(
        engine, walker, closed):
    case, document = closed
    open_case = walker.start(requester_name="Marco Tipán")
    listed = sorted(c.number for c in engine.list_cases(AUDITOR).items)
    assert listed == sorted([case.number, open_case.number])
    assert engine.case(case.number, by=AUDITOR).status == "completed"
    assert len(engine.history(case.number, by=AUDITOR)) > 10
    assert [d.sha256 for d in engine.case_documents(case.number, by=AUDITOR)] == [
        document.sha256]
    assert engine.document(document.sha256, by=AUDITOR)[0].filename == "solicitud.pdf"
    # The charter's auditor is an outsider to a social case: it does not exist for them.
    assert not engine.list_cases(CHARTER_AUDITOR).items
    with pytest.raises(NotFound):
        engine.case(case.number, by=CHARTER_AUDITOR)
    with pytest.raises(NotFound):
        engine.document(document.sha256, by=CHARTER_AUDITOR)


def test_an_auditor_can_never_act_in_the_engine(engine, walker):
    walker.start()
    task = walker.task("reasignar_solicitud")
    with pytest.raises(PermissionDenied):
        engine.start_case("social_case", by=AUDITOR, data=form_for("recibir_solicitud"))
    assert engine.startable_processes(AUDITOR) == []
    for verb in (lambda: engine.claim(task.task_id, by=AUDITOR),
                 lambda: engine.release(task.task_id, by=AUDITOR),
                 lambda: engine.task(task.task_id, by=AUDITOR),
                 lambda: engine.save_draft(task.task_id, by=AUDITOR, data={}),
                 lambda: engine.complete_task(task.task_id, by=AUDITOR,
                                              form_data=form_for("reasignar_solicitud"))):
        with pytest.raises(NotFound):
            verb()
    with pytest.raises(PermissionDenied):
        engine.store_document(by=AUDITOR, filename="x.pdf", data=PDF)
    assert not engine.inbox(AUDITOR).available.items
    assert walker.engine.case(walker.case.number, by=walker.coordinator).open_tasks == \
        walker.case.open_tasks


def test_an_auditor_can_never_act_through_any_route_or_the_api(app, web, walker, engine):
    walker.start()
    task_id = walker.task("reasignar_solicitud").task_id
    auditor = web(AUDITOR)
    html = [("GET", f"/tareas/{task_id}", {}), ("POST", f"/tareas/{task_id}", {}),
            ("POST", f"/tareas/{task_id}", {"action": "draft"}),
            ("POST", f"/tareas/{task_id}/tomar", {}), ("POST", f"/tareas/{task_id}/liberar", {}),
            ("GET", "/casos/nuevo/social_case", {}),
            ("POST", "/casos/nuevo/social_case", form_for("recibir_solicitud"))]
    before = len(engine.history(walker.case.number, by=walker.coordinator))
    for method, url, sent in html:
        response = auditor.get(url) if method == "GET" else auditor.post(url, data=sent)
        # Refused as for an outsider: not found, or (a form sent) back to the inbox, undone.
        assert response.status_code == 404 or (
            response.status_code == 302 and response.location.endswith("/bandeja")), (
            method, url, response.status_code)
    new_cases = auditor.get("/casos/nuevo").get_data(as_text=True)
    assert "social_case" not in new_cases
    client = app.test_client()
    token = client.post("/api/login", json={"username": AUDITOR, "password": DEMO_PASSWORD}
                        ).get_json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    api = [("POST", "/api/cases", {"json": {"process": "social_case",
                                            "data": form_for("recibir_solicitud")}}, 403),
           ("POST", f"/api/tasks/{task_id}/claim", {}, 404),
           ("POST", f"/api/tasks/{task_id}/release", {}, 404),
           ("POST", f"/api/tasks/{task_id}/draft", {"json": {"data": {}}}, 404),
           ("POST", f"/api/tasks/{task_id}/complete",
            {"json": {"data": form_for("reasignar_solicitud")}}, 404),
           ("GET", f"/api/tasks/{task_id}", {}, 404),
           ("POST", "/api/documents", {"data": {"file": (io.BytesIO(PDF), "a.pdf")}}, 403)]
    for method, url, extra, status in api:
        response = client.open(url, method=method, headers=bearer, **extra)
        assert response.status_code == status, (method, url, response.get_data(as_text=True))
    # Reading is allowed: the case, through the API and the page (with no task link to act on).
    assert client.get(f"/api/cases/{walker.case.number}", headers=bearer).status_code == 200
    listed = client.get("/api/cases", headers=bearer).get_json()
    assert [c["number"] for c in listed["cases"]] == [walker.case.number]
    assert len(engine.list_cases(walker.coordinator).items) == 1  # no case was opened
    page = auditor.get(f"/casos/{walker.case.number}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Recibir y reasignar" in html and f"/tareas/{task_id}" not in html
    # Someone of the lane gets the link to the task.
    assert f"/tareas/{task_id}" in web(walker.leader).get(
        f"/casos/{walker.case.number}").get_data(as_text=True)
    assert engine.case(walker.case.number, by=walker.coordinator).open_tasks[0].assignee is None
    assert len(engine.history(walker.case.number, by=walker.coordinator)) == before


# -- the access log ---------------------------------------------------------------------------


def test_every_read_of_a_confidential_case_by_an_auditor_is_logged(web, engine, closed,
                                                                      walker):
    case, document = closed
    auditor = web(AUDITOR)
    for url in (f"/casos/{case.number}", f"/casos/{case.number}/informe",
                f"/documentos/{document.sha256}",
                f"/auditoria/casos/{case.number}/pasos.json"):
        response = auditor.get(url)
        assert response.status_code == 200, url
        response.close()  # a download streams its file
    kinds = [e.what for e in reversed(accesses(engine))]
    assert kinds == ["case", "report", "document", "replay"]
    entry = accesses(engine)[-1]
    assert (entry.username, entry.case_number, entry.roles) == (AUDITOR, case.number,
                                                                 "auditor_gth")
    # People of the procedure's lanes read without leaving a trace here.
    web(walker.social_worker).get(f"/casos/{case.number}")
    assert len(accesses(engine)) == 4
    # A missing case shows nothing, so nothing is logged.
    assert auditor.get("/casos/CS-1999-0001").status_code == 404
    assert len(accesses(engine)) == 4


def test_the_api_reads_of_an_auditor_are_logged_too(app, engine, closed):
    case, _ = closed
    client = app.test_client()
    token = client.post("/api/login", json={"username": AUDITOR, "password": DEMO_PASSWORD}
                        ).get_json()["token"]
    for url in (f"/api/cases/{case.number}", f"/api/cases/{case.number}/history"):
        assert client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert [e.what for e in reversed(accesses(engine))] == ["api", "history"]


def test_the_access_log_page_filters_and_only_auditors_open_it(web, engine, closed, walker):
    case, _ = closed
    auditor = web(AUDITOR)
    auditor.get(f"/casos/{case.number}")
    auditor.get(f"/auditoria/casos/{case.number}/pasos.json")
    page = auditor.get("/auditoria/accesos").get_data(as_text=True)
    assert 'id="chain" data-ok="true"' in page and page.count('data-what="') == 2
    only = auditor.get("/auditoria/accesos?what=replay&username=monica.pazmino"
                       ).get_data(as_text=True)
    assert only.count('data-what="replay"') == 1 and 'data-what="case"' not in only
    assert 'data-what="' not in auditor.get("/auditoria/accesos?case=CS-2000-0001"
                                            ).get_data(as_text=True)
    assert "Registro de accesos" in auditor.get("/bandeja").get_data(as_text=True)
    assert web(walker.social_worker).get("/auditoria/accesos").status_code == 404
    with pytest.raises(PermissionDenied):
        engine.list_accesses(walker.social_worker)


def _guard_off(connection):
    if connection.dialect.name == "sqlite":
        connection.execute(text("DROP TRIGGER access_log_no_update"))
    else:
        connection.execute(text("ALTER TABLE access_log DISABLE TRIGGER access_log_append_only"))


def test_nobody_can_change_the_access_log_and_a_tampered_row_breaks_the_chain(web, engine,
                                                                            closed):
    case, _ = closed
    auditor = web(AUDITOR)
    for _ in range(3):
        auditor.get(f"/casos/{case.number}")
    for statement in ("UPDATE access_log SET username = 'nadie' WHERE seq = 2",
                      "DELETE FROM access_log WHERE seq = 3"):
        with pytest.raises(Exception, match="append-only"):
            with engine.sql.begin() as connection:
                connection.execute(text(statement))
    assert engine.check_access_log(AUDITOR).intact
    with engine.sql.begin() as connection:
        _guard_off(connection)
        connection.execute(text("UPDATE access_log SET username = 'nadie' WHERE seq = 2"))
    check = engine.check_access_log(AUDITOR)
    assert (check.intact, check.broken_at, check.entries) == (False, 2, 3)
    page = auditor.get("/auditoria/accesos").get_data(as_text=True)
    assert 'data-ok="false"' in page and "registro 2" in page


# -- the replay -------------------------------------------------------------------------------


def test_the_replay_shows_each_step_with_its_diff_documents_loop_counts_and_deadline(
        engine, closed, walker):
    case, document = closed
    replay = engine.case_replay(case.number, by=AUDITOR)
    steps = replay.steps
    assert [s.seq for s in steps] == list(range(1, len(steps) + 1))
    started = steps[0]
    assert started.event_type == "case_started" and started.role == "coordinador_th"
    first = steps[1]
    assert first.activity_id == "recibir_solicitud"
    assert first.actor == walker.coordinator and first.actor_name
    assert first.role_name == "Coordinador/a General de Talento Humano"
    assert [d.sha256 for d in first.documents] == [document.sha256]
    added = {c.key for c in first.changes if c.kind == "added"}
    assert {"requester_name", "situation_summary"} <= added
    assert "reasignar_solicitud" in first.active
    # The rejected report: the diagnosis is active again and its strategies changed after.
    completed = [s for s in steps if s.event_type == "task_completed"]
    rejected = [s for s in completed if s.activity_id == "validar_informe"][0]
    assert rejected.active == ("emitir_diagnostico",)
    assert any(c.key == "report_validated" for c in rejected.changes)
    second = [s for s in completed if s.activity_id == "emitir_diagnostico"][1]
    assert [c.kind for c in second.changes if c.key == "strategies"] == ["changed"]
    last = steps[-1]
    assert last.counts["emitir_diagnostico"] == 2 and last.counts["validar_informe"] == 2
    assert last.counts["recibir_solicitud"] == 1 and last.active == ()
    assert last.deadline is not None and last.deadline.limit == 15
    assert first.deadline is not None and first.deadline.elapsed == 0
    assert first.deadline.left == 15


def test_the_replay_endpoint_serves_every_step_as_json_in_local_time(web, closed):
    case, _ = closed
    body = web(AUDITOR).get(f"/auditoria/casos/{case.number}/pasos.json").get_json()
    assert body["case"] == case.number and len(body["steps"]) > 10
    step = body["steps"][1]
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", step["when"])
    assert step["label"] == "Completó la tarea" and step["deadline"]["limit"] == 15
    assert body["steps"][-1]["counts"]["emitir_diagnostico"] == 2


def test_the_replay_page_is_for_auditors_and_people_of_the_case_only(web, closed, people):
    case, _ = closed
    assert web(AUDITOR).get(f"/auditoria/casos/{case.number}").status_code == 200
    assert web(people["lider_seguridad"][0]).get(
        f"/auditoria/casos/{case.number}").status_code == 200
    assert web(CHARTER_AUDITOR).get(f"/auditoria/casos/{case.number}").status_code == 404
    assert web(CHARTER_AUDITOR).get(
        f"/auditoria/casos/{case.number}/pasos.json").status_code == 404


def test_verificar_proves_the_case_stores_the_outcome_and_lists_it(web, engine, closed):
    case, _ = closed
    auditor = web(AUDITOR)
    page = auditor.get(f"/auditoria/casos/{case.number}").get_data(as_text=True)
    assert "aún no ha sido verificado" in page
    assert auditor.http.post(f"/auditoria/casos/{case.number}/verificar").status_code == 400
    proved = auditor.post(f"/auditoria/casos/{case.number}/verificar")
    html = proved.get_data(as_text=True)
    assert proved.status_code == 200 and 'id="proof"' in html and 'data-ok="true"' in html
    stored = engine.case_verifications(case.number, by=AUDITOR)
    assert [(v.by, v.check.ok) for v in stored] == [(AUDITOR, True)]
    assert AUDITOR in auditor.get(f"/auditoria/casos/{case.number}").get_data(as_text=True)


def test_verificar_names_the_event_where_a_tampered_case_breaks(web, engine, closed):
    case, _ = closed
    events = Base.metadata.tables["case_event"]
    with engine.sql.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.execute(text("DROP TRIGGER case_event_no_update"))
        else:
            connection.execute(text(
                "ALTER TABLE case_event DISABLE TRIGGER case_event_append_only"))
        connection.execute(events.update().where(events.c.case_id == case.id,
                                                 events.c.seq == 5)
                           .values(actor="alguien.mas"))
    proof = engine.verify_case(case.number, by=AUDITOR)
    assert not proof.ok and proof.seq == 5 and proof.chain_broken_at == 5
    html = web(AUDITOR).post(f"/auditoria/casos/{case.number}/verificar").get_data(as_text=True)
    assert 'data-ok="false"' in html and "evento 5" in html


def test_concurrent_reads_all_join_one_unbroken_chain(engine, closed):
    from concurrent.futures import ThreadPoolExecutor

    case, _ = closed
    auditor = engine.person(AUDITOR)

    def read(_index: int) -> bool:
        return engine.record_access(case.number, by=auditor, what="api", detail="/api/cases")

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert all(pool.map(read, range(24)))
    check = engine.check_access_log(AUDITOR)
    assert (check.entries, check.intact) == (24, True)
