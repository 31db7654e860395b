"""The case dossier PDF: every step, every document hash, the proof and the checkpoint."""

from __future__ import annotations

import io
import re

import pytest
from fpdf import FPDF
from pypdf import PdfReader

from engine.anchoring import CheckpointLog
from tests.conftest import CaseWalker

pytestmark = pytest.mark.integration

AUDITOR = "monica.pazmino"  # Auditor/a Interno/a de Talento Humano (the social case)
OUTSIDER = "esteban.chiriboga"  # the service charter's auditor: no business with social cases


def a_pdf(text: str) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(0, 10, text)
    return bytes(pdf.output())


def closed_case(walker: CaseWalker, engine):
    upload = engine.store_document(by=walker.coordinator, filename="solicitud.pdf",
                                   data=a_pdf("Solicitud firmada"))
    walker.start(attachments=[upload.sha256])
    for activity in ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico"]:
        walker.do(activity)
    walker.do("validar_informe", report_validated=True, requires_support=False)
    walker.do("archivar_expediente")
    return walker.case


def text_of(pdf: bytes) -> str:
    # Justified lines come back with doubled spaces: one space, as a reader would search.
    return re.sub(r"[ \t]+", " ", "\n".join(page.extract_text() or ""
                                            for page in PdfReader(io.BytesIO(pdf)).pages))


def compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture
def checkpointed_app(app, tmp_path):
    app.config.update(CHECKPOINT_DIR=str(tmp_path / "cp"), CHECKPOINT_KEY=str(tmp_path / "k.pem"))
    return app


def test_the_auditor_downloads_a_dossier_with_every_step_and_document_hash(
        checkpointed_app, web, walker, engine, tmp_path):
    case = closed_case(walker, engine)
    engine.add_case_document(case.number, by=walker.coordinator, filename="nota.pdf",
                             data=a_pdf("Nota del caso"), event_type="document_generated",
                             event_data={"kind": "nota"})
    engine.write_checkpoint(CheckpointLog(tmp_path / "cp", tmp_path / "k.pem"))

    response = web(AUDITOR).get(f"/auditoria/casos/{case.number}/expediente-auditoria.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = text_of(response.data)
    history = engine.history(case.number, by=AUDITOR)
    for entry in history:
        assert f"Paso {entry.seq}:" in text, entry
    assert "«Emitir diagnóstico" in text or "diagnóstico" in text.lower()
    documents = engine.case_documents(case.number, by=AUDITOR)
    assert len(documents) == 2
    for document in documents:
        assert document.sha256 in compact(text)
    # Who and when, labelled values as the case page writes them.
    assert engine.person(walker.social_worker).full_name in text
    assert "Vulnerabilidad económica y sobrecarga de cuidado." in text
    # The proof was run now, stored, and compared with the published checkpoint.
    assert "✓ Verificado" in text
    assert "n.º 1" in text
    with engine._reader() as session:
        from engine.store import CaseRow

        head = session.query(CaseRow).filter_by(number=case.number).one().last_hash.hex()
    assert head in compact(text)
    stored = engine.case_verifications(case.number, by=AUDITOR)
    assert stored and stored[0].by == AUDITOR and stored[0].check.ok


def test_reading_a_confidential_dossier_is_in_the_access_log(checkpointed_app, web, walker,
                                                             engine):
    case = closed_case(walker, engine)
    assert web(AUDITOR).get(
        f"/auditoria/casos/{case.number}/expediente-auditoria.pdf").status_code == 200
    logged = [e for e in engine.list_accesses(AUDITOR, case_number=case.number)
              if "expediente-auditoria" in (e.detail or "")]
    assert len(logged) == 1 and logged[0].username == AUDITOR


def test_someone_outside_the_procedure_gets_no_dossier(checkpointed_app, web, walker, engine):
    case = closed_case(walker, engine)
    response = web(OUTSIDER).get(f"/auditoria/casos/{case.number}/expediente-auditoria.pdf")
    assert response.status_code == 404


def test_a_tampered_case_dossier_says_the_verification_failed(checkpointed_app, web, walker,
                                                              engine):
    from sqlalchemy import text as sql

    case = closed_case(walker, engine)
    with engine.sql.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sql("ALTER TABLE case_event DISABLE TRIGGER "
                                   "case_event_append_only"))
        else:
            connection.execute(sql("DROP TRIGGER IF EXISTS case_event_no_update"))
        connection.execute(sql("UPDATE case_event SET actor = 'intruso' WHERE seq = 2 AND "
                               "case_id = (SELECT id FROM \"case\" WHERE number = :n)"),
                           {"n": case.number})
        if connection.dialect.name == "postgresql":
            connection.execute(sql("ALTER TABLE case_event ENABLE TRIGGER "
                                   "case_event_append_only"))
    text = text_of(web(AUDITOR).get(
        f"/auditoria/casos/{case.number}/expediente-auditoria.pdf").data)
    assert "✗ La verificación encontró problemas" in text


def test_flask_audit_dossier_writes_the_same_evidence(checkpointed_app, walker, engine,
                                                      tmp_path, people):
    case = closed_case(walker, engine)
    target = tmp_path / "dossier.pdf"
    result = checkpointed_app.test_cli_runner().invoke(
        args=["audit", "dossier", case.number, "-o", str(target), "--por", AUDITOR])
    assert result.exit_code == 0, result.output
    assert "verificado" in result.output
    text = text_of(target.read_bytes())
    for entry in engine.history(case.number, by=AUDITOR):
        assert f"Paso {entry.seq}:" in text
    assert ["expediente-auditoria" in (e.detail or "") for e in engine.list_accesses(
        AUDITOR, case_number=case.number)] == [True]
    refused = checkpointed_app.test_cli_runner().invoke(
        args=["audit", "dossier", case.number, "-o", str(target), "--por", OUTSIDER])
    assert refused.exit_code != 0 and "No existe el caso" in refused.output
