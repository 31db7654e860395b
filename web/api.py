"""The JSON API (``/api/…``): the same verbs as the pages, with bearer tokens and JSON errors."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from engine import (
    CauceError,
    DirectoryUnavailable,
    FormInvalid,
    InvalidCredentials,
    NotFound,
    PersonView,
    SignInThrottled,
)
from engine.documents import DocumentRefused

from . import engine
from .inbox import filters_from
from .openapi import openapi_document

blueprint = Blueprint("api", __name__, url_prefix="/api")

TOKEN_SECONDS = 12 * 3600
# The inbox pages by cursor; a page number other than the first is refused (a client that
# still counts pages would otherwise be served page 1 for ever).
OLD_PAGE_PARAMS = ("page_mine", "page_available")
# Case ids are 32-bit integers on PostgreSQL; a longer number cannot name a case.
MAX_CASE_ID = 2**31 - 1
UNSTORABLE = ("Los datos contienen caracteres no permitidos (nulos o sustitutos sueltos) o "
              "números no finitos")
STATUS = {
    "invalid_form": 400, "invalid_document": 400, "bad_request": 400, "unauthorized": 401,
    "forbidden": 403, "not_found": 404, "already_completed": 409, "claimed_by_other": 409,
    "stale": 409, "conflict": 409, "script_error": 409, "invalid_definition": 409,
    "illegal_transition": 409, "transition_data_missing": 409, "charter_refused": 409,
    "method_not_allowed": 405, "payload_too_large": 413, "too_many_requests": 429,
    "internal_error": 500, "directory_unavailable": 503,
}
# Deeper JSON is refused before it is parsed: nobody's form nests this far, and Python's parser
# and the checks after it recurse once per level.
MAX_JSON_DEPTH = 64
# What an HTTP failure is called in a JSON error, and its message when it brings none of its own.
HTTP_ERRORS = {
    400: ("bad_request", "La solicitud no es válida"),
    401: ("unauthorized", "Falta un token válido (Authorization: Bearer …)"),
    403: ("forbidden", "Su rol no permite esta acción"),
    404: ("not_found", "No existe"),
    405: ("method_not_allowed", "Método no permitido en esta ruta"),
    413: ("payload_too_large", "El cuerpo de la solicitud supera el tamaño máximo permitido"),
    429: ("too_many_requests", "Demasiadas solicitudes; espere y vuelva a intentarlo"),
    500: ("internal_error", "Error interno del servidor; quedó registrado para revisarlo"),
}


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="cauce-api-token")


def error(code: str, message: str, **extra: Any) -> tuple[Response, int]:
    """Return a JSON error with a stable code."""
    return jsonify({"error": {"code": code, "message": message, **extra}}), STATUS.get(code, 400)


def _bearer_person() -> PersonView | None:
    """Return the token's person if its session is still open on the server (else None)."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    try:
        payload = _serializer().loads(header[7:].strip(), max_age=TOKEN_SECONDS)
        secret = payload["s"]
        if not isinstance(secret, str):
            return None
        person = engine().session_person(secret)
        if person.id != int(payload["p"]):
            return None
    except (BadSignature, SignatureExpired, NotFound, KeyError, TypeError, ValueError):
        return None
    g.api_session = secret
    return person


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
        except SignInThrottled as failure:
            return _throttled(failure)
        except CauceError as failure:
            return error(failure.code, failure.message)
    return wrapper


def _throttled(failure: SignInThrottled) -> tuple[Response, int]:
    response, status = error("too_many_requests", failure.message,
                             retry_after=failure.retry_after)
    response.headers["Retry-After"] = str(failure.retry_after)
    return response, status


def me() -> PersonView:
    """Return the person the token belongs to."""
    person: PersonView = g.api_person
    return person


def _json_body() -> Any:
    """Return the request's JSON (None if it is not JSON); refuse nesting beyond MAX_JSON_DEPTH."""
    if not request.is_json:
        return None
    raw = request.get_data(cache=True)
    # No deeper than its opening brackets: counting them (in C) spares the byte-by-byte walk
    # for every body that has too few to nest that far (all real forms).
    if (raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH
            and json_depth(raw) > MAX_JSON_DEPTH):
        current_app.logger.warning("JSON refused: nested over %d levels (%s %s from %s)",
                                   MAX_JSON_DEPTH, request.method, request.path,
                                   request.remote_addr)
        raise _BadRequest(f"El JSON anida demasiados niveles (máximo {MAX_JSON_DEPTH})")
    return request.get_json(silent=True)


def json_depth(raw: bytes) -> int:
    """Return how deep a JSON text nests its arrays and objects, without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    # Brackets inside strings do not nest; one pass over the bytes, no recursion.
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _body() -> dict[str, Any]:
    body = _json_body()
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


def _check_old_pages() -> None:
    for name in OLD_PAGE_PARAMS:
        if request.args.get(name, "1") != "1":
            raise _BadRequest(f"{name} ya no existe: pida la página siguiente o anterior con "
                              "cursor_mine / cursor_available (los valores de \"cursors\")")


# Values JSON takes as they are: most of a case's data, checked first (every completion's
# answer walks the case data).
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """Turn views (dataclasses, datetimes) into JSON-ready values."""
    if type(value) in _JSON_SCALARS:
        return value
    if type(value) is dict:
        return {str(k): plain(v) for k, v in value.items()}
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
    # The open tasks once, as tasks (plain() on the whole case converted them twice).
    data = {f.name: plain(getattr(case, f.name)) for f in dataclasses.fields(case)
            if f.name != "open_tasks"}
    data["open_tasks"] = [_task_json(t) for t in case.open_tasks]
    return data


@blueprint.errorhandler(_BadRequest)
def _bad_request(failure: _BadRequest) -> Any:
    return error(failure.code, failure.message)


@blueprint.errorhandler(HTTPException)
def _http_error(failure: HTTPException) -> Any:
    # Werkzeug's own descriptions are English prose ("The server encountered an internal
    # error…"): the status names the failure, the message is ours.
    status = failure.code or 500
    code, message = HTTP_ERRORS.get(status, ("bad_request" if status < 500 else "internal_error",
                                             "La solicitud no se pudo atender"))
    response = jsonify({"error": {"code": code, "message": message}})
    return response, status


@blueprint.route("/openapi.json")
def openapi() -> Response:
    """Describe this API (OpenAPI 3.0)."""
    return jsonify(openapi_document())


@blueprint.route("/login", methods=["POST"])
def login() -> Any:
    """Exchange a username and password for a bearer token (a session the server can end)."""
    body = _json_body()
    if not isinstance(body, dict) or not isinstance(body.get("username"), str) or not isinstance(
            body.get("password"), str):
        return error("bad_request", "Envíe {\"username\": …, \"password\": …}")
    if unstorable(body):
        return error("bad_request", UNSTORABLE)
    try:
        # The HTML sign-in's rule (directory first when configured, local accounts kept).
        signed = engine().sign_in_with_directory(
            current_app.extensions.get("cauce_ldap"), body["username"], body["password"],
            client=request.remote_addr or "-", kind="api",
            lifetime=timedelta(seconds=TOKEN_SECONDS))
    except SignInThrottled as failure:
        return _throttled(failure)
    except InvalidCredentials as failure:
        return error("unauthorized", failure.message)
    except DirectoryUnavailable as failure:
        return error("directory_unavailable", failure.message)
    token = _serializer().dumps({"p": signed.person.id, "s": signed.token})
    return jsonify({"token": token, "expires_in": TOKEN_SECONDS})


@blueprint.route("/logout", methods=["POST"])
@authenticated
def logout() -> Any:
    """End this token's session: the token no longer works, anywhere."""
    engine().sign_out(g.api_session)
    return "", 204


@blueprint.route("/password", methods=["POST"])
@authenticated
def password() -> Any:
    """Change the password; every other session and token of the person ends (not this one)."""
    body = _body()
    current, new = body.get("current_password"), body.get("new_password")
    if not isinstance(current, str) or not isinstance(new, str):
        return error("bad_request", "Envíe {\"current_password\": …, \"new_password\": …}")
    ended = engine().change_password(me().username, current, new,
                                     client=request.remote_addr or "-", keep=g.api_session)
    return jsonify({"ended_sessions": ended})


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
    _check_old_pages()
    if unstorable(list(request.args.items(multi=True))):
        raise _BadRequest(UNSTORABLE)
    lists = engine().inbox(me(), filters=filters_from(request.args),
                           cursor_mine=request.args.get("cursor_mine"),
                           cursor_available=request.args.get("cursor_available"))
    both = {"mine": lists.mine, "available": lists.available}
    return jsonify({
        "mine": [_task_json(t) for t in lists.mine.items],
        "available": [_task_json(t) for t in lists.available.items],
        "counts": {label: page.total for label, page in both.items()},
        "counts_capped": {label: page.total_capped for label, page in both.items()},
        "cursors": {label: {"next": page.next_cursor, "previous": page.previous_cursor}
                    for label, page in both.items()},
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
    """Complete the task with its form data (``{}``: mark a task with no form as done)."""
    body = _body()
    data = body.get("data", {} if not body else None)
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


# -- finding and following cases (web/case_list.py has the page) ------------------------------


@blueprint.route("/cases", methods=["GET"])
@authenticated
def list_cases() -> Any:
    """List the cases the person may see (filters as on /casos; ``cursor`` for the next page)."""
    from engine.case_search import MAX_PER_PAGE

    from .case_list import BadFilter, filters_from

    if unstorable(list(request.args.items(multi=True))):
        raise _BadRequest(UNSTORABLE)
    try:
        filters = filters_from(request.args, strict=True)
        per_page = int(request.args.get("per_page", "50"))
    except BadFilter as failure:
        raise _BadRequest(str(failure)) from None
    except ValueError:
        per_page = 0
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise _BadRequest(f"per_page debe ser un número entre 1 y {MAX_PER_PAGE}")
    page = engine().list_cases(me(), filters=filters, cursor=request.args.get("cursor") or None,
                               per_page=per_page)
    return jsonify({"cases": [plain(c) for c in page.items], "next_cursor": page.next_cursor})


@blueprint.route("/cases/<case_ref>/follow", methods=["POST", "DELETE"])
@authenticated
def follow_case(case_ref: str) -> Any:
    """Follow a case (POST) or stop following it (DELETE)."""
    following = request.method == "POST"
    verb = engine().follow_case if following else engine().unfollow_case
    verb(_case_ref(case_ref), by=me())
    return jsonify({"following": following})

