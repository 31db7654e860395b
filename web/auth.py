"""Signing in and out, the session's person, the language switch, and the sign-in guard."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from engine import InvalidCredentials, NotFound, PersonView

from . import LANGUAGES, engine

blueprint = Blueprint("auth", __name__)

# Endpoints reachable without a session (the API authenticates with its own bearer tokens).
PUBLIC_ENDPOINTS = frozenset({
    "auth.login", "auth.language", "assets.static", "api.login", "api.openapi",
    "charter_public.charter", "charter_public.charter_pdf",  # the public Carta de Servicios
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
    person_id = session.get("person_id")
    g.person = None
    if person_id is None:
        return
    try:
        g.person = engine().person_by_id(int(person_id))
    except NotFound:
        session.clear()


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
        try:
            found = engine().authenticate(username, request.form.get("password", ""))
        except InvalidCredentials as error:
            flash(_(error.message), "error")
            return render_template("login.html", username=username), 401
        lang = session.get("lang")
        session.clear()  # a fresh session on sign-in: no fixation
        session.permanent = True
        session["person_id"] = found.id
        if lang:
            session["lang"] = lang
        return redirect(safe_next(request.args.get("next"), url_for("inbox.index")))
    if current_person() is not None:
        return redirect(url_for("inbox.index"))
    return render_template("login.html", username="")


@blueprint.route("/salir", methods=["POST"])
def logout() -> Response:
    """End the session."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("Sesión cerrada."), "info")
    return redirect(url_for("auth.login"))


@blueprint.route("/idioma/<code>")
def language(code: str) -> Response:
    """Switch the interface language (Spanish by default, English on request)."""
    if code in LANGUAGES:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next"), url_for("inbox.index")))


def init_app(app: Flask) -> None:
    """Load the session's person before every request and send strangers to sign in."""
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
            return {"error": {"code": "bad_request",
                              "message": "Método no permitido en esta ruta"}}, 405
        return render_template("error.html", status=405,
                               message=_("Esa acción no está disponible aquí.")), 405

    @app.errorhandler(403)
    def _forbidden(_error: Exception) -> Any:
        return render_template("error.html", status=403,
                               message=_("Su rol no permite esta acción.")), 403

    from flask_wtf.csrf import CSRFError

    @app.errorhandler(CSRFError)
    def _csrf(_error: Exception) -> Any:
        return render_template("error.html", status=400, message=_(
            "El formulario caducó o no es válido. Vuelva a la página e inténtelo otra vez.")), 400

