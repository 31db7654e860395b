"""Cases: start one, read one (timeline, documents, diagram), and its generated documents."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _

from engine import CauceError, FormInvalid, NotFound, closure, review_loop
from engine import catalogue as catalogue_data

from . import case_history, engine, labels
from .auth import person
from .casedata import describe, grouped
from .formview import parse_submission
from .pdf import pdf_response
from .social_report import social_report, social_report_pdf
from .tasks import (
    attachment_shas,
    catalogue_picker,
    document_names,
    person_name,
    render_form_page,
    store_uploads,
)

blueprint = Blueprint("cases", __name__)

# Kept here too: the case list's "what changed" reads the same wording.
EVENT_LABELS = case_history.EVENT_LABELS


def _first_form(process_id: str) -> tuple[Any, Any]:
    definition = engine().library.find(process_id)
    if definition is None:
        abort(404)
    start_activity = next((a for a in definition.activities.values()
                           if a.lane == definition.start_lane), None)
    form = definition.form(start_activity.form_id) if start_activity else None
    return definition, form


@blueprint.route("/casos/nuevo")
def new_case_list() -> str:
    """List the procedures this person may start a case of."""
    return render_template("case_new_list.html",
                           processes=engine().startable_processes(person()))


@blueprint.route("/casos/nuevo/<process_id>", methods=["GET", "POST"])
def new_case(process_id: str) -> Any:
    """Show the first activity's form and open the case with it."""
    me = person()
    definition, form = _first_form(process_id)
    if definition not in engine().startable_processes(me):
        abort(404)
    schema: dict[str, Any] = dict(form.schema) if form else {"type": "object", "properties": {}}
    ui = dict(form.ui) if form else {}
    context: dict[str, Any] = dict(definition=definition, catalogue=catalogue_picker())
    errors: dict[str, list[str]] = {}
    if request.method == "GET":
        defaults = {k: p["default"] for k, p in schema.get("properties", {}).items()
                    if "default" in p}
        return render_form_page("case_new.html", schema=schema, ui=ui, data=defaults,
                                errors=errors, **context)
    data = parse_submission(schema, ui, request.form, lambda f: store_uploads(f, errors),
                            context["catalogue"], errors=errors)
    names = document_names(attachment_shas(schema, data))
    if errors:
        return render_form_page("case_new.html", schema=schema, ui=ui, data=data, errors=errors,
                                document_names=names, status=400, **context)
    try:
        case = engine().start_case(process_id, by=me, data=data)
    except FormInvalid as error:
        return render_form_page("case_new.html", schema=schema, ui=ui, data=data,
                                errors=error.by_field(), document_names=names, status=400,
                                **context)
    except CauceError as error:
        flash(_(error.message), "error")
        return render_form_page("case_new.html", schema=schema, ui=ui, data=data, errors=errors,
                                document_names=names, status=409, **context)
    flash(_("Caso %(number)s registrado.", number=case.number), "success")
    return redirect(url_for("cases.case", number=case.number))


def case_or_404(number: str) -> Any:
    """Return the case this person may see, or answer 404 (never 403: see README)."""
    try:
        return engine().case(number, by=person())
    except NotFound:
        abort(404)


@blueprint.route("/casos/<number>")
def case(number: str) -> str:
    """Show a case: state, timeline, documents, open tasks and the diagram."""
    me = person()
    eng = engine()
    view = case_or_404(number)
    following = eng.case_seen(view.id, by=me)  # opening the page marks a followed case seen
    definition = eng.library.find(view.process_id)
    history = eng.history(view.id, by=me)
    language = str(get_locale())
    full = eng.definition_by_hash(view.version_hash)
    return render_template(
        "case.html", case=view, history=history, event_labels=EVENT_LABELS,
        items=describe(full, view.data, language, person_name,
                       hide=review_loop.stale_fields(history) | SHOWN_APART,
                       catalogue=catalogue_picker(view.data)),
        lines=case_history.history_lines(history, full, language, activity_label(full),
                                         service_labeller(view.data)),
        documents=eng.case_documents(view.id, by=me), due_state=eng.due_state,
        people=_names(history),
        activities={a.bpmn_id: labels.activity_name(full, a.bpmn_id, a.name)
                    for a in full.activities.values()},
        outcome_label=labels.outcome_name(full, view.outcome),
        due_label=_("Plazo del diagnóstico") if "diagnosis_due_at" in view.data
        else _("Plazo del caso"),
        report=social_report(view, history) if view.process_id == "social_case" else None,
        completed_activities=sorted(_completed_elements(history)),
        active_activities=sorted({t.activity_id for t in view.open_tasks}),
        definition=definition, following=following,
        incidents=eng.case_incidents(view.id, by=me),
        item_groups=grouped,
        deadline=closure.diagnosis_deadline(view.data, history, eng.calendar),
        retention=closure.retention_date(view.data) if view.status == "completed" else None,
        referral=closure.referral(view.data, history),
    )


# Values the case page shows in their own section, not among the form data.
SHOWN_APART = {"referral", "retention_until"}


@blueprint.route("/casos/<number>/derivacion")
def referral_note(number: str) -> str:
    """Show a referred case's referral note (what, to whom, when) as a printable page."""
    view = case_or_404(number)
    history = engine().history(view.id, by=person())
    found = closure.referral(view.data, history)
    if found is None:
        abort(404)
    return render_template("referral_note.html", case=view, referral=found,
                           decided_by=person_name(found.by) if found.by else "")


def activity_label(definition: Any) -> Any:
    """Return a function naming an activity in the interface's language."""
    names = labels.activity_names(definition)

    def name(activity_id: str | None, recorded: str | None) -> str | None:
        return names.get(activity_id or "", recorded)
    return name


def service_labeller(data: dict[str, Any]) -> Any:
    """Return a function naming a service: the case's own name for it, else the catalogue's
    (its code only when neither knows it)."""
    def name(code: str) -> str:
        if code and code == data.get("service_code") and data.get("service_name"):
            return str(data["service_name"])
        for service in catalogue_data.list_services(engine()):
            if service.code == code:
                return str(service.name)
        return code
    return name


def _completed_elements(history: list[Any]) -> set[str]:
    """Return every BPMN element the case went through: tasks, and the engine steps between."""
    done: set[str] = set()
    for entry in history:
        if entry.event_type == "task_completed" and entry.activity_id:
            done.add(entry.activity_id)
        data = entry.data or {}
        done.update(data.get("path") or [])
        done.update(data.get("timers") or [])
    return done


def _names(history: list[Any]) -> dict[str, str]:
    """Return the full name of everyone who acted in the case, by username."""
    return {actor: person_name(actor) for actor in {e.actor for e in history if e.actor}}


@blueprint.route("/casos/<number>/diagrama.bpmn")
def diagram(number: str) -> Response:
    """Return the BPMN of the version the case runs on (for the diagram viewer)."""
    view = case_or_404(number)
    full = engine().definition_by_hash(view.version_hash)
    main = next(name for name in full.bundle if name.endswith(".bpmn")
                and f'id="{view.process_id}"' in full.bundle[name])
    response = make_response(full.bundle[main])
    response.headers["Content-Type"] = "application/xml; charset=utf-8"
    return response


def _social_report(number: str) -> tuple[Any, Any, dict[str, str]]:
    """Return a social case, its technical report (404 before activity 5) and who acted."""
    view = case_or_404(number)
    history = engine().history(view.id, by=person())
    found = social_report(view, history)
    if found is None:
        abort(404)
    return view, found, _names(history)


@blueprint.route("/casos/<number>/informe")
def report(number: str) -> str:
    """Show the Informe Técnico de Trabajo Social as a printable page."""
    view, found, names = _social_report(number)
    return render_template("social_report.html", case=view, report=found, names=names)


@blueprint.route("/casos/<number>/informe.pdf")
def report_pdf(number: str) -> Response:
    """Download the Informe Técnico de Trabajo Social as a PDF."""
    view, found, names = _social_report(number)
    return pdf_response(social_report_pdf(found, names), f"informe-tecnico-{view.number}.pdf")
