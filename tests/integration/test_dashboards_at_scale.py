"""A closed period's remembered figures are the figures recomputed from the records.

The dashboards remember the figures of a closed period with a fingerprint of its records
(``engine/indicators.py``, ``_remembered``). These tests check that the second view of a closed
quarter is served from what was remembered (fewer statements), and that once a case of that
quarter moves on (new events after the quarter closed) the figures shown are those computed
again from the records, not the remembered ones.
"""

from __future__ import annotations

import pytest
from sqlalchemy import event

from engine import indicators
from tests.integration.test_dashboards_social import (  # noqa: F401  (fixture)
    DIAGNOSIS,
    manager,
    scenario,
)

pytestmark = pytest.mark.integration


class Statements:
    """Counts the statements the engine sends to the database."""

    def __init__(self, engine):
        self.count = 0
        self.sql = engine.sql
        event.listen(self.sql, "before_cursor_execute", self.seen)

    def seen(self, *_args) -> None:
        self.count += 1

    def close(self) -> None:
        event.remove(self.sql, "before_cursor_execute", self.seen)


def figures(board) -> tuple:
    """Everything the page shows that depends on the period's records."""
    return (board.quarters, board.months, board.selected, board.deadline, board.activities,
            board.cases, board.outcomes, board.workload, board.units)


def test_a_closed_quarter_is_remembered_and_recomputed_when_its_cases_move_on(
        engine, people, scenario):  # noqa: F811
    indicators.forget_remembered_figures()
    who = manager(people)
    counter = Statements(engine)
    try:
        first = engine.social_dashboard(who, period="2026-T1")
        computed = counter.count
        counter.count = 0
        again = engine.social_dashboard(who, period="2026-T1")
        remembered = counter.count
    finally:
        counter.close()
    assert figures(again) == figures(first)
    # The closed quarter's times, outcomes and indicator came from what was remembered.
    assert remembered < computed

    # C was received in Q1 and stayed in analysis; two months after Q1 closed it moves on.
    c = list(scenario.cases)[2]
    for day, activity in zip((29, 30, 31), DIAGNOSIS, strict=True):
        scenario.at(day, 5)
        scenario.do(c, activity)
    after = engine.social_dashboard(who, period="2026-T1")
    indicators.forget_remembered_figures()
    recomputed = engine.social_dashboard(who, period="2026-T1")
    assert figures(after) == figures(recomputed)
    # And it did change: Q1's cases now have a diagnosis issued (C's), timed from its interview.
    timed = {t.key: t.count for t in after.activities}
    before = {t.key: t.count for t in first.activities}
    assert timed["emitir_diagnostico"] == before["emitir_diagnostico"] + 1
    assert timed["analizar_solicitud"] == before.get("analizar_solicitud", 0) + 1


def test_the_figures_with_now_are_those_without_it(engine, people, scenario):  # noqa: F811
    """The remembering path (given ``now``) and the plain SQL path agree, period by period."""
    indicators.forget_remembered_figures()
    now = engine.clock()
    with engine.sql.connect() as connection:
        from sqlalchemy.orm import Session

        with Session(bind=connection) as session:
            for key in ("2026-T1", "2026-T2", "2026-03", "2026-04", "2026"):
                period = indicators.parse_period(key)
                assert period is not None
                for _ in range(2):  # computed, then remembered
                    assert indicators.activity_times(session, period, now=now) == \
                        indicators.activity_times(session, period)
                    assert indicators.case_times(session, period, now=now) == \
                        indicators.case_times(session, period)
                    assert indicators.outcomes(session, period, now=now) == \
                        indicators.outcomes(session, period)
                    assert indicators.workload(session, period, now=now) == \
                        indicators.workload(session, period)


def _plain(engine, key: str) -> tuple:
    """The year's figures by the single-statement path (no ``now``: nothing remembered)."""
    from sqlalchemy.orm import Session

    period = indicators.parse_period(key)
    assert period is not None
    with engine.sql.connect() as connection, Session(bind=connection) as session:
        return (indicators.activity_times(session, period),
                indicators.outcomes(session, period),
                indicators.workload(session, period))


def test_a_year_is_its_quarters_and_follows_a_closed_quarter_that_moves_on(
        engine, people, scenario):  # noqa: F811
    """A year's times, outcomes and workload are merged from its quarters (closed ones
    remembered): they equal one statement over the whole year, before and after a case of a
    closed quarter moves on."""
    indicators.forget_remembered_figures()
    who = manager(people)
    # Q1 is closed and Q2 is running: the year mixes a remembered and a fresh quarter.
    assert indicators.quarter(2026, 1).end_at <= engine.clock() < indicators.quarter(2026, 2).end_at
    first = engine.social_dashboard(who, period="2026")
    again = engine.social_dashboard(who, period="2026")
    assert (again.activities, again.outcomes, again.workload) == _plain(engine, "2026")
    assert (first.activities, first.outcomes, first.workload) == _plain(engine, "2026")

    c = list(scenario.cases)[2]  # received in Q1, stayed in analysis
    for day, activity in zip((29, 30, 31), DIAGNOSIS, strict=True):
        scenario.at(day, 5)
        scenario.do(c, activity)
    after = engine.social_dashboard(who, period="2026")
    assert (after.activities, after.outcomes, after.workload) == _plain(engine, "2026")
    timed = {t.key: t.count for t in after.activities}
    before = {t.key: t.count for t in first.activities}
    assert timed["emitir_diagnostico"] == before["emitir_diagnostico"] + 1
    assert sum(w.completed for w in after.workload) == \
        sum(w.completed for w in first.workload) + len(DIAGNOSIS)
