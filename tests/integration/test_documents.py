"""Attachments: allowed types by content, a size limit, content-addressed storage outside the
web root, and downloads only for people who may see the case."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest

from engine.documents import DocumentRefused, check_document

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


def test_only_pdfs_images_and_office_documents_are_accepted():
    assert check_document("a.pdf", PDF) == "application/pdf"
    assert check_document("foto.png", PNG) == "image/png"
    with pytest.raises(DocumentRefused, match="tipo de archivo no permitido"):
        check_document("informe.pdf", b"#!/bin/sh\nrm -rf /\n")
    with pytest.raises(DocumentRefused, match="vacío"):
        check_document("a.pdf", b"")
    with pytest.raises(DocumentRefused, match="tamaño máximo"):
        check_document("a.pdf", PDF + b"0" * (10 * 1024 * 1024))


def test_an_upload_on_the_request_form_is_stored_by_hash_and_listed_on_the_case(web, engine,
                                                                                 tmp_path):
    coordinator = web("lucia.andrade")
    data = {"request_date": "02/03/2026", "requester_type": "servidor",
            "requester_name": "Kevin Chicaiza", "beneficiary_name": "Kevin Chicaiza",
            "channel_formality": "formal", "channel_medium": "escrita",
            "situation_summary": "Solicitud escrita adjunta.",
            "attachments__upload": (io.BytesIO(PDF), "solicitud firmada.pdf")}
    response = coordinator.post("/casos/nuevo/social_case", data,
                                content_type="multipart/form-data")
    assert response.status_code == 302
    documents = engine.case_documents("CS-2026-0001", by="ana.guaman")
    assert [d.filename for d in documents] == ["solicitud firmada.pdf"]
    sha = documents[0].sha256
    stored = engine.documents.path(sha)
    assert stored.read_bytes() == PDF and tmp_path in stored.parents
    assert "web" not in stored.parts

    download = web("ana.guaman").get(f"/documentos/{sha}")
    assert download.status_code == 200 and download.data == PDF
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    download.close()


def test_a_refused_upload_keeps_the_form_and_says_why(web, engine):
    coordinator = web("lucia.andrade")
    data = {"request_date": "02/03/2026", "requester_name": "Texto que se conserva",
            "attachments__upload": (io.BytesIO(b"MZ\x90\x00 not a pdf"), "virus.pdf")}
    response = coordinator.post("/casos/nuevo/social_case", data,
                                content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "virus.pdf: tipo de archivo no permitido" in html
    assert 'value="Texto que se conserva"' in html


def test_documents_are_404_for_people_outside_the_case(web, engine, app, walker):
    from tests.conftest import WebClient

    uploaded = engine.store_document(by="lucia.andrade", filename="acta.pdf", data=PDF)
    walker.start(attachments=[uploaded.sha256])
    allowed = web("sofia.naranjo").get(f"/documentos/{uploaded.sha256}")
    assert allowed.status_code == 200
    allowed.close()
    with engine._writer.begin() as session:
        engine.directory.create_person(session, "ajeno", "Persona Ajena",
                                       now=datetime.now(UTC), password="clave-ajena")
    outsider = WebClient(app.test_client())
    outsider.login("ajeno", "clave-ajena")
    assert outsider.get(f"/documentos/{uploaded.sha256}").status_code == 404
    assert outsider.get("/documentos/" + "0" * 64).status_code == 404
    assert outsider.get("/documentos/../../etc/passwd").status_code == 404


def test_a_form_cannot_attach_someone_elses_document_by_its_hash(engine, walker, people):
    from engine import FormInvalid

    foreign = engine.store_document(by="jorge.cevallos", filename="ajeno.pdf", data=PNG)
    with pytest.raises(FormInvalid) as raised:
        walker.start(attachments=[foreign.sha256])
    assert raised.value.by_field() == {
        "attachments": ["Documento desconocido; vuelva a adjuntarlo"]}
    assert re.fullmatch(r"[0-9a-f]{64}", foreign.sha256)
