"""Signing in a real browser: the social worker signs the validated technical report with the
passphrase of their demo certificate, then anyone checks the signed PDF on the verification
page; the pages at phone width (390 px)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from engine.signing import TrustStore, seed_demo_certificates
from tests.browser.conftest import (
    COORDINATOR,
    LEADER,
    SOCIAL_PEOPLE,
    SOCIAL_WORKER,
    diagnosed_case,
    recent_day,
    screenshot,
    sign_in,
    typed_date,
)
from tests.conftest import DEMO_PASSWORD, CaseWalker

pytestmark = pytest.mark.browser

SIGNING_MS = 60_000


@pytest.fixture(scope="module")
def validated(live_server, tmp_path_factory):
    """A social case whose report was validated; demo certificates for its people."""
    engine = live_server.engine
    folder = tmp_path_factory.mktemp("firma-demo")
    engine.configure_signing(TrustStore.load(folder / "ca.pem"), demo_dir=folder)
    accounts = [type("Account", (), {"username": u, "full_name": engine.person(u).full_name,
                                     "password": DEMO_PASSWORD})()
                for u in (SOCIAL_WORKER, LEADER)]
    with engine._writer.begin() as session:
        seed_demo_certificates(session, folder, accounts, now=engine.clock())
    walker = diagnosed_case(live_server, requester_name="Rosa Chicaiza",
                            request_date=recent_day().isoformat())
    return walker.do("validar_informe", report_validated=True, requires_support=False)


def test_the_social_worker_signs_the_report_and_the_verification_page_trusts_it(
        live_server, validated, new_page, tmp_path):
    page = new_page()
    sign_in(page, SOCIAL_WORKER)
    page.goto(f"/casos/{validated.number}")
    page.get_by_role("link", name="Firmas y expediente").click(timeout=SIGNING_MS)
    expect(page.get_by_role("heading", level=1)).to_contain_text(validated.number)
    line = page.locator('tr[data-slot="elaborado"]')
    line.get_by_label("Frase de paso de su certificado").fill("una frase equivocada")
    line.get_by_role("button", name="Firmar").click(timeout=SIGNING_MS)
    expect(page.get_by_role("alert")).to_contain_text("La frase de paso no abre su certificado")

    line = page.locator('tr[data-slot="elaborado"]')
    line.get_by_label("Frase de paso de su certificado").fill(DEMO_PASSWORD)
    # Signing is real RSA work and PAdES assembly: on a loaded machine it takes seconds.
    line.get_by_role("button", name="Firmar").click(timeout=SIGNING_MS)
    expect(page.get_by_role("status")).to_contain_text("Documento firmado electrónicamente")
    expect(page.locator('tr[data-slot="elaborado"]')).to_contain_text("Firmado el")
    expect(page.locator('tr[data-slot="revisado"]')).to_contain_text("Pendiente")
    screenshot(page, "firmas-caso", tmp_path)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "firmas-caso-390", tmp_path)

    [signature] = live_server.engine.case_signatures(validated.number, by=SOCIAL_WORKER)
    signed = live_server.engine.documents.path(signature.sha256)

    checker = new_page()
    sign_in(checker, COORDINATOR)
    checker.goto("/firma/verificar")
    checker.get_by_label("Documento PDF").set_input_files(str(signed))
    checker.get_by_role("button", name="Verificar").click(timeout=SIGNING_MS)
    result = checker.locator("li.signature-check")
    expect(result).to_have_count(1)
    expect(result).to_have_attribute("data-ok", "true")
    expect(result).to_contain_text("Firma válida")
    expect(result).to_contain_text(live_server.engine.person(SOCIAL_WORKER).full_name)
    screenshot(checker, "firma-verificar", tmp_path)
    checker.set_viewport_size({"width": 390, "height": 844})
    screenshot(checker, "firma-verificar-390", tmp_path)


def test_the_certificate_page_shows_my_certificate(live_server, validated, new_page, tmp_path):
    page = new_page()
    sign_in(page, SOCIAL_WORKER)
    page.goto("/firma/certificado")
    expect(page.locator("#current-certificate")).to_contain_text(
        live_server.engine.person(SOCIAL_WORKER).full_name)
    expect(page.locator("#current-certificate")).to_contain_text("Autoridad de Certificación")
    screenshot(page, "firma-certificado", tmp_path)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "firma-certificado-390", tmp_path)


def test_the_social_worker_signs_the_report_as_she_completes_it(live_server, validated,
                                                                 new_page, tmp_path):
    walker = CaseWalker(live_server.engine, SOCIAL_PEOPLE)
    walker.start(requester_name="Rosa Chicaiza", request_date=recent_day().isoformat())
    for activity in ("reasignar_solicitud", "analizar_solicitud", "realizar_entrevista"):
        walker.do(activity)
    task = walker.task("emitir_diagnostico")
    page = new_page()
    sign_in(page, SOCIAL_WORKER)
    page.goto(f"/tareas/{task.task_id}")
    page.get_by_label("Fecha del informe").fill(typed_date(recent_day()))
    page.get_by_label("Antecedentes").fill("Solicitud verbal de la madre del servidor.")
    page.get_by_label("Diagnóstico social").fill("Vulnerabilidad económica.")
    page.get_by_label("Estrategias de intervención").fill("Acompañamiento familiar")
    page.get_by_label("Conclusiones").fill("Conclusión que no debe perderse.")
    page.get_by_label("Recomendaciones").fill("Seguimiento mensual.")
    block = page.locator("#sign-on-complete")
    expect(block).to_contain_text("«Elaborado por»")
    block.get_by_label("Frase de paso de su certificado").fill("una frase equivocada")
    block.get_by_role("button", name="Firmar al completar").click(timeout=SIGNING_MS)
    expect(page.get_by_role("alert")).to_contain_text(
        "La frase de paso no abre su certificado: la tarea no se completó")
    expect(page.get_by_label("Conclusiones")).to_have_value("Conclusión que no debe perderse.")
    expect(page.get_by_label("Frase de paso de su certificado")).to_have_value("")
    screenshot(page, "firmar-al-completar-error", tmp_path)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "firmar-al-completar-error-390", tmp_path)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_label("Frase de paso de su certificado").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Firmar al completar").click(timeout=SIGNING_MS)
    expect(page.get_by_role("status").filter(has_text="firmado electrónicamente")).to_contain_text(
        "(Elaborado por)", timeout=SIGNING_MS)
    [signature] = [s for s in live_server.engine.case_signatures(walker.case.number,
                                                                  by=SOCIAL_WORKER)]
    assert signature.slot == "elaborado"
    page.goto(f"/casos/{walker.case.number}/firmas")
    expect(page.locator('tr[data-slot="elaborado"]')).to_contain_text("Firmado el")
    expect(page.locator('tr[data-slot="revisado"]')).to_contain_text("Pendiente")
