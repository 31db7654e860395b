"""Running a case's workflow: create, restore, act, and describe it (SpiffWorkflow only)."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException, TaskNotFoundException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from .audit import canonical_json
from .calendar import WorkingCalendar
from .clock import install_spiff_clock
from .errors import ScriptError
from .library import ProcessDefinition
from .sandbox import RestrictedCodeError, sandboxed_script_engine

# A running case stores its whole workflow state; a closed one only its final data, since the
# hash-chained log reproduces everything else (see Engine.replay).
_RUNNING, _FINAL = b"W", b"F"
_LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


class Runtime:
    """Create and restore workflows with the sandboxed script engine, and act on them."""

    def __init__(self, calendar: WorkingCalendar):
        install_spiff_clock()
        self.calendar = calendar
        self.serializer = _state_serializer()
        self.script_engine = sandboxed_script_engine({
            "add_working_days": self._add_working_days,
            "working_days_between": self._working_days_between,
            "add_years": _add_years,
        })

    def _add_working_days(self, start: Any, days: int) -> str:
        # Timer expressions must yield ISO strings (SpiffWorkflow parses them itself).
        return self.calendar.deadline(start, int(days)).isoformat()

    def _working_days_between(self, start: Any, end: Any) -> int:
        from .calendar import _as_local_date

        return self.calendar.working_days_between(_as_local_date(start), _as_local_date(end))

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, definition: ProcessDefinition) -> tuple[BpmnWorkflow, list[str]]:
        """Create a workflow for a new case and run it up to its first wait."""
        workflow = BpmnWorkflow(definition.spec, definition.subprocess_specs,
                                script_engine=self.script_engine)
        return workflow, self.run_engine(workflow)

    def restore(self, definition: ProcessDefinition, state: bytes) -> BpmnWorkflow:
        """Rebuild a workflow from its stored state and its version's shared specs."""
        if state[:1] != _RUNNING:
            raise ValueError("This case is closed: only its final data is stored")
        stored = json.loads(zlib.decompress(state[1:]))
        self.serializer.migrate(stored)
        stored["spec"] = definition.spec
        stored["subprocess_specs"] = definition.subprocess_specs
        workflow = self.serializer.from_dict(stored)
        # The script engine is not serialized: never let a restored case run on the default one.
        workflow.script_engine = self.script_engine
        return workflow

    def dump(self, workflow: BpmnWorkflow) -> bytes:
        """Serialize a workflow's state without its specs (stored once per version)."""
        state = self.serializer.to_dict(workflow)
        state[self.serializer.VERSION_KEY] = self.serializer.VERSION
        return _RUNNING + zlib.compress(json.dumps(state, separators=(",", ":")).encode(), 6)

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

        def record(task: Task) -> None:
            if task.task_spec.bpmn_id:
                path.append(task.task_spec.bpmn_id)

        _guarded(lambda: workflow.do_engine_steps(did_complete_task=record))
        return path

    def ready_human_tasks(self, workflow: BpmnWorkflow) -> list[Task]:
        """Return the READY user and manual tasks, in tree order."""
        return list(workflow.get_tasks(state=TaskState.READY, manual=True))

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
        _guarded(task.run)
        return self.run_engine(workflow)

    def fire_timers(self, workflow: BpmnWorkflow) -> list[str]:
        """Fire every timer whose moment has passed; return the ids of those that fired.

        That includes timers an earlier step found due but left for the next engine step.
        """
        fired: list[str] = []

        def record(task: Task) -> None:
            if task.task_spec.bpmn_id and isinstance(
                    getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
                fired.append(task.task_spec.bpmn_id)

        _guarded(workflow.refresh_timers)
        _guarded(lambda: workflow.do_engine_steps(did_complete_task=record))
        return fired

    # -- describing -------------------------------------------------------------------------

    def snapshot(self, workflow: BpmnWorkflow,
                 side_branches: frozenset[str] = frozenset()) -> Snapshot:
        """Describe a workflow in one pass over its tasks: what is ready, its data, its hash."""
        states, live = [], []
        ready_human: list[Task] = []
        main: list[Task] = []
        side: list[Task] = []
        waiting: list[Task] = []
        ends: list[Task] = []
        timers: dict[str, datetime] = {}
        pending: dict[str, datetime] = {}
        for task in workflow.get_tasks():
            spec, state, scope = task.task_spec, task.state, task.workflow.spec.name
            states.append((scope, spec.name, int(state)))
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
        payload: dict[str, Any] = {"tasks": states, "live": live, "completed": workflow.completed}
        if workflow.completed and workflow.last_task is not None:
            payload["final"] = workflow.last_task.data
        fingerprint = hashlib.sha256(canonical_json(payload).encode()).digest()
        return Snapshot(
            ready_human=ready_human,
            data=_case_data(workflow, main, side, waiting, ends, side_branches),
            fingerprint=fingerprint,
            reached_ends=[t.task_spec.bpmn_id for t in ends],
            pending_timers=pending,
            timer_moments=timers,
            completed=workflow.completed,
        )

    def fingerprint(self, workflow: BpmnWorkflow) -> bytes:
        """Return a hash of the workflow's meaning: task states and live data, no random ids.

        A replay that re-executes the same events produces the same fingerprint, although
        SpiffWorkflow draws new task ids and timestamps.
        """
        return self.snapshot(workflow).fingerprint


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
    if not isinstance(definition, TimerEventDefinition) or isinstance(
            definition, CycleTimerEventDefinition):
        return None
    value = task.internal_data.get("event_value")
    if not isinstance(value, str):
        return None
    return TimerEventDefinition.get_datetime(value)


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
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


def _state_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = _StateOnlyWorkflowConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


def _add_years(start: str, years: int) -> str:
    """Return the ISO date ``years`` after ``start`` (29 February falls back to the 28th)."""
    day = date.fromisoformat(start[:10])
    try:
        return day.replace(year=day.year + int(years)).isoformat()
    except ValueError:
        return day.replace(year=day.year + int(years), day=28).isoformat()


def _guarded(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except RestrictedCodeError as error:
        raise ScriptError(str(error)) from None
    except SpiffWorkflowException as error:
        task = getattr(error, "task", None)
        where = ""
        if task is not None and getattr(task.task_spec, "bpmn_id", None):
            where = f" en {task.task_spec.bpmn_id}"
        reason = error.args[0] if error.args else type(error).__name__
        raise ScriptError(f"Error del procedimiento{where}: {reason}") from None
