"""Limits on scripts and expressions: a runaway fails fast with a Spanish reason, ordinary scripts
run as before, and whatever SpiffWorkflow raises while a step runs becomes the engine's error."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine import ScriptError, ScriptLimitError, ScriptLimits
from engine.calendar import WorkingCalendar
from engine.limits import ScriptLimitExceeded
from engine.runtime import Runtime, settle_specs, spec_shape
from engine.sandbox import SandboxEnvironment

pytestmark = pytest.mark.unit

LIMITS = ScriptLimits(timeout=0.5, memory_bytes=96 * 1024 * 1024)

RUNAWAYS = {
    "endless loop": "while True:\n    pass",
    "loop that swallows the interruption": (
        "while True:\n    try:\n        while True:\n            pass\n    except:\n        pass"),
    "huge power": "n = 9\nx = n ** n ** n",
    "huge string": "x = 'a' * 10 ** 10",
    "huge list": "x = [0] * 10 ** 9",
    "huge shift": "x = 1 << 10 ** 10",
    "doubling string": "s = 'ab'\nwhile True:\n    s += s",
    "huge range": "x = list(range(10 ** 10))",
    "sum of a huge range": "x = sum(range(10 ** 12))",
    "deep recursion": "def f(n):\n    return f(n + 1)\nx = f(0)",
    "exponential recursion": (
        "def f(n):\n    return f(n - 1) + f(n - 1) if n else 1\nx = f(200)"),
    "padding method": "x = 'a'.ljust(10 ** 10)",
    "replace that multiplies": "x = ('a' * 1000).replace('a', 'b' * 100000)",
    "join of many copies": "x = ''.join(['a' * 100000] * 1000)",
    "f-string width": "w = 10 ** 10\nx = f'{1:>{w}}'",
    "percent width": "x = '%*d' % (10 ** 10, 1)",
    "nested comprehension": "x = [a for a in range(10 ** 5) for b in range(10 ** 5)]",
    "growing memory": "x = []\nwhile True:\n    x.append([1] * 500000)",
    "deep data": "x = []\nfor i in range(1000):\n    x = [x]",
    "large data": "x = []\nfor i in range(300):\n    x.append('z' * 10000)",
    "caught and ignored": "try:\n    x = 9 ** 9 ** 9\nexcept BaseException:\n    pass\ny = 1",
}


def _run(source: str, limits: ScriptLimits = LIMITS, helpers: dict[str, Any] | None = None,
         ) -> dict[str, Any]:
    context: dict[str, Any] = {}
    SandboxEnvironment(helpers or {}, limits).execute(source, context)
    return context


@pytest.mark.parametrize("name", sorted(RUNAWAYS))
def test_a_runaway_script_is_stopped_within_its_limit(name):
    started = time.monotonic()
    with pytest.raises(ScriptLimitExceeded) as stopped:
        _run(RUNAWAYS[name])
    assert time.monotonic() - started < LIMITS.timeout + 1
    assert stopped.value.kind in {"time", "memory", "size", "recursion", "depth", "data"}


def test_a_python_helper_that_never_returns_is_interrupted_by_the_watchdog():
    def spin() -> None:  # not compiled by the sandbox: no deadline checks inside
        while True:
            pass

    started = time.monotonic()
    with pytest.raises(ScriptLimitExceeded) as stopped:
        _run("spin()", helpers={"spin": spin})
    assert stopped.value.kind == "time"
    assert time.monotonic() - started < LIMITS.timeout + 1


def test_after_a_runaway_the_thread_runs_ordinary_scripts_undisturbed():
    for _ in range(3):
        with pytest.raises(ScriptLimitExceeded):
            _run("while True:\n    pass")
    # No interruption may arrive late, outside a script.
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        assert _run("x = 1 + 1")["x"] == 2


def test_ordinary_scripts_give_the_same_results_as_before():
    result = _run(
        "total = sum([i * 2 for i in range(10)]) + 1\n"
        "label = 'ab' * 3 + '-' + 'x'.ljust(3, '.')\n"
        "line = f'{total:>5}|{label!r}'\n"
        "items = [1, 2] + [3]\n"
        "big = 2 ** 64 << 3\n"
        "pct = '%05d' % 42\n"
        "inc = (lambda q: q + 1)(2)\n"
        "acc = 0\n"
        "for i in range(4):\n    acc += i\n"
        "words = ', '.join(['a', 'b'])\n"
        "n = 0\nwhile n < 3:\n    n += 1\n")
    assert result["total"] == 91 and result["label"] == "ababab-x.."
    assert result["line"] == "   91|'ababab-x..'"
    assert result["items"] == [1, 2, 3] and result["big"] == 2 ** 64 << 3
    assert result["pct"] == "00042" and result["inc"] == 3 and result["acc"] == 6
    assert result["words"] == "a, b" and result["n"] == 3


# -- the runtime: every failure of a step becomes a ScriptError naming the element ------------

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d"
    targetNamespace="https://cauce.example/test">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="x"/>
    {body}
    <bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
  {extra}
</bpmn:definitions>"""

SERVICE = """<bpmn:serviceTask id="x" name="Consultar registro"><bpmn:extensionElements>
  <spiffworkflow:serviceTaskOperator id="http/GetRequest" resultVariable="r"/>
</bpmn:extensionElements></bpmn:serviceTask>"""
MULTI_INSTANCE = """<bpmn:scriptTask id="x" name="Por cada ítem">
  <bpmn:multiInstanceLoopCharacteristics isSequential="false">
    <bpmn:loopDataInputRef>items</bpmn:loopDataInputRef><bpmn:inputDataItem id="item"/>
  </bpmn:multiInstanceLoopCharacteristics><bpmn:script>a = 1</bpmn:script></bpmn:scriptTask>"""
CORRELATION = ("""<bpmn:intermediateThrowEvent id="x" name="Avisar">
  <bpmn:messageEventDefinition messageRef="m"><bpmn:extensionElements>
    <spiffworkflow:messagePayload>{"a": 1}</spiffworkflow:messagePayload>
  </bpmn:extensionElements></bpmn:messageEventDefinition></bpmn:intermediateThrowEvent>""",
               """<bpmn:message id="m" name="msg"/><bpmn:correlationProperty id="cp" name="cp">
  <bpmn:correlationPropertyRetrievalExpression messageRef="m">
    <bpmn:formalExpression>missing_thing</bpmn:formalExpression>
  </bpmn:correlationPropertyRetrievalExpression></bpmn:correlationProperty>""")


def _definition(xml: str, process_id: str = "p") -> Any:
    """Parse straight with SpiffWorkflow: these diagrams need not pass Cauce's library."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(etree.fromstring(xml.encode()), filename=f"{process_id}.bpmn")
    return SimpleNamespace(spec=parser.get_spec(process_id),
                           subprocess_specs=parser.get_subprocess_specs(process_id),
                           side_branches=frozenset())


def _script(source: str, name: str = "Calcular") -> str:
    return HEAD.format(body=f'<bpmn:scriptTask id="x" name="{name}"><bpmn:script>{source}'
                            '</bpmn:script></bpmn:scriptTask>', extra="")


@pytest.mark.parametrize("body,extra,raw_error,element", [
    (SERVICE, "", NameError, "Consultar registro"),
    (MULTI_INSTANCE, "", TypeError, "x"),
    (*CORRELATION, NameError, "Avisar"),
])
def test_a_plain_exception_in_a_step_becomes_a_script_error_naming_the_element(
        body, extra, raw_error, element):
    definition = _definition(HEAD.format(body=body, extra=extra))
    with pytest.raises(raw_error):  # what SpiffWorkflow itself does
        BpmnWorkflow(definition.spec, definition.subprocess_specs).do_engine_steps()
    with pytest.raises(ScriptError) as failed:
        Runtime(WorkingCalendar()).start(_definition(HEAD.format(body=body, extra=extra)))
    assert f"en {element}:" in failed.value.message
    assert "Error" not in failed.value.message.split(":", 1)[1]  # no Python class names


def test_a_runaway_script_fails_with_the_spanish_message_and_the_default_limit():
    runtime = Runtime(WorkingCalendar())
    started = time.monotonic()
    with pytest.raises(ScriptLimitError) as failed:
        runtime.start(_definition(_script("while True:\n    pass")))
    assert time.monotonic() - started < 3
    assert failed.value.message.startswith(
        "El script de la tarea Calcular excedió el tiempo permitido (2 s)")
    assert failed.value.kind == "time" and failed.value.element == "Calcular"


def test_a_gateway_condition_that_runs_away_names_its_gateway():
    xml = HEAD.format(body="""<bpmn:exclusiveGateway id="x" name="¿Grande?" default="f3"/>
      <bpmn:sequenceFlow id="f3" sourceRef="x" targetRef="end"/>""", extra="").replace(
        '<bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="end"/>',
        '<bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="end"><bpmn:conditionExpression>'
        'len(str(7 ** 7 ** 7)) &gt; 3</bpmn:conditionExpression></bpmn:sequenceFlow>')
    with pytest.raises(ScriptLimitError) as failed:
        Runtime(WorkingCalendar(), LIMITS).start(_definition(xml))
    assert failed.value.message.startswith(
        "La expresión de ¿Grande? intentó construir un valor demasiado grande")


def test_data_too_deep_to_store_fails_the_script_that_built_it_not_the_encoder():
    runtime = Runtime(WorkingCalendar())
    with pytest.raises(ScriptLimitError) as failed:
        runtime.start(_definition(_script("x = []\nfor i in range(5000):\n    x = [x]")))
    assert failed.value.kind == "depth" and "Calcular" in failed.value.message


def test_saving_a_state_too_deep_to_encode_is_a_script_error_not_a_recursion_error():
    runtime = Runtime(WorkingCalendar())
    definition = _definition(HEAD.format(body='<bpmn:manualTask id="x" name="Revisar"/>',
                                         extra=""))
    workflow, _ = runtime.start(definition)
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    runtime.ready_human_tasks(workflow)[0].data["deep"] = deep
    with pytest.raises(ScriptLimitError) as failed:
        runtime.dump(workflow)
    assert "no se guardó nada" in failed.value.message


def test_a_process_that_calls_itself_ends_in_an_error_not_a_hang():
    xml = HEAD.format(body='<bpmn:callActivity id="x" name="Otra vez" calledElement="p"/>',
                      extra="")
    started = time.monotonic()
    with pytest.raises(ScriptLimitError) as failed:
        Runtime(WorkingCalendar()).start(_definition(xml))
    assert time.monotonic() - started < 5
    assert failed.value.kind in {"nesting", "steps"}
    assert "se llama a sí mismo" in failed.value.message


def test_an_endless_loop_of_engine_steps_ends_in_an_error():
    xml = HEAD.format(body="""<bpmn:exclusiveGateway id="x" default="back"/>
      <bpmn:scriptTask id="again" name="Otra vuelta"><bpmn:script>n = 1</bpmn:script>
      </bpmn:scriptTask>
      <bpmn:sequenceFlow id="back" sourceRef="x" targetRef="again"/>
      <bpmn:sequenceFlow id="loop" sourceRef="again" targetRef="x"/>""", extra="").replace(
        '<bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="end"/>',
        '<bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="end"><bpmn:conditionExpression>'
        'False</bpmn:conditionExpression></bpmn:sequenceFlow>')
    with pytest.raises(ScriptLimitError) as failed:
        Runtime(WorkingCalendar(), ScriptLimits(max_steps=300)).start(_definition(xml))
    assert failed.value.kind == "steps"


# -- event subprocesses: one immutable graph per version ---------------------------------------

EVENT_SUBPROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
    targetNamespace="https://cauce.example/test">
  <bpmn:process id="esp" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="throw"/>
    <bpmn:intermediateThrowEvent id="throw"><bpmn:signalEventDefinition signalRef="sig"/>
    </bpmn:intermediateThrowEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="throw" targetRef="work"/>
    <bpmn:manualTask id="work" name="Trabajar"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
    <bpmn:endEvent id="end"/>
    <bpmn:subProcess id="esub" triggeredByEvent="true">
      <bpmn:startEvent id="es_start" isInterrupting="false">
        <bpmn:signalEventDefinition signalRef="sig"/></bpmn:startEvent>
      <bpmn:sequenceFlow id="g1" sourceRef="es_start" targetRef="es_script"/>
      <bpmn:scriptTask id="es_script"><bpmn:script>reminded = True</bpmn:script>
      </bpmn:scriptTask>
      <bpmn:sequenceFlow id="g2" sourceRef="es_script" targetRef="es_end"/>
      <bpmn:endEvent id="es_end"/>
    </bpmn:subProcess>
  </bpmn:process>
  <bpmn:signal id="sig" name="ping"/>
</bpmn:definitions>"""


def test_a_signal_started_event_subprocess_no_longer_changes_the_shared_spec():
    definition = _definition(EVENT_SUBPROCESS, "esp")
    runtime = Runtime(WorkingCalendar())
    settle_specs(definition)
    shape = spec_shape(definition)
    fingerprints, finals = [], []
    for _ in range(3):
        workflow, _path = runtime.start(definition)
        fingerprints.append(runtime.fingerprint(workflow))
        workflow = runtime.restore(definition, runtime.dump(workflow))
        runtime.complete(workflow, runtime.ready_human_tasks(workflow)[0], {})
        finals.append(workflow.last_task.data)
        assert workflow.completed
    assert spec_shape(definition) == shape
    assert len(set(fingerprints)) == 1
    assert finals == [{"reminded": True}] * 3


def test_without_settling_spiffworkflow_runs_the_first_case_on_a_different_graph():
    # The trap itself, shown on raw SpiffWorkflow: if it stops happening, settle_specs can go.
    definition = _definition(EVENT_SUBPROCESS, "esp")
    sizes = []
    for _ in range(2):
        workflow = BpmnWorkflow(definition.spec, definition.subprocess_specs)
        workflow.do_engine_steps()
        sizes.append(len(workflow.get_tasks()))
    assert sizes[0] != sizes[1]


def test_dates_and_decimals_a_script_builds_survive_saving_and_restoring():
    runtime = Runtime(WorkingCalendar())
    source = ("due = datetime(2026, 3, 2, 10, 0) + timedelta(days=3)\n"
              "day = date(2026, 3, 5)\nfee = Decimal('12.50')")
    xml = _script(source).replace(
        '<bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="end"/>',
        '<bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="wait"/><bpmn:manualTask id="wait"/>'
        '<bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="end"/>')
    definition = _definition(xml)
    workflow, _ = runtime.start(definition)
    restored = runtime.restore(definition, runtime.dump(workflow))
    data = runtime.snapshot(restored).data
    assert data["due"].isoformat() == "2026-03-05T10:00:00"
    assert data["day"].isoformat() == "2026-03-05" and str(data["fee"]) == "12.50"
    assert runtime.fingerprint(restored) == runtime.fingerprint(workflow)


@pytest.mark.parametrize("source,shown", [
    ("x = {1, 2}", "«x» (set)"), ("x = {1: 'a'}", "«x» (claves que no son texto)"),
    ("x = 'ab'.encode()", "«x» (bytes)"), ("x = range(3)", "«x» (range)"),
])
def test_a_value_that_cannot_be_stored_fails_the_script_that_left_it(source, shown):
    with pytest.raises(ScriptLimitError) as failed:
        Runtime(WorkingCalendar()).start(_definition(_script(source)))
    assert failed.value.message.startswith(
        f"El script de la tarea Calcular dejó en {shown} un valor que no se puede guardar")


def test_many_scripts_each_within_its_limit_still_end_at_the_action_limit():
    steps = "".join(
        f'<bpmn:scriptTask id="s{i}" name="Paso {i}"><bpmn:script>pause()</bpmn:script>'
        f'</bpmn:scriptTask><bpmn:sequenceFlow id="g{i}" sourceRef="s{i}" targetRef="s{i + 1}"/>'
        for i in range(1, 6))
    xml = HEAD.format(body=steps.replace('targetRef="s6"', 'targetRef="x"')
                      + '<bpmn:manualTask id="x"/>', extra="").replace(
        'targetRef="x"/>\n', 'targetRef="s1"/>\n', 1)
    runtime = Runtime(WorkingCalendar(), ScriptLimits(timeout=0.5, step_timeout=0.5))
    runtime.script_engine.environment.globals["pause"] = lambda: time.sleep(0.3)
    started = time.monotonic()
    with pytest.raises(ScriptLimitError) as failed:
        runtime.start(_definition(xml))
    assert time.monotonic() - started < 1.5
    assert failed.value.kind == "step_time"
    assert "tiempo permitido para una sola acción (0.5 s" in failed.value.message
