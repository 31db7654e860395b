"""The workshop's JSON API and pages: the contract the editor codes against, and who may do what."""

from __future__ import annotations

from typing import Any

import pytest

from app import create_app
from tests.conftest import DEMO_PASSWORD, WebClient

from .procedure_edits import PROCESS, add_review_task, rename

pytestmark = pytest.mark.integration
RECIBIR = "Recibir la solicitud de intervención"


@pytest.fixture
def api_app(database_url, engine, tmp_path):
    return create_app({"DATABASE_URL": database_url, "ENGINE": engine, "TESTING": True,
                       "SECRET_KEY": "test", "DOCUMENTS_DIR": str(tmp_path / "documents"),
                       "MIGRATION_JOBS_INLINE": True})


class Api:
    def __init__(self, client: Any):
        self.client = client
        self.tokens: dict[str, str] = {}

    def call(self, method: str, url: str, who: str | None, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if who is not None:
            if who not in self.tokens:
                response = self.client.post("/api/login", json={"username": who,
                                                                "password": DEMO_PASSWORD})
                self.tokens[who] = response.get_json()["token"]
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return self.client.open(url, method=method, headers=headers, **kwargs)

    def ok(self, method: str, url: str, who: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.call(method, url, who, **kwargs)
        assert response.status_code == status, (who, url, response.get_data(as_text=True))
        return response.get_json()


@pytest.fixture
def api(api_app, people) -> Api:
    return Api(api_app.test_client())


@pytest.fixture
def owner(people):
    return people["propietario_cs"][0]


def test_the_procedure_lists_versions_and_its_start_form(api, owner, people):
    listed = api.ok("GET", "/api/procedures", owner)
    social = next(p for p in listed if p["id"] == PROCESS)
    assert social["can_edit"] and social["current_version"] == 1 and social["code"]
    assert owner in [o["username"] for o in social["owners"]]
    other = next(p for p in listed if p["id"] == "sla_planning")
    assert not other["can_edit"]
    detail = api.ok("GET", f"/api/processes/{PROCESS}", people["coordinador_th"][0])
    assert detail["versions"][0]["number"] == 1 and len(detail["versions"][0]["hash"]) == 64
    assert detail["start_form"]["schema"]["properties"]["requester_name"]
    files = api.ok("GET", f"/api/processes/{PROCESS}/versions/1/files", owner)
    assert set(files) == {"bpmn", "dmn", "forms", "responsibility"}
    assert "social_case.bpmn" in files["bpmn"]
    assert files["forms"]["recibir_solicitud.json"]["schema"]["type"] == "object"


def test_draft_save_conflict_check_and_publish_over_the_api(api, owner, people):
    draft = api.ok("GET", f"/api/processes/{PROCESS}/draft", owner)
    assert (draft["revision"], draft["base_version"], draft["updated_by"]) == (1, 1, owner)
    body = {k: draft[k] for k in ("bpmn", "dmn", "forms")}
    renamed = rename(body, "recibir_solicitud", RECIBIR, "Registrar la solicitud")
    saved = api.ok("PUT", f"/api/processes/{PROCESS}/draft", owner,
                   json={"revision": 1, **renamed})
    assert saved == {"revision": 2}
    other_owner = people["coordinador_th"][0]  # holds the owner's position too
    stale = api.call("PUT", f"/api/processes/{PROCESS}/draft", other_owner,
                     json={"revision": 1, **body})
    assert stale.status_code == 409
    conflict = stale.get_json()
    assert conflict["error"] == "conflict" and conflict["updated_by"] == owner
    assert conflict["revision"] == 2 and "guardó otra versión del borrador" in conflict["message"]
    broken = add_review_task(renamed, add_form=False)
    check = api.ok("POST", f"/api/processes/{PROCESS}/draft/check", owner, json=broken)
    assert check["ok"] is False
    problem = next(p for p in check["problems"] if p["element_id"] == "revisar_registro")
    assert problem["severity"] == "error" and problem["file"] == "social_case.bpmn"
    assert problem["line"] and "formulario" in problem["message"]
    assert api.ok("POST", f"/api/processes/{PROCESS}/draft/check", owner)["ok"] is True
    refused = api.call("POST", f"/api/processes/{PROCESS}/draft/publish", owner,
                       json={"comment": "x", "revision": 1})
    assert refused.status_code == 409
    api.ok("PUT", f"/api/processes/{PROCESS}/draft", owner, json={"revision": 2, **broken})
    failing = api.call("POST", f"/api/processes/{PROCESS}/draft/publish", owner,
                       json={"comment": "x", "revision": 3})
    assert failing.status_code == 422 and failing.get_json()["problems"]
    api.ok("PUT", f"/api/processes/{PROCESS}/draft", owner,
           json={"revision": 3, **add_review_task(renamed)})
    published = api.ok("POST", f"/api/processes/{PROCESS}/draft/publish", owner, 201,
                       json={"comment": "Nueva revisión", "revision": 4})
    assert published["number"] == 2 and len(published["hash"]) == 64
    diff = api.ok("GET", f"/api/processes/{PROCESS}/diff?from=1&to=2", owner)
    assert {"id": "revisar_registro", "type": "bpmn:UserTask",
            "name": "Revisar el registro"} in diff["added"]
    case = api.ok("POST", "/api/cases", people["coordinador_th"][0], 201, json={
        "process": PROCESS, "data": api.ok("GET", f"/api/processes/{PROCESS}", owner)
        and _request()})
    assert [t["activity_id"] for t in case["open_tasks"]] == ["revisar_registro"]


def _request() -> dict[str, Any]:
    from tests.conftest import form_for

    return form_for("recibir_solicitud")


def test_the_sandbox_verdict_and_the_editor_lookups(api, owner):
    bad = api.ok("POST", "/api/scripts/vet", owner,
                 json={"kind": "condition", "text": "__import__('os')"})
    assert bad["ok"] is False and bad["message"]
    good = api.ok("POST", "/api/scripts/vet", owner, json={"kind": "script", "text": "x = 1"})
    assert good == {"ok": True, "message": None}
    roles = api.ok("GET", f"/api/roles?process={PROCESS}", owner)
    assert {"lane": "trabajador_social", "role": "trabajador_social"}.items() <= next(
        r for r in roles if r["lane"] == "trabajador_social").items()
    forms = api.ok("GET", f"/api/forms?process={PROCESS}", owner)
    assert any(f["file"] == "recibir_solicitud.json" and f["title"] for f in forms)
    decisions = api.ok("GET", "/api/decisions?process=sla_followup", owner)
    assert {d["id"] for d in decisions} >= {"sla_compliance"} or decisions


WRITES = [
    ("GET", "/api/processes/social_case/draft", None),
    ("PUT", "/api/processes/social_case/draft", {"revision": 1, "bpmn": {}}),
    ("DELETE", "/api/processes/social_case/draft", None),
    ("POST", "/api/processes/social_case/draft/check", {}),
    ("POST", "/api/processes/social_case/draft/publish", {"revision": 1, "comment": ""}),
    ("POST", "/api/processes/social_case/draft/trial", None),
    ("POST", "/api/processes/social_case/migrations/dry-run", {"from": 1, "to": 1}),
    ("POST", "/api/processes/social_case/migrations", {"from": 1, "to": 1}),
]


@pytest.mark.parametrize("method,url,body", WRITES)
def test_only_owners_of_the_procedure_may_write_over_the_api(api, people, method, url, body):
    for who in (people["propietario_carta"][0], people["auditor_gth"][0],
                people["trabajador_social"][0], people["lider_seguridad"][0]):
        response = api.call(method, url, who, json=body)
        assert response.status_code == 403, (who, url, response.get_data(as_text=True))
        assert response.get_json()["error"] == "forbidden"
    anonymous = api.call(method, url, None, json=body)
    assert anonymous.status_code == 401 and anonymous.get_json()["error"] == "unauthorized"


PAGES = ["/procesos/social_case/migracion",
         "/procesos/social_case/diferencias?desde=1&hasta=borrador"]


def _web(app, username: str) -> WebClient:
    # Signs in without landing on /bandeja (other pages are not this test's business).
    client = WebClient(app.test_client())
    client.csrf_from(client.http.get("/entrar").get_data(as_text=True))
    response = client.http.post("/entrar", data={"username": username,
                                                 "password": DEMO_PASSWORD,
                                                 "csrf_token": client.token})
    assert response.status_code == 302
    client.get("/procesos")
    return client


@pytest.mark.parametrize("url", PAGES)
def test_only_owners_reach_the_owner_pages(api_app, people, url):
    for who in (people["propietario_carta"][0], people["auditor_gth"][0],
                people["trabajador_social"][0]):
        assert _web(api_app, who).get(url).status_code == 403, who
    anonymous = api_app.test_client().get(url)
    assert anonymous.status_code == 302 and "/entrar" in anonymous.headers["Location"]
    assert _web(api_app, people["propietario_cs"][0]).get(url).status_code == 200


def test_the_procedures_page_shows_owners_versions_and_edit_only_to_owners(api_app, people):
    owner_page = _web(api_app, people["propietario_cs"][0]).get("/procesos").get_data(
        as_text=True)
    assert "Atención y Seguimiento de Casos Sociales" in owner_page
    assert 'href="/procesos/social_case/editar"' in owner_page
    assert 'href="/procesos/sla_planning/editar"' not in owner_page
    assert "Propietario/a del proceso" in owner_page and "procedure-diagram" in owner_page
    worker_page = _web(api_app, people["trabajador_social"][0]).get("/procesos").get_data(
        as_text=True)
    assert "/editar" not in worker_page
    versions = _web(api_app, people["trabajador_social"][0]).get(
        "/procesos/social_case/versiones")
    assert versions.status_code == 200 and "Descargar .bpmn" in versions.get_data(as_text=True)
    bpmn = _web(api_app, people["trabajador_social"][0]).get(
        "/procesos/social_case/versiones/1.bpmn")
    assert bpmn.status_code == 200 and b'id="recibir_solicitud"' in bpmn.data


def test_the_editor_may_use_its_session_with_the_csrf_header(api_app, people):
    owner = _web(api_app, people["propietario_cs"][0])
    draft = owner.http.get(f"/api/processes/{PROCESS}/draft").get_json()
    body = {"revision": draft["revision"], "bpmn": draft["bpmn"], "dmn": draft["dmn"],
            "forms": draft["forms"]}
    assert owner.http.put(f"/api/processes/{PROCESS}/draft", json=body).status_code == 403
    owner.get("/procesos")
    saved = owner.http.put(f"/api/processes/{PROCESS}/draft", json=body,
                           headers={"X-CSRFToken": owner.token})
    assert saved.status_code == 200 and saved.get_json()["revision"] == draft["revision"] + 1


def test_the_migration_page_dry_runs_and_migrates_with_progress(api_app, people, walker,
                                                                 engine):
    owner_name = people["propietario_cs"][0]
    walker.start()
    draft = engine.procedure_draft(PROCESS, by=owner_name)
    engine.save_procedure_draft(PROCESS, by=owner_name, revision=draft.revision,
                                files=rename(draft.files, "recibir_solicitud", RECIBIR, "Otra"))
    engine.publish_procedure_draft(PROCESS, by=owner_name, revision=draft.revision + 1,
                                   comment="x")
    owner = _web(api_app, owner_name)
    plan = owner.get(f"/procesos/{PROCESS}/migracion?desde=1&hasta=2&estado=open")
    page = plan.get_data(as_text=True)
    assert walker.case.number in page and "Migrar 1 caso</button>" in page
    moved = owner.post(f"/procesos/{PROCESS}/migracion", data={"desde": "1", "hasta": "2",
                                                                "casos": "", "estado": "open"})
    assert moved.status_code == 302
    job_id = moved.headers["Location"].split("job=")[1]
    progress = owner.http.get(f"/api/migration-jobs/{job_id}").get_json()
    assert progress == {"done": 1, "total": 1, "moved": 1, "refused": 0, "finished": True,
                        "refusals": []}
    assert "migration-progress" in owner.get(moved.headers["Location"]).get_data(as_text=True)


def test_play_mode_over_the_api(api, owner, people):
    started = api.ok("POST", f"/api/processes/{PROCESS}/draft/trial", owner, 201)
    trial_id, state = started["trial_id"], started["state"]
    first = state["ready"][0]
    assert first["activity_id"] == "recibir_solicitud" and first["form"]["schema"]
    refused = api.call("POST", f"/api/trials/{trial_id}/tasks/{first['task_id']}/complete",
                       owner, json={"data": {}})
    assert refused.status_code == 422 and "requester_name" in refused.get_json()["fields"]
    state = api.ok("POST", f"/api/trials/{trial_id}/tasks/{first['task_id']}/complete", owner,
                   json={"data": _request()})
    assert state["completed"][-1] != "recibir_solicitud" or state["ready"]
    assert state["timers"] and state["timers"][0]["id"] == "timer_plazo_diagnostico"
    fired = api.ok("POST", f"/api/trials/{trial_id}/timers/fire", owner, json={})
    assert "timer_plazo_diagnostico" in fired["completed"]
    assert api.ok("GET", f"/api/trials/{trial_id}", owner)["completed"] == fired["completed"]
    assert api.call("GET", f"/api/trials/{trial_id}", people["auditor_gth"][0]).status_code == 403
    api.ok("DELETE", f"/api/trials/{trial_id}", owner)
    assert api.call("GET", f"/api/trials/{trial_id}", owner).status_code == 404


def test_every_workshop_route_is_in_the_openapi_document(api_app, api, owner):
    client = api_app.test_client()
    moved = client.get("/api/openapi-workshop.json")
    assert moved.status_code == 301 and moved.location.endswith("/api/openapi.json")
    document = client.get("/api/openapi.json").get_json()
    documented = {(path, method.upper()) for path, item in document["paths"].items()
                  for method in item}
    routes = {(rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}"), method)
              for rule in api_app.url_map.iter_rules()
              if rule.endpoint.startswith("api.") and rule.endpoint.split(".")[1] in {
                  name for name in dir(__import__("web.procedures_api").procedures_api)}
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    routes.discard(("/api/openapi-workshop.json", "GET"))
    assert routes and routes <= documented, routes - documented


def test_an_owner_reading_english_gets_problems_and_migration_plans_in_english(
        api_app, api, people, walker, engine):
    owner_name = people["propietario_cs"][0]
    walker.start()  # waits at «Recibir y reasignar», which version 2 leaves alone
    draft = engine.procedure_draft(PROCESS, by=owner_name)
    engine.save_procedure_draft(PROCESS, by=owner_name, revision=draft.revision,
                                files=rename(draft.files, "recibir_solicitud", RECIBIR, "Otra"))
    engine.publish_procedure_draft(PROCESS, by=owner_name, revision=draft.revision + 1,
                                   comment="x")
    owner = _web(api_app, owner_name)
    plan = f"/procesos/{PROCESS}/migracion?desde=1&hasta=2&estado=open"
    assert "sigue activa, sin cambios" in owner.get(plan).get_data(as_text=True)
    owner.get("/idioma/en")
    page = owner.get(plan).get_data(as_text=True)
    assert "stays active, unchanged" in page and "sigue activa" not in page

    broken = add_review_task(engine.procedure_draft(PROCESS, by=owner_name).files,
                             add_form=False)
    checked = owner.http.post(f"/api/processes/{PROCESS}/draft/check", json=broken,
                              headers={"X-CSRFToken": owner.token})
    assert checked.status_code == 200, checked.get_data(as_text=True)
    messages = [p["message"] for p in checked.get_json()["problems"]]
    assert "The form forms/revisar_registro.json does not exist" in messages, messages
    # A client that did not ask for English reads the engine's Spanish.
    spanish = api.ok("POST", f"/api/processes/{PROCESS}/draft/check", owner_name, json=broken)
    assert "No existe el formulario forms/revisar_registro.json" in [
        p["message"] for p in spanish["problems"]]
