"""Running a case's workflow: create, restore, act, and describe it (SpiffWorkflow only)."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from .audit import canonical_json
from .calendar import WorkingCalendar
from .clock import install_spiff_clock
from .errors import ScriptError
from .library import ProcessDefinition, spiff_serializer
from .sandbox import RestrictedCodeError, sandboxed_script_engine

_LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


class Runtime:
    """Create and restore workflows with the sandboxed script engine, and act on them."""

    def __init__(self, calendar: WorkingCalendar):
        install_spiff_clock()
        self.calendar = calendar
        self.serializer = spiff_serializer()
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
        stored = json.loads(zlib.decompress(state))
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
        state.pop("spec")
        state.pop("subprocess_specs")
        state[self.serializer.VERSION_KEY] = self.serializer.VERSION
        return zlib.compress(json.dumps(state, separators=(",", ":")).encode(), 6)

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
        for task in self.ready_human_tasks(workflow):
            if str(task.id) == task_id:
                return task
        return None

    def complete(self, workflow: BpmnWorkflow, task: Task, data: dict[str, Any]) -> list[str]:
        """Complete a human task with its form data; return the engine path it triggered."""
        task.set_data(**data)
        _guarded(task.run)
        return self.run_engine(workflow)

    def fire_timers(self, workflow: BpmnWorkflow) -> list[str]:
        """Fire every timer whose moment has passed; return the ids of those that fired."""
        before = self.pending_timers(workflow)
        _guarded(workflow.refresh_timers)
        path = self.run_engine(workflow)
        after = self.pending_timers(workflow)
        return [timer for timer in before if timer not in after or timer in path]

    # -- describing -------------------------------------------------------------------------

    def pending_timers(self, workflow: BpmnWorkflow) -> dict[str, datetime]:
        """Return the moment each waiting (non-cyclic) timer fires, by BPMN id."""
        pending = {}
        for task in workflow.top_workflow.event_manager.tasks.values():
            definition = getattr(task.task_spec, "event_definition", None)
            if not isinstance(definition, TimerEventDefinition) or isinstance(
                    definition, CycleTimerEventDefinition):
                continue
            value = task._get_internal_data("event_value")
            if isinstance(value, str):
                pending[task.task_spec.bpmn_id] = TimerEventDefinition.get_datetime(value)
        return pending

    def current_data(self, workflow: BpmnWorkflow,
                     side_branches: frozenset[str] = frozenset()) -> dict[str, Any]:
        """Return the case's data as it stands.

        That is the data of the main flow's READY tasks (or, once the main flow has ended, of
        its end event), plus whatever side branches added that the main flow does not have.
        Waiting events hold stale copies and are ignored.
        """
        ready = [t for t in workflow.get_tasks(state=TaskState.READY | TaskState.ERROR)
                 if t.task_spec.bpmn_id]
        main = [t for t in ready if t.task_spec.bpmn_id not in side_branches]
        side = [t for t in ready if t.task_spec.bpmn_id in side_branches]
        ends = self._reached_ends(workflow)
        side += [t for t in ends if t.task_spec.bpmn_id in side_branches]
        if not main:
            main = [t for t in ends if t.task_spec.bpmn_id not in side_branches][-1:]
        if not main:
            waiting = list(workflow.get_tasks(state=TaskState.WAITING))
            main = waiting[:1] or ([workflow.last_task] if workflow.last_task else [])
        merged: dict[str, Any] = {}
        for task in main:
            merged.update(task.data)
        for task in side:
            for key, value in task.data.items():
                merged.setdefault(key, value)
        return merged

    def _reached_ends(self, workflow: BpmnWorkflow) -> list[Task]:
        ends = [t for t in workflow.get_tasks(state=TaskState.COMPLETED, skip_subprocesses=True)
                if type(t.task_spec).__name__ == "EndEvent" and t.task_spec.bpmn_id]
        ends.sort(key=lambda t: t.last_state_change)
        return ends

    def reached_end_events(self, workflow: BpmnWorkflow) -> list[str]:
        """Return the BPMN ids of the top-level end events reached, in order."""
        return [t.task_spec.bpmn_id for t in self._reached_ends(workflow)]

    def fingerprint(self, workflow: BpmnWorkflow) -> bytes:
        """Return a hash of the workflow's meaning: task states and live data, no random ids.

        A replay that re-executes the same events produces the same fingerprint, although
        SpiffWorkflow draws new task ids and timestamps.
        """
        tasks, live = [], []
        for task in workflow.get_tasks():
            tasks.append((task.workflow.spec.name, task.task_spec.name, int(task.state)))
            if task.state & _LIVE:
                live.append((task.workflow.spec.name, task.task_spec.name, task.data))
        payload = {"tasks": tasks, "live": live, "completed": workflow.completed}
        if workflow.completed and workflow.last_task is not None:
            payload["final"] = workflow.last_task.data
        return hashlib.sha256(canonical_json(payload).encode()).digest()


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
