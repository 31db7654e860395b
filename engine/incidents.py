"""Incidents: cases the engine cannot move on by itself, recorded for people to look at.

A case *stalls* when it is open but nobody has a task in it and no timer will wake it: nothing
will ever happen to it again unless someone notices. The worker looks for such cases every round
(``Engine.check_stalled_cases``) and opens one incident per stall; the incident closes by itself
once the case has work or a timer again, or is closed.

Incidents live in their own table, not in the case's event log: the log records the case's
steps, each replayed and checked against its state, and an incident is an observation about the
case, not a step of it (writing it there would also race with the case's own verbs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from .store import CaseRow, IncidentRow, OpenTaskRow

STALLED = "stalled"


@dataclass(frozen=True)
class IncidentView:
    """An incident of a case: what, since when, found when, and whether it is over."""

    id: int
    case_id: int
    case_number: str
    kind: str
    since: datetime
    detected_at: datetime
    resolved_at: datetime | None
    # Events the workflow waits for that nothing in Cauce sends (messages, signals…).
    waiting_for: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        """Tell whether the condition still holds."""
        return self.resolved_at is None


def stalled_candidates(session: Session) -> list[tuple[int, int, datetime]]:
    """Return (case id, version id, last step) of open cases with no open task and no timer."""
    no_task = ~exists().where(OpenTaskRow.case_id == CaseRow.id)
    rows = session.execute(select(CaseRow.id, CaseRow.version_id, CaseRow.updated_at).where(
        CaseRow.status == "open", CaseRow.next_timer_at.is_(None), no_task)
        .order_by(CaseRow.id)).all()
    return [(row.id, row.version_id, row.updated_at) for row in rows]


def stall_of(workflow: BpmnWorkflow) -> tuple[str, ...] | None:
    """Return what a task-less workflow still waits for, or None if a timer will wake it.

    A timer the case row does not show (a cycle timer has no single next moment) still counts:
    the case is waiting, not stalled.
    """
    waits = []
    for task in workflow.get_tasks(state=TaskState.WAITING | TaskState.READY):
        spec = task.task_spec
        definition = getattr(spec, "event_definition", None)
        if isinstance(definition, TimerEventDefinition):
            return None
        if isinstance(spec, CatchingEvent) and task.state == TaskState.WAITING:
            waits.append(getattr(definition, "name", None) or spec.bpmn_name or spec.name)
    return tuple(waits)


def record_stalled(session: Session, now: datetime,
                   stalled: Mapping[int, tuple[datetime, tuple[str, ...]]]) -> list[int]:
    """Open an incident per newly stalled case, close those of cases that moved on.

    ``stalled`` maps each stalled case's id to (its last step, what it waits for). Return the
    ids of the incidents opened.
    """
    open_rows = session.scalars(select(IncidentRow).where(
        IncidentRow.kind == STALLED, IncidentRow.resolved_at.is_(None))).all()
    already = {row.case_id for row in open_rows}
    for row in open_rows:
        if row.case_id not in stalled:
            row.resolved_at = now
    opened = [IncidentRow(case_id=case_id, kind=STALLED, since=since, detected_at=now,
                          detail={"waiting_for": list(waits)})
              for case_id, (since, waits) in sorted(stalled.items()) if case_id not in already]
    session.add_all(opened)
    session.flush()
    return [row.id for row in opened]


def list_incidents(session: Session, *, case_id: int | None = None, open_only: bool = True,
                   ids: list[int] | None = None) -> list[IncidentView]:
    """Return incidents (of one case, or these ids), newest first."""
    query = select(IncidentRow, CaseRow.number).join(CaseRow, CaseRow.id == IncidentRow.case_id)
    if case_id is not None:
        query = query.where(IncidentRow.case_id == case_id)
    if ids is not None:
        query = query.where(IncidentRow.id.in_(ids or [-1]))
    if open_only:
        query = query.where(IncidentRow.resolved_at.is_(None))
    rows = session.execute(query.order_by(IncidentRow.detected_at.desc(),
                                          IncidentRow.id.desc())).all()
    return [IncidentView(
        id=row.id, case_id=row.case_id, case_number=number, kind=row.kind, since=row.since,
        detected_at=row.detected_at, resolved_at=row.resolved_at,
        waiting_for=tuple((row.detail or {}).get("waiting_for", ())))
        for row, number in rows]
