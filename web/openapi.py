"""The OpenAPI 3.0 description of ``/api`` (kept beside the routes; tested with schemathesis)."""

from __future__ import annotations

from typing import Any

_NULLABLE_STR = {"type": "string", "nullable": True}
_DATETIME = {"type": "string", "format": "date-time"}
_NULLABLE_DATETIME = {"type": "string", "format": "date-time", "nullable": True}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {400: "Datos inválidos (con los mensajes por campo)", 401: "Sin token válido",
             403: "Su rol no permite esta acción",
             404: "No existe, o la persona no puede saber que existe",
             409: "Ya completada, tomada por otra persona, o el caso cambió",
             429: "Demasiados intentos fallidos: espere los segundos de Retry-After",
             503: "El directorio institucional no responde (las cuentas locales sí entran)"}
    return {str(code): _json(_ref("Error"), texts[code]) for code in codes}


def _both(schema: dict[str, Any]) -> dict[str, Any]:
    """Return an object with one value per inbox list (``mine`` and ``available``)."""
    return {"type": "object", "required": ["mine", "available"],
            "properties": {"mine": schema, "available": schema}}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    """Return an object schema whose every property is always present."""
    return {"type": "object", "required": sorted(properties), "properties": properties}


_TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}
_CASE_REF = {"name": "case_ref", "in": "path", "required": True,
             "description": "Número del caso (CS-2026-0001) o su id", "schema": {"type": "string"}}
_SECURED = [{"bearer": []}]


def openapi_document() -> dict[str, Any]:
    """Return the API description: the staff's API and the process owner's workshop."""
    document = _core_document()
    document["components"]["securitySchemes"]["session"] = _SESSION_SCHEME
    document["paths"].update(workshop_paths())
    return document


def _core_document() -> dict[str, Any]:
    from engine.inbox import COUNT_CAP, MAX_CURSOR

    old_page = {"type": "integer", "minimum": 1, "maximum": 1, "deprecated": True,
                "description": "Obsoleto: solo 1; pagine con cursor_mine / cursor_available"}
    cursor = {"type": "string", "maxLength": MAX_CURSOR,
              "description": "Un valor de «cursors» de una respuesta anterior, tal cual"}
    cursors = {"type": "object", "required": ["next", "previous"], "properties": {
        "next": _NULLABLE_STR, "previous": _NULLABLE_STR}}
    task = {
        "type": "object",
        "required": ["task_id", "case_id", "case_number", "process_id", "process_name",
                     "activity_id", "activity_name", "lane", "role", "requester", "assignee",
                     "created_at", "due_at", "form_id", "due_state"],
        "properties": {
            "task_id": {"type": "string"}, "case_id": {"type": "integer"},
            "case_number": {"type": "string"}, "process_id": {"type": "string"},
            "process_name": {"type": "string"}, "activity_id": {"type": "string"},
            "activity_name": {"type": "string"}, "lane": _NULLABLE_STR,
            "role": {"type": "string"}, "requester": _NULLABLE_STR, "assignee": _NULLABLE_STR,
            "created_at": _DATETIME, "due_at": _NULLABLE_DATETIME, "form_id": _NULLABLE_STR,
            "due_state": {"type": "string",
                          "enum": ["vencida", "por_vencer", "a_tiempo", "sin_plazo"]},
        },
    }
    case = {
        "type": "object",
        "required": ["id", "number", "process_id", "process_name", "version_hash", "status",
                     "outcome", "requester", "subject", "started_at", "updated_at",
                     "completed_at", "due_at", "overdue_at", "open_tasks", "data"],
        "properties": {
            "id": {"type": "integer"}, "number": {"type": "string"},
            "process_id": {"type": "string"}, "process_name": {"type": "string"},
            "version_hash": {"type": "string"},
            "status": {"type": "string", "enum": ["open", "completed"]},
            "outcome": _NULLABLE_STR, "requester": _NULLABLE_STR, "subject": _NULLABLE_STR,
            "started_at": _DATETIME, "updated_at": _DATETIME,
            "completed_at": _NULLABLE_DATETIME, "due_at": _NULLABLE_DATETIME,
            "overdue_at": _NULLABLE_DATETIME,
            "open_tasks": {"type": "array", "items": _ref("Task")},
            "data": {"type": "object", "additionalProperties": True},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Cauce API", "version": "1.0",
                 "description": "Bandeja de tareas, casos e historial. Autenticación: "
                                "POST /api/login y luego Authorization: Bearer <token>."},
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string", "enum": [
                            "invalid_form", "invalid_document", "bad_request", "unauthorized",
                            "forbidden", "not_found", "already_completed", "claimed_by_other",
                            "stale", "conflict", "script_error", "invalid_definition",
                            "method_not_allowed", "payload_too_large", "too_many_requests",
                            "internal_error", "directory_unavailable"]},
                        "message": {"type": "string"},
                        "retry_after": {"type": "integer", "minimum": 1},
                        "fields": {"type": "object", "additionalProperties": {
                            "type": "array", "items": {"type": "string"}}}}}}},
                "Task": task,
                "Case": case,
                "CaseSummary": _CASE_SUMMARY,
                "Person": {"type": "object", "required": ["username", "full_name"],
                           "properties": {"username": {"type": "string"},
                                          "full_name": {"type": "string"}}},
                "Process": {"type": "object", "required": ["process", "name", "code"],
                            "properties": {"process": {"type": "string"},
                                           "name": {"type": "string"},
                                           "code": {"type": "string"}}},
                "FormData": {"type": "object", "required": ["data"], "properties": {
                    "data": {"type": "object", "additionalProperties": True}}},
                "HistoryEntry": {"type": "object", "required": [
                    "seq", "at", "actor", "role", "event_type", "task_id", "activity_id",
                    "activity_name", "data", "state_hash", "hash"],
                                 "properties": {
                                     "seq": {"type": "integer"}, "at": _DATETIME,
                                     "actor": _NULLABLE_STR, "role": _NULLABLE_STR,
                                     "event_type": {"type": "string"},
                                     "task_id": _NULLABLE_STR, "activity_id": _NULLABLE_STR,
                                     "activity_name": _NULLABLE_STR,
                                     "data": {"type": "object", "nullable": True},
                                     "state_hash": _NULLABLE_STR, "hash": {"type": "string"}}},
                "OrgUnit": _object({
                    "code": {"type": "string"}, "printed_code": {"type": "string"},
                    "name": {"type": "string"}, "parent_code": _NULLABLE_STR,
                    "responsible": _NULLABLE_STR, "position_code": _NULLABLE_STR,
                    "responsible_unit": _NULLABLE_STR, "mission": _NULLABLE_STR}),
                "Service": _object({
                    "code": {"type": "string"}, "name": {"type": "string"},
                    "description": {"type": "string"},
                    "responsible_unit": {"type": "integer", "nullable": True},
                    "responsible_unit_name": _NULLABLE_STR,
                    "user_groups": {"type": "array", "items": {"type": "string"}},
                    "charter_state": _NULLABLE_STR}),
                "ResponsibleUnit": _object({
                    "number": {"type": "integer"}, "name": {"type": "string"},
                    "description": {"type": "string"}, "org_code": _NULLABLE_STR,
                    "org_name": _NULLABLE_STR}),
                "Indicator": _object({
                    "code": _NULLABLE_STR, "number": {"type": "string"},
                    "name": {"type": "string"}, "behaviour": _NULLABLE_STR,
                    "target_kind": _NULLABLE_STR, "periodicity": _NULLABLE_STR,
                    "objective": _NULLABLE_STR, "targets_open": {"type": "boolean"},
                    "targets": {"type": "array", "items": _object({
                        "period": {"type": "string"},
                        "value": {"type": "number", "nullable": True}})},
                    "surplus_values": {"type": "array", "items": {"type": "number"}},
                    "unit_name": {"type": "string"},
                    "unit_path": {"type": "array", "items": {"type": "string"}},
                    "unit_org_code": _NULLABLE_STR}),
                "Document": {"type": "object", "required": [
                    "ref_id", "sha256", "filename", "content_type", "size", "uploaded_by",
                    "uploaded_at", "activity_id"],
                             "properties": {
                                 "ref_id": {"type": "integer"},
                                 "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                                 "filename": {"type": "string"},
                                 "content_type": {"type": "string"},
                                 "size": {"type": "integer"}, "uploaded_by": {"type": "string"},
                                 "uploaded_at": _DATETIME, "activity_id": _NULLABLE_STR}},
            },
        },
        "paths": {
            "/api/login": {"post": {
                "summary": "Obtener un token", "security": [],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["username", "password"], "properties": {
                        "username": {"type": "string"}, "password": {"type": "string"}}}}}},
                "responses": {"200": _json({"type": "object", "required": ["token", "expires_in"],
                                            "properties": {"token": {"type": "string"},
                                                           "expires_in": {"type": "integer"}}},
                                           "Token"), **_errors(400, 401, 429, 503)}}},
            "/api/logout": {"post": {
                "summary": "Cerrar la sesión del token (deja de servir)", "security": _SECURED,
                "responses": {"204": {"description": "Sesión cerrada"}, **_errors(401)}}},
            "/api/password": {"post": {
                "summary": "Cambiar la contraseña: se cierran las demás sesiones y tokens",
                "security": _SECURED,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["current_password", "new_password"],
                    "properties": {"current_password": {"type": "string"},
                                   "new_password": {"type": "string"}}}}}},
                "responses": {"200": _json(_object({"ended_sessions": {
                    "type": "integer", "minimum": 0}}), "Contraseña cambiada"),
                    **_errors(400, 401, 429)}}},
            "/api/me": {"get": {"summary": "Quién soy y mis roles", "security": _SECURED,
                                "responses": {"200": _json({"type": "object", "required": [
                                    "username", "full_name", "roles"], "properties": {
                                    "username": {"type": "string"},
                                    "full_name": {"type": "string"},
                                    "roles": {"type": "array", "items": {"type": "string"}}}},
                                    "Persona"), **_errors(401)}}},
            "/api/processes": {"get": {
                "summary": "Procedimientos que puedo iniciar", "security": _SECURED,
                "responses": {"200": _json({"type": "array", "items": _ref("Process")},
                                           "Procedimientos"), **_errors(401)}}},
            "/api/people": {"get": {
                "summary": "Personas con un rol", "security": _SECURED,
                "parameters": [{"name": "role", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": _json({"type": "array", "items": _ref("Person")},
                                           "Personas (vacío si el rol no comparte un "
                                           "procedimiento con el mío)"), **_errors(401)}}},
            "/api/cases": {"get": _case_list_operation(), "post": {
                "summary": "Iniciar un caso", "security": _SECURED,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["process", "data"], "properties": {
                        "process": {"type": "string"},
                        "data": {"type": "object", "additionalProperties": True}}}}}},
                "responses": {"201": _json(_ref("Case"), "Caso creado"),
                              **_errors(400, 401, 403, 404, 409)}}},
            "/api/inbox": {"get": {
                "summary": "Mis tareas y las disponibles para mi rol", "security": _SECURED,
                "parameters": [
                    {"name": name, "in": "query", "schema": schema} for name, schema in (
                        ("process", {"type": "string"}), ("activity", {"type": "string"}),
                        ("state", {"type": "string", "enum": [
                            "vencida", "por_vencer", "a_tiempo", "sin_plazo"]}),
                        ("q", {"type": "string"}),
                        ("sort", {"type": "string", "enum": [
                            "due_at", "created_at", "case_number", "requester", "activity",
                            "process"]}),
                        ("dir", {"type": "string", "enum": ["asc", "desc"]}),
                        ("cursor_mine", cursor), ("cursor_available", cursor),
                        ("page_mine", old_page), ("page_available", old_page))],
                "responses": {"200": _json({"type": "object", "required": [
                    "mine", "available", "counts", "counts_capped", "cursors"], "properties": {
                    "mine": {"type": "array", "items": _ref("Task")},
                    "available": {"type": "array", "items": _ref("Task")},
                    "counts": _both({"type": "integer", "minimum": 0, "maximum": COUNT_CAP}),
                    "counts_capped": _both({"type": "boolean", "description": (
                        f"Hay más de {COUNT_CAP} (se cuenta hasta ahí)")}),
                    "cursors": _both(cursors)}}, "Bandeja"),
                    **_errors(400, 401)}}},
            "/api/tasks/{task_id}": {"get": {
                "summary": "Una tarea con su formulario (JSON Schema)", "security": _SECURED,
                "parameters": [_TASK_ID],
                "responses": {"200": _json({"type": "object", "required": [
                    "task", "form", "case_data", "draft"], "properties": {
                                                "task": _ref("Task"), "form": {
                                                    "type": "object",
                                                    "required": ["schema", "ui"],
                                                    "properties": {
                                                        "schema": {"type": "object",
                                                                   "nullable": True},
                                                        "ui": {"type": "object"}}},
                                                "case_data": {"type": "object"},
                                                "draft": {"type": "object", "nullable": True}}},
                                           "Tarea"), **_errors(401, 404)}}},
            **{f"/api/tasks/{{task_id}}/{verb}": {"post": {
                "summary": summary, "security": _SECURED, "parameters": [_TASK_ID],
                "responses": {"200": _json(_ref("Task"), "Tarea"), **_errors(401, 404, 409)}}}
               for verb, summary in (("claim", "Tomar la tarea"),
                                     ("release", "Liberar la tarea"))},
            "/api/tasks/{task_id}/draft": {"post": {
                "summary": "Guardar borrador", "security": _SECURED, "parameters": [_TASK_ID],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _ref("FormData")}}},
                "responses": {"200": _json({"type": "object", "required": ["saved_at"],
                                            "properties": {"saved_at": _DATETIME}},
                                           "Borrador guardado"), **_errors(400, 401, 404, 409)}}},
            "/api/tasks/{task_id}/complete": {"post": {
                "summary": "Completar la tarea", "security": _SECURED, "parameters": [_TASK_ID],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _ref("FormData")}}},
                "responses": {"200": _json(_ref("Case"), "El caso, ya avanzado"),
                              **_errors(400, 401, 404, 409)}}},
            "/api/cases/{case_ref}/follow": _follow_operations(),
            "/api/cases/{case_ref}": {"get": {
                "summary": "Un caso", "security": _SECURED, "parameters": [_CASE_REF],
                "responses": {"200": _json(_ref("Case"), "Caso"), **_errors(401, 404)}}},
            "/api/cases/{case_ref}/history": {"get": {
                "summary": "Historial del caso", "security": _SECURED, "parameters": [_CASE_REF],
                "responses": {"200": _json({"type": "array", "items": _ref("HistoryEntry")},
                                           "Historial"), **_errors(401, 404)}}},
            "/api/cases/{case_ref}/documents": {"get": {
                "summary": "Documentos del caso", "security": _SECURED, "parameters": [_CASE_REF],
                "responses": {"200": _json({"type": "array", "items": _ref("Document")},
                                           "Documentos"), **_errors(401, 404)}}},
            "/api/org/units": {"get": {
                "summary": "Unidades de la estructura orgánica (Art. 8)", "security": _SECURED,
                "responses": {"200": _json({"type": "array", "items": _ref("OrgUnit")},
                                           "Unidades"), **_errors(401)}}},
            "/api/org/units/{code}": {"get": {
                "summary": "Una unidad", "security": _SECURED,
                "parameters": [{"name": "code", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": _json(_ref("OrgUnit"), "Unidad"), **_errors(401, 404)}}},
            "/api/services": {"get": {
                "summary": "Servicios institucionales y su estado en la Carta",
                "security": _SECURED,
                "responses": {"200": _json({"type": "array", "items": _ref("Service")},
                                           "Servicios"), **_errors(401)}}},
            "/api/responsible-units": {"get": {
                "summary": "Unidades responsables de los servicios", "security": _SECURED,
                "responses": {"200": _json({"type": "array", "items": _ref("ResponsibleUnit")},
                                           "Unidades responsables"), **_errors(401)}}},
            "/api/indicators": {"get": {
                "summary": "Indicadores 2025, de una unidad (nombre o número de proceso)",
                "security": _SECURED,
                "parameters": [{"name": "unit", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": _json({"type": "array", "items": _ref("Indicator")},
                                           "Indicadores"), **_errors(400, 401)}}},
            "/api/documents": {"post": {
                "summary": "Subir un documento (PDF, imagen, ofimática)", "security": _SECURED,
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"], "properties": {
                        "file": {"type": "string", "format": "binary"}}}}}},
                "responses": {"201": _json(_ref("Document"), "Documento guardado"),
                              **_errors(400, 401)}}},
        },
    }


# -- finding and following cases (GET /api/cases, /api/cases/{case_ref}/follow) ----------------

_CASE_SUMMARY = _object({
    "id": {"type": "integer"}, "number": {"type": "string"},
    "process_id": {"type": "string"}, "process_name": {"type": "string"},
    "status": {"type": "string", "enum": ["open", "completed"]},
    "outcome": _NULLABLE_STR, "requester": _NULLABLE_STR, "subject": _NULLABLE_STR,
    "started_at": _DATETIME, "completed_at": _NULLABLE_DATETIME, "started_by": _NULLABLE_STR,
    "current_activity": _NULLABLE_STR, "current_holder": _NULLABLE_STR,
    "open_tasks": {"type": "integer", "minimum": 0}, "due_at": _NULLABLE_DATETIME,
    "due_state": {"type": "string", "enum": ["vencida", "por_vencer", "a_tiempo", "sin_plazo"]},
    "following": {"type": "boolean"}})


def _case_list_operation() -> dict[str, Any]:
    from engine.case_search import (
        CASE_SCOPES,
        CASE_SORTS,
        CASE_STATUSES,
        MAX_CURSOR,
        MAX_PER_PAGE,
    )

    day = {"type": "string", "description": "dd/mm/aaaa o aaaa-mm-dd (fecha de Ecuador)"}
    parameters = (
        ("scope", {"type": "string", "enum": list(CASE_SCOPES), "description": (
            "all: todos los que puedo ver; requested: mis solicitudes; participated: en los "
            "que participé; following: los que sigo")}),
        ("process", {"type": "string"}),
        ("state", {"type": "string", "enum": list(CASE_STATUSES)}),
        ("from", day), ("to", day),
        ("q", {"type": "string", "description": "Número de caso o solicitante"}),
        ("sort", {"type": "string", "enum": list(CASE_SORTS)}),
        ("dir", {"type": "string", "enum": ["asc", "desc"]}),
        ("cursor", {"type": "string", "maxLength": MAX_CURSOR,
                    "description": "El next_cursor de la página anterior, tal cual"}),
        ("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE}))
    return {
        "summary": "Casos que puedo ver (abiertos y cerrados), filtrados y por páginas",
        "security": _SECURED,
        "parameters": [{"name": name, "in": "query", "schema": schema}
                       for name, schema in parameters],
        "responses": {"200": _json(_object({
            "cases": {"type": "array", "items": _ref("CaseSummary")},
            "next_cursor": _NULLABLE_STR}), "Una página de casos"), **_errors(400, 401)}}


def _follow_operations() -> dict[str, Any]:
    answer = _json(_object({"following": {"type": "boolean"}}), "Si sigo el caso")
    return {method: {"summary": summary, "security": _SECURED, "parameters": [_CASE_REF],
                     "responses": {"200": answer, **_errors(401, 404)}}
            for method, summary in (("post", "Seguir el caso (sus novedades, en mi bandeja)"),
                                    ("delete", "Dejar de seguir el caso"))}


# -- the process owner's workshop (web/procedures_api.py) ------------------------------------
# Part of /api/openapi.json; tests/integration/test_openapi_workshop.py makes each of these
# answers happen and checks it against the document.

_WS_ERROR = {"type": "object", "required": ["error", "message"], "properties": {
    "error": {"type": "string"}, "message": {"type": "string"},
    "updated_by": {"type": "string", "description": "409: quien guardó antes"},
    "revision": {"type": "integer", "description": "409: la revisión guardada"},
    "problems": {"type": "array", "description": "422: lo que la comprobación encontró",
                 "items": {"type": "object", "properties": {
                     "file": {"type": "string"}, "element_id": _NULLABLE_STR,
                     "line": {"type": "integer", "nullable": True},
                     "severity": {"type": "string"}, "message": {"type": "string"}}}},
    "fields": {"type": "object", "description": "422: mensajes por campo del formulario",
               "additionalProperties": {"type": "array", "items": {"type": "string"}}}}}
_SESSION_SCHEME = {"type": "apiKey", "in": "cookie", "name": "session",
                   "description": "La sesión del navegador; cada escritura lleva la cabecera "
                                  "X-CSRFToken de la página"}
_WS_PROCESS = {"name": "process_id", "in": "path", "required": True, "schema": {"type": "string"}}
_WS_TRIAL = {"name": "trial_id", "in": "path", "required": True, "schema": {"type": "string"}}
_WS_FILES = {"type": "object", "properties": {
    "bpmn": {"type": "object", "additionalProperties": {"type": "string"},
             "description": "nombre.bpmn → XML"},
    "dmn": {"type": "object", "additionalProperties": {"type": "string"}},
    "forms": {"type": "object", "additionalProperties": {"type": "object", "properties": {
        "schema": {"type": "object", "nullable": True},
        "ui": {"type": "object", "nullable": True}}}},
    "responsibility": {"type": "object", "additionalProperties": {"type": "object"}}}}
_WS_PROBLEM = _object({"file": {"type": "string"}, "element_id": _NULLABLE_STR,
                       "line": {"type": "integer", "nullable": True},
                       "severity": {"type": "string", "enum": ["error", "warning"]},
                       "message": {"type": "string"}})
_WS_TRIAL_STATE = _object({
    "ready": {"type": "array", "items": {"type": "object", "properties": {
        "task_id": {"type": "string"}, "activity_id": {"type": "string"},
        "name": {"type": "string"}, "lane": _NULLABLE_STR, "role": _NULLABLE_STR,
        "form": {"type": "object", "nullable": True}}}},
    "timers": {"type": "array", "items": _object({"id": {"type": "string"},
                                                  "name": {"type": "string"},
                                                  "due": _DATETIME})},
    "completed": {"type": "array", "items": {"type": "string"}},
    "finished": {"type": "boolean"}, "data": {"type": "object"}, "now": _NULLABLE_DATETIME})
_WS_SELECTION = {"type": "object", "required": ["from", "to"], "properties": {
    "from": {"type": "integer"}, "to": {"type": "integer"},
    "cases": {"oneOf": [{"type": "string", "enum": ["all"]},
                        {"type": "array", "items": {"type": "string"}}]},
    "state": {"type": "string", "enum": ["open", "all"]}}}


def _ws_errors(*codes: int) -> dict[str, Any]:
    texts = {400: "Solicitud inválida", 401: "Sin sesión ni token", 403:
             "Solo los propietarios del procedimiento (o falta X-CSRFToken con la sesión)",
             404: "No existe", 409: "Revisión desactualizada: otra persona guardó el borrador",
             413: "Cuerpo demasiado grande", 422: "El borrador no pasa la comprobación"}
    return {str(c): _json(_WS_ERROR, texts[c]) for c in codes}


def _ws(summary: str, response: dict[str, Any], *, status: str = "200",
        parameters: list[dict[str, Any]] | None = None, body: dict[str, Any] | None = None,
        errors: tuple[int, ...] = (401, 403, 404)) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "security": [{"bearer": []}, {"session": []}],
                                 "parameters": parameters or [],
                                 "responses": {status: _json(response, summary),
                                               **_ws_errors(*errors)}}
    if body is not None:
        operation["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": body}}}
    return operation


def workshop_paths() -> dict[str, Any]:
    """Return the workshop's operations (procedures, drafts, publish, trials, migration)."""
    version = _object({"number": {"type": "integer"}, "hash": {"type": "string"},
                       "created_by": _NULLABLE_STR, "created_at": _DATETIME,
                       "comment": {"type": "string"}, "open_cases": {"type": "integer"},
                       "closed_cases": {"type": "integer"}})
    procedure = {"type": "object", "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "code": {"type": "string"},
        "current_version": {"type": "integer"},
        "owners": {"type": "array", "items": _object({"username": {"type": "string"},
                                                      "full_name": {"type": "string"}})},
        "owner_role": _NULLABLE_STR, "owner_role_name": _NULLABLE_STR,
        "can_edit": {"type": "boolean"}}}
    draft = {**_WS_FILES, "properties": {**_WS_FILES["properties"],
                                         "revision": {"type": "integer"},
                                         "updated_by": {"type": "string"},
                                         "updated_at": _DATETIME,
                                         "base_version": {"type": "integer"}}}
    element = {"type": "object", "properties": {"id": {"type": "string"},
                                                "type": {"type": "string"},
                                                "name": _NULLABLE_STR}}
    number = {"name": "number", "in": "path", "required": True, "schema": {"type": "integer"}}
    process_query = {"name": "process", "in": "query", "required": True,
                     "schema": {"type": "string"}}
    job = _object({"done": {"type": "integer"}, "total": {"type": "integer"},
                   "moved": {"type": "integer"}, "refused": {"type": "integer"},
                   "finished": {"type": "boolean"},
                   "refusals": {"type": "array", "items": {"type": "object"}}})
    base = "/api/processes/{process_id}"
    return {
        "/api/procedures": {"get": _ws("Todos los procedimientos (propietarios, versión "
                                       "vigente, si puedo editarlo)",
                                       {"type": "array", "items": procedure},
                                       errors=(401,))},
        base: {"get": _ws("Un procedimiento, sus versiones y su formulario de inicio", {
            **procedure, "properties": {**procedure["properties"],
                                        "versions": {"type": "array", "items": version},
                                        "start_form": {"type": "object",
                                                       "nullable": True}}},
            parameters=[_WS_PROCESS], errors=(401, 404))},
        base + "/versions/{number}/files": {"get": _ws(
            "Los archivos de una versión", _WS_FILES, parameters=[_WS_PROCESS, number],
            errors=(401, 404))},
        base + "/draft": {
            "get": _ws("El borrador (se crea desde la versión vigente)", draft,
                       parameters=[_WS_PROCESS]),
            "put": _ws("Guardar el borrador (revisión vista)",
                       _object({"revision": {"type": "integer"}}),
                       parameters=[_WS_PROCESS], errors=(400, 401, 403, 404, 409, 413, 422),
                       body={**_WS_FILES, "required": ["revision"], "properties": {
                           **_WS_FILES["properties"], "revision": {"type": "integer"}}}),
            "delete": _ws("Descartar el borrador", _object({"discarded": {"type":
                                                                          "boolean"}}),
                          parameters=[_WS_PROCESS])},
        base + "/draft/check": {"post": _ws(
            "Comprobar el borrador (o los archivos enviados) como al arrancar",
            _object({"ok": {"type": "boolean"},
                     "problems": {"type": "array", "items": _WS_PROBLEM}}),
            parameters=[_WS_PROCESS], body=_WS_FILES, errors=(400, 401, 403, 404))},
        base + "/draft/publish": {"post": _ws(
            "Publicar el borrador como nueva versión",
            _object({"number": {"type": "integer"}, "hash": {"type": "string"}}),
            status="201", parameters=[_WS_PROCESS],
            body=_object({"comment": {"type": "string"}, "revision": {"type": "integer"}}),
            errors=(400, 401, 403, 404, 409, 422))},
        base + "/diff": {"get": _ws(
            "Diferencias entre dos versiones (to puede ser draft)",
            _object({"added": {"type": "array", "items": element},
                     "removed": {"type": "array", "items": element},
                     "changed": {"type": "array", "items": {**element, "properties": {
                         **element["properties"],
                         "changes": {"type": "array", "items": {"type": "string"}}}}},
                     "files": {"type": "array", "items": _object({
                         "file": {"type": "string"},
                         "status": {"type": "string", "enum": [
                             "added", "removed", "changed", "unchanged"]}})}}),
            parameters=[_WS_PROCESS,
                        {"name": "from", "in": "query", "required": True,
                         "schema": {"type": "integer"}},
                        {"name": "to", "in": "query", "required": True,
                         "schema": {"type": "string"}}],
            errors=(400, 401, 403, 404))},
        "/api/scripts/vet": {"post": _ws(
            "Veredicto del sandbox sobre un script o una condición",
            _object({"ok": {"type": "boolean"}, "message": _NULLABLE_STR}),
            body={"type": "object", "required": ["kind", "text"], "properties": {
                "kind": {"type": "string", "enum": ["script", "condition"]},
                "text": {"type": "string"}}}, errors=(400, 401))},
        "/api/roles": {"get": _ws("Carriles, roles y cargos del procedimiento", {
            "type": "array", "items": {"type": "object", "properties": {
                "lane": {"type": "string"}, "role": {"type": "string"},
                "role_name": {"type": "string"}, "process": {"type": "string"},
                "positions": {"type": "array", "items": {"type": "string"}}}}},
            parameters=[process_query], errors=(400, 401, 404))},
        "/api/forms": {"get": _ws("Formularios del procedimiento, con su título", {
            "type": "array", "items": {"type": "object", "properties": {
                "file": {"type": "string"}, "form_id": {"type": "string"},
                "title": {"type": "string"}}}},
            parameters=[process_query], errors=(400, 401, 404))},
        "/api/decisions": {"get": _ws("Tablas de decisión (DMN) del procedimiento", {
            "type": "array", "items": {"type": "object"}},
            parameters=[process_query], errors=(400, 401, 404))},
        base + "/draft/trial": {"post": _ws(
            "Probar el borrador como un caso desechable",
            _object({"trial_id": {"type": "string"}, "state": _WS_TRIAL_STATE}),
            status="201", parameters=[_WS_PROCESS], errors=(401, 403, 404, 422))},
        "/api/trials/{trial_id}": {
            "get": _ws("Estado de una prueba", _WS_TRIAL_STATE, parameters=[_WS_TRIAL]),
            "delete": _ws("Descartar una prueba", _object({"deleted": {"type": "boolean"}}),
                          parameters=[_WS_TRIAL])},
        "/api/trials/{trial_id}/tasks/{task_id}/complete": {"post": _ws(
            "Completar una tarea de la prueba (formulario validado como en la bandeja)",
            _WS_TRIAL_STATE, parameters=[_WS_TRIAL, _TASK_ID],
            body=_object({"data": {"type": "object"}}), errors=(400, 401, 403, 404, 422))},
        "/api/trials/{trial_id}/timers/fire": {"post": _ws(
            "Adelantar el reloj de la prueba hasta un temporizador (o el siguiente)",
            _WS_TRIAL_STATE, parameters=[_WS_TRIAL],
            body={"type": "object", "properties": {"id": {"type": "string"}}})},
        base + "/migrations/dry-run": {"post": _ws(
            "Simular la migración de casos entre versiones",
            _object({"cases": {"type": "array", "items": _object({
                "case_number": {"type": "string"}, "can_move": {"type": "boolean"},
                "reason": _NULLABLE_STR,
                "active": {"type": "array", "items": {"type": "string"}},
                "actions": {"type": "array", "items": {"type": "string"}}})}}),
            parameters=[_WS_PROCESS], body=_WS_SELECTION, errors=(400, 401, 403, 404))},
        base + "/migrations": {"post": _ws(
            "Migrar los casos que pueden moverse (trabajo en segundo plano)",
            _object({"job_id": {"type": "string"}}), status="202",
            parameters=[_WS_PROCESS], body=_WS_SELECTION, errors=(400, 401, 403, 404))},
        "/api/migration-jobs/{job_id}": {"get": _ws(
            "Avance de una migración", job,
            parameters=[{"name": "job_id", "in": "path", "required": True,
                         "schema": {"type": "string"}}],
            errors=(401, 404))},
    }
