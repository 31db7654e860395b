"""The process owner's pages: procedures, versions, diffs and case migration (``/procesos``)."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale

from engine import CauceError, NotFound, PermissionDenied
from engine.case_migration import Selection
from engine.procedures import ProcedureInfo

from . import engine
from .auth import person
from .workshop_messages import all_in_language, in_language

blueprint = Blueprint("procedures", __name__, url_prefix="/procesos")


def _procedure(process_id: str) -> ProcedureInfo:
    try:
        return engine().procedure(process_id, by=person())
    except NotFound:
        abort(404)


def _owner(process_id: str) -> ProcedureInfo:
    info = _procedure(process_id)
    if not info.can_edit:
        abort(403)
    return info


@blueprint.route("")
def index() -> str:
    """List every procedure: current version, owners, cases per version, diagram."""
    return render_template("procedures/index.html", procedures=engine().list_procedures(person()))


@blueprint.route("/<process_id>/versiones")
def versions(process_id: str) -> str:
    """List a procedure's versions, with their diagram and a form to compare two."""
    info = _procedure(process_id)
    shown = request.args.get("version", type=int) or info.current.number
    if not any(v.number == shown for v in info.versions):
        shown = info.current.number
    return render_template("procedures/versions.html", procedure=info, shown=shown)


@blueprint.route("/<process_id>/versiones/<int:number>.bpmn")
def version_bpmn(process_id: str, number: int) -> Response:
    """Download the procedure's own diagram of a version."""
    _procedure(process_id)
    try:
        definition = engine().procedure_version(process_id, number)
    except NotFound:
        abort(404)
    name = definition.spec.file or f"{process_id}.bpmn"
    response = Response(definition.bundle[name], mimetype="application/xml")
    if request.args.get("descargar"):
        response.headers["Content-Disposition"] = (
            f'attachment; filename="{process_id}-v{number}.bpmn"')
    return response


@blueprint.route("/<process_id>/diferencias")
def diff(process_id: str) -> str:
    """List what changed between two versions (``hasta=borrador``: the draft)."""
    info = _procedure(process_id)
    since = request.args.get("desde", type=int) or max(info.current.number - 1, 1)
    raw_until = request.args.get("hasta", "")
    until: int | None = info.current.number
    if raw_until == "borrador":
        if not info.can_edit:
            abort(403)
        until = None
    elif raw_until.isdigit():
        until = int(raw_until)
    try:
        found = engine().procedure_diff(process_id, since, until, by=person())
    except NotFound:
        abort(404)
    api_to = "draft" if until is None else str(until)
    return render_template(
        "procedures/diff.html", procedure=info, since=since, until=until, diff=found,
        from_url=url_for("procedures.version_bpmn", process_id=process_id, number=since),
        to_url=(url_for("procedures.version_bpmn", process_id=process_id, number=until)
                if until is not None else ""),
        diff_url=url_for("api.version_diff", process_id=process_id, **{"from": since,
                                                                        "to": api_to}))


@blueprint.route("/<process_id>/migracion", methods=["GET", "POST"])
def migration(process_id: str) -> Any:
    """Plan (dry run) and run the migration of cases between two versions; owners only."""
    info = _owner(process_id)
    numbers = [v.number for v in info.versions]
    source = request.values.get("desde", type=int)
    target = request.values.get("hasta", type=int) or info.current.number
    which = (request.values.get("casos") or "").strip()
    state = request.values.get("estado") or "open"
    plans = None
    selection = None
    if source in numbers and target in numbers:
        selection = Selection(source, target, tuple(c.strip() for c in which.split(",")
                                                    if c.strip()) or None,
                              None if state == "all" else "open")
    if request.method == "POST" and selection is not None:
        try:
            job_id = engine().migrate_cases(process_id, by=person(), selection=selection,
                                            run=False)
        except CauceError as failure:
            flash(failure.message, "error")
            return redirect(url_for("procedures.migration", process_id=process_id))
        run_in_background(job_id)
        return redirect(url_for("procedures.migration", process_id=process_id, job=job_id))
    if selection is not None:
        try:
            plans = engine().migration_dry_run(process_id, by=person(), selection=selection)
        except CauceError as failure:
            flash(failure.message, "error")
    job_id = request.args.get("job")
    job = None
    if job_id:
        try:
            job = engine().migration_job(job_id, by=person())
        except (NotFound, PermissionDenied):
            job = None
    language = str(get_locale())
    if plans is not None:
        plans = [replace(p, reason=in_language(p.reason, language),
                         actions=tuple(all_in_language(p.actions, language))) for p in plans]
    if job is not None:
        job = replace(job, refusals=[{**r, "reason": in_language(r.get("reason"), language)}
                                     for r in job.refusals])
    return render_template("procedures/migration.html", procedure=info, source=source,
                           target=target, which=which, state=state, plans=plans, job=job,
                           movable=sum(1 for p in plans or [] if p.can_move))


def run_in_background(job_id: str) -> None:
    """Run a migration job in a thread of this process; its progress is in the database."""
    eng = engine()
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def work() -> None:
        try:
            eng.run_migration_job(job_id)
        except Exception:  # noqa: BLE001 - a failed job is logged; its row says how far it got
            app.logger.exception("La migración %s falló", job_id)

    if current_app.config.get("MIGRATION_JOBS_INLINE"):
        work()
        return
    threading.Thread(target=work, name=f"migration-{job_id}", daemon=True).start()


def init_app(app: Any) -> None:
    """Register the pages."""
    app.register_blueprint(blueprint)
