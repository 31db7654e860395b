"""Signing in and out, password changes, the session's person, the language switch, and the
sign-in guard. Sessions are recorded on the server (the cookie carries only their secret), so
signing out or changing the password ends them for good."""

from __future__ import annotations

import math
import os
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from engine import (
    CauceError,
    DirectoryUnavailable,
    FormInvalid,
    InvalidCredentials,
    LdapSettings,
    NotFound,
    PersonView,
    SignInThrottled,
)

from . import LANGUAGES, engine

blueprint = Blueprint("auth", __name__)

# Endpoints reachable without a session (the API authenticates with its own bearer tokens).
PUBLIC_ENDPOINTS = frozenset({
    "auth.login", "auth.language", "assets.static", "api.login", "api.openapi",
    "charter_public.charter", "charter_public.charter_pdf",  # the public Carta de Servicios
    "health.live", "health.ready", "health.metrics",  # probes; /metricas checks its own access
})


def current_person() -> PersonView | None:
    """Return the signed-in person of this request, or None."""
    return g.get("person")


def person() -> PersonView:
    """Return the signed-in person (the guard guarantees there is one)."""
    found = current_person()
    if found is None:
        abort(401)
    return found


def _load_person() -> None:
    g.person = None
    token = session.get("sid")
    if not isinstance(token, str):
        if session.get("person_id") is not None:
            _fresh_session()  # a cookie from before sessions were recorded signs nobody in
        return
    try:
        g.person = engine().session_person(token)
    except NotFound:
        _fresh_session()  # ended (sign-out, password change) or expired on the server


def _fresh_session() -> None:
    """Empty the session, keeping only the chosen language."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def unstorable(text: str) -> bool:
    """Tell whether typed text holds a NUL character, which no database keeps."""
    return "\x00" in text


def client_address() -> str:
    """Return the address sign-in attempts are throttled by (behind trusted proxies: theirs)."""
    return request.remote_addr or "-"


def wait_message(failure: SignInThrottled) -> str:
    """Say, in the reader's language, how long to wait before trying again."""
    minutes = max(1, math.ceil(failure.retry_after / 60))
    return _("Demasiados intentos fallidos. Espere %(minutes)d min y vuelva a intentarlo.",
             minutes=minutes)


def _guard() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if request.blueprint in ("api", "catalogue_api"):
        return None  # the API checks its bearer token itself
    if current_person() is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return None


def safe_next(target: str | None, default: str) -> str:
    """Return ``target`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


@blueprint.route("/entrar", methods=["GET", "POST"])
def login() -> Any:
    """Show the sign-in form and check the password."""
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        if unstorable(username) or unstorable(password):
            flash(_("Usuario o contraseña incorrectos"), "error")
            return render_template("login.html", username=""), 401
        try:
            signed = engine().sign_in_with_directory(
                current_app.extensions.get("cauce_ldap"), username, password,
                client=client_address(), kind="web",
                lifetime=current_app.permanent_session_lifetime)
        except DirectoryUnavailable as error:
            flash(_(error.message), "error")
            return render_template("login.html", username=username), 503
        except SignInThrottled as failure:
            flash(wait_message(failure), "error")
            response = make_response(render_template("login.html", username=username), 429)
            response.headers["Retry-After"] = str(failure.retry_after)
            return response
        except InvalidCredentials as error:
            flash(_(error.message), "error")
            return render_template("login.html", username=username), 401
        _fresh_session()  # a fresh session on sign-in: no fixation
        session.permanent = True
        session["sid"] = signed.token
        return redirect(safe_next(request.args.get("next"), url_for("inbox.index")))
    if current_person() is not None:
        return redirect(url_for("inbox.index"))
    return render_template("login.html", username="")


@blueprint.route("/salir", methods=["POST"])
def logout() -> Response:
    """End the session, on the server too: a copy of the cookie no longer signs anybody in."""
    token = session.get("sid")
    if isinstance(token, str):
        engine().sign_out(token)
    _fresh_session()
    flash(_("Sesión cerrada."), "info")
    return redirect(url_for("auth.login"))


@blueprint.route("/cuenta/clave", methods=["GET", "POST"])
def password() -> Any:
    """Change one's password; every other session and API token of the person ends."""
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        current = request.form.get("current_password", "")
        new = request.form.get("new_password", "")
        for name in ("current_password", "new_password", "confirm_password"):
            if unstorable(request.form.get(name, "")):
                errors.setdefault(name, []).append(
                    _("Contiene caracteres no permitidos (nulos o sustitutos sueltos)"))
        if not errors and new != request.form.get("confirm_password", ""):
            errors["confirm_password"] = [_("No coincide con la contraseña nueva")]
        if not errors:
            try:
                ended = engine().change_password(person().username, current, new,
                                                 client=client_address(), keep=session["sid"])
            except FormInvalid as failure:
                errors = {field: [_(m) for m in messages]
                          for field, messages in failure.by_field().items()}
            except SignInThrottled as failure:
                errors["current_password"] = [wait_message(failure)]
            except CauceError as failure:
                errors[""] = [_(failure.message)]
            else:
                flash(_("Contraseña cambiada. Sesiones cerradas en otros lugares: %(num)d.",
                        num=ended), "success")
                return redirect(url_for("inbox.index"))
    status = 400 if errors else 200
    return render_template("password.html", errors=errors), status


@blueprint.route("/idioma/<code>")
def language(code: str) -> Response:
    """Switch the interface language (Spanish by default, English on request)."""
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next"), url_for("inbox.index")))


LDAP_KEYS = ("CAUCE_LDAP_URL", "CAUCE_LDAP_BIND_DN", "CAUCE_LDAP_BIND_PASSWORD",
             "CAUCE_LDAP_BIND_TEMPLATE", "CAUCE_LDAP_USER_BASE", "CAUCE_LDAP_USER_FILTER",
             "CAUCE_LDAP_GROUP_BASE", "CAUCE_LDAP_START_TLS", "CAUCE_LDAP_CA_FILE",
             "CAUCE_LDAP_DISABLED_GROUP", "CAUCE_LDAP_POSITION_MAP", "CAUCE_LDAP_TIMEOUT")


def ldap_settings(app: Flask) -> LdapSettings | None:
    """Return the directory settings (app config first, then the environment); None: off."""
    return LdapSettings.from_mapping({key: app.config.get(key, os.environ.get(key))
                                      for key in LDAP_KEYS})


def init_app(app: Flask) -> None:
    """Load the session's person before every request and send strangers to sign in."""
    # Read once at start-up: a broken position map stops the app with its reason.
    app.extensions["cauce_ldap"] = ldap_settings(app)
    app.before_request(_load_person)
    app.before_request(_guard)

    @app.context_processor
    def _inject() -> dict[str, Any]:
        from flask_babel import get_locale

        return {"current_person": current_person(), "languages": LANGUAGES,
                "locale": str(get_locale())}

    @app.errorhandler(404)
    def _not_found(_error: Exception) -> Any:
        if request.path.startswith("/api/"):
            return {"error": {"code": "not_found", "message": "No existe"}}, 404
        return render_template("error.html", status=404,
                               message=_("No encontramos lo que busca.")), 404

    @app.errorhandler(405)
    def _method_not_allowed(_error: Exception) -> Any:
        if request.path.startswith("/api/"):
            return {"error": {"code": "method_not_allowed",
                              "message": "Método no permitido en esta ruta"}}, 405
        return render_template("error.html", status=405,
                               message=_("Esa acción no está disponible aquí.")), 405

    @app.errorhandler(413)
    def _too_large(_error: Exception) -> Any:
        megabytes = (current_app.config["MAX_CONTENT_LENGTH"] or 0) // (1024 * 1024)
        message = _("El envío supera el tamaño máximo permitido (%(mb)d MB).", mb=megabytes)
        if request.path.startswith("/api/"):
            return {"error": {"code": "payload_too_large", "message": message}}, 413
        return render_template("error.html", status=413, message=message), 413

    @app.errorhandler(403)
    def _forbidden(_error: Exception) -> Any:
        return render_template("error.html", status=403,
                               message=_("Su rol no permite esta acción.")), 403

    from flask_wtf.csrf import CSRFError

    @app.errorhandler(CSRFError)
    def _csrf(_error: Exception) -> Any:
        return render_template("error.html", status=400, message=_(
            "El formulario caducó o no es válido. Vuelva a la página e inténtelo otra vez.")), 400

