"""The case list (``/casos``): every case a person may see, and the cases they follow."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from engine import CaseFilters, CauceError, FollowedCase, InvalidCaseCursor, NotFound
from engine.case_search import CASE_SCOPES, CASE_SORTS, CASE_STATUSES

from . import engine
from .auth import current_person, person, safe_next
from .cases import EVENT_LABELS
from .engine_messages import N_

blueprint = Blueprint("case_list", __name__)

PER_PAGE = 50
SCOPE_LABELS = {"all": N_("Todos"), "requested": N_("Mis solicitudes"),
                "participated": N_("En los que participé"), "following": N_("Siguiendo")}
SORT_LABELS = {"started_at": N_("Inicio"), "number": N_("Número"),
               "requester": N_("Solicitante"), "process": N_("Procedimiento")}
BAD_DATE = N_("Fecha no válida (use dd/mm/aaaa)")
# The engine's message for a forged cursor, translated when flashed.
N_("El cursor de página no es válido; vuelva a la primera página")


class BadFilter(ValueError):
    """A filter value no case list understands (the message says which and why)."""


def _date(text: str | None, strict: bool) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    for pattern in ("%d/%m/%Y", "%Y-%m-%d") if len(text) == 10 else ():
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    if strict:
        raise BadFilter(BAD_DATE)
    return None


def filters_from(args: Any, *, strict: bool = False) -> CaseFilters:
    """Read the case-list filters from query parameters.

    ``strict`` (the API): an unknown value is a BadFilter; otherwise (the page) it is ignored.
    """
    def choice(name: str, allowed: tuple[str, ...], default: str | None) -> str | None:
        value = args.get(name) or None
        if value is None or value in allowed:
            return value or default
        if strict:
            raise BadFilter(f"{name}: use uno de {', '.join(allowed)}")
        return default

    sort = choice("sort", CASE_SORTS, "started_at") or "started_at"
    direction = choice("dir", ("asc", "desc"), None) or (
        "desc" if sort == "started_at" else "asc")
    started_from, started_to = _date(args.get("from"), strict), _date(args.get("to"), strict)
    return CaseFilters(
        scope=choice("scope", CASE_SCOPES, "all") or "all",
        process_id=(args.get("process") or "").strip()[:100] or None,
        status=choice("state", CASE_STATUSES, None),
        started_from=started_from, started_to=started_to,
        search=(args.get("q") or "").strip()[:200] or None,
        sort=sort, descending=direction == "desc",
    )


@blueprint.route("/casos")
def cases() -> tuple[str, int]:
    """List the cases this person may see, with tabs, filters, search, order and pages."""
    me = person()
    eng = engine()
    filters = filters_from(request.args)
    status = 200
    for name in ("from", "to"):
        if request.args.get(name) and _date(request.args.get(name), False) is None:
            flash(_(BAD_DATE), "error")
    cursor = request.args.get("cursor") or None
    try:
        page = eng.list_cases(me, filters=filters, cursor=cursor, per_page=PER_PAGE)
    except InvalidCaseCursor as refused:
        flash(_(refused.message), "error")
        page = eng.list_cases(me, filters=filters, per_page=PER_PAGE)
        cursor, status = None, 400
    audited = set(eng.audited_processes(me))  # an auditor filters by what they audit
    processes = [d for d in eng.processes()
                 if set(d.roles()) & me.roles or d.process_id in audited]
    args = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return render_template(
        "case_list.html", page=page, filters=filters, processes=processes, args=args,
        cursor=cursor, scopes=SCOPE_LABELS, sorts=SORT_LABELS), status


def _follow(number: str, verb: str) -> Response:
    eng = engine()
    try:
        if verb == "follow":
            eng.follow_case(number, by=person())
            flash(_("Sigue el caso %(number)s: sus novedades aparecen en su bandeja.",
                    number=number), "success")
        else:
            eng.unfollow_case(number, by=person())
            flash(_("Dejó de seguir el caso %(number)s.", number=number), "success")
    except NotFound:
        abort(404)
    except CauceError as error:
        flash(_(error.message), "error")
    default = url_for("cases.case", number=number)
    return redirect(safe_next(request.form.get("next"), default))


@blueprint.route("/casos/<number>/seguir", methods=["POST"])
def follow(number: str) -> Response:
    """Follow a case."""
    return _follow(number, "follow")


@blueprint.route("/casos/<number>/dejar-de-seguir", methods=["POST"])
def unfollow(number: str) -> Response:
    """Stop following a case."""
    return _follow(number, "unfollow")


@blueprint.app_template_global()
def followed_cases() -> list[FollowedCase]:
    """Return the signed-in person's followed cases (the home page's Seguimiento block)."""
    me = current_person()
    return engine().followed_cases(me) if me is not None else []


blueprint.add_app_template_global(EVENT_LABELS, "following_labels")

