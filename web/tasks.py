"""The task page: the activity's form, the case so far beside it, draft and complete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from engine import (
    CauceError,
    FormInvalid,
    NotFound,
    TaskAlreadyCompleted,
    TaskClaimedByOther,
    review_loop,
)
from engine import catalogue as catalogue_data
from engine.clock import local_date
from engine.documents import DocumentRefused
from engine.task_fate import CLAIMED, COMPLETED, TaskFate

from . import engine
from . import sign_on_completion as completion_signing
from .auth import current_person, person
from .casedata import describe
from .catalogue import charter_states
from .formats import fecha_hora, numero
from .formview import (
    NUL_REFUSED,
    CatalogueChoices,
    CatalogueOption,
    FormLabels,
    build_fields,
    parse_submission,
)
from .social_report import social_report

blueprint = Blueprint("tasks", __name__)


def people_picker(role: str) -> list[tuple[str, str]]:
    """Return (username, name) of everyone holding ``role``."""
    return [(p.username, p.full_name) for p in engine().people_with_role(role)]


def catalogue_picker(case_data: Mapping[str, Any] | None = None) -> CatalogueChoices:
    """Return the catalogue choices of one form: indicators of the case's unit when it has one.

    Each catalogue is read once per form; an empty list means the seeds are not imported.
    """
    unit = (case_data or {}).get("unit_code")
    read: dict[str, list[CatalogueOption]] = {}

    def choices(source: str) -> list[CatalogueOption]:
        if source not in read:
            read[source] = _catalogue_options(source, unit if isinstance(unit, str) else None)
        return read[source]

    return choices


def _catalogue_options(source: str, unit: str | None) -> list[CatalogueOption]:
    eng = engine()
    if source == "services":
        states = charter_states()
        return [CatalogueOption(s.code, f"{s.name} ({states[s.code]})" if states.get(s.code)
                                else s.name, s.name)
                for s in catalogue_data.list_services(eng)]
    if source == "org_units":
        return [CatalogueOption(u.code, f"{u.code} {u.name}", u.name, u.position_code or "")
                for u in catalogue_data.list_org_units(eng)]
    if source == "indicators":
        return _indicator_options(unit)
    return []


def _indicator_options(unit: str | None) -> list[CatalogueOption]:
    """Indicators of ``unit`` and the units under it, else all; one option per code."""
    eng = engine()
    found = []
    if unit:
        codes = [u.code for u in catalogue_data.list_org_units(eng)
                 if u.code == unit or u.code.startswith(unit + ".")]
        for code in codes:
            found += catalogue_data.list_indicators(eng, unit=code)
    if not found:
        found = catalogue_data.list_indicators(eng)
    names: dict[str, str] = {}
    units: dict[str, list[str]] = {}
    for indicator in found:
        if not indicator.code:
            continue
        names.setdefault(indicator.code, indicator.name)
        owners = units.setdefault(indicator.code, [])
        if indicator.unit_org_code and indicator.unit_org_code not in owners:
            owners.append(indicator.unit_org_code)
    return [CatalogueOption(code, name, name, units=tuple(units[code]))
            for code, name in names.items()]


def person_name(username: str) -> str:
    """Return a person's full name (their username if unknown)."""
    try:
        return engine().person(username).full_name
    except NotFound:
        return username


def store_uploads(field: str, errors: dict[str, list[str]],
                  task_id: str | None = None) -> list[str]:
    """Store the files posted for a field; problems go to ``errors`` (the form is kept).

    ``task_id`` names the task whose form sends them: they belong to it, and sending the same
    file again (after a refused submit) does not make a second document.
    """
    stored = []
    for upload in request.files.getlist(f"{field}__upload"):
        if not upload or not upload.filename:
            continue
        if "\x00" in upload.filename:
            errors.setdefault(field, []).append(NUL_REFUSED)
            continue
        try:
            document = engine().store_document(by=person(), filename=upload.filename,
                                               data=upload.read(), task_id=task_id)
            stored.append(document.sha256)
        except DocumentRefused as error:
            errors.setdefault(field, []).append(error.message)
    return stored


def render_form_page(template: str, *, schema: dict[str, Any], ui: dict[str, Any],
                     data: dict[str, Any], errors: dict[str, list[str]], status: int = 200,
                     catalogue: CatalogueChoices | None = None,
                     **context: Any) -> tuple[str, int]:
    """Render a page holding a task form, with the values and errors given."""
    language = str(get_locale())
    labels = FormLabels(schema, ui, language)
    names = context.pop("document_names", {})
    fields = build_fields(schema, labels, data, errors, people_picker, names,
                          catalogue or catalogue_picker(), today=local_date(engine().clock()))
    return render_template(template, fields=fields, labels=labels, errors=errors,
                           form_errors=errors.get("", []), **context), status


def document_names(shas: list[str]) -> dict[str, str]:
    """Return file names of documents this person may use."""
    names = {}
    for sha in shas:
        try:
            names[sha] = engine().document(sha, by=person())[0].filename
        except NotFound:
            continue
    return names


def attachment_shas(schema: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """Return the documents a form's data attaches."""
    shas: list[str] = []
    for key, prop in schema.get("properties", {}).items():
        if prop.get("x-attachments"):
            shas += [s for s in data.get(key) or [] if isinstance(s, str)]
    return shas


@blueprint.route("/tareas/<task_id>", methods=["GET", "POST"])
def task(task_id: str) -> Any:
    """Show a task's form; save a draft or complete it."""
    me = person()
    eng = engine()
    try:
        detail = eng.task(task_id, by=me)
    except NotFound:
        return _task_gone(task_id)
    schema, ui = detail.form_schema or {"type": "object", "properties": {}}, detail.form_ui
    case = eng.case(detail.task.case_id, by=me)
    language = str(get_locale())
    full = eng.definition_by_hash(case.version_hash)
    read: dict[str, Any] = {}

    def case_history() -> list[Any]:
        if "history" not in read:
            read["history"] = eng.history(case.id, by=me)
        return list(read["history"])

    def page_context() -> dict[str, Any]:
        # Built only for a page to show: a successful completion redirects without reading it.
        history = case_history()
        return dict(task=detail.task, case=case, due_state=eng.due_state(detail.task.due_at),
                    case_items=describe(full, case.data, language, person_name,
                                        hide=review_loop.stale_fields(history),
                                        catalogue=catalogue_picker(case.data)),
                    documents=eng.case_documents(case.id, by=me),
                    assignee_name=person_name(detail.task.assignee) if detail.task.assignee
                    else None, catalogue=choices,
                    **completion_signing.page_context(case.process_id,
                                                      detail.task.activity_id, me),
                    **review_context(full, case, history, detail.task.activity_id,
                                     detail.form_ui))

    choices = catalogue_picker(detail.case_data)
    if detail.form_schema is None:
        return _mark_done(task_id, detail.instructions, page_context, detail.task)
    errors: dict[str, list[str]] = {}

    if request.method == "GET":
        context = page_context()
        data = detail.draft if detail.draft is not None else _prefill(
            schema, detail.case_data, detail.task.activity_id, case_history(),
            skip=review_loop.fresh_fields(ui))
        return render_form_page("task.html", schema=schema, ui=ui, data=data, errors=errors,
                                document_names=document_names(attachment_shas(schema, data)),
                                draft_saved=detail.draft is not None, **context)

    data = parse_submission(schema, ui, request.form,
                            lambda f: store_uploads(f, errors, task_id), choices, errors=errors)
    names = document_names(attachment_shas(schema, data))
    if request.form.get("action") == "draft" and not errors:
        try:
            eng.save_draft(task_id, by=me, data=data)
        except (TaskAlreadyCompleted, TaskClaimedByOther, NotFound):
            return _task_gone(task_id, data)
        flash(_("Borrador guardado. Puede completar la tarea más tarde."), "success")
        return render_form_page("task.html", schema=schema, ui=ui, data=data, errors=errors,
                                document_names=names, draft_saved=True, **page_context())
    if errors:
        return render_form_page("task.html", schema=schema, ui=ui, data=data, errors=errors,
                                document_names=names, status=400, **page_context())
    wanted = completion_signing.requested(case.process_id, detail.task.activity_id, data)
    if wanted is not None:
        refused = completion_signing.refusal(wanted, me)
        if refused:
            return render_form_page("task.html", schema=schema, ui=ui, data=data,
                                    errors={"": [refused]}, document_names=names, status=400,
                                    **page_context())
    try:
        done = eng.complete_task(task_id, by=me, form_data=data)
    except FormInvalid as error:
        return render_form_page("task.html", schema=schema, ui=ui, data=data,
                                errors=error.by_field(), document_names=names, status=400,
                                **page_context())
    except (TaskAlreadyCompleted, TaskClaimedByOther, NotFound):
        return _task_gone(task_id, data)
    except CauceError as error:
        flash(_(error.message), "error")
        return render_form_page("task.html", schema=schema, ui=ui, data=data, errors=errors,
                                document_names=names, status=409, **page_context())
    flash(_("Tarea «%(activity)s» completada.", activity=detail.task.activity_name), "success")
    if wanted is not None:
        # After the step's commit: PAdES holds no lock on the case (web/sign_on_completion.py).
        completion_signing.sign_completed(wanted, case.number, me)
    still_mine = [t for t in done.open_tasks if t.assignee == me.username]
    if still_mine:
        return redirect(url_for("tasks.task", task_id=still_mine[0].task_id))
    return redirect(url_for("inbox.inbox"))


def review_context(definition: Any, case: Any, history: list[Any], activity_id: str,
                   ui: dict[str, Any]) -> dict[str, Any]:
    """Return what a task page shows of a review loop: the observations that sent this work
    back, and for a reviewer the document under review (the social case's technical report)."""
    decisions = review_loop.decisions_by_activity(definition)
    returned = review_loop.returned_work(history, activity_id, decisions)
    report = None
    if review_loop.decision_of(ui) is not None and case.process_id == "social_case":
        report = social_report(case, history)
    return {"returned": returned, "review_report": report,
            "returned_by": person_name(returned.by) if returned and returned.by else None,
            "report_names": {e.actor: person_name(e.actor) for e in history if e.actor}
            if report else {}}


def fate_message(fate: TaskFate, *, typing: bool) -> str:
    """Say who took or completed a task and when; ``typing``: the person was filling its form."""
    name = fate.by_name or _("otra persona")
    when = fecha_hora(fate.at) if fate.at else ""
    if fate.outcome == CLAIMED:
        if typing:
            return _("Mientras usted llenaba el formulario, %(name)s tomó esta tarea (%(when)s). "
                     "No se completó nada; lo que escribió sigue abajo: guárdelo como borrador "
                     "o cópielo, y hable con %(name)s si la tarea debe volver a usted.",
                     name=name, when=when)
        return _("%(name)s tomó esta tarea (%(when)s); ya no está disponible para usted.",
                 name=name, when=when)
    if typing:
        return _("%(name)s completó esta tarea (%(when)s) mientras usted llenaba el formulario. "
                 "Lo que escribió no se guardó; sigue abajo para que pueda revisarlo o copiarlo.",
                 name=name, when=when)
    return _("%(name)s ya completó esta tarea (%(when)s).", name=name, when=when)


def _task_gone(task_id: str, data: dict[str, Any] | None = None) -> Any:
    """Answer for a task that left the person: say who took or completed it; on a submit, show
    the form again with what they typed and what they can still do."""
    me = person()
    eng = engine()
    try:
        fate = eng.task_fate(task_id, by=me)
    except NotFound:
        if request.method == "POST":
            flash(_("La tarea ya no está abierta."), "error")
            return redirect(url_for("inbox.inbox"))
        abort(404)
    if fate.outcome not in (CLAIMED, COMPLETED):
        # Open again (released meanwhile): the person may go on.
        return redirect(url_for("tasks.task", task_id=task_id))
    if request.method == "GET" or fate.form_schema is None:
        if fate.outcome == COMPLETED and fate.by == me.username:
            flash(_("Usted ya completó esta tarea (%(when)s).",
                    when=fecha_hora(fate.at) if fate.at else ""), "success")
        else:
            flash(fate_message(fate, typing=False), "error")
        return redirect(url_for("inbox.inbox"))
    schema, ui = dict(fate.form_schema), dict(fate.form_ui)
    errors: dict[str, list[str]] = {}
    choices = catalogue_picker()
    if data is None:
        data = parse_submission(schema, ui, request.form,
                                lambda f: store_uploads(f, errors, task_id), choices,
                                errors=errors)
    if (request.form.get("action") == "draft" and fate.outcome == CLAIMED and not errors):
        eng.save_draft(task_id, by=me, data=data, while_held=True)
        flash(_("Borrador guardado. Si %(name)s libera la tarea, lo encontrará al abrirla.",
                name=fate.by_name or _("otra persona")), "success")
        return redirect(url_for("inbox.inbox"))
    case = eng.case(fate.case_id, by=me)
    full = eng.definition_by_hash(case.version_hash)
    return render_form_page(
        "task.html", schema=schema, ui=ui, data=data, errors=errors, status=409,
        catalogue=choices, document_names=document_names(attachment_shas(schema, data)),
        fate=fate, fate_message=fate_message(fate, typing=True), case=case,
        case_items=describe(full, case.data, str(get_locale()), person_name),
        documents=eng.case_documents(case.id, by=me))


def _mark_done(task_id: str, instructions: str | None, page_context: Any,
               task: Any) -> Any:
    """Show a task with no form (a manual or plain BPMN task); mark it as done."""
    if request.method == "GET":
        return render_template("task.html", manual=True, instructions=instructions,
                               **page_context())
    try:
        done = engine().complete_task(task_id, by=person(), form_data={})
    except (TaskAlreadyCompleted, TaskClaimedByOther, NotFound):
        return _task_gone(task_id)
    except CauceError as error:
        flash(_(error.message), "error")
        return render_template("task.html", manual=True, instructions=instructions,
                               **page_context()), 409
    flash(_("Tarea «%(activity)s» marcada como hecha.", activity=task.activity_name), "success")
    still_mine = [t for t in done.open_tasks if t.assignee == person().username]
    if still_mine:
        return redirect(url_for("tasks.task", task_id=still_mine[0].task_id))
    return redirect(url_for("inbox.inbox"))


def _prefill(schema: dict[str, Any], case_data: dict[str, Any], activity_id: str,
             history: list[Any], skip: set[str] | None = None) -> dict[str, Any]:
    """Start a form from what the case holds for its fields: values this activity gave before
    (a reworked report) or the procedure prepared, never another form's answer to a field both
    forms happen to share, nor ``skip`` (a review's decision and observations: each round
    decides anew)."""
    fields = schema.get("properties", {})
    last_writer: dict[str, str | None] = {}
    for entry in history:
        if entry.event_type == "task_completed" and entry.data:
            for key in entry.data.get("form", {}):
                last_writer[key] = entry.activity_id
    data = {k: v for k, v in case_data.items()
            if k in fields and k not in (skip or set())
            and last_writer.get(k, activity_id) == activity_id}
    for key, prop in fields.items():
        if key not in data and "default" in prop:
            data[key] = prop["default"]
    return data


def file_size(size: int | None) -> str:
    """Format a file size the Spanish way: "193 bytes", "1,2 KB", "3,4 MB"."""
    if size is None:
        return ""
    if size < 1024:
        return _("%(num)s bytes", num=size) if size != 1 else _("1 byte")
    if size < 1024 * 1024:
        return f"{numero(round(size / 1024, 1))} KB"
    return f"{numero(round(size / (1024 * 1024), 1))} MB"


@blueprint.app_template_filter("tamano")
def _file_size_filter(size: int | None) -> str:
    return file_size(size)


@blueprint.app_context_processor
def _start_menu() -> dict[str, Any]:
    """Offer "Nueva solicitud" only to people who may start a case of some procedure."""

    def may_start_cases() -> bool:
        me = current_person()
        return me is not None and bool(engine().startable_processes(me))

    return {"may_start_cases": may_start_cases}

