"""One social case from request to archive, through the pages only, by the three people who
work it: the Coordinadora (Lucía Andrade), the Líder (Ana Guamán) and the Trabajadora Social
(Sofía Naranjo), each in her own browser."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import (
    COORDINATOR,
    LEADER,
    NAMES,
    SOCIAL_WORKER,
    recent_day,
    sign_in,
    typed_date,
)

pytestmark = pytest.mark.browser

PROCESS = "Atención y Seguimiento de Casos Sociales"
DIAGNOSIS = "Sobrecarga de cuidado y vulnerabilidad económica del hogar."
STRATEGIES = ["Acompañamiento familiar quincenal", "Coordinación con la jefatura de la unidad"]
# Every activity of the support branch, in the order the case takes them.
SUPPORT_PATH = ["recibir_solicitud", "reasignar_solicitud", "analizar_solicitud",
                "realizar_entrevista", "emitir_diagnostico", "validar_informe",
                "remitir_informe", "solicitar_apoyo", "generar_respuesta",
                "generar_expediente", "archivar_expediente"]

# Who completes each activity, by name as the timeline shows it.
COMPLETED_BY = [
    ("Recibir la solicitud de intervención", COORDINATOR),
    ("Recibir y reasignar la solicitud de intervención", LEADER),
    ("Analizar la solicitud de intervención", SOCIAL_WORKER),
    ("Realizar entrevista o visita domiciliaria", SOCIAL_WORKER),
    ("Emitir diagnóstico de caso social y elaborar el Informe Técnico de Trabajo Social",
     SOCIAL_WORKER),
    ("Revisar y validar el Informe Técnico de Trabajo Social", LEADER),
    ("Remitir el Informe Técnico de Trabajo Social validado", LEADER),
    ("Solicitar apoyo", SOCIAL_WORKER),
    ("Generar documento de respuesta con el Informe Técnico de Trabajo Social", COORDINATOR),
    ("Generar un Expediente con el Informe Técnico de Trabajo Social", SOCIAL_WORKER),
    ("Archivar Expediente e Informe Técnico de Trabajo Social", SOCIAL_WORKER),
]


# -- how a person moves around -----------------------------------------------------------------

def inbox_list(page: Page, title: str) -> Locator:
    """One of the two lists of the inbox, found by its heading."""
    return page.get_by_role("region", name=re.compile(rf"^{title}\b"))


def task_row(page: Page, list_title: str, case_number: str, activity: str) -> Locator:
    """The inbox row of one case's activity in one list."""
    return (inbox_list(page, list_title).get_by_role("row")
            .filter(has_text=case_number).filter(has_text=activity))


def open_my_task(page: Page, case_number: str, activity: str) -> None:
    """From the inbox, open a task of *Mis tareas* with its *Atender* button."""
    page.goto("/bandeja")
    task_row(page, "Mis tareas", case_number, activity).get_by_role("link", name="Atender").click()
    expect(page.get_by_role("heading", name=activity, level=1)).to_be_visible()


def claim_and_open(page: Page, case_number: str, activity: str) -> None:
    """Take a task from *Disponibles para mi rol*, then open it from *Mis tareas*."""
    page.goto("/bandeja")
    task_row(page, "Disponibles para mi rol", case_number, activity).get_by_role(
        "button", name="Tomar").click()
    expect(page.get_by_role("status").filter(has_text="Tomó la tarea")).to_contain_text(
        case_number)
    expect(task_row(page, "Disponibles para mi rol", case_number, activity)).to_have_count(0)
    open_my_task(page, case_number, activity)


def open_or_claim(page: Page, number: str, activity: str) -> None:
    """Open a task that is either already this person's or waiting for her role."""
    if page.get_by_role("heading", name=activity, level=1).count():
        return  # completing the previous task brought her here
    page.goto("/bandeja")
    available = task_row(page, "Disponibles para mi rol", number, activity)
    mine = task_row(page, "Mis tareas", number, activity)
    expect(available.or_(mine)).to_be_visible()
    if available.count():
        claim_and_open(page, number, activity)
    else:
        open_my_task(page, number, activity)


def complete(page: Page, activity: str) -> None:
    """Press *Completar* and wait for the confirmation."""
    page.get_by_role("button", name="Completar").click()
    expect(page.get_by_role("status").filter(has_text=f"Tarea «{activity}» completada")
           ).to_be_visible()


def choose(page: Page | Locator, question: str, answer: str) -> None:
    """Pick one answer of a yes/no or multiple-choice question (radios in a fieldset)."""
    page.get_by_role("group", name=question).get_by_role("radio", name=answer, exact=True).check()


def expect_on(page: Page, activity: str) -> None:
    """The page shows the form of ``activity`` (after a redirect to the next own task)."""
    expect(page.get_by_role("heading", name=activity, level=1)).to_be_visible()


# -- the walk ------------------------------------------------------------------------------------

def register_request(page: Page) -> str:
    """Activity 1 by the Coordinadora: a first attempt with errors, then the fixed one."""
    sign_in(page, COORDINATOR)
    page.get_by_role("link", name=f"Nueva solicitud: {PROCESS}").click()
    expect(page.get_by_role("heading", name="Solicitud de intervención")).to_be_visible()

    year = recent_day().year
    page.get_by_label("Fecha de recepción de la solicitud").fill(f"31/02/{year}")
    choose(page, "¿Quién solicita la intervención?", "Un familiar del servidor")
    page.get_by_label("Nombre de quien solicita").fill("Rosa Chicaiza")
    # "Relación con el servidor" is required for a relative: left empty on purpose.
    page.get_by_label("Cédula de quien solicita").fill("1712345678")
    page.get_by_label("Servidor/a legislativo/a a quien se atiende").fill("Kevin Chicaiza")
    page.get_by_label("Unidad o área donde trabaja").fill("Dirección de Comunicación")
    choose(page, "Forma de la solicitud", "Informal")
    choose(page, "Medio de la solicitud", "Verbal")
    page.get_by_label("Resumen de la situación").fill(
        "El servidor atraviesa una situación familiar que afecta su trabajo.")
    page.get_by_role("button", name="Registrar solicitud").click()

    # The page comes back with each message beside its field and everything typed kept.
    expect(page.get_by_role("alert")).to_contain_text("Revise los campos marcados")
    date_input = page.get_by_label("Fecha de recepción de la solicitud")
    expect(date_input).to_have_value(f"31/02/{year}")
    expect(date_input).to_have_attribute("aria-invalid", "true")
    expect(date_input).to_have_accessible_description(
        re.compile(r"Fecha no válida \(use dd/mm/aaaa\)$"))
    relationship = page.get_by_label("Relación con el servidor")
    expect(relationship).to_have_accessible_description(
        re.compile(r"Este campo es obligatorio$"))
    expect(page.locator(".field-error")).to_have_count(2)
    expect(page.get_by_role("radio", name="Un familiar del servidor")).to_be_checked()
    expect(page.get_by_label("Nombre de quien solicita")).to_have_value("Rosa Chicaiza")
    expect(page.get_by_label("Cédula de quien solicita")).to_have_value("1712345678")
    expect(page.get_by_label("Servidor/a legislativo/a a quien se atiende")).to_have_value(
        "Kevin Chicaiza")
    expect(page.get_by_role("radio", name="Informal")).to_be_checked()
    expect(page.get_by_role("radio", name="Verbal")).to_be_checked()
    expect(page.get_by_label("Resumen de la situación")).to_have_value(
        "El servidor atraviesa una situación familiar que afecta su trabajo.")

    # Corrected: a recent date keeps the 15-working-day deadline ahead.
    date_input.fill(typed_date(recent_day(1)))
    relationship.fill("Madre")
    page.get_by_role("button", name="Registrar solicitud").click()
    registered = page.get_by_role("status").filter(has_text="registrado")
    expect(registered).to_have_text(re.compile(r"Caso CS-\d{4}-\d{4} registrado\."))
    number = re.search(r"CS-\d{4}-\d{4}", registered.inner_text())
    assert number is not None
    expect(page.get_by_role("heading", name=f"Caso {number[0]}", level=1)).to_be_visible()
    expect(page.locator("dd[data-status]")).to_have_text(re.compile(r"^\s*En curso"))
    return number[0]


def reassign_to_social_worker(page: Page, number: str) -> None:
    """Activity 2 by the Líder: take it from the role's list, accept it, pick the social worker."""
    sign_in(page, LEADER)
    activity = "Recibir y reasignar la solicitud de intervención"
    claim_and_open(page, number, activity)
    expect(page.get_by_text("Tomada por Ana Guamán")).to_be_visible()
    # The deadline of rule 6.3 f) is on the task, with its state in words.
    expect(page.locator(".meta .badge")).to_have_text("A tiempo")
    choose(page, "¿Procede como caso social?", "Sí, procede")
    expect(page.get_by_label("Derivar a")).to_be_hidden()
    page.get_by_label("Análisis de pertinencia").fill("Situación familiar con impacto laboral.")
    page.get_by_label("Trabajador/a social asignado/a").select_option(label=NAMES[SOCIAL_WORKER])
    complete(page, activity)
    expect(page.get_by_role("heading", name="Bandeja de tareas", level=1)).to_be_visible()


def investigate_and_diagnose(page: Page, number: str) -> None:
    """Activities 3, 4 and 5 by the Trabajadora Social, one after the other."""
    sign_in(page, SOCIAL_WORKER)
    analysis = "Analizar la solicitud de intervención"
    expect(task_row(page, "Mis tareas", number, analysis)).to_be_visible()
    open_my_task(page, number, analysis)
    page.get_by_label("Análisis de la solicitud").fill("Requiere entrevista y visita.")
    choose(page, "Acción determinada", "Entrevista y visita domiciliaria")
    complete(page, analysis)

    interview = "Realizar entrevista o visita domiciliaria"
    expect_on(page, interview)  # the next task is hers: she lands on it
    interviews = page.get_by_role("group", name="Entrevistas realizadas")
    interviews.get_by_role("button", name="Agregar").click()
    row = interviews.locator(".rows .group-row")
    expect(row).to_have_count(1)
    row.get_by_label("A quién").select_option(label="Requirente")
    row.get_by_label("Nombre").fill("Rosa Chicaiza")
    row.get_by_label("Fecha").fill(typed_date(recent_day()))
    row.get_by_label("Resumen de la entrevista").fill("Relata la situación del hogar.")
    visit_date = page.get_by_label("Fecha de la visita domiciliaria")
    expect(visit_date).to_be_hidden()
    choose(page, "¿Se realizó visita domiciliaria?", "Sí")
    visit_date.fill(typed_date(recent_day()))
    page.get_by_label("Situación socio-familiar observada").fill("Vivienda con hacinamiento.")
    choose(page, "¿Se realizó visita institucional?", "No")
    page.get_by_label("Hallazgos de la investigación").fill(
        "Situación de vulnerabilidad económica.")
    complete(page, interview)

    diagnosis = ("Emitir diagnóstico de caso social y elaborar el Informe Técnico de Trabajo "
                 "Social")
    expect_on(page, diagnosis)
    page.get_by_label("Fecha del informe").fill(typed_date(recent_day()))
    page.get_by_label("Antecedentes").fill("Solicitud verbal de la madre del servidor.")
    page.get_by_label("Diagnóstico social").fill(DIAGNOSIS)
    # Half done: she saves a draft, leaves, and finds it again.
    page.get_by_role("button", name="Guardar borrador").click()
    expect(page.get_by_role("status").filter(has_text="Borrador guardado")).to_be_visible()
    open_my_task(page, number, diagnosis)
    expect(page.get_by_text("Se muestra su borrador guardado.")).to_be_visible()
    expect(page.get_by_label("Fecha del informe")).to_have_value(typed_date(recent_day()))
    expect(page.get_by_label("Diagnóstico social")).to_have_value(DIAGNOSIS)
    page.get_by_label("Estrategias de intervención").fill("\n".join(STRATEGIES))
    page.get_by_label("Conclusiones").fill("Caso social confirmado.")
    page.get_by_label("Recomendaciones").fill("Seguimiento mensual.")
    complete(page, diagnosis)


def validate_with_support(page: Page, number: str) -> None:
    """Activities 6 and 7 by the Líder: the report is valid and the case needs support."""
    validation = "Revisar y validar el Informe Técnico de Trabajo Social"
    open_or_claim(page, number, validation)
    choose(page, "¿El Informe Técnico queda validado?", "Sí, validado")
    choose(page, "¿Requiere apoyo el caso?", "Sí")
    complete(page, validation)

    remit = "Remitir el Informe Técnico de Trabajo Social validado"
    open_or_claim(page, number, remit)
    page.get_by_label("Fecha de envío").fill(typed_date(recent_day()))
    page.get_by_label("Número de memorando").fill("AN-CGTH-2026-0101-M")
    page.get_by_label("Destinatario").fill("Coordinación General de Talento Humano")
    complete(page, remit)


def request_support(page: Page, number: str) -> None:
    """Activity 8 by the Trabajadora Social."""
    activity = "Solicitar apoyo"
    open_or_claim(page, number, activity)
    supports = page.get_by_role("group", name="Apoyos solicitados")
    supports.get_by_role("button", name="Agregar").click()
    row = supports.locator(".rows .group-row")
    row.get_by_label("A quién").select_option(label="Autoridades")
    row.get_by_label("Persona o instancia").fill("Dirección de la unidad")
    row.get_by_label("Apoyo solicitado").fill("Flexibilidad horaria temporal")
    row.get_by_label("Fecha").fill(typed_date(recent_day()))
    complete(page, activity)


def answer_requester(page: Page, number: str) -> None:
    """Activity 9 by the Coordinadora."""
    activity = "Generar documento de respuesta con el Informe Técnico de Trabajo Social"
    open_or_claim(page, number, activity)
    choose(page, "Destinatario", "Familiar")
    page.get_by_label("Nombre del destinatario").fill("Rosa Chicaiza")
    page.get_by_label("Número del documento de respuesta").fill("AN-CGTH-2026-0150-O")
    page.get_by_label("Fecha del documento").fill(typed_date(recent_day()))
    complete(page, activity)


def file_and_archive(page: Page, number: str) -> None:
    """Activities 10 and 11 by the Trabajadora Social."""
    case_file = "Generar un Expediente con el Informe Técnico de Trabajo Social"
    open_or_claim(page, number, case_file)
    contents = page.get_by_role("group", name="Contenido del expediente")
    for item in ("Solicitud de intervención", "Informe Técnico de Trabajo Social",
                 "Documento de respuesta"):
        contents.get_by_role("checkbox", name=item).check()
    complete(page, case_file)

    archive = "Archivar Expediente e Informe Técnico de Trabajo Social"
    open_or_claim(page, number, archive)
    expect(page.get_by_text("Se asigna automáticamente al completar.")).to_be_visible()
    page.get_by_label("Fecha de archivo").fill(typed_date(recent_day()))
    page.get_by_label("Ubicación digital").fill("Alfresco/TrabajoSocial/2026")
    page.get_by_label("Ubicación física").fill("Archivo TS, estante 3")
    complete(page, archive)


def check_closed_case(page: Page, number: str) -> None:
    """The case page: closed with its outcome, everyone in the timeline, the diagram marked."""
    page.goto(f"/casos/{number}")
    expect(page.locator("dd[data-status]")).to_have_text(
        re.compile(r"^\s*Cerrado: Expediente archivado\s*$"))
    expect(page.get_by_role("region", name="Tareas abiertas")).to_contain_text("Ninguna.")
    timeline = page.get_by_role("region", name="Historial").get_by_role("listitem")
    expect(timeline.filter(has_text="Inició el caso")).to_contain_text(NAMES[COORDINATOR])
    for activity, username in COMPLETED_BY:
        # A review reads as its decision (issue 10, 2.3), the rest as a completed task.
        verb = ("Validó el informe" if activity.startswith("Revisar y validar")
                else "Completó la tarea")
        expect(timeline.filter(has_text=f"{verb} «{activity}»")).to_contain_text(
            NAMES[username])
    claimed = timeline.filter(has_text="Tomó la tarea «Recibir y reasignar")
    expect(claimed).to_contain_text(NAMES[LEADER])
    # People see the role as the procedure names it, not its code.
    expect(claimed).to_contain_text("(Líder/Responsable de Seguridad e Higiene Laboral)")
    expect(timeline.filter(has_text="Caso cerrado")).to_contain_text("Expediente archivado")
    data = page.get_by_role("region", name="Datos del caso")
    expect(data).to_contain_text(DIAGNOSIS)

    diagram = page.locator('#diagram[data-ready="true"]')
    expect(diagram).to_be_visible()
    for activity in SUPPORT_PATH:
        expect(diagram.locator(f'.djs-element[data-element-id="{activity}"]')).to_have_class(
            re.compile(r"\bcauce-done\b"))
    # Not on this case's path: neither done nor active.
    for activity in ("atender_vencimiento",):
        expect(diagram.locator(f'.djs-element[data-element-id="{activity}"]')).not_to_have_class(
            re.compile(r"\bcauce-(done|active)\b"))
    expect(diagram.locator(".cauce-active")).to_have_count(0)


def check_report(page: Page, number: str) -> None:
    """The Informe Técnico page shows the diagnosis; its PDF is a PDF."""
    page.goto(f"/casos/{number}")
    page.get_by_role("link", name="Informe Técnico", exact=True).click()
    expect(page.get_by_role("heading", name="Informe Técnico de Trabajo Social",
                            level=1)).to_be_visible()
    expect(page.get_by_text(DIAGNOSIS)).to_be_visible()
    for strategy in STRATEGIES:
        expect(page.get_by_role("listitem").filter(has_text=strategy)).to_be_visible()
    expect(page.locator("article.report header")).to_contain_text("Validado")
    pdf_link = page.get_by_role("link", name="Descargar PDF")
    response = page.request.get(pdf_link.get_attribute("href") or "")
    try:
        assert response.ok
        assert response.headers["content-type"] == "application/pdf"
        assert response.body().startswith(b"%PDF-")
    finally:
        response.dispose()


def check_english(page: Page, number: str) -> None:
    """Switch to English once: the interface's own words change, then back to Spanish."""
    page.goto("/bandeja")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Task inbox", level=1)).to_be_visible()
    expect(page.get_by_role("region", name=re.compile(r"^My tasks"))).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(f"/casos/{number}")
    expect(page.locator("dd[data-status]")).to_have_text(re.compile(r"^\s*Closed"))
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    page.get_by_role("link", name="Español").click()
    expect(page.get_by_role("heading", name="Historial")).to_be_visible()


def test_a_social_case_from_request_to_archive_through_the_pages(new_page: Any) -> None:
    coordinator, leader, social_worker = new_page(), new_page(), new_page()

    number = register_request(coordinator)
    reassign_to_social_worker(leader, number)
    investigate_and_diagnose(social_worker, number)
    validate_with_support(leader, number)
    request_support(social_worker, number)
    answer_requester(coordinator, number)
    file_and_archive(social_worker, number)

    check_closed_case(leader, number)
    check_report(social_worker, number)
    check_english(coordinator, number)
