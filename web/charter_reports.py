"""The documents of the Carta de Servicios procedures (Guía DMCISP-01-05), built from a case.

* the Plan de Publicación (§7.1, activity 2);
* the Informe de postulación, or of an update (§7.2, minimum structure i–x);
* the Informe Técnico de Seguimiento of one period (§7.3, activity 4), with its charts;
* the public Carta Institucional de Servicios (the services published, by responsible unit).

Case data is overwritten every time a form is filled in again (a rejected report, the next
follow-up period), so each document is rebuilt from the case's log: the form each activity
submitted, who submitted it and when. Case data only supplies what scripts computed (the
follow-up matrix and its history, the improvement actions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _

from engine import AuditEntry, CaseView, Engine, ProcessDefinition, charter
from engine import catalogue as catalogue_data
from engine.control_chart import ControlLimits, individuals_chart

from .charts import Chart, control_chart, trend_chart
from .engine_messages import N_
from .formview import FormLabels

ENTITY = "Instituto Ecuatoriano de Seguridad Social (IESS)"
SLA_PROCESSES = ("sla_planning", "sla_report", "sla_followup")
PUBLISHED_STATES = charter.PUBLISHED_STATES
PERIOD_TIMER = "seg_cierre_periodo"

# Outcomes of the decision tables (bpmn/sla_compliance.dmn, sla_deviation.dmn) and of the
# follow-up scripts: not form choices, so they are labelled here.
COMPLIANCE = {"cumple": N_("Cumple"), "cumplimiento_parcial": N_("Cumplimiento parcial"),
              "no_cumple": N_("No cumple"), "sin_dato": N_("Sin dato")}
DEVIATION = {"ninguna": N_("Ninguna"), "leve": N_("Leve"), "moderada": N_("Moderada"),
             "critica": N_("Crítica"), "sin_dato": N_("Sin dato")}
# The follow-up script's rule (seg_registrar_criticidad), for periods whose rows predate it.
STATUS_OF_COMPLIANCE = {"cumple": "estable", "cumplimiento_parcial": "en_riesgo"}
POLARITY = {"mayor_mejor": N_("Mayor es mejor"), "menor_mejor": N_("Menor es mejor")}
BOUND = {"mayor_mejor": N_("mínimo"), "menor_mejor": N_("máximo")}
STATE_LABELS = {charter.PUBLICADO: N_("Publicado"), charter.RENOVADO: N_("Renovado"),
                charter.ACTUALIZADO: N_("Actualizado")}


# -- shared pieces ----------------------------------------------------------------------------


class Choices:
    """Choice labels of a procedure's forms, in the interface's language."""

    def __init__(self, definition: ProcessDefinition, language: str):
        self._forms = [FormLabels(form.schema, form.ui, language)
                       for form in definition.forms.values()]

    def label(self, key: str, value: Any, item: str | None = None) -> str:
        """Return the label a form gives ``value`` in field ``key`` (sub-field ``item``)."""
        text = "true" if value is True else "false" if value is False else str(value or "")
        for labels in self._forms:
            found = dict(labels.choices(key, [value], item)).get(text)
            if found and found != text:
                return found
        return text

    def labels(self, key: str, values: Any, item: str | None = None) -> str:
        """Return the labels of several values, joined."""
        if not isinstance(values, list):
            return ""
        return ", ".join(self.label(key, v, item) for v in values)


@dataclass(frozen=True)
class Signature:
    """Who did one step of a document, as the case's log records it."""

    label: str
    name: str
    position: str
    at: datetime | None
    reference: str = ""


@dataclass(frozen=True)
class Commitment:
    """One quality commitment: factor → indicator → standard → commitment (§7.1)."""

    commitment_id: str
    factor: str
    indicator_code: str
    indicator_name: str
    polarity: str
    bound: str
    standard: float | None
    unit_of_measure: str
    text: str
    scope: str
    remediation: str
    validated: bool = True


@dataclass(frozen=True)
class Context:
    """What every builder needs: the procedure's labels, people's names and lane names."""

    definition: ProcessDefinition
    choices: Choices
    name_of: Callable[[str], str]

    def role_name(self, role: str | None) -> str:
        """Return the name of a lane's role (the position that signs)."""
        row = self.definition.roles().get(role or "")
        return row.role_name if row else (role or "")

    def signature(self, label: str, entry: AuditEntry | None, reference: str = "") -> Signature:
        """Return a signature line for a logged step (empty when the step has not happened)."""
        if entry is None:
            return Signature(label, "", "", None, "")
        name = self.name_of(entry.actor) if entry.actor else ""
        return Signature(label, name, self.role_name(entry.role), entry.at, reference)


def context(definition: ProcessDefinition, name_of: Callable[[str], str]) -> Context:
    """Return the builders' context for a procedure, in the interface's language."""
    return Context(definition, Choices(definition, str(get_locale())), name_of)


def _forms(history: Iterable[AuditEntry], activity: str) -> list[AuditEntry]:
    return [e for e in history if e.event_type == "task_completed"
            and e.activity_id == activity and isinstance((e.data or {}).get("form"), Mapping)]


def _last(history: Iterable[AuditEntry], activity: str) -> AuditEntry | None:
    found = _forms(history, activity)
    return found[-1] if found else None


def _form(entry: AuditEntry | None) -> dict[str, Any]:
    return dict((entry.data or {}).get("form") or {}) if entry is not None else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [dict(v) for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _commitments(ctx: Context, raw: Any, factors: Mapping[str, str] | None = None,
                 validated: Sequence[str] | None = None) -> list[Commitment]:
    found = []
    for c in _dicts(raw):
        factor_id = _text(c.get("factor_id"))
        name = (factors or {}).get(factor_id, "")
        polarity = _text(c.get("polarity"))
        found.append(Commitment(
            commitment_id=_text(c.get("commitment_id")),
            factor=f"{factor_id} · {name}" if name else factor_id,
            indicator_code=_text(c.get("indicator_code")),
            indicator_name=_text(c.get("indicator_name")),
            polarity=_(POLARITY[polarity]) if polarity in POLARITY else polarity,
            bound=_(BOUND[polarity]) if polarity in BOUND else "",
            standard=_number(c.get("standard")),
            unit_of_measure=_text(c.get("unit_of_measure")),
            text=_text(c.get("commitment_text")),
            scope=ctx.choices.labels("commitments", c.get("territorial_scope"),
                                     "territorial_scope"),
            remediation=_text(c.get("remediation_measures")),
            validated=validated is None or _text(c.get("commitment_id")) in validated))
    return found


def _factor_names(definition_form: Mapping[str, Any]) -> dict[str, str]:
    return {_text(f.get("factor_id")): _text(f.get("name"))
            for f in _dicts(definition_form.get("quality_factors"))}


@dataclass(frozen=True)
class Service:
    """The service a charter case is about."""

    code: str
    name: str
    unit_name: str


def _service(case: CaseView) -> Service:
    data = case.data
    return Service(_text(data.get("service_code")), _text(data.get("service_name")),
                   _text(data.get("unit_name")))


# -- §7.1 Plan de Publicación -----------------------------------------------------------------


@dataclass(frozen=True)
class Factor:
    """A key quality factor and what supports it."""

    factor_id: str
    name: str
    dimensions: str
    evidence: str


@dataclass(frozen=True)
class Stage:
    """One stage of the publication schedule, with its responsible."""

    stage: str
    description: str
    responsible: str
    start: str
    end: str


@dataclass(frozen=True)
class Ola:
    """An operational-level agreement (internal: never on the public charter)."""

    ola_id: str
    factor_id: str
    roles: str
    internal_times: str
    coordination: str
    resources: str
    verification: str
    instruments: str


@dataclass(frozen=True)
class FollowupIndicator:
    """An indicator the follow-up measures, and how often."""

    commitment_id: str
    indicator_code: str
    indicator_name: str
    frequency: str


@dataclass(frozen=True)
class PublicationPlan:
    """The Plan de Publicación: validated commitments, schedule, indicators, review, approval."""

    case_number: str
    service: Service
    plan_year: Any
    plan_document: str
    plan_approved_date: str
    capability_level: Any
    capability_evidence: str
    traceability_review: str
    reviewed_by_units: bool
    factors: list[Factor]
    commitments: list[Commitment]
    schedule: list[Stage]
    plan_indicators: list[str]
    followup_indicators: list[FollowupIndicator]
    followup_frequency: str
    review_periodicity: str
    review_conditions: str
    olas: list[Ola]
    state_justification: str
    signatures: list[Signature]


def _olas(ctx: Context, raw: Any) -> list[Ola]:
    return [Ola(_text(o.get("ola_id")), _text(o.get("factor_id")), _text(o.get("roles")),
                _text(o.get("internal_times")), _text(o.get("coordination")),
                _text(o.get("resources")), _text(o.get("verification")),
                ctx.choices.labels("olas", o.get("instruments"), "instruments"))
            for o in _dicts(raw)]


def publication_plan(ctx: Context, case: CaseView,
                     history: Sequence[AuditEntry]) -> PublicationPlan | None:
    """Return the case's Plan de Publicación, or None until it has been formalised."""
    plans = [e for e in _forms(history, "pla_planificar_publicacion")
             if _form(e).get("commitments_validated") is True]
    if case.process_id != "sla_planning" or not plans:
        return None
    planned = plans[-1]
    plan = _form(planned)
    defined = _last([e for e in history if e.seq < planned.seq], "pla_definir_ans")
    definition = _form(defined)
    factors = _factor_names(definition)
    validated = _strings(plan.get("validated_commitment_ids"))
    commitments = _commitments(ctx, definition.get("commitments"), factors, validated)
    frequency = ctx.choices.label("followup_frequency", plan.get("followup_frequency"))
    registered = _form(_last(history, "pla_registrar_servicio"))
    return PublicationPlan(
        case_number=case.number, service=_service(case),
        plan_year=registered.get("plan_year") or case.data.get("plan_year"),
        plan_document=_text(plan.get("plan_document")),
        plan_approved_date=_text(plan.get("plan_approved_date")),
        capability_level=definition.get("capability_level"),
        capability_evidence=_text(definition.get("capability_evidence")),
        traceability_review=_text(plan.get("traceability_review")),
        reviewed_by_units=plan.get("reviewed_by_units") is True,
        factors=[Factor(_text(f.get("factor_id")), _text(f.get("name")),
                        ctx.choices.labels("quality_factors", f.get("dimensions"), "dimensions"),
                        _text(f.get("evidence")))
                 for f in _dicts(definition.get("quality_factors"))],
        commitments=commitments,
        schedule=[Stage(ctx.choices.label("schedule", s.get("stage"), "stage"),
                        _text(s.get("description")), _text(s.get("responsible")),
                        _text(s.get("start_date")), _text(s.get("end_date")))
                  for s in _dicts(plan.get("schedule"))],
        plan_indicators=_strings(plan.get("plan_indicators")),
        followup_indicators=[FollowupIndicator(c.commitment_id, c.indicator_code,
                                               c.indicator_name, frequency)
                             for c in commitments if c.validated],
        followup_frequency=frequency,
        review_periodicity=ctx.choices.label("ola_sla_review_periodicity",
                                             plan.get("ola_sla_review_periodicity")),
        review_conditions=_text(plan.get("review_conditions")),
        olas=_olas(ctx, definition.get("olas")),
        state_justification=_text(plan.get("state_justification")),
        signatures=[ctx.signature(_("Compromisos definidos por"), defined),
                    ctx.signature(_("Plan elaborado y formalizado por"), planned,
                                  _text(plan.get("plan_document")))],
    )


# -- §7.2 Informe de postulación ----------------------------------------------------------------


@dataclass(frozen=True)
class ControlRow:
    """One row of the service's control matrix (§7.2, activity 1)."""

    commitment_id: str
    key_factor: str
    indicator_code: str
    standard: float | None
    observed: float | None
    stable: bool | None
    variation_analysis: str


@dataclass(frozen=True)
class ApplicationReport:
    """The technical report for the charter: sections i to x of §7.2."""

    case_number: str
    cycle: int
    cycles: int
    postulation: bool
    status: str
    service: Service
    report_number: str
    report_date: str
    services_processes: str
    background: str
    technical_analysis: str
    territorial_coverage: str
    territorial_annex: bool
    territorial_annex_detail: str
    control_matrix: list[ControlRow]
    information_sources: str
    user_perception_analysis: str
    ola_checks: list[tuple[str, bool | None]]
    ola_notes: str
    previous_improvement_results: str
    ola_section: str
    olas: list[Ola]
    sla_section: str
    commitments: list[Commitment]
    dissemination_strategy: str
    conclusions: str
    recommendations: str
    observation_resolutions: list[tuple[str, str]]
    signatures: list[Signature]


def report_cycles(history: Sequence[AuditEntry]) -> list[list[AuditEntry]]:
    """Split the log into the §7.2 reports it holds: each begins by gathering information."""
    cycles: list[list[AuditEntry]] = []
    for entry in history:
        if entry.event_type == "task_completed" and entry.activity_id == \
                "inf_recopilar_informacion":
            cycles.append([])
        if cycles:
            cycles[-1].append(entry)
    # A report exists once it has been written at least once.
    return [c for c in cycles if _last(c, "inf_elaborar_informe") is not None]


def _report_status(cycle: Sequence[AuditEntry], written: AuditEntry) -> str:
    after = [e for e in cycle if e.seq > written.seq]
    control = _last(after, "inf_control_mdt")
    if control is not None:
        return (_("Publicado por el Ministerio del Trabajo") if _form(control).get("published")
                else _("No publicado por el Ministerio del Trabajo"))
    if _last(after, "inf_remitir_informe") is not None:
        return _("Remitido al Ministerio del Trabajo")
    approved = _last(after, "inf_aprobar_informe")
    if approved is not None and _form(approved).get("report_approved"):
        return _("Aprobado")
    return _("En revisión") if _last(after, "inf_revisar_informe") else _("En elaboración")


def application_report(ctx: Context, case: CaseView, history: Sequence[AuditEntry],
                       cycle: int | None = None) -> ApplicationReport | None:
    """Return report number ``cycle`` of the case (the latest by default), or None."""
    cycles = report_cycles(history)
    if case.process_id not in SLA_PROCESSES or not cycles:
        return None
    number = len(cycles) if cycle is None else cycle
    if not 1 <= number <= len(cycles):
        return None
    events = cycles[number - 1]
    # Only the planning's first report applies for publication; later ones update it.
    postulation = case.process_id == "sla_planning" and number == 1
    before = [e for e in history if e.seq < events[0].seq]
    written = _last(events, "inf_elaborar_informe")
    assert written is not None
    report = _form(written)
    gathered = _form(_last(events, "inf_recopilar_informacion"))
    definition = _form(_last(before, "pla_definir_ans"))
    if postulation:
        raw_commitments = definition.get("commitments")
    else:
        proposals = [e for e in before if e.activity_id in (
            "seg_revisar_vigencia", "inf_registrar_servicio")
            and _form(e).get("proposed_commitments")]
        raw_commitments = _form(proposals[-1]).get("proposed_commitments") if proposals \
            else case.data.get("proposed_commitments")
    # Review, approval and remittance count only for the version of the report they saw.
    after = [e for e in events if e.seq > written.seq]
    approved = [e for e in _forms(after, "inf_aprobar_informe")
                if _form(e).get("report_approved") is True]
    remitted = _last(after, "inf_remitir_informe")
    approval = _form(approved[-1]) if approved else {}
    remittance = _form(remitted)
    return ApplicationReport(
        case_number=case.number, cycle=number, cycles=len(cycles), postulation=postulation,
        status=_report_status(events, written), service=_service(case),
        report_number=_text(report.get("report_number")),
        report_date=_text(report.get("report_date")),
        services_processes=_text(report.get("services_processes")),
        background=_text(report.get("background")),
        technical_analysis=_text(report.get("technical_analysis")),
        territorial_coverage=ctx.choices.labels("territorial_coverage",
                                                report.get("territorial_coverage")),
        territorial_annex=report.get("territorial_annex") is True,
        territorial_annex_detail=_text(report.get("territorial_annex_detail")),
        control_matrix=[ControlRow(
            _text(r.get("commitment_id")), _text(r.get("key_factor")),
            _text(r.get("indicator_code")), _number(r.get("standard")),
            _number(r.get("observed")), r.get("stable") if isinstance(r.get("stable"), bool)
            else None, _text(r.get("variation_analysis")))
            for r in _dicts(gathered.get("control_matrix"))],
        information_sources=ctx.choices.labels("information_sources",
                                               gathered.get("information_sources")),
        user_perception_analysis=_text(gathered.get("user_perception_analysis")),
        ola_checks=[
            (_("Los OLA existen, están vigentes y son coherentes"), gathered.get("ola_current")),
            (_("Las condiciones de los OLA permiten cumplir los estándares"),
             gathered.get("ola_supports_standards")),
            (_("Medidas de subsanación definidas y formalizadas"),
             gathered.get("remediation_formalized"))],
        ola_notes=_text(gathered.get("ola_notes")),
        previous_improvement_results=_text(gathered.get("previous_improvement_results")),
        ola_section=_text(report.get("ola_section")),
        olas=_olas(ctx, definition.get("olas")),
        sla_section=_text(report.get("sla_section")),
        commitments=_commitments(ctx, raw_commitments, _factor_names(definition)),
        dissemination_strategy=_text(report.get("dissemination_strategy")),
        conclusions=_text(report.get("conclusions")),
        recommendations=_text(report.get("recommendations")),
        observation_resolutions=[(_text(o.get("observation")), _text(o.get("resolution")))
                                 for o in _dicts(report.get("observation_resolutions"))],
        signatures=[
            ctx.signature(_("Elaborado por"), written, _text(report.get("report_number"))),
            ctx.signature(_("Revisado por (unidad)"), _last(after, "inf_revisar_informe")),
            ctx.signature(_("Revisión final"), _last(after, "inf_revision_final")),
            ctx.signature(_("Aprobado por"), approved[-1] if approved else None,
                          _text(approval.get("approval_document"))),
            ctx.signature(_("Remitido por"), remitted,
                          _text(remittance.get("remittance_document")))],
    )


# -- §7.3 Informe Técnico de Seguimiento --------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """One follow-up period with its matrix rows (complete once the next one began)."""

    number: int
    start: str
    last_day: str
    rows: list[dict[str, Any]]
    events: list[AuditEntry]

    @property
    def label(self) -> str:
        """Return the period's short name, as charts and tables show it."""
        return _("P%(number)s", number=self.number)


def _period_events(history: Sequence[AuditEntry]) -> dict[int, list[AuditEntry]]:
    """Return the log split by period: each begins when its measurement period closes."""
    events: dict[int, list[AuditEntry]] = {}
    number = 0
    for entry in history:
        if entry.event_type == "timer_fired" and PERIOD_TIMER in (
                (entry.data or {}).get("timers") or []):
            number += 1
        if number:
            events.setdefault(number, []).append(entry)
    return events


def followup_periods(case: CaseView, history: Sequence[AuditEntry]) -> list[Period]:
    """Return the periods whose data has been collected, oldest first."""
    if case.process_id not in ("sla_planning", "sla_followup"):
        return []
    data = case.data
    events = _period_events(history)
    periods = [Period(int(p.get("period_number") or i + 1), _text(p.get("period_start")),
                      _text(p.get("period_last_day")), _dicts(p.get("rows")),
                      events.get(int(p.get("period_number") or i + 1), []))
               for i, p in enumerate(_dicts(data.get("followup_history")))]
    current = data.get("period_number")
    # The matrix belongs to the open period only once its data has been collected; until then
    # it still holds the previous period's rows.
    if (isinstance(current, int) and current > len(periods)
            and _last(events.get(current, []), "seg_recolectar_datos") is not None):
        periods.append(Period(current, _text(data.get("period_start")),
                              _text(data.get("period_last_day")),
                              _dicts(data.get("followup_matrix")), events.get(current, [])))
    return periods


@dataclass(frozen=True)
class FollowupLine:
    """One commitment in the period's comparative table."""

    commitment_id: str
    commitment_text: str
    indicator_code: str
    indicator_name: str
    unit_of_measure: str
    standard: float | None
    observed: float | None
    difference: float | None
    compliance: str
    compliance_label: str
    deviation_label: str
    status: str
    recurrence: int
    cause: str
    remediation_applied: bool | None
    remediation_detail: str
    source: str
    territorial_detail: str


@dataclass(frozen=True)
class CommitmentCharts:
    """A commitment's trend and individuals control chart over the periods so far."""

    commitment_id: str
    indicator_name: str
    points: list[tuple[str, float | None]]
    trend: Chart
    control: Chart | None
    limits: ControlLimits | None
    outside: list[str]


@dataclass(frozen=True)
class DeviationAnalysis:
    """The cause analysis of one deviation (§7.3, activity 3)."""

    commitment_id: str
    origin: str
    root_cause: str
    categories: str
    ola_breach: bool | None
    ola_breach_detail: str
    remediation_applied: bool | None
    remediation_detail: str
    user_impact: str


@dataclass(frozen=True)
class Action:
    """An improvement action as it stood in the period."""

    action_id: str
    commitment_id: str
    action_type: str
    description: str
    responsible: str
    deadline: str
    status: str
    period_number: int | None
    note: str


@dataclass(frozen=True)
class FollowupReport:
    """The Informe Técnico de Seguimiento of one period (§7.3, activity 4)."""

    case_number: str
    service: Service
    period: int
    period_start: str
    period_last_day: str
    periods: list[tuple[int, str]]
    frequency: str
    written: bool
    report_number: str
    report_date: str
    lines: list[FollowupLine]
    charts: list[CommitmentCharts]
    stable: list[FollowupLine]
    at_risk: list[FollowupLine]
    failing: list[FollowupLine]
    analyses: list[DeviationAnalysis]
    prioritization: str
    trend_analysis: str
    qualitative_context: str
    key_findings: str
    causes_analysis: str
    remediation_verification: str
    conclusions: str
    validity_decision: str
    actions: list[Action]
    signatures: list[Signature] = field(default_factory=list)


def _known_commitments(case: CaseView, history: Sequence[AuditEntry]) -> dict[str, dict]:
    """Every commitment the case defined, the newest definition of each id last."""
    known: dict[str, dict[str, Any]] = {}
    for entry in history:
        form = _form(entry) if entry.event_type == "task_completed" else {}
        for key in ("commitments", "proposed_commitments"):
            for c in _dicts(form.get(key)):
                known[_text(c.get("commitment_id"))] = c
    for c in _dicts(case.data.get("commitments")):
        known[_text(c.get("commitment_id"))] = c
    return known


def _streaks(periods: Sequence[Period], upto: int) -> dict[str, int]:
    """Consecutive periods, up to ``upto``, in which each commitment was not fully met."""
    streak: dict[str, int] = {}
    for period in periods:
        if period.number > upto:
            break
        for row in period.rows:
            cid = _text(row.get("commitment_id"))
            streak[cid] = 0 if row.get("compliance") == "cumple" else streak.get(cid, 0) + 1
    return streak


def _chart_title(text: str) -> str:
    # Matplotlib reads $…$ as mathematics: typed text must stay text.
    return text[:90].replace("$", r"\$")


def _charts(line: FollowupLine, periods: Sequence[Period], upto: int) -> CommitmentCharts:
    points: list[tuple[str, float | None]] = []
    for period in periods:
        if period.number > upto:
            break
        row = next((r for r in period.rows if r.get("commitment_id") == line.commitment_id),
                   None)
        points.append((period.label, _number(row.get("observed")) if row else None))
    name = f"{line.commitment_id} · {line.indicator_name}"
    trend = trend_chart([p for p, _v in points], [v for _p, v in points], line.standard,
                        _chart_title(_("Tendencia: %(indicator)s", indicator=name)))
    measured = [(p, v) for p, v in points if v is not None]
    limits = individuals_chart([v for _p, v in measured])
    control = None
    outside: list[str] = []
    if limits is not None:
        control = control_chart([p for p, _v in measured], [v for _p, v in measured], limits,
                                _chart_title(_("Gráfico de control: %(indicator)s",
                                               indicator=name)))
        outside = [measured[i][0] for i in limits.outside]
    return CommitmentCharts(line.commitment_id, line.indicator_name, points, trend, control,
                            limits, outside)


def _actions(ctx: Context, case: CaseView, period: Period) -> list[Action]:
    """The improvement actions as they stood at the end of ``period``."""
    found = []
    for a in _dicts(case.data.get("improvement_actions")):
        created = a.get("period_number")
        if not isinstance(created, int) or created > period.number:
            continue
        updates = [u for u in _dicts(a.get("updates"))
                   if isinstance(u.get("period_number"), int)
                   and u["period_number"] <= period.number]
        status = updates[-1].get("status") if updates else "pendiente"
        note = _text(updates[-1].get("progress_note")) if updates else ""
        found.append(Action(_text(a.get("action_id")), _text(a.get("commitment_id")),
                            ctx.choices.label("new_actions", a.get("action_type"), "action_type"),
                            _text(a.get("description")), _text(a.get("responsible")),
                            _text(a.get("deadline")),
                            ctx.choices.label("action_followup", status, "status"),
                            created, note))
    # New actions wait for the plan's approval before they are numbered: show them as proposed.
    registered = any("seg_registrar_acciones" in ((e.data or {}).get("path") or [])
                     for e in period.events)
    proposed = _form(_last(period.events, "seg_acciones_mejora"))
    if not registered:
        for a in _dicts(proposed.get("new_actions")):
            found.append(Action("", _text(a.get("commitment_id")),
                                ctx.choices.label("new_actions", a.get("action_type"),
                                                  "action_type"),
                                _text(a.get("description")), _text(a.get("responsible")),
                                _text(a.get("deadline")), _("Propuesta, por aprobar"),
                                period.number, _text(a.get("cause_addressed"))))
    return found


def followup_report(ctx: Context, case: CaseView, history: Sequence[AuditEntry],
                    period: int | None = None) -> FollowupReport | None:
    """Return the follow-up report of ``period`` (the latest measured by default), or None."""
    periods = followup_periods(case, history)
    if not periods:
        return None
    chosen = periods[-1] if period is None else next(
        (p for p in periods if p.number == period), None)
    if chosen is None:
        return None
    events = chosen.events
    known = _known_commitments(case, history)
    analyses_form = _form(_last(events, "seg_identificar_desviaciones"))
    analyses = {_text(a.get("commitment_id")): a
                for a in _dicts(analyses_form.get("deviation_analyses"))}
    streaks = _streaks(periods, chosen.number)
    collected = _form(_last(events, "seg_recolectar_datos"))
    sources = {_text(o.get("commitment_id")): o for o in _dicts(collected.get("observations"))}
    lines = []
    for row in chosen.rows:
        cid = _text(row.get("commitment_id"))
        meta = {**known.get(cid, {}), **row}
        analysis = analyses.get(cid, {})
        observed, standard = _number(row.get("observed")), _number(row.get("standard"))
        compliance = _text(row.get("compliance")) or "sin_dato"
        applied = row.get("remediation_applied")
        if applied is None:
            applied = analysis.get("remediation_applied")
        lines.append(FollowupLine(
            commitment_id=cid, commitment_text=_text(meta.get("commitment_text")),
            indicator_code=_text(meta.get("indicator_code")),
            indicator_name=_text(meta.get("indicator_name")),
            unit_of_measure=_text(meta.get("unit_of_measure")), standard=standard,
            observed=observed,
            difference=None if observed is None or standard is None
            else round(observed - standard, 6),
            compliance=compliance, compliance_label=_(COMPLIANCE.get(compliance, compliance)),
            deviation_label=_(DEVIATION.get(_text(row.get("deviation")) or "sin_dato",
                                            _text(row.get("deviation")))),
            status=_text(row.get("status")) or STATUS_OF_COMPLIANCE.get(
                compliance, "en_incumplimiento"),
            recurrence=streaks.get(cid, 0),
            cause=_text(row.get("cause")) or _text(analysis.get("root_cause")),
            remediation_applied=applied if isinstance(applied, bool) else None,
            remediation_detail=_text(analysis.get("remediation_detail")),
            source=ctx.choices.label("observations", sources.get(cid, {}).get("data_source"),
                                     "data_source") if cid in sources else "",
            territorial_detail=_text(sources.get(cid, {}).get("territorial_detail"))))
    written = _last(events, "seg_elaborar_informe")
    report = _form(written)
    verified = _form(_last(events, "seg_verificar_cumplimiento"))
    validity = _form(_last(events, "seg_revisar_vigencia"))
    frequency = case.data.get("followup_frequency")
    return FollowupReport(
        case_number=case.number, service=_service(case), period=chosen.number,
        period_start=chosen.start, period_last_day=chosen.last_day,
        periods=[(p.number, p.label) for p in periods],
        frequency=ctx.choices.label("followup_frequency", frequency),
        written=written is not None,
        report_number=_text(report.get("followup_report_number")),
        report_date=_text(report.get("followup_report_date")),
        lines=lines, charts=[_charts(line, periods, chosen.number) for line in lines],
        stable=[x for x in lines if x.status == "estable"],
        at_risk=[x for x in lines if x.status == "en_riesgo"],
        failing=[x for x in lines if x.status not in ("estable", "en_riesgo")],
        analyses=[DeviationAnalysis(
            _text(a.get("commitment_id")),
            ctx.choices.label("deviation_analyses", a.get("cause_origin"), "cause_origin"),
            _text(a.get("root_cause")),
            ctx.choices.labels("deviation_analyses", a.get("ishikawa_categories"),
                               "ishikawa_categories"),
            a.get("ola_breach") if isinstance(a.get("ola_breach"), bool) else None,
            _text(a.get("ola_breach_detail")),
            a.get("remediation_applied") if isinstance(a.get("remediation_applied"), bool)
            else None,
            _text(a.get("remediation_detail")), _text(a.get("user_impact")))
            for a in _dicts(analyses_form.get("deviation_analyses"))],
        prioritization=_text(analyses_form.get("prioritization")),
        trend_analysis=_text(verified.get("trend_analysis")),
        qualitative_context=_text(collected.get("qualitative_context")),
        key_findings=_text(report.get("key_findings")),
        causes_analysis=_text(report.get("causes_analysis")),
        remediation_verification=_text(report.get("remediation_verification")),
        conclusions=_text(report.get("followup_conclusions")),
        validity_decision=ctx.choices.label("validity_decision",
                                            validity.get("validity_decision"))
        if validity else "",
        actions=_actions(ctx, case, chosen),
        signatures=[ctx.signature(_("Datos reportados por"), _last(events, "seg_recolectar_datos")),
                    ctx.signature(_("Elaborado por"), written,
                                  _text(report.get("followup_report_number")))],
    )


# -- the public Carta Institucional de Servicios ----------------------------------------------


@dataclass(frozen=True)
class CharterService:
    """A published service and the commitments it offers its users."""

    code: str
    name: str
    description: str
    state: str
    state_label: str
    since: datetime
    commitments: list[Commitment]


@dataclass(frozen=True)
class CharterGroup:
    """The published services of one responsible unit."""

    unit: str
    services: list[CharterService]


@dataclass(frozen=True)
class PublicCharter:
    """The Carta Institucional de Servicios as the public reads it."""

    entity: str
    as_of: date
    groups: list[CharterGroup]

    @property
    def services(self) -> list[CharterService]:
        """Return every published service, in page order."""
        return [s for g in self.groups for s in g.services]


def public_charter(eng: Engine, ctx: Context, today: date) -> PublicCharter:
    """Return the services whose state is published, renewed or updated, by responsible unit."""
    catalogue = {s.code: s for s in catalogue_data.list_services(eng)}
    groups: dict[str, list[CharterService]] = {}
    for published in charter.published_services(eng):
        listed = catalogue.get(published.service_code)
        unit = (listed.responsible_unit_name if listed and listed.responsible_unit_name
                else published.unit_name or "")
        service = CharterService(
            code=published.service_code,
            name=listed.name if listed else published.service_name or published.service_code,
            description=listed.description if listed else "", state=published.state,
            state_label=_(STATE_LABELS[published.state]), since=published.since,
            commitments=_commitments(ctx, list(published.commitments)))
        groups.setdefault(unit, []).append(service)
    return PublicCharter(
        ENTITY, today,
        [CharterGroup(unit, sorted(services, key=lambda s: s.name.casefold()))
         for unit, services in sorted(groups.items(), key=lambda g: g[0].casefold())])
