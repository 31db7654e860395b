"""Request ids, structured logs and Prometheus metrics for every request and every case step.

Each request gets an id (a sane incoming ``X-Request-Id`` is kept, else a new one), returned in
the ``X-Request-Id`` header and stamped on every log record made while the request is handled.
One access line per request goes to the ``cauce.access`` logger. ``CAUCE_LOG_FORMAT=json``
writes every line as one JSON object; ``text`` (the default) is for people.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram

from engine import Engine
from engine.operations import Happening

request_id_var: ContextVar[str | None] = ContextVar("cauce_request_id", default=None)

# Letters, digits and a few separators, bounded: what proxies and tracers send, and nothing
# that could forge a log line or carry markup.
_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{8,128}")

access_log = logging.getLogger("cauce.access")

# -- metrics (one set per process: see README "Operaciones") --------------------------------

TASKS_COMPLETED = Counter("cauce_tasks_completed", "Tareas humanas completadas.", ["process"])
TIMERS_FIRED = Counter("cauce_timers_fired", "Pasos de temporizador disparados.", ["process"])
TIMER_LAG = Histogram(
    "cauce_timer_lag_seconds",
    "Retraso de cada disparo de temporizador: momento del disparo menos momento debido.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600))
ERRORS = Counter("cauce_http_errors", "Respuestas de error por estado HTTP y código del API.",
                 ["status", "code"])
LATENCY = Histogram("cauce_request_duration_seconds", "Duración de las peticiones por ruta.",
                    ["method", "endpoint"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def count_happening(happening: Happening) -> None:
    """Count one committed case event (the engine calls this after each step commits)."""
    if happening.event_type == "task_completed":
        TASKS_COMPLETED.labels(happening.process_id).inc()
    elif happening.event_type == "timer_fired":
        TIMERS_FIRED.labels(happening.process_id).inc()
        if happening.due_at is not None:
            TIMER_LAG.observe(max(0.0, (happening.at - happening.due_at).total_seconds()))


def metrics_registry() -> CollectorRegistry:
    """Return what ``/metricas`` exposes: this process, or all of them in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    from prometheus_client import REGISTRY

    return REGISTRY


# -- logging ----------------------------------------------------------------------------------


def _stamp_records() -> None:
    """Give every log record a ``request_id`` attribute, whatever logger or handler sees it."""
    current = logging.getLogRecordFactory()
    if getattr(current, "_cauce", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return record

    factory._cauce = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Write to whatever ``sys.stderr`` is now (test runners and daemons replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and extra fields."""

    FIELDS = ("method", "path", "query_keys", "status", "duration_ms", "user_id")

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name in self.FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """A readable line: time, level, request id, logger and message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


def configure_logging(log_format: str) -> None:
    """Send Cauce's logs (and libraries' warnings) to stderr in the chosen format, once."""
    _stamp_records()
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_cauce", False)), None)
    if handler is None:
        handler = _StderrHandler()
        handler._cauce = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        if root.level == logging.NOTSET or root.level > logging.WARNING:
            root.setLevel(logging.WARNING)
        # Cauce's own lines (access log, operations) are INFO; libraries stay at WARNING.
        logging.getLogger("cauce").setLevel(logging.INFO)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())


# -- per request ------------------------------------------------------------------------------


def _start() -> None:
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming if _SANE_ID.fullmatch(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()
    g.request_id_token = request_id_var.set(g.request_id)


def _finish(response: Any) -> Any:
    request_id = g.get("request_id")
    if request_id is None:  # a hook before ours answered: still give the request an id
        _start()
        request_id = g.request_id
    response.headers["X-Request-Id"] = request_id
    elapsed = time.perf_counter() - g.get("request_started", time.perf_counter())
    endpoint = request.endpoint or "(sin ruta)"
    LATENCY.labels(request.method, endpoint).observe(elapsed)
    if response.status_code >= 400:
        ERRORS.labels(str(response.status_code), _api_error_code(response)).inc()
    person = g.get("person")
    fields = {
        "method": request.method, "path": request.path, "status": response.status_code,
        # Only the names of query parameters: their values may be searches or tokens.
        "query_keys": sorted(request.args.keys()),
        "duration_ms": round(elapsed * 1000, 1),
        "user_id": getattr(person, "id", None),
    }
    access_log.info("%s %s %s %.1f ms user=%s", request.method, request.path,
                    response.status_code, elapsed * 1000, fields["user_id"] or "-", extra=fields)
    return response


def _api_error_code(response: Any) -> str:
    # The API answers {"error": {"code": …}}; pages have no code, only their status.
    if not response.is_json or response.direct_passthrough:
        return ""
    body = response.get_json(silent=True)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("code", ""))[:40]
    return ""


def _forget(_error: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        request_id_var.reset(token)


def init_app(app: Flask) -> None:
    """Install the request hooks, the log format and the engine's metrics feed on ``app``."""
    log_format = str(app.config.get("LOG_FORMAT") or os.environ.get("CAUCE_LOG_FORMAT", "text"))
    configure_logging(log_format.strip().lower())
    # First of all hooks, so that everything after it logs with the request's id.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    # First registered runs last: the access line sees the response every other hook made.
    app.after_request_funcs.setdefault(None, []).insert(0, _finish)
    app.teardown_request(_forget)
    engine: Engine = app.extensions["cauce"]
    engine.observe(count_happening)
