"""The auditor's workbench: a case's replay on its diagram, its proof, and the access log.

Every read of a confidential case by someone outside its lanes is logged by the engine
(``Engine.record_access``); this module only tells it, after a page or API answer went out
successfully, which case was read and how.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, abort, g, jsonify, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from engine import NotFound, PermissionDenied

from . import engine
from .auth import person
from .casedata import describe
from .cases import case_or_404
from .engine_messages import N_
from .formats import fecha, fecha_hora, typed_day
from .formview import FormLabels
from .tasks import person_name

blueprint = Blueprint("audit", __name__)

ACCESS_LABELS = {"case": N_("Página del caso"), "history": N_("Historial"),
                 "document": N_("Documento"), "report": N_("Informe"),
                 "replay": N_("Reproducción"), "api": N_("API")}
STEP_LABELS = {
    "case_started": N_("Inició el caso"), "task_completed": N_("Completó la tarea"),
    "task_claimed": N_("Tomó la tarea"), "task_released": N_("Liberó la tarea"),
    "timer_fired": N_("Se cumplió un plazo"),
    "deadline_passed": N_("Plazo vencido: caso marcado y escalado"),
    "case_completed": N_("Caso cerrado"), "effect_applied": N_("Registro aplicado"),
    "case_migrated": N_("Migró el caso a otra versión del procedimiento"),
}
# Which successful reads go to the access log: endpoint -> (what, the view argument naming
# the case). Diagrams are left out: the BPMN is the procedure's, not the case's.
LOGGED_READS = {
    "cases.case": ("case", "number"),
    "cases.report": ("report", "number"),
    "cases.report_pdf": ("report", "number"),
    "audit.replay_steps": ("replay", "number"),
    "api.case": ("api", "case_ref"),
    "api.history": ("history", "case_ref"),
    "api.case_documents": ("api", "case_ref"),
}


@blueprint.after_app_request
def _log_confidential_read(response: Response) -> Response:
    endpoint = request.endpoint
    if request.method != "GET" or response.status_code != 200 or not endpoint:
        return response
    reader = g.get("api_person") or g.get("person")
    args = request.view_args or {}
    if reader is None:
        return response
    if endpoint == "documents.download":
        engine().record_document_access(str(args.get("sha256", "")), by=reader)
    elif endpoint in LOGGED_READS:
        what, argument = LOGGED_READS[endpoint]
        try:
            engine().record_access(str(args[argument]), by=reader, what=what,
                                   detail=request.path[:300])
        except NotFound:
            pass  # nothing of the case was shown
    return response


@blueprint.app_context_processor
def _auditor_context() -> dict[str, bool]:
    reader = g.get("person")
    if reader is None:
        return {"auditor_nav": False, "reads_only": False}
    # reads_only: pages show an auditor no way to act (the engine would refuse it anyway).
    return {"auditor_nav": bool(engine().audited_processes(reader)),
            "reads_only": engine().reads_only(reader)}


@blueprint.route("/auditoria/casos/<number>")
def replay(number: str) -> Any:
    """Show a case's replay: timeline, step slider, diagram, and the Verificar button."""
    return _replay_page(number)


def _replay_page(number: str, proof: Any = None, status: int = 200) -> Any:
    eng = engine()
    view = case_or_404(number)
    return render_template(
        "audit_replay.html", case=view, proof=proof,
        verifications=eng.case_verifications(view.id, by=person()),
        auditor=bool(eng.audited_processes(person()))), status


@blueprint.route("/auditoria/casos/<number>/pasos.json")
def replay_steps(number: str) -> Response:
    """Return every step of the case for the replay page's script (one request)."""
    try:
        found = engine().case_replay(number, by=person())
    except NotFound:
        abort(404)
    reader = _DataReader(engine().definition_by_hash(found.version_hash), str(get_locale()))
    steps = [_step_json(step, reader) for step in found.steps]
    return jsonify({"case": found.case_number, "process": found.process_id,
                    "version": found.version_hash, "steps": steps})


class _DataReader:
    """Label a step's values from the procedure's forms and write them as the case page does."""

    def __init__(self, definition: Any, language: str):
        self.definition, self.language = definition, language
        # Form fields first, then the procedure's labelled computed values (as describe does).
        self.labels: dict[str, str] = {}
        for form in definition.forms.values():
            titles = FormLabels(form.schema, form.ui, language)
            for key, prop in form.properties().items():
                self.labels.setdefault(key, titles.field_title(key, prop))
        for key, text in definition.data_labels().items():
            self.labels.setdefault(key, text.get(language) or text["es"])

    def items(self, data: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
        """Return key -> (label, text) of the values people read (working variables left out)."""
        return {item.key: (item.label, item.text or "; ".join(item.rows) or str(item.value))
                for item in describe(self.definition, data, self.language, person_name)}

    def label(self, key: str) -> str:
        """Return a key's label whatever its value (changes may remove it)."""
        return self.labels.get(key, key)


@blueprint.route("/auditoria/casos/<number>/verificar", methods=["POST"])
def verify(number: str) -> Any:
    """Re-execute the case and check its chain now; store and show the outcome."""
    try:
        proof = engine().verify_case(number, by=person())
    except NotFound:
        abort(404)
    return _replay_page(number, proof)


def _step_json(step: Any, reader: _DataReader) -> dict[str, Any]:
    """Return one step as the page's script reads it (Ecuador's time, dd/mm/yyyy hh:mm)."""
    submitted = reader.items(step.submitted or {})
    before = reader.items({c.key: c.before for c in step.changes if c.before is not None})
    after = reader.items({c.key: c.after for c in step.changes if c.after is not None})
    deadline = None
    if step.deadline is not None:
        deadline = {"limit": step.deadline.limit, "elapsed": step.deadline.elapsed,
                    "left": step.deadline.left, "overdue": step.deadline.overdue,
                    "due": fecha(step.deadline.due_at)}
    return {
        "seq": step.seq, "at": step.at.isoformat(), "when": fecha_hora(step.at),
        "type": step.event_type, "label": _(STEP_LABELS.get(step.event_type, step.event_type)),
        "actor": step.actor, "actor_name": step.actor_name, "role": step.role,
        "role_name": step.role_name, "activity": step.activity_id,
        "activity_name": step.activity_name, "submitted": step.submitted,
        "submitted_text": [{"key": key, "label": label, "text": text}
                           for key, (label, text) in submitted.items()],
        "changes": [{"key": c.key, "kind": c.kind, "before": c.before, "after": c.after,
                     "label": reader.label(c.key),
                     "before_text": before.get(c.key, (None, None))[1],
                     "after_text": after.get(c.key, (None, None))[1]}
                    for c in step.changes],
        "documents": [{"sha256": d.sha256, "filename": d.filename, "size": d.size}
                      for d in step.documents],
        "done": list(step.done), "active": list(step.active), "taken": list(step.taken),
        "counts": dict(step.counts), "deadline": deadline,
    }


@blueprint.route("/auditoria/accesos")
def accesses() -> str:
    """List the recorded reads of confidential cases, with filters, and check the chain."""
    eng = engine()
    me = person()
    args = request.args
    what = args.get("what") if args.get("what") in ACCESS_LABELS else None
    try:
        entries = eng.list_accesses(
            me, username=args.get("username") or None, case_number=args.get("case") or None,
            process_id=args.get("process") or None, what=what,
            day_from=typed_day(args.get("from")), day_to=typed_day(args.get("to")))
        check = eng.check_access_log(me)
    except PermissionDenied:
        abort(404)
    audited = set(eng.audited_processes(me))
    processes = [d for d in eng.processes() if d.process_id in audited]
    return render_template("audit_access.html", entries=entries, check=check, args=args,
                           processes=processes, labels=ACCESS_LABELS)
