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
The figures of a CLOSED period are remembered in memory, each with a fingerprint of the records
it was computed from, and computed again by the same statement as soon as those records change
(see "closed periods' figures" below).
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from threading import Lock
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    Float,
    Index,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session

from .clock import LOCAL_TZ
from .disposal import DisposalActRow
from .store import CaseEventRow, CaseRow, OpenTaskRow, PersonRow

# What the dashboards read besides a case's own events (found through the log's (case, seq)
# key): the tasks completed in a period (workload) and one activity across cases (the units
# named in requests, the heatmap's list of an element's cases).
# The kind leads so that "tasks completed in a period" is one range of the index: with the
# moment alone SQLite preferred walking every case of the procedure and all its events.
Index("ix_case_event_type_at", CaseEventRow.event_type, CaseEventRow.at)
Index("ix_case_event_activity", CaseEventRow.activity_id, CaseEventRow.case_id)


# -- at scale (revision r0009): partial, covering indexes -------------------------------------
# At 100,000 cases the costs were (1) finding each case's attendance among every validation and
# referral of the log (PostgreSQL hashed all 200,000 of them and parsed their JSON on every
# view), (2) reading each step event's row (JSON, hashes) for the times per activity, (3) reading
# each request's row for its unit. Each index below holds only the events one question needs,
# with what it reads, so that the question is an index-only lookup per case. Their conditions
# are written with literals (never bound parameters): a planner can use a partial index only
# when it sees that the query's condition implies the index's.


def _json_text(path: tuple[str, ...], dialect: str, table: Any = CaseEventRow) -> Any:
    """A member of the event's data as SQL text, written the same on SQLite (≥ 3.38) and
    PostgreSQL (``data -> 'form' ->> 'member'``) so that one index definition serves both."""
    column = (CaseEventRow.__table__ if table is CaseEventRow else table).c.data
    outer, member = path
    return column.op("->")(literal_column(f"'{outer}'")).op("->>", return_type=Text)(
        literal_column(f"'{member}'"))


def _json_flag(path: tuple[str, ...], value: bool, table: Any = CaseEventRow) -> Any:
    """A boolean member of the event's data is ``value``: its JSON text, the same on both."""
    column = (CaseEventRow.__table__ if table is CaseEventRow else table).c.data
    outer, member = path
    return cast(column.op("->")(literal_column(f"'{outer}'")).op("->")(
        literal_column(f"'{member}'")), Text) == literal_column(
        "'true'" if value else "'false'")


def _attending_answer(table: Any = CaseEventRow) -> Any:
    """The answers that attend a request, as the partial index states them: a validated report
    (activity 6) or a referral because it is not a social case (activity 2)."""
    c = table.__table__.c if table is CaseEventRow else table.c
    return or_(and_(c.activity_id == literal_column("'validar_informe'"),
                    _json_flag(("form", "report_validated"), True, table)),
               and_(c.activity_id == literal_column("'reasignar_solicitud'"),
                    _json_flag(("form", "is_social_case"), False, table)))


def _of_kind(table: Any, kind: str) -> Any:
    """The event is of ``kind``, written so that no index on the kind can serve it.

    Per case, the log is read through indexes that lead with the case; without statistics
    (a database never ANALYZEd) SQLite preferred ix_case_event_type_at for a plain
    ``event_type = 'task_completed'`` and read every completed task of the log once per case
    (minutes at 100,000 cases). COALESCE of a NOT NULL column changes nothing but that.
    """
    c = table.__table__.c if table is CaseEventRow else table.c
    return func.coalesce(c.event_type, literal_column("''")) == kind


def _attendance(dialect: str, table: Any = CaseEventRow) -> Any:
    """The events that attend a request: a completed task answering it (see above)."""
    return and_(_attending_answer(table), _of_kind(table, "task_completed"))


def _request_event(table: Any = CaseEventRow) -> Any:
    """Activity 1's events (the request's registration), as the partial index states it."""
    c = table.__table__.c if table is CaseEventRow else table.c
    return and_(c.activity_id == literal_column("'recibir_solicitud'"),
                c.event_type == literal_column("'task_completed'"))


def _step_event(table: Any = CaseEventRow) -> Any:
    """The events that hand a case to its next activity, as the partial index states it."""
    c = table.__table__.c if table is CaseEventRow else table.c
    return c.event_type.in_([literal_column(f"'{kind}'") for kind in STEP_EVENTS_SQL])


STEP_EVENTS_SQL = ("case_started", "task_completed", "timer_fired")
# Each case's attendance, its moment and whether it was a referral: one entry per case.
# The kind is a column (not in the condition, see _of_kind) so that checking it reads no row.
Index("ix_case_event_attended", CaseEventRow.case_id, CaseEventRow.at, CaseEventRow.activity_id,
      CaseEventRow.event_type, sqlite_where=_attending_answer(),
      postgresql_where=_attending_answer())
# The unit named in each request (activity 1), read without the event's row (SQLite).
Index("ix_case_event_request_unit", CaseEventRow.case_id,
      _json_text(("form", "beneficiary_unit"), ""),
      sqlite_where=_request_event(), postgresql_where=_request_event())
# A case's steps in order with what the times per activity read: no row of the log is read.
Index("ix_case_event_steps", CaseEventRow.case_id, CaseEventRow.seq, CaseEventRow.event_type,
      CaseEventRow.at, CaseEventRow.activity_id, sqlite_where=_step_event(),
      postgresql_where=_step_event())

PROCESS_ID = "social_case"
TARGET = 80.0
DIAGNOSIS_WORKING_DAYS = 15
# Steps that hand a case to its next activity: the time between two of them is spent in the
# activity completed by the second one.
STEP_EVENTS = STEP_EVENTS_SQL
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


def _attended_moments(dialect: str, *cases: Any) -> Any:
    """One row per case among ``cases`` (conditions on ``case``): when its diagnosis was
    validated or it was referred (NULL while neither), and whether it was referred.

    The cases drive the statement (a LEFT JOIN keeps them the outer loop on every backend):
    each one's attendance is looked up in the partial index ``ix_case_event_attended``, which
    holds only attending events, so the cost follows the cases chosen and no event row or JSON
    is read. Joining the other way round read every validation and referral of the whole log.
    """
    attending = CaseEventRow.__table__.alias("attending")
    return (select(CaseRow.id.label("case_id"), func.min(attending.c.at).label("attended_at"),
                   func.max(case((attending.c.activity_id == "reasignar_solicitud", 1),
                                 else_=0)).label("referred"))
            .select_from(CaseRow)
            .outerjoin(attending, and_(attending.c.case_id == CaseRow.id,
                                       _attendance(dialect, attending)))
            .where(CaseRow.process_id == PROCESS_ID, *cases)
            # In the order of the (process, started_at, id) index, so that SQLite walks the
            # period's slice of it rather than every case of the procedure in id order.
            .group_by(CaseRow.started_at, CaseRow.id).subquery("attended"))


def _request_unit(dialect: str, table: Any) -> Any:
    """The unit the beneficiary works in, as the request form gave it (activity 1)."""
    return _json_text(("form", "beneficiary_unit"), dialect, table)


def _cases_in(span: Period, unit: str | None, dialect: str) -> Any:
    """The conditions choosing the social cases received in ``span`` (and from ``unit``)."""
    conditions = [CaseRow.process_id == PROCESS_ID, CaseRow.started_at >= span.start_at,
                  CaseRow.started_at < span.end_at]
    if unit:
        # Per case chosen by the period, in the index of the requests' units (an alias of
        # the log of its own, so that it never correlates with an enclosing statement's).
        request = CaseEventRow.__table__.alias("request")
        conditions.append(exists().where(request.c.case_id == CaseRow.id,
                                         _request_event(request),
                                         _request_unit(dialect, request) == unit))
    return and_(*conditions)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _seconds(later: Any, earlier: Any, dialect: str) -> Any:
    """The seconds between two UTC columns (microsecond integers on SQLite)."""
    if dialect == "sqlite":
        return cast(later - earlier, Float) / 1_000_000.0
    # A double, not EXTRACT's numeric: sorting 300,000 numerics for the percentiles took
    # several times as long as sorting doubles.
    return cast(func.extract("epoch", later - earlier), Float)


def _rank(n: Any, percent: int) -> Any:
    # Nearest rank: ceil(percent × n / 100), in integer arithmetic every backend shares.
    return (n * percent + 99) // 100


def _cut(period: Period, now: datetime) -> datetime:
    return min(period.end_at, now)


# -- closed periods' figures, remembered while their records stay the same ------------------
#
# The figures of the cases received in a period that has CLOSED (its end is past) are the same
# every time they are computed, as long as the records they come from are the same: the period's
# requests are fixed once it closes (a case's ``started_at`` is the clock's time when it is
# registered, never a past one, and cases are never deleted), and what their figures read is
# their events, which are only ever appended (seq grows by one with each) — except that a
# disposal act erases the data of the events of the cases it disposes of. So a closed period's
# figures are kept with a *fingerprint* of those records — how many cases it received, the sum
# of their ids, the sum of their last event's seq, and how many disposal acts exist — and used
# again only while a fresh fingerprint (one index-only statement) is equal: any new event in any
# of its cases, a new case, or a disposal changes it, and the figures are computed again by the
# very same SQL. Only figures that do not depend on "now" are kept (the indicator of a closed
# period, the times per activity and per case, the outcomes); open cases, the deadline
# compliance and the workload are computed on every view. Nothing is a counter kept on the side:
# a remembered figure is a copy of one computed from the records, tied to the records it came
# from (the test ``test_dashboards_at_scale.py`` checks cached == recomputed after new events).

_CACHE_SIZE = 512
_caches: WeakKeyDictionary[Any, OrderedDict[tuple[Any, ...], tuple[Any, Any]]] = \
    WeakKeyDictionary()
_cache_lock = Lock()


def _fingerprints(session: Session, periods: Sequence[Period],
                  unit: str | None) -> dict[str, tuple[int, ...]]:
    """One statement: per period, (cases received, sum of their ids, sum of their last seq)."""
    dialect = _dialect(session)
    span = Period("", "", min(p.start_at for p in periods), max(p.end_at for p in periods))
    # Each case's last seq from the log's (case, seq) key: an index-only lookup per case, once
    # per case (the GROUP BY keeps the planners from copying the lookup into every sum below).
    last_seq = (select(func.max(_E.seq)).where(_E.case_id == CaseRow.id)
                .correlate(CaseRow).scalar_subquery())
    cohort = (select(CaseRow.id.label("id"), CaseRow.started_at.label("started_at"),
                     last_seq.label("last_seq"))
              .where(_cases_in(span, unit, dialect))
              .group_by(CaseRow.started_at, CaseRow.id).subquery("cohort"))
    columns = []
    for period in periods:
        inside = and_(cohort.c.started_at >= period.start_at,
                      cohort.c.started_at < period.end_at)
        columns += [func.coalesce(func.sum(case((inside, 1), else_=0)), 0),
                    func.coalesce(func.sum(case((inside, cohort.c.id), else_=0)), 0),
                    func.coalesce(func.sum(case((inside, cohort.c.last_seq), else_=0)), 0)]
    row = session.execute(select(*columns).select_from(cohort)).one()
    acts = int(session.scalar(select(func.count()).select_from(DisposalActRow)) or 0)
    return {p.key: (int(row[3 * i]), int(row[3 * i + 1]), int(row[3 * i + 2]), acts)
            for i, p in enumerate(periods)}


def _remembered(session: Session, name: str, periods: Sequence[Period], unit: str | None,
                now: datetime, compute: Callable[[list[Period]], list[Any]]) -> list[Any]:
    """Return ``compute(periods)``, reusing the figures of closed periods whose records are
    unchanged (same fingerprint); open periods are always computed."""
    closed = [p for p in periods if p.end_at <= now]
    if not closed:
        return compute(list(periods))
    with _cache_lock:
        cache = _caches.setdefault(session.get_bind(), OrderedDict())
    # Within one reading session a period's fingerprint is taken once for all its figures.
    memo = session.info.setdefault("cauce_period_fingerprints", {})
    wanted = [p for p in closed if (p.key, unit) not in memo]
    if wanted:
        memo.update({(key, unit): value
                     for key, value in _fingerprints(session, wanted, unit).items()})
    prints = {p.key: memo[(p.key, unit)] for p in closed}
    found: dict[str, Any] = {}
    for p in closed:
        kept = cache.get((name, p.key, unit))
        if kept is not None and kept[0] == prints[p.key]:
            found[p.key] = kept[1]
    missing = [p for p in periods if p.key not in found]
    if missing:
        for p, value in zip(missing, compute(missing), strict=True):
            found[p.key] = value
            if p.end_at <= now:
                with _cache_lock:
                    cache[(name, p.key, unit)] = (prints[p.key], value)
                    cache.move_to_end((name, p.key, unit))
                    while len(cache) > _CACHE_SIZE:
                        cache.popitem(last=False)
    return [found[p.key] for p in periods]


def forget_remembered_figures() -> None:
    """Drop every remembered figure (tests; never needed for correctness)."""
    with _cache_lock:
        _caches.clear()


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
    """Return the indicator for each period, in one statement (closed periods remembered)."""
    if not periods:
        return []
    # The same period may be asked twice (the chosen quarter is also one of its year's).
    unique = list({p.key: p for p in periods}.values())
    rows = {r.period.key: r for r in _remembered(
        session, "indicator", unique, unit, now,
        lambda chosen: _indicator(session, chosen, now, unit))}
    return [IndicatorRow(p, rows[p.key].received, rows[p.key].attended, rows[p.key].referred)
            for p in periods]


def _indicator(session: Session, periods: Sequence[Period], now: datetime,
               unit: str | None) -> list[IndicatorRow]:
    dialect = _dialect(session)
    span = Period("", "", min(p.start_at for p in periods), max(p.end_at for p in periods))
    attended = _attended_moments(dialect, _cases_in(span, unit, dialect))
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
        .where(_cases_in(span, unit, dialect))).one()
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
    dialect = _dialect(session)
    cut = _cut(period, now)
    where: list[Any]
    if figure in ("abiertos", "por_vencer", "vencidos"):
        attended = _attended_moments(dialect, CaseRow.status == "open")
        where = [CaseRow.process_id == PROCESS_ID, CaseRow.status == "open"]
        where += _open_state(figure, attended, now, due_soon_until or now)
    else:
        attended = _attended_moments(dialect, _cases_in(period, unit, dialect))
        where = [_cases_in(period, unit, dialect)]
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
    dialect = _dialect(session)
    attended = _attended_moments(dialect, _cases_in(period, unit, dialect))
    on_time = attended.c.attended_at <= CaseRow.due_at
    late = _late(attended, now)
    row = session.execute(
        select(func.coalesce(func.sum(case((on_time, 1), else_=0)), 0),
               func.coalesce(func.sum(case((late, 1), else_=0)), 0),
               func.count())
        .select_from(CaseRow).outerjoin(attended, attended.c.case_id == CaseRow.id)
        .where(_cases_in(period, unit, dialect))).one()
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
                   process_id: str = PROCESS_ID, now: datetime | None = None) -> list[CycleTime]:
    """Return, per activity, the time from the case's previous step to the task's completion.

    Over the cases received in ``period``; percentiles by nearest rank, computed in SQL. Given
    ``now``, a closed period's social-case figures are remembered (see ``_remembered``).
    """
    if now is not None and process_id == PROCESS_ID:
        if _is_year(period):
            # A year from its quarters' durations (closed quarters remembered): exact, and a
            # year still running reads only its running quarter's steps on each view.
            return list(_remembered(session, "activity_times", [period], unit, now,
                                    lambda chosen: [_nearest_ranks(_merged(
                                        _quarter_durations(session, chosen[0], unit, now)))])[0])
        return list(_remembered(session, "activity_times", [period], unit, now,
                                lambda chosen: [_activity_times(session, chosen[0], unit,
                                                                process_id)])[0])
    return _activity_times(session, period, unit, process_id)


# -- a year from its quarters -----------------------------------------------------------------
#
# A year's requests are exactly its four quarters' (the quarters split the year at the same
# local midnights), so every figure that only counts or lists what belongs to each request —
# the steps' durations, the outcomes — is the union of its quarters' figures, and the tasks
# completed in a year are those completed in its quarters. A closed quarter's part is remembered
# by the same fingerprint as its other figures, so the year is computed from the records of the
# quarters whose records changed (or are still running) only. Percentiles do not add up, so a
# quarter keeps its durations themselves, sorted per activity (an array of doubles: ~70,000 a
# quarter at 100,000 cases over three years, ~0.6 MB), and the year's median and p90 are the
# nearest ranks of the merged durations: the same figures as one statement over the year.
# (The indicator does not split: a year's request attended after its quarter closed counts for
# the year and not for the quarter; it stays one statement.)


def _is_year(period: Period) -> bool:
    return len(period.key) == 4


def _quarter_durations(session: Session, year: Period, unit: str | None,
                       now: datetime) -> list[dict[str, array[float]]]:
    """The sorted step durations per activity of each quarter of ``year`` (closed ones
    remembered)."""
    return _remembered(session, "activity_durations", quarters_of(int(year.key)), unit, now,
                       lambda chosen: [_durations(session, q, unit) for q in chosen])


def _durations(session: Session, period: Period, unit: str | None) -> dict[str, array[float]]:
    """The step durations (seconds) per activity of the period's requests, each sorted."""
    durations = _step_durations(session, period, unit, PROCESS_ID)
    if _dialect(session) == "postgresql":
        # One array per activity (binary doubles: the same values, without a row each).
        return {str(key): array("d", sorted(values)) for key, values in session.execute(
            select(durations.c.key, func.array_agg(durations.c.seconds))
            .group_by(durations.c.key))}
    found: dict[str, list[float]] = {}
    # Through the connection: ~70,000 plain rows a quarter, no ORM loading per row.
    rows = session.connection().execute(select(*durations.c)).all()
    for key, seconds in rows:
        values = found.get(key)
        if values is None:
            values = found[key] = []
        values.append(seconds)
    return {str(key): array("d", sorted(values)) for key, values in found.items()}


def _merged(parts: Sequence[dict[str, array[float]]]) -> dict[str, list[float]]:
    merged: dict[str, list[float]] = {}
    for part in parts:
        for key, values in part.items():
            merged.setdefault(key, []).extend(values)
    for joined in merged.values():
        joined.sort()  # runs already sorted: a merge, not a full sort
    return merged


def _nearest_ranks(durations: dict[str, list[float]]) -> list[CycleTime]:
    """Median and p90 by nearest rank, as ``_percentiles`` computes them in SQL."""
    def at(values: list[float], percent: int) -> float:
        return values[(len(values) * percent + 99) // 100 - 1]

    return [CycleTime(key, len(values), at(values, 50), at(values, 90))
            for key, values in sorted(durations.items()) if values]


def _activity_times(session: Session, period: Period, unit: str | None,
                    process_id: str) -> list[CycleTime]:
    return _percentiles(session, _step_durations(session, period, unit, process_id))


def _step_durations(session: Session, period: Period, unit: str | None,
                    process_id: str) -> Any:
    """(key: activity, seconds) of each task completed in the period's requests, timed from
    the case's previous step."""
    dialect = _dialect(session)
    steps = (select(_E.activity_id, _E.event_type, _E.at,
                    # Partitioned in the order the cases are read (their (process, started_at,
                    # id) index, then each case's events by seq), so SQLite needs no sort.
                    func.lag(_E.at).over(partition_by=(CaseRow.started_at, _E.case_id),
                                         order_by=_E.seq)
                    .label("previous_at"))
             .join(CaseRow, CaseRow.id == _E.case_id)
             .where(_cases_in(period, unit, dialect) if process_id == PROCESS_ID else and_(
                 CaseRow.process_id == process_id, CaseRow.started_at >= period.start_at,
                 CaseRow.started_at < period.end_at),
                 _step_event())
             .subquery("steps"))
    durations = (select(steps.c.activity_id.label("key"),
                        _seconds(steps.c.at, steps.c.previous_at, dialect).label("seconds"))
                 .where(steps.c.event_type == "task_completed",
                        steps.c.previous_at.is_not(None))
                 .subquery("durations"))
    return durations


def case_times(session: Session, period: Period, *, unit: str | None = None,
               now: datetime | None = None) -> CycleTime | None:
    """Return the duration of the period's requests that are closed, from request to close."""
    if now is not None:
        return _remembered(session, "case_times", [period], unit, now,
                           lambda chosen: [_case_times(session, chosen[0], unit)])[0]
    return _case_times(session, period, unit)


def _case_times(session: Session, period: Period, unit: str | None) -> CycleTime | None:
    dialect = _dialect(session)
    durations = (select(literal("caso").label("key"),
                        _seconds(CaseRow.completed_at, CaseRow.started_at, dialect)
                        .label("seconds"))
                 .where(_cases_in(period, unit, dialect), CaseRow.completed_at.is_not(None))
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
    dialect = _dialect(session)
    attended = _attended_moments(dialect, CaseRow.status == "open")
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


def _completed_by(session: Session, period: Period, process_id: str,
                  now: datetime | None) -> list[Any]:
    """(role, person, tasks completed in ``period``) of the procedure.

    A closed period's counts are remembered with the number of tasks completed in it (an
    index-only count): the events of a closed period are all written (events are appended at
    the clock's time, after its end), their role and person are never rewritten (a disposal
    erases only the events' data), so a different count is the only way they can change.
    """
    def compute() -> list[Any]:
        return [tuple(r) for r in session.execute(
            select(_E.role, _E.actor, func.count())
            .join(CaseRow, CaseRow.id == _E.case_id)
            .where(CaseRow.process_id == process_id, _E.event_type == "task_completed",
                   _E.at >= period.start_at, _E.at < period.end_at)
            .group_by(_E.role, _E.actor)).all()]

    if now is None or period.end_at > now:
        return compute()
    done = int(session.scalar(select(func.count()).select_from(_E).where(
        _E.event_type == "task_completed", _E.at >= period.start_at,
        _E.at < period.end_at)) or 0)
    with _cache_lock:
        cache = _caches.setdefault(session.get_bind(), OrderedDict())
        kept = cache.get(("workload", period.key, process_id))
    if kept is not None and kept[0] == done:
        return list(kept[1])
    rows = compute()
    with _cache_lock:
        cache[("workload", period.key, process_id)] = (done, rows)
    return rows


def workload(session: Session, period: Period, *, process_id: str = PROCESS_ID,
             now: datetime | None = None) -> list[Workload]:
    """Return open tasks now and tasks completed in ``period``, per role and person."""
    open_rows = session.execute(
        select(OpenTaskRow.role, PersonRow.username, func.count())
        .outerjoin(PersonRow, PersonRow.id == OpenTaskRow.assignee_id)
        .where(OpenTaskRow.process_id == process_id)
        .group_by(OpenTaskRow.role, PersonRow.username)).all()
    done_rows = [row for part in (quarters_of(int(period.key)) if _is_year(period)
                                  and now is not None else [period])
                 for row in _completed_by(session, part, process_id, now)]
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


def outcomes(session: Session, period: Period, *, unit: str | None = None,
             now: datetime | None = None) -> Outcomes:
    """Count the period's requests: referred, closed with support, closed without, still open."""
    if now is not None:
        if _is_year(period):  # the sum of its quarters' (see "a year from its quarters")
            parts = _remembered(session, "outcomes", quarters_of(int(period.key)), unit, now,
                                lambda chosen: [_outcomes(session, q, unit) for q in chosen])
            return Outcomes(*(sum(getattr(part, name) for part in parts) for name in
                              ("referred", "with_support", "without_support", "open")))
        return _remembered(session, "outcomes", [period], unit, now,
                           lambda chosen: [_outcomes(session, chosen[0], unit)])[0]
    return _outcomes(session, period, unit)


def _outcomes(session: Session, period: Period, unit: str | None) -> Outcomes:
    dialect = _dialect(session)
    attending = CaseEventRow.__table__.alias("attending")
    support_event = CaseEventRow.__table__.alias("support")
    # Per case, in the attendance index (a referral is an attending event of activity 2) and
    # the (activity, case) index: never a scan of the whole log, never an event's row.
    referred = exists().where(attending.c.case_id == CaseRow.id,
                              _attendance(dialect, attending),
                              attending.c.activity_id == "reasignar_solicitud")
    support = exists().where(support_event.c.activity_id == "solicitar_apoyo",
                             support_event.c.case_id == CaseRow.id,
                             _of_kind(support_event, "task_completed"))
    closed = CaseRow.status != "open"
    row = session.execute(
        select(func.coalesce(func.sum(case((referred, 1), else_=0)), 0),
               func.coalesce(func.sum(case((and_(closed, support), 1), else_=0)), 0),
               func.coalesce(func.sum(case((and_(closed, ~support, ~referred), 1),
                                           else_=0)), 0),
               func.coalesce(func.sum(case((~closed, 1), else_=0)), 0))
        .where(_cases_in(period, unit, dialect))).one()
    return Outcomes(*(int(v) for v in row))


def units(session: Session, span: Period) -> list[str]:
    """Return the units named in the requests received in ``span``, for the filter."""
    dialect = _dialect(session)
    request = CaseEventRow.__table__.alias("request")
    # Labelled, so that ORDER BY names the selected column (PostgreSQL wants it for DISTINCT).
    # Read from the index of the requests' units, one entry per case of the span.
    unit = _request_unit(dialect, request).label("unit")
    return [u for u in session.scalars(
        select(unit).distinct().select_from(CaseRow)
        .join(request, and_(request.c.case_id == CaseRow.id, _request_event(request)))
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
        activities=activity_times(session, period, unit=unit, now=now),
        cases=case_times(session, period, unit=unit, now=now),
        open=open_cases(session, now, due_soon_until),
        workload=workload(session, period, now=now),
        outcomes=outcomes(session, period, unit=unit, now=now),
        units=_units_offered(session, year_period(year), unit))


def _units_offered(session: Session, span: Period, chosen: str | None) -> list[str]:
    # The year the page charts, not the whole log: listing every unit ever named read every
    # request. The unit chosen stays offered even when that year names it nowhere.
    found = units(session, span)
    return sorted([*found, chosen]) if chosen and chosen not in found else found
