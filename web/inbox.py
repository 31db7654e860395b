"""The task inbox ("Bandeja de tareas"): my tasks and the ones my roles may take."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from engine import CauceError, InboxFilters, InvalidCursor

from . import engine, labels
from .auth import person, safe_next

blueprint = Blueprint("inbox", __name__)
blueprint.add_app_template_global(labels.task_activity_label, "activity_label")
blueprint.add_app_template_global(labels.process_label, "process_label")

PER_PAGE = 50
# The engine searches no more than this much of a search text; show what it searched.
MAX_SEARCH = 200
SORTS = ("due_at", "created_at", "case_number", "requester", "activity", "process")


def filters_from(args: Any) -> InboxFilters:
    """Read the inbox filters from query parameters (unknown values are ignored)."""
    sort = args.get("sort", "due_at")
    return InboxFilters(
        process_id=args.get("process") or None,
        activity_id=args.get("activity") or None,
        due_state=args.get("state") if args.get("state") in (
            "vencida", "por_vencer", "a_tiempo", "sin_plazo") else None,
        # A search longer than any case number or name finds nothing more: keep it short.
        search=(args.get("q") or "")[:MAX_SEARCH].strip() or None,
        sort=sort if sort in SORTS else "due_at",
        descending=args.get("dir") == "desc",
    )


@blueprint.route("/")
def index() -> Response:
    """Send people to their inbox."""
    return redirect(url_for("inbox.inbox"))


@blueprint.route("/bandeja")
def inbox() -> str:
    """Show the two lists with filters, search, sorting and pagination."""
    me = person()
    eng = engine()
    filters = filters_from(request.args)
    cursors = {"cursor_mine": request.args.get("cursor_mine"),
               "cursor_available": request.args.get("cursor_available")}
    try:
        lists = eng.inbox(me, filters=filters, per_page=PER_PAGE, **cursors)
    except InvalidCursor:
        # A cursor from an old link or typed by hand: show the first pages instead.
        lists = eng.inbox(me, filters=filters, per_page=PER_PAGE)
    mine, available = lists.mine, lists.available
    processes = [d for d in eng.processes() if set(d.roles()) & me.roles]
    activities = sorted({(a.bpmn_id, a.name) for d in processes for a in d.activities.values()
                         if d.lane_role(a.lane).role in me.roles}, key=lambda a: a[1])
    return render_template(
        "inbox.html", mine=mine, available=available, filters=filters, processes=processes,
        activities=activities, due_state=eng.due_state, args=request.args,
        startable=eng.startable_processes(me),
        returned=eng.returned_work([*mine.items, *available.items]))


def _back() -> str:
    return safe_next(request.form.get("next"), url_for("inbox.inbox"))


@blueprint.route("/tareas/<task_id>/tomar", methods=["POST"])
def claim(task_id: str) -> Response:
    """Take a task from the role's list."""
    try:
        task = engine().claim(task_id, by=person())
        flash(_("Tomó la tarea «%(activity)s» del caso %(case)s.", activity=task.activity_name,
                case=task.case_number), "success")
    except CauceError as error:
        flash(_(error.message), "error")
    return redirect(_back())


@blueprint.route("/tareas/<task_id>/liberar", methods=["POST"])
def release(task_id: str) -> Response:
    """Give a task back to the role's list."""
    try:
        task = engine().release(task_id, by=person())
        flash(_("Liberó la tarea «%(activity)s» del caso %(case)s.", activity=task.activity_name,
                case=task.case_number), "success")
    except CauceError as error:
        flash(_(error.message), "error")
    return redirect(_back())
