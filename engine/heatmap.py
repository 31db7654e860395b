"""Where cases spend their time: per element of a procedure's diagram, how many cases passed
and the median time spent there, over the cases received in a period (SQL over the event log).

Human tasks are timed as the dashboards time them (``indicators.activity_times``: from the case's
previous step to the task's completion); the start event counts the cases received, the end
events the cases that ended there (``case.outcome``), the timers the cases whose timer fired.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .indicators import CaseLine, Period, activity_times
from .store import CaseEventRow, CaseRow


@dataclass(frozen=True)
class HeatCell:
    """One element of the diagram: cases that passed, times it ran, median and p90 seconds."""

    element_id: str
    cases: int
    times: int
    median_seconds: float | None
    p90_seconds: float | None


def _received(process_id: str, period: Period) -> list[Any]:
    return [CaseRow.process_id == process_id, CaseRow.started_at >= period.start_at,
            CaseRow.started_at < period.end_at]


def heatmap(session: Session, process_id: str, period: Period, *, start_event: str | None,
            end_events: Mapping[str, str]) -> list[HeatCell]:
    """Return the heat of every element reached by the period's cases."""
    times = {t.key: t for t in activity_times(session, period, process_id=process_id)}
    distinct = dict(session.execute(
        select(CaseEventRow.activity_id, func.count(func.distinct(CaseEventRow.case_id)))
        .join(CaseRow, CaseRow.id == CaseEventRow.case_id)
        .where(*_received(process_id, period), CaseEventRow.event_type == "task_completed")
        .group_by(CaseEventRow.activity_id)).all())
    cells = [HeatCell(key, int(distinct.get(key, 0)), t.count, t.median_seconds, t.p90_seconds)
             for key, t in times.items()]
    received = int(session.execute(select(func.count()).select_from(CaseRow)
                                   .where(*_received(process_id, period))).scalar_one())
    if start_event and received:
        cells.append(HeatCell(start_event, received, received, None, None))
    by_name = {name: element for element, name in end_events.items()}
    for outcome, count in session.execute(
            select(CaseRow.outcome, func.count()).where(*_received(process_id, period),
                                                        CaseRow.outcome.is_not(None))
            .group_by(CaseRow.outcome)):
        element = by_name.get(outcome or "")
        if element:
            cells.append(HeatCell(element, int(count), int(count), None, None))
    return sorted(cells, key=lambda c: c.element_id)


def cases_at(session: Session, process_id: str, period: Period, element_id: str, *,
             start_event: str | None, end_events: Mapping[str, str],
             limit: int = 1000) -> list[CaseLine]:
    """Return the period's cases that passed an element of the diagram."""
    where = _received(process_id, period)
    if element_id == start_event:
        pass
    elif element_id in end_events:
        where.append(CaseRow.outcome == end_events[element_id])
    else:
        where.append(CaseRow.id.in_(select(CaseEventRow.case_id).where(
            CaseEventRow.activity_id == element_id,
            CaseEventRow.event_type == "task_completed")))
    rows = session.execute(
        select(CaseRow.number, CaseRow.started_at, CaseRow.status, CaseRow.outcome,
               CaseRow.completed_at, CaseRow.due_at, CaseRow.requester)
        .where(*where).order_by(CaseRow.started_at, CaseRow.id).limit(limit)).all()
    return [CaseLine(n, s, st, o, c, d, r) for n, s, st, o, c, d, r in rows]
