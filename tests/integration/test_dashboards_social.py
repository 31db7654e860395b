"""The social case's dashboard figures, checked against a plain-Python count of the same cases.

Cases are driven through the real engine with a fake clock; the test notes, as it goes, when each
request came in, when each step happened and how each case ended, then recomputes every figure
from those notes (not from the database) and compares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from engine import PermissionDenied
from engine.clock import LOCAL_TZ
from tests.conftest import CaseWalker

pytestmark = pytest.mark.integration

DIAGNOSIS = ["analizar_solicitud", "realizar_entrevista", "emitir_diagnostico"]


@dataclass
class Noted:
    """What the test itself saw of one case."""

    number: str
    started_at: datetime
    due_at: datetime | None = None
    attended_at: datetime | None = None
    referred: bool = False
    support: bool = False
    closed: bool = False
    # (activity, at, actor, role) per completed task; previous step moments for durations.
    steps: list[tuple[str, datetime]] = field(default_factory=list)
    completed: list[tuple[str, datetime, str]] = field(default_factory=list)


class Scenario:
    """Drives cases one step at a time, noting what happened and when."""

    def __init__(self, engine, people, clock):
        self.engine, self.people, self.clock = engine, people, clock
        self.cases: dict[str, tuple[CaseWalker, Noted]] = {}

    def at(self, day: int, month: int, hour: int = 10) -> None:
        self.clock.set(datetime(2026, month, day, hour, 0, tzinfo=LOCAL_TZ).astimezone(UTC))

    def start(self) -> str:
        walker = CaseWalker(self.engine, self.people)
        # The deadline counts from the request's date: the day it is registered.
        case = walker.start(request_date=self.clock.now.astimezone(LOCAL_TZ).date().isoformat())
        noted = Noted(case.number, self.clock.now, due_at=case.due_at)
        noted.steps.append(("case_started", self.clock.now))
        noted.steps.append(("recibir_solicitud", self.clock.now))
        noted.completed.append(("recibir_solicitud", self.clock.now, walker.coordinator))
        self.cases[case.number] = (walker, noted)
        return case.number

    def do(self, number: str, activity: str, **choices) -> None:
        walker, noted = self.cases[number]
        who = walker.who_for(activity)
        case = walker.do(activity, **choices)
        now = self.clock.now
        noted.steps.append((activity, now))
        noted.completed.append((activity, now, who))
        if activity == "reasignar_solicitud" and choices.get("is_social_case") is False:
            noted.referred, noted.attended_at = True, noted.attended_at or now
        if activity == "validar_informe" and choices.get("report_validated", True):
            noted.attended_at = noted.attended_at or now
        if activity == "solicitar_apoyo":
            noted.support = True
        noted.closed = case.status != "open"
        walker.case = case

    def fire_timers(self) -> None:
        for number in self.engine_cases_with_timers():
            self.cases[number][1].steps.append(("timer", self.clock.now))
        self.engine.fire_due_timers()
        for walker, _noted in self.cases.values():
            walker.case = self.engine.case(walker.case.number, by=walker.coordinator)

    def engine_cases_with_timers(self) -> list[str]:
        return [n for n, (_w, noted) in self.cases.items()
                if noted.due_at and noted.due_at < self.clock.now and noted.attended_at is None
                and not noted.closed and not any(s[0] == "timer" for s in noted.steps)]


def nearest_rank(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    index = -(-percent * len(ordered) // 100) - 1
    return ordered[index]


@pytest.fixture
def scenario(engine, people, clock) -> Scenario:
    s = Scenario(engine, people, clock)
    # Q1 2026 — A: attended and archived without support.
    s.at(2, 3)
    a = s.start()
    s.at(3, 3)
    s.do(a, "reasignar_solicitud")
    for day, activity in zip((4, 5, 6), DIAGNOSIS, strict=True):
        s.at(day, 3)
        s.do(a, activity)
    s.at(9, 3)
    s.do(a, "validar_informe", report_validated=True, requires_support=False)
    s.at(10, 3)
    s.do(a, "archivar_expediente")
    # B: referred the same week (no procede).
    s.at(3, 3, 11)
    b = s.start()
    s.at(4, 3, 9)
    s.do(b, "reasignar_solicitud", is_social_case=False, referred_to="Dirección Médica",
         referral_reason="Es un tema de salud.")
    # C: stays in analysis, never attended.
    s.at(4, 3, 12)
    c = s.start()
    s.at(6, 3)
    s.do(c, "reasignar_solicitud")
    # D: a rejected report, then validated with support, carried to the end.
    s.at(10, 3)
    d = s.start()
    s.at(11, 3)
    s.do(d, "reasignar_solicitud")
    for day, activity in zip((12, 13, 16), DIAGNOSIS, strict=True):
        s.at(day, 3)
        s.do(d, activity)
    s.at(17, 3)
    s.do(d, "validar_informe", report_validated=False, review_observations="Completar.")
    s.at(19, 3)
    s.do(d, "emitir_diagnostico")
    s.at(20, 3)
    s.do(d, "validar_informe", report_validated=True, requires_support=True)
    for day, activity in zip((23, 24, 25, 26, 27), ("remitir_informe", "solicitar_apoyo",
                             "generar_respuesta", "generar_expediente", "archivar_expediente"),
                             strict=True):
        s.at(day, 3)
        s.do(d, activity)
    # E: received at the end of March, validated in April (attended, but after Q1 closed).
    s.at(30, 3)
    e = s.start()
    s.at(31, 3)
    s.do(e, "reasignar_solicitud")
    for day, activity in zip((1, 2, 6), DIAGNOSIS, strict=True):
        s.at(day, 4)
        s.do(e, activity)
    s.at(8, 4)
    s.do(e, "validar_informe", report_validated=True, requires_support=False)
    # Q2 — F: its 15 working days pass; the leader gets the escalation; diagnosis later.
    s.at(13, 4)
    f = s.start()
    s.at(14, 4)
    s.do(f, "reasignar_solicitud")
    s.at(6, 5)
    s.fire_timers()
    s.at(7, 5)
    s.do(f, "atender_vencimiento")
    for day, activity in zip((8, 11, 12), DIAGNOSIS, strict=True):
        s.at(day, 5)
        s.do(f, activity)
    s.at(13, 5)
    s.do(f, "validar_informe", report_validated=True, requires_support=False)
    # G and H: received in May, G near its deadline (still waiting), H just in.
    s.at(8, 5, 9)
    s.start()
    s.at(27, 5)
    s.start()
    s.at(28, 5, 12)
    return s


def manager(people) -> str:
    return people["gestor_cs"][0]


def expected_indicator(s: Scenario, start: datetime, end: datetime) -> tuple[int, int, int]:
    cut = min(end, s.clock.now)
    received = [n for _w, n in s.cases.values() if start <= n.started_at < end]
    attended = [n for n in received if n.attended_at and n.attended_at < cut]
    return len(received), len(attended), sum(n.referred for n in attended)


def q(year: int, number: int) -> tuple[datetime, datetime]:
    first = datetime(year, 3 * number - 2, 1, tzinfo=LOCAL_TZ)
    after = datetime(year + (number == 4), 1 if number == 4 else 3 * number + 1, 1,
                     tzinfo=LOCAL_TZ)
    return first.astimezone(UTC), after.astimezone(UTC)


def test_the_indicator_per_quarter_and_month_matches_an_independent_count(engine, people,
                                                                         scenario):
    board = engine.social_dashboard(manager(people), period="2026-T1")
    for number, row in enumerate(board.quarters, start=1):
        received, attended, referred = expected_indicator(scenario, *q(2026, number))
        assert (row.received, row.attended, row.referred) == (received, attended, referred)
    q1 = board.quarters[0]
    assert (q1.received, q1.attended) == (5, 3)  # A, B, D of A–E: E was attended in April
    assert q1.percent == pytest.approx(60.0) and q1.meets_target is False
    q2 = board.quarters[1]
    assert (q2.received, q2.attended) == (3, 1)  # F attended; G and H still waiting
    for number, row in enumerate(board.months, start=1):
        start = datetime(2026, number, 1, tzinfo=LOCAL_TZ).astimezone(UTC)
        end = datetime(2026 + (number == 12), number % 12 + 1, 1,
                       tzinfo=LOCAL_TZ).astimezone(UTC)
        assert (row.received, row.attended, row.referred) == \
            expected_indicator(scenario, start, end)
    assert board.selected == q1
    assert "80 %" in board.definition and "no proceder" in board.definition


def test_drilling_into_a_number_lists_exactly_the_cases_behind_it(engine, people, scenario):
    start, end = q(2026, 1)
    noted = [n for _w, n in scenario.cases.values()]
    received = sorted(n.number for n in noted if start <= n.started_at < end)
    attended = sorted(n.number for n in noted if start <= n.started_at < end
                      and n.attended_at and n.attended_at < end)
    _period, lines = engine.social_cases_behind(manager(people), period="2026-T1",
                                                figure="recibidas")
    assert sorted(c.number for c in lines) == received
    _period, lines = engine.social_cases_behind(manager(people), period="2026-T1",
                                                figure="atendidas")
    assert sorted(c.number for c in lines) == attended
    _period, lines = engine.social_cases_behind(manager(people), period="2026-T1",
                                                figure="no_atendidas")
    assert sorted(c.number for c in lines) == sorted(set(received) - set(attended))


def test_the_fifteen_working_day_compliance_matches(engine, people, scenario):
    now = scenario.clock.now
    for key, number in (("2026-T1", 1), ("2026-T2", 2)):
        start, end = q(2026, number)
        noted = [n for _w, n in scenario.cases.values() if start <= n.started_at < end]
        on_time = sum(1 for n in noted if n.attended_at and n.attended_at <= n.due_at)
        late = sum(1 for n in noted if (n.attended_at and n.attended_at > n.due_at)
                   or (not n.attended_at and n.due_at < now))
        figures = engine.social_dashboard(manager(people), period=key).deadline
        assert (figures.on_time, figures.late, figures.pending) == (
            on_time, late, len(noted) - on_time - late)
    q2 = engine.social_dashboard(manager(people), period="2026-T2").deadline
    assert q2.late >= 1  # F passed its 15 working days


def test_cycle_times_per_activity_and_per_case_match(engine, people, scenario):
    board = engine.social_dashboard(manager(people), period="2026")
    durations: dict[str, list[float]] = {}
    whole: list[float] = []
    for _w, n in scenario.cases.values():
        for (_prev, before), (activity, at) in zip(n.steps, n.steps[1:], strict=False):
            if activity != "timer":
                durations.setdefault(activity, []).append((at - before).total_seconds())
        if n.closed:
            whole.append((n.steps[-1][1] - n.started_at).total_seconds())
    found = {t.key: t for t in board.activities}
    assert set(found) == set(durations)
    for activity, values in durations.items():
        assert found[activity].count == len(values), activity
        assert found[activity].median_seconds == pytest.approx(nearest_rank(values, 50))
        assert found[activity].p90_seconds == pytest.approx(nearest_rank(values, 90))
    assert board.cases is not None
    assert board.cases.count == len(whole)
    assert board.cases.median_seconds == pytest.approx(nearest_rank(whole, 50))
    assert board.cases.p90_seconds == pytest.approx(nearest_rank(whole, 90))


def test_open_due_soon_overdue_workload_and_outcomes_match(engine, people, scenario):
    now = scenario.clock.now
    soon = engine.calendar.deadline(now, 3)
    board = engine.social_dashboard(manager(people), period="2026-T2")
    noted = [n for _w, n in scenario.cases.values()]
    open_ = [n for n in noted if not n.closed]
    waiting = [n for n in open_ if n.attended_at is None]
    assert board.open.open == len(open_)
    assert board.open.overdue == sum(1 for n in waiting if n.due_at < now)
    assert board.open.due_soon == sum(1 for n in waiting if now <= n.due_at <= soon)
    assert board.open.due_soon == 1  # G

    start, end = q(2026, 2)
    done: dict[str, int] = {}
    for n in noted:
        for _activity, at, who in n.completed:
            if start <= at < end:
                done[who] = done.get(who, 0) + 1
    by_person: dict[str, int] = {}
    for row in board.workload:
        if row.person:
            by_person[row.person] = by_person.get(row.person, 0) + row.completed
    assert {k: v for k, v in by_person.items() if v} == done
    open_tasks = sum(len(w.case.open_tasks) for w, _n in scenario.cases.values())
    assert sum(row.open_tasks for row in board.workload) == open_tasks

    in_q2 = [n for n in noted if start <= n.started_at < end]
    assert (board.outcomes.referred, board.outcomes.with_support,
            board.outcomes.without_support, board.outcomes.open) == (
        sum(n.referred for n in in_q2),
        sum(n.closed and n.support for n in in_q2),
        sum(n.closed and not n.support and not n.referred for n in in_q2),
        sum(not n.closed for n in in_q2))
    q1 = engine.social_dashboard(manager(people), period="2026-T1").outcomes
    assert (q1.referred, q1.with_support, q1.without_support, q1.open) == (1, 1, 1, 2)


def test_only_the_procedures_manager_and_owner_see_the_dashboard(engine, people, scenario):
    owner = people["propietario_cs"][0]
    assert engine.social_dashboard(owner).quarters
    for role in ("trabajador_social", "auditor_gth", "gestor_carta"):
        with pytest.raises(PermissionDenied):
            engine.social_dashboard(people[role][0])


def test_a_period_that_makes_no_sense_falls_back_to_the_current_quarter(engine, people, clock):
    clock.set(datetime(2026, 8, 3, 15, tzinfo=UTC))
    board = engine.social_dashboard(manager(people), period="2026-T9")
    assert board.period.key == "2026-T3"
    assert board.selected.received == 0 and board.selected.percent is None
    assert timedelta(0) <= board.period.end_at - board.period.start_at
