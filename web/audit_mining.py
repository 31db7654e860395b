"""Process mining for auditors: conformance of a procedure's cases and its discovered map."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine import CauceError, FormInvalid, NotFound, PermissionDenied
from engine.clock import LOCAL_TZ
from engine.discovery import END, START

from . import engine
from .auth import person
from .follows_map import duration_text, render_svg
from .formats import fecha_hora, typed_day
from .pdf import PdfDocument, pdf_response

blueprint = Blueprint("audit_mining", __name__)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)


@blueprint.app_context_processor
def _retention_context() -> dict[str, bool]:
    reader = g.get("person")
    return {"retention_nav": bool(reader and engine().retention_processes(reader))}


@blueprint.route("/auditoria/procesos")
def processes() -> str:
    """List the procedures the auditor audits, with their mining pages."""
    eng = engine()
    audited = set(eng.audited_processes(person()))
    if not audited:
        abort(404)
    found = [d for d in eng.processes() if d.process_id in audited]
    return render_template("audit/processes.html", processes=found)


@blueprint.route("/auditoria/procesos/<process_id>/conformidad")
def conformance(process_id: str) -> Any:
    """Show the fitness of a procedure's cases, the non-conforming ones, and the map."""
    eng = engine()
    me = person()
    args = request.args
    since, until = typed_day(args.get("desde")), typed_day(args.get("hasta"))
    errors = []
    if args.get("desde") and since is None:
        errors.append(_("«Desde» no es una fecha: escríbala como dd/mm/aaaa."))
    if args.get("hasta") and until is None:
        errors.append(_("«Hasta» no es una fecha: escríbala como dd/mm/aaaa."))
    start = _midnight(since) if since else None
    before = _midnight(until + timedelta(days=1)) if until else None
    try:
        report = eng.conformance_report(process_id, by=me, started_from=start,
                                        started_before=before)
        graph = eng.discovered_map(process_id, by=me, started_from=start,
                                   started_before=before)
    except (NotFound, PermissionDenied):
        abort(404)
    name = next((d.name for d in eng.processes() if d.process_id == process_id), process_id)
    picture = (render_svg(graph, _("Mapa descubierto de %(name)s", name=name))
               if graph.nodes else None)
    names = {START: _("Inicio"), END: _("Fin")}
    return render_template(
        "audit/conformance.html", report=report, graph=graph, picture=picture,
        process_id=process_id, process_name=name, args=args, errors=errors,
        node_name=lambda e: names.get(e) or graph.name(e), duration=duration_text)


@blueprint.app_template_global()
def case_disposal(number: str) -> str | None:
    """Return the acta that disposed of a case, for the replay page (None if it was not)."""
    try:
        return engine().case_disposal(number, by=person())
    except CauceError:
        return None


@blueprint.route("/auditoria/retencion")
def retention(errors: list[str] | None = None, status: int = 200) -> Any:
    """List the closed cases whose retention period has passed or is about to, per procedure."""
    eng = engine()
    try:
        soon = max(0, min(int(request.args.get("dias", 90)), 3650))
    except ValueError:
        soon = 90
    try:
        found = eng.retention_report(by=person(), soon_days=soon)
    except PermissionDenied:
        abort(404)
    names = {d.process_id: d.name for d in eng.processes()}
    me = person()
    owned = {d.process_id for d in eng.processes()
             if d.process_id in eng.retention_processes(me)
             and d.process_id not in eng.audited_processes(me)}
    return render_template("audit/retention.html", report=found, names=names, owned=owned,
                           acts=eng.disposal_acts(by=me), errors=errors or [],
                           basis=request.form.get("legal_basis", "")), status


@blueprint.route("/auditoria/retencion/eliminar", methods=["POST"])
def dispose() -> Any:
    """Dispose of the selected cases in one acta (the procedure's owner only)."""
    try:
        act = engine().dispose_cases(request.form.getlist("case"), by=person(),
                                     legal_basis=request.form.get("legal_basis", ""))
    except FormInvalid as error:
        return retention([e.message for e in error.errors], 422)
    except PermissionDenied:
        abort(403)
    except CauceError as error:
        return retention([error.message], 409)
    return redirect(url_for("audit_mining.act", number=act.number))


def _act_or_404(number: str) -> tuple[Any, dict[str, str]]:
    """Return the acta the person may read, with the procedures' names; 404 otherwise."""
    try:
        found = engine().disposal_act(number, by=person())
    except (NotFound, PermissionDenied):
        abort(404)
    return found, {d.process_id: d.name for d in engine().processes()}


@blueprint.route("/auditoria/actas/<number>")
def act(number: str) -> Any:
    """Show an acta de eliminación with its tombstones."""
    found, names = _act_or_404(number)
    return render_template("audit/disposal.html", act=found, names=names)


@blueprint.route("/auditoria/actas/<number>.pdf")
def act_pdf(number: str) -> Any:
    """Print an acta de eliminación."""
    found, names = _act_or_404(number)
    pdf = PdfDocument(_("Acta de eliminación %(number)s", number=found.number),
                      subtitle=_("Cauce · Conservación de expedientes"),
                      footer=_("Hash del acta: %(hash)s", hash=found.hash[:32]))
    pdf.title_block([
        _("Fecha: %(when)s", when=fecha_hora(found.at)),
        _("Responsable: %(name)s (%(user)s), %(role)s", name=found.by_name,
          user=found.by_username, role=found.by_role),
        _("Número en la cadena de actas: %(seq)s", seq=found.seq)])
    pdf.section(_("Base legal"))
    pdf.paragraph(found.legal_basis)
    pdf.section(_("Casos eliminados"))
    pdf.grid([_("Caso"), _("Procedimiento"), _("Eventos"), _("Documentos"), _("Hash final")],
             [[t.number, names.get(t.process_id, t.process_id), str(len(t.events)),
               str(len(t.documents)), t.head_hash[:24] + "…"] for t in found.tombstones])
    pdf.section(_("Lápidas: hashes de lo eliminado"))
    for stone in found.tombstones:
        pdf.paragraph(f"{stone.number}: " + "; ".join(
            f"{seq}: {digest[:16]}… ({payload[:12]}…)" for seq, digest, payload in stone.events))
        if stone.documents:
            pdf.paragraph(_("Documentos (SHA-256): ") + ", ".join(stone.documents))
    pdf.paragraph(_("Hash del acta (SHA-256): %(hash)s", hash=found.hash))
    return pdf_response(pdf.render(), f"{found.number}.pdf")
