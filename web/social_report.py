"""The Informe Técnico de Trabajo Social (F01-PRO-GTH-GTS-002), from the case's data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine import AuditEntry, CaseView

from . import engine
from .casedata import describe
from .formats import fecha
from .pdf import PdfDocument

FORMAT_CODE = "F01-PRO-GTH-GTS-002"
REQUESTER_TYPES = {"servidor": "El propio servidor legislativo", "familiar": "Un familiar",
                   "institucion": "La institución"}


@dataclass(frozen=True)
class SocialReport:
    """What the format holds, taken from activities 1, 2, 4, 5 and 6 of the case."""

    case_number: str
    report_date: str
    requester: str
    requester_type: str
    beneficiary: str
    beneficiary_unit: str
    request_date: str
    channel: str
    summary: str
    background: str
    findings: str
    diagnosis: str
    strategies: list[str]
    conclusions: str
    recommendations: str
    prepared_by: str
    reviewed_by: str
    validated: bool
    review_date: str


def _choice_texts(case: CaseView, keys: list[str]) -> dict[str, str]:
    """Return how the forms name the chosen options (in Spanish, the format's language)."""
    definition = engine().definition_by_hash(case.version_hash)
    return {item.key: item.text for item in describe(definition, case.data, "es", only=keys)}


def social_report(case: CaseView, history: list[AuditEntry]) -> SocialReport | None:
    """Return the report of a case, or None before activity 5 was completed."""
    data: dict[str, Any] = case.data
    if not data.get("social_diagnosis"):
        return None
    texts = _choice_texts(case, ["channel_formality", "channel_medium", "requester_type"])
    prepared = [e for e in history if e.activity_id == "emitir_diagnostico"
                and e.event_type == "task_completed"]
    reviewed = [e for e in history if e.activity_id == "validar_informe"
                and e.event_type == "task_completed"]
    last_review = reviewed[-1] if reviewed else None
    validated = bool(last_review and last_review.data and
                     last_review.data["form"].get("report_validated")) and (
        last_review is not None and (not prepared or last_review.seq > prepared[-1].seq))
    return SocialReport(
        case_number=case.number, report_date=fecha(data.get("report_date")),
        requester=str(data.get("requester_name", "")),
        requester_type=REQUESTER_TYPES.get(str(data.get("requester_type")), "")
        or texts.get("requester_type", ""),
        beneficiary=str(data.get("beneficiary_name", "")),
        beneficiary_unit=str(data.get("beneficiary_unit", "")),
        request_date=fecha(data.get("request_date")),
        channel=", ".join(t for t in (texts.get("channel_formality"),
                                       texts.get("channel_medium")) if t),
        summary=str(data.get("situation_summary", "")),
        background=str(data.get("background", "")),
        findings=str(data.get("findings", "")),
        diagnosis=str(data.get("social_diagnosis", "")),
        strategies=[str(s) for s in data.get("strategies", [])],
        conclusions=str(data.get("conclusions", "")),
        recommendations=str(data.get("recommendations", "")),
        prepared_by=prepared[-1].actor or "" if prepared else "",
        reviewed_by=(last_review.actor or "") if validated and last_review else "",
        validated=validated,
        review_date=fecha(last_review.at) if validated and last_review else "",
    )


SIGNATURE_LINES = (("elaborado", "Elaborado por"), ("revisado", "Revisado y validado por"))


def social_report_pdf(report: SocialReport, names: dict[str, str]) -> bytes:
    """Render the report as a PDF (names maps usernames to full names)."""
    return social_report_document(report, names).render()


def social_report_document(report: SocialReport, names: dict[str, str], *,
                           signable: bool = False) -> PdfDocument:
    """Lay the report out, its cuadro de firmas included (boxes in ``signature_boxes``).

    ``signable``: the edition its responsible people sign, as the social worker completes it:
    no state line and no review date (the reviewer's signature is the validation).
    """
    pdf = PdfDocument(
        "Informe Técnico de Trabajo Social",
        subtitle=f"Coordinación General de Talento Humano — {FORMAT_CODE}",
        footer=f"Caso {report.case_number} — Confidencial (PRO-GTH-GTS-002, regla 6.3 d)")
    heading = [f"Caso: {report.case_number}", f"Fecha del informe: {report.report_date}"]
    if not signable:
        heading.append("Estado: " + ("Validado" if report.validated else "Sin validar"))
    pdf.title_block(heading)
    pdf.section("1. Datos generales")
    pdf.fields([
        ("Servidor/a atendido/a", report.beneficiary),
        ("Unidad", report.beneficiary_unit),
        ("Solicitante", f"{report.requester} ({report.requester_type})"),
        ("Fecha de la solicitud", report.request_date),
        ("Forma y medio", report.channel),
    ])
    pdf.section("2. Motivo de la intervención")
    pdf.paragraph(report.summary)
    pdf.section("3. Antecedentes")
    pdf.paragraph(report.background)
    pdf.section("4. Investigación: entrevistas y visitas")
    pdf.paragraph(report.findings)
    pdf.section("5. Diagnóstico social")
    pdf.paragraph(report.diagnosis)
    pdf.section("6. Estrategias de intervención")
    pdf.bullets(report.strategies)
    pdf.section("7. Conclusiones")
    pdf.paragraph(report.conclusions)
    pdf.section("8. Recomendaciones")
    pdf.paragraph(report.recommendations)
    pdf.section("9. Responsables")
    pdf.fields([
        ("Elaborado por", names.get(report.prepared_by, report.prepared_by)),
        ("Revisado y validado por", names.get(report.reviewed_by, report.reviewed_by)
         + (f" ({report.review_date})" if report.review_date and not signable else "")),
    ])
    signers = {"elaborado": report.prepared_by, "revisado": report.reviewed_by}
    pdf.signature_blocks([(field, label, names.get(signers[field], signers[field]))
                          for field, label in SIGNATURE_LINES])
    return pdf
