"""Shared fixtures for the SLA procedure tests: an engine with the charter effects, the people of
every lane (and of the chosen unit), valid form data per activity, and a walker that drives one
service's case. No tests here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine import CaseView, Engine, ProcessLibrary, charter
from engine.demo import seed_demo_people
from engine.directory import normalise_title
from tests.conftest import DEMO_PASSWORD, FAST_HASHER, FakeClock, OpenTasks

# The unit that provides the service in these tests, and another unit that does not.
UNIT_POSITION = normalise_title("Director (a) del Sistema de Pensiones")
OTHER_UNIT_POSITION = normalise_title("Director (a) Nacional de Gestión Financiera")
UNIT_PERSON = "marta.pensiones"
OTHER_UNIT_PERSON = "oscar.financiero"
SERVICE = "jubilacion-por-vejez"

COMMITMENTS = [
    {"commitment_id": "C1", "factor_id": "F1", "indicator_code": "NC-DNSAC-DP-3",
     "indicator_name": "Nivel de Servicio en los Centros de Atención al Ciudadano",
     "polarity": "mayor_mejor", "standard": 0.96, "unit_of_measure": "proporción",
     "commitment_text": "Atendemos al menos el 96 % de los turnos dentro del tiempo ofrecido.",
     "territorial_scope": ["nacional"],
     "remediation_measures": "Atención preferente y llamada de disculpa al usuario afectado."},
    {"commitment_id": "C2", "factor_id": "F2", "indicator_code": "IE-DNPR-NA-35",
     "indicator_name": "Tiempo de resolución de la solicitud",
     "polarity": "menor_mejor", "standard": 15, "unit_of_measure": "días",
     "commitment_text": "Resolvemos su solicitud de jubilación en 15 días como máximo.",
     "territorial_scope": ["nacional", "provincial"],
     "remediation_measures": "Priorización del trámite y notificación del nuevo plazo."},
]

SERVICE_DATA = {
    "service_code": SERVICE, "service_name": "Jubilación por vejez", "unit_code": "5.2.5",
    "unit_name": "Dirección del Sistema de Pensiones", "unit_position": UNIT_POSITION,
}

# Dates of things already done lie on or before the clock's day when the step runs (2 March
# 2026 until the Ministry publishes, 1 April once the first period closes); plans may be later.
FORMS: dict[str, dict[str, Any]] = {
    "pla_registrar_servicio": {**SERVICE_DATA, "plan_year": 2026},
    "pla_definir_ans": {
        "capability_level": 4,
        "capability_evidence": "Autoevaluación 2025: proceso controlado con gráficos de control.",
        "quality_factors": [
            {"factor_id": "F1", "name": "Oportunidad de la atención",
             "critical_point": "Espera en el centro de atención",
             "dimensions": ["capacidad_respuesta", "accesibilidad"],
             "evidence_types": ["encuestas", "control_estadistico"],
             "evidence": "Encuesta 2025 (n=1.200) y control estadístico del turnero.",
             "user_impact": "La espera es la primera causa de insatisfacción."},
            {"factor_id": "F2", "name": "Fiabilidad del trámite",
             "critical_point": "Resolución de la solicitud",
             "dimensions": ["fiabilidad"], "evidence_types": ["analisis_procesos"],
             "evidence": "Análisis del proceso de jubilación.",
             "user_impact": "Los usuarios esperan certeza del plazo."}],
        "olas": [{"ola_id": "OLA1", "factor_id": "F1",
                  "roles": "Centros de atención registran; Pensiones resuelve.",
                  "internal_times": "Derivación en 1 día; control semanal.",
                  "coordination": "Reporte semanal del sistema de turnos.",
                  "resources": "Personal de ventanilla y sistema de turnos.",
                  "verification": "Tablero semanal de cumplimiento.",
                  "instruments": ["manual_procesos"]}],
        "operational_requirements": [
            {"factor_id": "F1", "requirement": "Abrir ventanillas adicionales en hora pico.",
             "metric": "Espera menor a 15 minutos", "responsible_area": "Centros de atención",
             "frequency": "Diaria",
             "attributes": ["claro", "medible", "asignable", "relevante", "temporal"]}],
        "commitments": COMMITMENTS,
    },
    "pla_planificar_publicacion": {
        "commitments_validated": True,
        "traceability_review": "Cada factor tiene indicador, estándar y compromiso.",
        "reviewed_by_units": True, "validated_commitment_ids": ["C1", "C2"],
        "schedule": [
            {"stage": "revision_tecnica", "responsible": "Dirección Nacional de Procesos",
             "start_date": "2026-03-09", "end_date": "2026-03-20"},
            {"stage": "remision_mdt", "responsible": "Dirección General",
             "start_date": "2026-04-01", "end_date": "2026-04-10"}],
        "plan_indicators": ["Etapas cumplidas a tiempo"],
        "ola_sla_review_periodicity": "anual", "followup_frequency": "trimestral",
        "plan_document": "IESS-DNP-2026-0012-PLAN", "plan_approved_date": "2026-02-06",
        "state_justification": "Compromisos consolidados con trazabilidad completa.",
    },
    "inf_recopilar_informacion": {
        "control_matrix": [
            {"commitment_id": "C1", "key_factor": "Oportunidad", "indicator_code": "NC-DNSAC-DP-3",
             "standard": 0.96, "observed": 0.97, "stable": True},
            {"commitment_id": "C2", "key_factor": "Fiabilidad", "indicator_code": "IE-DNPR-NA-35",
             "standard": 15, "observed": 13, "stable": True}],
        "information_sources": ["sistema_gestion", "encuesta_satisfaccion"],
        "user_perception_analysis": "Satisfacción 86 %; quejas por espera en baja.",
        "ola_current": True, "ola_supports_standards": True, "remediation_formalized": True,
    },
    "inf_elaborar_informe": {
        "report_number": "IESS-DNP-2026-0034-I", "report_date": "2026-02-16",
        "services_processes": "Jubilación por vejez; proceso de concesión de pensiones.",
        "background": "Plan de Publicación aprobado.",
        "technical_analysis": "El proceso es estable en todas las unidades prestadoras.",
        "territorial_coverage": ["nacional"], "territorial_annex": False,
        "ola_section": "OLA1 entre centros de atención y Pensiones.",
        "sla_section": "Compromisos C1 y C2.", "dissemination_strategy": "Web y centros.",
        "conclusions": "Compromisos viables.", "recommendations": "Postular.",
        "signatures": [{"name": "Ana Pérez", "position": "Analista de Procesos",
                        "role": "elaborado"}],
    },
    "inf_revisar_informe": {"review_session_date": "2026-02-18", "review_data_consistent": True,
                            "every_commitment_has_indicator": True,
                            "review_has_observations": False},
    "inf_revision_final": {"final_review_date": "2026-02-19", "meets_requirements": True},
    "inf_aprobar_informe": {"report_approved": True,
                            "approval_document": "IESS-DNPL-2026-0050-M",
                            "approval_date": "2026-02-20"},
    "inf_comunicar_aprobacion": {
        "communication_date": "2026-02-23", "communication_document": "IESS-DNP-2026-0060-M",
        "recipients": ["Dirección del Sistema de Pensiones"],
        "approved_commitment_ids": ["C1", "C2"],
        "monitoring_provisions": "Seguimiento trimestral con la matriz de seguimiento."},
    "inf_preparar_envio": {"send_checks": ["integridad", "foliacion", "firmas",
                                           "version_digital"],
                           "annexes": ["matrices_seguimiento", "evidencias_tecnicas",
                                       "cronogramas"], "folio_count": 42},
    "inf_remitir_informe": {"remittance_document": "IESS-DG-2026-0101-O",
                            "remittance_date": "2026-02-25", "signed_by": "Director General",
                            "addressed_to": "Subsecretaría de Calidad del Servicio Público"},
    "inf_confirmar_recepcion": {"reception_date": "2026-02-26",
                                "reception_reference": "MDT-SCSP-2026-1234-E"},
    "inf_control_mdt": {"published": True, "control_document": "MDT-SCSP-2026-0777-O",
                        "control_date": "2026-03-02",
                        "criteria_findings": "Cumple los lineamientos de la Norma Técnica.",
                        "state_justification": "Compromisos medibles y proceso en nivel 4.",
                        "publication_reference": "Carta de Servicios IESS, ficha 12"},
    "inf_registrar_servicio": {**SERVICE_DATA, "update_reason": "cambio_normativo",
                               "proposed_commitments": COMMITMENTS[:1]},
    "seg_registrar_servicio": {**SERVICE_DATA, "commitments": COMMITMENTS,
                               "followup_frequency": "trimestral"},
    "seg_recolectar_datos": {
        "observations": [
            {"commitment_id": "C1", "observed": 0.97, "data_source": "sistema_gestion"},
            {"commitment_id": "C2", "observed": 12, "data_source": "registro_atencion"}],
        "data_checks": ["integridad", "consistencia", "completitud"],
        "historical_trend": "Estable desde 2025."},
    "seg_verificar_cumplimiento": {
        "data_consistent": True,
        "verification": [
            {"commitment_id": "C1", "formula_applied": True, "within_control_limits": True,
             "trend": "estable"},
            {"commitment_id": "C2", "formula_applied": True, "within_control_limits": True,
             "trend": "mejora"}],
        "trend_analysis": "Sin cambios significativos."},
    "seg_identificar_desviaciones": {"prioritization": "Sin desviaciones que priorizar."},
    "seg_elaborar_informe": {
        "followup_report_number": "IESS-DNP-2026-0200-I", "followup_report_date": "2026-04-01",
        "report_contents": ["tablas_comparativas", "graficos_tendencia", "graficos_control"],
        "key_findings": "Compromisos cumplidos.", "causes_analysis": "No aplica.",
        "remediation_verification": "No se requirieron medidas.",
        "followup_conclusions": "Desempeño estable."},
    "seg_acciones_mejora": {"plan_notes": "Sin acciones nuevas."},
    "seg_aprobar_plan": {"plan_approved": True, "plan_approval_document": "IESS-DNPL-2026-0300",
                         "plan_approval_date": "2026-04-01"},
    "seg_remitir_plan": {"plan_remittance_document": "IESS-DG-2026-0310-O",
                         "plan_remittance_date": "2026-04-01"},
    "seg_revisar_vigencia": {"validity_decision": "mantener"},
    "seg_resolucion_mdt": {"mdt_approved": True,
                           "mdt_resolution_document": "MDT-SCSP-2026-0900-R",
                           "mdt_resolution_date": "2026-04-01"},
}

REPORT_STEPS = ["inf_recopilar_informacion", "inf_elaborar_informe", "inf_revisar_informe",
                "inf_revision_final", "inf_aprobar_informe", "inf_comunicar_aprobacion",
                "inf_preparar_envio", "inf_remitir_informe", "inf_confirmar_recepcion",
                "inf_control_mdt"]
PERIOD_STEPS = ["seg_recolectar_datos", "seg_verificar_cumplimiento",
                "seg_identificar_desviaciones", "seg_elaborar_informe", "seg_acciones_mejora",
                "seg_revisar_vigencia"]
# The first follow-up period of a service published on 2 March 2026 closes on 1 April (quarterly,
# 08:00 in Quito); SpiffWorkflow fires a timer once its moment has passed, not at it.
FIRST_CLOSE = datetime(2026, 4, 1, 13, 0, tzinfo=UTC)
JUST_AFTER = timedelta(minutes=1)


def sla_form(activity: str, **overrides: Any) -> dict[str, Any]:
    """Return valid form data for an SLA activity; keyword arguments override or add fields."""
    return {**FORMS[activity], **overrides}


@pytest.fixture
def sla_engine(database_url: str, library: ProcessLibrary, clock: FakeClock) -> Iterator[Engine]:
    """An engine that runs the charter effects (the tables of engine.charter exist)."""
    eng = Engine(database_url, library, clock=clock, password_hasher=FAST_HASHER,
                 effects=charter.effects())
    eng.create_schema()
    yield eng
    eng.sql.dispose()


@pytest.fixture
def sla_people(sla_engine: Engine) -> dict[str, list[str]]:
    """Demo people by role, plus the head of the chosen unit and the head of another unit."""
    by_role: dict[str, list[str]] = {}
    for account in seed_demo_people(sla_engine, DEMO_PASSWORD):
        for role in account.roles:
            by_role.setdefault(role, []).append(account.username)
    directory, now = sla_engine.directory, sla_engine.clock()
    with sla_engine._writer.begin() as session:
        for username, full_name, title in (
                (UNIT_PERSON, "Marta Pensiones", UNIT_POSITION),
                (OTHER_UNIT_PERSON, "Óscar Financiero", OTHER_UNIT_POSITION)):
            position = directory.ensure_position(session, title, source="test")
            directory.create_person(session, username, full_name, now=now,
                                    password=DEMO_PASSWORD, positions=[position])
    return by_role


class SlaWalker(OpenTasks):
    """Drives one service's charter case through the engine as the right people would."""

    def __init__(self, engine: Engine, people: dict[str, list[str]]):
        self.engine, self.people = engine, people
        self.case: CaseView | None = None

    def person_for(self, role: str) -> str:
        """Return who acts for a role: the chosen unit's head for ``unidad``."""
        return UNIT_PERSON if role == "unidad" else self.people[role][0]

    def start(self, process_id: str = "sla_planning", **overrides: Any) -> CaseView:
        """Open a case with its first form, as the process office."""
        first = {"sla_planning": "pla_registrar_servicio", "sla_report": "inf_registrar_servicio",
                 "sla_followup": "seg_registrar_servicio"}[process_id]
        self.case = self.engine.start_case(process_id, by=self.person_for("procesos"),
                                           data=sla_form(first, **overrides))
        return self.case

    def do(self, activity: str, *, by: str | None = None, **overrides: Any) -> CaseView:
        """Complete an activity's task with valid data (overridden by keyword arguments)."""
        task = self.task(activity)
        self.case = self.engine.complete_task(
            task.task_id, by=by or self.person_for(task.role),
            form_data=sla_form(activity, **overrides))
        return self.case

    def run(self, *activities: str) -> CaseView:
        """Complete several activities in order with their default data."""
        for activity in activities:
            self.do(activity)
        assert self.case is not None
        return self.case

    def refresh(self) -> CaseView:
        """Reload the case (after timers fired)."""
        assert self.case is not None
        self.case = self.engine.case(self.case.number, by=self.person_for("procesos"))
        return self.case

    def plan(self) -> CaseView:
        """Take a new case from its start to the report's first activity (service Planificado)."""
        self.start()
        return self.run("pla_definir_ans", "pla_planificar_publicacion")

    def publish(self) -> CaseView:
        """Take a new case until the Ministry publishes the service (follow-up waiting)."""
        self.plan()
        return self.run(*REPORT_STEPS)

    def fire_period_close(self, clock: FakeClock, moment: datetime = FIRST_CLOSE) -> int:
        """Move the clock to a period's close and fire due timers."""
        clock.set(moment + JUST_AFTER)
        moved = self.engine.fire_due_timers()
        self.refresh()
        return moved

    def everyone(self) -> list[str]:
        """Return every person of the test: the demo people and both unit heads."""
        return sorted({u for users in self.people.values() for u in users}
                      | {UNIT_PERSON, OTHER_UNIT_PERSON})

    def holders(self, role: str) -> set[str]:
        """Return who should be offered a task of this role."""
        return {UNIT_PERSON} if role == "unidad" else set(self.people[role])

    def offered_to(self, activity: str) -> set[str]:
        """Return who finds the activity's open task among the tasks available to them."""
        task_id = self.task(activity).task_id
        return {u for u in self.everyone()
                if task_id in {t.task_id for t in self.engine.inbox(u).available.items}}

    def state(self) -> str | None:
        """Return the service's current charter state."""
        return charter.current_state(self.engine, SERVICE)

    def transitions(self) -> list[tuple[str | None, str]]:
        """Return the service's logged transitions as (from, to)."""
        return [(t.from_state, t.to_state) for t in charter.history(self.engine, SERVICE)]


@pytest.fixture
def sla(sla_engine: Engine, sla_people: dict[str, list[str]]) -> SlaWalker:
    return SlaWalker(sla_engine, sla_people)
