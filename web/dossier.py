"""The case dossier PDF (the auditor's evidence): page, ``flask audit dossier`` and layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask import Blueprint, Flask, abort
from flask.cli import with_appcontext
from fpdf.enums import XPos, YPos
from werkzeug.wrappers import Response

from engine import CauceError, NotFound

from . import engine
from .audit import STEP_LABELS, _DataReader
from .audit_cli import audit_group, checkpoint_log
from .auth import person
from .formats import fecha_hora
from .pdf import PdfDocument, pdf_response
from .tasks import person_name

blueprint = Blueprint("dossier", __name__)

EXTRA_STEP_LABELS = {"document_signed": "Firmó electrónicamente un documento",
                     "document_generated": "Generó un documento del caso"}


def init_app(app: Flask) -> None:
    """Register the dossier page and the ``audit dossier`` command."""
    app.register_blueprint(blueprint)
    audit_group.add_command(dossier_command)


@blueprint.route("/auditoria/casos/<number>/expediente-auditoria.pdf")
def dossier_pdf(number: str) -> Response:
    """Prove the case now and answer its dossier (anyone who may read the case: its auditors
    and the people with a role in it); a confidential case's read is access-logged."""
    me = person()
    try:
        found = engine().case_dossier(number, by=me, checkpoints=_checkpoints())
    except NotFound:
        abort(404)
    # Logged as a report of the case (the access log's kinds are fixed): the path says which.
    engine().record_access(number, by=me, what="report",
                           detail=f"/auditoria/casos/{number}/expediente-auditoria.pdf")
    return pdf_response(dossier_document(found), f"expediente-auditoria-{number}.pdf")


def _checkpoints() -> Any:
    log = checkpoint_log()
    return log if log.files() else None


@click.command("dossier")
@click.argument("case")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="Archivo PDF que se escribe.")
@click.option("--por", "username", required=True,
              help="Usuario del auditor/a que lo genera (su lectura queda registrada).")
@click.option("--sin-verificar", "reuse", is_flag=True,
              help="Usa la última verificación guardada en lugar de verificar ahora.")
@with_appcontext
def dossier_command(case: str, output: str, username: str, reuse: bool) -> None:
    """Write a case's audit dossier PDF (every step, documents and hashes, proof, checkpoint)."""
    eng = engine()
    try:
        found = eng.case_dossier(case, by=username, checkpoints=_checkpoints(),
                                 verify=not reuse)
        eng.record_access(case, by=username, what="report",
                          detail="expediente-auditoria.pdf (flask audit dossier)")
    except NotFound:
        raise click.ClickException(
            f"No existe el caso {case} (o {username} no puede verlo)") from None
    except CauceError as error:
        raise click.ClickException(error.message) from None
    Path(output).write_bytes(dossier_document(found))
    verdict = "verificado" if found.verification and found.verification.ok else "CON PROBLEMAS"
    click.echo(f"Expediente de auditoría de {found.replay.case_number} ({verdict}): {output}")


def _hash_line(pdf: PdfDocument, label: str, value: str) -> None:
    pdf.set_font("DejaVu", "B", 8)
    pdf.cell(22, 4.4, label)
    pdf.set_font("DejaVu", "", 7.5)
    pdf.multi_cell(0, 4.4, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def dossier_document(found: Any) -> bytes:
    """Lay the dossier out as a PDF."""
    replay = found.replay
    full = engine().definition_by_hash(replay.version_hash)
    reader = _DataReader(full, "es")
    pdf = PdfDocument(
        f"Expediente de auditoría del caso {replay.case_number}",
        subtitle=f"Cauce — {replay.process_name}",
        footer=f"Caso {replay.case_number} — evidencia de auditoría")
    pdf.title_block([
        f"Procedimiento: {replay.process_name} ({replay.process_id})",
        f"Versión del procedimiento: {replay.version_hash}",
        f"Estado del caso: {replay.status}",
        f"Generado el {fecha_hora(found.made_at)} por {person_name(found.made_by)} "
        f"({found.made_by})"])
    _proof(pdf, found)
    pdf.section("3. Pasos del caso")
    for step in replay.steps:
        label = STEP_LABELS.get(step.event_type) or EXTRA_STEP_LABELS.get(
            step.event_type, step.event_type)
        title = f"Paso {step.seq}: {label}"
        if step.activity_name:
            title += f" «{step.activity_name}»"
        pdf.set_font("DejaVu", "B", 10)
        pdf.multi_cell(0, 5.6, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        who = (f"{step.actor_name or step.actor} ({step.actor})" if step.actor else "Sistema")
        pairs = [("Quién", who), ("Rol", step.role_name or step.role or "—"),
                 ("Cuándo", fecha_hora(step.at))]
        if step.deadline is not None:
            state = "vencido" if step.deadline.overdue else "a tiempo"
            pairs.append(("Plazo", f"{step.deadline.elapsed} de {step.deadline.limit} días "
                                   f"hábiles ({state})"))
        pairs += [(text_label, text) for _key, (text_label, text)
                  in reader.items(step.submitted or {}).items()]
        pdf.fields(pairs)
        for document in step.documents:
            _hash_line(pdf, "Documento", document.filename)
            _hash_line(pdf, "SHA-256", document.sha256)
        pdf.ln(1)
    pdf.section("4. Documentos del caso")
    if not found.documents:
        pdf.paragraph("El caso no tiene documentos.")
    for document in found.documents:
        activity = full.activities.get(document.activity_id) if document.activity_id else None
        pdf.set_font("DejaVu", "B", 9)
        pdf.multi_cell(0, 5, f"{document.filename}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("DejaVu", "", 8.5)
        pdf.multi_cell(0, 4.6, f"Subido por {person_name(document.uploaded_by)} el "
                               f"{fecha_hora(document.uploaded_at)}"
                               + (f" en «{activity.name}»" if activity else "")
                               + f" — {document.size} bytes, {document.content_type}",
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        _hash_line(pdf, "SHA-256", document.sha256)
        pdf.ln(1)
    return pdf.render()


def _proof(pdf: PdfDocument, found: Any) -> None:
    pdf.section("1. Verificación del caso")
    check = found.verification
    if check is None:
        pdf.paragraph("El caso no se ha verificado nunca.")
    else:
        verdict = ("✓ Verificado: el historial se re-ejecutó y coincide con el estado "
                   "guardado; la cadena de hashes está íntegra." if check.ok else
                   "✗ La verificación encontró problemas.")
        pdf.paragraph(verdict)
        pdf.fields([("Verificado el", fecha_hora(check.at)),
                    ("Por", f"{person_name(check.by)} ({check.by})"),
                    ("Checkpoint usado", check.checkpoint_label or "—")])
        if check.problems:
            pdf.bullets([f"{p.kind}" + (f" en el paso {p.seq}" if p.seq else "")
                         + (f": {p.problem}" if p.problem else "") for p in check.problems])
    _hash_line(pdf, "Cabeza", f"paso {found.head_seq}: {found.head_hash}")
    pdf.section("2. Checkpoint firmado")
    point = found.checkpoint
    if point is None:
        pdf.paragraph("No hay checkpoints publicados: el caso se verificó solo contra la base "
                      "de datos.")
        return
    pdf.fields([
        ("Checkpoint", f"n.º {point.number} del {point.created_at}"),
        ("Casos en el checkpoint", str(point.case_count)),
        ("Paso del caso registrado", str(point.case_seq) if point.case_seq else
         "el caso aún no figura en los checkpoints"),
    ])
    _hash_line(pdf, "Raíz Merkle", point.merkle_root)
    _hash_line(pdf, "Hash", point.hash)
    if point.case_head:
        _hash_line(pdf, "Cabeza reg.", point.case_head)
