"""Probes and metrics for operators: ``/salud`` (alive), ``/salud/lista`` (ready), ``/metricas``.

None needs a session. ``/metricas`` answers a bearer token equal to ``CAUCE_METRICS_TOKEN``
when one is configured, and otherwise only direct requests from this machine (loopback, not
forwarded by a proxy).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from engine.operations import DATABASE_UNAVAILABLE

from . import engine
from .observability import metrics_registry

blueprint = Blueprint("health", __name__)

DB_TIMEOUT_SECONDS = 2.0
# What a 503 tells clients to wait before retrying: about a database restart's length.
RETRY_AFTER_SECONDS = 5
STATIC_ENDPOINT = "assets.static"


@blueprint.get("/salud")
def live() -> Any:
    """Answer while the process can serve requests: no database, no session."""
    return _no_store(jsonify({"status": "ok"}))


@blueprint.get("/salud/lista")
def ready() -> Any:
    """Check the database, the process library and the timer workers' heartbeat."""
    checks: dict[str, dict[str, Any]] = {}
    database = engine().ping_database(
        float(current_app.config.get("HEALTH_DB_TIMEOUT", DB_TIMEOUT_SECONDS)))
    checks["database"] = {"ok": database.ok, "detail": database.detail,
                          "ms": round(database.seconds * 1000, 1)
                          if database.seconds is not None else None}
    processes = len(engine().library.list())
    checks["library"] = {"ok": processes > 0,
                         "detail": f"{processes} procedimiento(s) cargado(s)" if processes
                         else "no hay procedimientos cargados"}
    if database.ok:
        worker = engine().worker_check(_heartbeat_max_age())
        checks["worker"] = {"ok": worker.ok, "detail": worker.detail}
    else:
        checks["worker"] = {"ok": False, "detail": "no se puede leer sin base de datos"}
    failed = sorted(name for name, check in checks.items() if not check["ok"])
    body = {"status": "ok" if not failed else "fail", "failed": failed, "checks": checks}
    return _no_store(jsonify(body)), 200 if not failed else 503


def _heartbeat_max_age() -> timedelta:
    configured = current_app.config.get("WORKER_HEARTBEAT_MAX_AGE")
    if configured is None:
        configured = os.environ.get("CAUCE_WORKER_HEARTBEAT_MAX_AGE")
    if configured is None:
        # Three missed rounds, and a minute for a slow round.
        configured = 3 * float(current_app.config.get("WORKER_INTERVAL_SECONDS", 30)) + 60
    return timedelta(seconds=float(configured))


@blueprint.get("/metricas")
def metrics() -> Any:
    """Expose the Prometheus metrics to whoever may read them."""
    refusal = _metrics_refusal()
    if refusal is not None:
        return refusal
    response = Response(generate_latest(metrics_registry()), mimetype=CONTENT_TYPE_LATEST)
    return _no_store(response)


def _metrics_refusal() -> Response | None:
    token = str(current_app.config.get("METRICS_TOKEN")
                or os.environ.get("CAUCE_METRICS_TOKEN", "")).strip()
    if token:
        given = request.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(
                given.removeprefix("Bearer ").strip().encode(), token.encode()):
            return None
        response = jsonify({"error": {"code": "unauthorized",
                                      "message": "Se necesita el token de métricas"}})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="metricas"'
        return response
    if _from_this_machine():
        return None
    response = jsonify({"error": {"code": "forbidden", "message": (
        "Las métricas solo se sirven a este equipo; configure CAUCE_METRICS_TOKEN para "
        "leerlas desde otro")}})
    response.status_code = 403
    return response


def _from_this_machine() -> bool:
    # A local reverse proxy makes every visitor look local: a forwarded request is not.
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _database_unavailable(failure: Exception) -> Any:
    """Answer 503 with a sentence while the database cannot serve; the client may retry."""
    # One line, no traceback: while the database restarts every request would log one.
    current_app.logger.warning("database unavailable: %s: %s", type(failure).__name__,
                               str(getattr(failure, "orig", failure)).splitlines()[0][:200]
                               if str(failure) else "")
    message = "La base de datos no está disponible en este momento; vuelva a intentarlo."
    if request.path.startswith("/api/"):
        response = jsonify({"error": {"code": "unavailable", "message": message}})
    else:
        from flask import g, render_template
        from flask_babel import gettext

        # The page must not need the database: nobody is shown as signed in.
        g.person = None
        response = current_app.make_response(render_template(
            "error.html", status=503, message=gettext(message)))
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return _no_store(response)


def _static_without_a_person() -> Any:
    """Serve a static file before the hooks that look the session's person up in the database.

    A stylesheet needs nobody signed in; and while the database is down the 503 page must
    still get its stylesheet and scripts.
    """
    if request.endpoint == STATIC_ENDPOINT:
        return current_app.view_functions[STATIC_ENDPOINT](**(request.view_args or {}))
    return None


def init_app(app: Flask) -> None:
    """Install request ids, logs and metrics, and register the probes (exempt from CSRF)."""
    from . import csrf, observability

    observability.init_app(app)
    # Right after the request id (observability's first hook), before the session's person.
    app.before_request_funcs.setdefault(None, []).insert(1, _static_without_a_person)
    app.register_blueprint(blueprint)
    csrf.exempt(blueprint)
    for error_class in DATABASE_UNAVAILABLE:
        app.register_error_handler(error_class, _database_unavailable)
