"""«Generar un Expediente» on the real path: one PDF with an index, pages, attachments, hashes."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from fpdf import FPDF
from pypdf import PdfReader

from tests.conftest import CaseWalker

pytestmark = pytest.mark.integration

# A real 1×1 PNG (not a PDF: it goes into the expediente as an embedded file).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def a_pdf(*pages: str) -> bytes:
    pdf = FPDF()
    for text in pages:
        pdf.add_page()
        pdf.set_font("helvetica", size=12)
        pdf.cell(0, 10, text)
    return bytes(pdf.output())


def text_of(pdf: bytes) -> str:
    return re.sub(r"[ \t]+", " ", "\n".join(
        p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages))


def case_at_the_expediente(walker: CaseWalker, engine):
    request = engine.store_document(by=walker.coordinator, filename="solicitud.pdf",
                                    data=a_pdf("Solicitud de intervencion", "Anexo"))
    photo = engine.store_document(by=walker.coordinator, filename="foto.png", data=PNG)
    walker.start(attachments=[request.sha256, photo.sha256])
    for activity in ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico", "validar_informe", "remitir_informe",
                     "solicitar_apoyo", "generar_respuesta"]:
        walker.do(activity)
    assert walker.open_activities() == ["generar_expediente"]
    return walker.case, request, photo


def test_generar_expediente_bundles_documents_and_report_into_one_indexed_pdf(
        app, web, walker, engine):
    case, request, photo = case_at_the_expediente(walker, engine)
    staff = web(walker.coordinator)
    page = staff.get(f"/casos/{case.number}/firmas").get_data(as_text=True)
    assert 'id="make-expediente"' in page
    response = staff.post(f"/casos/{case.number}/expediente", follow_redirects=True)
    assert response.status_code == 200
    assert "Expediente generado: 3 documento(s)" in response.get_data(as_text=True)

    [made] = [d for d in engine.case_documents(case.number, by=walker.coordinator)
              if d.filename == f"expediente-{case.number}.pdf"]
    data = engine.documents.path(made.sha256).read_bytes()
    assert hashlib.sha256(data).hexdigest() == made.sha256

    reader = PdfReader(io.BytesIO(data))
    text = text_of(data)
    # The index names every document with the hash of the file as stored.
    assert f"SHA-256: {request.sha256}" in text and f"SHA-256: {photo.sha256}" in text
    assert "solicitud.pdf" in text and "foto.png" in text and "Informe Técnico validado" in text
    # The PDF's pages follow the index; the report's text is there too.
    assert "Solicitud de intervencion" in text and "Anexo" in text
    assert "Vulnerabilidad económica y sobrecarga de cuidado." in text
    assert len(reader.pages) >= 1 + 2 + 1  # index, the request's two pages, the report
    # The photograph travels byte for byte as an embedded file.
    [(name, contents)] = reader.attachments.items()
    assert name.endswith("foto.png")
    assert hashlib.sha256(contents[0]).hexdigest() == photo.sha256

    # Its hash entered the case's chain, and the chain still verifies.
    [event] = [e for e in engine.history(case.number, by=walker.coordinator)
               if e.event_type == "document_generated"]
    assert event.data["sha256"] == made.sha256
    assert sorted(event.data["documents"])[:2] == sorted([request.sha256, photo.sha256])[:2] \
        or {request.sha256, photo.sha256} <= set(event.data["documents"])
    assert engine.replay(case.number, by=walker.coordinator).chain_intact

    # Listed on the case page.
    case_page = staff.get(f"/casos/{case.number}").get_data(as_text=True)
    assert f"expediente-{case.number}.pdf" in case_page


def test_the_expediente_is_not_offered_before_its_step(app, web, walker, engine):
    walker.start()
    staff = web(walker.coordinator)
    page = staff.get(f"/casos/{walker.case.number}/firmas").get_data(as_text=True)
    assert 'id="make-expediente"' not in page
    assert staff.post(f"/casos/{walker.case.number}/expediente").status_code == 404


def test_a_referred_case_gets_a_referral_note(app, web, walker, engine):
    walker.start()
    walker.do("reasignar_solicitud", is_social_case=False, referred_to="Dirección Médica",
              referral_reason="Es un tema de salud.")
    staff = web(walker.coordinator)
    page = staff.get(f"/casos/{walker.case.number}/firmas").get_data(as_text=True)
    assert "Nota de derivación" in page and "Derivado por" in page
    response = staff.get(f"/casos/{walker.case.number}/firmas/nota_derivacion.pdf")
    assert response.status_code == 200
    text = text_of(response.data)
    assert "Dirección Médica" in text and "Es un tema de salud." in text
    assert "Derivado por" in text
    [decided] = [e for e in engine.history(walker.case.number, by=walker.coordinator)
                 if e.activity_id == "reasignar_solicitud" and e.event_type == "task_completed"]
    assert engine.person(decided.actor).full_name in text
