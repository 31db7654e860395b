"""Moving running cases to another version of their procedure: dry run, run, bulk jobs.

Built on SpiffWorkflow 3.2's ``SpiffWorkflow.bpmn.util.diff``: the case's workflow is aligned
with the target version's specs (``diff_workflow``) and moved onto them (``migrate_workflow``);
the READY tasks are reset so what follows them is predicted from the new diagram, while waiting
timers keep the moment they started. A case moves only if every element it is waiting in exists
in the target and its moved state survives a save and a restore on the target version.

A job belongs to one runner at a time, named in its lease (``refusals["lease"]``: who, and when
it last wrote progress). A runner beats the lease with every progress write; a job whose lease
has gone stale (its process died) is taken over by the timer worker (``claim_stale_job``) and
resumed where its last progress write left it.

Each move is an event of the case's hash chain (``case_migrated``: from, to, by, when) with the
state fingerprint after it, and replay re-applies the same move at that event (``replay``), so
verification still proves the case end to end.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from sqlalchemy import Boolean, Integer, String, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from .clock import bound_now
from .errors import NotFound, PermissionDenied
from .library import ProcessDefinition, spiff_serializer
from .runtime import all_tasks
from .store import Base, CaseEventRow, CaseRow, OpenTaskRow

if TYPE_CHECKING:
    from .api import Engine
    from .views import PersonView

EVENT = "case_migrated"
ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
# Job progress is written every this many cases (and at the end): the bar moves, cheaply.
PROGRESS_EVERY = 25
MAX_REFUSALS_KEPT = 200
# A job whose runner wrote no progress for this long is taken for dead and resumed elsewhere:
# far above the time PROGRESS_EVERY cases take, so a slow runner is not raced.
STALE_AFTER = timedelta(minutes=10)


class MigrationJobRow(Base):
    """A bulk migration of cases between two versions, and how far it got."""

    __tablename__ = "migration_job"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100))
    from_version_id: Mapped[int] = mapped_column(Integer)
    to_version_id: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    case_ids: Mapped[dict[str, Any]]
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    moved: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    finished: Mapped[bool] = mapped_column(Boolean, default=False)
    refusals: Mapped[dict[str, Any]]


@dataclass(frozen=True)
class Selection:
    """Which cases: from version, to version, case numbers (None: all), state (None: any)."""

    from_number: int
    to_number: int
    cases: tuple[str, ...] | None = None
    state: str | None = "open"


@dataclass(frozen=True)
class CasePlan:
    """What a migration would do to one case, or why it cannot move."""

    case_number: str
    can_move: bool
    reason: str | None
    active: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobView:
    """A migration job's progress."""

    job_id: str
    process_id: str
    total: int
    done: int
    moved: int
    refused: int
    finished: bool
    refusals: list[dict[str, str]] = field(default_factory=list)


# -- the move itself --------------------------------------------------------------------------


def _label(task: Any) -> str:
    spec = task.task_spec
    return f"{spec.bpmn_name or spec.bpmn_id} ({spec.bpmn_id})"


def _active(workflow: BpmnWorkflow) -> list[Any]:
    # Every task of the tree, subprocesses included (a state filter stops at their parents).
    return [t for t in all_tasks(workflow) if t.state & ACTIVE and t.task_spec.bpmn_id]


# Spec diffs depend on the two versions only: computed once per pair of specs, not per case
# (SpiffWorkflow's diff_workflow serializes every task spec of both versions each time).
_SPEC_DIFFS: dict[tuple[int, int], SpecDiff] = {}
_REGISTRY = spiff_serializer().registry


def _spec_diff(original: Any, new: Any) -> SpecDiff:
    key = (id(original), id(new))
    found = _SPEC_DIFFS.get(key)
    if found is None:
        if len(_SPEC_DIFFS) > 256:
            _SPEC_DIFFS.clear()
        # Keep both specs alive with the diff, so their ids are never reused meanwhile.
        found = _SPEC_DIFFS[key] = SpecDiff(_REGISTRY, original, new)
        found.kept = (original, new)
    return found


def diff_workflow(registry: Any, workflow: BpmnWorkflow, spec: Any,
                  dependencies: Any) -> tuple[WorkflowDiff, dict[Any, WorkflowDiff | None]]:
    """Return SpiffWorkflow's workflow diffs, with the spec diffs taken from the cache."""
    del registry
    top = WorkflowDiff(workflow, _spec_diff(workflow.spec, spec))
    subs: dict[Any, WorkflowDiff | None] = {}
    for sp_id, sub in workflow.subprocesses.items():
        target = dependencies.get(sub.spec.name)
        subs[sp_id] = None if target is None else WorkflowDiff(sub, _spec_diff(sub.spec, target))
    return top, subs


def apply(workflow: BpmnWorkflow, target: ProcessDefinition) -> None:
    """Move a workflow onto the target version's specs (in place)."""
    registry = _REGISTRY
    top, subs = diff_workflow(registry, workflow, target.spec, target.subprocess_specs)
    migrate_workflow(top, workflow, target.spec, reset_mask=TaskState.READY)
    for sp_id, sub_diff in subs.items():
        sub = workflow.subprocesses[sp_id]
        if sub_diff is not None:
            migrate_workflow(sub_diff, sub, target.subprocess_specs[sub.spec.name],
                             reset_mask=TaskState.READY)
    workflow.subprocess_specs = target.subprocess_specs


def plan_workflow(engine: Engine, workflow: BpmnWorkflow, source: ProcessDefinition,
                  target: ProcessDefinition, number: str, to_number: int,
                  state: bytes, *, prove: bool = True) -> CasePlan:
    """Tell whether a case's workflow can move to ``target`` and what would happen."""
    registry = _REGISTRY
    active = _active(workflow)
    labels = tuple(_label(t) for t in active)
    top, subs = diff_workflow(registry, workflow, target.spec, target.subprocess_specs)
    removed = {t.id for t in top.removed}
    changed = {t.id: t for t in top.changed}
    for sp_id, sub_diff in subs.items():
        if sub_diff is None:
            name = workflow.subprocesses[sp_id].spec.name
            return CasePlan(number, False, f"El subproceso {name!r} en curso no existe en la "
                                           f"versión {to_number}", labels)
        removed |= {t.id for t in sub_diff.removed}
        changed.update({t.id: t for t in sub_diff.changed})
    gone = [t for t in active if t.id in removed]
    if gone:
        names = ", ".join(f"«{_label(t)}»" for t in gone)
        return CasePlan(number, False, f"Está en {names}, que no existe en la versión "
                                       f"{to_number}", labels)
    aligned = dict(top.alignment)
    for sub_diff in subs.values():
        aligned.update(sub_diff.alignment if sub_diff is not None else {})
    actions = []
    for task in active:
        spec = aligned.get(task)
        if spec is not None and spec.name != task.task_spec.name:
            actions.append(f"«{_label(task)}» pasa a ser «{spec.bpmn_name or spec.name} "
                           f"({spec.name})» (misma posición en el diagrama)")
        elif spec is not None and spec.bpmn_name != task.task_spec.bpmn_name:
            actions.append(f"«{_label(task)}» sigue activa y pasa a llamarse "
                           f"«{spec.bpmn_name or spec.name}»")
        elif task.id in changed:
            actions.append(f"«{_label(task)}» sigue activa con los cambios de la versión "
                           f"{to_number}")
        else:
            actions.append(f"«{_label(task)}» sigue activa, sin cambios")
    if not prove:
        return CasePlan(number, True, None, labels, tuple(actions))
    try:
        # The proof that it will work: move a copy, save it and restore it on the target.
        trial = engine.runtime.restore(source, state)
        with bound_now(engine.clock()):
            apply(trial, target)
            path = engine.runtime.run_engine(trial)
        engine.runtime.restore(target, engine.runtime.dump(trial))
    except Exception as error:  # noqa: BLE001 - any failure is a reason not to move the case
        return CasePlan(number, False, f"El caso no se puede rehacer en la versión "
                                       f"{to_number}: {error}", labels)
    if path:
        actions.append("Al migrar avanza por: " + ", ".join(path))
    return CasePlan(number, True, None, labels, tuple(actions))


# -- selection --------------------------------------------------------------------------------


def _versions(engine: Engine, process_id: str, selection: Selection,
              ) -> tuple[int, int, ProcessDefinition, ProcessDefinition]:
    from .procedures import version_row

    with engine._reader() as session:
        source_id = version_row(session, process_id, selection.from_number).id
        target_id = version_row(session, process_id, selection.to_number).id
    if source_id == target_id:
        raise NotFound("Elija dos versiones distintas")
    return source_id, target_id, engine._definition(source_id), engine._definition(target_id)


def _selected(session: Session, process_id: str, version_id: int,
              selection: Selection) -> Sequence[Any]:
    query = select(CaseRow.id, CaseRow.number, CaseRow.status, CaseRow.state).where(
        CaseRow.process_id == process_id, CaseRow.version_id == version_id)
    if selection.cases is not None:
        query = query.where(CaseRow.number.in_(selection.cases))
    if selection.state == "open":
        query = query.where(CaseRow.status == "open")
    return session.execute(query.order_by(CaseRow.id)).all()


def dry_run(engine: Engine, process_id: str, selection: Selection, *,
            by: PersonView | str) -> list[CasePlan]:
    """Plan the migration of the selected cases; change nothing."""
    from .procedures import require_owner

    require_owner(engine, process_id, by)
    source_id, _target_id, source, target = _versions(engine, process_id, selection)
    with engine._reader() as session:
        rows = _selected(session, process_id, source_id, selection)
    plans = []
    found = {row.number for row in rows}
    for missing in sorted(set(selection.cases or ()) - found):
        plans.append(CasePlan(missing, False, f"No hay un caso {missing} en la versión "
                                              f"{selection.from_number}"))
    for row in rows:
        if row.status != "open":
            plans.append(CasePlan(row.number, False, "El caso está cerrado: no hay nada que "
                                                     "mover"))
            continue
        try:
            workflow = engine.runtime.restore(source, row.state)
        except Exception as error:  # noqa: BLE001
            plans.append(CasePlan(row.number, False, f"No se pudo leer el caso: {error}"))
            continue
        plans.append(plan_workflow(engine, workflow, source, target, row.number,
                                   selection.to_number, row.state))
    return plans


# -- running ----------------------------------------------------------------------------------


def migrate_case(engine: Engine, case_id: int, source_id: int, target_id: int,
                 numbers: tuple[int, int], by: PersonView) -> str | None:
    """Move one case in its own transaction; return why it was refused (None when it moved)."""
    from .api import _Step

    source, target = engine._definition(source_id), engine._definition(target_id)

    def act(session: Session) -> str | None:
        case = session.scalars(select(CaseRow).where(CaseRow.id == case_id)
                               .with_for_update()).one()
        if case.status != "open" or case.version_id != source_id:
            return "El caso ya no está en curso en la versión de origen"
        workflow = engine.runtime.restore(source, case.state)
        # No rehearsal here: a failure while moving raises, and this transaction is dropped.
        plan = plan_workflow(engine, workflow, source, target, case.number, numbers[1],
                             case.state, prove=False)
        if not plan.can_move:
            return plan.reason
        now = engine.clock()
        with bound_now(now):
            apply(workflow, target)
            path = engine.runtime.run_engine(workflow)
        step = _Step(session, case, target, now, by)
        snap = engine.runtime.snapshot(workflow, target.side_branches)
        step.event(EVENT, data={"from": source.version_hash, "to": target.version_hash,
                                "from_number": numbers[0], "to_number": numbers[1],
                                "path": path}, state_hash=snap.fingerprint)
        step.changes["version_id"] = target_id
        renamed = _refresh_open_tasks(session, case_id, source, target)
        engine._settle(step, workflow, snap, path)
        for task_id, values in renamed.items():
            session.execute(update(OpenTaskRow).where(OpenTaskRow.task_id == task_id)
                            .values(**values).execution_options(synchronize_session=False))
        return None

    return engine._transaction(act)


def _refresh_open_tasks(session: Session, case_id: int, source: ProcessDefinition,
                        target: ProcessDefinition) -> dict[str, dict[str, Any]]:
    """Drop open-task rows whose lane or form changed (they are offered anew); return renames."""
    renamed: dict[str, dict[str, Any]] = {}
    gone = []
    for row in session.scalars(select(OpenTaskRow).where(OpenTaskRow.case_id == case_id)):
        old, new = source.activities.get(row.activity_id), target.activities.get(row.activity_id)
        if old is None or new is None or (old.lane, old.form_id) != (new.lane, new.form_id):
            gone.append(row.task_id)
        elif old.name != new.name or source.name != target.name:
            renamed[row.task_id] = {"activity_name": new.name, "process_name": target.name}
    if gone:
        session.execute(delete(OpenTaskRow).where(OpenTaskRow.task_id.in_(gone))
                        .execution_options(synchronize_session=False))
    return renamed


def replay(engine: Engine, workflow: BpmnWorkflow | None, row: CaseEventRow,
           ) -> BpmnWorkflow | None:
    """Re-apply a logged migration to a replayed workflow."""
    if workflow is None:
        return None
    target = engine.definition_by_hash((row.data or {})["to"])
    with bound_now(row.at):
        apply(workflow, target)
        engine.runtime.run_engine(workflow)
    return workflow


def started_on(engine: Engine, current: ProcessDefinition,
               row: CaseEventRow) -> ProcessDefinition:
    """Return the version a case started on (its ``case_started`` event names it)."""
    version = (row.data or {}).get("version")
    if not version or version == current.version_hash:
        return current
    return engine.definition_by_hash(version)


def start_job(engine: Engine, process_id: str, selection: Selection, *,
              by: PersonView | str, run: bool = True) -> str:
    """Record a migration job for the selected open cases; run it now unless ``run`` is False."""
    from .procedures import require_owner

    person = require_owner(engine, process_id, by)
    source_id, target_id, _source, _target = _versions(engine, process_id, selection)
    with engine._reader() as session:
        ids = [row.id for row in _selected(session, process_id, source_id,
                                           Selection(selection.from_number,
                                                     selection.to_number, selection.cases,
                                                     "open"))]
    job_id = secrets.token_hex(12)
    with engine._writer.begin() as session:
        session.add(MigrationJobRow(
            id=job_id, process_id=process_id, from_version_id=source_id,
            to_version_id=target_id, created_by=person.username, created_at=engine.clock(),
            case_ids={"ids": ids, "numbers": [selection.from_number, selection.to_number]},
            total=len(ids), done=0, moved=0, refused=0, finished=False,
            refusals={"items": [], "lease": _lease(_runner(), engine.clock())}))
    if run:
        run_job(engine, job_id)
    return job_id


def _runner() -> str:
    from .operations import worker_name

    return worker_name()


def _lease(runner: str, now: datetime) -> dict[str, str]:
    return {"by": runner, "at": now.isoformat()}


def claim_stale_job(engine: Engine, runner: str, *,
                    stale_after: timedelta = STALE_AFTER) -> str | None:
    """Take over the oldest unfinished job whose runner stopped writing progress, if any.

    The lease is read and rewritten in one write transaction that holds the job's row
    (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite lets one writer in at a time), so two
    workers never both take the same job.
    """
    now = engine.clock()
    with engine._writer.begin() as session:
        rows = session.scalars(
            select(MigrationJobRow).where(MigrationJobRow.finished.is_(False))
            .order_by(MigrationJobRow.created_at, MigrationJobRow.id)
            .with_for_update(skip_locked=True))
        for row in rows:
            held = (row.refusals or {}).get("lease") or {}
            beat = held.get("at")
            if beat and datetime.fromisoformat(beat) > now - stale_after:
                continue
            row.refusals = {**(row.refusals or {}), "lease": _lease(runner, now)}
            return row.id
    return None


def resume_stale_jobs(engine: Engine, runner: str | None = None, *,
                      stale_after: timedelta = STALE_AFTER) -> list[JobView]:
    """Claim and run to their end the unfinished jobs whose runner died; return them."""
    runner = runner or _runner()
    resumed = []
    while (job_id := claim_stale_job(engine, runner, stale_after=stale_after)) is not None:
        resumed.append(run_job(engine, job_id, runner=runner))
    return resumed


def run_job(engine: Engine, job_id: str, *, runner: str | None = None) -> JobView:
    """Run a job from where it stopped to its end, writing its progress as it goes."""
    runner = runner or _runner()
    with engine._reader() as session:
        row = session.get(MigrationJobRow, job_id)
        if row is None:
            raise NotFound("No existe esa migración")
        ids = list(row.case_ids["ids"])
        from_number, to_number = row.case_ids["numbers"]
        done, moved, refused = row.done, row.moved, row.refused
        refusals = list(row.refusals.get("items", []))
        source_id, target_id, username = row.from_version_id, row.to_version_id, row.created_by
        already_finished = row.finished
    person = engine._actor(username)
    numbers = {case_id: number for case_id, number in _numbers(engine, ids[done:])}

    def save(finished: bool) -> None:
        with engine._writer.begin() as session:
            session.execute(update(MigrationJobRow).where(MigrationJobRow.id == job_id).values(
                done=done, moved=moved, refused=refused, finished=finished,
                refusals={"items": refusals[:MAX_REFUSALS_KEPT],
                          "lease": _lease(runner, engine.clock())}))

    if not already_finished:
        save(False)  # the lease is this runner's from now on
    for case_id in ids[done:]:
        try:
            reason = migrate_case(engine, case_id, source_id, target_id,
                                  (from_number, to_number), person)
        except Exception as error:  # noqa: BLE001 - one broken case never stops the others
            reason = f"Error al migrar: {error}"
        done += 1
        if reason is None:
            moved += 1
        else:
            refused += 1
            refusals.append({"case_number": numbers.get(case_id, str(case_id)),
                             "reason": reason})
        if done % PROGRESS_EVERY == 0:
            save(False)
    save(True)
    return job(engine, job_id, by=None)


def _numbers(engine: Engine, ids: list[int]) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    with engine._reader() as session:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            found.extend((i, n) for i, n in session.execute(
                select(CaseRow.id, CaseRow.number).where(CaseRow.id.in_(chunk))).all())
    return found


def job(engine: Engine, job_id: str, *, by: PersonView | str | None) -> JobView:
    """Return a job's progress (to the owners of its procedure)."""
    from .procedures import require_owner

    with engine._reader() as session:
        row = session.get(MigrationJobRow, job_id)
        if row is None:
            raise NotFound("No existe esa migración")
        view = JobView(row.id, row.process_id, row.total, row.done, row.moved, row.refused,
                       row.finished, list(row.refusals.get("items", [])))
    if by is not None:
        try:
            require_owner(engine, view.process_id, by)
        except PermissionDenied:
            raise NotFound("No existe esa migración") from None
    return view
