"""Electronic signatures: my certificate, signing a case's documents, checking any signed PDF."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from fpdf.enums import XPos, YPos
from werkzeug.wrappers import Response

from engine import CauceError
from engine.expediente import EXPEDIENTE_KIND, IndexEntry, Part, assemble, index, page_count
from engine.signing import Signable, SignatureSlot, TrustStore, subject_matches

from . import engine
from .auth import person
from .cases import case_or_404
from .charter_reports import SLA_PROCESSES
from .charter_signing import charter_signables
from .formats import fecha_hora
from .pdf import PdfDocument
from .social_report import SIGNATURE_LINES, social_report, social_report_document
from .tasks import person_name

blueprint = Blueprint("signatures", __name__)

MAX_VERIFY_BYTES = 20 * 1024 * 1024
REPORT_KIND = "informe_tecnico"
REPORT_ACTIVITY = "emitir_diagnostico"


def init_app(app: Flask) -> None:
    """Read the trusted roots (demo CA + any configured bundle) and register the pages."""
    instance = Path(app.instance_path)
    demo_dir = app.config.get("SIGNING_DEMO_DIR") or os.environ.get("CAUCE_SIGNING_DEMO_DIR")
    if demo_dir is None and not app.testing:
        # Tests leave it unset: they make a demo CA in a temporary folder when they need one.
        demo_dir = str(instance / "firma-demo")
    app.config["SIGNING_DEMO_DIR"] = demo_dir
    if not app.config.get("SIGNING_TRUST_BUNDLE"):
        app.config["SIGNING_TRUST_BUNDLE"] = os.environ.get("CAUCE_SIGNING_TRUST_BUNDLE")
    bundle = app.config["SIGNING_TRUST_BUNDLE"] or None
    trust = TrustStore.load(Path(demo_dir) / "ca.pem" if demo_dir else None, bundle)
    eng = engine_of(app)
    eng.configure_signing(trust, demo_dir=demo_dir)
    app.register_blueprint(blueprint)


def engine_of(app: Flask) -> Any:
    """Return the app's engine outside a request."""
    return app.extensions["cauce"]


# -- my certificate ---------------------------------------------------------------------------


@blueprint.route("/firma/certificado", methods=["GET", "POST"])
def certificate() -> Any:
    """Show my signing certificate and take a new .p12 (checked with its passphrase)."""
    me = person()
    error = ""
    status = 200
    if request.method == "POST":
        upload = request.files.get("p12")
        passphrase = request.form.get("passphrase", "")
        data = upload.read() if upload else b""
        if not data:
            error, status = _("Elija su archivo de certificado (.p12 o .pfx)."), 400
        else:
            try:
                info = engine().upload_certificate(by=me, data=data, passphrase=passphrase)
            except CauceError as refused:
                error, status = _(refused.message), 400
            else:
                flash(_("Certificado guardado. La frase de paso no se guarda: la escribirá "
                        "cada vez que firme."), "success")
                if not subject_matches(info, me.full_name):
                    flash(_("Atención: el certificado está a nombre de «%(name)s», no de "
                            "%(me)s.", name=info.common_name or info.subject,
                            me=me.full_name), "warning")
                return redirect(url_for("signatures.certificate"))
    current = engine().signing_certificate(by=me)
    return render_template("signatures/certificate.html", current=current, error=error,
                           matches=current is not None and subject_matches(
                               current, me.full_name)), status


# -- checking any PDF --------------------------------------------------------------------------


@blueprint.route("/firma/verificar", methods=["GET", "POST"])
def verify() -> Any:
    """Check the signatures of an uploaded PDF: integrity, signer, time, trusted chain."""
    checks = None
    error = ""
    filename = ""
    status = 200
    if request.method == "POST":
        upload = request.files.get("pdf")
        data = upload.read(MAX_VERIFY_BYTES + 1) if upload else b""
        filename = (upload.filename or "") if upload else ""
        if not data:
            error, status = _("Elija el PDF que quiere comprobar."), 400
        elif len(data) > MAX_VERIFY_BYTES or not data.startswith(b"%PDF"):
            error, status = _("El archivo no es un PDF (o supera los 20 MB)."), 400
        else:
            try:
                checks = engine().verify_signed_pdf(data)
            except CauceError as refused:
                error, status = _(refused.message), 400
    return render_template("signatures/verify.html", checks=checks, error=error,
                           filename=filename), status


# -- a case's documents to sign ---------------------------------------------------------------


def case_signables(view: Any, me: Any) -> list[Signable]:
    """Return the documents of a case that have a cuadro de firmas, as they stand now."""
    eng = engine()
    found = []
    if view.process_id == "social_case":
        history = eng.history(view.id, by=me)
        report = social_report(view, history)
        prepared = [e for e in history if e.activity_id == REPORT_ACTIVITY
                    and e.event_type == "task_completed"]
        if report is not None and prepared:
            # One edition per completion of activity 5: the social worker signs it as she
            # completes the step, the reviewer once he validates it (a returned report is
            # prepared again, a new edition). Before validation nobody holds «revisado».
            names = {a: person_name(a) for a in (report.prepared_by, report.reviewed_by) if a}
            signers = {"elaborado": report.prepared_by, "revisado": report.reviewed_by}

            @cache
            def layout(report: Any = report, names: Any = names) -> Any:
                pdf = social_report_document(report, names, signable=True)
                return pdf.render(), dict(pdf.signature_boxes)

            found.append(Signable(
                kind=REPORT_KIND, revision=prepared[-1].seq,
                filename=f"informe-tecnico-{view.number}.pdf",
                title="Informe Técnico de Trabajo Social (F01-PRO-GTH-GTS-002)",
                slots=tuple(SignatureSlot(field, label, signers[field])
                            for field, label in SIGNATURE_LINES),
                layout=layout))
        note = referral_signable(view, history)
        if note is not None:
            found.append(note)
        expediente = expediente_signable(view, history)
        if expediente is not None:
            found.append(expediente)
    elif view.process_id in SLA_PROCESSES:
        found += charter_signables(view, eng.history(view.id, by=me),
                                   eng.definition_by_hash(view.version_hash), person_name)
    return found


@blueprint.route("/casos/<number>/firmas")
def case_signatures(number: str) -> str:
    """List the case's documents with their cuadro de firmas; offer me my own lines."""
    me = person()
    view = case_or_404(number)
    documents = case_signables(view, me)
    signed = engine().case_signatures(view.id, by=me)
    history = engine().history(view.id, by=me)
    made = [e for e in history if e.event_type == "document_generated"
            and (e.data or {}).get("kind") == EXPEDIENTE_KIND]
    return render_template("signatures/case.html", case=view, documents=documents,
                           signed=signed, me=me, person_name=person_name,
                           expediente_ready=view.process_id == "social_case"
                           and expediente_ready(view, history),
                           expedientes=made, reads_only=engine().reads_only(me),
                           has_certificate=engine().signing_certificate(by=me) is not None)


@blueprint.route("/casos/<number>/firmas/<kind>/<slot>", methods=["POST"])
def sign(number: str, kind: str, slot: str) -> Response:
    """Sign my line of a case document with the passphrase of my certificate."""
    me = person()
    view = case_or_404(number)
    document = next((d for d in case_signables(view, me) if d.kind == kind), None)
    if document is None:
        abort(404)
    try:
        engine().sign_document(view.id, by=me, document=document, slot=slot,
                               passphrase=request.form.get("passphrase", ""))
    except CauceError as refused:
        flash(_(refused.message), "error")
    else:
        flash(_("Documento firmado electrónicamente."), "success")
    return redirect(url_for("signatures.case_signatures", number=view.number))


# -- the expediente and the referral note ------------------------------------------------------

EXPEDIENTE_ACTIVITY = "generar_expediente"
REFERRAL_KIND = "nota_derivacion"


def expediente_ready(view: Any, history: list[Any]) -> bool:
    """Tell whether the case reached «Generar un Expediente» (open now, or done)."""
    return any(t.activity_id == EXPEDIENTE_ACTIVITY for t in view.open_tasks) or any(
        e.activity_id == EXPEDIENTE_ACTIVITY and e.event_type == "task_completed"
        for e in history)


def _expediente_parts(view: Any, me: Any) -> list[Part]:
    """Return the case's documents (its signed editions kept apart) and its validated report."""
    eng = engine()
    full = eng.definition_by_hash(view.version_hash)
    signed = {s.sha256 for s in eng.case_signatures(view.id, by=me) if s.kind == REPORT_KIND}
    parts = []
    latest_report = None
    for document in eng.case_documents(view.id, by=me):
        if document.sha256 in signed:
            latest_report = document  # the newest signed edition stands for the report
            continue
        if document.filename.startswith(("expediente-", "nota-derivacion-", "informe-tecnico-")):
            continue  # an earlier expediente is not part of the next one
        _view, path = eng.document(document.sha256, by=me)
        activity = full.activities.get(document.activity_id) if document.activity_id else None
        parts.append(Part(document.filename, activity.name if activity else "—",
                          document.uploaded_at, document.content_type, path.read_bytes()))
    if latest_report is not None:
        _view, path = eng.document(latest_report.sha256, by=me)
        parts.append(Part(latest_report.filename, "Informe Técnico validado y firmado",
                          latest_report.uploaded_at, "application/pdf", path.read_bytes()))
    else:
        report = case_signables(view, me)
        if report:
            parts.append(Part(report[0].filename, "Informe Técnico validado",
                              view.updated_at, "application/pdf", report[0].unsigned_pdf))
    return parts


def _expediente_cover(view: Any, entries: list[IndexEntry], me: Any) -> bytes:
    pdf = PdfDocument(f"Expediente del caso {view.number}",
                      subtitle="Coordinación General de Talento Humano — PRO-GTH-GTS-002",
                      footer=f"Caso {view.number} — Confidencial (regla 6.3 d)")
    pdf.title_block([f"Procedimiento: {view.process_name}",
                     f"Servidor/a atendido/a: {view.data.get('beneficiary_name', '—')}",
                     f"Generado el {fecha_hora(engine().clock())} por {me.full_name}"])
    pdf.section("Índice de documentos")
    for entry in entries:
        pdf.set_font("DejaVu", "B", 9)
        pdf.multi_cell(0, 5, f"{entry.number}. {entry.filename}", new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
        pdf.set_font("DejaVu", "", 8.5)
        kept = (f"{entry.pages} página(s) incluidas a continuación" if entry.pages
                else "no es PDF: va incrustado como archivo adjunto de este PDF")
        pdf.multi_cell(0, 4.6, f"Paso: {entry.step} · Fecha: {fecha_hora(entry.at)} · {kept}",
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("DejaVu", "", 7.5)
        pdf.multi_cell(0, 4.4, f"SHA-256: {entry.sha256}", new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
        pdf.ln(1)
    if not entries:
        pdf.paragraph("El caso no tiene documentos.")
    return pdf.render()


@blueprint.route("/casos/<number>/expediente", methods=["POST"])
def make_expediente(number: str) -> Response:
    """Produce the expediente (one PDF) and keep it as a case document in the case's chain."""
    me = person()
    view = case_or_404(number)
    eng = engine()
    history = eng.history(view.id, by=me)
    if view.process_id != "social_case" or not expediente_ready(view, history):
        abort(404)
    parts = _expediente_parts(view, me)
    entries = index(parts)
    signer = closing_signer(view)
    closing, (page, *box) = _closing_page(view, entries, person_name(signer) if signer else "")
    data = assemble(_expediente_cover(view, entries, me), parts, entries,
                    title=f"Expediente del caso {view.number}", closing=closing)
    # The closing line's box, on the expediente's last page(s): where its signature goes.
    first_closing_page = (page_count(data) or 1) - (page_count(closing) or 1)
    try:
        eng.add_case_document(view.id, by=me, filename=f"expediente-{view.number}.pdf",
                              data=data, event_type="document_generated",
                              event_data={"kind": EXPEDIENTE_KIND,
                                          "documents": [e.sha256 for e in entries],
                                          "closing_signer": signer,
                                          "signature_box": [first_closing_page + page, *box]})
    except CauceError as refused:
        flash(_(refused.message), "error")
    else:
        flash(_("Expediente generado: %(count)s documento(s) con su índice y hashes.",
                count=len(entries)), "success")
    return redirect(url_for("signatures.case_signatures", number=view.number))


CLOSING_SLOT, CLOSING_LABEL = "cierre", "Expediente cerrado por"


def closing_signer(view: Any) -> str:
    """Return who closes the expediente: the case's social worker, i.e. the person the
    responsibility table's «trabajador_social» lane assigned (its ``assignee_variable``),
    never a name typed in a form."""
    definition = engine().definition_by_hash(view.version_hash)
    lane = definition.roles().get("trabajador_social")
    variable = getattr(lane, "assignee_variable", None) or "social_worker"
    value = view.data.get(variable)
    return value if isinstance(value, str) else ""


def _closing_page(view: Any, entries: list[IndexEntry], name: str) -> tuple[bytes, Any]:
    pdf = PdfDocument("Cierre del expediente", subtitle="Coordinación General de Talento "
                      "Humano — PRO-GTH-GTS-002",
                      footer=f"Caso {view.number} — Confidencial (regla 6.3 d)")
    pdf.paragraph(f"El expediente del caso {view.number} reúne {len(entries)} documento(s), "
                  "listados en el índice con su SHA-256. Se cierra con la firma de quien "
                  "atendió el caso.")
    pdf.signature_blocks([(CLOSING_SLOT, CLOSING_LABEL, name)])
    return pdf.render(), pdf.signature_boxes[CLOSING_SLOT]


def expediente_signable(view: Any, history: list[Any]) -> Signable | None:
    """Return the newest expediente with its closing signature line (once generated)."""
    made = [e for e in history if e.event_type == "document_generated"
            and (e.data or {}).get("kind") == EXPEDIENTE_KIND
            and (e.data or {}).get("signature_box")]
    if not made:
        return None
    event = made[-1]
    sha256, box = event.data["sha256"], tuple(event.data["signature_box"])

    def layout() -> Any:
        _view, path = engine().document(sha256, by=person())
        return path.read_bytes(), {CLOSING_SLOT: box}

    return Signable(kind=EXPEDIENTE_KIND, revision=event.seq,
                    filename=f"expediente-{view.number}.pdf",
                    title=f"Expediente del caso {view.number}",
                    slots=(SignatureSlot(CLOSING_SLOT, CLOSING_LABEL,
                                         str(event.data.get("closing_signer") or "")),),
                    layout=layout)


def referral_signable(view: Any, history: list[Any]) -> Signable | None:
    """Return a referred case's referral note (to whom, why, when) with its signature block."""
    referral = view.data.get("referral") or {}
    if not referral or referral.get("is_social_case", True):
        return None
    decided = [e for e in history if e.activity_id == "reasignar_solicitud"
               and e.event_type == "task_completed"]
    if not decided:
        return None
    by = decided[-1].actor or ""

    @cache
    def layout() -> Any:
        return _referral_note(view, referral, decided[-1], by)

    return Signable(kind=REFERRAL_KIND, revision=decided[-1].seq,
                    filename=f"nota-derivacion-{view.number}.pdf", title="Nota de derivación",
                    slots=(SignatureSlot("derivado_por", "Derivado por", by),), layout=layout)


def _referral_note(view: Any, referral: Any, decided: Any, by: str) -> Any:
    pdf = PdfDocument("Nota de derivación", subtitle="Coordinación General de Talento Humano "
                      "— PRO-GTH-GTS-002", footer=f"Caso {view.number} — Confidencial")
    pdf.title_block([f"Caso: {view.number}", f"Fecha: {fecha_hora(decided.at)}"])
    pdf.fields([("Solicitante", str(view.data.get("requester_name", ""))),
                ("Servidor/a", str(view.data.get("beneficiary_name", ""))),
                ("Se deriva a", str(referral.get("referred_to", ""))),
                ("Motivo", str(referral.get("referral_reason", ""))),
                ("Decidido por", person_name(by))])
    pdf.paragraph("La solicitud no corresponde a un caso social y se deriva a la unidad "
                  "indicada para su atención.")
    pdf.signature_blocks([("derivado_por", "Derivado por", person_name(by))])
    return pdf.render(), dict(pdf.signature_boxes)


@blueprint.route("/casos/<number>/firmas/<kind>.pdf")
def unsigned(number: str, kind: str) -> Response:
    """Download a document of the case as it stands, before anyone signed it."""
    me = person()
    view = case_or_404(number)
    document = next((d for d in case_signables(view, me) if d.kind == kind), None)
    if document is None:
        abort(404)
    from .pdf import pdf_response

    return pdf_response(document.unsigned_pdf, document.filename)
