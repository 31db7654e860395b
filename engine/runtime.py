"""Running a case's workflow: create, restore, act, and describe it (SpiffWorkflow only)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import weakref
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnSubWorkflowConverter,
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.util.subworkflow import BpmnBaseWorkflow, BpmnSubWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException, TaskNotFoundException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from . import compaction
from .audit import _json_default as _canonical_default
from .audit import canonical_json
from .calendar import WorkingCalendar
from .clock import ClockedDate, ClockedDatetime, install_spiff_clock
from .errors import ScriptError, ScriptLimitError
from .library import ProcessDefinition
from .limits import DEFAULT_LIMITS, ScriptLimitExceeded, ScriptLimits, release_thread
from .sandbox import RestrictedCodeError, sandboxed_script_engine

log = logging.getLogger(__name__)

# A running case stores its whole workflow state; a closed one only its final data, since the
# hash-chained log reproduces everything else (see Engine.replay).
_RUNNING, _FINAL = b"W", b"F"
_LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


class Runtime:
    """Create and restore workflows with the sandboxed script engine, and act on them."""

    def __init__(self, calendar: WorkingCalendar, limits: ScriptLimits = DEFAULT_LIMITS):
        install_spiff_clock()
        self.calendar = calendar
        self.limits = limits
        self.serializer = _state_serializer()
        # SpiffWorkflow 3.2 leaves task data unconverted in to_dict (its own serialize_json
        # converts at encoding time): encode the same way, or a datetime in the data fails.
        self._encoder = create_encoder(self.serializer.registry)
        self.script_engine = sandboxed_script_engine({
            "add_working_days": self._add_working_days,
            "working_days_between": self._working_days_between,
            "add_years": _add_years,
        }, limits)

    def _add_working_days(self, start: Any, days: int) -> str:
        # Timer expressions must yield ISO strings (SpiffWorkflow parses them itself).
        return self.calendar.deadline(start, int(days)).isoformat()

    def _working_days_between(self, start: Any, end: Any) -> int:
        from .calendar import _as_local_date

        return self.calendar.working_days_between(_as_local_date(start), _as_local_date(end))

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, definition: ProcessDefinition) -> tuple[BpmnWorkflow, list[str]]:
        """Create a workflow for a new case and run it up to its first wait."""
        settle_specs(definition)
        workflow = BpmnWorkflow(definition.spec, definition.subprocess_specs,
                                script_engine=self.script_engine)
        return workflow, self.run_engine(workflow)

    def restore(self, definition: ProcessDefinition, state: bytes) -> BpmnWorkflow:
        """Rebuild a workflow from its stored state and its version's shared specs."""
        if state[:1] != _RUNNING:
            raise ValueError("This case is closed: only its final data is stored")
        settle_specs(definition)
        stored = json.loads(zlib.decompress(state[1:]))
        plain = _take_plain_objects(stored)
        if stored.get(self.serializer.VERSION_KEY) != self.serializer.VERSION:
            # Saved by an older SpiffWorkflow: its migrations rewrite specs as well as tasks,
            # and the stored state has none, so lend them the specs (reparsed by this version).
            stored["spec"] = self.serializer.to_dict(definition.spec)
            stored["subprocess_specs"] = {name: self.serializer.to_dict(spec) for name, spec
                                          in definition.subprocess_specs.items()}
        _migrate_state(self.serializer, stored)
        stored["spec"] = definition.spec
        stored["subprocess_specs"] = definition.subprocess_specs
        workflow = self.serializer.from_dict(stored)
        _give_back_plain_objects(workflow, plain)
        # The script engine is not serialized: never let a restored case run on the default one.
        workflow.script_engine = self.script_engine
        return workflow

    def dump(self, workflow: BpmnWorkflow) -> bytes:
        """Serialize a workflow's state without its specs (stored once per version)."""
        splices: list[tuple[str, str]] = []
        _splicing.current = splices
        try:
            state = self.serializer.to_dict(workflow)
            state[self.serializer.VERSION_KEY] = self.serializer.VERSION
            text = json.dumps(state, separators=(",", ":"), cls=self._encoder)
            for token, object_text in splices:
                text = text.replace(f'"{token}"', object_text, 1)
        except RecursionError:
            raise ScriptLimitError("Los datos del caso están anidados a demasiada profundidad "
                                   "para guardarse; no se guardó nada", kind="depth") from None
        except (TypeError, ValueError) as error:
            log.warning("Case state could not be encoded: %r", error)
            raise ScriptLimitError("Los datos del caso contienen valores que no se pueden "
                                   "guardar; no se guardó nada", kind="data") from None
        finally:
            _splicing.current = None
        if len(text) > self.limits.max_state_bytes:
            raise ScriptLimitError(
                f"Los datos del caso exceden el tamaño permitido "
                f"({_size(self.limits.max_state_bytes)}); no se guardó nada", kind="data")
        # Level 1: a state is rewritten on every step, and its JSON repeats itself so much that
        # level 6 saved ~15 % of the bytes for four times the time (a 70 KB state: 0.6 ms).
        return _RUNNING + zlib.compress(text.encode(), 1)

    def state_version(self, state: bytes) -> str | None:
        """Return the SpiffWorkflow serializer version a running case's state was saved with.

        Every saved state records it (the serializer's own key inside the JSON): a case saved
        by an older library is migrated when restored, and on its next save it is current.
        A closed case keeps no workflow state, hence no version (None).
        """
        if state[:1] != _RUNNING:
            return None
        version = json.loads(zlib.decompress(state[1:])).get(self.serializer.VERSION_KEY)
        return str(version) if version is not None else None

    @property
    def state_format(self) -> str:
        """Return the serializer version states are saved with now."""
        return str(self.serializer.VERSION)

    def dump_final(self, data: dict[str, Any]) -> bytes:
        """Serialize what a closed case keeps: its final data (the log can rebuild the rest)."""
        return _FINAL + zlib.compress(canonical_json(data).encode(), 9)

    def stored_data(self, definition: ProcessDefinition, state: bytes) -> dict[str, Any]:
        """Return a case's current data from its stored state, whichever form it has."""
        if state[:1] == _FINAL:
            return dict(json.loads(zlib.decompress(state[1:])))
        return self.snapshot(self.restore(definition, state), definition.side_branches).data

    # -- acting -----------------------------------------------------------------------------

    def run_engine(self, workflow: BpmnWorkflow) -> list[str]:
        """Run scripts, gateways and events until only human tasks and waits remain."""
        path: list[str] = []
        watch = _StepWatch(self.limits)

        def record(task: Task) -> None:
            if task.task_spec.bpmn_id:
                path.append(task.task_spec.bpmn_id)

        _guarded(lambda: engine_steps(workflow, watch.before, record), watch)
        compaction.compact(workflow)
        return path

    def ready_human_tasks(self, workflow: BpmnWorkflow) -> list[Task]:
        """Return the READY user and manual tasks, in tree order."""
        return list(workflow.get_tasks(state=TaskState.READY, manual=True))

    def ready_human_ids(self, workflow: BpmnWorkflow) -> set[str]:
        """Return the ids of the READY user and manual tasks, as ``snapshot`` finds them.

        Before a step these are the case's rows in ``open_task`` (every step rewrites them to
        its snapshot's ``ready_human``), so the step need not read them back.
        """
        ready = TaskState.READY
        return {str(task.id) for task in all_tasks(workflow)
                if task.state == ready and task.task_spec.manual and task.task_spec.bpmn_id}

    def instructions(self, task: Task) -> str | None:
        """Return what the diagram tells the person doing a task (its BPMN documentation)."""
        spec = task.task_spec
        text = getattr(spec, "documentation", None) or getattr(spec, "extensions", {}).get(
            "instructionsForEndUser")
        return str(text).strip() or None if text else None

    def find_ready(self, workflow: BpmnWorkflow, task_id: str) -> Task | None:
        """Return the READY human task with this id, or None."""
        try:
            task = workflow.get_task_from_id(UUID(task_id))
        except (ValueError, TaskNotFoundException):
            return None
        if task.state != TaskState.READY or not task.task_spec.manual:
            return None
        return task

    def complete(self, workflow: BpmnWorkflow, task: Task, data: dict[str, Any]) -> list[str]:
        """Complete a human task with its form data; return the engine path it triggered.

        Fields the form leaves out keep the value the case already had (a script's default,
        or an earlier answer).
        """
        task.set_data(**data)
        watch = _StepWatch(self.limits)
        watch.task = task
        _guarded(task.run, watch)
        return self.run_engine(workflow)

    def fire_timers(self, workflow: BpmnWorkflow) -> list[str]:
        """Fire every timer whose moment has passed; return the ids of those that fired.

        That includes timers an earlier step found due but left for the next engine step.
        """
        fired: list[str] = []
        watch = _StepWatch(self.limits)

        def record(task: Task) -> None:
            if task.task_spec.bpmn_id and isinstance(
                    getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
                fired.append(task.task_spec.bpmn_id)

        # A cycle timer never completes while it repeats: it fires by moving its next moment.
        cycles = {task: _cycle_next(task) for task in workflow.get_tasks(state=TaskState.WAITING)
                  if isinstance(getattr(task.task_spec, "event_definition", None),
                                CycleTimerEventDefinition)}
        _guarded(workflow.refresh_timers, watch)
        fired += [task.task_spec.bpmn_id for task, moment in cycles.items()
                  if _cycle_next(task) != moment]
        _guarded(lambda: engine_steps(workflow, watch.before, record), watch)
        compaction.compact(workflow)
        return fired

    # -- describing -------------------------------------------------------------------------

    def snapshot(self, workflow: BpmnWorkflow,
                 side_branches: frozenset[str] = frozenset()) -> Snapshot:
        """Describe a workflow in one pass over its tasks: what is ready, its data, its hash."""
        snap: Snapshot = _guarded(lambda: self._snapshot(workflow, side_branches))
        return snap

    def _snapshot(self, workflow: BpmnWorkflow, side_branches: frozenset[str]) -> Snapshot:
        states, live = [], []
        ready_human: list[Task] = []
        main: list[Task] = []
        side: list[Task] = []
        waiting: list[Task] = []
        ends: list[Task] = []
        timers: dict[str, datetime] = {}
        pending: dict[str, datetime] = {}
        objects: list[tuple[str, str]] = []
        seen: set[Any] = set()
        for task in all_tasks(workflow):
            spec, state, scope = task.task_spec, task.state, task.workflow.spec.name
            states.append((scope, spec.name, int(state)))
            if task.workflow not in seen:
                # Each workflow's data objects, where the walk first meets it (as _replay_state).
                seen.add(task.workflow)
                if task.workflow.data:
                    _add_objects(objects, task.workflow)
            moment = _timer_moment(task)
            if moment is not None:
                # A fired timer keeps its moment: it stays the deadline of the work it bounds.
                timers[spec.bpmn_id] = moment
                if state & (TaskState.WAITING | TaskState.READY):
                    pending[spec.bpmn_id] = moment
            if not state & _LIVE:
                if (state == TaskState.COMPLETED and task.workflow is workflow
                        and spec.bpmn_id and type(spec).__name__ == "EndEvent"):
                    ends.append(task)
                continue
            live.append((scope, spec.name, task.data))
            if state == TaskState.WAITING:
                waiting.append(task)
            elif spec.bpmn_id and state & (TaskState.READY | TaskState.ERROR):
                (side if spec.bpmn_id in side_branches else main).append(task)
                if state == TaskState.READY and spec.manual:
                    ready_human.append(task)
        ends.sort(key=lambda t: t.last_state_change)
        data = _case_data(workflow, main, side, waiting, ends, side_branches)
        for scope_workflow in _object_scopes(workflow):
            # Held once per workflow (a BPMN data object), not copied into every task's data.
            for name, value in scope_workflow.data_objects.items():
                if value is not None:
                    data.setdefault(name, value)
        return Snapshot(
            ready_human=ready_human,
            data=data,
            fingerprint=_fingerprint(workflow, states, live, objects),
            reached_ends=[t.task_spec.bpmn_id for t in ends],
            pending_timers=pending,
            timer_moments=timers,
            completed=workflow.completed,
        )

    def task_data(self, task: Task) -> dict[str, Any]:
        """Return a task's data with the data objects its workflows hold (its form shows them)."""
        data = dict(task.data)
        scope: Any = task.workflow
        while scope is not None:
            for name, value in (scope.data.get("data_objects") or {}).items():
                if value is not None:
                    data.setdefault(name, value)
            scope = getattr(scope, "parent_workflow", None)
        return data

    def replay_state(self, workflow: BpmnWorkflow) -> tuple[bytes, list[Task]]:
        """Return what a replay needs after each event: the fingerprint and the READY human tasks.

        The same fingerprint as ``snapshot`` (the same payload), without the case data, timers
        and end events that a replay does not look at: it runs after every replayed event.
        """
        state: tuple[bytes, list[Task]] = _guarded(lambda: _replay_state(workflow))
        return state

    def fingerprint(self, workflow: BpmnWorkflow) -> bytes:
        """Return a hash of the workflow's meaning: task states and live data, no random ids.

        A replay that re-executes the same events produces the same fingerprint, although
        SpiffWorkflow draws new task ids and timestamps.
        """
        return self.snapshot(workflow).fingerprint


def _replay_state(workflow: BpmnWorkflow) -> tuple[bytes, list[Task]]:
    states, live, ready_human = [], [], []
    objects: list[tuple[str, str]] = []
    scopes: dict[Any, str] = {}
    for task in all_tasks(workflow):
        spec, state, owner = task.task_spec, task._state, task.workflow
        scope = scopes.get(owner)
        if scope is None:
            # A workflow's first task in the walk is its root (as in _snapshot).
            scope = scopes[owner] = owner.spec.name
            if owner.data:
                _add_objects(objects, owner)
        states.append((scope, spec.name, int(state)))
        if state & _LIVE:
            live.append((scope, spec.name, task.data))
            if state == TaskState.READY and spec.manual and spec.bpmn_id:
                ready_human.append(task)
    return _fingerprint(workflow, states, live, objects), ready_human


def _fingerprint(workflow: BpmnWorkflow, states: list[Any], live: list[Any],
                 objects: list[tuple[str, str]]) -> bytes:
    """Hash a workflow's meaning: task states, live data and (if any) its data objects.

    Data objects enter as a digest per workflow, and only when a workflow holds some: no
    version recorded before they were used declares one, so those cases keep the payload, and
    the fingerprints, they were recorded with.
    """
    payload: dict[str, Any] = {"tasks": states, "live": live, "completed": workflow.completed}
    if workflow.completed and workflow.last_task is not None:
        payload["final"] = workflow.last_task.data
    if objects:
        payload["objects"] = objects
    return hashlib.sha256(_CANONICAL.encode(payload).encode()).digest()


# audit.canonical_json's encoder, built once: json.dumps builds one per call, and a replay
# hashes a payload after every event.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              default=_canonical_default)


# The canonical digest of each workflow's data objects, computed again only when one of them is
# replaced: SpiffWorkflow never changes a data object in place (a task's output association
# stores a new copy), so an unchanged object keeps its identity from step to step.
_object_digests: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], str]] = \
    weakref.WeakKeyDictionary()


def _add_objects(objects: list[tuple[str, str]], owner: BpmnBaseWorkflow) -> None:
    values = owner.data.get("data_objects")
    if not values:
        return
    held = tuple(values.items())
    with _objects_lock:
        cached = _object_digests.get(owner)
    if cached is None or len(cached[0]) != len(held) or any(
            name != seen_name or value is not seen for (name, value), (seen_name, seen)
            in zip(held, cached[0], strict=True)):
        cached = (held, _objects_digest(owner, held))
        with _objects_lock:
            _object_digests[owner] = cached
    objects.append((owner.spec.name, cached[1]))


def _objects_digest(owner: BpmnBaseWorkflow, held: tuple[tuple[str, Any], ...]) -> str:
    """Hash a workflow's data objects, each by the JSON text the state stores it as.

    That text (insertion order, as scripts built the value and as a restore gives it back) is
    encoded once per value and shared with the save; values JSON does not know are hashed in
    their canonical form.
    """
    digest = hashlib.sha256()
    for name, value in sorted(held, key=lambda item: item[0]):
        text = _object_text(owner, name, value)
        digest.update(f"{name}\0{'j' if text is not None else 'c'}\0".encode())
        digest.update((text if text is not None else canonical_json(value)).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _object_scopes(workflow: BpmnWorkflow) -> list[BpmnBaseWorkflow]:
    return [scope for scope in (workflow, *workflow.subprocesses.values())
            if scope.data.get("data_objects")]


# SpiffWorkflow's get_tasks() stops descending max_depth levels down (1,000 by default); a tree
# with fewer tasks than that can never reach the cap, so walking it ourselves visits exactly the
# same tasks. Bigger trees (cases recorded before the cut) are left to SpiffWorkflow.
_WALK_LIMIT = 1000


def _walk_limit() -> int:
    # The iterator's own default, read each time: it is what get_tasks() uses.
    defaults: tuple[Any, ...] = BpmnTaskIterator.__init__.__defaults__ or ()
    cap = defaults[1] if len(defaults) > 1 and isinstance(defaults[1], int) else _WALK_LIMIT
    return min(_WALK_LIMIT, cap)


def all_tasks(workflow: BpmnWorkflow) -> list[Task]:
    """Return every task of the workflow in ``get_tasks()`` order, walking the tree directly.

    The order is SpiffWorkflow's (each task, then its subprocess's tree, then its children), so
    fingerprints recorded with get_tasks() stay the same; its general-purpose iterator costs
    several times more per task, and a replay walks the tree after every event.
    """
    subprocesses = workflow.subprocesses
    if not _small(workflow):
        return list(workflow.get_tasks())
    out: list[Task] = []
    stack = [workflow.task_tree]
    while stack:
        task = stack.pop()
        out.append(task)
        tasks = task.workflow.tasks
        stack.extend(tasks[child] for child in reversed(task._children))
        sub = subprocesses.get(task.id)
        if sub is not None:
            stack.append(sub.task_tree)
    return out


def _small(workflow: BpmnWorkflow) -> bool:
    return len(workflow.tasks) + sum(len(sp.tasks) for sp in workflow.subprocesses.values()) \
        < _walk_limit()


def ready_tasks(scope: BpmnBaseWorkflow, top: BpmnWorkflow) -> list[Task]:
    """Return ``scope.get_tasks(state=TaskState.READY)``, walking the tree directly.

    Same tasks, same order: a task's subprocess (unless the task is finished) comes before its
    children, and the children of a predicted task are not visited.
    """
    if not _small(top):
        return list(scope.get_tasks(state=TaskState.READY))
    subprocesses = top.subprocesses
    out: list[Task] = []
    stack = [scope.task_tree]
    while stack:
        task = stack.pop()
        state = task._state
        if state & TaskState.READY:
            out.append(task)
        sub = subprocesses.get(task.id)
        if sub is None:
            if task._children and state >= TaskState.FUTURE:
                tasks = task.workflow.tasks
                stack.extend(tasks[child] for child in reversed(task._children))
            continue
        tasks = task.workflow.tasks
        stack.extend(tasks[child] for child in reversed(task._children))
        if state < TaskState.FINISHED_MASK:
            stack.append(sub.task_tree)
    return out


def engine_steps(workflow: BpmnWorkflow, will_complete: Callable[[Task], None],
                 did_complete: Callable[[Task], None]) -> None:
    """Do what ``workflow.do_engine_steps`` does, finding READY tasks with ``ready_tasks``.

    SpiffWorkflow looks for READY tasks with its general tree iterator several times per step;
    on a bounded tree that search cost more than running the tasks. The loop is SpiffWorkflow
    3.2's own (BpmnWorkflow._do_engine_steps), so the tasks run in the same order.
    """

    def update(scope: BpmnBaseWorkflow) -> int:
        count = 0
        for task in ready_tasks(scope, workflow):
            if not task.task_spec.manual:
                will_complete(task)
                task.run()
                count += 1
                did_complete(task)
        return count

    def one_pass() -> bool:
        active = workflow.get_active_subprocesses()
        for subprocess in sorted(active, key=lambda v: v.depth, reverse=True):
            while update(subprocess) > 0:
                pass
            if subprocess.parent_task_id is not None:
                task = workflow.get_task_from_id(subprocess.parent_task_id)
                task.task_spec._update(task)
        count = update(workflow)
        return count > 0 or len(workflow.get_active_subprocesses()) > len(active)

    while one_pass():
        pass
    workflow.refresh_timers()


@dataclass
class Snapshot:
    """What the engine needs to know about a workflow after a step."""

    ready_human: list[Task]
    data: dict[str, Any]
    fingerprint: bytes
    reached_ends: list[str]
    # Timers still to fire (WAITING, or READY to be run by the next engine step).
    pending_timers: dict[str, datetime]
    # Every timer whose moment is known, fired or not.
    timer_moments: dict[str, datetime]
    completed: bool

    def find_ready(self, task_id: str) -> Task | None:
        """Return the READY human task with this id, or None."""
        return next((t for t in self.ready_human if str(t.id) == task_id), None)


def _timer_moment(task: Task) -> datetime | None:
    definition = getattr(task.task_spec, "event_definition", None)
    if not isinstance(definition, TimerEventDefinition):
        return None
    value = task.internal_data.get("event_value")
    if isinstance(definition, CycleTimerEventDefinition):
        # {"cycles": repetitions left (-1: unbounded), "next": ISO moment, "duration": s}
        value = _cycle_next(task)
    if not isinstance(value, str):
        return None
    return TimerEventDefinition.get_datetime(value)


def _cycle_next(task: Task) -> str | None:
    """Return the next moment of a cycle timer with repetitions left, else None."""
    value = task.internal_data.get("event_value")
    if isinstance(value, dict) and value.get("cycles") != 0 and isinstance(value.get("next"), str):
        return str(value["next"])
    return None


# Specs already brought to their steady shape (see settle_specs).
_settled: weakref.WeakSet[Any] = weakref.WeakSet()
_settle_lock = threading.Lock()


def settle_specs(definition: ProcessDefinition) -> None:
    """Bring a version's specs to the shape SpiffWorkflow would give them on first use.

    SpiffWorkflow 3.2 connects an event subprocess started by a message, signal, error or
    escalation to its process's start and end the first time one is triggered (BpmnStartTask.
    trigger_wf), changing the shared spec: the first case then runs on a different graph than
    every later one (and its replay fails). Making that same connection once, before any case
    runs, leaves nothing for trigger_wf to change: every case sees one immutable graph.
    """
    specs = [definition.spec, *definition.subprocess_specs.values()]
    if all(spec in _settled for spec in specs):
        return
    with _settle_lock:
        for spec in specs:
            start = getattr(spec, "start", None)
            for name in getattr(start, "trigger_specs", None) or []:
                assert start is not None
                task_spec = spec.task_specs.get(name)
                if task_spec is not None and start not in task_spec.inputs:
                    start.connect(task_spec)
                    task_spec.connect(spec.end)
            _settled.add(spec)


def spec_shape(definition: ProcessDefinition) -> tuple[Any, ...]:
    """Return the graph of a version's specs (to show that running cases never changes it)."""
    return tuple(
        (spec.name, tuple(sorted(
            (name, tuple(o.name for o in ts.outputs), tuple(i.name for i in ts.inputs))
            for name, ts in spec.task_specs.items())))
        for spec in [definition.spec, *definition.subprocess_specs.values()])


class _StepWatch:
    """Count the engine steps of one action and remember which task is running.

    A process that calls itself (or loops without a wait) must end in an error, not a hang.
    """

    def __init__(self, limits: ScriptLimits):
        self.limits = limits
        self.steps = 0
        self.task: Task | None = None
        self.deadline = time.monotonic() + limits.step_timeout

    def before(self, task: Task) -> None:
        self.task = task
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise ScriptLimitExceeded("steps")
        if time.monotonic() > self.deadline:
            raise ScriptLimitExceeded("step_time")
        if task.workflow.depth > self.limits.max_nesting:
            raise ScriptLimitExceeded("nesting")


def _case_data(workflow: BpmnWorkflow, main: list[Task], side: list[Task], waiting: list[Task],
               ends: list[Task], side_branches: frozenset[str]) -> dict[str, Any]:
    """Return the case's data as it stands.

    That is the data of the main flow's READY tasks (or, once the main flow has ended, of its end
    event), plus whatever side branches added that the main flow lacks. Waiting events hold
    stale copies and count only when nothing else is left.
    """
    side = side + [t for t in ends if t.task_spec.bpmn_id in side_branches]
    if not main:
        main = [t for t in ends if t.task_spec.bpmn_id not in side_branches][-1:]
    if not main:
        main = waiting[:1] or ([workflow.last_task] if workflow.last_task else [])
    merged: dict[str, Any] = {}
    for task in main:
        merged.update(task.data)
    for task in side:
        for key, value in task.data.items():
            merged.setdefault(key, value)
    return merged


class _StateOnlyWorkflowConverter(BpmnWorkflowConverter):
    """Serialize a workflow without its specs: they are stored once per process version."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = _workflow_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


class _SubWorkflowConverter(BpmnSubWorkflowConverter):
    """A subprocess as SpiffWorkflow serializes it, its data objects converted once."""

    def to_dict(self, workflow: BpmnSubWorkflow) -> dict[str, Any]:
        dct = _workflow_dict(self, workflow)
        dct["parent_task_id"] = str(workflow.parent_task_id)
        dct["spec"] = workflow.spec.name
        return dct


def _workflow_dict(converter: WorkflowConverter, workflow: BpmnBaseWorkflow) -> dict[str, Any]:
    """Return ``WorkflowConverter.to_dict`` (SpiffWorkflow 3.2), data objects converted once.

    SpiffWorkflow converts a workflow's data value by value in Python at every save; a data
    object (the follow-up's history) is replaced, never changed in place, so one that did not
    change since the last save keeps its JSON text, spliced into the state as it is encoded.
    """
    data, plain = _converted_data(converter.registry, workflow)
    dct: dict[str, Any] = {
        "correlations": workflow.correlations,
        "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
        "success": workflow.success,
        "completed": workflow.completed,
        "tasks": converter.mapping_to_dict(workflow.tasks),
        "root": str(workflow.task_tree.id),
        # After the tasks, whose data repeats its field names: zlib's window then finds them
        # (first, a 120-period history stored 10.3 KB; after, 7.6 KB).
        "data": data,
    }
    if plain:
        # Plain JSON: restored as parsed, without SpiffWorkflow's value-by-value restore.
        dct[_PLAIN_KEY] = plain
    return dct


_PLAIN_KEY = "cauce_plain_objects"
# A dump in progress collects (placeholder, JSON text) for the data objects it splices in.
_splicing = threading.local()
_TOKEN = f"cauce-data-object-{uuid4().hex}-"
# Per workflow, each data object's last value and its JSON text (None: it holds values JSON
# does not know); a value is replaced, never changed in place, so the same value has the same
# text (see _add_objects).
_object_texts: weakref.WeakKeyDictionary[Any, dict[str, tuple[Any, str | None]]] = \
    weakref.WeakKeyDictionary()
_objects_lock = threading.Lock()


def _converted_data(registry: Any, owner: BpmnBaseWorkflow) -> tuple[Any, list[str]]:
    data = owner.data
    objects = data.get("data_objects")
    splices: list[tuple[str, str]] | None = getattr(_splicing, "current", None)
    if not objects or not isinstance(objects, dict) or splices is None:
        return registry.convert(registry.clean(data)), []
    out: dict[str, Any] = {}
    plain: list[str] = []
    for key, value in registry.clean(data).items():
        if key != "data_objects":
            out[key] = registry.convert(value)
            continue
        out[key] = {}
        for name, obj in value.items():
            text = _object_text(owner, name, obj)
            if text is None:
                out[key][name] = registry.convert(obj)
            else:
                token = f"{_TOKEN}{len(splices)}"
                splices.append((token, text))
                out[key][name] = token
                plain.append(name)
    return out, plain


def _object_text(owner: BpmnBaseWorkflow, name: str, value: Any) -> str | None:
    """Return a data object's JSON text as the state encodes it, if it is plain JSON."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return None
    with _objects_lock:
        texts = _object_texts.setdefault(owner, {})
    cached = texts.get(name)
    if cached is not None and cached[0] is value:
        return cached[1]
    try:
        # The C encoder refuses what JSON does not know (dates, decimals): those values go
        # through SpiffWorkflow's converters instead.
        text: str | None = json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError):
        text = None
    texts[name] = (value, text)
    return text


def _take_plain_objects(stored: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Take the plain data objects out of a stored state, by workflow ("" for the case's)."""
    taken: dict[str, dict[str, Any]] = {}
    scopes = [("", stored), *stored.get("subprocesses", {}).items()]
    for key, scope in scopes:
        names: list[str] = (scope.pop(_PLAIN_KEY, None) if isinstance(scope, dict) else None) \
            or []
        objects = scope.get("data", {}).get("data_objects") if names else None
        if isinstance(objects, dict):
            taken[key] = {name: objects.pop(name) for name in names if name in objects}
    return taken


def _give_back_plain_objects(workflow: BpmnWorkflow,
                             taken: dict[str, dict[str, Any]]) -> None:
    for key, objects in taken.items():
        scope = workflow if key == "" else workflow.subprocesses.get(UUID(key))
        if scope is not None:
            scope.data.setdefault("data_objects", {}).update(objects)


def _migrate_state(serializer: BpmnWorkflowSerializer, stored: dict[str, Any]) -> None:
    """Run SpiffWorkflow's own migrations on a stored state, one of them corrected."""
    if stored.get(serializer.VERSION_KEY) == "1.4":
        # 3.2.0's 1.4 -> 1.5 step fails on any workflow with a subprocess (its loop names an
        # undefined variable, and a subprocess's "spec" is a name, not a dict): do it here.
        stored.pop(serializer.VERSION_KEY)
        stored["VERSION"] = "1.5"
        _default_event_gateway_children(stored["tasks"], stored["spec"]["task_specs"])
        for sub in stored.get("subprocesses", {}).values():
            specs = stored["subprocess_specs"].get(sub.get("spec"), {}).get("task_specs", {})
            _default_event_gateway_children(sub["tasks"], specs)
        return
    serializer.migrate(stored)


def _default_event_gateway_children(tasks: dict[str, Any], specs: dict[str, Any]) -> None:
    # Since 1.5 an event-based gateway handles its branches' events; the branches get none.
    for task in tasks.values():
        spec = specs.get(task["task_spec"], {})
        if spec.get("typename") == "EventBasedGateway":
            for name in spec["outputs"]:
                specs[name]["event_definition"] = {
                    "description": "Default", "name": None, "typename": "NoneEventDefinition"}


def _state_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = _StateOnlyWorkflowConverter
    config[BpmnSubWorkflow] = _SubWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    # What scripts can build beside JSON's own types (SpiffWorkflow knows only datetime,
    # timedelta and UUID, and by exact class: the sandbox's clocked datetime is a subclass).
    registry.register(ClockedDatetime, lambda v: {"value": v.isoformat()},
                      lambda v: datetime.fromisoformat(v["value"]), typename="datetime")
    for day_class in (date, ClockedDate):
        registry.register(day_class, lambda v: {"value": v.isoformat()},
                          lambda v: date.fromisoformat(v["value"]), typename="date")
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]),
                      typename="Decimal")
    return BpmnWorkflowSerializer(registry)


def _add_years(start: str, years: int) -> str:
    """Return the ISO date ``years`` after ``start`` (29 February falls back to the 28th)."""
    day = date.fromisoformat(start[:10])
    try:
        return day.replace(year=day.year + int(years)).isoformat()
    except ValueError:
        return day.replace(year=day.year + int(years), day=28).isoformat()


def _guarded(action: Callable[[], Any], watch: _StepWatch | None = None) -> Any:
    """Run a step; whatever goes wrong in it becomes a ScriptError naming the element."""
    try:
        return action()
    except ScriptLimitExceeded as exceeded:
        # An interruption may also land on the way out of a script: disarm it here in any case.
        kind = release_thread() or exceeded.kind
        task = exceeded.task or (watch.task if watch else None)
        limits = watch.limits if watch else DEFAULT_LIMITS
        raise _limit_error(kind, exceeded, task, limits) from None
    except ScriptError:
        raise
    except RestrictedCodeError as error:
        raise ScriptError(str(error)) from None
    except SpiffWorkflowException as error:
        task = getattr(error, "task", None) or (watch.task if watch else None)
        inner = getattr(error, "error", None) or error.__cause__
        if isinstance(inner, RecursionError):
            raise _limit_error("recursion", None, task, DEFAULT_LIMITS) from None
        reason = error.args[0] if error.args else _reason(error)
        raise ScriptError(f"Error del procedimiento{_where(task)}: {reason}") from None
    except RecursionError:
        task = watch.task if watch else None
        raise ScriptLimitError(f"Error del procedimiento{_where(task)}: los datos o las llamadas "
                               "se anidan a demasiada profundidad", kind="recursion",
                               element=_element(task)) from None
    except Exception as error:
        # SpiffWorkflow raises plain exceptions too (a service task, a multi-instance with no
        # input collection, a correlation expression): never let them reach the caller raw.
        task = _task_in_traceback(error) or (watch.task if watch else None)
        log.warning("Step failed at %s", _element(task), exc_info=True)
        raise ScriptError(f"Error del procedimiento{_where(task)}: {_reason(error)}") from None


_REASONS = {
    NameError: "usa un nombre de dato o de función que no existe",
    KeyError: "falta un dato que el elemento necesita",
    TypeError: "un dato tiene un tipo que el elemento no admite (o le falta un dato)",
    ValueError: "un dato tiene un valor que el elemento no admite",
    AttributeError: "usa una propiedad que el dato no tiene",
    IndexError: "usa una posición que la lista no tiene",
    ZeroDivisionError: "divide entre cero",
    OverflowError: "un número es demasiado grande",
    MemoryError: "se quedó sin memoria",
}


def _reason(error: BaseException) -> str:
    for kind, reason in _REASONS.items():
        if isinstance(error, kind):
            return reason
    return "el motor no pudo ejecutar este elemento"


def _task_in_traceback(error: BaseException) -> Task | None:
    """Return the innermost SpiffWorkflow task the failing code was working on."""
    found = None
    trace = error.__traceback__
    while trace is not None:
        frame_locals = trace.tb_frame.f_locals
        for name in ("my_task", "task", "self"):
            candidate = frame_locals.get(name)
            if isinstance(candidate, Task):
                found = candidate
                break
        trace = trace.tb_next
    return found


def _element(task: Task | None) -> str | None:
    if task is None:
        return None
    spec = task.task_spec
    return getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None) or None


def _where(task: Task | None) -> str:
    element = _element(task)
    return f" en {element}" if element else ""


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):g} MB"
    return f"{count / 1024:g} KB"


def _limit_error(kind: str, exceeded: ScriptLimitExceeded | None, task: Task | None,
                 limits: ScriptLimits) -> ScriptLimitError:
    element = _element(task)
    name = element or "(sin nombre)"
    site = exceeded.site if exceeded is not None else "script"
    who = f"La expresión de {name}" if site == "expression" else f"El script de la tarea {name}"
    detail = exceeded.detail if exceeded is not None else ""
    messages = {
        "time": f"{who} excedió el tiempo permitido ({limits.timeout:g} s)",
        "interrupted": f"{who} excedió el tiempo permitido ({limits.timeout:g} s)",
        "memory": f"{who} excedió la memoria permitida ({_size(limits.memory_bytes)})",
        "size": f"{who} intentó construir un valor demasiado grande ({detail})",
        "recursion": f"{who} excedió la profundidad de recursión permitida",
        "depth": f"{who} dejó datos anidados en más de {limits.max_data_depth} niveles",
        "data": f"{who} dejó datos del caso de más de {_size(limits.max_data_bytes)}",
        "type": f"{who} dejó en {detail} un valor que no se puede guardar con el caso",
        "steps": f"El procedimiento dio más de {limits.max_steps} pasos seguidos sin detenerse "
                 f"(en {name}): ¿tiene un ciclo sin fin o un proceso que se llama a sí mismo?",
        "step_time": f"El procedimiento excedió el tiempo permitido para una sola acción "
                     f"({limits.step_timeout:g} s, en {name})",
        "nesting": f"El procedimiento anidó más de {limits.max_nesting} subprocesos (en {name}): "
                   "¿un proceso se llama a sí mismo?",
    }
    message = messages.get(kind, f"{who} excedió un límite del motor")
    return ScriptLimitError(f"{message}. No se guardó nada.", kind=kind, element=element)
