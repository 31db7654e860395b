"""The Carta de Servicios documents built from a case: the Plan de Publicación (§7.1), the
Informe de postulación (§7.2), the Informe Técnico de Seguimiento (§7.3) with its charts, each
as a page and a PDF, and the public Carta Institucional de Servicios."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest

from engine import charter
from engine.catalogue import ServiceRow, ServiceUnitRow
from tests.conftest import WebClient
from tests.integration.test_sla_support import (
    COMMITMENTS,
    OTHER_UNIT_PERSON,
    OTHER_UNIT_POSITION,
    PERIOD_STEPS,
    REPORT_STEPS,
    UNIT_PERSON,
    SlaWalker,
)

pytestmark = pytest.mark.integration
# The engine with the charter effects, its people and the case walker.
pytest_plugins = ["tests.integration.test_sla_support"]

SCRIPT = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
ACTION = {"commitment_id": "C1", "action_type": "correctiva",
          "description": "Abrir dos ventanillas en hora pico.",
          "cause_addressed": "Personal insuficiente entre 10:00 y 12:00.",
          "responsible": "Coordinación de Centros de Atención", "deadline": "2026-06-30"}


@pytest.fixture
def engine(sla_engine):
    """The web app runs on the engine with the charter effects (SLA states change)."""
    return sla_engine


@pytest.fixture
def people(sla_people):
    """The demo people of every SLA lane, plus the heads of two units."""
    return sla_people


class OtherUnitWalker(SlaWalker):
    """A charter case of a service provided by another unit (its head does the unit's tasks)."""

    def person_for(self, role: str) -> str:
        return OTHER_UNIT_PERSON if role == "unidad" else super().person_for(role)


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader  # noqa: PLC0415 — only these tests read PDFs

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def _pdf_images(data: bytes) -> int:
    from pypdf import PdfReader  # noqa: PLC0415

    return sum(len(page.images) for page in PdfReader(io.BytesIO(data)).pages)


def _flat(text: str) -> str:
    """PDF tables wrap cells: compare text with its whitespace collapsed."""
    return re.sub(r"\s+", " ", text)


def _pdf(client: WebClient, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, url
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.data.startswith(b"%PDF")
    return response.data


def _observed(c1: float, c2: float = 12) -> list[dict[str, object]]:
    return [{"commitment_id": "C1", "observed": c1, "data_source": "sistema_gestion"},
            {"commitment_id": "C2", "observed": c2, "data_source": "registro_atencion"}]


def _at(year: int, month: int) -> datetime:
    """08:00 in Quito on the first of a month: when a period that ended the day before closes."""
    return datetime(year, month, 1, 13, 0, tzinfo=UTC)


def _name(sla: SlaWalker, role: str) -> str:
    return sla.engine.person(sla.person_for(role)).full_name


# -- §7.1 Plan de Publicación ----------------------------------------------------------------


def test_the_publication_plan_is_a_page_and_a_pdf_from_the_planning(sla, web):
    sla.start()
    client = web(sla.person_for("procesos"))
    number = sla.case.number
    assert client.get(f"/casos/{number}/plan-de-publicacion").status_code == 404

    typed = [{**COMMITMENTS[0], "commitment_text": f"Atención oportuna {SCRIPT} ñandú"},
             COMMITMENTS[1]]
    sla.do("pla_definir_ans", commitments=typed)
    sla.do("pla_planificar_publicacion")

    page = client.get(f"/casos/{number}/plan-de-publicacion").get_data(as_text=True)
    assert SCRIPT not in page and f"Atención oportuna {ESCAPED} ñandú" in page
    for expected in ("Plan de Publicación de los Acuerdos de Nivel de Servicio",
                     "IESS-DNP-2026-0012-PLAN", "06/02/2026",  # document, internal approval
                     "F1 · Oportunidad de la atención", "NC-DNSAC-DP-3", "0,96", "(mínimo)",
                     "15", "(máximo)", "Nacional, Provincial",  # traceability, scope labels
                     "Priorización del trámite y notificación del nuevo plazo.",
                     "Revisión técnica interna de los compromisos propuestos",  # stage label
                     "Dirección Nacional de Procesos", "09/03/2026", "20/03/2026",
                     "Etapas cumplidas a tiempo", "Trimestral", "Anual",  # frequency, review
                     "OLA1", "Compromisos consolidados con trazabilidad completa.",
                     _name(sla, "unidad"), _name(sla, "procesos")):
        assert expected in page, expected

    text = _pdf_text(_pdf(client, f"/casos/{number}/plan-de-publicacion.pdf"))
    flat = _flat(text)
    assert "Plan de Publicación de los Acuerdos de Nivel de Servicio" in flat
    for expected in (f"Atención oportuna {SCRIPT} ñandú", "IESS-DNP-2026-0012-PLAN",
                     "Revisión técnica interna", "Dirección Nacional de Procesos",
                     "09/03/2026", "Etapas cumplidas a tiempo", "Trimestral",
                     "Marta Pensiones", _name(sla, "procesos")):
        assert expected in flat, expected


# -- §7.2 Informe de postulación -------------------------------------------------------------


def test_the_application_report_has_sections_i_to_x_signed_by_whom_the_log_names(sla, web):
    sla.plan()
    client = web(sla.person_for("procesos"))
    number = sla.case.number
    assert client.get(f"/casos/{number}/informe-de-postulacion").status_code == 404

    sla.do("inf_recopilar_informacion")
    sla.do("inf_elaborar_informe", conclusions=f"Compromisos viables {SCRIPT}")
    sla.run("inf_revisar_informe", "inf_revision_final")
    sla.do("inf_aprobar_informe", report_approved=False, approval_observations="Completar.")
    sla.do("inf_elaborar_informe", conclusions=f"Compromisos viables y sostenibles {SCRIPT}",
           territorial_annex=True, territorial_annex_detail="Zonas 1 a 9.")
    draft = client.get(f"/casos/{number}/informe-de-postulacion").get_data(as_text=True)
    # The rejected version's approval counts for nothing: approval is still to come.
    approved_row = draft[draft.index("Aprobado por"):]
    assert "Pendiente" in approved_row[:approved_row.index("</tr>")]
    assert "En elaboración" in draft

    sla.run(*REPORT_STEPS[2:])
    page = client.get(f"/casos/{number}/informe-de-postulacion").get_data(as_text=True)
    assert SCRIPT not in page and f"Compromisos viables y sostenibles {ESCAPED}" in page
    headings = re.findall(r"<h2>(i|ii|iii|iv|v|vi|vii|viii|ix|x)\. ", page)
    assert headings == ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"]
    for expected in ("Informe de postulación para la publicación de los Acuerdos de Nivel de "
                     "Servicio en la Carta Institucional de Servicios",
                     "Instituto Ecuatoriano de Seguridad Social",
                     "IESS-DNP-2026-0034-I", "16/02/2026",
                     "Jubilación por vejez; proceso de concesión de pensiones.",
                     "Plan de Publicación aprobado.", "Zonas 1 a 9.", "Nacional",
                     "OLA1 entre centros de atención y Pensiones.", "Derivación en 1 día",
                     "Atendemos al menos el 96 % de los turnos", "Web y centros.", "Postular.",
                     "Publicado por el Ministerio del Trabajo"):
        assert expected in page, expected
    signatures = page[page.index("x. "):]
    for label, role, reference in (("Elaborado por", "procesos", "IESS-DNP-2026-0034-I"),
                                   ("Revisado por (unidad)", "unidad", ""),
                                   ("Aprobado por", "planificacion", "IESS-DNPL-2026-0050-M"),
                                   ("Remitido por", "maxima_autoridad", "IESS-DG-2026-0101-O")):
        row = signatures[signatures.index(label):]
        row = row[:row.index("</tr>")]
        assert _name(sla, role) in row and reference in row, (label, row)

    flat = _flat(_pdf_text(_pdf(client, f"/casos/{number}/informe-de-postulacion.pdf")))
    for expected in ("Informe de postulación para la publicación", "i. Número y fecha",
                     "iv. Análisis técnico", "vi. Acuerdo de Nivel de Servicio (SLA)",
                     "x. Firmas de responsabilidad", "IESS-DNP-2026-0034-I",
                     f"Compromisos viables y sostenibles {SCRIPT}", _name(sla, "planificacion"),
                     _name(sla, "maxima_autoridad"), "Marta Pensiones"):
        assert expected in flat, expected


# -- §7.3 Informe Técnico de Seguimiento -----------------------------------------------------


def test_the_follow_up_report_compares_classifies_and_charts_each_commitment(sla, clock, web):
    sla.publish()
    sla.fire_period_close(clock)
    sla.do("seg_recolectar_datos", observations=_observed(0.80))
    sla.run("seg_verificar_cumplimiento")
    sla.do("seg_identificar_desviaciones", deviation_analyses=[{
        "commitment_id": "C1", "cause_origin": "operativo_interno",
        "root_cause": f"Personal insuficiente {SCRIPT}", "ola_breach": True,
        "remediation_applied": True, "remediation_detail": "Atención preferente."}])
    sla.do("seg_elaborar_informe", followup_conclusions=f"C1 incumple {SCRIPT}")
    sla.do("seg_acciones_mejora", new_actions=[ACTION])
    client = web(sla.person_for("procesos"))
    number = sla.case.number
    pending = client.get(f"/casos/{number}/informe-de-seguimiento/1").get_data(as_text=True)
    assert "Propuesta, por aprobar" in pending  # the plan still waits for Planificación
    sla.run("seg_aprobar_plan", "seg_remitir_plan", "seg_revisar_vigencia")

    sla.fire_period_close(clock, _at(2026, 7))
    sla.do("seg_recolectar_datos", observations=[
        {**_observed(0.90)[0], "territorial_detail": "Zona 9 bajo el estándar."},
        _observed(0.90)[1]])
    sla.run("seg_verificar_cumplimiento", "seg_identificar_desviaciones", "seg_elaborar_informe")
    sla.do("seg_acciones_mejora", action_followup=[
        {"action_id": "AM-001", "status": "en_ejecucion", "progress_note": "50 % de avance."}])

    first = client.get(f"/casos/{number}/informe-de-seguimiento/1").get_data(as_text=True)
    assert SCRIPT not in first
    assert f"Personal insuficiente {ESCAPED}" in first and f"C1 incumple {ESCAPED}" in first
    c1 = first[first.index('data-commitment="C1" data-compliance="no_cumple"'):]
    c1 = c1[:c1.index("</tr>")]
    for expected in ("0,96", "0,8", "-0,16", "No cumple", "Moderada"):
        assert expected in c1, expected
    assert first.count("<svg") == 2  # one trend per commitment; one point is no control chart
    assert first.count('data-chart="control-missing"') == 2
    assert "se necesitan al menos dos períodos" in first
    action = first[first.index('data-action="AM-001"'):]
    assert "Pendiente" in action[:action.index("</tr>")]

    page = client.get(f"/casos/{number}/informe-de-seguimiento").get_data(as_text=True)
    assert 'data-period="2"' in page and "01/04/2026 – 30/06/2026" in page
    c1 = page[page.index('data-commitment="C1" data-compliance="cumplimiento_parcial"'):]
    c1 = c1[:c1.index("</tr>")]
    for expected in ("0,9", "-0,06", "Cumplimiento parcial", "Moderada", ">2<"):
        assert expected in c1, expected
    assert 'data-compliance="cumple"' in page
    assert page.count("<svg") == 4  # trend and control chart per commitment
    assert page.count('data-chart="trend"') == 2 and page.count('data-chart="control"') == 2
    at_risk = page[page.index('data-status="en_riesgo"'):]
    assert "C1 · Nivel de Servicio" in at_risk[:at_risk.index("</dd>")]
    stable = page[page.index('data-status="estable"'):]
    assert "C2 · Tiempo de resolución" in stable[:stable.index("</dd>")]
    action = page[page.index('data-action="AM-001"'):]
    action = action[:action.index("</tr>")]
    for expected in ("Coordinación de Centros de Atención", "30/06/2026", "En ejecución",
                     "50 % de avance.", "P1"):
        assert expected in action, expected
    assert _name(sla, "unidad") in page and _name(sla, "procesos") in page
    assert "Sistema de gestión" in page and "Zona 9 bajo el estándar." in page

    data = _pdf(client, f"/casos/{number}/informe-de-seguimiento/2.pdf")
    assert _pdf_images(data) == 4
    flat = _flat(_pdf_text(data))
    for expected in ("Informe Técnico de Seguimiento de la Carta de Servicios",
                     "1. Tabla comparativa", "Cumplimiento parcial", "Línea central",
                     "Períodos fuera de control", "AM-001", "En ejecución",
                     "Coordinación de Centros de Atención"):
        assert expected in flat, expected
    assert f"C1 incumple {SCRIPT}" in _flat(_pdf_text(
        _pdf(client, f"/casos/{number}/informe-de-seguimiento/1.pdf")))
    assert client.get(f"/casos/{number}/informe-de-seguimiento/3").status_code == 404


def test_the_control_chart_flags_a_period_outside_its_limits(sla, clock, web):
    sla.start()
    # Typed text reaches the charts' titles: it stays text (no markup, no $…$ mathematics).
    named = f"Nivel {SCRIPT} de 5 $ a 10 $"
    sla.do("pla_definir_ans", commitments=[{**COMMITMENTS[0], "indicator_name": named},
                                           COMMITMENTS[1]])
    sla.do("pla_planificar_publicacion", followup_frequency="mensual")
    sla.run(*REPORT_STEPS)
    values = [0.97, 0.98, 0.97, 0.98, 0.60]
    for month, value in zip(range(4, 9), values, strict=True):
        sla.fire_period_close(clock, _at(2026, month))
        sla.do("seg_recolectar_datos", observations=_observed(value))
        if month < 8:
            sla.run(*PERIOD_STEPS[1:])
    client = web(sla.person_for("procesos"))
    number = sla.case.number

    fourth = client.get(f"/casos/{number}/informe-de-seguimiento/4").get_data(as_text=True)
    assert 'data-outside=""' in fourth and 'class="flag"' not in fourth
    # Period 5 is still being analysed: its report is a draft, with its data and charts.
    page = client.get(f"/casos/{number}/informe-de-seguimiento").get_data(as_text=True)
    assert 'data-period="5"' in page and "Borrador" in page
    c1 = page[page.index('<section class="chart-pair" data-commitment="C1"'):]
    c1 = c1[:c1.index("</section>")]
    assert 'data-outside="P5"' in c1 and '<span class="flag">P5</span>' in c1
    assert "0,6" in page and "No cumple" in page
    assert SCRIPT not in page and f"Nivel {ESCAPED} de 5 $ a 10 $" in page
    c2 = page[page.index('<section class="chart-pair" data-commitment="C2"'):]
    assert 'data-outside=""' in c2[:c2.index("</section>")]  # a constant series stays in
    data = _pdf(client, f"/casos/{number}/informe-de-seguimiento/5.pdf")
    assert _pdf_images(data) == 4
    flat = _flat(_pdf_text(data))
    assert "Períodos fuera de control P5" in flat and named in flat


# -- the public Carta Institucional de Servicios ---------------------------------------------


def test_the_public_charter_lists_exactly_the_published_services_without_a_session(
        sla, clock, app, engine):
    # Published, then its commitment updated by a report started on its own (Actualizado).
    sla.publish()
    update = SlaWalker(sla.engine, sla.people)
    update.start("sla_report", proposed_commitments=[{**COMMITMENTS[0], "standard": 0.98}])
    update.run(*REPORT_STEPS)
    assert update.state() == "Actualizado"
    # Another unit's service, published and renewed.
    renewed = OtherUnitWalker(sla.engine, sla.people)
    renewed.start(service_code="prestamo-hipotecario", service_name="Préstamo hipotecario",
                  unit_code="5.3", unit_name="Dirección Nacional de Gestión Financiera",
                  unit_position=OTHER_UNIT_POSITION)
    renewed.run("pla_definir_ans", "pla_planificar_publicacion", *REPORT_STEPS)
    renewed.fire_period_close(clock)
    renewed.run(*PERIOD_STEPS[:-1])
    renewed.do("seg_revisar_vigencia", validity_decision="renovar",
               state_justification="Estable.")
    renewed.do("seg_resolucion_mdt")
    assert charter.current_state(engine, "prestamo-hipotecario") == "Renovado"
    # Planned only, and published then excluded: neither is on the charter.
    planned = SlaWalker(sla.engine, sla.people)
    planned.start(service_code="atencion-medica", service_name="Atención médica ambulatoria")
    planned.run("pla_definir_ans", "pla_planificar_publicacion")
    excluded = SlaWalker(sla.engine, sla.people)
    excluded.start(service_code="afiliacion-voluntaria", service_name="Afiliación voluntaria")
    excluded.run("pla_definir_ans", "pla_planificar_publicacion", *REPORT_STEPS)
    excluded.fire_period_close(clock, _at(2026, 7))
    excluded.run(*PERIOD_STEPS[:-1])
    excluded.do("seg_revisar_vigencia", validity_decision="excluir",
                exclusion_reason="servicio_no_se_presta", state_justification="Se transfiere.")
    excluded.do("seg_resolucion_mdt")
    assert charter.current_state(engine, "afiliacion-voluntaria") == "Excluido"
    # The portfolio names the responsible unit of one of them.
    with engine._writer.begin() as session:
        unit = ServiceUnitRow(number=3, name="Gestión de Créditos (Portafolio)",
                              description="Créditos a afiliados.", org_code=None)
        session.add(unit)
        session.flush()
        session.add(ServiceRow(code="prestamo-hipotecario", seq=1,
                               name="Préstamo hipotecario", description="Crédito para vivienda.",
                               responsible_unit_id=unit.id))

    anonymous = app.test_client()
    response = anonymous.get("/carta-de-servicios")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert set(re.findall(r'data-service="([^"]+)"', page)) == {
        "jubilacion-por-vejez", "prestamo-hipotecario"}
    for expected in ("Carta Institucional de Servicios", "Dirección del Sistema de Pensiones",
                     "Gestión de Créditos (Portafolio)", "Crédito para vivienda.",
                     "Jubilación por vejez", "Actualizado", "Renovado",
                     "Atendemos al menos el 96 % de los turnos dentro del tiempo ofrecido.",
                     "0,98 proporción (mínimo)", "15 días (máximo)",
                     "Resolvemos su solicitud de jubilación en 15 días como máximo."):
        assert expected in page, expected
    pensions = page[page.index('data-service="jubilacion-por-vejez"'):]
    pensions = pensions[:pensions.index("</section>")]
    # The update kept only C1, with its new standard.
    assert "0,98" in pensions and "0,96" not in pensions and "15 días" not in pensions
    for absent in ("Atención médica ambulatoria", "Afiliación voluntaria", "OLA1",
                   "Centros de atención registran", "Marta Pensiones", "Óscar Financiero",
                   _name(sla, "procesos"), _name(sla, "planificacion"), "SLA-2026-"):
        assert absent not in page, absent

    pdf = anonymous.get("/carta-de-servicios.pdf")
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    flat = _flat(_pdf_text(pdf.data))
    for expected in ("Carta Institucional de Servicios", "Jubilación por vejez",
                     "Préstamo hipotecario", "0,98 proporción (mínimo)",
                     "Gestión de Créditos (Portafolio)"):
        assert expected in flat, expected
    for absent in ("Atención médica ambulatoria", "Afiliación voluntaria", "Marta Pensiones"):
        assert absent not in flat, absent

    # The update's own report is titled as such and proposes the new standard.
    client = WebClient(app.test_client())
    assert client.login(update.person_for("procesos")).status_code == 302
    report = client.get(f"/casos/{update.case.number}/informe-de-postulacion")
    html = report.get_data(as_text=True)
    assert report.status_code == 200 and "para la actualización" in html and "0,98" in html


def test_the_charter_page_with_nothing_published_says_so(app):
    page = app.test_client().get("/carta-de-servicios").get_data(as_text=True)
    assert "Aún no hay servicios publicados" in page


# -- access and links ------------------------------------------------------------------------


def test_the_case_page_links_its_documents_and_outsiders_get_404(sla, clock, web, app):
    sla.publish()
    sla.fire_period_close(clock)
    sla.do("seg_recolectar_datos")
    number = sla.case.number
    urls = [f"/casos/{number}/plan-de-publicacion", f"/casos/{number}/informe-de-postulacion",
            f"/casos/{number}/informe-de-postulacion/1", f"/casos/{number}/informe-de-seguimiento",
            f"/casos/{number}/informe-de-seguimiento/1"]
    urls += [url + ".pdf" for url in urls]

    case_page = web(sla.person_for("procesos")).get(f"/casos/{number}").get_data(as_text=True)
    for url in urls:
        if url.endswith(("/1", "/1.pdf", "publicacion", "publicacion.pdf")):
            assert f'href="{url}"' in case_page, url
    for person in (sla.person_for("planificacion"), UNIT_PERSON):
        client = web(person)
        for url in urls:
            assert client.get(url).status_code == 200, (person, url)

    for outsider in (OTHER_UNIT_PERSON, sla.people["lider_seguridad"][0]):
        client = web(outsider)
        assert client.get(f"/casos/{number}").status_code == 404
        for url in urls:
            assert client.get(url).status_code == 404, (outsider, url)
    client = web(sla.person_for("procesos"))
    for url in (f"/casos/{number}/informe-de-postulacion/2", "/casos/SLA-2099-0001/"
                "plan-de-publicacion", f"/casos/{number}/informe-de-seguimiento/0.pdf"):
        assert client.get(url).status_code == 404, url
    anonymous = app.test_client().get(f"/casos/{number}/plan-de-publicacion")
    assert anonymous.status_code == 302 and "/entrar" in anonymous.headers["Location"]


def test_a_social_case_has_no_charter_documents(web, walker):
    walker.start()
    client = web(walker.coordinator)
    number = walker.case.number
    assert "Plan de Publicación" not in client.get(f"/casos/{number}").get_data(as_text=True)
    for url in (f"/casos/{number}/plan-de-publicacion",
                f"/casos/{number}/informe-de-seguimiento.pdf"):
        assert client.get(url).status_code == 404, url

