"""The runtime's own tree walks and engine-step loop see and run exactly what SpiffWorkflow's
would: the same tasks in the same order, the same fingerprints, cut or uncut, on a loop through
a parallel split and join, an inclusive split, an embedded subprocess, a call activity, a
multi-instance task and a boundary timer."""

from __future__ import annotations

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine import compaction, runtime
from engine.calendar import WorkingCalendar
from engine.runtime import Runtime, all_tasks, ready_tasks
from tests.unit.test_compaction import ROUNDS, _definition

pytestmark = pytest.mark.unit


def _new(rt: Runtime, definition, *, cut: bool) -> BpmnWorkflow:
    workflow = BpmnWorkflow(definition.spec, definition.subprocess_specs,
                            script_engine=rt.script_engine)
    if cut:
        compaction.enable(workflow)
    workflow.get_tasks(state=TaskState.READY)[0].data["rounds"] = ROUNDS
    return workflow


def _library_step(workflow: BpmnWorkflow, task, data) -> None:
    """Complete a task the way SpiffWorkflow alone would: its own do_engine_steps."""
    task.set_data(**data)
    task.run()
    workflow.do_engine_steps()
    compaction.compact(workflow)


def _same_walks(workflow: BpmnWorkflow) -> None:
    assert all_tasks(workflow) == workflow.get_tasks()
    scopes = [workflow, *workflow.subprocesses.values()]
    for scope in scopes:
        assert ready_tasks(scope, workflow) == scope.get_tasks(state=TaskState.READY)


@pytest.mark.parametrize("cut", [True, False], ids=["cut", "uncut"])
def test_the_runtime_walks_and_steps_a_loop_exactly_as_spiffworkflow_does(cut):
    rt = Runtime(WorkingCalendar())
    definition = _definition()
    ours, theirs = _new(rt, definition, cut=cut), _new(rt, definition, cut=cut)
    rt.run_engine(ours)
    theirs.do_engine_steps()
    compaction.compact(theirs)

    steps = 0
    while not theirs.completed:
        _same_walks(ours)
        _same_walks(theirs)
        assert rt.fingerprint(ours) == rt.fingerprint(theirs)
        data = {"answer": steps}
        rt.complete(ours, rt.ready_human_tasks(ours)[0], data)
        _library_step(theirs, rt.ready_human_tasks(theirs)[0], data)
        steps += 1

    assert ours.completed and steps == 3 * ROUNDS
    assert rt.fingerprint(ours) == rt.fingerprint(theirs)
    assert ours.last_task.data == theirs.last_task.data


def test_a_tree_too_big_for_a_direct_walk_is_left_to_spiffworkflow(monkeypatch):
    rt = Runtime(WorkingCalendar())
    definition = _definition()
    small, big = _new(rt, definition, cut=False), _new(rt, definition, cut=False)
    fingerprints = []
    for workflow, limit in ((small, 1000), (big, 5)):
        with monkeypatch.context() as patch:
            # Past the limit SpiffWorkflow's own iterator (and its depth cap) is what counts.
            patch.setattr(runtime, "_WALK_LIMIT", limit)
            rt.run_engine(workflow)
            for step in range(6):
                _same_walks(workflow)
                rt.complete(workflow, rt.ready_human_tasks(workflow)[0], {"answer": step})
            fingerprints.append(rt.fingerprint(workflow))
    assert fingerprints[0] == fingerprints[1]
