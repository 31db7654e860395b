"""Review loops: a reviewer's decision on someone's work, and work returned with observations.

A form that decides on earlier work says so in its ui.json::

    "decision": {"field": "report_validated", "returned": false,
                 "observations": "review_observations",
                 "labels": {"true": "Validó", "false": "Devolvió con observaciones"}}

with English labels under ``en.decision.labels``. The history reads the decision instead of
"completed the task", the work sent back is flagged as returned (with the observations) until its
author completes it again, and observations of an earlier round are never carried forward.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from .store import CaseEventRow


class _Event(Protocol):
    """What these functions read of a case event (``AuditEntry`` and the event row share it)."""

    @property
    def event_type(self) -> str: ...

    @property
    def activity_id(self) -> str | None: ...

    @property
    def data(self) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class Decision:
    """How a form records a decision: which field, which value sends the work back."""

    field: str
    returned: Any
    observations: str | None
    labels: Mapping[str, Mapping[str, str]]

    def label(self, value: Any, language: str) -> str | None:
        """Return the history wording of a decision value in ``language`` (Spanish fallback)."""
        key = value_key(value)
        return (self.labels.get(language, {}).get(key) or self.labels.get("es", {}).get(key))


@dataclass(frozen=True)
class ReturnedWork:
    """The latest decision that sent an activity's work back to its author."""

    seq: int | None
    at: datetime | None
    by: str | None
    activity_id: str
    observations: str


def value_key(value: Any) -> str:
    """Return the form spelling of a stored value (booleans as "true"/"false")."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def decision_of(ui: Mapping[str, Any] | None) -> Decision | None:
    """Return the decision a form's ui.json declares, or None for an ordinary form."""
    raw = (ui or {}).get("decision")
    if not isinstance(raw, Mapping) or not raw.get("field"):
        return None
    english = ((ui or {}).get("en") or {}).get("decision") or {}
    return Decision(field=str(raw["field"]), returned=raw.get("returned", False),
                    observations=raw.get("observations"),
                    labels={"es": dict(raw.get("labels") or {}),
                            "en": dict(english.get("labels") or {})})


def decisions_by_activity(definition: Any) -> dict[str, Decision]:
    """Return the decision forms of a procedure by activity id."""
    found = {}
    for activity in definition.activities.values():
        form = definition.form(activity.form_id)
        decision = decision_of(form.ui) if form is not None else None
        if decision is not None:
            found[activity.bpmn_id] = decision
    return found


def observations_text(value: Any) -> str:
    """Return observations as one text (a list of observations, one per line)."""
    if isinstance(value, list):
        return "\n".join(f"• {item}" for item in value if item not in (None, ""))
    return "" if value is None else str(value)


def _form(event: _Event) -> Mapping[str, Any]:
    return (event.data or {}).get("form") or {}


def returned_work(history: Iterable[_Event], activity_id: str,
                  decisions: Mapping[str, Decision]) -> ReturnedWork | None:
    """Return the decision that sent ``activity_id``'s work back, if its author has not yet
    answered it (completed the activity again); None when the work is not returned."""
    done_before = False
    current: ReturnedWork | None = None
    for event in history:
        if event.event_type != "task_completed" or not event.activity_id:
            continue
        if event.activity_id == activity_id:
            done_before, current = True, None
            continue
        decision = decisions.get(event.activity_id)
        if decision is None or not done_before:
            continue
        form = _form(event)
        if decision.field not in form:
            continue
        if form[decision.field] == decision.returned:
            observations = form.get(decision.observations or "", "")
            current = ReturnedWork(seq=getattr(event, "seq", None), at=getattr(event, "at", None),
                                   by=getattr(event, "actor", None),
                                   activity_id=event.activity_id,
                                   observations=observations_text(observations))
        else:
            current = None
    return current


def stale_fields(history: Sequence[_Event]) -> set[str]:
    """Return the case values an activity gave once but left out when it was done again.

    SpiffWorkflow keeps a value a later completion omits; a review's observations from a
    rejected round would otherwise still read as part of the validated record.
    """
    writer: dict[str, str] = {}
    latest: dict[str, set[str]] = {}
    for event in history:
        if event.event_type != "task_completed" or not event.activity_id:
            continue
        keys = set(_form(event))
        latest[event.activity_id] = keys
        for key in keys:
            writer[key] = event.activity_id
    return {key for key, activity in writer.items() if key not in latest[activity]}


def fresh_fields(ui: Mapping[str, Any] | None) -> set[str]:
    """Return the fields a form must never start from an earlier answer: its decision and
    observations (a new review round decides anew)."""
    decision = decision_of(ui)
    if decision is None:
        return set()
    return {decision.field, *([decision.observations] if decision.observations else [])}


class _OpenTask(Protocol):
    @property
    def task_id(self) -> str: ...

    @property
    def case_id(self) -> int: ...

    @property
    def process_id(self) -> str: ...

    @property
    def activity_id(self) -> str: ...


def returned_tasks(session: Session, tasks: Iterable[_OpenTask],
                   find_definition: Any) -> dict[str, ReturnedWork]:
    """Return, by task id, the open tasks whose work was sent back: one query over the
    completions of the cases (of procedures that have a decision form at all)."""
    decisions: dict[str, dict[str, Decision]] = {}
    wanted = []
    for task in tasks:
        if task.process_id not in decisions:
            definition = find_definition(task.process_id)
            decisions[task.process_id] = (decisions_by_activity(definition)
                                          if definition is not None else {})
        if decisions[task.process_id]:
            wanted.append(task)
    if not wanted:
        return {}
    rows = session.execute(
        select(CaseEventRow.case_id, CaseEventRow.seq, CaseEventRow.at, CaseEventRow.actor,
               CaseEventRow.event_type, CaseEventRow.activity_id, CaseEventRow.data)
        .where(CaseEventRow.case_id.in_({t.case_id for t in wanted}),
               CaseEventRow.event_type == "task_completed")
        .order_by(CaseEventRow.case_id, CaseEventRow.seq)).all()
    by_case: dict[int, list[Any]] = {}
    for row in rows:
        by_case.setdefault(row.case_id, []).append(row)
    found = {}
    for task in wanted:
        returned = returned_work(by_case.get(task.case_id, []), task.activity_id,
                                 decisions[task.process_id])
        if returned is not None:
            found[task.task_id] = returned
    return found
