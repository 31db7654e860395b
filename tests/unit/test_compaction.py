"""Cutting finished history out of the task tree changes nothing a case can observe: a loop
through a parallel split and join, an inclusive split and join, an embedded subprocess, a call
activity, a multi-instance task and a boundary timer runs step for step like the uncut one."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine import compaction
from engine.calendar import WorkingCalendar
from engine.runtime import Runtime

pytestmark = pytest.mark.unit

ROUNDS = 20

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="loop" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:scriptTask id="init"><bpmn:script>count = 0
total = 0</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="again"/>
    <bpmn:parallelGateway id="fork"/>
    <bpmn:scriptTask id="left"><bpmn:script>left_seen = count</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="review"/>
    <bpmn:boundaryEvent id="remind" attachedToRef="review" cancelActivity="false">
      <bpmn:timerEventDefinition><bpmn:timeDuration>"P30D"</bpmn:timeDuration>
      </bpmn:timerEventDefinition></bpmn:boundaryEvent>
    <bpmn:endEvent id="reminded"/>
    <bpmn:parallelGateway id="merge"/>
    <bpmn:inclusiveGateway id="choose" default="f_always"/>
    <bpmn:scriptTask id="even"><bpmn:script>evens = count</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="always"><bpmn:script>total = total + count</bpmn:script></bpmn:scriptTask>
    <bpmn:inclusiveGateway id="chosen"/>
    <bpmn:subProcess id="inner">
      <bpmn:startEvent id="inner_start"/>
      <bpmn:userTask id="inner_task"/>
      <bpmn:endEvent id="inner_end"/>
      <bpmn:sequenceFlow id="i1" sourceRef="inner_start" targetRef="inner_task"/>
      <bpmn:sequenceFlow id="i2" sourceRef="inner_task" targetRef="inner_end"/>
    </bpmn:subProcess>
    <bpmn:callActivity id="call" calledElement="child"/>
    <bpmn:scriptTask id="each">
      <bpmn:multiInstanceLoopCharacteristics isSequential="false">
        <bpmn:loopCardinality>3</bpmn:loopCardinality>
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:script>item = count</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="next"><bpmn:script>count = count + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="more" default="f_done"/>
    <bpmn:endEvent id="done"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="init"/>
    <bpmn:sequenceFlow id="f2" sourceRef="init" targetRef="again"/>
    <bpmn:sequenceFlow id="f3" sourceRef="again" targetRef="fork"/>
    <bpmn:sequenceFlow id="f4" sourceRef="fork" targetRef="left"/>
    <bpmn:sequenceFlow id="f5" sourceRef="fork" targetRef="review"/>
    <bpmn:sequenceFlow id="f6" sourceRef="left" targetRef="merge"/>
    <bpmn:sequenceFlow id="f7" sourceRef="review" targetRef="merge"/>
    <bpmn:sequenceFlow id="f_remind" sourceRef="remind" targetRef="reminded"/>
    <bpmn:sequenceFlow id="f8" sourceRef="merge" targetRef="choose"/>
    <bpmn:sequenceFlow id="f_even" sourceRef="choose" targetRef="even">
      <bpmn:conditionExpression>count % 2 == 0</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_always" sourceRef="choose" targetRef="always"/>
    <bpmn:sequenceFlow id="f9" sourceRef="even" targetRef="chosen"/>
    <bpmn:sequenceFlow id="f10" sourceRef="always" targetRef="chosen"/>
    <bpmn:sequenceFlow id="f11" sourceRef="chosen" targetRef="inner"/>
    <bpmn:sequenceFlow id="f12" sourceRef="inner" targetRef="call"/>
    <bpmn:sequenceFlow id="f13" sourceRef="call" targetRef="each"/>
    <bpmn:sequenceFlow id="f14" sourceRef="each" targetRef="next"/>
    <bpmn:sequenceFlow id="f15" sourceRef="next" targetRef="more"/>
    <bpmn:sequenceFlow id="f_again" sourceRef="more" targetRef="again">
      <bpmn:conditionExpression>count &lt; rounds</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_done" sourceRef="more" targetRef="done"/>
  </bpmn:process>
  <bpmn:process id="child" isExecutable="true">
    <bpmn:startEvent id="child_start"/>
    <bpmn:userTask id="child_task"/>
    <bpmn:endEvent id="child_end"/>
    <bpmn:sequenceFlow id="c1" sourceRef="child_start" targetRef="child_task"/>
    <bpmn:sequenceFlow id="c2" sourceRef="child_task" targetRef="child_end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _definition() -> Any:
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(BPMN.encode(), "loop.bpmn")
    return SimpleNamespace(spec=parser.get_spec("loop"),
                           subprocess_specs=parser.get_subprocess_specs("loop"))


def _observed(workflow: BpmnWorkflow) -> list[tuple[str, str, dict[str, Any]]]:
    """Return what a case shows: its ready and waiting tasks with their data, in tree order."""
    return [(t.task_spec.bpmn_id, TaskState.get_name(t.state), dict(t.data))
            for t in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING)
            if t.task_spec.bpmn_id]


def test_a_compacted_loop_runs_step_for_step_like_the_uncut_one_and_stays_small():
    runtime = Runtime(WorkingCalendar())
    definition = _definition()
    cut = BpmnWorkflow(definition.spec, definition.subprocess_specs,
                       script_engine=runtime.script_engine)
    whole = BpmnWorkflow(definition.spec, definition.subprocess_specs,
                         script_engine=runtime.script_engine)
    compaction.enable(cut)
    for workflow in (cut, whole):
        workflow.get_tasks(state=TaskState.READY)[0].data["rounds"] = ROUNDS
        runtime.run_engine(workflow)

    sizes, steps = [], 0
    while not whole.completed:
        assert _observed(cut) == _observed(whole)
        for workflow in (cut, whole):
            task = runtime.ready_human_tasks(workflow)[0]
            runtime.complete(workflow, task, {f"{task.task_spec.bpmn_id}_done": steps})
        # What is stored and restored is what runs next.
        cut = runtime.restore(definition, runtime.dump(cut))
        sizes.append(compaction.task_count(cut))
        steps += 1

    assert cut.completed and steps == 3 * ROUNDS
    assert cut.last_task.data == whole.last_task.data
    # The default flow of an inclusive split runs only when no condition holds: odd rounds.
    assert cut.last_task.data["total"] == sum(c for c in range(ROUNDS) if c % 2)
    assert compaction.task_count(whole) > 20 * ROUNDS
    # The same few tasks every round, whatever the round; the finished case keeps its last one.
    assert sizes[:-1] == sizes[:3] * (ROUNDS - 1) + sizes[:2]
    assert max(sizes) < 30
