"""The Carta de Servicios documents as pages and PDFs, and the public Carta de Servicios.

Case documents (Plan de Publicación, Informe de postulación, Informe Técnico de Seguimiento)
are shown only to people who may see the case: anyone else gets a 404, as for the case page.
The public charter needs no session; it shows the published commitments and nothing internal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, abort, render_template, url_for
from flask_babel import gettext as _
from fpdf.enums import XPos, YPos

from engine import CaseView, NotFound
from engine.clock import LOCAL_TZ

from . import engine
from .auth import person
from .charter_reports import (
    ENTITY,
    SLA_PROCESSES,
    ApplicationReport,
    Commitment,
    Context,
    FollowupReport,
    PublicationPlan,
    PublicCharter,
    Signature,
    application_report,
    context,
    followup_periods,
    followup_report,
    public_charter,
    publication_plan,
    report_cycles,
)
from .formats import fecha, numero, value_text
from .pdf import PdfDocument, pdf_response
from .tasks import person_name

blueprint = Blueprint("charter_documents", __name__)
# The public charter is its own blueprint so that the sign-in guard can let it through whole.
public_blueprint = Blueprint("charter_public", __name__)


def init_app(app: Flask) -> None:
    """Register both blueprints (``auth.PUBLIC_ENDPOINTS`` lets the public one through)."""
    app.register_blueprint(blueprint)
    app.register_blueprint(public_blueprint)


# -- loading ----------------------------------------------------------------------------------


def _case(number: str) -> tuple[CaseView, list[Any], Context]:
    """Return a charter case this person may see, its log and the builders' context (or 404)."""
    me = person()
    eng = engine()
    try:
        view = eng.case(number, by=me)
        history = eng.history(view.id, by=me)
    except NotFound:
        abort(404)
    if view.process_id not in SLA_PROCESSES:
        abort(404)
    return view, history, context(eng.definition_by_hash(view.version_hash), person_name)


@dataclass(frozen=True)
class DocumentLink:
    """A document of a case, offered on the case page."""

    label: str
    url: str
    pdf_url: str


@blueprint.app_template_global()
def charter_document_links(case: CaseView) -> list[DocumentLink]:
    """Return the charter documents a case already has (for the buttons on its page)."""
    if case.process_id not in SLA_PROCESSES:
        return []
    history = engine().history(case.id, by=person())
    links = []
    if case.process_id == "sla_planning" and any(
            e.activity_id == "pla_planificar_publicacion" and e.event_type == "task_completed"
            and ((e.data or {}).get("form") or {}).get("commitments_validated") is True
            for e in history):
        links.append(DocumentLink(_("Plan de Publicación"),
                                  url_for("charter_documents.plan", number=case.number),
                                  url_for("charter_documents.plan_pdf", number=case.number)))
    # The latest report and period; each document page links to the earlier ones.
    cycles = len(report_cycles(history))
    if cycles:
        links.append(DocumentLink(
            _("Informe de postulación") if case.process_id == "sla_planning" and cycles == 1
            else _("Informe de actualización"),
            url_for("charter_documents.application", number=case.number, cycle=cycles),
            url_for("charter_documents.application_pdf", number=case.number, cycle=cycles)))
    periods = followup_periods(case, history)
    if periods:
        links.append(DocumentLink(
            _("Informe de Seguimiento (%(period)s)", period=periods[-1].label),
            url_for("charter_documents.followup", number=case.number,
                    period=periods[-1].number),
            url_for("charter_documents.followup_pdf", number=case.number,
                    period=periods[-1].number)))
    return links


# -- pages ------------------------------------------------------------------------------------


@blueprint.route("/casos/<number>/plan-de-publicacion")
def plan(number: str) -> str:
    """Show the Plan de Publicación (§7.1) as a printable page."""
    view, history, ctx = _case(number)
    found = publication_plan(ctx, view, history)
    if found is None:
        abort(404)
    return render_template("charter_plan.html", case=view, plan=found, entity=ENTITY)


@blueprint.route("/casos/<number>/plan-de-publicacion.pdf")
def plan_pdf(number: str) -> Response:
    """Download the Plan de Publicación as a PDF."""
    view, history, ctx = _case(number)
    found = publication_plan(ctx, view, history)
    if found is None:
        abort(404)
    return pdf_response(plan_document(found), f"plan-de-publicacion-{view.number}.pdf")


@blueprint.route("/casos/<number>/informe-de-postulacion", defaults={"cycle": None})
@blueprint.route("/casos/<number>/informe-de-postulacion/<int:cycle>")
def application(number: str, cycle: int | None) -> str:
    """Show the §7.2 technical report (the latest, or report number ``cycle``)."""
    view, history, ctx = _case(number)
    found = application_report(ctx, view, history, cycle)
    if found is None:
        abort(404)
    return render_template("charter_application.html", case=view, report=found,
                           title=application_title(found), entity=ENTITY)


@blueprint.route("/casos/<number>/informe-de-postulacion.pdf", defaults={"cycle": None})
@blueprint.route("/casos/<number>/informe-de-postulacion/<int:cycle>.pdf")
def application_pdf(number: str, cycle: int | None) -> Response:
    """Download the §7.2 technical report as a PDF."""
    view, history, ctx = _case(number)
    found = application_report(ctx, view, history, cycle)
    if found is None:
        abort(404)
    return pdf_response(application_document(found),
                f"informe-de-postulacion-{view.number}-{found.cycle}.pdf")


@blueprint.route("/casos/<number>/informe-de-seguimiento", defaults={"period": None})
@blueprint.route("/casos/<number>/informe-de-seguimiento/<int:period>")
def followup(number: str, period: int | None) -> str:
    """Show a period's Informe Técnico de Seguimiento (§7.3), charts inline."""
    view, history, ctx = _case(number)
    found = followup_report(ctx, view, history, period)
    if found is None:
        abort(404)
    return render_template("charter_followup.html", case=view, report=found, entity=ENTITY)


@blueprint.route("/casos/<number>/informe-de-seguimiento.pdf", defaults={"period": None})
@blueprint.route("/casos/<number>/informe-de-seguimiento/<int:period>.pdf")
def followup_pdf(number: str, period: int | None) -> Response:
    """Download a period's Informe Técnico de Seguimiento as a PDF, charts as pictures."""
    view, history, ctx = _case(number)
    found = followup_report(ctx, view, history, period)
    if found is None:
        abort(404)
    return pdf_response(followup_document(found),
                f"informe-de-seguimiento-{view.number}-{found.period}.pdf")


def _public() -> PublicCharter:
    eng = engine()
    definition = eng.library.find("sla_planning")
    if definition is None:
        abort(404)
    return public_charter(eng, context(definition, person_name),
                          eng.clock().astimezone(LOCAL_TZ).date())


@public_blueprint.route("/carta-de-servicios")
def charter() -> str:
    """Show the Carta Institucional de Servicios: published commitments by unit (public)."""
    return render_template("charter_public.html", carta=_public())


@public_blueprint.route("/carta-de-servicios.pdf")
def charter_pdf() -> Response:
    """Download the Carta Institucional de Servicios as a PDF (public)."""
    return pdf_response(charter_document(_public()), "carta-de-servicios.pdf")


# -- PDFs -------------------------------------------------------------------------------------


def _guide(section: str) -> str:
    return _("%(entity)s — Guía DMCISP-01-05, §%(section)s", entity=ENTITY, section=section)


def _value(value: Any) -> str:
    """Return a number the Ecuadorian way, or a dash when there is none."""
    return numero(value) if value is not None else "—"


def _standard(c: Commitment) -> str:
    text = f"{_value(c.standard)} {c.unit_of_measure}".strip()
    return f"{text} ({c.bound})" if c.bound else text


def _yes_no(value: bool | None) -> str:
    return value_text(value) if value is not None else "—"


def _signatures(pdf: PdfDocument, signatures: Sequence[Signature]) -> None:
    pdf.grid([_("Responsabilidad"), _("Nombre"), _("Cargo"), _("Fecha"), _("Referencia")],
             [[s.label, s.name or _("Pendiente"), s.position, fecha(s.at) if s.at else "",
               s.reference] for s in signatures], widths=(30, 36, 50, 22, 36))


def _commitment_grid(pdf: PdfDocument, commitments: Sequence[Commitment],
                     internal: bool = True) -> None:
    """Write the commitments: traceability first, then what the user is promised."""
    if internal:
        pdf.grid([_("Código"), _("Factor clave"), _("Indicador"), _("Estándar"),
                  _("Sentido")],
                 [[c.commitment_id, c.factor, f"{c.indicator_code} · {c.indicator_name}",
                   _standard(c), c.polarity] for c in commitments],
                 widths=(16, 40, 58, 30, 30))
    pdf.grid([_("Código"), _("Compromiso"), _("Alcance territorial"),
              _("Medidas de subsanación")],
             [[c.commitment_id, c.text, c.scope, c.remediation] for c in commitments],
             widths=(16, 70, 30, 58))


def plan_document(plan: PublicationPlan) -> bytes:
    """Render the Plan de Publicación as a PDF."""
    return plan_layout(plan).render()


def plan_layout(plan: PublicationPlan,
                signature_lines: Sequence[tuple[str, str, str]] = ()) -> PdfDocument:
    """Lay the Plan de Publicación out, with PAdES signature boxes for ``signature_lines``."""
    pdf = PdfDocument(_("Plan de Publicación de los Acuerdos de Nivel de Servicio"),
                      subtitle=_guide("7.1"),
                      footer=_("Caso %(number)s", number=plan.case_number))
    pdf.title_block([
        _("Servicio: %(name)s (%(code)s)", name=plan.service.name, code=plan.service.code),
        _("Unidad que presta el servicio: %(unit)s", unit=plan.service.unit_name),
        _("Documento: %(document)s · Aprobación interna: %(date)s",
          document=plan.plan_document, date=fecha(plan.plan_approved_date))])
    pdf.section("1. " + _("Servicio y nivel de capacidad"))
    pdf.fields([(_("Año de la planificación"), str(plan.plan_year or "")),
                (_("Nivel de capacidad del proceso"), _value(plan.capability_level)),
                (_("Sustento"), plan.capability_evidence)])
    pdf.section("2. " + _("Compromisos validados"))
    pdf.paragraph(_("Trazabilidad factor clave → indicador → estándar → compromiso."))
    pdf.grid([_("Factor"), _("Nombre"), _("Dimensiones de calidad"), _("Evidencia")],
             [[f.factor_id, f.name, f.dimensions, f.evidence] for f in plan.factors],
             widths=(16, 44, 44, 70))
    _commitment_grid(pdf, [c for c in plan.commitments if c.validated])
    pdf.fields([(_("Revisión de la trazabilidad"), plan.traceability_review),
                (_("Revisados por las unidades responsables"),
                 _yes_no(plan.reviewed_by_units))])
    pdf.section("3. " + _("Cronograma y responsables"))
    pdf.grid([_("Etapa"), _("Descripción"), _("Responsable"), _("Fecha de inicio"),
              _("Fecha de fin")],
             [[s.stage, s.description, s.responsible, fecha(s.start), fecha(s.end)]
              for s in plan.schedule], widths=(42, 48, 42, 21, 21))
    pdf.section("4. " + _("Indicadores de seguimiento"))
    pdf.grid([_("Compromiso"), _("Indicador"), _("Frecuencia de medición")],
             [[i.commitment_id, f"{i.indicator_code} · {i.indicator_name}", i.frequency]
              for i in plan.followup_indicators], widths=(24, 110, 40))
    pdf.paragraph(_("Indicadores de seguimiento al cumplimiento del plan:"))
    pdf.bullets(plan.plan_indicators)
    pdf.section("5. " + _("Revisión de OLA y SLA"))
    pdf.fields([(_("Periodicidad de revisión"), plan.review_periodicity),
                (_("Condiciones para futuras actualizaciones"), plan.review_conditions)])
    pdf.grid([_("OLA"), _("Factor"), _("Roles"), _("Tiempos internos"), _("Verificación")],
             [[o.ola_id, o.factor_id, o.roles, o.internal_times, o.verification]
              for o in plan.olas], widths=(16, 16, 50, 46, 46))
    pdf.section("6. " + _("Aprobación"))
    pdf.fields([(_("Documento del plan"), plan.plan_document),
                (_("Fecha de aprobación interna"), fecha(plan.plan_approved_date)),
                (_("Justificación técnica del estado Planificado"), plan.state_justification)])
    _signatures(pdf, plan.signatures)
    if signature_lines:
        pdf.signature_blocks(signature_lines)
    return pdf


def application_title(report: ApplicationReport) -> str:
    """Return the report's denomination (§7.2: postulation, or update of a published SLA)."""
    if report.postulation:
        return _("Informe de postulación para la publicación de los Acuerdos de Nivel de "
                 "Servicio en la Carta Institucional de Servicios")
    return _("Informe técnico para la actualización de los Acuerdos de Nivel de Servicio en "
             "la Carta Institucional de Servicios")


def application_document(report: ApplicationReport) -> bytes:
    """Render the §7.2 report as a PDF with its ten sections."""
    return application_layout(report).render()


def application_layout(report: ApplicationReport,
                       signature_lines: Sequence[tuple[str, str, str]] = ()) -> PdfDocument:
    """Lay the §7.2 report out; ``signature_lines`` (field, label, name) add the boxes its
    PAdES signatures go into (web/charter_signing.py), under section x."""
    pdf = PdfDocument(f"{application_title(report)} – {ENTITY}",
                      subtitle=_guide("7.2"),
                      footer=_("Caso %(number)s", number=report.case_number))
    pdf.title_block([_("Estado: %(state)s", state=report.status),
                     _("Servicio: %(name)s (%(code)s)", name=report.service.name,
                       code=report.service.code)])
    pdf.section("i. " + _("Número y fecha"))
    pdf.fields([(_("Número del informe"), report.report_number),
                (_("Fecha de emisión"), fecha(report.report_date))])
    pdf.section("ii. " + _("Servicios, procesos y trámites relacionados"))
    pdf.paragraph(report.services_processes)
    pdf.section("iii. " + _("Antecedentes"))
    pdf.paragraph(report.background)
    pdf.section("iv. " + _("Análisis técnico"))
    pdf.paragraph(report.technical_analysis)
    pdf.fields([(_("Cobertura territorial y operativa"), report.territorial_coverage),
                (_("Anexo territorial"), _yes_no(report.territorial_annex)
                 + (f": {report.territorial_annex_detail}" if report.territorial_annex_detail
                    else "")),
                (_("Fuentes de información"), report.information_sources),
                (_("Percepción y satisfacción del usuario"), report.user_perception_analysis),
                *[(label, _yes_no(value)) for label, value in report.ola_checks],
                (_("Resultados de mejoras previas"), report.previous_improvement_results)])
    pdf.paragraph(_("Matriz de control del servicio:"))
    pdf.grid([_("Compromiso"), _("Factor clave"), _("Indicador"), _("Estándar"),
              _("Valor observado"), _("Estable")],
             [[r.commitment_id, r.key_factor, r.indicator_code, _value(r.standard),
               _value(r.observed), _yes_no(r.stable)] for r in report.control_matrix],
             widths=(24, 44, 40, 22, 24, 20))
    pdf.section("v. " + _("Acuerdo de Nivel de Operación (OLA)"))
    pdf.paragraph(report.ola_section)
    if report.olas:
        pdf.grid([_("OLA"), _("Factor"), _("Roles"), _("Tiempos internos"), _("Coordinación"),
                  _("Recursos"), _("Verificación")],
                 [[o.ola_id, o.factor_id, o.roles, o.internal_times, o.coordination,
                   o.resources, o.verification] for o in report.olas],
                 widths=(14, 14, 30, 30, 30, 28, 28))
    pdf.section("vi. " + _("Acuerdo de Nivel de Servicio (SLA)"))
    pdf.paragraph(report.sla_section)
    _commitment_grid(pdf, report.commitments)
    pdf.section("vii. " + _("Estrategia de difusión y comunicación"))
    pdf.paragraph(report.dissemination_strategy)
    pdf.section("viii. " + _("Conclusiones"))
    pdf.paragraph(report.conclusions)
    pdf.section("ix. " + _("Recomendaciones"))
    pdf.paragraph(report.recommendations)
    if report.observation_resolutions:
        pdf.paragraph(_("Observaciones de la revisión y su resolución:"))
        pdf.grid([_("Observación"), _("Cómo se resolvió")],
                 [list(o) for o in report.observation_resolutions], widths=(87, 87))
    pdf.section("x. " + _("Firmas de responsabilidad"))
    _signatures(pdf, report.signatures)
    if signature_lines:
        pdf.signature_blocks(signature_lines)
    return pdf


def followup_document(report: FollowupReport) -> bytes:
    """Render a period's Informe Técnico de Seguimiento as a PDF, charts as PNG pictures."""
    return followup_layout(report).render()


def followup_layout(report: FollowupReport,
                    signature_lines: Sequence[tuple[str, str, str]] = ()) -> PdfDocument:
    """Lay a follow-up report out, with PAdES signature boxes for ``signature_lines``."""
    pdf = PdfDocument(_("Informe Técnico de Seguimiento de la Carta de Servicios"),
                      subtitle=_guide("7.3"),
                      footer=_("Caso %(number)s", number=report.case_number))
    pdf.title_block([
        _("Servicio: %(name)s (%(code)s)", name=report.service.name, code=report.service.code),
        _("Unidad que presta el servicio: %(unit)s", unit=report.service.unit_name),
        _("Período %(number)s: %(start)s – %(end)s · Frecuencia: %(frequency)s",
          number=report.period, start=fecha(report.period_start),
          end=fecha(report.period_last_day), frequency=report.frequency),
        _("Informe %(number)s · %(date)s", number=report.report_number,
          date=fecha(report.report_date)) if report.written
        else _("Borrador: el informe de este período aún no se ha elaborado.")])
    pdf.section("1. " + _("Tabla comparativa"))
    pdf.grid([_("Código"), _("Indicador"), _("Estándar"), _("Observado"),
              _("Diferencia"), _("Clasificación"), _("Criticidad"), _("Recurrencia")],
             [[x.commitment_id, f"{x.indicator_code} · {x.indicator_name}",
               f"{_value(x.standard)} {x.unit_of_measure}", _value(x.observed),
               _value(x.difference), x.compliance_label, x.deviation_label,
               str(x.recurrence)] for x in report.lines],
             widths=(15, 33, 20, 19, 20, 27, 20, 20))
    pdf.grid([_("Compromiso"), _("Causa"), _("Subsanación aplicada")],
             [[x.commitment_id, x.cause,
               _yes_no(x.remediation_applied) + (f": {x.remediation_detail}"
                                                 if x.remediation_detail else "")]
              for x in report.lines], widths=(24, 80, 70))
    pdf.grid([_("Compromiso"), _("Fuente de los datos"), _("Desempeño por territorio")],
             [[x.commitment_id, x.source, x.territorial_detail] for x in report.lines],
             widths=(24, 50, 100))
    pdf.section("2. " + _("Tendencia y control estadístico"))
    for charts in report.charts:
        pdf.paragraph(f"{charts.commitment_id} · {charts.indicator_name}")
        pdf.image_block(charts.trend.png)
        if charts.control is None or charts.limits is None:
            pdf.paragraph(_("Gráfico de control: se necesitan al menos dos períodos con valor "
                            "observado para calcular los límites."))
            continue
        pdf.image_block(charts.control.png)
        pdf.fields([(_("Línea central"), _value(charts.limits.centre)),
                    (_("Límites de control (±3σ)"),
                     f"{_value(charts.limits.lower)} – {_value(charts.limits.upper)}"),
                    (_("Períodos fuera de control"),
                     ", ".join(charts.outside) or _("Ninguno"))])
    if report.trend_analysis:
        pdf.paragraph(report.trend_analysis)
    pdf.section("3. " + _("Compromisos estables, en riesgo y en incumplimiento"))
    pdf.fields([(_("Estables"), _names(report.stable)),
                (_("En riesgo"), _names(report.at_risk)),
                (_("En incumplimiento"), _names(report.failing))])
    pdf.section("4. " + _("Análisis de causas"))
    if report.analyses:
        pdf.grid([_("Compromiso"), _("Origen"), _("Causa raíz"), _("Incumplimiento del OLA"),
                  _("Subsanación")],
                 [[a.commitment_id, a.origin, a.root_cause,
                   _yes_no(a.ola_breach) + (f": {a.ola_breach_detail}"
                                            if a.ola_breach_detail else ""),
                   _yes_no(a.remediation_applied) + (f": {a.remediation_detail}"
                                                     if a.remediation_detail else "")]
                  for a in report.analyses], widths=(20, 28, 56, 35, 35))
    pdf.paragraph(report.causes_analysis)
    pdf.fields([(_("Priorización de intervenciones"), report.prioritization),
                (_("Hallazgos clave"), report.key_findings),
                (_("Verificación de las medidas de subsanación"),
                 report.remediation_verification),
                (_("Contexto del período"), report.qualitative_context)])
    pdf.section("5. " + _("Conclusiones"))
    pdf.paragraph(report.conclusions)
    if report.validity_decision:
        pdf.fields([(_("Decisión sobre la vigencia"), report.validity_decision)])
    pdf.section("6. " + _("Acciones de mejora"))
    if report.actions:
        pdf.grid([_("Acción"), _("Compromiso"), _("Tipo"), _("Descripción"), _("Responsable"),
                  _("Plazo"), _("Estado"), _("Desde")],
                 [[a.action_id or "—", a.commitment_id, a.action_type,
                   a.description + (f" ({a.note})" if a.note else ""), a.responsible,
                   fecha(a.deadline), a.status,
                   _("P%(number)s", number=a.period_number) if a.period_number else ""]
                  for a in report.actions], widths=(16, 22, 18, 37, 26, 21, 21, 13))
    else:
        pdf.paragraph(_("Sin acciones de mejora."))
    pdf.section("7. " + _("Responsables"))
    _signatures(pdf, report.signatures)
    if signature_lines:
        pdf.signature_blocks(signature_lines)
    return pdf


def _names(lines: Sequence[Any]) -> str:
    return "; ".join(f"{x.commitment_id} · {x.indicator_name}" for x in lines) or _("Ninguno")


def charter_document(carta: PublicCharter) -> bytes:
    """Render the public Carta Institucional de Servicios as a PDF."""
    pdf = PdfDocument(_("Carta Institucional de Servicios"), subtitle=carta.entity,
                      footer=_("Compromisos vigentes al %(date)s", date=fecha(carta.as_of)))
    pdf.title_block([carta.entity,
                     _("Compromisos vigentes al %(date)s", date=fecha(carta.as_of))])
    if not carta.groups:
        pdf.paragraph(_("Aún no hay servicios publicados en la Carta de Servicios."))
    for group in carta.groups:
        pdf.section(group.unit)
        for service in group.services:
            pdf.set_font("DejaVu", "B", 10.5)
            pdf.multi_cell(0, 6, service.name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            if service.description:
                pdf.paragraph(service.description)
            pdf.paragraph(_("%(state)s desde el %(date)s", state=service.state_label,
                            date=fecha(service.since)))
            pdf.grid([_("Nuestro compromiso"), _("Indicador"), _("Estándar"),
                      _("Alcance territorial"), _("Si no cumplimos")],
                     [[c.text, c.indicator_name, _standard(c), c.scope, c.remediation]
                      for c in service.commitments], widths=(52, 34, 24, 24, 40))
    return pdf.render()

