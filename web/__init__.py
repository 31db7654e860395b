"""Cauce's web layer: Flask blueprints, templates and CLI commands, thin callers of the engine."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

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
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", 8 * 3600)
    app.config.setdefault("MAX_CONTENT_LENGTH", 25 * 1024 * 1024)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "web/translations")
    app.session_interface = TlsAwareSessionInterface()
    babel.init_app(app, locale_selector=select_locale, default_timezone="America/Guayaquil")
    csrf.init_app(app)

    from . import api, auth, cases, catalogue, catalogue_cli, cli, documents, formats, inbox, tasks

    formats.init_app(app)
    auth.init_app(app)
    app.register_blueprint(auth.blueprint)
    app.register_blueprint(inbox.blueprint)
    app.register_blueprint(tasks.blueprint)
    app.register_blueprint(cases.blueprint)
    app.register_blueprint(documents.blueprint)
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
