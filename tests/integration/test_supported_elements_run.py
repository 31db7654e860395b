"""Every element kind the library accepts runs in the engine: a small process per kind is started,
its human tasks completed and its timers fired by the fake clock until the case ends, and the
case's log replays."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import ProcessLibrary
from engine.library import compile_bundle
from tests.conftest import FakeClock, make_engine
from tests.unit import test_library_coverage as kinds

pytestmark = pytest.mark.integration

PERSON = "oficinista"
_SUB = ('<bpmn:startEvent id="s_start" />' + kinds.user("inside") + '<bpmn:endEvent id="s_end" />'
        + kinds.flows("s_start", "inside", "s_end"))
_CALLED = ('<bpmn:process id="q" isExecutable="true"><bpmn:startEvent id="q_start" />'
           '<bpmn:scriptTask id="qs"><bpmn:script>y = 2</bpmn:script></bpmn:scriptTask>'
           '<bpmn:endEvent id="q_end" />' + kinds.flows("q_start", "qs", "q_end")
           + "</bpmn:process>")
_CAUGHT = (kinds.linear('<bpmn:subProcess id="sub"><bpmn:startEvent id="s_start" />'
                        + kinds.user("inside") + '<bpmn:endEvent id="raise"><bpmn:{kind}'
                        'EventDefinition {ref}="ev" /></bpmn:endEvent>'
                        + kinds.flows("s_start", "inside", "raise") + "</bpmn:subProcess>",
                        ids=("sub",)).replace("{", "{{").replace("}", "}}")
           .replace("{{kind}}", "{kind}").replace("{{ref}}", "{ref}")
           + '<bpmn:boundaryEvent id="caught" attachedToRef="sub"><bpmn:{kind}EventDefinition '
           '{ref}="ev" /></bpmn:boundaryEvent>'
           + (kinds.user("handle") + '<bpmn:endEvent id="handled" />'
              + kinds.flows("caught", "handle", "handled")).replace("{", "{{").replace("}", "}}"))
_ERROR = '<bpmn:error id="ev" name="Problema" errorCode="E1" />'
_ESCALATION = '<bpmn:escalation id="ev" name="Problema" escalationCode="X1" />'
CASES = {
    "manual task (start → manual → end)": (
        kinds.linear('<bpmn:manualTask id="sign" name="Firmar" />', ids=("sign",)), "", ["sign"]),
    "plain task": (kinds.linear('<bpmn:task id="todo" />', ids=("todo",)), "", ["todo"]),
    "user task": (kinds.linear(kinds.user("fill"), ids=("fill",)), "", ["fill"]),
    "script task": (kinds.linear('<bpmn:scriptTask id="s"><bpmn:script>x = 1</bpmn:script>'
                                 "</bpmn:scriptTask>", ids=("s",)), "", []),
    "parallel gateway": (kinds._split("parallelGateway", default="", condition=""), "",
                         ["a", "b"]),
    "exclusive gateway": (kinds._split("exclusiveGateway", condition="False"), "", ["b"]),
    "embedded subprocess": (kinds.linear(f'<bpmn:subProcess id="sub">{_SUB}</bpmn:subProcess>',
                                         ids=("sub",)), "", ["inside"]),
    "transaction": (kinds.linear(f'<bpmn:transaction id="tx">{_SUB}</bpmn:transaction>',
                                 ids=("tx",)), "", ["inside"]),
    "call activity": (kinds.linear('<bpmn:callActivity id="call" calledElement="q" />',
                                   ids=("call",)), _CALLED, []),
    "unquoted duration on an interrupting boundary timer": (
        kinds._timer_on_task("timeDuration", "P15D"), "", ["fill"]),
    "unquoted duration on an intermediate timer": (
        kinds.linear('<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>'
                     "<bpmn:timeDuration>P2D</bpmn:timeDuration>"
                     "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>",
                     ids=("wait",)), "", []),
    "unquoted date on an intermediate timer": (
        kinds.linear('<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>'
                     "<bpmn:timeDate>2026-03-10T09:00:00Z</bpmn:timeDate>"
                     "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>",
                     ids=("wait",)), "", []),
    "sequential multi-instance": (
        kinds._looped('<bpmn:multiInstanceLoopCharacteristics isSequential="true">'
                      "<bpmn:loopCardinality>2</bpmn:loopCardinality>"
                      "</bpmn:multiInstanceLoopCharacteristics>"), "", ["each", "each"]),
    # The default branch runs only when no condition holds.
    "inclusive gateway": (kinds._split("inclusiveGateway", condition="True"), "", ["a"]),
    "parallel multi-instance": (
        kinds._looped('<bpmn:multiInstanceLoopCharacteristics isSequential="false">'
                      "<bpmn:loopCardinality>2</bpmn:loopCardinality>"
                      "</bpmn:multiInstanceLoopCharacteristics>"), "", ["each", "each"]),
    "standard loop": (
        kinds._looped("<bpmn:standardLoopCharacteristics><bpmn:loopCondition>False"
                      "</bpmn:loopCondition></bpmn:standardLoopCharacteristics>"), "", ["each"]),
    "error end caught by a boundary event": (_CAUGHT.format(kind="error", ref="errorRef"),
                                             _ERROR, ["inside", "handle"]),
    "escalation end caught by a boundary event": (
        _CAUGHT.format(kind="escalation", ref="escalationRef"), _ESCALATION,
        ["inside", "handle"]),
    "non-interrupting boundary timer": (
        kinds._timer_on_task("timeDuration", "PT1H", cancel="false"), "", ["fill"]),
    "timer start event": (
        '<bpmn:startEvent id="start"><bpmn:timerEventDefinition><bpmn:timeDuration>P1D'
        "</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:startEvent>"
        + kinds.user("fill") + '<bpmn:endEvent id="end" />'
        + kinds.flows("start", "fill", "end"), "", ["fill"]),
    "message sent to nobody (a send task)": (
        kinds.linear('<bpmn:sendTask id="notify" messageRef="m" />', ids=("notify",)),
        '<bpmn:message id="m" name="aviso" />', []),
    "terminate end event": (
        kinds.linear(kinds.user("fill"), ids=("fill",)).replace(
            '<bpmn:endEvent id="end" />',
            '<bpmn:endEvent id="end"><bpmn:terminateEventDefinition /></bpmn:endEvent>'),
        "", ["fill"]),
    "cancel end event caught on its transaction": (
        kinds.linear('<bpmn:transaction id="tx"><bpmn:startEvent id="t_s" />'
                     + kinds.user("inside") + '<bpmn:endEvent id="t_e">'
                     "<bpmn:cancelEventDefinition /></bpmn:endEvent>"
                     + kinds.flows("t_s", "inside", "t_e") + "</bpmn:transaction>", ids=("tx",))
        + '<bpmn:boundaryEvent id="cancelled" attachedToRef="tx"><bpmn:cancelEventDefinition />'
        "</bpmn:boundaryEvent>" + kinds.user("after") + '<bpmn:endEvent id="e2" />'
        + kinds.flows("cancelled", "after", "e2"), "", ["inside", "after"]),
    "conditional intermediate event": (
        kinds.linear('<bpmn:intermediateCatchEvent id="until"><bpmn:conditionalEventDefinition>'
                     '<bpmn:condition xsi:type="bpmn:tFormalExpression">True</bpmn:condition>'
                     "</bpmn:conditionalEventDefinition></bpmn:intermediateCatchEvent>",
                     ids=("until",)), "", []),
    "receive task bounded by an interrupting timer": (
        kinds.linear('<bpmn:receiveTask id="reply" messageRef="m" />', ids=("reply",))
        + '<bpmn:boundaryEvent id="late" attachedToRef="reply"><bpmn:timerEventDefinition>'
        "<bpmn:timeDuration>P7D</bpmn:timeDuration></bpmn:timerEventDefinition>"
        '</bpmn:boundaryEvent><bpmn:endEvent id="late_end" />' + kinds.flows("late", "late_end"),
        '<bpmn:message id="m" name="respuesta" />', []),
    "signal thrown and caught by an event subprocess": (
        kinds.linear('<bpmn:intermediateThrowEvent id="shout"><bpmn:signalEventDefinition '
                     'signalRef="s" /></bpmn:intermediateThrowEvent>', kinds.user("fill"),
                     ids=("shout", "fill"))
        + '<bpmn:subProcess id="on_signal" triggeredByEvent="true"><bpmn:startEvent '
        'id="heard" isInterrupting="false"><bpmn:signalEventDefinition signalRef="s" />'
        '</bpmn:startEvent><bpmn:endEvent id="heard_end" />'
        + kinds.flows("heard", "heard_end") + "</bpmn:subProcess>",
        '<bpmn:signal id="s" name="aviso" />', ["fill"]),
}


def _run(database_url: str, clock: FakeClock, body: str, extra: str,
         tmp_path: Path) -> tuple[list[str], str]:
    library = ProcessLibrary(compile_bundle(kinds.bundle(body, extra=extra)))
    engine = make_engine(database_url, library, clock, tmp_path / "documents")
    try:
        engine.add_person(PERSON, "Olga Oficinista", positions=("Oficinista",))
        case = engine.start_case("p", by=PERSON)
        done: list[str] = []
        for _ in range(40):
            if case.status != "open":
                break
            if case.open_tasks:
                task = case.open_tasks[0]
                done.append(task.activity_id)
                case = engine.complete_task(task.task_id, by=PERSON, form_data={})
            else:
                clock.advance(days=1)
                engine.fire_due_timers()
                case = engine.case(case.id, by=PERSON)
        assert engine.replay(case.id, by=PERSON).proven
        return done, case.status
    finally:
        engine.sql.dispose()


@pytest.mark.parametrize("kind", sorted(CASES))
def test_an_accepted_element_runs_to_the_end_and_replays(kind, database_url, clock, tmp_path):
    body, extra, expected_tasks = CASES[kind]
    done, status = _run(database_url, clock, body, extra, tmp_path)
    assert (sorted(done), status) == (sorted(expected_tasks), "completed")
