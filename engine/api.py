"""The engine's facade: one method per verb, one database transaction per verb."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from argon2 import PasswordHasher
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from sqlalchemy import and_, delete, func, insert, literal, or_, select, union_all, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from . import audit
from .assignment import offer_for
from .calendar import WorkingCalendar
from .clock import Clock, bound_now, local_date, utc_now
from .directory import Directory, normalise_title
from .documents import DocumentStore, DocumentView, check_document
from .effects import EffectContext, EffectHandler, Effects
from .errors import (
    Conflict,
    FieldError,
    FormInvalid,
    NotFound,
    PermissionDenied,
    StaleCase,
    TaskAlreadyCompleted,
    TaskClaimedByOther,
)
from .library import ProcessDefinition, ProcessLibrary
from .runtime import Runtime, Snapshot
from .store import (
    CaseEventRow,
    CaseRow,
    DocumentRefRow,
    DocumentRow,
    OpenTaskRow,
    PersonRow,
    ProcessRow,
    ProcessVersionRow,
    TaskDraftRow,
    connect,
    create_schema,
    drop_schema,
    next_in_sequence,
    session_factories,
)
from .views import (
    AuditEntry,
    CaseView,
    Inbox,
    Page,
    PersonView,
    ReplayStep,
    ReplayView,
    TaskDetail,
    TaskView,
)
from .workflow_cache import WorkflowCache

T = TypeVar("T")
Actor = PersonView | str

DUE_SOON_WORKING_DAYS = 3
DUE_STATES = ("vencida", "por_vencer", "a_tiempo", "sin_plazo")
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class InboxFilters:
    """What the inbox lists: by procedure, activity, due state, and a search text."""

    process_id: str | None = None
    activity_id: str | None = None
    due_state: str | None = None
    search: str | None = None
    sort: str = "due_at"
    descending: bool = False


_SORTS = {
    "due_at": OpenTaskRow.due_at, "created_at": OpenTaskRow.created_at,
    "case_number": OpenTaskRow.case_number, "requester": OpenTaskRow.requester,
    "activity": OpenTaskRow.activity_name, "process": OpenTaskRow.process_name,
}


class Engine:
    """Cauce's BPM engine: procedures, cases, tasks and their history, over one database."""

    def __init__(self, database: str | SqlEngine, library: ProcessLibrary, *,
                 clock: Clock = utc_now, calendar: WorkingCalendar | None = None,
                 password_hasher: PasswordHasher | None = None, cache_size: int = 256,
                 effects: Effects | None = None, documents_dir: str | Path | None = None):
        self.sql = connect(database) if isinstance(database, str) else database
        self._writer, self._reader = session_factories(self.sql)
        self.library = library
        self.clock = clock
        self.calendar = calendar or WorkingCalendar()
        self.runtime = Runtime(self.calendar)
        self.directory = Directory(password_hasher or PasswordHasher(), _role_titles(library))
        self._definitions: dict[int, ProcessDefinition] = {}
        self._workflows = WorkflowCache(cache_size)
        self.effects: dict[str, EffectHandler] = dict(effects or {})
        self.documents = DocumentStore(
            documents_dir or Path(tempfile.gettempdir()) / "cauce-documents")
        self._current: dict[str, int] = {}

    # -- set-up -----------------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create the tables if needed and publish the library's procedures as versions."""
        create_schema(self.sql)
        self.publish_library()

    def drop_schema(self) -> None:
        """Drop every table (``init-db --drop``): all cases and their history go."""
        drop_schema(self.sql)
        self._definitions.clear()
        self._current.clear()
        self._workflows.clear()

    def publish_library(self) -> dict[str, int]:
        """Store each procedure's version (once per content hash); make it the current one."""
        with self._writer.begin() as session:
            for definition in self.library.list():
                row = session.scalars(select(ProcessVersionRow).where(
                    ProcessVersionRow.content_hash == definition.version_hash)).first()
                if row is None:
                    row = ProcessVersionRow(
                        process_id=definition.process_id, content_hash=definition.version_hash,
                        name=definition.name, bundle=definition.bundle,
                        manifest=dict(definition.manifest), spec_json=definition.spec_json(),
                        created_at=self.clock(), source="files")
                    session.add(row)
                    session.flush()
                process = session.get(ProcessRow, definition.process_id)
                if process is None:
                    session.add(ProcessRow(process_id=definition.process_id,
                                           current_version_id=row.id))
                else:
                    process.current_version_id = row.id
                self._definitions[row.id] = definition
                self._current[definition.process_id] = row.id
        return dict(self._current)

    # -- people -----------------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> PersonView:
        """Check a password; failures count toward a temporary lockout."""
        now = self.clock()
        with self._writer() as session:
            try:
                person = self.directory.authenticate(session, username, password, now)
                view = self.directory.view(session, person)
            finally:
                # Failed attempts must be remembered even though the check raises.
                session.commit()
        return view

    def add_person(self, username: str, full_name: str, *, password: str | None = None,
                   positions: tuple[str, ...] = (), email: str | None = None) -> PersonView:
        """Register a person holding the positions with these titles (created if new)."""
        now = self.clock()

        def act(session: Session) -> PersonView:
            held = [self.directory.ensure_position(session, title, source="directory")
                    for title in positions]
            person = self.directory.create_person(session, username, full_name, now=now,
                                                  password=password, email=email,
                                                  positions=held)
            return self.directory.view(session, person)

        try:
            return self._transaction(act)
        except StaleCase:
            raise Conflict(f"Ya existe la persona {username!r}") from None

    def person(self, username: str) -> PersonView:
        """Return a person by username with their roles, or raise NotFound."""
        with self._reader() as session:
            row = session.scalars(select(PersonRow).where(PersonRow.username == username)).first()
            if row is None or not row.active:
                raise NotFound(f"No existe la persona {username!r}")
            return self.directory.view(session, row)

    def person_by_id(self, person_id: int) -> PersonView:
        """Return a person by id with their roles, or raise NotFound."""
        with self._reader() as session:
            row = session.get(PersonRow, person_id)
            if row is None or not row.active:
                raise NotFound("No existe esa persona")
            return self.directory.view(session, row)

    def people_with_role(self, role: str) -> list[PersonView]:
        """Return the active people holding ``role`` (for person pickers)."""
        with self._reader() as session:
            rows = session.scalars(select(PersonRow).where(PersonRow.active.is_(True))
                                   .order_by(PersonRow.full_name)).all()
            views = [self.directory.view(session, row) for row in rows]
        return [view for view in views if role in view.roles]

    # -- cases ------------------------------------------------------------------------------

    def processes(self) -> list[ProcessDefinition]:
        """Return the procedures new cases can be started on."""
        return self.library.list()

    def startable_processes(self, by: Actor) -> list[ProcessDefinition]:
        """Return the procedures this person may start a case of."""
        person = self._actor(by)
        return [d for d in self.library.list()
                if d.start_lane and d.lane_role(d.start_lane).role in person.roles]

    def start_case(self, process_id: str, *, by: Actor,
                   data: Mapping[str, Any] | None = None) -> CaseView:
        """Open a new case; with ``data``, also complete its first task with that form."""
        person = self._actor(by)
        version_id = self._current_version(process_id)
        definition = self._definitions[version_id]
        start_role = definition.lane_role(definition.start_lane).role if definition.start_lane \
            else None
        if start_role not in person.roles:
            raise PermissionDenied("Su rol no permite iniciar casos de este procedimiento")

        def act(session: Session) -> CaseView:
            now = self.clock()
            prefix = definition.responsibility.case_number_prefix
            year = local_date(now).year
            serial = next_in_sequence(session, f"case:{prefix}:{year}")
            with bound_now(now):
                workflow, path = self.runtime.start(definition)
            case = CaseRow(
                number=f"{prefix}-{year}-{serial:04d}", process_id=process_id,
                version_id=version_id, status="open", started_at=now, started_by=person.id,
                updated_at=now, state=b"", fingerprint=bytes(32), last_seq=0,
                last_hash=audit.GENESIS, deadlines={},
            )
            session.add(case)
            session.flush()
            step = _Step(session, case, definition, now, person)
            snap = self.runtime.snapshot(workflow, definition.side_branches)
            step.event("case_started", data={"version": definition.version_hash, "path": path},
                       state_hash=snap.fingerprint, role=start_role)
            if data is not None:
                if not snap.ready_human:
                    raise Conflict("El procedimiento no tiene una primera tarea que completar")
                task = snap.ready_human[0]
                activity = definition.activity(task.task_spec.bpmn_id)
                role = definition.lane_role(activity.lane).role
                if role not in person.roles:
                    raise PermissionDenied("Su rol no permite completar la primera tarea")
                clean = self._validated(session, definition, activity.form_id, data, now,
                                        person=person, case_id=case.id,
                                        activity_id=activity.bpmn_id)
                with bound_now(now):
                    path = self.runtime.complete(workflow, task, clean)
                snap = self.runtime.snapshot(workflow, definition.side_branches)
                step.event("task_completed", task_id=str(task.id), activity_id=activity.bpmn_id,
                           data={"form": clean, "path": path}, state_hash=snap.fingerprint,
                           role=role)
                path = [activity.bpmn_id, *path]
            return self._settle(step, workflow, snap, path)

        return self._transaction(act)

    def claim(self, task_id: str, *, by: Actor) -> TaskView:
        """Take an available task into one's own list."""
        person = self._actor(by)

        def act(session: Session) -> None:
            row, case = self._lock_open_task(session, task_id)
            if row.assignee_id == person.id:
                return
            # The role first: outside it, a task (held or not) does not exist.
            if row.audience not in person.audience:
                raise NotFound("No existe esa tarea o ya no está abierta")
            if row.assignee_id is not None:
                raise TaskClaimedByOther("Otra persona ya tomó esta tarea")
            row.assignee_id = person.id
            step = _Step(session, case, self._definition(case.version_id), self.clock(), person)
            step.event("task_claimed", task_id=task_id, activity_id=row.activity_id,
                       role=row.role)
            step.save()

        self._transaction(act)
        return self._task_view(task_id)

    def release(self, task_id: str, *, by: Actor) -> TaskView:
        """Give a claimed task back to everyone who holds its role."""
        person = self._actor(by)

        def act(session: Session) -> None:
            row, case = self._lock_open_task(session, task_id)
            if row.assignee_id != person.id and row.audience not in person.audience:
                raise NotFound("No existe esa tarea o ya no está abierta")
            if row.assignee_id is None:
                return
            if row.assignee_id != person.id:
                raise TaskClaimedByOther("Solo quien tomó la tarea puede liberarla")
            row.assignee_id = None
            step = _Step(session, case, self._definition(case.version_id), self.clock(), person)
            step.event("task_released", task_id=task_id, activity_id=row.activity_id,
                       role=row.role)
            step.save()

        self._transaction(act)
        return self._task_view(task_id)

    def save_draft(self, task_id: str, *, by: Actor, data: Mapping[str, Any]) -> datetime:
        """Keep a person's unfinished form for a task; nothing is validated or completed."""
        person = self._actor(by)
        now = self.clock()

        def act(session: Session) -> None:
            _check_task_id(task_id)
            row = session.get(OpenTaskRow, task_id)
            if row is None:
                self._raise_missing_task(session, task_id)
            self._check_may_complete(row, person)
            draft = session.get(TaskDraftRow, (task_id, person.id))
            if draft is None:
                session.add(TaskDraftRow(task_id=task_id, person_id=person.id,
                                         data=dict(data), saved_at=now))
            else:
                draft.data, draft.saved_at = dict(data), now

        self._transaction(act)
        return now

    def complete_task(self, task_id: str, *, by: Actor,
                      form_data: Mapping[str, Any]) -> CaseView:
        """Complete a task with its form; the case moves on to its next tasks."""
        person = self._actor(by)

        def act(session: Session) -> CaseView:
            now = self.clock()
            row, case = self._lock_open_task(session, task_id)
            self._check_may_complete(row, person)
            definition = self._definition(case.version_id)
            activity = definition.activity(row.activity_id)
            clean = self._validated(session, definition, activity.form_id, form_data, now,
                                    person=person, case_id=case.id,
                                    activity_id=activity.bpmn_id)
            with bound_now(now):
                workflow = self._workflow(definition, case)
                task = self.runtime.find_ready(workflow, task_id)
                if task is None:
                    raise TaskAlreadyCompleted("La tarea ya fue completada")
                path = self.runtime.complete(workflow, task, clean)
            snap = self.runtime.snapshot(workflow, definition.side_branches)
            step = _Step(session, case, definition, now, person)
            step.event("task_completed", task_id=task_id, activity_id=activity.bpmn_id,
                       data={"form": clean, "path": path}, state_hash=snap.fingerprint,
                       role=row.role)
            return self._settle(step, workflow, snap, [activity.bpmn_id, *path])

        return self._transaction(act)

    def fire_due_timers(self, now: datetime | None = None) -> int:
        """Fire every timer that is due; return how many cases moved. Safe to run in parallel."""
        now = now or self.clock()
        with self._reader() as session:
            # SpiffWorkflow fires a timer once its moment is strictly past.
            due = session.scalars(select(CaseRow.id).where(
                CaseRow.status == "open", CaseRow.next_timer_at < now)
                .order_by(CaseRow.next_timer_at)).all()
        moved = 0
        for case_id in due:
            def fire(session: Session, case_id: int = case_id) -> bool:
                return self._fire_case_timers(session, case_id, now)

            moved += self._transaction(fire)
        return moved

    def _fire_case_timers(self, session: Session, case_id: int, now: datetime) -> bool:
        case = session.scalars(select(CaseRow).where(CaseRow.id == case_id)
                               .with_for_update()).one()
        # Another worker may have fired it between our query and our lock.
        if case.status != "open" or case.next_timer_at is None or case.next_timer_at >= now:
            return False
        definition = self._definition(case.version_id)
        with bound_now(now):
            workflow = self._workflow(definition, case)
            fired = self.runtime.fire_timers(workflow)
        snap = self.runtime.snapshot(workflow, definition.side_branches)
        step = _Step(session, case, definition, now, None)
        if fired:
            step.event("timer_fired", data={"timers": fired}, state_hash=snap.fingerprint)
        self._settle(step, workflow, snap, fired)
        return bool(fired)

    # -- reading ----------------------------------------------------------------------------

    def case(self, case_ref: int | str, *, by: Actor) -> CaseView:
        """Return a case by id or number, if this person may see it."""
        person = self._actor(by)
        with self._reader() as session:
            case = self._visible_case(session, case_ref, person)
            definition = self._definition(case.version_id)
            data = self.runtime.stored_data(definition, case.state)
            tasks = session.scalars(select(OpenTaskRow).where(OpenTaskRow.case_id == case.id)
                                    .order_by(OpenTaskRow.created_at)).all()
            return self._case_view(session, case, definition, list(tasks), data)

    def _case_view(self, session: Session, case: CaseRow, definition: ProcessDefinition,
                   tasks: list[OpenTaskRow], data: dict[str, Any]) -> CaseView:
        names = self._usernames(session, {t.assignee_id for t in tasks})
        return CaseView(
            id=case.id, number=case.number, process_id=case.process_id,
            process_name=definition.name, version_hash=definition.version_hash,
            status=case.status, outcome=case.outcome, requester=case.requester,
            subject=case.subject, started_at=case.started_at, updated_at=case.updated_at,
            completed_at=case.completed_at, due_at=case.due_at, overdue_at=case.overdue_at,
            open_tasks=tuple(_task_view(t, names) for t in tasks), data=data,
        )

    def history(self, case_ref: int | str, *, by: Actor) -> list[AuditEntry]:
        """Return the case's log, oldest first."""
        person = self._actor(by)
        with self._reader() as session:
            case = self._visible_case(session, case_ref, person)
            definition = self._definition(case.version_id)
            rows = session.scalars(select(CaseEventRow).where(CaseEventRow.case_id == case.id)
                                   .order_by(CaseEventRow.seq)).all()
            return [_audit_entry(row, definition) for row in rows]

    def replay(self, case_ref: int | str, *, by: Actor) -> ReplayView:
        """Re-execute a case from its log and check every recorded state and the stored one."""
        person = self._actor(by)
        with self._reader() as session:
            case = self._visible_case(session, case_ref, person)
            definition = self._definition(case.version_id)
            rows = session.scalars(select(CaseEventRow).where(CaseEventRow.case_id == case.id)
                                   .order_by(CaseEventRow.seq)).all()
            broken = audit.first_broken_link(case.id, rows)
            stored_state, stored_fingerprint = case.state, case.fingerprint
        steps, workflow = [], None
        for row in rows:
            replayed: bytes | None = None
            if row.state_hash is not None:
                workflow = self._replay_event(definition, workflow, row)
                replayed = self.runtime.fingerprint(workflow) if workflow is not None else None
            steps.append(ReplayStep(
                seq=row.seq, event_type=row.event_type, activity_id=row.activity_id,
                recorded_state=row.state_hash.hex() if row.state_hash else None,
                replayed_state=replayed.hex() if replayed else None))
        return ReplayView(case_number=case.number, chain_intact=broken is None, broken_at=broken,
                          steps=tuple(steps), stored_state_matches=self._matches_stored(
                              definition, workflow, stored_state, stored_fingerprint))

    def _matches_stored(self, definition: ProcessDefinition, replayed: BpmnWorkflow | None,
                        state: bytes, fingerprint: bytes) -> bool:
        """Tell whether a replayed workflow is the one the database holds for the case."""
        if replayed is None:
            return False
        snap = self.runtime.snapshot(replayed, definition.side_branches)
        if snap.fingerprint != fingerprint:
            return False
        if snap.completed:
            return self.runtime.stored_data(definition, state) == json.loads(
                audit.canonical_json(snap.data))
        stored = self.runtime.restore(definition, state)
        return self.runtime.fingerprint(stored) == fingerprint

    def _replay_event(self, definition: ProcessDefinition, workflow: BpmnWorkflow | None,
                      row: CaseEventRow) -> BpmnWorkflow | None:
        with bound_now(row.at):
            if row.event_type == "case_started":
                return self.runtime.start(definition)[0]
            if workflow is None:
                return None
            if row.event_type == "task_completed":
                candidates = [t for t in self.runtime.ready_human_tasks(workflow)
                              if t.task_spec.bpmn_id == row.activity_id]
                if not candidates:
                    return workflow
                self.runtime.complete(workflow, candidates[0], dict((row.data or {})["form"]))
            elif row.event_type == "timer_fired":
                self.runtime.fire_timers(workflow)
        return workflow

    def inbox(self, by: Actor, *, filters: InboxFilters | None = None, page_mine: int = 1,
              page_available: int = 1, per_page: int = 50) -> Inbox:
        """Return a person's tasks: claimed by them, and unclaimed ones of their roles.

        Both lists, their pages and their totals come from one indexed query on ``open_task``.
        """
        person = self._actor(by)
        statement = self.inbox_statement(person, filters=filters, page_mine=page_mine,
                                         page_available=page_available, per_page=per_page)
        with self._reader() as session:
            rows = session.execute(statement).all()
        lists: dict[str, list[TaskView]] = {"mine": [], "available": []}
        totals = {"mine": 0, "available": 0}
        for row in rows:
            lists[row.list].append(_task_view(row, {}))
            totals[row.list] = int(row.total)
        for label, page in (("mine", page_mine), ("available", page_available)):
            if page > 1 and not lists[label]:
                # Past the last page the window count has no row to ride on: count apart.
                totals[label] = self._count_tasks(person, label, filters)
        return Inbox(
            mine=Page(tuple(lists["mine"]), totals["mine"], max(1, page_mine), per_page),
            available=Page(tuple(lists["available"]), totals["available"],
                           max(1, page_available), per_page),
        )

    def _count_tasks(self, person: PersonView, label: str,
                     filters: InboxFilters | None) -> int:
        statement = self.inbox_statement(person, filters=filters, page_mine=1,
                                         page_available=1, per_page=1)
        with self._reader() as session:
            for row in session.execute(statement):
                if row.list == label:
                    return int(row.total)
        return 0

    def inbox_statement(self, by: Actor, *, filters: InboxFilters | None = None,
                        page_mine: int = 1, page_available: int = 1, per_page: int = 50) -> Any:
        """Return the inbox's SQL statement (also to inspect its query plan)."""
        person = self._actor(by)
        filters = filters or InboxFilters()
        mine = OpenTaskRow.assignee_id == person.id
        available = and_(OpenTaskRow.assignee_id.is_(None),
                         OpenTaskRow.audience.in_(sorted(person.audience) or [""]))
        parts = []
        for label, visible, page in (("mine", mine, page_mine),
                                     ("available", available, page_available)):
            query = self._task_select(visible, filters).add_columns(
                literal(label).label("list"), func.count().over().label("total"),
                PersonRow.username.label("assignee"),
            ).outerjoin(PersonRow, PersonRow.id == OpenTaskRow.assignee_id)
            query = query.limit(per_page).offset((max(1, page) - 1) * per_page)
            parts.append(select(query.subquery()))
        return union_all(*parts)

    def task(self, task_id: str, *, by: Actor) -> TaskDetail:
        """Return an open task with its form, its case's data and the person's draft."""
        person = self._actor(by)
        _check_task_id(task_id)
        with self._reader() as session:
            row = session.get(OpenTaskRow, task_id)
            if row is None or not (row.assignee_id == person.id or (
                    row.assignee_id is None and row.audience in person.audience)):
                raise NotFound("No existe esa tarea o ya no está abierta")
            case = session.get(CaseRow, row.case_id)
            assert case is not None
            definition = self._definition(case.version_id)
            form = definition.form(row.form_id)
            draft = session.get(TaskDraftRow, (task_id, person.id))
            names = self._usernames(session, {row.assignee_id})
            snap = self.runtime.snapshot(self.runtime.restore(definition, case.state),
                                         definition.side_branches)
            task = snap.find_ready(task_id)
            data = dict(task.data) if task is not None else snap.data
            return TaskDetail(
                task=_task_view(row, names),
                form_schema=dict(form.schema) if form else None,
                form_ui=dict(form.ui) if form else {},
                case_data=data, draft=dict(draft.data) if draft else None,
            )

    def due_state(self, due_at: datetime | None, now: datetime | None = None) -> str:
        """Classify a due date: vencida, por_vencer (≤ 3 working days), a_tiempo, sin_plazo."""
        if due_at is None:
            return "sin_plazo"
        now = now or self.clock()
        if due_at < now:
            return "vencida"
        if due_at <= self._due_soon_limit(now):
            return "por_vencer"
        return "a_tiempo"

    # -- internals --------------------------------------------------------------------------

    def _transaction(self, act: Callable[[Session], T]) -> T:
        """Run ``act`` in one write transaction, retrying when it lost an optimistic race."""
        for _attempt in range(MAX_ATTEMPTS):
            try:
                with self._writer.begin() as session:
                    session.info["after_commit"] = []
                    result = act(session)
            except (StaleDataError, IntegrityError):
                continue
            for callback in session.info["after_commit"]:
                callback()
            return result
        raise StaleCase("El caso cambió mientras se guardaba; vuelva a intentarlo")

    def _workflow(self, definition: ProcessDefinition, case: CaseRow) -> BpmnWorkflow:
        """Return the case's workflow: the one this process saved last, or restored from the DB."""
        cached = self._workflows.take(case.id, case.version)
        return cached if cached is not None else self.runtime.restore(definition, case.state)

    def _keep(self, session: Session, case: CaseRow, workflow: BpmnWorkflow) -> None:
        """Cache the workflow once the transaction that saved it has committed."""
        case_id, version = case.id, case.version
        session.info["after_commit"].append(
            lambda: self._workflows.put(case_id, version, workflow))

    def _actor(self, by: Actor) -> PersonView:
        return by if isinstance(by, PersonView) else self.person(by)

    def _current_version(self, process_id: str) -> int:
        if not self._current:
            self.publish_library()
        try:
            return self._current[process_id]
        except KeyError:
            raise NotFound(f"No existe el procedimiento {process_id!r}") from None

    def definition_by_hash(self, version_hash: str) -> ProcessDefinition:
        """Return the process version with this content hash (the one a case runs on)."""
        for definition in self._definitions.values():
            if definition.version_hash == version_hash:
                return definition
        with self._reader() as session:
            version_id = session.scalars(select(ProcessVersionRow.id).where(
                ProcessVersionRow.content_hash == version_hash)).first()
        if version_id is None:
            raise NotFound("No existe esa versión del procedimiento")
        return self._definition(version_id)

    def _definition(self, version_id: int) -> ProcessDefinition:
        definition = self._definitions.get(version_id)
        if definition is None:
            with self._reader() as session:
                row = session.get(ProcessVersionRow, version_id)
                if row is None:
                    raise NotFound(f"No existe la versión {version_id}")
                definition = ProcessDefinition.from_stored(
                    row.process_id, row.content_hash, row.bundle, row.manifest, row.spec_json)
            self._definitions[version_id] = definition
        return definition

    def _visible_case(self, session: Session, case_ref: int | str,
                      person: PersonView) -> CaseRow:
        query = select(CaseRow)
        if isinstance(case_ref, str) and ("\x00" in case_ref or len(case_ref) > 40):
            raise NotFound("No existe ese caso")
        if isinstance(case_ref, int) or (case_ref.isascii() and case_ref.isdigit()):
            if not 0 < int(case_ref) < 2**31:
                raise NotFound("No existe ese caso")
            query = query.where(CaseRow.id == int(case_ref))
        else:
            query = query.where(CaseRow.number == case_ref)
        case = session.scalars(query).first()
        # Not 403: a person outside the procedure must not learn that the case exists.
        if case is None or not (self._may_see(person, self._definition(case.version_id))
                                or self._takes_part(session, case.id, person)):
            raise NotFound("No existe ese caso")
        return case

    def _takes_part(self, session: Session, case_id: int, person: PersonView) -> bool:
        """Tell whether a task of the case is offered to this person, or they acted in it.

        That is how the head of the unit chosen for a case sees it: by position, not role.
        """
        offered = session.scalars(select(OpenTaskRow.task_id).where(
            OpenTaskRow.case_id == case_id,
            or_(OpenTaskRow.assignee_id == person.id,
                OpenTaskRow.audience.in_(sorted(person.audience) or [""])))).first()
        if offered is not None:
            return True
        acted = session.scalars(select(CaseEventRow.id).where(
            CaseEventRow.case_id == case_id, CaseEventRow.actor_id == person.id)).first()
        return acted is not None

    def _may_see(self, person: PersonView, definition: ProcessDefinition) -> bool:
        return bool(person.roles & set(definition.roles()))

    def _lock_open_task(self, session: Session, task_id: str) -> tuple[OpenTaskRow, CaseRow]:
        _check_task_id(task_id)
        # One statement reads the task and locks its case (PostgreSQL); a concurrent winner
        # that deleted the task row makes it come back empty. SQLite's BEGIN IMMEDIATE has
        # already serialized writers.
        found = session.execute(
            select(OpenTaskRow, CaseRow).join(CaseRow, CaseRow.id == OpenTaskRow.case_id)
            .where(OpenTaskRow.task_id == task_id).with_for_update()
        ).first()
        if found is None:
            self._raise_missing_task(session, task_id)
        return found[0], found[1]

    def _raise_missing_task(self, session: Session, task_id: str) -> NoReturn:
        done = session.scalars(select(CaseEventRow.id).where(
            CaseEventRow.task_id == task_id,
            CaseEventRow.event_type == "task_completed")).first()
        if done is not None:
            raise TaskAlreadyCompleted("La tarea ya fue completada")
        raise NotFound("No existe esa tarea o ya no está abierta")

    def _check_may_complete(self, row: OpenTaskRow, person: PersonView) -> None:
        if row.assignee_id == person.id:
            return
        if row.audience not in person.audience:
            raise NotFound("No existe esa tarea o ya no está abierta")
        if row.assignee_id is not None:
            raise TaskClaimedByOther("Otra persona tomó esta tarea")

    def _validated(self, session: Session, definition: ProcessDefinition, form_id: str | None,
                   data: Mapping[str, Any], now: datetime, *, person: PersonView,
                   case_id: int, activity_id: str) -> dict[str, Any]:
        form = definition.form(form_id)
        if form is None:
            return dict(data)

        def check_person(username: str, role: str) -> str | None:
            row = session.scalars(select(PersonRow).where(PersonRow.username == username)).first()
            if row is None or not row.active:
                return "No existe esa persona"
            if role not in self.directory.view(session, row).roles:
                return "Esa persona no tiene el rol requerido"
            return None

        # Report every problem at once: the form's own and the catalogue's.
        try:
            clean = form.validate(data, check_person=check_person)
            problems: list[FieldError] = []
        except FormInvalid as invalid:
            clean, problems = dict(data), list(invalid.errors)
        problems += self._source_problems(session, form, clean)
        if problems:
            raise FormInvalid(sorted(problems, key=lambda p: p.field))
        self._link_documents(session, form, clean, person, case_id, activity_id)
        year = local_date(now).year
        for name, sequence in form.sequence_fields().items():
            clean[name] = next_in_sequence(session, sequence.format(year=year))
        return clean

    def _source_problems(self, session: Session, form: Any,
                         clean: Mapping[str, Any]) -> list[FieldError]:
        """Name the catalogue-bound values that are not in the imported catalogue."""
        from .catalogue import known_codes

        problems = []
        for path, source, column in form.source_fields():
            allowed = known_codes(session, source, column)
            if allowed is None:
                continue
            for where, value in _values_at(clean, path):
                if isinstance(value, str) and value not in allowed:
                    problems.append(FieldError(where, "No está en el catálogo de la institución"))
        return problems

    def _link_documents(self, session: Session, form: Any, clean: Mapping[str, Any],
                        person: PersonView, case_id: int, activity_id: str) -> None:
        """Attach the documents a form names to the case; refuse ones the person cannot use."""
        problems = []
        for name in form.attachment_fields():
            for sha256 in clean.get(name) or []:
                refs = session.scalars(select(DocumentRefRow).where(
                    DocumentRefRow.sha256 == sha256,
                    or_(DocumentRefRow.case_id == case_id,
                        and_(DocumentRefRow.case_id.is_(None),
                             DocumentRefRow.uploaded_by == person.id)))).all()
                if not refs:
                    problems.append(FieldError(name, "Documento desconocido; vuelva a adjuntarlo"))
                for ref in refs:
                    if ref.case_id is None:
                        ref.case_id, ref.activity_id = case_id, activity_id
        if problems:
            raise FormInvalid(problems)

    def store_document(self, *, by: Actor, filename: str, data: bytes) -> DocumentView:
        """Keep an uploaded file (checked by size and content type) for a form to attach."""
        person = self._actor(by)
        content_type = check_document(filename, data)
        sha256 = self.documents.put(data)
        now = self.clock()
        safe_name = Path(filename.replace("\\", "/")).name[:255] or "documento"

        def act(session: Session) -> DocumentView:
            if session.get(DocumentRow, sha256) is None:
                session.add(DocumentRow(sha256=sha256, size=len(data), content_type=content_type,
                                        created_at=now))
                session.flush()
            ref = DocumentRefRow(sha256=sha256, filename=safe_name, uploaded_by=person.id,
                                 uploaded_at=now)
            session.add(ref)
            session.flush()
            return DocumentView(ref.id, sha256, safe_name, content_type, len(data),
                                person.username, now, None)

        return self._transaction(act)

    def document(self, sha256: str, *, by: Actor) -> tuple[DocumentView, Path]:
        """Return a document and its file, if this person uploaded it or may see its case."""
        person = self._actor(by)
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise NotFound("No existe ese documento")
        with self._reader() as session:
            rows = session.execute(
                select(DocumentRefRow, DocumentRow, CaseRow.version_id, PersonRow.username)
                .join(DocumentRow, DocumentRow.sha256 == DocumentRefRow.sha256)
                .join(PersonRow, PersonRow.id == DocumentRefRow.uploaded_by)
                .outerjoin(CaseRow, CaseRow.id == DocumentRefRow.case_id)
                .where(DocumentRefRow.sha256 == sha256)).all()
            for ref, doc, version_id, uploader in rows:
                allowed = ref.uploaded_by == person.id or (
                    version_id is not None and self._may_see(person, self._definition(version_id)))
                if allowed:
                    view = DocumentView(ref.id, doc.sha256, ref.filename, doc.content_type,
                                        doc.size, uploader, ref.uploaded_at, ref.activity_id)
                    return view, self.documents.path(sha256)
        raise NotFound("No existe ese documento")

    def case_documents(self, case_ref: int | str, *, by: Actor) -> list[DocumentView]:
        """Return the documents attached to a case, oldest first."""
        person = self._actor(by)
        with self._reader() as session:
            case = self._visible_case(session, case_ref, person)
            rows = session.execute(
                select(DocumentRefRow, DocumentRow, PersonRow.username)
                .join(DocumentRow, DocumentRow.sha256 == DocumentRefRow.sha256)
                .join(PersonRow, PersonRow.id == DocumentRefRow.uploaded_by)
                .where(DocumentRefRow.case_id == case.id)
                .order_by(DocumentRefRow.uploaded_at, DocumentRefRow.id)).all()
            return [DocumentView(ref.id, doc.sha256, ref.filename, doc.content_type, doc.size,
                                 uploader, ref.uploaded_at, ref.activity_id)
                    for ref, doc, uploader in rows]

    def _settle(self, step: _Step, workflow: BpmnWorkflow, snap: Snapshot,
                path: list[str]) -> CaseView:
        """Save the workflow and bring the case row, open tasks and drafts in line with it."""
        session, case, definition, now = step.session, step.case, step.definition, step.now
        changes = step.changes
        self._apply_effects(step, snap, path)
        overdue = [t for t in path if t in definition.overdue_timers]
        if overdue and case.overdue_at is None:
            changes["overdue_at"] = now
            step.event("deadline_passed", data={"timers": overdue}, by_system=True)
        deadlines = dict(case.deadlines or {})
        deadlines.update({k: v.isoformat() for k, v in snap.timer_moments.items()})
        if deadlines != case.deadlines:
            changes["deadlines"] = deadlines
        pending = snap.pending_timers.values()
        changes["next_timer_at"] = min(pending) if pending else None
        if deadlines:
            changes["due_at"] = min(datetime.fromisoformat(v) for v in deadlines.values())
        summary = definition.responsibility.case_summary
        for attribute, limit in (("requester", 300), ("subject", None)):
            field = summary.get(attribute)
            if field and snap.data.get(field):
                changes[attribute] = str(snap.data[field])[:limit]
        if snap.completed and case.status == "open":
            changes.update(status="completed", completed_at=now,
                           outcome=_outcome(definition, snap.reached_ends))
            step.event("case_completed", data={"outcome": changes["outcome"]}, by_system=True)
            changes["state"] = self.runtime.dump_final(snap.data)
        else:
            changes["state"] = self.runtime.dump(workflow)
        changes.update(fingerprint=snap.fingerprint, updated_at=now)
        tasks = self._rewrite_open_tasks(session, case, definition, snap, deadlines,
                                         changes.get("requester", case.requester), now)
        step.save()
        if not snap.completed:
            self._keep(session, case, workflow)
        return self._case_view(session, case, definition, tasks, snap.data)

    def _apply_effects(self, step: _Step, snap: Snapshot, path: list[str]) -> None:
        """Run the effects named by the nodes this step completed, in the order they ran."""
        for element in path:
            for name, value in step.definition.element_properties.get(element, {}).items():
                handler = self.effects.get(name)
                if handler is None:
                    continue
                context = EffectContext(
                    session=step.session, case_id=step.case.id, case_number=step.case.number,
                    process_id=step.case.process_id, element_id=element, data=snap.data,
                    actor=step.person, now=step.now)
                outcome = handler(context, value)
                step.event("effect_applied", activity_id=element, data={
                    "effect": name, "value": value, "outcome": dict(outcome or {})})

    def _rewrite_open_tasks(self, session: Session, case: CaseRow, definition: ProcessDefinition,
                            snap: Snapshot, deadlines: Mapping[str, str], requester: str | None,
                            now: datetime) -> list[OpenTaskRow]:
        existing = {row.task_id: row for row in session.scalars(
            select(OpenTaskRow).where(OpenTaskRow.case_id == case.id))}
        ready = {str(t.id): t for t in snap.ready_human}
        gone = [task_id for task_id in existing if task_id not in ready]
        if gone:
            # Drafts of these tasks go with them (ON DELETE CASCADE).
            session.execute(delete(OpenTaskRow).where(OpenTaskRow.task_id.in_(gone))
                            .execution_options(synchronize_session=False))
        rows, new_rows = [], []
        for task_id, task in ready.items():
            row = existing.get(task_id)
            if row is not None:
                if requester and row.requester != requester:
                    row.requester = requester
                rows.append(row)
                continue
            activity = definition.activity(task.task_spec.bpmn_id)
            offer = offer_for(definition.lane_role(activity.lane), {**snap.data, **task.data})
            assignee_id = None
            if offer.assignee_username:
                assignee_id = session.scalars(select(PersonRow.id).where(
                    PersonRow.username == offer.assignee_username)).first()
            due = [datetime.fromisoformat(deadlines[t]) for t in activity.timers if t in deadlines]
            new_rows.append(dict(
                task_id=task_id, case_id=case.id, process_id=case.process_id,
                process_name=definition.name, case_number=case.number, requester=requester,
                activity_id=activity.bpmn_id, activity_name=activity.name, lane=activity.lane,
                role=offer.role, audience=offer.audience, assignee_id=assignee_id,
                form_id=activity.form_id, created_at=now, due_at=min(due) if due else None,
            ))
        if new_rows:
            session.execute(insert(OpenTaskRow), new_rows)
        return rows + [OpenTaskRow(**values) for values in new_rows]

    def _task_select(self, visible: Any, filters: InboxFilters) -> Any:
        query = select(*OpenTaskRow.__table__.columns).where(visible)
        if filters.process_id:
            query = query.where(OpenTaskRow.process_id == filters.process_id.replace(chr(0), ""))
        if filters.activity_id:
            query = query.where(
                OpenTaskRow.activity_id == filters.activity_id.replace(chr(0), ""))
        if filters.search:
            # NUL cannot be stored, so it cannot match: drop it rather than fail.
            like = f"%{filters.search.replace(chr(0), '').strip().lower()}%"
            query = query.where(or_(func.lower(OpenTaskRow.case_number).like(like),
                                    func.lower(OpenTaskRow.requester).like(like)))
        if filters.due_state:
            now = self.clock()
            soon = self._due_soon_limit(now)
            column = OpenTaskRow.due_at
            query = query.where({
                "vencida": column < now,
                "por_vencer": and_(column >= now, column <= soon),
                "a_tiempo": column > soon,
                "sin_plazo": column.is_(None),
            }.get(filters.due_state, column.is_(None) | column.is_not(None)))
        order = _SORTS.get(filters.sort, OpenTaskRow.due_at)
        order_by = order.desc() if filters.descending else order.asc()
        # Nulls (no deadline) last either way; the task id keeps pages stable.
        return query.order_by(order.is_(None), order_by, OpenTaskRow.task_id)

    def _task_view(self, task_id: str) -> TaskView:
        with self._reader() as session:
            row = session.get(OpenTaskRow, task_id)
            if row is None:
                raise NotFound("No existe esa tarea o ya no está abierta")
            return _task_view(row, self._usernames(session, {row.assignee_id}))

    def _usernames(self, session: Session, ids: set[int | None]) -> dict[int, str]:
        wanted = [i for i in ids if i is not None]
        if not wanted:
            return {}
        return dict(session.execute(select(PersonRow.id, PersonRow.username)
                                    .where(PersonRow.id.in_(wanted))).all())

    def _due_soon_limit(self, now: datetime) -> datetime:
        return self.calendar.deadline(now, DUE_SOON_WORKING_DAYS)

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """Yield a read-only session (for CLI reports and tests that inspect the database)."""
        with self._reader() as session:
            yield session


class _Step:
    """What one verb does to one case: the events it appends and the case row's new values.

    Written with plain INSERT/UPDATE statements (no unit of work); the UPDATE checks the version
    the verb read, so a concurrent writer makes it fail and the verb is retried.
    """

    def __init__(self, session: Session, case: CaseRow, definition: ProcessDefinition,
                 now: datetime, person: PersonView | None):
        self.session, self.case, self.definition = session, case, definition
        self.now, self.person = now, person
        self.changes: dict[str, Any] = {}
        self._events: list[dict[str, Any]] = []
        self._seq, self._hash = case.last_seq, case.last_hash

    def event(self, event_type: str, *, task_id: str | None = None,
              activity_id: str | None = None, data: dict[str, Any] | None = None,
              state_hash: bytes | None = None, role: str | None = None,
              by_system: bool = False) -> None:
        """Append one event to the case's chain (``by_system``: no person caused it)."""
        seq = self._seq + 1
        person = None if by_system else self.person
        actor = person.username if person else None
        digest = audit.event_hash(
            self._hash, case_id=self.case.id, seq=seq, at=self.now, actor=actor, role=role,
            event_type=event_type, task_id=task_id, activity_id=activity_id, data=data,
            state_hash=state_hash)
        self._events.append(dict(
            case_id=self.case.id, seq=seq, at=self.now,
            actor_id=person.id if person else None, actor=actor, role=role,
            event_type=event_type, task_id=task_id, activity_id=activity_id, data=data,
            state_hash=state_hash, hash=digest))
        self._seq, self._hash = seq, digest

    def save(self) -> None:
        """Write the events and the case row; raise StaleDataError if the case moved on."""
        if self._events:
            self.session.execute(insert(CaseEventRow), self._events)
            self.changes.update(last_seq=self._seq, last_hash=self._hash)
        if not self.changes:
            return
        seen = self.case.version
        result: CursorResult[Any] = self.session.execute(  # type: ignore[assignment]
            update(CaseRow).where(CaseRow.id == self.case.id, CaseRow.version == seen)
            .values(**self.changes, version=seen + 1)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            raise StaleDataError(f"case {self.case.id} changed since version {seen}")
        # Keep the loaded row in step for whoever reads it after this verb.
        for key, value in {**self.changes, "version": seen + 1}.items():
            set_committed_value(self.case, key, value)
        self._events, self.changes = [], {}


def _values_at(data: Any, path: tuple[str, ...], where: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (field path, value) for a path whose ``"*"`` steps go through every list item."""
    if not path:
        yield where, data
        return
    step, rest = path[0], path[1:]
    if step == "*":
        for index, item in enumerate(data if isinstance(data, list) else []):
            yield from _values_at(item, rest, f"{where}/{index}")
    elif isinstance(data, Mapping) and step in data:
        yield from _values_at(data[step], rest, f"{where}/{step}" if where else step)


def _check_task_id(task_id: str) -> None:
    """Refuse ids no task can have (they would otherwise reach the database as they are)."""
    if not task_id or len(task_id) > 36 or "\x00" in task_id:
        raise NotFound("No existe esa tarea o ya no está abierta")


def _role_titles(library: ProcessLibrary) -> dict[str, frozenset[str]]:
    titles: dict[str, set[str]] = {}
    for definition in library.list():
        for role, row in definition.roles().items():
            for title in row.positions:
                titles.setdefault(normalise_title(title), set()).add(role)
    return {title: frozenset(roles) for title, roles in titles.items()}


def _outcome(definition: ProcessDefinition, ends: list[str]) -> str | None:
    main = [end for end in ends if end not in definition.side_branches] or ends
    return definition.end_events.get(main[-1], main[-1]) if main else None


def _task_view(row: Any, usernames: Mapping[int, str]) -> TaskView:
    assignee = getattr(row, "assignee", None) if not isinstance(row, OpenTaskRow) else None
    if assignee is None and row.assignee_id:
        assignee = usernames.get(row.assignee_id)
    return TaskView(
        task_id=row.task_id, case_id=row.case_id, case_number=row.case_number,
        process_id=row.process_id, process_name=row.process_name, activity_id=row.activity_id,
        activity_name=row.activity_name, lane=row.lane, role=row.role, requester=row.requester,
        assignee=assignee,
        created_at=row.created_at, due_at=row.due_at, form_id=row.form_id,
    )


def _audit_entry(row: CaseEventRow, definition: ProcessDefinition) -> AuditEntry:
    name = None
    if row.activity_id and row.activity_id in definition.activities:
        name = definition.activities[row.activity_id].name
    return AuditEntry(
        seq=row.seq, at=row.at, actor=row.actor, role=row.role, event_type=row.event_type,
        task_id=row.task_id, activity_id=row.activity_id, activity_name=name, data=row.data,
        state_hash=row.state_hash.hex() if row.state_hash else None, hash=row.hash.hex())


