"""The process owner's workshop in /api/openapi.json: every answer the document lists for its
operations happens for real and matches the document (schemathesis' checks, and no field the
document leaves out). The generated requests of tests/integration/test_openapi.py cover these
operations too; this walk makes each documented status happen at least once."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.procedure_edits import rename
from tests.integration.test_openapi import (  # noqa: F401 - `served` is a fixture
    COORDINATOR,
    LEADER,
    PROCESS,
    Walker,
    served,
)
from web.openapi import openapi_document, workshop_paths

pytestmark = pytest.mark.integration

OWNER, OUTSIDER = COORDINATOR, LEADER  # the leader manages the social case but does not own it
BASE = "/api/processes/{process_id}"
HERE = {"process_id": PROCESS}
NOWHERE = {"process_id": "no_existe"}
RECIBIR = "Recibir la solicitud de intervención"


def _files(draft: dict) -> dict:
    return {key: draft[key] for key in ("bpmn", "dmn", "forms", "responsibility")}


def test_every_workshop_answer_happens_and_matches_the_document(served):  # noqa: F811
    call = Walker(served)

    # Procedures and versions.
    listed = call("GET", "/api/procedures", OWNER, 200)
    assert PROCESS in [p["id"] for p in listed]
    call("GET", "/api/procedures", None, 401)
    detail = call("GET", BASE, OUTSIDER, 200, path_parameters=HERE)
    assert detail["start_form"]["schema"]["properties"]
    call("GET", BASE, None, 401, path_parameters=HERE)
    call("GET", BASE, OWNER, 404, path_parameters=NOWHERE)
    files = BASE + "/versions/{number}/files"
    assert call("GET", files, OWNER, 200, path_parameters={**HERE, "number": "1"})["bpmn"]
    call("GET", files, None, 401, path_parameters={**HERE, "number": "1"})
    call("GET", files, OWNER, 404, path_parameters={**HERE, "number": "99"})
    call("GET", files, OWNER, 404, path_parameters={**NOWHERE, "number": "1"})
    for lookup in ("/api/roles", "/api/forms", "/api/decisions"):
        assert isinstance(call("GET", lookup, OWNER, 200, query={"process": PROCESS}), list)
        call("GET", lookup, OWNER, 400)
        call("GET", lookup, None, 401, query={"process": PROCESS})
        call("GET", lookup, OWNER, 404, query={"process": "no_existe"})

    # The draft: read, save (and its refusals), check, discard.
    draft_path = BASE + "/draft"
    draft = call("GET", draft_path, OWNER, 200, path_parameters=HERE)
    call("GET", draft_path, None, 401, path_parameters=HERE)
    call("GET", draft_path, OUTSIDER, 403, path_parameters=HERE)
    call("GET", draft_path, OWNER, 404, path_parameters=NOWHERE)
    edited = rename(_files(draft), "recibir_solicitud", RECIBIR, "Registrar la solicitud")
    body = {**edited, "revision": draft["revision"]}
    call("PUT", draft_path, OWNER, 400, path_parameters=HERE, body={**edited})
    call("PUT", draft_path, None, 401, path_parameters=HERE, body=body)
    call("PUT", draft_path, OUTSIDER, 403, path_parameters=HERE, body=body)
    call("PUT", draft_path, OWNER, 404, path_parameters=NOWHERE, body=body)
    hostile = json.loads(json.dumps(body))
    hostile["bpmn"]["social_case.bpmn"] = hostile["bpmn"]["social_case.bpmn"].replace(
        "<bpmn:definitions", '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
        "<bpmn:definitions", 1)
    refused = call("PUT", draft_path, OWNER, 422, path_parameters=HERE, body=hostile)
    assert refused["message"]
    huge = {**body, "padding": "x" * (9 * 1024 * 1024)}
    call("PUT", draft_path, OWNER, 413, path_parameters=HERE, body=huge)
    saved = call("PUT", draft_path, OWNER, 200, path_parameters=HERE, body=body)
    stale = call("PUT", draft_path, OWNER, 409, path_parameters=HERE, body=body)
    assert stale["updated_by"] == OWNER and stale["revision"] == saved["revision"]

    check = BASE + "/draft/check"
    assert call("POST", check, OWNER, 200, path_parameters=HERE, body={})["ok"] is True
    broken = json.loads(json.dumps(edited))
    broken["forms"].pop("analizar_solicitud.json")
    found = call("POST", check, OWNER, 200, path_parameters=HERE, body=broken)
    assert not found["ok"] and found["problems"][0]["element_id"] == "analizar_solicitud"
    call("POST", check, OWNER, 400, path_parameters=HERE, body=[1])
    call("POST", check, None, 401, path_parameters=HERE, body={})
    call("POST", check, OUTSIDER, 403, path_parameters=HERE, body={})
    call("POST", check, OWNER, 404, path_parameters=NOWHERE, body={})

    vet = "/api/scripts/vet"
    assert call("POST", vet, OWNER, 200, body={"kind": "condition", "text": "a and"})[
        "ok"] is False
    call("POST", vet, OWNER, 400, body={"kind": "macro", "text": "x"})
    call("POST", vet, None, 401, body={"kind": "condition", "text": "a"})

    # Play mode.
    trial_path = BASE + "/draft/trial"
    started = call("POST", trial_path, OWNER, 201, path_parameters=HERE)
    call("POST", trial_path, None, 401, path_parameters=HERE)
    call("POST", trial_path, OUTSIDER, 403, path_parameters=HERE)
    call("POST", trial_path, OWNER, 404, path_parameters=NOWHERE)
    trial = {"trial_id": started["trial_id"]}
    nowhere_trial = {"trial_id": "no-existe"}
    one = "/api/trials/{trial_id}"
    assert call("GET", one, OWNER, 200, path_parameters=trial)["ready"]
    for who, status, where in ((None, 401, trial), (OUTSIDER, 403, trial),
                               (OWNER, 404, nowhere_trial)):
        call("GET", one, who, status, path_parameters=where)
        call("POST", one + "/timers/fire", who, status, path_parameters=where, body={})
        call("DELETE", one, who, status, path_parameters=where)
    task = {**trial, "task_id": started["state"]["ready"][0]["task_id"]}
    complete = one + "/tasks/{task_id}/complete"
    invalid = call("POST", complete, OWNER, 422, path_parameters=task, body={"data": {}})
    assert "requester_name" in invalid["fields"]
    call("POST", complete, OWNER, 400, path_parameters=task, body={"data": "texto"})
    call("POST", complete, None, 401, path_parameters=task, body={"data": {}})
    call("POST", complete, OUTSIDER, 403, path_parameters=task, body={"data": {}})
    call("POST", complete, OWNER, 404, path_parameters={**trial, "task_id": "no-existe"},
         body={"data": {}})
    from tests.conftest import form_for

    moved = call("POST", complete, OWNER, 200, path_parameters=task,
                 body={"data": form_for("recibir_solicitud")})
    assert "recibir_solicitud" in moved["completed"]
    fired = call("POST", one + "/timers/fire", OWNER, 200, path_parameters=trial, body={})
    assert fired["completed"]
    call("DELETE", one, OWNER, 200, path_parameters=trial)

    # Publishing, and its refusals.
    publish = BASE + "/draft/publish"
    call("POST", publish, OWNER, 400, path_parameters=HERE, body={"comment": "sin revisión"})
    call("POST", publish, None, 401, path_parameters=HERE,
         body={"revision": saved["revision"], "comment": "x"})
    call("POST", publish, OUTSIDER, 403, path_parameters=HERE,
         body={"revision": saved["revision"], "comment": "x"})
    call("POST", publish, OWNER, 404, path_parameters=NOWHERE,
         body={"revision": saved["revision"], "comment": "x"})
    call("POST", publish, OWNER, 409, path_parameters=HERE,
         body={"revision": saved["revision"] - 1, "comment": "x"})
    bad = call("PUT", draft_path, OWNER, 200, path_parameters=HERE,
               body={**broken, "revision": saved["revision"]})
    failed = call("POST", publish, OWNER, 422, path_parameters=HERE,
                  body={"revision": bad["revision"], "comment": "x"})
    assert failed["problems"]
    good = call("PUT", draft_path, OWNER, 200, path_parameters=HERE,
                body={**edited, "revision": bad["revision"]})
    published = call("POST", publish, OWNER, 201, path_parameters=HERE,
                     body={"revision": good["revision"], "comment": "Registrar"})
    assert published["number"] == 2

    # A failing draft cannot be tried.
    failing = call("GET", draft_path, OWNER, 200, path_parameters=HERE)
    call("PUT", draft_path, OWNER, 200, path_parameters=HERE,
         body={**broken, "revision": failing["revision"]})
    call("POST", trial_path, OWNER, 422, path_parameters=HERE)
    discarded = call("DELETE", draft_path, OWNER, 200, path_parameters=HERE)
    assert discarded["discarded"] is True
    call("DELETE", draft_path, None, 401, path_parameters=HERE)
    call("DELETE", draft_path, OUTSIDER, 403, path_parameters=HERE)
    call("DELETE", draft_path, OWNER, 404, path_parameters=NOWHERE)

    # The diff of the two versions.
    diff = BASE + "/diff"
    changed = call("GET", diff, OWNER, 200, path_parameters=HERE, query={"from": 1, "to": "2"})
    assert "recibir_solicitud" in [element["id"] for element in changed["changed"]]
    call("GET", diff, OWNER, 400, path_parameters=HERE, query={"from": "x", "to": "2"})
    call("GET", diff, None, 401, path_parameters=HERE, query={"from": 1, "to": "2"})
    call("GET", diff, OUTSIDER, 403, path_parameters=HERE, query={"from": 1, "to": "draft"})
    call("GET", diff, OWNER, 404, path_parameters=NOWHERE, query={"from": 1, "to": "2"})

    # Migration: a dry run, then a job over the open cases of version 1.
    selection = {"from": 1, "to": 2, "cases": "all", "state": "open"}
    for path, status in ((BASE + "/migrations/dry-run", 200), (BASE + "/migrations", 202)):
        call("POST", path, OWNER, 400, path_parameters=HERE, body={**selection, "cases": 5})
        call("POST", path, None, 401, path_parameters=HERE, body=selection)
        call("POST", path, OUTSIDER, 403, path_parameters=HERE, body=selection)
        call("POST", path, OWNER, 404, path_parameters=NOWHERE, body=selection)
        answer = call("POST", path, OWNER, status, path_parameters=HERE, body=selection)
    job = {"job_id": answer["job_id"]}
    progress = call("GET", "/api/migration-jobs/{job_id}", OWNER, 200, path_parameters=job)
    assert progress["total"] >= 2
    # The job runs in a thread of the app: let it end before the next test empties the tables.
    deadline = time.monotonic() + 60
    while not progress["finished"] and time.monotonic() < deadline:
        time.sleep(0.05)
        progress = call("GET", "/api/migration-jobs/{job_id}", OWNER, 200, path_parameters=job)
    assert progress["finished"]
    call("GET", "/api/migration-jobs/{job_id}", None, 401, path_parameters=job)
    # Someone who does not own the procedure is not told the job exists.
    call("GET", "/api/migration-jobs/{job_id}", OUTSIDER, 404, path_parameters=job)
    call("GET", "/api/migration-jobs/{job_id}", OWNER, 404, path_parameters={"job_id": "no"})

    workshop = workshop_paths()
    documented = {(method.upper(), path, int(status))
                  for path, item in openapi_document()["paths"].items() if path in workshop
                  for method, operation in item.items() for status in operation["responses"]}
    assert documented - call.seen == set(), "documented answers never produced"
