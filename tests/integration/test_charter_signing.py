"""The charter's Informe de postulación (§7.2) carries PAdES signature lines: each belongs to the
person who completed its step in the role of its lane (not to a typed name), and the approver
signs as he approves."""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature

from engine.signing import TrustStore
from tests.conftest import DEMO_PASSWORD
from tests.integration.test_sla_support import UNIT_PERSON
from tests.support.signing import app_with_certificates, client, signatures

pytestmark = pytest.mark.integration
# The engine with the charter effects, its people and the case walker.
pytest_plugins = ["tests.integration.test_sla_support"]

UP_TO_APPROVAL = ["inf_recopilar_informacion", "inf_elaborar_informe", "inf_revisar_informe",
                  "inf_revision_final"]


@pytest.fixture
def engine(sla_engine):
    return sla_engine


@pytest.fixture
def people(sla_people):
    return sla_people


@pytest.fixture
def charter_app(sla_engine, sla_people, tmp_path):
    """The app with a demo CA; the report's four signers hold demo certificates."""
    return app_with_certificates(
        sla_engine, {sla_people["procesos"][0], UNIT_PERSON, sla_people["planificacion"][0],
                     sla_people["maxima_autoridad"][0]}, tmp_path)


def lines_of(html: str) -> dict[str, str]:
    import re

    return dict(re.findall(r'<tr data-slot="([a-z]+)">\s*<td>[^<]*</td>\s*<td>([^<]*)</td>',
                           html))


def test_the_lines_belong_to_who_did_each_step_in_its_lane_and_the_approver_signs_as_he_approves(
        charter_app, sla_engine, sla, sla_people, tmp_path):
    sla.plan()
    sla.run(*UP_TO_APPROVAL)
    writer, approver = sla_people["procesos"][0], sla_people["planificacion"][0]
    number = sla.case.number

    case_page = client(charter_app, writer).get(f"/casos/{number}").get_data(as_text=True)
    assert f'href="/casos/{number}/firmas"' in case_page
    page = client(charter_app, writer).get(f"/casos/{number}/firmas").get_data(as_text=True)
    lines = lines_of(page)
    assert lines["elaborado"] == sla_engine.person(writer).full_name
    assert lines["revisado"] == sla_engine.person(UNIT_PERSON).full_name
    assert lines["aprobado"] == "—" and lines["suscrito"] == "—"  # not done yet: nobody's

    # The writer signs her line on the separate page.
    web = client(charter_app, writer)
    web.get(f"/casos/{number}/firmas")
    signed = web.post(f"/casos/{number}/firmas/informe_postulacion/elaborado",
                      data={"passphrase": DEMO_PASSWORD}, follow_redirects=True)
    assert "Documento firmado electrónicamente" in signed.get_data(as_text=True)

    # The approver's task page offers «Firmar al completar»; approving signs his line.
    task = sla.task("inf_aprobar_informe")
    boss = client(charter_app, approver)
    html = boss.get(f"/tareas/{task.task_id}").get_data(as_text=True)
    assert "«Aprobado por»" in html and "si lo aprueba" in html
    done = boss.post(f"/tareas/{task.task_id}", {
        "report_approved": "true", "approval_document": "IESS-DNPL-2026-0050-M",
        "approval_date": "2026-02-20", "action": "complete_signed",
        "sign_passphrase": DEMO_PASSWORD}, follow_redirects=True)
    assert "firmado electrónicamente (Aprobado por)" in done.get_data(as_text=True)

    first, second = signatures(sla_engine)
    assert (first.slot, second.slot) == ("elaborado", "aprobado")
    data = sla_engine.documents.path(second.sha256).read_bytes()
    context = TrustStore.load(tmp_path / "firma-demo" / "ca.pem").context()
    found = [(s.field_name, validate_pdf_signature(s, context))
             for s in PdfFileReader(io.BytesIO(data)).embedded_signatures]
    assert [name for name, _status in found] == ["elaborado", "aprobado"]
    assert all(st.intact and st.valid and st.trusted for _name, st in found)


def test_someone_of_another_lane_cannot_sign_a_line(charter_app, sla_engine, sla, sla_people):
    sla.plan()
    sla.run(*UP_TO_APPROVAL)
    outsider = client(charter_app, sla_people["planificacion"][0])  # approver, not the writer
    outsider.get(f"/casos/{sla.case.number}/firmas")
    html = outsider.post(f"/casos/{sla.case.number}/firmas/informe_postulacion/elaborado",
                         data={"passphrase": DEMO_PASSWORD},
                         follow_redirects=True).get_data(as_text=True)
    assert "no está en el cuadro de firmas" in html
    assert signatures(sla_engine) == []


def test_a_review_with_observations_makes_nobody_the_reviewer(charter_app, sla_engine, sla,
                                                             sla_people):
    sla.plan()
    sla.run("inf_recopilar_informacion", "inf_elaborar_informe")
    sla.do("inf_revisar_informe", review_has_observations=True,
           review_observations=["Falta el indicador de C2."])
    page = client(charter_app, UNIT_PERSON).get(
        f"/casos/{sla.case.number}/firmas").get_data(as_text=True)
    assert lines_of(page)["revisado"] == "—"


def test_the_plan_de_publicacion_is_signed_by_who_defined_and_who_formalised_it(
        charter_app, sla_engine, sla, sla_people, tmp_path):
    sla.plan()  # the unit defined the commitments, the process office formalised the plan
    number = sla.case.number
    unit = client(charter_app, UNIT_PERSON)
    page = unit.get(f"/casos/{number}/firmas").get_data(as_text=True)
    assert 'id="doc-plan_publicacion"' in page
    assert 'id="passphrase-plan_publicacion-definido"' in page  # offered to the unit
    assert 'id="passphrase-plan_publicacion-formalizado"' not in page
    signed = unit.post(f"/casos/{number}/firmas/plan_publicacion/definido",
                       data={"passphrase": DEMO_PASSWORD}, follow_redirects=True)
    assert "Documento firmado electrónicamente" in signed.get_data(as_text=True)
    [row] = signatures(sla_engine)
    assert (row.kind, row.slot) == ("plan_publicacion", "definido")
    writer = client(charter_app, sla_people["procesos"][0])
    writer.get(f"/casos/{number}/firmas")
    writer.post(f"/casos/{number}/firmas/plan_publicacion/formalizado",
                data={"passphrase": DEMO_PASSWORD})
    _first, second = signatures(sla_engine)
    data = sla_engine.documents.path(second.sha256).read_bytes()
    context = TrustStore.load(tmp_path / "firma-demo" / "ca.pem").context()
    checks = [(s.field_name, validate_pdf_signature(s, context).intact)
              for s in PdfFileReader(io.BytesIO(data)).embedded_signatures]
    assert checks == [("definido", True), ("formalizado", True)]


def test_a_periods_follow_up_report_has_the_unit_and_the_writer_as_signers(
        charter_app, sla_engine, sla, sla_people, clock):
    sla.publish()
    sla.fire_period_close(clock)
    sla.run("seg_recolectar_datos", "seg_verificar_cumplimiento",
            "seg_identificar_desviaciones", "seg_elaborar_informe")
    writer = sla_people["procesos"][0]
    page = client(charter_app, writer).get(
        f"/casos/{sla.case.number}/firmas").get_data(as_text=True)
    section = page[page.index('id="doc-informe_seguimiento"'):]
    assert 'id="passphrase-informe_seguimiento-elaborado"' in section
    assert sla_engine.person(UNIT_PERSON).full_name in section  # «Datos reportados por»
    web = client(charter_app, writer)
    web.get(f"/casos/{sla.case.number}/firmas")
    signed = web.post(f"/casos/{sla.case.number}/firmas/informe_seguimiento/elaborado",
                      data={"passphrase": DEMO_PASSWORD}, follow_redirects=True)
    assert "Documento firmado electrónicamente" in signed.get_data(as_text=True)
    assert [(r.kind, r.slot) for r in signatures(sla_engine)] == [
        ("informe_seguimiento", "elaborado")]
