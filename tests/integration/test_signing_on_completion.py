"""«Firmar al completar»: the step that makes a person responsible for a report signs it as it
completes, through the task page (web route, engine, pyHanko, the case's chain)."""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature

from engine.signing import TrustStore
from tests.conftest import DEMO_PASSWORD
from tests.integration.test_signing import make_signing_app
from tests.support.signing import client, signatures

pytestmark = pytest.mark.integration

BEFORE_REPORT = ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista"]
REPORT_FORM = {
    "action": "complete", "report_date": "2026-03-02",
    "background": "Solicitud verbal de la madre.",
    "social_diagnosis": "Vulnerabilidad económica y sobrecarga de cuidado.",
    "strategies": "Acompañamiento familiar\nCoordinación con la unidad",
    "conclusions": "Conclusión escrita a mano que no debe perderse.",
    "recommendations": "Seguimiento mensual."}


@pytest.fixture
def signing_app(engine, people, tmp_path):
    """The app with a demo CA; the social case's people hold demo certificates."""
    return make_signing_app(engine, people, tmp_path)


def report_task(walker):
    walker.start()
    for activity in BEFORE_REPORT:
        walker.do(activity)
    return walker.task("emitir_diagnostico").task_id


def open_activities(engine, number, who) -> list[str]:
    return sorted(t.activity_id for t in engine.case(number, by=who).open_tasks)


def verified(engine, sha256: str, tmp_path) -> list:
    """Return (field, intact and valid and trusted) for every signature of a stored PDF."""
    data = engine.documents.path(sha256).read_bytes()
    context = TrustStore.load(tmp_path / "firma-demo" / "ca.pem").context()
    return [(s.field_name, (lambda st: st.intact and st.valid and st.trusted)(
        validate_pdf_signature(s, context)))
        for s in PdfFileReader(io.BytesIO(data)).embedded_signatures]


def test_the_report_step_offers_to_sign_it_as_it_completes(signing_app, engine, walker):
    task_id = report_task(walker)
    page = client(signing_app, walker.social_worker).get(f"/tareas/{task_id}")
    html = page.get_data(as_text=True)
    assert "«Elaborado por»" in html and 'name="sign_passphrase"' in html
    assert 'name="action" value="complete_signed"' in html and "Firmar al completar" in html


def test_completing_the_report_with_the_passphrase_signs_the_authors_line(
        signing_app, engine, walker, tmp_path):
    task_id = report_task(walker)
    author = client(signing_app, walker.social_worker)
    author.get(f"/tareas/{task_id}")
    done = author.post(f"/tareas/{task_id}", {**REPORT_FORM, "action": "complete_signed",
                                              "sign_passphrase": DEMO_PASSWORD},
                       follow_redirects=True)
    html = done.get_data(as_text=True)
    assert done.status_code == 200
    assert "Tarea «" in html and "firmado electrónicamente (Elaborado por)" in html
    assert open_activities(engine, walker.case.number, walker.leader) == ["validar_informe"]
    [row] = signatures(engine)
    assert (row.kind, row.slot) == ("informe_tecnico", "elaborado")
    assert verified(engine, row.sha256, tmp_path) == [("elaborado", True)]
    history = engine.history(walker.case.number, by=walker.coordinator)
    assert [e.event_type for e in history][-1] == "document_signed"


def test_a_wrong_passphrase_leaves_the_step_open_and_keeps_what_was_typed(
        signing_app, engine, walker):
    task_id = report_task(walker)
    author = client(signing_app, walker.social_worker)
    author.get(f"/tareas/{task_id}")
    refused = author.post(f"/tareas/{task_id}", {**REPORT_FORM, "action": "complete_signed",
                                                 "sign_passphrase": "no es la frase"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "La frase de paso no abre su certificado: la tarea no se completó" in html
    assert "Conclusión escrita a mano que no debe perderse." in html
    assert "no es la frase" not in html  # the passphrase is never sent back
    assert open_activities(engine, walker.case.number, walker.leader) == ["emitir_diagnostico"]
    assert signatures(engine) == []

    plain = author.post(f"/tareas/{task_id}", REPORT_FORM)  # «Completar»: unsigned
    assert plain.status_code == 302
    assert open_activities(engine, walker.case.number, walker.leader) == ["validar_informe"]
    assert signatures(engine) == []


def test_the_reviewer_signs_as_he_validates_on_top_of_the_authors_signature(
        signing_app, engine, walker, tmp_path):
    task_id = report_task(walker)
    author = client(signing_app, walker.social_worker)
    author.get(f"/tareas/{task_id}")
    author.post(f"/tareas/{task_id}", {**REPORT_FORM, "action": "complete_signed",
                                       "sign_passphrase": DEMO_PASSWORD})
    [review] = engine.case(walker.case.number, by=walker.leader).open_tasks
    reviewer = client(signing_app, walker.leader)
    html = reviewer.get(f"/tareas/{review.task_id}").get_data(as_text=True)
    assert "«Revisado y validado por»" in html and "si lo valida" in html
    done = reviewer.post(f"/tareas/{review.task_id}", {
        "report_validated": "true", "requires_support": "false", "action": "complete_signed",
        "sign_passphrase": DEMO_PASSWORD}, follow_redirects=True)
    assert "firmado electrónicamente (Revisado y validado por)" in done.get_data(as_text=True)
    first, second = signatures(engine)
    assert (first.slot, second.slot) == ("elaborado", "revisado")
    assert first.revision == second.revision  # the same edition, signed twice
    assert verified(engine, second.sha256, tmp_path) == [("elaborado", True), ("revisado", True)]


def test_a_review_that_returns_the_report_completes_and_signs_nothing(
        signing_app, engine, walker):
    report_task(walker)
    walker.do("emitir_diagnostico")
    review = walker.task("validar_informe")
    reviewer = client(signing_app, walker.leader)
    reviewer.get(f"/tareas/{review.task_id}")
    done = reviewer.post(f"/tareas/{review.task_id}", {
        "report_validated": "false",
        "review_observations": "Falta el detalle de la visita.", "requires_support": "false",
        "action": "complete_signed", "sign_passphrase": "cualquiera"}, follow_redirects=True)
    assert done.status_code == 200
    assert open_activities(engine, walker.case.number, walker.leader) == ["emitir_diagnostico"]
    assert signatures(engine) == []


def test_without_a_certificate_the_page_links_to_upload_one_and_completes_unsigned(
        app, engine, walker):
    task_id = report_task(walker)  # the plain app: nobody has a certificate
    author = client(app, walker.social_worker)
    html = author.get(f"/tareas/{task_id}").get_data(as_text=True)
    assert "Aún no tiene certificado de firma" in html and "/firma/certificado" in html
    assert 'name="sign_passphrase"' not in html
    assert author.post(f"/tareas/{task_id}", REPORT_FORM).status_code == 302
    assert open_activities(engine, walker.case.number, walker.leader) == ["validar_informe"]
    page = author.get(f"/casos/{walker.case.number}/firmas").get_data(as_text=True)
    assert "Suba su certificado para firmar" in page


def test_completing_generar_expediente_closes_it_with_the_social_workers_signature(
        signing_app, engine, walker, tmp_path):
    from tests.integration.test_expediente import case_at_the_expediente

    case, _request, _photo = case_at_the_expediente(walker, engine)
    author = client(signing_app, walker.social_worker)
    author.get(f"/casos/{case.number}/firmas")
    made = author.post(f"/casos/{case.number}/expediente", follow_redirects=True)
    html = made.get_data(as_text=True)
    assert "Expediente generado" in html
    assert 'id="passphrase-expediente-cierre"' in html  # its closing line is the social worker's

    task = walker.task("generar_expediente")
    page = author.get(f"/tareas/{task.task_id}").get_data(as_text=True)
    assert "«Expediente cerrado por»" in page
    done = author.post(f"/tareas/{task.task_id}", {
        "case_file_contents": ["solicitud", "informe_tecnico"], "action": "complete_signed",
        "sign_passphrase": DEMO_PASSWORD}, follow_redirects=True)
    assert "firmado electrónicamente (Expediente cerrado por)" in done.get_data(as_text=True)
    [row] = [r for r in signatures(engine) if r.kind == "expediente"]
    assert row.slot == "cierre"
    assert verified(engine, row.sha256, tmp_path) == [("cierre", True)]
    data = engine.documents.path(row.sha256).read_bytes()
    from pypdf import PdfReader  # noqa: PLC0415 — only to find the page the line is on

    def fields_on(page) -> set[str]:
        return {str(a.get_object().get("/T")) for a in page.get("/Annots") or []}

    pages = PdfReader(io.BytesIO(data)).pages
    assert "cierre" in fields_on(pages[-1])  # the closing line, on the last page
    assert not any("cierre" in fields_on(p) for p in pages[:-1])
