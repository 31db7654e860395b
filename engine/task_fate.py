"""What became of a task a person was working on: someone else took it, or completed it.

A person filling a form learns that the task left them only when they submit it; the page
then tells them who took or completed it (and keeps what they typed), so this answers for
tasks that are no longer theirs, as long as they may see the case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import NotFound
from .library import ProcessDefinition
from .store import CaseEventRow, CaseRow, OpenTaskRow, PersonRow
from .views import PersonView

CLAIMED = "claimed"
COMPLETED = "completed"
OPEN = "open"


@dataclass(frozen=True)
class TaskFate:
    """A task's current fate: open, claimed by someone else, or completed (by whom, when)."""

    task_id: str
    case_id: int
    case_number: str
    activity_id: str
    activity_name: str
    outcome: str
    by: str | None = None
    by_name: str | None = None
    at: datetime | None = None
    form_schema: Mapping[str, Any] | None = None
    form_ui: Mapping[str, Any] = field(default_factory=dict)


def task_fate(session: Session, task_id: str, person: PersonView,
              definition_of: Callable[[int], ProcessDefinition]) -> TaskFate:
    """Return what became of a task; NotFound when it never existed or its case is hidden."""
    row = session.get(OpenTaskRow, task_id)
    if row is not None:
        case = session.get(CaseRow, row.case_id)
        assert case is not None
        definition = definition_of(case.version_id)
        if not (row.assignee_id == person.id or row.audience in person.audience
                or _may_see(person, definition)):
            raise NotFound("No existe esa tarea o ya no está abierta")
        if row.assignee_id is None or row.assignee_id == person.id:
            return _fate(row.task_id, case, definition, row.activity_id, OPEN)
        claimed_at = session.scalars(
            select(CaseEventRow.at).where(CaseEventRow.task_id == task_id,
                                          CaseEventRow.event_type == "task_claimed")
            .order_by(CaseEventRow.seq.desc())).first()
        holder = session.get(PersonRow, row.assignee_id)
        return _fate(row.task_id, case, definition, row.activity_id, CLAIMED,
                     holder.username if holder else None,
                     holder.full_name if holder else None, claimed_at)
    done = session.scalars(
        select(CaseEventRow).where(CaseEventRow.task_id == task_id,
                                   CaseEventRow.event_type == "task_completed")).first()
    if done is None:
        raise NotFound("No existe esa tarea o ya no está abierta")
    case = session.get(CaseRow, done.case_id)
    assert case is not None
    definition = definition_of(case.version_id)
    if not _may_see(person, definition) and done.actor_id != person.id:
        raise NotFound("No existe esa tarea o ya no está abierta")
    actor = session.get(PersonRow, done.actor_id) if done.actor_id is not None else None
    return _fate(task_id, case, definition, done.activity_id or "", COMPLETED,
                 actor.username if actor else done.actor,
                 actor.full_name if actor else done.actor, done.at)


def _may_see(person: PersonView, definition: ProcessDefinition) -> bool:
    return bool(person.roles & set(definition.roles()))


def _fate(task_id: str, case: CaseRow, definition: ProcessDefinition, activity_id: str,
          outcome: str, by: str | None = None, by_name: str | None = None,
          at: datetime | None = None) -> TaskFate:
    activity = definition.activities.get(activity_id)
    form = definition.form(activity.form_id) if activity is not None else None
    return TaskFate(task_id=task_id, case_id=case.id, case_number=case.number,
                    activity_id=activity_id,
                    activity_name=activity.name if activity is not None else activity_id,
                    outcome=outcome, by=by, by_name=by_name, at=at,
                    form_schema=dict(form.schema) if form else None,
                    form_ui=dict(form.ui) if form else {})
