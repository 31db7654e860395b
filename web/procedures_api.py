"""The workshop's JSON API: procedures, versions, drafts, check, publish, diff, trials, migrations.

Its routes hang on the API blueprint (``/api/…``), so they share its bearer tokens and body
limits; the browser editor may instead use its session cookie, and then every write carries the
page's CSRF token in an ``X-CSRFToken`` header. Errors are ``{"error": code, "message": …}``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, jsonify, redirect, request, url_for
from flask_babel import get_locale
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from engine import CauceError, FormInvalid, PersonView
from engine.case_migration import Selection
from engine.procedure_check import vet_code
from engine.procedures import ChecksFailed, DraftConflict, ProcedureInfo, VersionInfo

from . import engine
from .api import _bearer_person, blueprint, json_depth, plain, unstorable
from .auth import current_person
from .workshop_messages import all_in_language, in_language

# A procedure's files (diagram, tables, forms) travel whole in one body: far below this.
MAX_DRAFT_BYTES = 8 * 1024 * 1024
STATUS = {"bad_request": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404,
          "conflict": 409, "stale": 409, "check_failed": 422, "invalid_form": 422,
          "payload_too_large": 413, "script_error": 422, "invalid_definition": 422}
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def fail(code: str, message: str, status: int | None = None, **extra: Any,
         ) -> tuple[Response, int]:
    """Return the workshop's JSON error."""
    return jsonify({"error": code, "message": message, **extra}), status or STATUS.get(code, 400)


class _Refused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def workshop(view: Callable[..., Any]) -> Callable[..., Any]:
    """Require a bearer token or a signed-in session (with CSRF on writes); map errors."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        person = _bearer_person()
        if person is None:
            person = current_person()
            if person is None:
                return fail("unauthorized", "Inicie sesión o envíe un token válido")
            if request.method not in SAFE_METHODS:
                try:
                    validate_csrf(request.headers.get("X-CSRFToken")
                                  or request.headers.get("X-CSRF-Token"))
                except (ValidationError, CSRFError):
                    return fail("forbidden", "Falta el token CSRF de la página "
                                             "(cabecera X-CSRFToken)")
        g.api_person = person
        try:
            return view(*args, **kwargs)
        except _Refused as refused:
            return fail(refused.code, refused.message)
        except DraftConflict as conflict:
            return fail("conflict", conflict.message, updated_by=conflict.updated_by,
                        revision=conflict.revision)
        except ChecksFailed as failure:
            return fail("check_failed", failure.message,
                        problems=[_problem_json(p) for p in failure.problems])
        except FormInvalid as failure:
            return fail("invalid_form", failure.message, fields=failure.by_field())
        except CauceError as failure:
            return fail(failure.code, failure.message)
    return wrapper


def _me() -> PersonView:
    person: PersonView = g.api_person
    return person


def _body(required: bool = True) -> dict[str, Any]:
    if request.content_length and request.content_length > MAX_DRAFT_BYTES:
        raise _Refused("payload_too_large", "El cuerpo supera el tamaño máximo "
                                            f"({MAX_DRAFT_BYTES // 1024 // 1024} MB)")
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise _Refused("bad_request", "El cuerpo debe ser un objeto JSON")
        return {}
    if json_depth(raw) > 64:
        raise _Refused("bad_request", "El JSON anida demasiados niveles")
    body = request.get_json(silent=True, force=True)
    if not isinstance(body, dict):
        raise _Refused("bad_request", "El cuerpo debe ser un objeto JSON")
    if unstorable(body):
        raise _Refused("bad_request", "Los datos contienen caracteres no permitidos")
    return body


def _language() -> str:
    """Return the language the app chose for this request (the header's switch)."""
    return str(get_locale())


def _problem_json(problem: Any) -> dict[str, Any]:
    """Return a check problem as the API shows it, its message in the request's language."""
    shown: dict[str, Any] = problem.to_json()
    shown["message"] = in_language(shown["message"], _language())
    return shown


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise _Refused("bad_request", f"'{name}' debe ser un número entero")
    return value


def _version_json(version: VersionInfo) -> dict[str, Any]:
    return {"number": version.number, "hash": version.hash, "created_by": version.created_by,
            "created_at": version.created_at.isoformat(), "comment": version.comment,
            "open_cases": version.open_cases, "closed_cases": version.closed_cases}


def _procedure_json(info: ProcedureInfo) -> dict[str, Any]:
    return {"id": info.process_id, "name": info.name, "code": info.code,
            "current_version": info.current.number,
            "owners": [{"username": p.username, "full_name": p.full_name}
                       for p in info.owners],
            "owner_role": info.owner_role, "owner_role_name": info.owner_role_name,
            "can_edit": info.can_edit}


def _files_body(body: dict[str, Any]) -> dict[str, Any]:
    return {key: body.get(key) or {} for key in ("bpmn", "dmn", "forms", "responsibility")}


# -- procedures and versions ------------------------------------------------------------------


@blueprint.route("/procedures")
@workshop
def procedure_list() -> Any:
    """List every procedure (the workshop's list; /api/processes lists what I may start)."""
    return jsonify([_procedure_json(p) for p in engine().list_procedures(_me())])


@blueprint.route("/processes/<process_id>")
@workshop
def procedure_detail(process_id: str) -> Any:
    """Return a procedure, its versions and its start form."""
    info = engine().procedure(process_id, by=_me())
    form = engine().procedure_start_form(process_id)
    return jsonify({**_procedure_json(info),
                    "versions": [_version_json(v) for v in info.versions],
                    "start_form": None if form is None else {
                        "activity_id": form["activity_id"], "form_id": form["form_id"],
                        "schema": form["schema"], "ui": form["ui"]}})


@blueprint.route("/processes/<process_id>/versions/<number>/files")
@workshop
def version_files(process_id: str, number: str) -> Any:
    """Return a version's files: bpmn, dmn, forms, responsibility."""
    engine().procedure(process_id, by=_me())  # NotFound for an unknown procedure
    if not number.isdigit():  # no such version, answered in the workshop's error format
        raise _Refused("not_found", f"No existe la versión {number!r}")
    return jsonify(engine().procedure_files(process_id, int(number)))


# -- the draft --------------------------------------------------------------------------------


def _draft_json(draft: Any) -> dict[str, Any]:
    return {**draft.files, "revision": draft.revision, "updated_by": draft.updated_by,
            "updated_at": draft.updated_at.isoformat(), "base_version": draft.base_version}


@blueprint.route("/processes/<process_id>/draft", methods=["GET"])
@workshop
def draft_get(process_id: str) -> Any:
    """Return the draft (created from the current version when there is none)."""
    return jsonify(_draft_json(engine().procedure_draft(process_id, by=_me())))


@blueprint.route("/processes/<process_id>/draft", methods=["PUT"])
@workshop
def draft_put(process_id: str) -> Any:
    """Save the draft if nobody saved it since the revision the client saw."""
    body = _body()
    revision = _int(body.get("revision"), "revision")
    draft = engine().save_procedure_draft(process_id, by=_me(), revision=revision,
                                          files=_files_body(body))
    return jsonify({"revision": draft.revision})


@blueprint.route("/processes/<process_id>/draft", methods=["DELETE"])
@workshop
def draft_delete(process_id: str) -> Any:
    """Discard the draft."""
    existed = engine().discard_procedure_draft(process_id, by=_me())
    return jsonify({"discarded": existed})


@blueprint.route("/processes/<process_id>/draft/check", methods=["POST"])
@workshop
def draft_check(process_id: str) -> Any:
    """Check the saved draft, or the files in the body, with the start-up pipeline."""
    body = _body(required=False)
    files = _files_body(body) if any(body.get(k) for k in ("bpmn", "dmn", "forms")) else None
    result = engine().check_procedure_draft(process_id, by=_me(), files=files)
    return jsonify({"ok": result.ok, "problems": [_problem_json(p) for p in result.problems]})


@blueprint.route("/processes/<process_id>/draft/publish", methods=["POST"])
@workshop
def draft_publish(process_id: str) -> Any:
    """Publish the draft as a new version."""
    body = _body()
    revision = _int(body.get("revision"), "revision")
    comment = body.get("comment") or ""
    if not isinstance(comment, str):
        raise _Refused("bad_request", "'comment' debe ser texto")
    published = engine().publish_procedure_draft(process_id, by=_me(), revision=revision,
                                                 comment=comment)
    return jsonify({"number": published.number, "hash": published.hash}), 201


@blueprint.route("/scripts/vet", methods=["POST"])
@workshop
def vet_script() -> Any:
    """Return the sandbox's verdict on a script or a condition."""
    body = _body()
    kind, text = body.get("kind"), body.get("text")
    if kind not in ("script", "condition") or not isinstance(text, str):
        raise _Refused("bad_request", "Envíe {\"kind\": \"script\"|\"condition\", \"text\": …}")
    message = vet_code(kind, text)
    return jsonify({"ok": message is None, "message": message})


# -- diff -------------------------------------------------------------------------------------


@blueprint.route("/processes/<process_id>/diff")
@workshop
def version_diff(process_id: str) -> Any:
    """Compare two versions (``to=draft`` compares with the draft)."""
    raw_from, raw_to = request.args.get("from", ""), request.args.get("to", "")
    if not raw_from.isdigit() or not (raw_to.isdigit() or raw_to == "draft"):
        raise _Refused("bad_request", "Indique ?from=N&to=M (M puede ser draft)")
    diff = engine().procedure_diff(process_id, int(raw_from),
                                   None if raw_to == "draft" else int(raw_to), by=_me())
    return jsonify(diff.to_json())


# -- lookups for the editor -------------------------------------------------------------------


@blueprint.route("/roles")
@workshop
def roles() -> Any:
    """Return the lanes of a procedure, their roles and the positions each maps to."""
    definition = engine().procedure_version(
        _process_arg(), engine().procedure(_process_arg(), by=_me()).current.number)
    rows = []
    for table in (definition.responsibility, *definition.extra_tables):
        for lane in table.lanes.values():
            rows.append({"lane": lane.lane, "role": lane.role, "role_name": lane.role_name,
                         "positions": list(lane.positions), "process": table.process_id})
    return jsonify(rows)


@blueprint.route("/forms")
@workshop
def forms() -> Any:
    """Return the forms of a procedure's current version, with their titles."""
    definition = engine().procedure_version(
        _process_arg(), engine().procedure(_process_arg(), by=_me()).current.number)
    return jsonify([{"file": f"{form_id}.json", "form_id": form_id,
                     "title": form.schema.get("title") or form_id}
                    for form_id, form in sorted(definition.forms.items())])


@blueprint.route("/decisions")
@workshop
def decisions() -> Any:
    """Return the DMN decisions of a procedure's current version."""
    from engine.procedure_diff import decisions_of

    definition = engine().procedure_version(
        _process_arg(), engine().procedure(_process_arg(), by=_me()).current.number)
    return jsonify(decisions_of(definition.bundle))


def _process_arg() -> str:
    process_id = request.args.get("process", "")
    if not process_id:
        raise _Refused("bad_request", "Indique ?process=<id>")
    return process_id


# -- play mode --------------------------------------------------------------------------------


@blueprint.route("/processes/<process_id>/draft/trial", methods=["POST"])
@workshop
def trial_start(process_id: str) -> Any:
    """Run the draft as a throwaway case."""
    state = engine().start_trial(process_id, by=_me())
    return jsonify({"trial_id": state.trial_id, "state": state.to_json()}), 201


@blueprint.route("/trials/<trial_id>", methods=["GET"])
@workshop
def trial_get(trial_id: str) -> Any:
    """Return a trial's state."""
    return jsonify(engine().trial_state(trial_id, by=_me()).to_json())


@blueprint.route("/trials/<trial_id>/tasks/<task_id>/complete", methods=["POST"])
@workshop
def trial_complete(trial_id: str, task_id: str) -> Any:
    """Complete a ready task of a trial."""
    data = _body().get("data")
    if not isinstance(data, dict):
        raise _Refused("bad_request", "Envíe {\"data\": {…}}")
    return jsonify(engine().complete_trial_task(trial_id, task_id, by=_me(),
                                                data=data).to_json())


@blueprint.route("/trials/<trial_id>/timers/fire", methods=["POST"])
@workshop
def trial_fire(trial_id: str) -> Any:
    """Fast-forward a trial to a timer (the next one when no id is given)."""
    timer_id = _body(required=False).get("id")
    if timer_id is not None and not isinstance(timer_id, str):
        raise _Refused("bad_request", "'id' debe ser el id de un temporizador")
    return jsonify(engine().fire_trial_timer(trial_id, timer_id, by=_me()).to_json())


@blueprint.route("/trials/<trial_id>", methods=["DELETE"])
@workshop
def trial_delete(trial_id: str) -> Any:
    """Throw a trial away."""
    engine().end_trial(trial_id, by=_me())
    return jsonify({"deleted": True})


# -- migration --------------------------------------------------------------------------------


def _selection(body: dict[str, Any]) -> Selection:
    cases = body.get("cases", "all")
    if cases != "all" and not (isinstance(cases, list)
                               and all(isinstance(c, str) for c in cases)):
        raise _Refused("bad_request", "'cases' debe ser \"all\" o una lista de números de caso")
    state = body.get("state", "open")
    if state not in ("open", "all", None):
        raise _Refused("bad_request", "'state' debe ser \"open\" o \"all\"")
    return Selection(_int(body.get("from"), "from"), _int(body.get("to"), "to"),
                     None if cases == "all" else tuple(cases[:5000]),
                     None if state in ("all", None) else state)


@blueprint.route("/processes/<process_id>/migrations/dry-run", methods=["POST"])
@workshop
def migration_dry_run(process_id: str) -> Any:
    """Tell, per case, whether it can move to the target version and what would happen."""
    plans = engine().migration_dry_run(process_id, by=_me(), selection=_selection(_body()))
    language = _language()
    return jsonify({"cases": [{**plain(p), "reason": in_language(p.reason, language),
                               "actions": all_in_language(p.actions, language)}
                              for p in plans]})


@blueprint.route("/processes/<process_id>/migrations", methods=["POST"])
@workshop
def migration_start(process_id: str) -> Any:
    """Start a migration job for the movable cases; poll it at /api/migration-jobs/<id>."""
    from .procedures import run_in_background

    job_id = engine().migrate_cases(process_id, by=_me(), selection=_selection(_body()),
                                    run=False)
    run_in_background(job_id)
    return jsonify({"job_id": job_id}), 202


@blueprint.route("/migration-jobs/<job_id>")
@workshop
def migration_job(job_id: str) -> Any:
    """Return a migration job's progress."""
    view = engine().migration_job(job_id, by=_me())
    return jsonify({"done": view.done, "total": view.total, "moved": view.moved,
                    "refused": view.refused, "finished": view.finished,
                    "refusals": [{**r, "reason": in_language(r.get("reason"), _language())}
                                 for r in view.refusals]})


@blueprint.route("/openapi-workshop.json")
def workshop_openapi() -> Any:
    """Send the old address of these endpoints' description to the one document that has them."""
    return redirect(url_for("api.openapi"), code=301)
