"""The engine's facade: one method per verb, one database transaction per verb."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

from argon2 import PasswordHasher
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from sqlalchemy import Integer, String, bindparam, select, update
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from . import (  # auditor's workbench (issue 9)
    access_log,
    anchoring,
    audit,
    case_migration,
    case_search,
    compaction,
    conformance,
    discovery,
    disposal,
    heatmap,  # managers' dashboards (issue 11)
    incidents,
    ldap_directory,
    mailer,
    notifications,
    operations,
    outbox,
    procedure_check,
    procedure_diff,
    procedures,
    replay_view,
    retention,
    review_loop,
    sign_in,
    signing,
    state_migration,
    timer_claims,
    trial,
    verification,
    xes,
)
from . import alerts as manager_alerts  # managers' dashboards (issue 11)
from . import backup as backups
from . import charter_dashboard as charter_figures  # managers' dashboards (issue 11)
from . import dossier as case_dossiers
from . import inbox as inbox_query
from . import indicators as social_indicators  # managers' dashboards (issue 11)
from . import task_fate as task_fates
from .assignment import offer_for
from .calendar import WorkingCalendar
from .clock import Clock, bound_now, local_date, utc_now
from .directory import Directory, normalise_title
from .documents import DocumentStore, DocumentView, check_document, find_unlinked_upload
from .effects import EffectContext, EffectHandler, Effects
from .errors import (
    Conflict,
    FieldError,
    FormInvalid,
    InvalidCredentials,
    NotFound,
    PermissionDenied,
    SignInThrottled,
    StaleCase,
    TaskAlreadyCompleted,
    TaskClaimedByOther,
    TaskCompletedByOther,
    TaskHeldByOther,
)
from .inbox import InboxFilters
from .library import ProcessDefinition, ProcessLibrary
from .limits import ScriptLimits
from .runtime import Runtime, Snapshot
from .sign_in import SignIn, ThrottlePolicy
from .store import (
    Base,
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


class Engine:
    """Cauce's BPM engine: procedures, cases, tasks and their history, over one database."""

    def __init__(self, database: str | SqlEngine, library: ProcessLibrary, *,
                 clock: Clock = utc_now, calendar: WorkingCalendar | None = None,
                 password_hasher: PasswordHasher | None = None, cache_size: int = 256,
                 effects: Effects | None = None, documents_dir: str | Path | None = None,
                 throttle: ThrottlePolicy | None = None, sign_in_clock: Clock = utc_now,
                 script_limits: ScriptLimits | None = None, session_cache_seconds: float = 3.0):
        self.sql = connect(database) if isinstance(database, str) else database
        self._writer, self._reader = session_factories(self.sql)
        self.library = library
        self.clock = clock
        self.calendar = calendar or WorkingCalendar()
        self.runtime = Runtime(self.calendar, script_limits or ScriptLimits())
        self.directory = Directory(password_hasher or PasswordHasher(), _role_titles(library))
        self.throttle = throttle or ThrottlePolicy()
        # Sessions and sign-in throttling run on real time, as the cookie's and the token's own
        # expiry do; ``clock`` is the cases' time, which tests and replays move at will.
        self.sign_in_clock = sign_in_clock
        self.sessions = sign_in.SessionCache(session_cache_seconds)
        self._definitions = _Definitions()
        self._workflows = WorkflowCache(cache_size)
        self.effects: dict[str, EffectHandler] = dict(effects or {})
        self.documents = DocumentStore(
            documents_dir or Path(tempfile.gettempdir()) / "cauce-documents")
        self._current: dict[str, int] = {}
        self._observers: list[operations.Observer] = []

    # -- set-up -----------------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create the tables if needed and publish the library's procedures as versions."""
        create_schema(self.sql)
        self.publish_library()

    def migrate_states(self, *, batch_size: int = 200, force: bool = False,
                       progress: state_migration.Progress | None = None,
                       ) -> state_migration.StateMigrationSummary:
        """Re-save running cases' states in this SpiffWorkflow's format (``db migrate-states``)."""
        return state_migration.migrate_states(self._writer, self._reader, self.runtime,
                                              self._definition, batch_size=batch_size,
                                              force=force, progress=progress)

    def drop_schema(self) -> None:
        """Drop every table (``init-db --drop``): all cases and their history go."""
        drop_schema(self.sql)
        self._definitions.clear()
        self._current.clear()
        self._workflows.clear()
        self.sessions.clear()

    def publish_library(self) -> dict[str, int]:
        """Store each procedure's version (once per content hash); make it the current one."""
        with self._writer.begin() as session:
            upsert = _insert_or_ignore(session)
            for definition in self.library.list():
                # Several processes starting at once publish the same files: insert-or-ignore
                # on the content hash (and the process id) lets each of them win or find the
                # winner's row, instead of one dying on a unique-key error at start-up.
                session.execute(upsert(ProcessVersionRow).values(
                    process_id=definition.process_id, content_hash=definition.version_hash,
                    name=definition.name, bundle=definition.bundle,
                    manifest=dict(definition.manifest), spec_json=definition.spec_json(),
                    created_at=self.clock(), source="files",
                ).on_conflict_do_nothing(index_elements=["content_hash"]))
                version_id = session.scalars(select(ProcessVersionRow.id).where(
                    ProcessVersionRow.content_hash == definition.version_hash)).one()
                # Once an owner has published in the workshop, the database's version stays
                # current across restarts; files only move a procedure that never left them.
                session.execute(upsert(ProcessRow).values(
                    process_id=definition.process_id, current_version_id=version_id,
                ).on_conflict_do_update(index_elements=["process_id"],
                                        set_={"current_version_id": version_id},
                                        where=ProcessRow.current_version_id.in_(
                                            select(ProcessVersionRow.id).where(
                                                ProcessVersionRow.source == "files"))))
                self._definitions[version_id] = definition
                self._current[definition.process_id] = version_id
        procedures.sync_current(self)  # adopt versions published in the workshop
        return dict(self._current)

    # -- people -----------------------------------------------------------------------------

    def authenticate(self, username: str, password: str, *, client: str = "") -> PersonView:
        """Check a password (throttled per client and account) and return its person."""
        return self._check_password(username, password, client, self.directory.view)

    def sign_in(self, username: str, password: str, *, client: str = "", kind: str = "web",
                lifetime: timedelta = timedelta(hours=8)) -> SignIn:
        """Check a password and open a session the server can end (a cookie's or a token's)."""
        def open_one(session: Session, person: PersonRow) -> SignIn:
            token, expires_at = sign_in.open_session(session, person.id, kind=kind,
                                                     now=self.sign_in_clock(), lifetime=lifetime)
            return SignIn(self.directory.view(session, person), token, expires_at)

        return self._check_password(username, password, client, open_one)

    def sign_in_with_directory(self, settings: ldap_directory.LdapSettings | None,
                               username: str, password: str, *, client: str = "",
                               kind: str = "web",
                               lifetime: timedelta = timedelta(hours=8)) -> SignIn:
        """Sign in through the institution's directory; local accounts keep their password.

        The one sign-in rule of every caller (the HTML form, ``/api/login``): with no
        directory configured (``settings`` None) Cauce's own passwords only. See
        engine/ldap_directory.py for the order and for how positions follow the directory.
        """
        if settings is None:
            return self.sign_in(username, password, client=client, kind=kind, lifetime=lifetime)
        with self._reader() as session:
            local = ldap_directory.signs_in_locally(session, username)
        if local:
            return self.sign_in(username, password, client=client, kind=kind, lifetime=lifetime)

        def open_one(session: Session, person: PersonRow) -> SignIn:
            token, expires_at = sign_in.open_session(session, person.id, kind=kind,
                                                     now=self.sign_in_clock(), lifetime=lifetime)
            return SignIn(self.directory.view(session, person), token, expires_at)

        signed = ldap_directory.sign_in_with_directory(
            self._writer, settings, self.directory, self.throttle, self.sign_in_clock,
            username, password, client, open_one)
        self.sessions.forget_person(signed.person.id)  # positions may have changed
        return signed

    def session_person(self, token: str) -> PersonView:
        """Return the person of a live session, or raise NotFound (ended, expired, unknown)."""
        now = self.sign_in_clock()
        cached = self.sessions.get(token, now)
        if cached is not None:
            return cached
        with self._reader() as session:
            found = sign_in.find_session_person(session, token, now)
            if found is None or not found[0].active:
                raise NotFound("La sesión terminó; vuelva a ingresar")
            view = self.directory.view(session, found[0])
        self.sessions.put(token, view, found[1])
        return view

    def sign_out(self, token: str) -> None:
        """End one session: its cookie or token no longer signs anybody in."""
        self.sessions.forget(token)
        with self._writer.begin() as session:
            sign_in.end_session(session, token, self.sign_in_clock())

    def change_password(self, username: str, current: str, new: str, *, client: str = "",
                        keep: str | None = None) -> int:
        """Replace a password (the current one is checked); end every session but ``keep``."""
        problem = self.directory.password_problem(username, new)
        if problem:
            raise FormInvalid([FieldError("new_password", problem)])
        try:
            person_id, old_hash = self._check_password(
                username, current, client, lambda _session, person: (person.id,
                                                                     person.password_hash))
        except SignInThrottled:
            raise
        except InvalidCredentials:
            raise FormInvalid([FieldError("current_password",
                                          "La contraseña actual no es correcta")]) from None
        new_hash = self.directory.hasher.hash(new)  # hashed before the write, not inside it
        with self._writer.begin() as session:
            changed = session.execute(update(PersonRow).where(
                PersonRow.id == person_id, PersonRow.password_hash == old_hash,
            ).values(password_hash=new_hash))
            if not changed.rowcount:
                raise Conflict("La contraseña cambió mientras tanto; vuelva a intentarlo")
            ended = sign_in.end_other_sessions(session, person_id, self.sign_in_clock(), keep)
        self.sessions.forget_person(person_id)
        return ended

    def _check_password(self, username: str, password: str, client: str,
                        then: Callable[[Session, PersonRow], T]) -> T:
        """Check a password; ``then`` runs in the short write that follows a right one.

        The attempt is charged to the throttle first (one short write), the password is hashed
        with no transaction open, and only a right one writes again: hashing never holds the
        write lock, and concurrent guesses cannot all pass the limit before any is counted.
        """
        keys = sign_in.AttemptKeys.of(username, client)
        with self._writer.begin() as session:
            sign_in.charge_attempt(session, keys, self.sign_in_clock(), self.throttle)
        with self._reader() as session:
            row = self.directory.find_for_sign_in(session, username)
            person_id, stored = (row.id, row.password_hash) if row else (None, None)
        matched = self.directory.verify(stored, password)  # an unknown name costs a check too
        if person_id is None or not matched:
            raise InvalidCredentials(sign_in.WRONG_CREDENTIALS)
        hasher = self.directory.hasher
        rehashed = hasher.hash(password) if stored and hasher.check_needs_rehash(stored) else None
        with self._writer.begin() as session:
            sign_in.refund_attempt(session, keys, self.throttle)
            person = session.get(PersonRow, person_id)
            if person is None or not person.active or person.password_hash != stored:
                raise InvalidCredentials(sign_in.WRONG_CREDENTIALS)  # changed meanwhile
            if rehashed:
                person.password_hash = rehashed
            session.flush()
            return then(session, person)

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
        if not self._current:
            self.publish_library()

        def act(session: Session) -> CaseView:
            # The current version is read in the start's own transaction (not a session of
            # its own): one connection and transaction fewer per start.
            version_id = self._current_version(process_id, session)
            definition = self._definition(version_id)
            start_role = definition.lane_role(definition.start_lane).role \
                if definition.start_lane else None
            if start_role not in person.roles:
                raise PermissionDenied("Su rol no permite iniciar casos de este procedimiento")
            now = self.clock()
            prefix = definition.responsibility.case_number_prefix
            year = local_date(now).year
            serial = next_in_sequence(session, f"case:{prefix}:{year}")
            with bound_now(now):
                workflow, path = self.runtime.start(definition)
            # Every later step keeps the task tree bounded; the first event says so for replays.
            compaction.enable(workflow)
            case = CaseRow(
                number=f"{prefix}-{year}-{serial:04d}", process_id=process_id,
                version_id=version_id, status="open", started_at=now, started_by=person.id,
                updated_at=now, state=b"", fingerprint=bytes(32), last_seq=0,
                last_hash=audit.GENESIS, deadlines={},
            )
            session.add(case)
            session.flush()
            step = _Step(session, case, definition, now, person)
            step.open_before = set()  # a new case has no open tasks yet
            snap = self.runtime.snapshot(workflow, definition.side_branches)
            step.event("case_started", data={"version": definition.version_hash, "path": path,
                                             "compaction": compaction.VERSION},
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

    def save_draft(self, task_id: str, *, by: Actor, data: Mapping[str, Any],
                   while_held: bool = False) -> datetime:
        """Keep a person's unfinished form for a task; nothing is validated or completed.

        ``while_held``: also when someone else holds the task (what the person typed is kept
        for when the task comes back to them).
        """
        person = self._actor(by)
        now = self.clock()

        def act(session: Session) -> None:
            _check_task_id(task_id)
            row = session.get(OpenTaskRow, task_id)
            if row is None:
                self._raise_missing_task(session, task_id)
            self._check_may_complete(row, person, drafting=while_held)
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
                                    activity_id=activity.bpmn_id, task_id=task_id)
            with bound_now(now):
                workflow = self._workflow(definition, case)
                task = self.runtime.find_ready(workflow, task_id)
                if task is None:
                    raise TaskAlreadyCompleted("La tarea ya fue completada")
                open_before = self.runtime.ready_human_ids(workflow)
                path = self.runtime.complete(workflow, task, clean)
            snap = self.runtime.snapshot(workflow, definition.side_branches)
            step = _Step(session, case, definition, now, person)
            step.open_before = open_before
            completed: dict[str, Any] = {"form": clean, "path": path}
            if row.assignee_id is None:
                # Completing implies claiming (nobody held it, so nobody is overruled): the
                # completion says the person took the task, in the same event, so a case's
                # event count and numbering stay one per step.
                completed["claimed"] = True
            step.event("task_completed", task_id=task_id, activity_id=activity.bpmn_id,
                       data=completed, state_hash=snap.fingerprint, role=row.role)
            return self._settle(step, workflow, snap, [activity.bpmn_id, *path])

        return self._transaction(act)

    def fire_due_timers(self, now: datetime | None = None) -> int:
        """Fire every timer that is due; return how many cases moved. Safe to run in parallel."""
        now = now or self.clock()
        moved, passed = 0, set[int]()
        while True:
            # One claimed case per transaction (engine/timer_claims.py: SKIP LOCKED).
            def fire(session: Session) -> tuple[int | None, bool]:
                case = timer_claims.claim_due_case(session, now, passed=passed)
                return (None, False) if case is None else (
                    case.id, self._fire_case_timers(session, case, now))

            case_id, fired = self._transaction(fire)
            if case_id is None:
                return moved
            passed.add(case_id)
            moved += fired

    def _fire_case_timers(self, session: Session, case: CaseRow, now: datetime) -> bool:
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

    def check_stalled_cases(self) -> list[incidents.IncidentView]:
        """Flag open cases with no open task and nothing to wait for; return the new incidents.

        The worker runs it every round; an incident closes once its case can move again.
        """
        now = self.clock()
        with self._reader() as session:
            candidates = incidents.stalled_candidates(session)
            states = {case_id: session.scalars(select(CaseRow.state).where(
                CaseRow.id == case_id)).one() for case_id, _, _ in candidates}
        stalled = {}
        for case_id, version_id, since in candidates:
            workflow = self.runtime.restore(self._definition(version_id), states[case_id])
            waits = incidents.stall_of(workflow)
            if waits is not None:
                stalled[case_id] = (since, waits)

        def act(session: Session) -> list[int]:
            return incidents.record_stalled(session, now, stalled)

        opened = self._transaction(act)
        with self._reader() as session:
            return incidents.list_incidents(session, ids=opened)

    def list_incidents(self, *, open_only: bool = True) -> list[incidents.IncidentView]:
        """Return every case's incidents, newest first (for operators: the CLI, the worker)."""
        with self._reader() as session:
            return incidents.list_incidents(session, open_only=open_only)

    def case_incidents(self, case_ref: int | str, *,
                       by: Actor) -> list[incidents.IncidentView]:
        """Return a case's open incidents, if this person may see the case."""
        person = self._actor(by)
        with self._reader() as session:
            case = self._visible_case(session, case_ref, person)
            return incidents.list_incidents(session, case_id=case.id)

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
                   tasks: list[OpenTaskRow], data: dict[str, Any],
                   known: Mapping[int, str] | None = None) -> CaseView:
        names = self._usernames(session, {t.assignee_id for t in tasks}, known)
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
            rows = _case_events(session, case.id)
            return [_audit_entry(row, definition) for row in rows]

    # -- finding and following cases (engine/case_search.py) -------------------------------

    def list_cases(self, by: Actor, *, filters: case_search.CaseFilters | None = None,
                   cursor: str | None = None, per_page: int = 50) -> case_search.CasePage:
        """Return a page of the cases this person may see (InvalidCaseCursor: a forged cursor)."""
        person = self._actor(by)
        with self._reader() as session:
            return case_search.list_cases(
                session, person, self._grants(session, person),
                filters or case_search.CaseFilters(), cursor, per_page,
                definition=self._definition, due_state=self.due_state)

    def case_list_statement(self, by: Actor, *, filters: case_search.CaseFilters | None = None,
                            cursor: str | None = None, per_page: int = 50) -> Any:
        """Return the case list's SQL statement (also to inspect its query plan)."""
        person = self._actor(by)
        with self._reader() as session:
            grants = self._grants(session, person)
        return case_search.list_statement(person, grants, filters or case_search.CaseFilters(),
                                          cursor, per_page)

    def follow_case(self, case_ref: int | str, *, by: Actor) -> None:
        """Follow a case: its news show in the person's Seguimiento list."""
        person = self._actor(by)
        now = self.clock()
        self._transaction(lambda session: case_search.follow(
            session, person, self._visible_case(session, case_ref, person), now))

    def unfollow_case(self, case_ref: int | str, *, by: Actor) -> None:
        """Stop following a case."""
        person = self._actor(by)
        self._transaction(lambda session: case_search.unfollow(
            session, person, self._visible_case(session, case_ref, person)))

    def case_seen(self, case_ref: int | str, *, by: Actor) -> bool:
        """Mark a followed case as seen up to now; tell whether the person follows it."""
        person = self._actor(by)
        with self._reader() as session:
            case = self._visible_case(session, case_ref, person)
            unseen = case_search.unseen(session, person, case)
        if unseen:
            # Only then a write: reading a case must not take SQLite's write lock every time.
            self._transaction(lambda session: case_search.mark_seen(session, person, case.id))
        return unseen is not None

    def followed_cases(self, by: Actor) -> list[case_search.FollowedCase]:
        """Return the cases this person follows with their news since each was last seen."""
        person = self._actor(by)
        with self._reader() as session:
            return case_search.followed_cases(session, person, self._grants(session, person),
                                              definition=self._definition)

    def _grants(self, session: Session, person: PersonView) -> case_search.Grants:
        # Every stored version counts: a case runs on the version it started on.
        versions = session.scalars(select(ProcessVersionRow.id)).all()
        return case_search.Grants(
            role_versions=frozenset(v for v in versions
                                    if person.roles & set(self._definition(v).roles())),
            audited_versions=frozenset(v for v in versions
                                       if person.roles & _auditor_roles(self._definition(v))))

    def replay(self, case_ref: int | str, *, by: Actor) -> ReplayView:
        """Re-execute a case from its log and check every recorded state and the stored one."""
        person = self._actor(by)
        with self._reader() as session:
            case_id = self._visible_case(session, case_ref, person).id
        return self._replay_case(case_id)

    def _replay_case(self, case_id: int) -> ReplayView:
        with self._reader() as session:
            case = session.get_one(CaseRow, case_id)
            definition = self._definition(case.version_id)
            rows = _case_events(session, case.id)
            broken = audit.first_broken_link(case.id, rows)
            stored_state, stored_fingerprint = case.state, case.fingerprint
        steps, workflow = [], None
        ready: list[Task] | None = None
        for row in rows:
            replayed: bytes | None = None
            if row.state_hash is not None:
                # One forward pass: after each event one walk gives its fingerprint and the
                # tasks the next event may complete (runtime.replay_state, no case data).
                workflow = self._replay_event(definition, workflow, row, ready=ready)
                replayed, ready = self.runtime.replay_state(workflow) if workflow is not None \
                    else (None, None)
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
                      row: CaseEventRow, *, ready: list[Task] | None = None
                      ) -> BpmnWorkflow | None:
        """Re-execute one logged event; ``ready``: the READY human tasks, if already known."""
        with bound_now(row.at):
            if row.event_type == "case_started":
                # A migrated case started on an older version (engine/case_migration.py).
                workflow = self.runtime.start(
                    case_migration.started_on(self, definition, row))[0]
                # Cut the tree exactly when the case did: cases recorded before never were.
                if (row.data or {}).get("compaction") == compaction.VERSION:
                    compaction.enable(workflow)
                return workflow
            if workflow is None:
                return None
            if row.event_type == "task_completed":
                if ready is None:
                    ready = self.runtime.ready_human_tasks(workflow)
                candidates = [t for t in ready if t.task_spec.bpmn_id == row.activity_id]
                if not candidates:
                    return workflow
                self.runtime.complete(workflow, candidates[0], dict((row.data or {})["form"]))
            elif row.event_type == "timer_fired":
                self.runtime.fire_timers(workflow)
            elif row.event_type == case_migration.EVENT:
                return case_migration.replay(self, workflow, row)
        return workflow

    def inbox(self, by: Actor, *, filters: InboxFilters | None = None,
              cursor_mine: str | None = None, cursor_available: str | None = None,
              per_page: int = 50) -> Inbox:
        """Return a person's tasks: claimed by them, and unclaimed ones of their roles.

        Both lists, one page each from the given cursors, and their counts (capped at
        ``inbox.COUNT_CAP``) come from one statement read in ``open_task`` index order.
        Raises InvalidCursor for a cursor this inbox did not hand out.
        """
        person = self._actor(by)
        filters = inbox_query.clean_filters(filters)
        cursors = {"mine": inbox_query.decode_cursor(cursor_mine, filters),
                   "available": inbox_query.decode_cursor(cursor_available, filters)}
        per_page = min(max(1, per_page), 200)
        statement, params = self._inbox_statement(person, filters, cursors, per_page)
        with self._reader() as session:
            # Core, not the ORM: the rows are plain tuples made into views right away.
            rows = session.connection().execute(statement, params).all()
        lists = inbox_query.split(rows, filters, cursors, per_page)

        def page(label: str) -> Page[TaskView]:
            found = lists[label]
            return Page(inbox_query.task_views(found.rows, person.id, person.username),
                        found.total, per_page, found.total_capped, found.next_cursor,
                        found.previous_cursor)

        return Inbox(mine=page("mine"), available=page("available"))

    def inbox_statement(self, by: Actor, *, filters: InboxFilters | None = None,
                        cursor_mine: str | None = None, cursor_available: str | None = None,
                        per_page: int = 50) -> Any:
        """Return the inbox's SQL statement (also to inspect its query plan)."""
        filters = inbox_query.clean_filters(filters)
        cursors = {"mine": inbox_query.decode_cursor(cursor_mine, filters),
                   "available": inbox_query.decode_cursor(cursor_available, filters)}
        statement, params = self._inbox_statement(self._actor(by), filters, cursors, per_page)
        return statement.params(params)

    def _inbox_statement(self, person: PersonView, filters: InboxFilters,
                         cursors: dict[str, inbox_query.Cursor | None],
                         per_page: int) -> tuple[Any, dict[str, Any]]:
        now = self.clock()
        return inbox_query.statement(
            person_id=person.id, audience=sorted(person.audience), filters=filters,
            cursors=cursors, per_page=per_page, now=now, soon=self._due_soon_limit(now))

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
            data = self.runtime.task_data(task) if task is not None else snap.data
            return TaskDetail(
                task=_task_view(row, names),
                form_schema=dict(form.schema) if form else None,
                form_ui=dict(form.ui) if form else {},
                case_data=data, draft=dict(draft.data) if draft else None,
                instructions=self.runtime.instructions(task) if task is not None else None,
            )

    def returned_work(self, tasks: list[TaskView]) -> dict[str, review_loop.ReturnedWork]:
        """Return, by task id, the given open tasks whose work a reviewer sent back, and why."""
        with self._reader() as session:
            return review_loop.returned_tasks(session, tasks, self.library.find)

    def task_fate(self, task_id: str, *, by: Actor) -> task_fates.TaskFate:
        """Say what became of a task: still open, taken by someone else, or completed."""
        person = self._actor(by)
        _check_task_id(task_id)
        with self._reader() as session:
            return task_fates.task_fate(session, task_id, person, self._definition)

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

    # -- operations: health, metrics feed, backups (engine/operations.py, engine/backup.py) --

    def observe(self, observer: operations.Observer) -> None:
        """Call ``observer`` with each event of every step, once the step has committed."""
        if observer not in self._observers:
            self._observers.append(observer)

    def ping_database(self, timeout: float = 2.0) -> operations.Check:
        """Tell whether the database answers a trivial query within ``timeout`` seconds."""
        return operations.ping_database(self.sql, timeout)

    def worker_heartbeat(self, worker: str | None = None) -> None:
        """Record that a timer worker finished a round (the readiness check reads it)."""
        name, now = worker or operations.worker_name(), self.clock()
        self._transaction(lambda session: operations.record_heartbeat(session, name, now))

    def worker_check(self, max_age: timedelta) -> operations.Check:
        """Judge whether some timer worker has finished a round within ``max_age``."""
        with self._reader() as session:
            last = operations.last_heartbeat(session)
        return operations.heartbeat_check(last, self.clock(), max_age)

    def backup(self, target: str | Path, *,
               progress: backups.Progress | None = None) -> backups.BackupSummary:
        """Write a consistent backup of the database and the documents to ``target``."""
        return backups.write_backup(self.sql, self.documents.root, Path(target), progress)

    def restore(self, source: str | Path, *,
                progress: backups.Progress | None = None) -> backups.BackupSummary:
        """Load a backup into this (empty) database, then publish the library as start-up does."""
        summary = backups.restore_backup(self.sql, self.documents, Path(source), progress)
        # Version ids now are the backup's: forget what this process cached under the old ones.
        self._definitions.clear()
        self._current.clear()
        self._workflows.clear()
        self.publish_library()
        return summary

    def verify_cases(self, *, progress: backups.Progress | None = None) -> backups.Verification:
        """Replay every case from its log and check its hash chain (after a restore)."""
        return backups.verify_cases(self._reader, self._replay_case, progress)

    # -- auditing: proofs, checkpoints, XES (engine/verification.py, anchoring.py, xes.py) ----

    def verify_history(self, *, by: str = verification.SYSTEM, process_id: str | None = None,
                       since: datetime | None = None,
                       checkpoints: anchoring.CheckpointLog | None = None,
                       progress: verification.Progress | None = None
                       ) -> verification.VerificationReport:
        """Prove the chosen cases (chain, tail, replay) and the checkpoints; store the outcome."""
        # ``by`` is recorded, not checked: the CLI runs as the system; auditors come later.
        return verification.verify(
            self._reader, self._transaction, self._replay_case, self.clock, by=by,
            process_id=process_id, since=since, checkpoints=checkpoints, progress=progress)

    def case_verifications(self, case_ref: int | str, *, by: Actor,
                           limit: int = 10) -> list[verification.CaseVerification]:
        """Return a case's stored verification outcomes, newest first."""
        person = self._actor(by)
        with self._reader() as session:
            case_id = self._visible_case(session, case_ref, person).id
            return verification.last_results(session, case_id, limit)

    def write_checkpoint(self, log: anchoring.CheckpointLog) -> anchoring.Checkpoint | None:
        """Sign every case's log head into the checkpoint log (None: nothing moved since)."""
        with self._reader() as session:
            heads = anchoring.case_heads(session)
        return log.append(heads, self.clock())

    def export_xes(self, target: IO[bytes], *, process_id: str,
                   started_from: datetime | None = None,
                   started_before: datetime | None = None) -> xes.XesSummary:
        """Stream a procedure's cases started in [from, before) to ``target`` as XES."""
        self._current_version(process_id)  # NotFound for an unknown procedure
        return xes.export(self._reader, self._definition, target, process_id=process_id,
                          started_from=started_from, started_before=started_before)

    # -- process mining (engine/conformance.py, engine/discovery.py) --------------------------

    def conformance_report(self, process_id: str, *, by: Actor | None,
                           started_from: datetime | None = None,
                           started_before: datetime | None = None
                           ) -> conformance.ConformanceReport:
        """Replay a procedure's cases started in [from, before) on its BPMN (token replay).

        ``by`` None is the operator at the server's command line.
        """
        self._current_version(process_id)  # NotFound for an unknown procedure
        if by is not None and process_id not in self.audited_processes(by):
            raise PermissionDenied("La conformidad de un procedimiento es solo para sus auditores")
        return conformance.report(self._reader, self._definition, process_id=process_id,
                                  started_from=started_from, started_before=started_before)

    def discovered_map(self, process_id: str, *, by: Actor | None,
                       started_from: datetime | None = None,
                       started_before: datetime | None = None) -> discovery.FollowsGraph:
        """Return the directly-follows graph of a procedure's cases started in [from, before)."""
        self._current_version(process_id)
        if by is not None and process_id not in self.audited_processes(by):
            raise PermissionDenied("El mapa de un procedimiento es solo para sus auditores")
        return discovery.directly_follows(self._reader, self._definition, process_id=process_id,
                                          started_from=started_from,
                                          started_before=started_before)

    def retention_processes(self, by: Actor) -> list[str]:
        """Return the procedures whose retention this person reads: as auditor or owner."""
        person = self._actor(by)
        return sorted(d.process_id for d in self.library.list()
                      if person.roles & (_auditor_roles(d) | _owner_roles(d)))

    def retention_report(self, *, by: Actor | None, soon_days: int = 90,
                         process_id: str | None = None) -> retention.RetentionReport:
        """Return the closed cases whose retention period has passed or ends within soon_days.

        Auditors and owners of a procedure read it; ``by`` None is the server's command line.
        """
        allowed = ([d.process_id for d in self.library.list()] if by is None
                   else self.retention_processes(by))
        if by is not None and not allowed:
            raise PermissionDenied("La conservación de expedientes es para auditores y "
                                   "propietarios del procedimiento")
        if process_id is not None:
            self._current_version(process_id)
            if process_id not in allowed:
                raise PermissionDenied("No audita ni es propietario/a de ese procedimiento")
            allowed = [process_id]

        def case_data(version_id: int, state: bytes) -> dict[str, Any]:
            return self.runtime.stored_data(self._definition(version_id), state)

        return retention.report(self._reader, case_data, process_ids=allowed,
                                today=local_date(self.clock()), soon_days=soon_days)

    def dispose_cases(self, numbers: list[str], *, by: Actor,
                      legal_basis: str) -> disposal.DisposalAct:
        """Dispose of closed cases past retention in one acta (their procedure's owner only)."""
        person = self._actor(by)
        basis = (legal_basis or "").strip()
        if len(basis) < 10:
            raise FormInvalid([FieldError("legal_basis", "Escriba la base legal de la "
                                                         "eliminación (al menos 10 caracteres)")])
        if not numbers:
            raise FormInvalid([FieldError("cases", "Seleccione al menos un caso para eliminar")])
        today = local_date(self.clock())

        def act(session: Session) -> disposal.DisposalAct:
            cases = list(session.scalars(select(CaseRow).where(CaseRow.number.in_(numbers))
                                         .order_by(CaseRow.id).with_for_update()))
            missing = sorted(set(numbers) - {c.number for c in cases})
            if missing:
                raise NotFound(f"No existe el caso {missing[0]}")
            done = disposal.disposed_numbers(session, [c.id for c in cases])
            roles: set[str] = set()
            role_names: dict[str, str] = {}
            for case in cases:
                definition = self._definition(case.version_id)
                owners = _owner_roles(definition)
                if not person.roles & owners:
                    raise PermissionDenied(f"Solo el propietario del procedimiento puede "
                                           f"eliminar el caso {case.number}")
                roles |= person.roles & owners
                if case.id in done:
                    raise Conflict(f"El caso {case.number} ya fue eliminado por el acta "
                                   f"{done[case.id]}")
                if case.status != "completed":
                    raise Conflict(f"El caso {case.number} no está cerrado: no se puede eliminar")
                until = retention.keep_until(self.runtime.stored_data(definition, case.state))
                if until is None or until >= today:
                    raise Conflict(f"El caso {case.number} aún debe conservarse"
                                   + (f" hasta el {until:%d/%m/%Y}" if until else ""))
                role_names.update({r.role: r.role_name for t in (definition.responsibility,
                                                                 *definition.extra_tables)
                                   for r in t.oversight.values()})
            after = session.info["after_commit"]

            def delete_file(sha256: str) -> None:
                after.append(lambda: self.documents.path(sha256).unlink(missing_ok=True))

            return disposal.dispose(
                session, cases, at=self.clock(), by_username=person.username,
                by_name=person.full_name,
                by_role=", ".join(sorted(role_names.get(r, r) for r in roles)),
                legal_basis=basis, final_state=self.runtime.dump_final({}),
                delete_file=delete_file)

        return self._transaction(act)

    def disposal_act(self, number: str, *, by: Actor) -> disposal.DisposalAct:
        """Return an acta de eliminación (for the auditors and owners of its procedures)."""
        allowed = set(self.retention_processes(by))
        with self._reader() as session:
            row = session.scalars(select(disposal.DisposalActRow)
                                  .where(disposal.DisposalActRow.number == number)).first()
            if row is None:
                raise NotFound(f"No existe el acta {number}")
            found = disposal.to_view(row)
        if not any(t.process_id in allowed for t in found.tombstones):
            raise PermissionDenied("El acta es para auditores y propietarios del procedimiento")
        return found

    def disposal_acts(self, *, by: Actor) -> list[disposal.DisposalAct]:
        """Return the actas this person may read, newest first."""
        allowed = set(self.retention_processes(by))
        with self._reader() as session:
            rows = session.scalars(select(disposal.DisposalActRow)
                                   .order_by(disposal.DisposalActRow.seq.desc())).all()
            acts = [disposal.to_view(r) for r in rows]
        return [a for a in acts if any(t.process_id in allowed for t in a.tombstones)]

    def case_disposal(self, case_ref: int | str, *, by: Actor) -> str | None:
        """Return the number of the acta that disposed of a case (None if it was not)."""
        person = self._actor(by)
        with self._reader() as session:
            case = self._visible_case(session, case_ref, person)
            return disposal.disposed_numbers(session, [case.id]).get(case.id)

    # -- the auditor's workbench (engine/access_log.py, engine/replay_view.py) ---------------

    def audited_processes(self, by: Actor) -> list[str]:
        """Return the procedures this person audits (none for everyone else)."""
        person = self._actor(by)
        return sorted(d.process_id for d in self.library.list()
                      if person.roles & _auditor_roles(d))

    def reads_only(self, by: Actor) -> bool:
        """Tell whether this person only oversees procedures (an auditor): no task, no act."""
        person = self._actor(by)
        return bool(person.roles) and not person.roles & self._lane_roles()

    def record_access(self, case_ref: int | str, *, by: Actor, what: str,
                      detail: str | None = None) -> bool:
        """Log a read of a confidential case by someone outside its lanes; tell if it was."""
        person = self._actor(by)
        if not self._reads_ever_logged(person):
            return False  # every page view calls this: most people never need a query
        with self._reader() as session:
            case = self._visible_case(session, case_ref, person)
            case_id, definition = case.id, self._definition(case.version_id)
        if not _read_is_logged(person, definition):
            return False
        now = self.clock()
        self._transaction(lambda session: access_log.record(
            session, person, session.get_one(CaseRow, case_id), what, detail, now))
        return True

    def record_document_access(self, sha256: str, *, by: Actor) -> int:
        """Log a document download for every confidential case of it read from outside a lane."""
        person = self._actor(by)
        if not self._reads_ever_logged(person):
            return 0
        with self._reader() as session:
            found = session.execute(
                select(DocumentRefRow.case_id, DocumentRefRow.filename)
                .where(DocumentRefRow.sha256 == sha256, DocumentRefRow.case_id.is_not(None))
            ).all()
        logged = 0
        for case_id, filename in found:
            try:
                logged += self.record_access(case_id, by=person, what="document",
                                             detail=filename)
            except NotFound:
                continue  # a case of the same file this person may not see: nothing was read
        return logged

    def list_accesses(self, by: Actor, *, username: str | None = None,
                   case_number: str | None = None, process_id: str | None = None,
                   what: str | None = None, day_from: date | None = None,
                   day_to: date | None = None) -> list[access_log.AccessEntry]:
        """Return the newest recorded reads of the procedures this auditor audits."""
        audited = self._audited_or_refuse(by)
        filters = access_log.AccessFilters(username, case_number, process_id, what, day_from,
                                           day_to)
        with self._reader() as session:
            return access_log.entries(session, filters, audited)

    def check_access_log(self, by: Actor) -> access_log.AccessLogCheck:
        """Walk the access log's hash chain; say where it breaks, if it does."""
        self._audited_or_refuse(by)
        with self._reader() as session:
            return access_log.check(session)

    def _reads_ever_logged(self, person: PersonView) -> bool:
        """Tell whether some confidential procedure would log this person's reads.

        Judged on the current versions (a role rarely leaves a procedure between versions): a
        person with a lane in every confidential procedure never reaches the access log.
        """
        return any(_read_is_logged(person, d) for d in self.library.list())

    def _refuse_read_only(self, person: PersonView) -> None:
        """Refuse someone who only oversees procedures (an auditor) and takes part in none."""
        if self.reads_only(person):
            raise PermissionDenied("Su rol es de solo lectura: no puede enviar documentos")

    def _lane_roles(self) -> set[str]:
        return {role for d in self.library.list() for role in d.roles()}

    def _audited_or_refuse(self, by: Actor) -> list[str]:
        audited = self.audited_processes(by)
        if not audited:
            raise PermissionDenied("El registro de accesos es solo para auditores")
        return audited

    def case_replay(self, case_ref: int | str, *, by: Actor) -> replay_view.CaseReplay:
        """Return a case step by step (re-executed from its log) for the replay page."""
        person = self._actor(by)
        with self._reader() as session:
            case = self._visible_case(session, case_ref, person)
            definition = self._definition(case.version_id)
            rows = _case_events(session, case.id)
            actors = {row.actor_id for row in rows if row.actor_id is not None}
            names = dict(session.execute(select(PersonRow.username, PersonRow.full_name)
                                         .where(PersonRow.id.in_(sorted(actors)))).all())
            number, status = case.number, case.status
            started_at, due_at = case.started_at, case.due_at
        states: dict[int, replay_view.StepState] = {}
        workflow: BpmnWorkflow | None = None
        for row in rows:
            if row.state_hash is None:
                continue
            try:
                workflow = self._replay_event(definition, workflow, row)
            except Exception:  # noqa: BLE001 — an altered log may describe impossible steps
                break  # later steps keep the last state replay reached; Verificar says why
            if workflow is None:
                break
            snap = self.runtime.snapshot(workflow, definition.side_branches)
            states[row.seq] = replay_view.StepState(
                active=tuple(sorted({t.task_spec.bpmn_id for t in snap.ready_human})),
                data=snap.data)
        steps = replay_view.build(
            rows, states, definition, self.case_documents(case_ref, by=person), names,
            self.calendar, started_at=started_at, due_at=due_at)
        return replay_view.CaseReplay(
            case_number=number, process_id=definition.process_id, process_name=definition.name,
            version_hash=definition.version_hash, status=status, steps=steps, names=names)

    def verify_case(self, case_ref: int | str, *, by: Actor) -> replay_view.CaseProof:
        """Prove one case (chain, tail, re-execution), store the outcome, say where it fails."""
        person = self._actor(by)
        with self._reader() as session:
            case_id = self._visible_case(session, case_ref, person).id
        report = verification.verify(
            self._reader, self._transaction, self._replay_case, self.clock,
            by=person.username, case_id=case_id)
        try:
            replayed: ReplayView | None = self._replay_case(case_id)
        except Exception:  # noqa: BLE001 — the report already names the failure
            replayed = None
        return replay_view.proof(report, replayed)

    # -- signatures, dossier, expediente (engine/signing.py, dossier.py, expediente.py) ------

    def configure_signing(self, trust: signing.TrustStore, *,
                          demo_dir: str | Path | None = None) -> None:
        """Set the roots signatures must reach, and where ``seed-demo`` keeps the demo CA."""
        self.signing_trust = trust
        self.signing_demo_dir = Path(demo_dir) if demo_dir else None

    def _signing_trust(self) -> signing.TrustStore:
        return getattr(self, "signing_trust", None) or signing.TrustStore()

    def upload_certificate(self, *, by: Actor, data: bytes,
                           passphrase: str) -> signing.CertificateInfo:
        """Keep a person's .p12 (as uploaded) once its passphrase opens it (SigningRefused)."""
        person = self._actor(by)
        self._refuse_read_only(person)
        info = signing.inspect_p12(data, passphrase)
        if not info.not_before <= utc_now() <= info.not_after:
            raise signing.SigningRefused("El certificado no está vigente: no se guardó")
        now = self.clock()
        self._transaction(lambda session: signing.save_certificate(
            session, person.id, data, info, now))
        return info

    def signing_certificate(self, *, by: Actor) -> signing.CertificateInfo | None:
        """Return this person's signing certificate, or None before they uploaded one."""
        person = self._actor(by)
        with self._reader() as session:
            return signing.find_certificate(session, person.id)

    def check_signing_passphrase(self, *, by: Actor, passphrase: str) -> None:
        """Refuse (SigningRefused) unless this person's certificate opens with the passphrase
        and is valid now: asked before a step that signs as it completes, so that a wrong
        passphrase leaves the step open."""
        person = self._actor(by)
        with self._reader() as session:
            p12 = session.scalars(select(signing.SigningCertificateRow.p12).where(
                signing.SigningCertificateRow.person_id == person.id)).first()
        if p12 is None:
            raise signing.SigningRefused(
                "Aún no ha subido su certificado de firma (.p12): súbalo en «Mi certificado»")
        try:
            info = signing.inspect_p12(p12, passphrase)
        except signing.SigningRefused:
            raise signing.SigningRefused("La frase de paso no abre su certificado") from None
        if not info.not_before <= utc_now() <= info.not_after:
            raise signing.SigningRefused("Su certificado no está vigente")

    def case_signatures(self, case_ref: int | str, *, by: Actor) -> list[signing.SignatureView]:
        """Return the signatures on a case's documents, oldest first."""
        person = self._actor(by)
        with self._reader() as session:
            case = self._visible_case(session, case_ref, person)
            return signing.list_signatures(session, case.id)

    def sign_document(self, case_ref: int | str, *, by: Actor, document: signing.Signable,
                      slot: str, passphrase: str) -> signing.SignatureView:
        """Sign this person's line of a case document; the signed PDF joins the case's chain."""
        person = self._actor(by)
        line = signing.check_signer(document, slot, person.username)
        with self._reader() as session:
            case_id = self._visible_case(session, case_ref, person).id
            p12 = session.scalars(select(signing.SigningCertificateRow.p12).where(
                signing.SigningCertificateRow.person_id == person.id)).first()
            base_sha = signing.latest_signed(session, case_id, document.kind, document.revision)
        if p12 is None:
            raise signing.SigningRefused(
                "Aún no ha subido su certificado de firma (.p12): súbalo en «Mi certificado»")
        base = (self.documents.path(base_sha).read_bytes() if base_sha else
                signing.add_signature_fields(document.unsigned_pdf, document.placed_slots()))
        if slot in signing.signed_slots(base):
            raise Conflict(f"La línea «{line.label}» del cuadro de firmas ya está firmada")
        signed = signing.sign_pdf(base, p12, passphrase, field_name=slot,
                                  signer_name=person.full_name, reason=line.label,
                                  trust=self._signing_trust(), at=utc_now())
        filename = document.filename.removesuffix(".pdf") + f"-firmado-{slot}.pdf"

        def act(session: Session) -> signing.SignatureView:
            if signing.latest_signed(session, case_id, document.kind, document.revision) \
                    != base_sha:
                raise Conflict("Otra persona firmó este documento mientras tanto: "
                               "vuelva a firmar sobre la nueva versión")
            sha256 = self._add_case_document(
                session, case_id, person, filename, signed, signing.SIGNED_EVENT,
                {"kind": document.kind, "revision": document.revision, "slot": slot})
            row = signing.DocumentSignatureRow(
                case_id=case_id, kind=document.kind, revision=document.revision, slot=slot,
                person_id=person.id, sha256=sha256, signed_at=self.clock())
            session.add(row)
            session.flush()
            return signing.SignatureView(document.kind, document.revision, slot,
                                         person.username, sha256, row.signed_at)

        return self._transaction(act)

    def case_dossier(self, case_ref: int | str, *, by: Actor,
                     checkpoints: anchoring.CheckpointLog | None = None,
                     verify: bool = True) -> case_dossiers.Dossier:
        """Gather a case's dossier; ``verify``: prove the case now (a stored run), else reuse
        the latest stored outcome."""
        person = self._actor(by)
        with self._reader() as session:
            case = self._visible_case(session, case_ref, person)
            case_id, head_seq, head_hash = case.id, case.last_seq, bytes(case.last_hash).hex()
        check: case_dossiers.DossierVerification | None = None
        if verify:
            report = verification.verify(
                self._reader, self._transaction, self._replay_case, self.clock,
                by=person.username, case_id=case_id, checkpoints=checkpoints)
            check = case_dossiers.outcome(report, case_id)
        else:
            stored = self.case_verifications(case_id, by=person, limit=1)
            if stored:
                last = stored[0]
                check = case_dossiers.DossierVerification(
                    at=last.at, by=last.by, ok=last.check.ok,
                    problems=() if last.check.ok else (last.check,), checkpoint_label=None)
        return case_dossiers.build(
            self.case_replay(case_id, by=person), self.case_documents(case_id, by=person),
            head_seq, head_hash, check, case_dossiers.checkpoint_for(checkpoints, case_id),
            made_at=self.clock(), made_by=person.username)

    def verify_signed_pdf(self, data: bytes) -> list[signing.SignatureCheck]:
        """Check every signature of any PDF against the configured trusted roots."""
        return signing.verify_pdf(data, self._signing_trust())

    def add_case_document(self, case_ref: int | str, *, by: Actor, filename: str, data: bytes,
                          event_type: str, event_data: dict[str, Any]) -> str:
        """Keep a document Cauce made for a case; its hash enters the case's chain."""
        person = self._actor(by)
        self._refuse_read_only(person)
        with self._reader() as session:
            case_id = self._visible_case(session, case_ref, person).id
        return self._transaction(lambda session: self._add_case_document(
            session, case_id, person, filename, data, event_type, event_data))

    def _add_case_document(self, session: Session, case_id: int, person: PersonView,
                           filename: str, data: bytes, event_type: str,
                           event_data: dict[str, Any]) -> str:
        sha256 = self.documents.put(data)
        now = self.clock()
        if session.get(DocumentRow, sha256) is None:
            session.add(DocumentRow(sha256=sha256, size=len(data),
                                    content_type="application/pdf", created_at=now))
            session.flush()
        session.add(DocumentRefRow(sha256=sha256, filename=filename[:255], uploaded_by=person.id,
                                   uploaded_at=now, case_id=case_id))
        case = session.get_one(CaseRow, case_id)
        step = _Step(session, case, self._definition(case.version_id), now, person)
        step.event(event_type, data={**event_data, "sha256": sha256, "filename": filename})
        step.save()
        return sha256

    # -- internals --------------------------------------------------------------------------

    def _transaction(self, act: Callable[[Session], T]) -> T:
        """Run ``act`` in one write transaction, retrying when it lost an optimistic race."""
        for _attempt in range(MAX_ATTEMPTS):
            try:
                with self._writer.begin() as session:
                    session.info["after_commit"] = []
                    session.info["observers"] = self._observers
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

    def _current_version(self, process_id: str, session: Session | None = None) -> int:
        if not self._current:
            self.publish_library()
        if session is None:
            with self._reader() as reader:
                return self._current_version(process_id, reader)
        # Read, not remembered: another process may have published a version since.
        version_id = session.execute(_CURRENT_VERSION, {"process_id": process_id}).scalar()
        if version_id is None:
            raise NotFound(f"No existe el procedimiento {process_id!r}")
        return int(version_id)

    def definition_by_hash(self, version_hash: str) -> ProcessDefinition:
        """Return the process version with this content hash (the one a case runs on)."""
        definition = self._definitions.by_hash.get(version_hash)
        if definition is not None:
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
        # One rule for the case page and the case list (case_search.visible_to).
        case = session.scalars(query.where(case_search.visible_to(
            person, self._grants(session, person)))).first()
        # Not 403: a person outside the procedure must not learn that the case exists.
        if case is None:
            raise NotFound("No existe ese caso")
        return case

    def _may_see(self, person: PersonView, definition: ProcessDefinition) -> bool:
        # Its auditors read every case of a procedure (engine/case_search.py), acting in none.
        return bool(person.roles & (set(definition.roles()) | _auditor_roles(definition)))

    def _lock_open_task(self, session: Session, task_id: str) -> tuple[OpenTaskRow, CaseRow]:
        _check_task_id(task_id)
        # One statement reads the task and locks its case (PostgreSQL); a concurrent winner
        # that deleted the task row makes it come back empty. SQLite's BEGIN IMMEDIATE has
        # already serialized writers. Built once (building it cost more than running it).
        found = session.execute(_LOCK_OPEN_TASK, {"task_id": task_id}).first()
        if found is None:
            self._raise_missing_task(session, task_id)
        return found[0], found[1]

    def _raise_missing_task(self, session: Session, task_id: str) -> NoReturn:
        done = session.scalars(select(CaseEventRow.id).where(
            CaseEventRow.task_id == task_id,
            CaseEventRow.event_type == "task_completed")).first()
        if done is not None:
            actor = session.scalars(select(PersonRow).join(
                CaseEventRow, CaseEventRow.actor_id == PersonRow.id).where(
                CaseEventRow.id == done)).first()
            # The message stays the same for every caller; the name comes apart for pages.
            raise TaskCompletedByOther(
                "La tarea ya fue completada",
                completed_by=actor.username if actor else "",
                completed_by_name=actor.full_name if actor else "")
        raise NotFound("No existe esa tarea o ya no está abierta")

    def _check_may_complete(self, row: OpenTaskRow, person: PersonView, *,
                            drafting: bool = False) -> None:
        # A draft stays the person's own: kept while someone else holds the task, it is there
        # again if the task comes back to them.
        if row.assignee_id == person.id:
            return
        if row.audience not in person.audience:
            raise NotFound("No existe esa tarea o ya no está abierta")
        if row.assignee_id is not None and not drafting:
            session = object_session(row)
            holder = session.get(PersonRow, row.assignee_id) if session is not None else None
            raise TaskHeldByOther(
                "Otra persona tomó esta tarea",
                holder=holder.username if holder else "",
                holder_name=holder.full_name if holder else "")

    def _validated(self, session: Session, definition: ProcessDefinition, form_id: str | None,
                   data: Mapping[str, Any], now: datetime, *, person: PersonView,
                   case_id: int, activity_id: str,
                   task_id: str | None = None) -> dict[str, Any]:
        form = definition.form(form_id)
        if form is None:
            # A manual or plain task is only marked as done: it has no fields to write.
            if data:
                raise FormInvalid([FieldError("", "Esta tarea no tiene formulario: solo se "
                                                  "marca como hecha, sin datos")])
            return {}

        def check_person(username: str, role: str) -> str | None:
            row = session.scalars(select(PersonRow).where(PersonRow.username == username)).first()
            if row is None or not row.active:
                return "No existe esa persona"
            if role not in self.directory.view(session, row).roles:
                return "Esa persona no tiene el rol requerido"
            return None

        # Report every problem at once: the form's own and the catalogue's.
        try:
            clean = form.validate(data, check_person=check_person, today=local_date(now))
            problems: list[FieldError] = []
        except FormInvalid as invalid:
            clean, problems = dict(data), list(invalid.errors)
        problems += self._source_problems(session, form, clean)
        if problems:
            raise FormInvalid(sorted(problems, key=lambda p: p.field))
        self._link_documents(session, form, clean, person, case_id, activity_id, task_id, now)
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
                        person: PersonView, case_id: int, activity_id: str,
                        task_id: str | None, now: datetime) -> None:
        """Attach the documents a form names to the case, each once; refuse the others.

        A file counts once per case. An upload is linked only by the form that sent it (its
        task) or, sent by no form (the API, a new case's form), by the uploader within
        ``ORPHAN_UPLOAD_TTL``: other forms of the same person never adopt it.
        """
        problems = []
        for name in form.attachment_fields():
            for sha256 in dict.fromkeys(clean.get(name) or []):
                attached = session.scalars(select(DocumentRefRow.id).where(
                    DocumentRefRow.sha256 == sha256,
                    DocumentRefRow.case_id == case_id)).first()
                if attached is not None:
                    continue
                ref = find_unlinked_upload(session, sha256, person.id, task_id, now)
                if ref is None:
                    problems.append(FieldError(name, "Documento desconocido; vuelva a adjuntarlo"))
                else:
                    ref.case_id, ref.activity_id = case_id, activity_id
        if problems:
            raise FormInvalid(problems)

    def store_document(self, *, by: Actor, filename: str, data: bytes,
                       task_id: str | None = None) -> DocumentView:
        """Keep an uploaded file (checked by size and content type) for a form to attach.

        ``task_id`` names the form that sends it; the same file sent again by that form (after
        a refused submit) is the same document.
        """
        person = self._actor(by)
        self._refuse_read_only(person)  # an auditor reads; nothing they send may join a case
        content_type = check_document(filename, data)
        sha256 = self.documents.put(data)
        now = self.clock()
        safe_name = Path(filename.replace("\\", "/")).name[:255] or "documento"

        def act(session: Session) -> DocumentView:
            if session.get(DocumentRow, sha256) is None:
                session.add(DocumentRow(sha256=sha256, size=len(data), content_type=content_type,
                                        created_at=now))
                session.flush()
            ref = find_unlinked_upload(session, sha256, person.id, task_id, now, exact=True)
            if ref is None:
                ref = DocumentRefRow(sha256=sha256, filename=safe_name, uploaded_by=person.id,
                                     uploaded_at=now, task_id=task_id)
                session.add(ref)
                session.flush()
            return DocumentView(ref.id, sha256, ref.filename, content_type, len(data),
                                person.username, ref.uploaded_at, None)

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
        # Usernames this step already knows (its actor, the assignees it looked up): the
        # answer names the assignees without reading them again.
        names = {step.person.id: step.person.username} if step.person is not None else {}
        tasks = self._rewrite_open_tasks(session, case, definition, snap, deadlines,
                                         changes.get("requester", case.requester), now, names,
                                         step.open_before)
        # E-mail events go in this step's transaction (engine/outbox.py): no step, no mail.
        notifications.record_offers(session, case.id, session.info.pop("offered_tasks", []),
                                    now, escalation=bool(overdue),
                                    by_person=step.person is not None, seq_before=case.last_seq)
        step.save()
        if not snap.completed:
            self._keep(session, case, workflow)
        return self._case_view(session, case, definition, tasks, snap.data, names)

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
                            now: datetime, names: dict[int, str] | None = None,
                            open_before: set[str] | None = None) -> list[OpenTaskRow]:
        """Make the case's ``open_task`` rows its snapshot's READY human tasks.

        ``open_before``: the READY human task ids of the workflow the step started from,
        i.e. the case's rows (saves reading them: only rows still open are read back);
        None reads them.
        """
        # Core statements on the table, not the ORM: this runs on every step of every case,
        # and the unit of work's bookkeeping cost more than the SQL itself.
        connection = session.connection()
        table = _OPEN_TASK
        ready = {str(t.id): t for t in snap.ready_human}
        if open_before is None:
            existing = {row.task_id: row for row in connection.execute(
                _OPEN_TASKS_OF_CASE, {"case_id": case.id})}
            gone = [task_id for task_id in existing if task_id not in ready]
            if gone:
                # Drafts of these tasks go with them (ON DELETE CASCADE).
                connection.execute(_DELETE_OPEN_TASKS, {"task_ids": gone})
        else:
            if open_before:
                # Every row of the case that is no longer ready, by the case: also one the
                # step did not know of. Drafts go with them (ON DELETE CASCADE).
                connection.execute(_DELETE_CLOSED_OPEN_TASKS,
                                   {"case_id": case.id, "ready": list(ready)})
            kept = [task_id for task_id in ready if task_id in open_before]
            existing = {row.task_id: row for row in connection.execute(
                _OPEN_TASKS_BY_ID, {"task_ids": kept})} if kept else {}
        rows, new_rows = [], []
        assignees: list[str | None] = []  # the username each new row is assigned to, if any
        for task_id, task in ready.items():
            row = existing.get(task_id)
            if row is not None:
                values = dict(row._mapping)
                if requester and row.requester != requester:
                    connection.execute(table.update().where(table.c.task_id == task_id)
                                       .values(requester=requester))
                    values["requester"] = requester
                rows.append(OpenTaskRow(**values))
                continue
            activity = definition.activity(task.task_spec.bpmn_id)
            offer = offer_for(definition.lane_role(activity.lane), {**snap.data, **task.data})
            due = [datetime.fromisoformat(deadlines[t]) for t in activity.timers if t in deadlines]
            new_rows.append(dict(
                task_id=task_id, case_id=case.id, process_id=case.process_id,
                process_name=definition.name, case_number=case.number, requester=requester,
                activity_id=activity.bpmn_id, activity_name=activity.name, lane=activity.lane,
                role=offer.role, audience=offer.audience, assignee_id=None,
                form_id=activity.form_id, created_at=now, due_at=min(due) if due else None,
            ))
            assignees.append(offer.assignee_username or None)
        offered = [values for values, username in zip(new_rows, assignees, strict=True)
                   if username is None]
        if offered:
            connection.execute(_INSERT_OPEN_TASK, offered)
        for values, username in zip(new_rows, assignees, strict=True):
            if username is not None:
                # The person's id is looked up inside the INSERT (one statement, not two);
                # an unknown username leaves the task unassigned, as before.
                params = {k: v for k, v in values.items() if k != "assignee_id"}
                assignee_id = connection.execute(
                    _INSERT_ASSIGNED_OPEN_TASK, {**params, "assignee_username": username}
                ).scalar()
                values["assignee_id"] = assignee_id
                if assignee_id is not None and names is not None:
                    names[int(assignee_id)] = username
        if new_rows:
            session.info["offered_tasks"] = new_rows  # for notifications.record_offers
        return rows + [OpenTaskRow(**values) for values in new_rows]

    def _task_view(self, task_id: str) -> TaskView:
        with self._reader() as session:
            row = session.get(OpenTaskRow, task_id)
            if row is None:
                raise NotFound("No existe esa tarea o ya no está abierta")
            return _task_view(row, self._usernames(session, {row.assignee_id}))

    def _usernames(self, session: Session, ids: set[int | None],
                   known: Mapping[int, str] | None = None) -> dict[int, str]:
        known = known or {}
        names = {i: known[i] for i in ids if i is not None and i in known}
        wanted = [i for i in ids if i is not None and i not in known]
        if wanted:
            names.update(session.execute(select(PersonRow.id, PersonRow.username)
                                         .where(PersonRow.id.in_(wanted))).all())
        return names

    def _due_soon_limit(self, now: datetime) -> datetime:
        return self.calendar.deadline(now, DUE_SOON_WORKING_DAYS)

    # -- managers' dashboards (engine/indicators.py, charter_dashboard.py, heatmap.py, alerts.py)

    def managed_processes(self, by: Actor) -> list[str]:
        """Return the procedures this person manages or owns: the dashboards they may open."""
        person = self._actor(by)
        return sorted(d.process_id for d in self.library.list() if person.roles & (
            d.responsibility.oversight_roles("manager")
            | d.responsibility.oversight_roles("owner")))

    def _managed_or_refuse(self, by: Actor, process_ids: tuple[str, ...]) -> PersonView:
        person = self._actor(by)
        if not set(self.managed_processes(person)) & set(process_ids):
            raise PermissionDenied("Los indicadores de gestión son para el gestor y el "
                                   "propietario del procedimiento")
        return person

    def social_dashboard(self, by: Actor, *, period: str | None = None,
                         unit: str | None = None) -> social_indicators.SocialDashboard:
        """Return the social case's indicator and figures for a period (current quarter)."""
        self._managed_or_refuse(by, (social_indicators.PROCESS_ID,))
        now = self.clock()
        chosen = (social_indicators.parse_period(period) if period else None) \
            or social_indicators.quarter_of(now)
        with self._reader() as session:
            return social_indicators.dashboard(session, chosen, now, self._due_soon_limit(now),
                                               unit=unit or None)

    def social_cases_behind(self, by: Actor, *, period: str | None, figure: str,
                            unit: str | None = None,
                            ) -> tuple[social_indicators.Period, list[social_indicators.CaseLine]]:
        """Return the period read from ``period`` and the social cases behind one figure."""
        self._managed_or_refuse(by, (social_indicators.PROCESS_ID,))
        if figure not in social_indicators.FIGURES:
            raise NotFound("Esa cifra no existe en el tablero")
        now = self.clock()
        chosen = (social_indicators.parse_period(period) if period else None) \
            or social_indicators.quarter_of(now)
        with self._reader() as session:
            return chosen, social_indicators.cases_behind(
                session, chosen, figure, now, due_soon_until=self._due_soon_limit(now),
                unit=unit or None)

    def charter_dashboard(self, by: Actor, *,
                          unit: str | None = None) -> charter_figures.CharterDashboard:
        """Return the service charter's commitments, deviations, states and actions."""
        self._managed_or_refuse(by, charter_figures.CHARTER_PROCESSES)
        return self._charter_board(unit)

    def _charter_board(self, unit: str | None = None) -> charter_figures.CharterDashboard:
        from sqlalchemy import func

        from .catalogue import ServiceRow

        def read(version_id: int, state: bytes) -> Mapping[str, Any]:
            return self.runtime.stored_data(self._definition(version_id), state)

        with self._reader() as session:
            total = int(session.scalar(select(func.count()).select_from(ServiceRow)) or 0)
            return charter_figures.dashboard(session, read, total, local_date(self.clock()),
                                               unit=unit or None)

    def process_heatmap(self, by: Actor, process_id: str, *, period: str | None = None,
                        ) -> tuple[social_indicators.Period, list[heatmap.HeatCell]]:
        """Return, per element of a procedure's diagram, the cases that passed and their time."""
        self._managed_or_refuse(by, (process_id,))
        chosen, start, ends = self._heat_args(process_id, period)
        with self._reader() as session:
            return chosen, heatmap.heatmap(session, process_id, chosen, start_event=start,
                                           end_events=ends)

    def heatmap_cases(self, by: Actor, process_id: str, element_id: str, *,
                      period: str | None = None,
                      ) -> tuple[social_indicators.Period, list[social_indicators.CaseLine]]:
        """Return the period's cases that passed one element of the diagram."""
        self._managed_or_refuse(by, (process_id,))
        chosen, start, ends = self._heat_args(process_id, period)
        with self._reader() as session:
            return chosen, heatmap.cases_at(session, process_id, chosen, element_id,
                                            start_event=start, end_events=ends)

    def _heat_args(self, process_id: str, period: str | None,
                   ) -> tuple[social_indicators.Period, str | None, dict[str, str]]:
        import re

        definition = self.library.get(process_id)
        chosen = (social_indicators.parse_period(period) if period else None) \
            or social_indicators.quarter_of(self.clock())
        main = next((text for name, text in definition.bundle.items() if name.endswith(".bpmn")
                     and f'id="{process_id}"' in text), "")
        found = re.search(r'<(?:bpmn:)?startEvent id="([^"]+)"', main)
        ends = {k: v for k, v in definition.end_events.items()
                if k not in definition.side_branches}
        return chosen, found.group(1) if found else None, ends

    def manager_alerts(self, by: Actor) -> list[manager_alerts.Alert]:
        """Return the alerts of the procedures this person manages or owns (home page)."""
        managed = set(self.managed_processes(by))
        if not managed:
            return []
        found: list[manager_alerts.Alert] = []
        if social_indicators.PROCESS_ID in managed:
            with self._reader() as session:
                found += manager_alerts.social_alerts(session, self.clock())
        if managed & set(charter_figures.CHARTER_PROCESSES):
            found += manager_alerts.charter_alerts(self._charter_board())
        return found

    # -- e-mail notifications (engine/notifications.py, engine/outbox.py, engine/mailer.py) ----

    def notification_preferences(self, by: Actor) -> dict[str, bool]:
        """Return, for every kind of notification, whether this person receives it."""
        person = self._actor(by)
        with self._reader() as session:
            chosen = outbox.preferences(session, person.id)
        return {k.code: notifications.wanted(chosen, k.code) for k in notifications.KINDS}

    def set_notification_preferences(self, by: Actor, chosen: Mapping[str, bool]) -> None:
        """Save which kinds of notification this person receives."""
        person = self._actor(by)
        with self._writer.begin() as session:
            outbox.save_preferences(session, person.id, {
                k.code: bool(chosen.get(k.code, False)) for k in notifications.KINDS})

    def person_email(self, by: Actor) -> str | None:
        """Return the address this person's notifications go to (None: they get none)."""
        person = self._actor(by)
        with self._reader() as session:
            return session.scalars(select(PersonRow.email)
                                   .where(PersonRow.id == person.id)).first()

    def scan_notifications(self, now: datetime | None = None) -> int:
        """Record deadline and digest events that are due (the worker, every round)."""
        now = now or self.clock()
        with self._writer.begin() as session:
            found = notifications.scan_deadlines(session, now, self._due_soon_limit(now))
            found += notifications.scan_digests(session, now, self.directory.view,
                                                self._due_soon_limit(now))
        return found

    def expand_notifications(self, render: notifications.Renderer, *, limit: int = 200) -> int:
        """Turn recorded events into queued mails for the people who want them."""
        with self._writer.begin() as session:
            return notifications.expand(session, self.clock(), render,
                                        self.directory.role_titles, limit)

    def send_mail(self, settings: mailer.SmtpSettings, *, limit: int = 100,
                  policy: outbox.RetryPolicy | None = None) -> mailer.MailRound:
        """Send due mails from the outbox (safe with several workers at once)."""
        return mailer.send_round(self._writer, self.clock, settings,
                                 policy or outbox.RetryPolicy(), limit)

    def outbox_mails(self, *, status: str | None = None,
                     limit: int = 200) -> list[outbox.MailView]:
        """Return the newest mails of the outbox (``status="dead"``: the dead-letter list)."""
        with self._reader() as session:
            return outbox.list_mails(session, status=status, limit=limit)

    def outbox_counts(self) -> dict[str, int]:
        """Return how many mails are pending, sent and dead."""
        with self._reader() as session:
            return outbox.count_by_status(session)

    def requeue_mail(self, mail_id: int) -> bool:
        """Give a dead mail new tries; False if it is not on the dead-letter list."""
        with self._writer.begin() as session:
            return outbox.requeue(session, mail_id, self.clock())

    # -- process owner's workshop (engine/procedures.py, procedure_check.py, procedure_diff.py,
    # trial.py, case_migration.py) ------------------------------------------------------------

    def list_procedures(self, by: Actor) -> list[procedures.ProcedureInfo]:
        """Return every procedure with its versions, owners and case counts."""
        return procedures.list_procedures(self, by)

    def procedure(self, process_id: str, *, by: Actor) -> procedures.ProcedureInfo:
        """Return one procedure with its versions."""
        return procedures.procedure(self, process_id, by)

    def procedure_start_form(self, process_id: str) -> dict[str, Any] | None:
        """Return the form a new case of this procedure starts with (schema and ui)."""
        return procedures.start_form(self, process_id)

    def procedure_version(self, process_id: str, number: int) -> ProcessDefinition:
        """Return version ``number`` of a procedure."""
        return procedures.version_definition(self, process_id, number)

    def procedure_files(self, process_id: str, number: int) -> dict[str, Any]:
        """Return version ``number``'s files: bpmn, dmn, forms, responsibility."""
        return procedures.version_files(self, process_id, number)

    def procedure_draft(self, process_id: str, *, by: Actor) -> procedures.Draft:
        """Return (creating it if needed) the procedure's draft; owners only."""
        return procedures.get_draft(self, process_id, by)

    def save_procedure_draft(self, process_id: str, *, by: Actor, revision: int,
                             files: Mapping[str, Any]) -> procedures.Draft:
        """Save the draft unless someone saved it since ``revision`` (DraftConflict)."""
        return procedures.save_draft(self, process_id, by=by, revision=revision, files=files)

    def discard_procedure_draft(self, process_id: str, *, by: Actor) -> bool:
        """Discard the procedure's draft."""
        return procedures.discard_draft(self, process_id, by=by)

    def check_procedure_draft(self, process_id: str, *, by: Actor,
                              files: Mapping[str, Any] | None = None,
                              ) -> procedure_check.CheckResult:
        """Check the draft (or the given files) with the start-up pipeline."""
        return procedures.check_draft(self, process_id, by=by, files=files)

    def publish_procedure_draft(self, process_id: str, *, by: Actor, revision: int,
                                comment: str) -> procedures.Published:
        """Publish the draft as a new version; new cases start on it."""
        return procedures.publish_draft(self, process_id, by=by, revision=revision,
                                        comment=comment)

    def publish_procedure_files(self, process_id: str, files: Mapping[str, bytes], *,
                                by: Actor | None, comment: str) -> procedures.Published:
        """Check files and publish them as a new version (import)."""
        return procedures.publish_files(self, process_id, files, by=by, comment=comment)

    def procedure_diff(self, process_id: str, from_number: int, to_number: int | None, *,
                       by: Actor) -> procedure_diff.ProcedureDiff:
        """Compare two versions (``to_number`` None: the draft)."""
        return procedure_diff.diff_versions(self, process_id, from_number, to_number, by=by)

    def start_trial(self, process_id: str, *, by: Actor) -> trial.TrialState:
        """Run the procedure's draft as a throwaway case (play mode)."""
        return trial.start(self, process_id, by=by)

    def trial_state(self, trial_id: str, *, by: Actor) -> trial.TrialState:
        """Return a trial's state."""
        return trial.state(self, trial_id, by=by)

    def complete_trial_task(self, trial_id: str, task_id: str, *, by: Actor,
                            data: Mapping[str, Any]) -> trial.TrialState:
        """Complete a ready task of a trial with form data (validated like the inbox)."""
        return trial.complete(self, trial_id, task_id, by=by, data=data)

    def fire_trial_timer(self, trial_id: str, timer_id: str | None, *,
                         by: Actor) -> trial.TrialState:
        """Fast-forward a trial to a timer (the next one when ``timer_id`` is None)."""
        return trial.fire_timer(self, trial_id, timer_id, by=by)

    def end_trial(self, trial_id: str, *, by: Actor) -> None:
        """Throw a trial away."""
        trial.discard(self, trial_id, by=by)

    def migration_dry_run(self, process_id: str, *, by: Actor,
                          selection: case_migration.Selection,
                          ) -> list[case_migration.CasePlan]:
        """Tell, per case, whether it can move to another version and what would happen."""
        return case_migration.dry_run(self, process_id, selection, by=by)

    def migrate_cases(self, process_id: str, *, by: Actor, selection: case_migration.Selection,
                      run: bool = True) -> str:
        """Create a migration job (and run it unless ``run`` is False); return its id."""
        return case_migration.start_job(self, process_id, selection, by=by, run=run)

    def run_migration_job(self, job_id: str) -> case_migration.JobView:
        """Run (or resume) a migration job to its end."""
        return case_migration.run_job(self, job_id)

    def resume_migration_jobs(self, runner: str | None = None
                              ) -> list[case_migration.JobView]:
        """Take over and finish the migration jobs whose runner died (the timer worker's)."""
        return case_migration.resume_stale_jobs(self, runner)

    def migration_job(self, job_id: str, *, by: Actor) -> case_migration.JobView:
        """Return a migration job's progress."""
        return case_migration.job(self, job_id, by=by)

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """Yield a read-only session (for CLI reports and tests that inspect the database)."""
        with self._reader() as session:
            yield session


_OPEN_TASK = Base.metadata.tables["open_task"]
_CASE = Base.metadata.tables["case"]
_CASE_EVENT = Base.metadata.tables["case_event"]
_OPEN_TASKS_OF_CASE = select(_OPEN_TASK).where(
    _OPEN_TASK.c.case_id == bindparam("case_id", type_=Integer()))
_DELETE_OPEN_TASKS = _OPEN_TASK.delete().where(
    _OPEN_TASK.c.task_id.in_(bindparam("task_ids", expanding=True)))
_INSERT_OPEN_TASK = _OPEN_TASK.insert()
# An open task assigned by username: the id comes from a subquery in the INSERT itself.
_INSERT_ASSIGNED_OPEN_TASK = _OPEN_TASK.insert().values(
    assignee_id=select(Base.metadata.tables["person"].c.id).where(
        Base.metadata.tables["person"].c.username
        == bindparam("assignee_username", type_=String())).scalar_subquery(),
).returning(_OPEN_TASK.c.assignee_id)
_DELETE_CLOSED_OPEN_TASKS = _OPEN_TASK.delete().where(
    _OPEN_TASK.c.case_id == bindparam("case_id", type_=Integer()),
    _OPEN_TASK.c.task_id.not_in(bindparam("ready", expanding=True)))
_OPEN_TASKS_BY_ID = select(_OPEN_TASK).where(
    _OPEN_TASK.c.task_id.in_(bindparam("task_ids", expanding=True)))
_CURRENT_VERSION = select(ProcessRow.current_version_id).where(
    ProcessRow.process_id == bindparam("process_id", type_=String()))
# The task and its case, both locked: the task row's lock is what makes the statement come
# back empty when a concurrent winner deleted the task (PostgreSQL re-checks locked rows only).
_LOCK_OPEN_TASK = (
    select(OpenTaskRow, CaseRow).join(CaseRow, CaseRow.id == OpenTaskRow.case_id)
    .where(OpenTaskRow.task_id == bindparam("task_id", type_=String()))
    .with_for_update())
_INSERT_CASE_EVENT = _CASE_EVENT.insert()


class _Definitions(dict[int, ProcessDefinition]):
    """Process versions by id, with an index by content hash kept beside (no scan per lookup)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_hash: dict[str, ProcessDefinition] = {}

    def __setitem__(self, version_id: int, definition: ProcessDefinition) -> None:
        super().__setitem__(version_id, definition)
        self.by_hash[definition.version_hash] = definition

    def clear(self) -> None:
        super().clear()
        self.by_hash.clear()


# "UPDATE case SET <changed columns> WHERE id = … AND version = …", one per set of columns.
_CASE_UPDATES: dict[frozenset[str], Any] = {}


def _case_update(columns: frozenset[str]) -> Any:
    statement = _CASE_UPDATES.get(columns)
    if statement is None:
        statement = _CASE.update().where(
            _CASE.c.id == bindparam("_id"), _CASE.c.version == bindparam("_seen")).values(
            {name: bindparam(name, type_=_CASE.c[name].type) for name in columns})
        _CASE_UPDATES[columns] = statement
    return statement


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
        # The READY human task ids before the step, when the verb knows them (see
        # Engine._rewrite_open_tasks); None: read the case's open tasks.
        self.open_before: set[str] | None = None
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
        observers = self.session.info.get("observers")
        if observers and self._events:
            # Read before the UPDATE below moves it on: the moment the fired timer was due.
            found = operations.happenings(self.case.process_id, self.case.id, self._events,
                                          self.case.next_timer_at)
            self.session.info["after_commit"].append(
                lambda: operations.notify(observers, found))
        # Core statements on the tables (not the ORM's bulk paths): cheaper on every step.
        connection = self.session.connection()
        if self._events:
            connection.execute(_INSERT_CASE_EVENT, self._events)
            self.changes.update(last_seq=self._seq, last_hash=self._hash)
        if not self.changes:
            return
        seen = self.case.version
        values = {**self.changes, "version": seen + 1}
        result = connection.execute(_case_update(frozenset(values)),
                                    {**values, "_id": self.case.id, "_seen": seen})
        if result.rowcount != 1:
            raise StaleDataError(f"case {self.case.id} changed since version {seen}")
        # Keep the loaded row in step for whoever reads it after this verb.
        for key, value in values.items():
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


def _case_events(session: Session, case_id: int) -> list[CaseEventRow]:
    """Return a case's log, oldest first."""
    return list(session.scalars(select(CaseEventRow).where(CaseEventRow.case_id == case_id)
                                .order_by(CaseEventRow.seq)).all())


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
        for table in (definition.responsibility, *definition.extra_tables):
            for overseer in table.oversight.values():
                for title in overseer.positions:
                    titles.setdefault(normalise_title(title), set()).add(overseer.role)
    return {title: frozenset(roles) for title, roles in titles.items()}


def _read_is_logged(person: PersonView, definition: ProcessDefinition) -> bool:
    """Tell whether reading a case of this procedure goes to the access log."""
    return (definition.responsibility.confidential
            and not person.roles & set(definition.roles()))


def _owner_roles(definition: ProcessDefinition) -> frozenset[str]:
    """Return the roles that own a procedure (they answer for its records' disposal)."""
    return frozenset().union(*(table.oversight_roles("owner") for table in
                               (definition.responsibility, *definition.extra_tables)))


def _auditor_roles(definition: ProcessDefinition) -> frozenset[str]:
    """Return the roles that audit a procedure (its responsibility tables' oversight block)."""
    return frozenset().union(*(table.oversight_roles("auditor") for table in
                               (definition.responsibility, *definition.extra_tables)))


def _outcome(definition: ProcessDefinition, ends: list[str]) -> str | None:
    main = [end for end in ends if end not in definition.side_branches] or ends
    return definition.end_events.get(main[-1], main[-1]) if main else None


def _task_view(row: Any, usernames: Mapping[int, str]) -> TaskView:
    assignee = usernames.get(row.assignee_id) if row.assignee_id else None
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


def _insert_or_ignore(session: Session) -> Any:
    """Return the dialect's ``insert`` that knows ``ON CONFLICT`` (PostgreSQL and SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert
