"""Play mode: run a procedure's draft as a throwaway case, never touching real cases.

A trial is a row of its own (``procedure_trial``): the draft's files as they were when it
started, the trial's own clock (fast-forwarding a timer moves it, never the engine's) and the
workflow state. Any app process can continue a trial: it recompiles the stored files (cached by
content hash) and restores the state. Nothing is written to cases, events, tasks or versions.
"""

from __future__ import annotations

import base64
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from sqlalchemy import Integer, String, Text, update
from sqlalchemy.orm import Mapped, mapped_column

from .clock import bound_now, local_date
from .errors import Conflict, NotFound
from .library import ProcessDefinition
from .store import Base

if TYPE_CHECKING:
    from .api import Engine
    from .views import PersonView

# Compiled drafts by content hash: a trial's next step in this process skips the check.
_COMPILED: OrderedDict[str, ProcessDefinition] = OrderedDict()
_COMPILED_MAX = 16


class TrialRow(Base):
    """A throwaway run of a draft: its files, its own clock and its workflow state."""

    __tablename__ = "procedure_trial"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    # The trial's "now": fast-forwarding a timer moves it, never the real clock.
    now_at: Mapped[datetime]
    bundle: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(Text)
    completed: Mapped[dict[str, Any]]
    revision: Mapped[int] = mapped_column(Integer, default=0)


@dataclass(frozen=True)
class TrialState:
    """Where a trial stands: ready tasks with their forms, timers, what ran, its data."""

    trial_id: str
    ready: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    finished: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    now: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the state as the API shows it."""
        return {"ready": self.ready, "timers": self.timers, "completed": self.completed,
                "finished": self.finished, "data": self.data,
                "now": self.now.isoformat() if self.now else None}


def _compiled(process_id: str, bundle: dict[str, str]) -> ProcessDefinition:
    from .procedure_check import check_files
    from .procedures import ChecksFailed

    result = check_files(process_id, {k: v.encode("utf-8") for k, v in bundle.items()})
    if not result.ok or result.definition is None:
        raise ChecksFailed("El borrador tiene problemas: corríjalos antes de probarlo",
                           [p for p in result.problems if p.severity == "error"])
    definition = result.definition
    _COMPILED[definition.version_hash] = definition
    while len(_COMPILED) > _COMPILED_MAX:
        _COMPILED.popitem(last=False)
    return definition


def _definition(row: TrialRow) -> ProcessDefinition:
    cached = _COMPILED.get(row.bundle.get("hash", ""))
    return cached if cached is not None else _compiled(row.process_id, row.bundle["files"])


def _encode(state: bytes) -> str:
    return base64.b64encode(state).decode("ascii")


def _state(engine: Engine, trial_id: str, definition: ProcessDefinition,
           workflow: BpmnWorkflow | None, completed: list[str], now: datetime,
           final: dict[str, Any] | None = None) -> TrialState:
    if workflow is None:
        return TrialState(trial_id, completed=completed, finished=True, data=final or {},
                          now=now)
    snap = engine.runtime.snapshot(workflow, definition.side_branches)
    ready = []
    for task in snap.ready_human:
        activity = definition.activities.get(task.task_spec.bpmn_id)
        form = definition.form(activity.form_id) if activity else None
        lane = activity.lane if activity else None
        ready.append({"task_id": str(task.id), "activity_id": task.task_spec.bpmn_id,
                      "name": activity.name if activity else task.task_spec.bpmn_id,
                      "lane": lane,
                      "role": definition.lane_role(lane).role_name if lane else None,
                      "form": {"schema": form.schema, "ui": form.ui} if form else None})
    names = {t.task_spec.bpmn_id: t.task_spec.bpmn_name for t in workflow.get_tasks()
             if t.task_spec.bpmn_id}
    timers = [{"id": timer_id, "name": names.get(timer_id) or timer_id, "due": due.isoformat()}
              for timer_id, due in sorted(snap.pending_timers.items(), key=lambda i: i[1])]
    return TrialState(trial_id, ready, timers, completed, snap.completed, snap.data, now)


def start(engine: Engine, process_id: str, *, by: PersonView | str) -> TrialState:
    """Start a trial of the procedure's saved draft; nothing real is touched."""
    from .procedures import bundle_from_files, current_definition, get_draft, require_owner

    person = require_owner(engine, process_id, by)
    draft = get_draft(engine, process_id, person)
    files = bundle_from_files(draft.files, current_definition(engine, process_id).bundle)
    bundle = {name: data.decode("utf-8") for name, data in files.items()}
    definition = _compiled(process_id, bundle)
    now = engine.clock()
    with bound_now(now):
        workflow, path = engine.runtime.start(definition)
    trial_id = secrets.token_hex(12)
    with engine._writer.begin() as session:
        session.add(TrialRow(
            id=trial_id, process_id=process_id, created_by=person.username, created_at=now,
            now_at=now, bundle={"hash": definition.version_hash, "files": bundle},
            state=_encode(engine.runtime.dump(workflow)), completed={"path": path},
            revision=0))
    return _state(engine, trial_id, definition, workflow, path, now)


def _load(engine: Engine, trial_id: str, person: PersonView
          ) -> tuple[TrialRow, ProcessDefinition, BpmnWorkflow | None]:
    from .procedures import require_owner

    with engine._reader() as session:
        row = session.get(TrialRow, trial_id)
        if row is None:
            raise NotFound("No existe esa prueba")
        session.expunge(row)
    require_owner(engine, row.process_id, person)
    definition = _definition(row)
    state = base64.b64decode(row.state)
    workflow = engine.runtime.restore(definition, state) if state else None
    return row, definition, workflow


def _save(engine: Engine, row: TrialRow, workflow: BpmnWorkflow | None, path: list[str],
          now: datetime, definition: ProcessDefinition) -> None:
    snap = engine.runtime.snapshot(workflow, definition.side_branches) if workflow else None
    final = snap.data if snap is not None and snap.completed else None
    state = b"" if final is not None or workflow is None else engine.runtime.dump(workflow)
    with engine._writer.begin() as session:
        done = session.execute(
            update(TrialRow).where(TrialRow.id == row.id, TrialRow.revision == row.revision)
            .values(state=_encode(state), now_at=now, revision=row.revision + 1,
                    completed={"path": path, "final": final})
            .execution_options(synchronize_session=False))
        if done.rowcount != 1:
            raise Conflict("La prueba avanzó en otra pestaña; recárguela")


def state(engine: Engine, trial_id: str, *, by: PersonView | str) -> TrialState:
    """Return a trial's state."""
    person = engine._actor(by)
    row, definition, workflow = _load(engine, trial_id, person)
    return _state(engine, trial_id, definition, workflow, list(row.completed["path"]),
                  row.now_at, row.completed.get("final"))


def complete(engine: Engine, trial_id: str, task_id: str, *, by: PersonView | str,
             data: Any) -> TrialState:
    """Complete a ready task of the trial with form data validated as the inbox does."""
    person = engine._actor(by)
    row, definition, workflow = _load(engine, trial_id, person)
    if workflow is None:
        raise Conflict("La prueba ya terminó")
    snap = engine.runtime.snapshot(workflow, definition.side_branches)
    task = snap.find_ready(task_id)
    if task is None:
        raise NotFound("Esa tarea no está disponible en la prueba")
    activity = definition.activity(task.task_spec.bpmn_id)
    form = definition.form(activity.form_id)
    clean = form.validate(data, check_person=lambda u, r: _check_person(engine, u, r),
                          today=local_date(row.now_at)) if form else {}
    with bound_now(row.now_at):
        path = engine.runtime.complete(workflow, task, clean)
    completed = [*row.completed["path"], activity.bpmn_id, *path]
    _save(engine, row, workflow, completed, row.now_at, definition)
    done = engine.runtime.snapshot(workflow, definition.side_branches)
    return _state(engine, trial_id, definition, workflow, completed, row.now_at,
                  done.data if done.completed else None)


def _check_person(engine: Engine, username: str, role: str) -> str | None:
    try:
        person = engine.person(username)
    except NotFound:
        return "No existe esa persona"
    return None if role in person.roles else "Esa persona no tiene el rol requerido"


def fire_timer(engine: Engine, trial_id: str, timer_id: str | None, *,
               by: PersonView | str) -> TrialState:
    """Fast-forward the trial's clock to a timer (the next one when None) and fire it."""
    person = engine._actor(by)
    row, definition, workflow = _load(engine, trial_id, person)
    if workflow is None:
        raise Conflict("La prueba ya terminó")
    pending = engine.runtime.snapshot(workflow, definition.side_branches).pending_timers
    if not pending:
        raise NotFound("La prueba no tiene temporizadores pendientes")
    if timer_id is None:
        timer_id = min(pending, key=lambda k: pending[k])
    if timer_id not in pending:
        raise NotFound(f"El temporizador {timer_id!r} no está pendiente")
    now = max(row.now_at, pending[timer_id] + timedelta(seconds=1))
    with bound_now(now):
        fired = engine.runtime.fire_timers(workflow)
    completed = [*row.completed["path"], *fired]
    _save(engine, row, workflow, completed, now, definition)
    done = engine.runtime.snapshot(workflow, definition.side_branches)
    return _state(engine, trial_id, definition, workflow, completed, now,
                  done.data if done.completed else None)


def discard(engine: Engine, trial_id: str, *, by: PersonView | str) -> None:
    """Throw the trial away."""
    person = engine._actor(by)
    row, _definition_, _workflow = _load(engine, trial_id, person)
    with engine._writer.begin() as session:
        found = session.get(TrialRow, row.id)
        if found is not None:
            session.delete(found)
