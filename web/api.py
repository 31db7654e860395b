"""The JSON API (``/api/…``): the same verbs as the pages, with bearer tokens and JSON errors."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from engine import CauceError, FormInvalid, InvalidCredentials, NotFound, PersonView
from engine.documents import DocumentRefused

from . import engine
from .inbox import filters_from
from .openapi import openapi_document

blueprint = Blueprint("api", __name__, url_prefix="/api")

TOKEN_SECONDS = 12 * 3600
# Inbox pages beyond this are refused (the SQL offset must fit a 32-bit integer).
MAX_PAGE = 1_000_000
# Case ids are 32-bit integers on PostgreSQL; a longer number cannot name a case.
MAX_CASE_ID = 2**31 - 1
UNSTORABLE = ("Los datos contienen caracteres no permitidos (nulos o sustitutos sueltos) o "
              "números no finitos")
STATUS = {
    "invalid_form": 400, "invalid_document": 400, "bad_request": 400, "unauthorized": 401,
    "forbidden": 403, "not_found": 404, "already_completed": 409, "claimed_by_other": 409,
    "stale": 409, "conflict": 409, "script_error": 409, "invalid_definition": 409,
    "illegal_transition": 409, "transition_data_missing": 409, "charter_refused": 409,
}


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="cauce-api-token")


def error(code: str, message: str, **extra: Any) -> tuple[Response, int]:
    """Return a JSON error with a stable code."""
    return jsonify({"error": {"code": code, "message": message, **extra}}), STATUS.get(code, 400)


def _bearer_person() -> PersonView | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    try:
        payload = _serializer().loads(header[7:].strip(), max_age=TOKEN_SECONDS)
        return engine().person_by_id(int(payload["p"]))
    except (BadSignature, SignatureExpired, NotFound, KeyError, TypeError, ValueError):
        return None


def authenticated(view: Callable[..., Any]) -> Callable[..., Any]:
    """Require a valid bearer token; map engine errors to JSON."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        person = _bearer_person()
        if person is None:
            return error("unauthorized", "Falta un token válido (Authorization: Bearer …)")
        g.api_person = person
        try:
            return view(*args, **kwargs)
        except FormInvalid as failure:
            return error("invalid_form", failure.message, fields=failure.by_field())
        except CauceError as failure:
            return error(failure.code, failure.message)
    return wrapper


def me() -> PersonView:
    """Return the person the token belongs to."""
    person: PersonView = g.api_person
    return person


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise _BadRequest("El cuerpo debe ser un objeto JSON")
    if unstorable(body):
        raise _BadRequest(UNSTORABLE)
    return body


class _BadRequest(CauceError):
    code = "bad_request"


def unstorable(value: Any) -> bool:
    """Tell whether a JSON value holds what no database keeps: NUL characters, lone surrogates
    (not UTF-8) or non-finite numbers. Refused up front, alike on SQLite and PostgreSQL."""
    if isinstance(value, str):
        return "\x00" in value or not _encodable(value)
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(unstorable(k) or unstorable(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(unstorable(v) for v in value)
    return False


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _task_id(value: str) -> str:
    """Return a task id the engine can look up; anything else names no task."""
    if unstorable(value):
        raise NotFound("No existe esa tarea o ya no está abierta")
    return value


def _case_ref(value: str) -> str:
    """Return a case number or id the engine can look up; anything else names no case."""
    if unstorable(value) or (value.isdigit() and not (
            value.isascii() and int(value) <= MAX_CASE_ID)):
        raise NotFound("No existe ese caso")
    return value


def _page(name: str) -> int:
    try:
        page = int(request.args.get(name, "1"))
    except ValueError:
        page = 0
    if not 1 <= page <= MAX_PAGE:
        raise _BadRequest(f"page_mine y page_available deben ser números entre 1 y {MAX_PAGE}")
    return page


def plain(value: Any) -> Any:
    """Turn views (dataclasses, datetimes) into JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def _task_json(task: Any) -> dict[str, Any]:
    data = plain(task)
    data["due_state"] = engine().due_state(task.due_at)
    return data


def _case_json(case: Any) -> dict[str, Any]:
    data = plain(case)
    data["open_tasks"] = [_task_json(t) for t in case.open_tasks]
    return data


@blueprint.errorhandler(HTTPException)
def _http_error(failure: HTTPException) -> Any:
    code = {404: "not_found", 405: "bad_request", 401: "unauthorized",
            413: "bad_request"}.get(failure.code or 400, "bad_request")
    return error(code, failure.description or "Error")


@blueprint.route("/openapi.json")
def openapi() -> Response:
    """Describe this API (OpenAPI 3.0)."""
    return jsonify(openapi_document())


@blueprint.route("/login", methods=["POST"])
def login() -> Any:
    """Exchange a username and password for a bearer token."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("username"), str) or not isinstance(
            body.get("password"), str):
        return error("bad_request", "Envíe {\"username\": …, \"password\": …}")
    if unstorable(body):
        return error("bad_request", UNSTORABLE)
    try:
        person = engine().authenticate(body["username"], body["password"])
    except InvalidCredentials as failure:
        return error("unauthorized", failure.message)
    token = _serializer().dumps({"p": person.id})
    return jsonify({"token": token, "expires_in": TOKEN_SECONDS})


@blueprint.route("/me")
@authenticated
def whoami() -> Any:
    """Return the signed-in person and their roles."""
    person = me()
    return jsonify({"username": person.username, "full_name": person.full_name,
                    "roles": sorted(person.roles)})


@blueprint.route("/processes")
@authenticated
def processes() -> Any:
    """List the procedures the person may start."""
    return jsonify([{"process": d.process_id, "name": d.name,
                     "code": d.responsibility.code} for d in engine().startable_processes(me())])


@blueprint.route("/people")
@authenticated
def people() -> Any:
    """List the people holding a role (for person pickers)."""
    role = request.args.get("role", "")
    if role not in me().roles and not any(role in d.roles() for d in engine().processes()
                                          if set(d.roles()) & me().roles):
        return jsonify([])
    return jsonify([{"username": p.username, "full_name": p.full_name}
                    for p in engine().people_with_role(role)])


@blueprint.route("/cases", methods=["POST"])
@authenticated
def start_case() -> Any:
    """Open a case (and complete its first task with ``data``)."""
    body = _body()
    process_id = body.get("process")
    data = body.get("data")
    if not isinstance(process_id, str) or not isinstance(data, dict):
        return error("bad_request", "Envíe {\"process\": …, \"data\": {…}}")
    case = engine().start_case(process_id, by=me(), data=data)
    return jsonify(_case_json(case)), 201


@blueprint.route("/inbox")
@authenticated
def inbox() -> Any:
    """Return the person's two task lists (same filters as the inbox page)."""
    page_mine, page_available = _page("page_mine"), _page("page_available")
    if unstorable(list(request.args.items(multi=True))):
        raise _BadRequest(UNSTORABLE)
    lists = engine().inbox(me(), filters=filters_from(request.args), page_mine=page_mine,
                           page_available=page_available)
    return jsonify({
        "mine": [_task_json(t) for t in lists.mine.items],
        "available": [_task_json(t) for t in lists.available.items],
        "counts": {"mine": lists.mine.total, "available": lists.available.total},
        "pages": {"mine": lists.mine.pages, "available": lists.available.pages},
    })


@blueprint.route("/tasks/<task_id>")
@authenticated
def task(task_id: str) -> Any:
    """Return an open task with its form's JSON Schema, the case data and the draft."""
    detail = engine().task(_task_id(task_id), by=me())
    return jsonify({"task": _task_json(detail.task), "form": {
        "schema": detail.form_schema, "ui": detail.form_ui}, "case_data": plain(
        detail.case_data), "draft": detail.draft})


@blueprint.route("/tasks/<task_id>/claim", methods=["POST"])
@authenticated
def claim(task_id: str) -> Any:
    """Take the task."""
    return jsonify(_task_json(engine().claim(_task_id(task_id), by=me())))


@blueprint.route("/tasks/<task_id>/release", methods=["POST"])
@authenticated
def release(task_id: str) -> Any:
    """Give the task back to the role."""
    return jsonify(_task_json(engine().release(_task_id(task_id), by=me())))


@blueprint.route("/tasks/<task_id>/draft", methods=["POST"])
@authenticated
def draft(task_id: str) -> Any:
    """Keep unfinished form data."""
    data = _body().get("data")
    if not isinstance(data, dict):
        return error("bad_request", "Envíe {\"data\": {…}}")
    saved_at = engine().save_draft(_task_id(task_id), by=me(), data=data)
    return jsonify({"saved_at": saved_at.isoformat()})


@blueprint.route("/tasks/<task_id>/complete", methods=["POST"])
@authenticated
def complete(task_id: str) -> Any:
    """Complete the task with its form data."""
    data = _body().get("data")
    if not isinstance(data, dict):
        return error("bad_request", "Envíe {\"data\": {…}}")
    return jsonify(_case_json(engine().complete_task(_task_id(task_id), by=me(),
                                                     form_data=data)))


@blueprint.route("/cases/<case_ref>")
@authenticated
def case(case_ref: str) -> Any:
    """Return a case: its state, open tasks and data."""
    return jsonify(_case_json(engine().case(_case_ref(case_ref), by=me())))


@blueprint.route("/cases/<case_ref>/history")
@authenticated
def history(case_ref: str) -> Any:
    """Return a case's event log."""
    return jsonify([plain(entry) for entry in engine().history(_case_ref(case_ref), by=me())])


@blueprint.route("/cases/<case_ref>/documents")
@authenticated
def case_documents(case_ref: str) -> Any:
    """List a case's documents."""
    return jsonify([plain(d) for d in engine().case_documents(_case_ref(case_ref), by=me())])


@blueprint.route("/documents", methods=["POST"])
@authenticated
def upload() -> Any:
    """Store a file for a form to attach (multipart field ``file``)."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return error("bad_request", "Envíe el archivo en el campo «file» (multipart/form-data)")
    if unstorable(upload.filename):
        return error("bad_request", UNSTORABLE)
    try:
        document = engine().store_document(by=me(), filename=upload.filename, data=upload.read())
    except DocumentRefused as failure:
        return error(failure.code, failure.message)
    return jsonify(plain(document)), 201
