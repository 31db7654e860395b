"""Cauce's web layer: Flask blueprints, templates and CLI commands, thin callers of the engine."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from flask import Flask, abort, current_app, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel, gettext
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from engine import Engine

LANGUAGES = ("es", "en")
babel = Babel()
csrf = CSRFProtect()


def engine() -> Engine:
    """Return the engine of the running application."""
    return current_app.extensions["cauce"]  # type: ignore[no-any-return]


def select_locale() -> str:
    """Spanish unless the person asked for English (language switch in the header)."""
    lang = session.get("lang")
    return lang if lang in LANGUAGES else "es"


class TlsAwareSessionInterface(SecureCookieSessionInterface):
    """Mark the session cookie Secure whenever the request came over TLS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def init_app(app: Flask) -> None:
    """Register extensions, blueprints, template helpers and CLI commands on ``app``."""
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    _limits(app)
    # Flask-WTF and Flask-Babel define these two only later, in their init_app: setdefault works.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "web/translations")
    app.session_interface = TlsAwareSessionInterface()
    proxies = int(app.config.get("TRUSTED_PROXIES") or os.environ.get("CAUCE_TRUSTED_PROXIES", 0))
    if proxies:
        # Behind N proxies the client is what the N-th X-Forwarded-For says (sign-in throttling).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    app.before_request(_refuse_oversized_body)
    app.jinja_env.filters["translated"] = translated
    babel.init_app(app, locale_selector=select_locale, default_timezone="America/Guayaquil")
    csrf.init_app(app)

    from . import api, auth, cases, catalogue, catalogue_cli, cli, documents, formats, inbox, tasks

    formats.init_app(app)
    auth.init_app(app)
    app.register_blueprint(auth.blueprint)
    app.register_blueprint(inbox.blueprint)
    app.register_blueprint(tasks.blueprint)
    app.register_blueprint(cases.blueprint)
    from .case_list import blueprint as case_list  # /casos: find and follow cases
    app.register_blueprint(case_list)
    from .audit import blueprint as audit  # /auditoria: replay, proof, access log
    app.register_blueprint(audit)
    from .audit_mining import blueprint as audit_mining  # /auditoria/procesos: conformance, map
    app.register_blueprint(audit_mining)
    from .editor import blueprint as editor  # /procesos/<id>/editar: the owner's editor
    app.register_blueprint(editor)
    app.register_blueprint(documents.blueprint)
    from .dashboards import blueprint as dashboards  # /gestion: managers' dashboards
    app.register_blueprint(dashboards)
    from . import procedures_api  # noqa: F401  (the workshop's routes join the API blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(catalogue.blueprint)
    app.register_blueprint(catalogue.api_blueprint)
    csrf.exempt(api.blueprint)
    csrf.exempt(catalogue.api_blueprint)
    from . import charter_documents  # Carta de Servicios documents and the public charter

    charter_documents.init_app(app)
    _static(app)
    app.after_request(_security_headers)
    cli.init_app(app)
    catalogue_cli.init_app(app)
    from . import health, ops_cli  # probes, request ids, logs, metrics; backup and restore

    health.init_app(app)
    ops_cli.init_app(app)
    from . import audit_cli  # audit verify / checkpoint / xes

    audit_cli.init_app(app)
    from . import procedures as procedure_pages  # /procesos: versions, diff, migration
    from . import procedures_cli  # procedures export / import

    procedure_pages.init_app(app)
    procedures_cli.init_app(app)
    from . import db_cli  # db upgrade / current / history / check / migrate-states

    db_cli.init_app(app)
    from . import notifications  # e-mail: preferences, the outbox page, the worker's round

    notifications.init_app(app)
    from . import signatures  # /firma: certificates, signing case documents, verification

    signatures.init_app(app)
    from . import dossier  # /auditoria/casos/<n>/expediente-auditoria.pdf, audit dossier

    dossier.init_app(app)


DEFAULT_MAX_CONTENT_LENGTH = 25 * 1024 * 1024
DEFAULT_SESSION_HOURS = 8.0


def _limits(app: Flask) -> None:
    """Set the body-size limit and the session lifetime (config first, then the environment).

    Flask already defines both keys (no limit, 31 days), so ``setdefault`` would keep its values:
    each is replaced unless the caller configured something else.
    """
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = int(os.environ.get(
            "CAUCE_MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH))
    if app.config.get("PERMANENT_SESSION_LIFETIME") in (None, Flask.default_config[
            "PERMANENT_SESSION_LIFETIME"]):
        hours = float(app.config.get("SESSION_HOURS") or os.environ.get(
            "CAUCE_SESSION_HOURS", DEFAULT_SESSION_HOURS))
        app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=hours)
    elif isinstance(app.config["PERMANENT_SESSION_LIFETIME"], (int, float)):
        app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(
            seconds=app.config["PERMANENT_SESSION_LIFETIME"])


def _refuse_oversized_body() -> None:
    # Refused from the declared length, before a byte of the body is read (or a password hashed);
    # a body without one is cut off at the same limit by Werkzeug while it is read.
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and limit and request.content_length > limit:
        abort(413)


def translated(message: str) -> str:
    """Translate a message that may carry what someone typed, keeping it escaped.

    Jinja's ``_()`` marks its result safe, so ``_(message)`` would put a file name's markup on
    the page; this returns plain text, which autoescaping escapes.
    """
    return str(gettext(str(message)))


# Scripts only from this site: text someone typed can never become code on a page.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def _security_headers(response: Any) -> Any:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _static(app: Flask) -> None:
    from pathlib import Path

    from flask import Blueprint

    static = Blueprint("assets", __name__, static_folder=str(Path(__file__).parent / "static"),
                       static_url_path="/static")
    app.register_blueprint(static)


def template_context() -> dict[str, Any]:
    """Values every template can use."""
    return {"languages": LANGUAGES}
