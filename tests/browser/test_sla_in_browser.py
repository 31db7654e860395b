"""One service of the IESS portfolio from its SLA definition to «Publicado» and through one
follow-up period that misses its commitment, through the pages only, by the people of each lane:
the Dirección Nacional de Procesos, the head of the unit that provides the service, Planificación,
the Dirección General and the Ministerio del Trabajo, each in their own browser."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import LiveServer, recent_day, sign_in, typed_date
from tests.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.browser

SEEDS = Path(os.environ.get("CAUCE_SEEDS_DIR", "/work/shared/seeds"))
PROCESS = "Planificación de la Publicación de Acuerdos de Nivel de Servicio"
# Who acts for each lane (engine/demo.py), and the head of the unit chosen for the service.
PROCESOS, PLANIFICACION, MAXIMA_AUTORIDAD, MDT = (
    "carmen.yepez", "gabriela.ortiz", "paola.vinueza", "daniela.cueva")
UNIT_HEAD, UNIT_HEAD_NAME = "marta.pensiones", "Marta Pensiones"
# The service, its unit (Art. 8 of the organic regulation) and the unit's responsible position.
SERVICE_CODE, SERVICE_NAME = "pension-por-jubilacion", "Pensión por jubilación"
UNIT_LABEL, UNIT_NAME = "3.1.6 Gestión del Sistema de Pensiones", "Gestión del Sistema de Pensiones"
UNIT_POSITION = "Director(a) del Sistema de Pensiones"
# An indicator of that unit (004), and one of another unit that its list must not offer.
INDICATOR = ("IE-DSP-NA-26", "Tiempo promedio de espera en la atención a las solicitudes de "
                             "jubilación por vejez")
OTHER_UNIT_INDICATOR = "NC-DNSAC-DP-3"
ACTION = "Reforzar el equipo de calificación de jubilaciones en las provincias con rezago."


@pytest.fixture(scope="module")
def charter_ready(live_server: LiveServer) -> LiveServer:
    """The organisation seeds imported and the unit's head registered in her position."""
    from engine.catalogue import import_seeds

    if not (SEEDS.is_dir() and all(any(SEEDS.glob(f"{n}_*.txt")) for n in ("001", "002", "004"))):
        pytest.skip(f"the organisation seeds are not in {SEEDS}")
    import_seeds(live_server.engine, SEEDS)
    live_server.engine.add_person(UNIT_HEAD, UNIT_HEAD_NAME, password=DEMO_PASSWORD,
                                  positions=(UNIT_POSITION,))
    return live_server


# -- moving around -------------------------------------------------------------------------------

def on_page(page: Page, heading: str) -> None:
    """Wait for a page by its main heading, and for its scripts (the pickers' behaviour)."""
    expect(page.get_by_role("heading", name=heading, exact=True, level=1)).to_be_visible()
    page.wait_for_load_state("domcontentloaded")


def open_task(page: Page, number: str, activity: str) -> None:
    """Open a case's task from the inbox (either list), unless completing one led here."""
    if not page.get_by_role("heading", name=activity, exact=True, level=1).count():
        page.goto("/bandeja")
        row = page.get_by_role("row").filter(has_text=number).filter(has_text=activity)
        row.get_by_role("link", name=activity, exact=True).click()
    on_page(page, activity)


def complete(page: Page, activity: str) -> None:
    """Press *Completar* and wait for the confirmation."""
    page.get_by_role("button", name="Completar").click()
    expect(page.get_by_role("status").filter(has_text=f"Tarea «{activity}» completada")
           ).to_be_visible()


def choose(scope: Page | Locator, question: str, answer: str) -> None:
    """Pick one answer of a question drawn as radios in a fieldset."""
    scope.get_by_role("group", name=question).get_by_role("radio", name=answer,
                                                          exact=True).check()


def tick(scope: Page | Locator, question: str, *answers: str) -> None:
    """Tick checkboxes of a multiple-answer question."""
    group = scope.get_by_role("group", name=question)
    for answer in answers:
        group.get_by_role("checkbox", name=answer, exact=True).check()


def add_row(page: Page, group_title: str) -> Locator:
    """Add a row to a repeatable group and return it."""
    group = page.get_by_role("group", name=group_title).first
    rows = group.locator(":scope > .rows > .group-row")
    count = rows.count()
    group.get_by_role("button", name="Agregar").last.click()
    expect(rows).to_have_count(count + 1)
    return rows.nth(count)


def labelled(scope: Page | Locator, label: str) -> Locator:
    """The field whose label starts with ``label`` (labels end with "(obligatorio)")."""
    return scope.get_by_label(re.compile("^" + re.escape(label)))


def fill(scope: Page | Locator, values: dict[str, str]) -> None:
    """Type into fields found by the start of their labels."""
    for label, value in values.items():
        labelled(scope, label).fill(value)


def today() -> str:
    """Today as typed in the forms."""
    return typed_date(recent_day())


# -- §7.1 planning -------------------------------------------------------------------------------

def register_service(page: Page) -> str:
    """The process office picks the service and its unit; names and position follow."""
    sign_in(page, PROCESOS)
    page.get_by_role("link", name=f"Nueva solicitud: {PROCESS}").click()
    on_page(page, "Registrar el servicio a postular")

    service = labelled(page, "Servicio (portafolio institucional)")
    service_name = labelled(page, "Nombre del servicio")
    service.select_option(label="Auxilio funeral")
    expect(service_name).to_have_value("Auxilio funeral")
    # A name filled in for the previous choice follows the new one.
    service.select_option(value=SERVICE_CODE)
    expect(service_name).to_have_value(SERVICE_NAME)

    labelled(page, "Unidad que presta el servicio").select_option(label=UNIT_LABEL)
    expect(labelled(page, "Nombre de la unidad")).to_have_value(UNIT_NAME)
    position = labelled(page, "Cargo responsable de la unidad")
    expect(position).to_have_value(UNIT_POSITION)
    expect(position).not_to_be_editable()
    labelled(page, "Año de la planificación").fill(str(recent_day().year))
    labelled(page, "Autoevaluación de procesos que sustenta la postulación").fill(
        "Autoevaluación 2025 de la Dirección Nacional de Procesos: nivel 4.")
    page.get_by_role("button", name="Registrar solicitud").click()

    registered = page.get_by_role("status").filter(has_text="registrado")
    expect(registered).to_have_text(re.compile(r"Caso SLA-\d{4}-\d{4} registrado\."))
    number = re.search(r"SLA-\d{4}-\d{4}", registered.inner_text())
    assert number is not None
    return number[0]


def define_sla(page: Page, number: str) -> None:
    """The unit's head defines a factor, an OLA, a requirement and a commitment."""
    sign_in(page, UNIT_HEAD)
    activity = "Definición de Acuerdos de Nivel de Servicio"
    open_task(page, number, activity)
    fill(page, {"Nivel de capacidad del proceso": "4",
                "Sustento del nivel de capacidad": "Proceso controlado con gráficos de control."})

    factor = add_row(page, "Factores clave de calidad")
    fill(factor, {"Código del factor": "F1", "Factor clave de calidad": "Oportunidad",
                  "Punto crítico del recorrido del usuario": "Calificación de la solicitud",
                  "Descripción de la evidencia": "Encuesta 2025 a 1.200 jubilados.",
                  "Impacto en la percepción del usuario": "La espera es la primera queja."})
    tick(factor, "Dimensiones de calidad", "Capacidad de respuesta")
    tick(factor, "Evidencia empírica utilizada", "Encuestas")

    ola = add_row(page, "Acuerdos de Nivel de Operación (OLA)")
    fill(ola, {"Código del OLA": "OLA1", "Factor clave que respalda": "F1",
               "Responsabilidades y roles": "Centros de atención reciben; Pensiones califica.",
               "Tiempos de respuesta internos": "Derivación en un día.",
               "Coordinación y flujo de información": "Reporte semanal.",
               "Recursos, soportes operativos": "Sistema de pensiones.",
               "Mecanismos de verificación": "Tablero semanal."})
    tick(ola, "Documentación institucional donde se integra", "Manual de procesos")

    requirement = add_row(page, "Requisitos operativos")
    fill(requirement, {"Factor clave de calidad (código)": "F1",
                       "Requisito operativo": "Calificar cada solicitud en la semana.",
                       "Dato, porcentaje, tiempo": "Menos de 15 días",
                       "Área responsable": "Dirección del Sistema de Pensiones",
                       "Frecuencia o plazo": "Semanal"})
    tick(requirement, "Atributos que cumple", *[
        "Claro: redactado de forma comprensible y precisa",
        "Medible: asociado a un dato, porcentaje, tiempo o condición verificable",
        "Asignable: tiene un área responsable de su ejecución",
        "Relevante: contribuye al cumplimiento del factor clave de calidad",
        "Temporal: incluye una frecuencia o plazo de cumplimiento"])

    commitment = add_row(page, "Compromisos de calidad")
    fill(commitment, {"Código del compromiso": "C1", "Factor clave de calidad (código)": "F1"})
    # The indicator comes from the list of the unit's indicators; its name follows.
    indicator = labelled(commitment, "Indicador (catálogo de indicadores)")
    offered = page.locator(f"datalist#{indicator.get_attribute('list')} option")
    expect(offered.and_(page.locator(f'[value="{INDICATOR[0]}"]'))).to_have_count(1)
    expect(offered.and_(page.locator(f'[value="{OTHER_UNIT_INDICATOR}"]'))).to_have_count(0)
    indicator.fill(INDICATOR[0])
    expect(labelled(commitment, "Nombre del indicador")).to_have_value(
        re.compile("^" + re.escape(INDICATOR[1])))
    choose(commitment, "Sentido del indicador", "Menor es mejor (p. ej. tiempo de espera)")
    fill(commitment, {"Estándar comprometido": "15", "Unidad de medida": "días",
                      "Compromiso de calidad (texto para el usuario)":
                          "Calificamos su jubilación en 15 días como máximo.",
                      "Medidas de subsanación": "Priorización del trámite y aviso al usuario."})
    tick(commitment, "Alcance territorial y operativo", "Nacional")
    complete(page, activity)


def plan_publication(page: Page, number: str) -> None:
    """The process office validates the commitments and formalises the plan."""
    activity = "Planificación de la Publicación"
    open_task(page, number, activity)
    choose(page, "¿Compromisos consolidados y validados?", "Sí, formalizar el Plan de Publicación")
    fill(page, {"Revisión de la trazabilidad": "Factor, indicador, estándar y compromiso.",
                "Compromisos validados (códigos)": "C1",
                "Indicadores de seguimiento al cumplimiento del plan": "Etapas a tiempo",
                "Documento del Plan de Publicación": "IESS-DNP-2026-0012-PLAN",
                "Fecha de aprobación interna del plan": today(),
                "Justificación técnica del estado Planificado": "Trazabilidad completa."})
    choose(page, "¿Revisados técnicamente por las unidades", "Sí")
    stage = add_row(page, "Cronograma de la publicación")
    labelled(stage, "Etapa").select_option(
        label="Revisión técnica interna de los compromisos propuestos")
    fill(stage, {"Responsable institucional de la etapa": "Dirección Nacional de Procesos",
                 "Inicio": today(), "Fin": typed_date(recent_day() + timedelta(days=10))})
    choose(page, "Periodicidad de revisión de OLA y SLA", "Anual")
    labelled(page, "Frecuencia del seguimiento").select_option(label="Trimestral")
    complete(page, activity)


# -- §7.2 technical report -----------------------------------------------------------------------

def prepare_report(page: Page, number: str) -> None:
    """The process office gathers the information and writes the report."""
    gather = "Recopilación de información"
    open_task(page, number, gather)
    row = add_row(page, "Matriz de control del servicio")
    fill(row, {"Compromiso (código)": "C1", "Factor clave de calidad": "Oportunidad"})
    labelled(row, "Indicador (catálogo)").fill(INDICATOR[0])
    fill(row, {"Estándar comprometido": "15", "Valor observado": "13"})
    choose(row, "¿Desempeño estable frente al estándar?", "Sí")
    tick(page, "Fuentes de información", "Sistema de gestión")
    fill(page, {"Percepción y satisfacción del usuario": "Satisfacción del 86 %."})
    for question in ("¿Los OLA existen, están vigentes y son coherentes?",
                     "¿Las condiciones de los OLA permiten cumplir los estándares?",
                     "¿Medidas de subsanación definidas y formalizadas?"):
        choose(page, question, "Sí")
    complete(page, gather)

    write = "Elaboración del informe"
    open_task(page, number, write)
    fill(page, {"i. Número del informe": "IESS-DNP-2026-0034-I", "i. Fecha de emisión": today(),
                "ii. Servicios, procesos": "Pensión por jubilación.",
                "iii. Antecedentes": "Plan de Publicación aprobado.",
                "iv. Análisis técnico": "Proceso estable en todas las provincias.",
                "v. Acuerdo de Nivel de Operación": "OLA1.",
                "vi. Acuerdo de Nivel de Servicio": "Compromiso C1.",
                "vii. Estrategia de difusión": "Web y centros de atención.",
                "viii. Conclusiones": "Compromiso viable.", "ix. Recomendaciones": "Postular."})
    tick(page, "iv. Cobertura territorial y operativa", "Nacional")
    choose(page, "¿Incluye anexo territorial?", "No")
    signature = add_row(page, "x. Firmas de responsabilidad")
    fill(signature, {"Nombre": "Carmen Yépez", "Cargo": "Directora Nacional de Procesos"})
    choose(signature, "Responsabilidad", "Elaborado por")
    complete(page, write)


def review_with_unit(page: Page, number: str) -> None:
    """The unit's head reviews the report with the process office: no observations."""
    activity = "Revisión del informe"
    open_task(page, number, activity)
    labelled(page, "Fecha de la sesión técnica de revisión").fill(today())
    choose(page, "¿Datos, indicadores y brechas consistentes?", "Sí")
    choose(page, "¿Cada compromiso tiene al menos un indicador?", "Sí")
    choose(page, "¿Hay observaciones por resolver?", "No, continuar a la revisión final")
    complete(page, activity)


def final_review(page: Page, number: str) -> None:
    """The process office finds the report meets the requirements."""
    activity = "Revisión final del informe"
    open_task(page, number, activity)
    labelled(page, "Fecha de la revisión final").fill(today())
    choose(page, "¿El informe cumple los requisitos?", "Sí, enviar a aprobación")
    complete(page, activity)


def approve_report(page: Page, number: str) -> None:
    """Planificación approves the report."""
    sign_in(page, PLANIFICACION)
    activity = "Aprobación del informe"
    open_task(page, number, activity)
    choose(page, "¿Se aprueba el informe técnico?", "Sí, aprobar")
    fill(page, {"Oficio, acta o resolución de aprobación": "IESS-DNPL-2026-0050-M",
                "Fecha de aprobación": today()})
    complete(page, activity)


def communicate_and_prepare(page: Page, number: str) -> None:
    """The process office communicates the approval and prepares the report for sending."""
    communicate = "Comunicación de la aprobación"
    open_task(page, number, communicate)
    fill(page, {"Fecha de la comunicación": today(),
                "Comunicación oficial (número)": "IESS-DNP-2026-0060-M",
                "Áreas informadas": "Dirección del Sistema de Pensiones",
                "Compromisos aprobados (códigos)": "C1",
                "Disposiciones para el monitoreo": "Seguimiento trimestral."})
    complete(page, communicate)

    prepare = "Preparación del informe para envío"
    open_task(page, number, prepare)
    tick(page, "Verificaciones realizadas", "Integridad del documento", "Foliación",
         "Firmas de responsabilidad", "Versión digital oficial")
    tick(page, "Anexos de respaldo", "Matrices de seguimiento", "Evidencias técnicas",
         "Cronogramas")
    labelled(page, "Número de fojas").fill("42")
    complete(page, prepare)


def remit_report(page: Page, number: str) -> None:
    """The Dirección General sends the report to the Ministerio."""
    sign_in(page, MAXIMA_AUTORIDAD)
    activity = "Remisión del informe"
    open_task(page, number, activity)
    fill(page, {"Oficio de remisión (número)": "IESS-DG-2026-0101-O",
                "Fecha de remisión": today(), "Suscrito por": "Director General",
                "Dirigido a": "Subsecretaría de Calidad del Servicio Público"})
    complete(page, activity)


def confirm_reception(page: Page, number: str) -> None:
    """The process office records the Ministerio's acknowledgement."""
    activity = "Confirmación de recepción"
    open_task(page, number, activity)
    fill(page, {"Fecha de recepción": today(),
                "Número de trámite o acuse de recibo": "MDT-SCSP-2026-1234-E"})
    complete(page, activity)


def publish(page: Page, number: str) -> None:
    """The Ministerio del Trabajo publishes the service."""
    sign_in(page, MDT)
    activity = "Control y publicación del Ministerio del Trabajo"
    open_task(page, number, activity)
    choose(page, "¿Se publica en la Carta Institucional de Servicios?", "Sí, publicar")
    fill(page, {"Oficio o resolución del Ministerio": "MDT-SCSP-2026-0777-O",
                "Fecha del control": today(),
                "Verificación de lineamientos": "Cumple la Norma Técnica.",
                "Justificación técnica de la decisión": "Compromiso medible; nivel 4.",
                "Referencia de la publicación": "Carta de Servicios IESS, ficha 12"})
    complete(page, activity)


def check_published(page: Page) -> None:
    """The services page shows the service «Publicado»."""
    page.goto("/servicios")
    row = page.locator(f'tr[data-service="{SERVICE_CODE}"]')
    expect(row).to_contain_text(SERVICE_NAME)
    expect(row.get_by_role("cell").last).to_have_text("Publicado")


# -- §7.3 one follow-up period -------------------------------------------------------------------

def close_first_period(server: LiveServer, number: str) -> date:
    """Advance the server's engine to just after the first period closes (the worker's job)."""
    data = server.engine.case(number, by=PROCESOS).data
    closes = datetime.fromisoformat(data["period_closes_at"])
    assert server.engine.fire_due_timers(now=closes + timedelta(minutes=1)) == 1
    return closes.date()


def collect_data(page: Page, number: str) -> None:
    """The unit's head reports a waiting time well above the 15-day standard."""
    activity = "Recolección y análisis de datos"
    page.goto("/bandeja")
    open_task(page, number, activity)
    row = add_row(page, "Matriz de seguimiento: valores observados")
    fill(row, {"Compromiso (código)": "C1", "Valor observado en el período": "22"})
    labelled(row, "Fuente").select_option(label="Sistema de gestión")
    tick(page, "Verificaciones de los datos", "Integridad", "Consistencia", "Completitud")
    fill(page, {"Tendencia histórica de los indicadores": "Rezago creciente desde febrero."})
    complete(page, activity)


def analyse_period(page: Page, number: str, period_end: date) -> None:
    """The process office verifies, analyses the deviation, reports and proposes an action."""
    verify = "Verificación del cumplimiento de compromisos"
    open_task(page, number, verify)
    choose(page, "¿Datos consistentes y completos?", "Sí, continuar")
    row = add_row(page, "Verificación por compromiso")
    labelled(row, "Compromiso (código)").fill("C1")
    choose(row, "¿Fórmula de la ficha técnica aplicada?", "Sí")
    choose(row, "¿Dentro de los límites de control?", "No")
    choose(row, "Tendencia", "Deterioro")
    fill(page, {"Análisis de la tendencia": "El tiempo de espera empeora."})
    complete(page, verify)

    deviations = "Identificación de desviaciones"
    open_task(page, number, deviations)
    row = add_row(page, "Análisis de las desviaciones")
    labelled(row, "Compromiso (código)").fill("C1")
    choose(row, "Origen de la desviación", "Factores operativos internos")
    labelled(row, "Causa raíz").fill("Personal insuficiente para calificar.")
    choose(row, "¿Se relaciona con un incumplimiento del OLA?", "Sí")
    choose(row, "¿Se aplicaron las medidas de subsanación?", "Sí")
    fill(page, {"Priorización de intervenciones": "C1 primero."})
    complete(page, deviations)

    report = "Elaboración del Informe Técnico de Seguimiento"
    open_task(page, number, report)
    fill(page, {"Número del informe": "IESS-DNP-2026-0200-I",
                "Fecha del informe": today(),  # done: not after today
                "Hallazgos clave": "C1 no cumple.", "Análisis de causas": "Personal insuficiente.",
                "Verificación de las medidas de subsanación": "Aplicadas.",
                "Conclusiones técnicas": "Compromiso en incumplimiento."})
    tick(page, "Contenido del informe", "Tablas comparativas estándar / valor observado")
    complete(page, report)

    actions = "Formulación y seguimiento de acciones de mejora"
    open_task(page, number, actions)
    row = add_row(page, "Nuevas acciones")
    labelled(row, "Compromiso (código)").fill("C1")
    choose(row, "Tipo de acción", "Correctiva")
    fill(row, {"Acción": ACTION, "Causa que atiende": "Personal insuficiente.",
               "Responsable institucional": "Dirección del Sistema de Pensiones",
               "Plazo": typed_date(period_end + timedelta(days=90))})
    complete(page, actions)


def approve_and_remit_plan(planning: Page, authority: Page, number: str,
                           period_end: date) -> None:
    """Planificación approves the action plan; the Dirección General sends it on."""
    approve = "Aprobación del plan de acciones correctivas y de mejora"
    planning.goto("/bandeja")
    open_task(planning, number, approve)
    choose(planning, "¿Se aprueba el plan de acciones?", "Sí, aprobar")
    fill(planning, {"Documento de aprobación": "IESS-DNPL-2026-0300",
                    "Fecha de aprobación": today()})
    complete(planning, approve)

    remit = "Remisión del plan de acciones al Ministerio del Trabajo"
    authority.goto("/bandeja")
    open_task(authority, number, remit)
    fill(authority, {"Oficio de remisión (número)": "IESS-DG-2026-0310-O",
                     "Fecha de remisión": today()})
    complete(authority, remit)


def keep_in_force(page: Page, number: str) -> None:
    """The process office keeps the SLA in force for the next period."""
    activity = "Revisión de vigencia del Acuerdo de Nivel de Servicio"
    page.goto("/bandeja")
    open_task(page, number, activity)
    choose(page, "Decisión", "Mantener vigente (siguiente período)")
    complete(page, activity)


def check_action_on_case(page: Page, number: str) -> None:
    """The case page: waiting for the next period, the improvement action in its data."""
    page.goto(f"/casos/{number}")
    expect(page.locator("dd[data-status]")).to_have_text(re.compile(r"^\s*En curso"))
    expect(page.get_by_role("region", name="Tareas abiertas")).to_contain_text("Ninguna.")
    data = page.get_by_role("region", name="Datos del caso")
    expect(data).to_contain_text("AM-001")
    expect(data).to_contain_text(ACTION)
    expect(data).to_contain_text(SERVICE_NAME)
    timeline = page.get_by_role("region", name="Historial").get_by_role("listitem")
    expect(timeline.filter(has_text="Completó la tarea «Definición de Acuerdos de Nivel")
           ).to_contain_text(UNIT_HEAD_NAME)
    expect(timeline.filter(has_text="Se cumplió un plazo")).to_have_count(1)


@pytest.fixture
def people_pages(new_page: Any) -> Iterator[dict[str, Page]]:
    """One browser page per lane's person."""
    yield {who: new_page() for who in ("procesos", "unidad", "planificacion", "autoridad",
                                       "mdt")}


def test_a_service_is_published_and_followed_for_one_period_through_the_pages(
        charter_ready: LiveServer, people_pages: dict[str, Page]) -> None:
    procesos, unit, planning = (people_pages["procesos"], people_pages["unidad"],
                                people_pages["planificacion"])
    authority, ministry = people_pages["autoridad"], people_pages["mdt"]

    number = register_service(procesos)
    define_sla(unit, number)
    plan_publication(procesos, number)
    prepare_report(procesos, number)
    review_with_unit(unit, number)
    final_review(procesos, number)
    approve_report(planning, number)
    communicate_and_prepare(procesos, number)
    remit_report(authority, number)
    confirm_reception(procesos, number)
    publish(ministry, number)
    check_published(procesos)

    period_end = close_first_period(charter_ready, number)
    collect_data(unit, number)
    analyse_period(procesos, number, period_end)
    approve_and_remit_plan(planning, authority, number, period_end)
    keep_in_force(procesos, number)
    check_action_on_case(procesos, number)
