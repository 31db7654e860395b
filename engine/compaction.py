"""Keep a case's live workflow bounded: finished history leaves the SpiffWorkflow task tree.

SpiffWorkflow keeps every task a case ever ran in one tree, and every pass of a loop hangs the
next pass below the last one. The tree only grows: each step walks more of it, the stored state
grows with it, and past 1,000 levels ``get_tasks()`` stops looking (its ``max_depth``), so a
looping case silently stops offering its next task. The hash-chained event log already keeps
the history, so after every step the finished part of the tree is cut away:

* in each workflow (the case's, and each running subprocess's) every unfinished task descends
  from one deepest COMPLETED task, the *anchor*; whatever lies above the anchor, or beside the
  path to it, is finished history, and the anchor is hung directly under the root;
* the subprocesses of the call activities cut away are dropped with them;
* a few finished tasks are kept as leaves under the root because something still reads them:
  the workflow's ``last_task``, the case's completed end events (the case's data and outcome
  come from them) and the last instance of each timer (its moment stays the deadline of the
  work it bounded).

Nothing unfinished is ever moved, so a waiting task still inherits from the parent it had, and
a join still finds its split and its sibling branches (they all lie below the anchor). The cut
is a pure function of the tree, applied after the same engine steps live and in a replay, so a
replay reproduces the same trees and the same fingerprints.

Cases opt in when they start (``enable``): a case started before this existed was recorded with
full trees, and its replay must keep reproducing them.
"""

from __future__ import annotations

from uuid import UUID

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.util.subworkflow import BpmnBaseWorkflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

# The format of the cut, recorded in the root task and in the case's first event; a replay cuts
# the same way only for cases recorded with it.
VERSION = 1
_MARK = "cauce_compaction"
_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED


def enable(workflow: BpmnWorkflow) -> None:
    """Mark a new case's workflow so that every later step keeps it compact."""
    workflow.task_tree.internal_data[_MARK] = VERSION


def enabled(workflow: BpmnWorkflow) -> bool:
    """Tell whether this workflow is kept compact (cases started before it was are not)."""
    return bool(workflow.task_tree.internal_data.get(_MARK) == VERSION)


def compact(workflow: BpmnWorkflow) -> int:
    """Cut the finished history out of a compacted workflow; return how many tasks were cut."""
    if not enabled(workflow):
        return 0
    removed = 0
    for scope in [workflow, *workflow.subprocesses.values()]:
        # A subprocess dropped with its call activity earlier in this loop is gone already.
        if scope is workflow or scope.parent_task_id in workflow.subprocesses:
            removed += _compact_scope(workflow, scope)
    return removed


def task_count(workflow: BpmnWorkflow) -> int:
    """Return how many tasks the workflow and its subprocesses hold (to check the bound)."""
    return len(workflow.tasks) + sum(len(sp.tasks) for sp in workflow.subprocesses.values())


def _compact_scope(top: BpmnWorkflow, scope: BpmnBaseWorkflow) -> int:
    root = scope.task_tree
    # Tasks by their id's integer, and sets of id(task): a UUID hashes in Python, an int in C,
    # and this runs after every step of every case (and of every replayed event).
    by_int = {task.id.int: task for task in scope.tasks.values()}
    anchor = _anchor(scope, by_int)
    if anchor is None or root._children == [anchor.id]:
        return 0
    order = _preorder(root, by_int)
    below = {id(task) for task in _preorder(anchor, by_int)}
    leaves = _leaves_to_keep(top, scope, order, below)
    kept = len(below) + len(leaves) + 1
    if kept == len(scope.tasks):
        return 0
    gone = [task for task in order
            if task is not root and id(task) not in below and id(task) not in leaves]
    # Drop the subprocesses of cut call activities while the tree still finds their callers.
    subprocesses = top.subprocesses
    for task in gone:
        if task.id in subprocesses:
            top.delete_subprocess(task)
    for task in gone:
        top.event_manager.remove_task(task)
    root._children = [task.id for task in order if id(task) in leaves or task is anchor]
    for task in order:
        if id(task) in leaves:
            task._parent, task._children = root.id, []
    anchor._parent = root.id
    tasks = scope.tasks
    for task in gone:
        del tasks[task.id]
    if len(tasks) != kept:  # a task the tree no longer reaches goes as well
        scope.tasks = {task_id: task for task_id, task in tasks.items()
                       if id(task) in below or id(task) in leaves or task is root}
    return len(gone)


def _anchor(scope: BpmnBaseWorkflow, by_int: dict[int, Task]) -> Task | None:
    """Return the deepest COMPLETED task every unfinished task descends from (None: no cut)."""
    # The int-keyed task map rather than Task.parent: this runs after every step of every case.
    live = [task for task in by_int.values() if not task._state & _FINISHED]
    if not live:
        # A finished subprocess stays as it is until its caller is cut.
        return None
    path = _path_from_root(live[0], by_int)
    on_path = {id(task): depth for depth, task in enumerate(path)}
    deepest = len(path) - 1
    for task in live[1:]:
        current: Task | None = task
        while current is not None and id(current) not in on_path:
            parent: UUID | None = current._parent
            current = by_int.get(parent.int) if parent is not None else None
        if current is None:
            return None
        deepest = min(deepest, on_path[id(current)])
    for task in reversed(path[:deepest + 1]):
        if task._state == TaskState.COMPLETED:
            return None if task is scope.task_tree else task
    return None


def _leaves_to_keep(top: BpmnWorkflow, scope: BpmnBaseWorkflow, order: list[Task],
                    below: set[int]) -> set[int]:
    """Return the finished tasks outside the anchor's subtree that must stay (as leaves).

    Tasks are named by ``id(task)``, as in ``below``.
    """
    keep: set[int] = set()
    last = scope.last_task
    if last is not None and id(last) not in below and last is not scope.task_tree:
        keep.add(id(last))
    timers: dict[str, int] = {}
    current_timers: set[str] = set()
    for task in order:
        if task is scope.task_tree:
            continue
        spec = task.task_spec
        if id(task) in below:
            if _has_moment(task):
                current_timers.add(spec.name)
            continue
        if scope is top and task._state == TaskState.COMPLETED and isinstance(spec, EndEvent) \
                and spec.bpmn_id:
            keep.add(id(task))
        elif _has_moment(task):
            timers[spec.name] = id(task)
    keep.update(task_id for name, task_id in timers.items() if name not in current_timers)
    return keep


def _has_moment(task: Task) -> bool:
    definition = getattr(task.task_spec, "event_definition", None)
    return (isinstance(definition, TimerEventDefinition)
            and not isinstance(definition, CycleTimerEventDefinition)
            and isinstance(task.internal_data.get("event_value"), str))


def _path_from_root(task: Task, by_int: dict[int, Task]) -> list[Task]:
    path = []
    current: Task | None = task
    while current is not None:
        path.append(current)
        parent: UUID | None = current._parent
        current = by_int.get(parent.int) if parent is not None else None
    path.reverse()
    return path


def _preorder(start: Task, by_int: dict[int, Task]) -> list[Task]:
    """Return the subtree of ``start`` in tree order (iteratively: trees may be deep once)."""
    out, stack = [], [start]
    while stack:
        task = stack.pop()
        out.append(task)
        stack.extend(by_int[child.int] for child in reversed(task._children))
    return out
