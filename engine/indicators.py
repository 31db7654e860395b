"""The social case's own indicator and figures, aggregated in SQL from case rows and events.

*Atención de Casos Sociales* (PRO-GTH-GTS-002 §7/§10): ``# de casos sociales o intervenciones
atendidas / # total de solicitudes × 100``, target 80 %, measured quarterly. Cauce reads it as:

- **denominator** — the requests *received* in the period: social cases whose ``started_at``
  (the moment the request was registered, activity 1) falls in the period, local time;
- **numerator** — those of them *attended* by the end of the period (or by now, for a period
  still running): their diagnosis was validated (activity 6 with ``report_validated``) or they
  were found not to be a social case and referred to whom it may concern (activity 2 with
  ``is_social_case`` false). A referral is an answer to the request, so "no procede" counts as
  attended in the numerator and as received in the denominator.

Nothing here keeps counters: every figure is one statement over ``case`` and ``case_event``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import (
    Float,
    Index,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from .clock import LOCAL_TZ
from .store import CaseEventRow, CaseRow, OpenTaskRow, PersonRow

# What the dashboards read besides a case's own events (found through the log's (case, seq)
# key): the tasks completed in a period (workload) and one activity across cases (the units
# named in requests, the heatmap's list of an element's cases).
# The kind leads so that "tasks completed in a period" is one range of the index: with the
# moment alone SQLite preferred walking every case of the procedure and all its events.
Index("ix_case_event_type_at", CaseEventRow.event_type, CaseEventRow.at)
Index("ix_case_event_activity", CaseEventRow.activity_id, CaseEventRow.case_id)

PROCESS_ID = "social_case"
TARGET = 80.0
DIAGNOSIS_WORKING_DAYS = 15
# Steps that hand a case to its next activity: the time between two of them is spent in the
# activity completed by the second one.
STEP_EVENTS = ("case_started", "task_completed", "timer_fired")
DEFINITION = (
    "Atención de Casos Sociales = solicitudes atendidas ÷ solicitudes recibidas × 100 "
    "(meta: 80 %, medición trimestral). Solicitudes recibidas: casos sociales registrados "
    "(actividad 1) en el periodo. Atendidas: de esas, las que al cierre del periodo (o a hoy, "
    "si no ha cerrado) tienen el diagnóstico validado (actividad 6) o fueron derivadas a quien "
    "corresponde por no proceder como caso social (actividad 2); las que «no proceden» cuentan "
    "como atendidas y como recibidas."
)


# -- periods ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A quarter, a month or a year, in Ecuador's local time; ``end_at`` is exclusive."""

    key: str
    label: str
    start_at: datetime
    end_at: datetime

    def contains(self, moment: datetime) -> bool:
        """Tell whether ``moment`` falls in the period."""
        return self.start_at <= moment < self.end_at


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


def _span(key: str, label: str, first: date, after: date) -> Period:
    return Period(key, label, _local_midnight(first), _local_midnight(after))


def quarter(year: int, number: int) -> Period:
    """Return quarter ``number`` (1–4) of ``year``."""
    first = date(year, 3 * number - 2, 1)
    after = date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)
    return _span(f"{year}-T{number}", f"T{number} {year}", first, after)


def month(year: int, number: int) -> Period:
    """Return month ``number`` (1–12) of ``year``."""
    after = date(year + 1, 1, 1) if number == 12 else date(year, number + 1, 1)
    return _span(f"{year}-{number:02d}", f"{number:02d}/{year}", date(year, number, 1), after)


def year_period(year: int) -> Period:
    """Return the whole of ``year``."""
    return _span(str(year), str(year), date(year, 1, 1), date(year + 1, 1, 1))


def parse_period(key: str) -> Period | None:
    """Read ``2026``, ``2026-T1`` or ``2026-03``; None when it is none of them."""
    try:
        if len(key) == 4:
            return year_period(int(key))
        year, rest = key.split("-", 1)
        if rest[:1].upper() == "T" and rest[1:] in ("1", "2", "3", "4"):
            return quarter(int(year), int(rest[1:]))
        if rest.isdigit() and 1 <= int(rest) <= 12:
            return month(int(year), int(rest))
    except ValueError:
        return None
    return None


def quarters_of(year: int) -> list[Period]:
    """Return the four quarters of ``year``."""
    return [quarter(year, n) for n in range(1, 5)]


def months_of(year: int) -> list[Period]:
    """Return the twelve months of ``year``."""
    return [month(year, n) for n in range(1, 13)]


def quarter_of(moment: datetime) -> Period:
    """Return the quarter ``moment`` falls in."""
    local = moment.astimezone(LOCAL_TZ)
    return quarter(local.year, (local.month - 1) // 3 + 1)


def previous_quarter(period: Period) -> Period:
    """Return the quarter before ``period`` (a quarter)."""
    year, number = int(period.key[:4]), int(period.key[-1])
    return quarter(year - 1, 4) if number == 1 else quarter(year, number - 1)


# -- building blocks --------------------------------------------------------------------------


_E = CaseEventRow


def _attended_moments(*cases: Any) -> Any:
    """One row per case among ``cases`` (conditions on ``case``): when its diagnosis was
    validated or it was referred (NULL while neither), and whether it was referred.

    The cases drive the statement (a LEFT JOIN keeps them the outer loop on every backend):
    each one's events are looked up by (activity, case), so the cost follows the cases chosen.
    Joining the other way round, SQLite read every validation and referral of the whole log.
    """
    validated = and_(_E.activity_id == "validar_informe",
                     _E.data[("form", "report_validated")].as_boolean() == true())
    referred = and_(_E.activity_id == "reasignar_solicitud",
                    _E.data[("form", "is_social_case")].as_boolean() == false())
    return (select(CaseRow.id.label("case_id"), func.min(_E.at).label("attended_at"),
                   func.max(case((_E.activity_id == "reasignar_solicitud", 1), else_=0))
                   .label("referred"))
            .select_from(CaseRow)
            .outerjoin(_E, and_(_E.case_id == CaseRow.id,
                                _E.activity_id.in_(("validar_informe", "reasignar_solicitud")),
                                _E.event_type == "task_completed", or_(validated, referred)))
            .where(CaseRow.process_id == PROCESS_ID, *cases)
            # In the order of the (process, started_at, id) index, so that SQLite walks the
            # period's slice of it rather than every case of the procedure in id order.
            .group_by(CaseRow.started_at, CaseRow.id).subquery("attended"))


def _requested_unit() -> Any:
    """The unit the beneficiary works in, as the request form gave it (activity 1)."""
    return _E.data[("form", "beneficiary_unit")].as_string()


def _request_of_case() -> list[Any]:
    # Activity 1's event of the case at hand, found by the (activity, case) index.
    return [_E.case_id == CaseRow.id, _E.activity_id == "recibir_solicitud",
            _E.event_type == "task_completed"]


def _cases_in(span: Period, unit: str | None) -> Any:
    """The conditions choosing the social cases received in ``span`` (and from ``unit``)."""
    conditions = [CaseRow.process_id == PROCESS_ID, CaseRow.started_at >= span.start_at,
                  CaseRow.started_at < span.end_at]
    if unit:
        # Per case chosen by the period, never a pass over every request of the log.
        conditions.append(exists().where(*_request_of_case(), _requested_unit() == unit))
    return and_(*conditions)


def _seconds(later: Any, earlier: Any, dialect: str) -> Any:
    """The seconds between two UTC columns (microsecond integers on SQLite)."""
    if dialect == "sqlite":
        return cast(later - earlier, Float) / 1_000_000.0
    return func.extract("epoch", later - earlier)


def _rank(n: Any, percent: int) -> Any:
    # Nearest rank: ceil(percent × n / 100), in integer arithmetic every backend shares.
    return (n * percent + 99) // 100


def _cut(period: Period, now: datetime) -> datetime:
    return min(period.end_at, now)


# -- the indicator ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorRow:
    """The indicator of one period."""

    period: Period
    received: int
    attended: int
    referred: int

    @property
    def percent(self) -> float | None:
        """Return attended ÷ received × 100 (None when nothing was received)."""
        return 100.0 * self.attended / self.received if self.received else None

    @property
    def meets_target(self) -> bool | None:
        """Tell whether the period reached the 80 % target (None without requests)."""
        return None if self.percent is None else self.percent >= TARGET


def indicator(session: Session, periods: Sequence[Period], now: datetime, *,
              unit: str | None = None) -> list[IndicatorRow]:
    """Return the indicator for each period, in one statement."""
    if not periods:
        return []
    span = Period("", "", min(p.start_at for p in periods), max(p.end_at for p in periods))
    attended = _attended_moments(_cases_in(span, unit))
    columns = []
    for i, period in enumerate(periods):
        inside = and_(CaseRow.started_at >= period.start_at, CaseRow.started_at < period.end_at)
        done = and_(inside, attended.c.attended_at < _cut(period, now))
        columns += [
            func.coalesce(func.sum(case((inside, 1), else_=0)), 0).label(f"r{i}"),
            func.coalesce(func.sum(case((done, 1), else_=0)), 0).label(f"a{i}"),
            func.coalesce(func.sum(case((and_(done, attended.c.referred == 1), 1),
                                        else_=0)), 0).label(f"d{i}"),
        ]
    row = session.execute(
        select(*columns).select_from(CaseRow)
        .outerjoin(attended, attended.c.case_id == CaseRow.id)
        .where(_cases_in(span, unit))).one()
    return [IndicatorRow(p, int(row[3 * i]), int(row[3 * i + 1]), int(row[3 * i + 2]))
            for i, p in enumerate(periods)]


# -- drill-down -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseLine:
    """A case behind a figure."""

    number: str
    started_at: datetime
    status: str
    outcome: str | None
    attended_at: datetime | None
    due_at: datetime | None
    requester: str | None


FIGURES = ("recibidas", "atendidas", "no_atendidas", "a_tiempo", "fuera_de_plazo",
           "abiertos", "por_vencer", "vencidos")


def cases_behind(session: Session, period: Period, figure: str, now: datetime, *,
                 due_soon_until: datetime | None = None, unit: str | None = None,
                 limit: int = 1000) -> list[CaseLine]:
    """Return the cases behind one figure of the dashboard (at most ``limit``)."""
    cut = _cut(period, now)
    where: list[Any]
    if figure in ("abiertos", "por_vencer", "vencidos"):
        attended = _attended_moments(CaseRow.status == "open")
        where = [CaseRow.process_id == PROCESS_ID, CaseRow.status == "open"]
        where += _open_state(figure, attended, now, due_soon_until or now)
    else:
        attended = _attended_moments(_cases_in(period, unit))
        where = [_cases_in(period, unit)]
        where += {
            "recibidas": [],
            "atendidas": [attended.c.attended_at < cut],
            "no_atendidas": [or_(attended.c.attended_at.is_(None),
                                 attended.c.attended_at >= cut)],
            "a_tiempo": [attended.c.attended_at <= CaseRow.due_at],
            "fuera_de_plazo": [_late(attended, now)],
        }[figure]
    rows = session.execute(
        select(CaseRow.number, CaseRow.started_at, CaseRow.status, CaseRow.outcome,
               attended.c.attended_at, CaseRow.due_at, CaseRow.requester)
        .outerjoin(attended, attended.c.case_id == CaseRow.id)
        .where(*where).order_by(CaseRow.started_at, CaseRow.id).limit(limit)).all()
    return [CaseLine(*row) for row in rows]


def _late(attended: Any, now: datetime) -> Any:
    return or_(attended.c.attended_at > CaseRow.due_at,
               and_(attended.c.attended_at.is_(None), CaseRow.due_at < now))


def _open_state(figure: str, attended: Any, now: datetime, soon: datetime) -> list[Any]:
    waiting = attended.c.attended_at.is_(None)
    if figure == "vencidos":
        return [waiting, CaseRow.due_at < now]
    if figure == "por_vencer":
        return [waiting, CaseRow.due_at >= now, CaseRow.due_at <= soon]
    return []


# -- the 15-working-day diagnosis deadline ----------------------------------------------------


@dataclass(frozen=True)
class DeadlineCompliance:
    """How the requests of a period fared against the 15-working-day diagnosis deadline."""

    on_time: int
    late: int
    pending: int

    @property
    def percent(self) -> float | None:
        """Return on time ÷ (on time + late) × 100; None when none is settled yet."""
        settled = self.on_time + self.late
        return 100.0 * self.on_time / settled if settled else None


def deadline_compliance(session: Session, period: Period, now: datetime, *,
                        unit: str | None = None) -> DeadlineCompliance:
    """Count the period's requests attended by their deadline, after it, or still within it.

    The deadline is the case's own (``due_at``: 15 working days, Ecuador's holidays, computed by
    the procedure when the request is registered).
    """
    attended = _attended_moments(_cases_in(period, unit))
    on_time = attended.c.attended_at <= CaseRow.due_at
    late = _late(attended, now)
    row = session.execute(
        select(func.coalesce(func.sum(case((on_time, 1), else_=0)), 0),
               func.coalesce(func.sum(case((late, 1), else_=0)), 0),
               func.count())
        .select_from(CaseRow).outerjoin(attended, attended.c.case_id == CaseRow.id)
        .where(_cases_in(period, unit))).one()
    return DeadlineCompliance(int(row[0]), int(row[1]), int(row[2]) - int(row[0]) - int(row[1]))


# -- cycle times ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CycleTime:
    """Durations of one activity (or of whole cases): how many, median and 90th percentile."""

    key: str
    count: int
    median_seconds: float
    p90_seconds: float


def activity_times(session: Session, period: Period, *, unit: str | None = None,
                   process_id: str = PROCESS_ID) -> list[CycleTime]:
    """Return, per activity, the time from the case's previous step to the task's completion.

    Over the cases received in ``period``; percentiles by nearest rank, computed in SQL.
    """
    dialect = session.get_bind().dialect.name
    steps = (select(_E.activity_id, _E.event_type, _E.at,
                    # Partitioned in the order the cases are read (their (process, started_at,
                    # id) index, then each case's events by seq), so SQLite needs no sort.
                    func.lag(_E.at).over(partition_by=(CaseRow.started_at, _E.case_id),
                                         order_by=_E.seq)
                    .label("previous_at"))
             .join(CaseRow, CaseRow.id == _E.case_id)
             .where(_cases_in(period, unit) if process_id == PROCESS_ID else and_(
                 CaseRow.process_id == process_id, CaseRow.started_at >= period.start_at,
                 CaseRow.started_at < period.end_at),
                 _E.event_type.in_(STEP_EVENTS))
             .subquery("steps"))
    durations = (select(steps.c.activity_id.label("key"),
                        _seconds(steps.c.at, steps.c.previous_at, dialect).label("seconds"))
                 .where(steps.c.event_type == "task_completed",
                        steps.c.previous_at.is_not(None))
                 .subquery("durations"))
    return _percentiles(session, durations)


def case_times(session: Session, period: Period, *, unit: str | None = None) -> CycleTime | None:
    """Return the duration of the period's requests that are closed, from request to close."""
    dialect = session.get_bind().dialect.name
    durations = (select(literal("caso").label("key"),
                        _seconds(CaseRow.completed_at, CaseRow.started_at, dialect)
                        .label("seconds"))
                 .where(_cases_in(period, unit), CaseRow.completed_at.is_not(None))
                 .subquery("durations"))
    found = _percentiles(session, durations)
    return found[0] if found else None


def _percentiles(session: Session, durations: Any) -> list[CycleTime]:
    ranked = select(
        durations.c.key, durations.c.seconds,
        func.row_number().over(partition_by=durations.c.key, order_by=durations.c.seconds)
        .label("rn"),
        # The same window as the rank (a whole-partition frame): one sort serves both.
        func.count().over(partition_by=durations.c.key, order_by=durations.c.seconds,
                          rows=(None, None)).label("n")).subquery("ranked")
    rows = session.execute(
        select(ranked.c.key, ranked.c.n,
               func.max(case((ranked.c.rn == _rank(ranked.c.n, 50), ranked.c.seconds))),
               func.max(case((ranked.c.rn == _rank(ranked.c.n, 90), ranked.c.seconds))))
        .group_by(ranked.c.key, ranked.c.n).order_by(ranked.c.key)).all()
    return [CycleTime(str(k), int(n), float(m or 0), float(p or 0)) for k, n, m, p in rows]


# -- open cases, workload, outcomes -----------------------------------------------------------


@dataclass(frozen=True)
class OpenCases:
    """Open cases now: all, waiting for their diagnosis near the deadline, and past it."""

    open: int
    due_soon: int
    overdue: int


def open_cases(session: Session, now: datetime, due_soon_until: datetime) -> OpenCases:
    """Count the open social cases and those whose diagnosis is due soon or overdue."""
    attended = _attended_moments(CaseRow.status == "open")
    waiting = attended.c.attended_at.is_(None)
    row = session.execute(
        select(func.count(),
               func.coalesce(func.sum(case((and_(waiting, CaseRow.due_at >= now,
                                                 CaseRow.due_at <= due_soon_until), 1),
                                           else_=0)), 0),
               func.coalesce(func.sum(case((and_(waiting, CaseRow.due_at < now), 1),
                                           else_=0)), 0))
        .select_from(CaseRow).outerjoin(attended, attended.c.case_id == CaseRow.id)
        .where(CaseRow.process_id == PROCESS_ID, CaseRow.status == "open")).one()
    return OpenCases(int(row[0]), int(row[1]), int(row[2]))


@dataclass(frozen=True)
class Workload:
    """What one person (or a role's shared list) holds and did."""

    role: str
    person: str | None
    open_tasks: int
    completed: int


def workload(session: Session, period: Period, *,
             process_id: str = PROCESS_ID) -> list[Workload]:
    """Return open tasks now and tasks completed in ``period``, per role and person."""
    open_rows = session.execute(
        select(OpenTaskRow.role, PersonRow.username, func.count())
        .outerjoin(PersonRow, PersonRow.id == OpenTaskRow.assignee_id)
        .where(OpenTaskRow.process_id == process_id)
        .group_by(OpenTaskRow.role, PersonRow.username)).all()
    done_rows = session.execute(
        select(_E.role, _E.actor, func.count())
        .join(CaseRow, CaseRow.id == _E.case_id)
        .where(CaseRow.process_id == process_id, _E.event_type == "task_completed",
               _E.at >= period.start_at, _E.at < period.end_at)
        .group_by(_E.role, _E.actor)).all()
    table: dict[tuple[str, str | None], list[int]] = {}
    for role, person, count in open_rows:
        table.setdefault((role or "", person), [0, 0])[0] += int(count)
    for done_role, actor, count in done_rows:
        table.setdefault((done_role or "", actor), [0, 0])[1] += int(count)
    return [Workload(role, person, v[0], v[1])
            for (role, person), v in sorted(table.items(), key=lambda i: (i[0][0], i[0][1] or ""))]


@dataclass(frozen=True)
class Outcomes:
    """How the period's requests ended (or not yet)."""

    referred: int
    with_support: int
    without_support: int
    open: int


def outcomes(session: Session, period: Period, *, unit: str | None = None) -> Outcomes:
    """Count the period's requests: referred, closed with support, closed without, still open."""
    def reached(activity: str, extra: Any = None) -> Any:
        conditions = [_E.activity_id == activity, _E.event_type == "task_completed"]
        if extra is not None:
            conditions.append(extra)
        # Per case, through the log's (case, seq) key: never a scan of the whole log.
        return exists().where(_E.case_id == CaseRow.id, *conditions)

    referred = reached("reasignar_solicitud",
                       _E.data[("form", "is_social_case")].as_boolean() == false())
    support = reached("solicitar_apoyo")
    closed = CaseRow.status != "open"
    row = session.execute(
        select(func.coalesce(func.sum(case((referred, 1), else_=0)), 0),
               func.coalesce(func.sum(case((and_(closed, support), 1), else_=0)), 0),
               func.coalesce(func.sum(case((and_(closed, ~support, ~referred), 1),
                                           else_=0)), 0),
               func.coalesce(func.sum(case((~closed, 1), else_=0)), 0))
        .where(_cases_in(period, unit))).one()
    return Outcomes(*(int(v) for v in row))


def units(session: Session, span: Period) -> list[str]:
    """Return the units named in the requests received in ``span``, for the filter."""
    # Labelled, so that ORDER BY names the selected column (PostgreSQL wants it for DISTINCT).
    unit = _requested_unit().label("unit")
    return [u for u in session.scalars(
        select(unit).distinct().select_from(CaseRow).join(_E, and_(*_request_of_case()))
        .where(CaseRow.process_id == PROCESS_ID, CaseRow.started_at >= span.start_at,
               CaseRow.started_at < span.end_at).order_by(unit)) if u]


# -- the whole page ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SocialDashboard:
    """Every figure of the social case's dashboard for one period."""

    period: Period
    unit: str | None
    quarters: list[IndicatorRow]
    months: list[IndicatorRow]
    selected: IndicatorRow
    deadline: DeadlineCompliance
    activities: list[CycleTime]
    cases: CycleTime | None
    open: OpenCases
    workload: list[Workload]
    outcomes: Outcomes
    units: list[str]
    definition: str = DEFINITION
    target: float = TARGET


def dashboard(session: Session, period: Period, now: datetime, due_soon_until: datetime, *,
              unit: str | None = None) -> SocialDashboard:
    """Gather the dashboard of ``period`` (its year's quarters and months for the trend)."""
    year = int(period.key[:4])
    rows = indicator(session, [*quarters_of(year), *months_of(year), period], now, unit=unit)
    return SocialDashboard(
        period=period, unit=unit, quarters=rows[:4], months=rows[4:16], selected=rows[16],
        deadline=deadline_compliance(session, period, now, unit=unit),
        activities=activity_times(session, period, unit=unit),
        cases=case_times(session, period, unit=unit),
        open=open_cases(session, now, due_soon_until),
        workload=workload(session, period), outcomes=outcomes(session, period, unit=unit),
        units=_units_offered(session, year_period(year), unit))


def _units_offered(session: Session, span: Period, chosen: str | None) -> list[str]:
    # The year the page charts, not the whole log: listing every unit ever named read every
    # request. The unit chosen stays offered even when that year names it nowhere.
    found = units(session, span)
    return sorted([*found, chosen]) if chosen and chosen not in found else found
