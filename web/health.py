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

from . import engine
from .observability import metrics_registry

blueprint = Blueprint("health", __name__)

DB_TIMEOUT_SECONDS = 2.0


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


def init_app(app: Flask) -> None:
    """Install request ids, logs and metrics, and register the probes (exempt from CSRF)."""
    from . import csrf, observability

    observability.init_app(app)
    app.register_blueprint(blueprint)
    csrf.exempt(blueprint)
