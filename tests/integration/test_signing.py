"""PAdES signatures of a case's technical report, on the real path: web pages, engine, pyHanko."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from engine.demo import seed_demo_people
from engine.signing import (
    TrustStore,
    ensure_demo_ca,
    make_person_p12,
)
from tests.conftest import DEMO_PASSWORD, WebClient
from tests.support.signing import app_with_certificates, client, signatures

pytestmark = pytest.mark.integration

DIAGNOSIS = ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
             "emitir_diagnostico"]


@pytest.fixture
def signing_app(engine, people, tmp_path):
    """The app with a demo CA, and demo certificates for the three people of a social case."""
    return make_signing_app(engine, people, tmp_path)


def make_signing_app(engine, people, tmp_path):
    """Return the app with a demo CA in ``tmp_path`` and certificates for a social case's people."""
    return app_with_certificates(
        engine, (people[role][0] for role in ("coordinador_th", "lider_seguridad",
                                              "trabajador_social")), tmp_path)


def validated_case(walker):
    walker.start()
    for activity in DIAGNOSIS:
        walker.do(activity)
    walker.do("validar_informe", report_validated=True, requires_support=False)
    return walker.case


def demo_context(tmp_path: Path) -> ValidationContext:
    ca = (tmp_path / "firma-demo" / "ca.pem").read_bytes()
    return TrustStore.load(tmp_path / "firma-demo" / "ca.pem").context() if ca else None


def sign(web: WebClient, number: str, slot: str, passphrase: str) -> str:
    page = web.get(f"/casos/{number}/firmas")
    assert page.status_code == 200
    response = web.post(f"/casos/{number}/firmas/informe_tecnico/{slot}",
                        data={"passphrase": passphrase}, follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_author_signs_the_validated_report_and_pyhanko_trusts_it_until_a_byte_changes(
        signing_app, engine, walker, tmp_path):
    case = validated_case(walker)
    author = client(signing_app, walker.social_worker)
    page = author.get(f"/casos/{case.number}/firmas").get_data(as_text=True)
    assert 'name="passphrase"' in page and "Elaborado por" in page

    html = sign(author, case.number, "elaborado", DEMO_PASSWORD)
    assert "Documento firmado electrónicamente" in html
    [row] = signatures(engine)
    signed = engine.documents.path(row.sha256).read_bytes()

    [embedded] = PdfFileReader(io.BytesIO(signed)).embedded_signatures
    status = validate_pdf_signature(embedded, demo_context(tmp_path))
    assert status.intact and status.valid and status.trusted
    assert embedded.field_name == "elaborado"
    assert "Ana Guamán" in str(embedded.signer_cert.subject.native["common_name"]) or \
        embedded.signer_cert.subject.native["common_name"] == engine.person(
            walker.social_worker).full_name

    tampered = bytearray(signed)
    tampered[len(signed) // 3] ^= 0x01  # one byte inside the signed revision
    try:
        [embedded] = PdfFileReader(io.BytesIO(bytes(tampered)), strict=False).embedded_signatures
        broken = validate_pdf_signature(embedded, demo_context(tmp_path))
        assert not (broken.intact and broken.valid)
    except Exception as error:  # noqa: BLE001 — an unreadable file fails verification too
        assert not isinstance(error, AssertionError), error


def test_the_signed_report_is_a_case_document_and_its_hash_is_in_the_case_chain(
        signing_app, engine, walker):
    case = validated_case(walker)
    sign(client(signing_app, walker.social_worker), case.number, "elaborado", DEMO_PASSWORD)
    [row] = signatures(engine)
    documents = engine.case_documents(case.number, by=walker.coordinator)
    assert row.sha256 in {d.sha256 for d in documents}
    signed_events = [e for e in engine.history(case.number, by=walker.coordinator)
                     if e.event_type == "document_signed"]
    assert [e.data["sha256"] for e in signed_events] == [row.sha256]
    assert signed_events[0].actor == walker.social_worker
    assert engine.replay(case.number, by=walker.coordinator).chain_intact
    page = client(signing_app, walker.coordinator).get(f"/casos/{case.number}")
    assert page.status_code == 200
    assert row.sha256 in page.get_data(as_text=True)


def test_both_responsible_people_sign_and_both_signatures_verify_on_the_verification_page(
        signing_app, engine, walker):
    case = validated_case(walker)
    reviewer = next(e.actor for e in engine.history(case.number, by=walker.coordinator)
                    if e.activity_id == "validar_informe" and e.event_type == "task_completed")
    sign(client(signing_app, reviewer), case.number, "revisado", DEMO_PASSWORD)
    sign(client(signing_app, walker.social_worker), case.number, "elaborado", DEMO_PASSWORD)
    rows = signatures(engine)
    assert sorted(r.slot for r in rows) == ["elaborado", "revisado"]
    final = engine.documents.path(rows[-1].sha256).read_bytes()

    checks = engine.verify_signed_pdf(final)
    assert sorted(c.field for c in checks) == ["elaborado", "revisado"]
    assert all(c.ok for c in checks), checks

    web = client(signing_app, walker.coordinator)
    web.get("/firma/verificar")
    page = web.post("/firma/verificar", data={"pdf": (io.BytesIO(final), "informe.pdf")},
                    content_type="multipart/form-data").get_data(as_text=True)
    assert page.count('data-ok="true"') == 2
    assert engine.person(walker.social_worker).full_name in page

    tampered = bytearray(final)
    tampered[len(final) // 3] ^= 0x01
    response = web.post("/firma/verificar",
                        data={"pdf": (io.BytesIO(bytes(tampered)), "informe.pdf")},
                        content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert 'data-ok="true"' not in html
    assert "Firma no válida" in html or "no es un PDF legible" in html, html


def test_a_wrong_passphrase_says_so_and_signs_nothing(signing_app, engine, walker):
    case = validated_case(walker)
    before = engine.case_documents(case.number, by=walker.coordinator)
    html = sign(client(signing_app, walker.social_worker), case.number, "elaborado",
                "no-es-la-frase")
    assert "La frase de paso no abre su certificado: no se firmó nada" in html
    assert signatures(engine) == []
    assert engine.case_documents(case.number, by=walker.coordinator) == before
    assert not [e for e in engine.history(case.number, by=walker.coordinator)
                if e.event_type == "document_signed"]


def test_a_person_outside_the_signature_block_cannot_sign_it(signing_app, engine, walker):
    case = validated_case(walker)
    outsider = client(signing_app, walker.coordinator)
    page = outsider.get(f"/casos/{case.number}/firmas").get_data(as_text=True)
    assert 'name="passphrase"' not in page  # nothing offered to them
    html = sign(outsider, case.number, "elaborado", DEMO_PASSWORD)
    assert "no está en el cuadro de firmas" in html
    assert signatures(engine) == []


def test_before_validation_only_the_authors_line_can_be_signed(signing_app, engine, walker):
    walker.start()
    walker.do("reasignar_solicitud")
    web = client(signing_app, walker.social_worker)
    before = web.post(f"/casos/{walker.case.number}/firmas/informe_tecnico/elaborado",
                      data={"passphrase": DEMO_PASSWORD})
    assert before.status_code == 404  # no report yet: nothing to sign
    for activity in DIAGNOSIS[1:]:
        walker.do(activity)
    page = web.get(f"/casos/{walker.case.number}/firmas").get_data(as_text=True)
    assert 'id="passphrase-informe_tecnico-elaborado"' in page  # prepared: its author signs it
    reviewer = client(signing_app, walker.leader)
    page = reviewer.get(f"/casos/{walker.case.number}/firmas").get_data(as_text=True)
    assert 'name="passphrase"' not in page  # not validated: «revisado» is nobody's yet
    html = sign(reviewer, walker.case.number, "revisado", DEMO_PASSWORD)
    assert "no está en el cuadro de firmas" in html
    assert signatures(engine) == []


def test_a_certificate_is_kept_only_when_its_passphrase_opens_it(signing_app, engine, people,
                                                                  tmp_path):
    username = people["trabajador_social"][1]
    ca_key, ca_cert = ensure_demo_ca(tmp_path / "firma-demo")
    p12 = make_person_p12(ca_key, ca_cert, username, engine.person(username).full_name,
                          "frase-propia-123")
    web = client(signing_app, username)
    web.get("/firma/certificado")
    refused = web.post("/firma/certificado", data={
        "p12": (io.BytesIO(p12), "mio.p12"), "passphrase": "otra"},
        content_type="multipart/form-data")
    assert refused.status_code == 400
    assert "La frase de paso no abre el certificado" in refused.get_data(as_text=True)
    assert engine.signing_certificate(by=username) is None

    web.get("/firma/certificado")
    saved = web.post("/firma/certificado", data={
        "p12": (io.BytesIO(p12), "mio.p12"), "passphrase": "frase-propia-123"},
        content_type="multipart/form-data", follow_redirects=True)
    html = saved.get_data(as_text=True)
    assert "Certificado guardado" in html and "Atención" not in html
    kept = engine.signing_certificate(by=username)
    assert kept is not None and kept.common_name == engine.person(username).full_name
    # Stored as uploaded: still locked by the passphrase, which is nowhere in the database.
    with engine._reader() as session:
        from engine.signing import SigningCertificateRow

        row = session.get(SigningCertificateRow, engine.person(username).id)
        assert row is not None and row.p12 == p12
        assert b"frase-propia-123" not in row.p12


def test_a_certificate_in_someone_elses_name_is_kept_with_a_warning(signing_app, engine, people,
                                                                    tmp_path):
    username = people["trabajador_social"][1]
    ca_key, ca_cert = ensure_demo_ca(tmp_path / "firma-demo")
    p12 = make_person_p12(ca_key, ca_cert, "otro", "Persona Distinta", "frase-propia-123")
    web = client(signing_app, username)
    web.get("/firma/certificado")
    html = web.post("/firma/certificado", data={
        "p12": (io.BytesIO(p12), "otro.p12"), "passphrase": "frase-propia-123"},
        content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
    assert re.search(r"Atención: el certificado está a nombre de «Persona Distinta»", html)


def test_seed_demo_gives_every_demo_person_a_certificate_their_demo_password_opens(
        engine, tmp_path):
    engine.configure_signing(TrustStore.load(tmp_path / "ca" / "ca.pem"),
                             demo_dir=tmp_path / "ca")
    accounts = seed_demo_people(engine, DEMO_PASSWORD)
    assert (tmp_path / "ca" / "ca.pem").exists()
    listing = (tmp_path / "ca" / "frases-de-paso.txt").read_text()
    for account in accounts:
        info = engine.signing_certificate(by=account.username)
        assert info is not None and info.common_name == account.full_name
        assert f"{account.username}\t{DEMO_PASSWORD}" in listing
    # Run again: the same files are kept (they still open with the same passphrase).
    first = (tmp_path / "ca" / f"{accounts[0].username}.p12").read_bytes()
    seed_demo_people(engine, DEMO_PASSWORD)
    assert (tmp_path / "ca" / f"{accounts[0].username}.p12").read_bytes() == first
