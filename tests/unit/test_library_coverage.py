"""Element by element: what the process library accepts (because the engine runs it) and what it
refuses, with the reason. The README's "Supported BPMN and DMN elements" table is this file in
prose."""

from __future__ import annotations

import json
import re

import pytest
from lxml import etree

from engine import ProcessDefinitionError
from engine.library import ProcessDefinition, compile_bundle

pytestmark = pytest.mark.unit

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs" targetNamespace="https://cauce.example/test">
"""
FORM = ('<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property '
        'name="formJsonSchemaFilename" value="generico.json" /></spiffworkflow:properties>'
        '</bpmn:extensionElements>')
FLOW_NODES = {
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
    "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
    "boundaryEvent", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
    "eventBasedGateway", "complexGateway",
}
DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="{namespace}" id="defs_fee" name="Tarifa" namespace="https://cauce.example/dmn">
  <decision id="fee_decision" name="Tarifa">
    <decisionTable id="fee_table" hitPolicy="UNIQUE">
      <input id="in_type" label="Tipo">
        <inputExpression id="in_type_expr" typeRef="string"><text>{input}</text></inputExpression>
      </input>
      <output id="out_fee" label="Tarifa" name="fee" typeRef="number" />
      <rule id="r1">
        <inputEntry id="r1_in"><text>"A"</text></inputEntry>
        <outputEntry id="r1_out"><text>100</text></outputEntry>
      </rule>
      <rule id="r2">
        <inputEntry id="r2_in"><text>"B"</text></inputEntry>
        <outputEntry id="r2_out"><text>250</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""
DMN_13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"
DMN_12 = "http://www.omg.org/spec/DMN/20180521/MODEL/"


def flows(*ids: str) -> str:
    """Return sequence flows joining the ids in order."""
    return "".join(f'<bpmn:sequenceFlow id="f_{a}_{b}" sourceRef="{a}" targetRef="{b}" />'
                   for a, b in zip(ids, ids[1:], strict=False))


def user(task_id: str, inner: str = "") -> str:
    return f'<bpmn:userTask id="{task_id}" name="Tarea {task_id}">{FORM}{inner}</bpmn:userTask>'


def bundle(body: str, *, process_id: str = "p", extra: str = "", lane: bool = True,
           table: bool = True, files: dict[str, str] | None = None) -> dict[str, bytes]:
    """Wrap flow elements in an executable process in one lane, with its table and a form."""
    root = etree.fromstring((HEAD + f'<bpmn:process id="{process_id}" name="Prueba" '
                             f'isExecutable="true">{body}</bpmn:process>{extra}'
                             "</bpmn:definitions>").encode())
    process = root.find(f"{{{BPMN}}}process")
    if lane and process.find(f"{{{BPMN}}}laneSet") is None:
        lane_set = etree.Element(f"{{{BPMN}}}laneSet", id="lanes")
        lane_element = etree.SubElement(lane_set, f"{{{BPMN}}}lane", id="clerk", name="Clerk")
        for child in process:
            if etree.QName(child).localname in FLOW_NODES:
                etree.SubElement(lane_element, f"{{{BPMN}}}flowNodeRef").text = child.get("id")
        process.insert(0, lane_set)
    result = {"p.bpmn": etree.tostring(root, xml_declaration=True, encoding="UTF-8"),
              "forms/generico.json": json.dumps({"type": "object", "properties": {}}).encode()}
    if table:
        result[f"{process_id}.responsibility.json"] = json.dumps({
            "process": process_id, "title": "Prueba", "case_number_prefix": "PR",
            "lanes": {"clerk": {"role": "clerk", "role_name": "Oficinista",
                                "positions": ["Oficinista"]}}}).encode()
    for name, text in (files or {}).items():
        result[name] = text.encode()
    return result


def loads(body: str, **options: object) -> ProcessDefinition:
    definitions = compile_bundle(bundle(body, **options))  # type: ignore[arg-type]
    return definitions["p"]


def refusal(body: str, **options: object) -> str:
    with pytest.raises(ProcessDefinitionError) as raised:
        compile_bundle(bundle(body, **options))  # type: ignore[arg-type]
    text = "\n".join(str(p) for p in raised.value.problems)
    assert not re.search(r"<[^>]* at 0x|\w(Error|Exception)\(|Traceback", text), text
    return text


LINEAR = '<bpmn:startEvent id="start" />{}<bpmn:endEvent id="end" />'


def linear(*elements: str, ids: tuple[str, ...]) -> str:
    return LINEAR.format("".join(elements)) + flows("start", *ids, "end")


# -- human tasks --------------------------------------------------------------------------------


def test_a_user_task_is_a_human_task_with_its_form():
    activity = loads(linear(user("fill"), ids=("fill",))).activity("fill")
    assert (activity.lane, activity.form_id) == ("clerk", "generico")


def test_a_user_task_without_a_form_is_refused():
    text = refusal(linear('<bpmn:userTask id="fill" />', ids=("fill",)))
    assert "[fill]" in text and "formJsonSchemaFilename" in text


def test_a_three_element_manual_task_process_loads_as_a_human_task_without_form():
    definition = loads(linear('<bpmn:manualTask id="sign" name="Firmar" />', ids=("sign",)))
    activity = definition.activity("sign")
    assert (activity.name, activity.lane, activity.form_id) == ("Firmar", "clerk", None)


def test_a_plain_task_is_a_human_task_too():
    assert loads(linear('<bpmn:task id="todo" />', ids=("todo",))).activity("todo").form_id \
        is None


def test_a_manual_task_may_name_a_form():
    body = linear(f'<bpmn:manualTask id="sign">{FORM}</bpmn:manualTask>', ids=("sign",))
    assert loads(body).activity("sign").form_id == "generico"


# -- lanes ----------------------------------------------------------------------------------------


def test_a_lane_with_an_empty_child_lane_set_is_a_leaf_lane():
    body = ('<bpmn:laneSet id="ls"><bpmn:lane id="clerk" name="Clerk">'
            '<bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>fill</bpmn:flowNodeRef>'
            '<bpmn:flowNodeRef>end</bpmn:flowNodeRef><bpmn:childLaneSet id="empty" />'
            "</bpmn:lane></bpmn:laneSet>" + linear(user("fill"), ids=("fill",)))
    assert loads(body).activity("fill").lane == "clerk"


def test_a_task_inside_a_transaction_takes_the_transactions_lane():
    inner = ('<bpmn:startEvent id="t_start" />' + user("inside") + '<bpmn:endEvent id="t_end" />'
             + flows("t_start", "inside", "t_end"))
    body = linear(f'<bpmn:transaction id="tx">{inner}</bpmn:transaction>', ids=("tx",))
    assert loads(body).activity("inside").lane == "clerk"


def test_a_start_event_outside_every_lane_is_refused():
    body = ('<bpmn:laneSet id="ls"><bpmn:lane id="clerk" name="Clerk">'
            '<bpmn:flowNodeRef>fill</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef>'
            "</bpmn:lane></bpmn:laneSet>" + linear(user("fill"), ids=("fill",)))
    text = refusal(body)
    assert "[start]" in text and "El evento de inicio no está en ningún carril" in text


# -- files without a procedure ---------------------------------------------------------------


def test_an_executable_process_without_responsibility_table_is_refused_not_skipped():
    body = linear('<bpmn:scriptTask id="s"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>',
                  ids=("s",))
    text = refusal(body, table=False)
    assert "p.bpmn" in text and "[p]" in text
    assert "no tiene tabla de responsabilidades p.responsibility.json" in text


def test_a_file_with_no_executable_process_is_refused():
    files = bundle(linear(user("fill"), ids=("fill",)), table=False)
    files["p.bpmn"] = files["p.bpmn"].replace(b'isExecutable="true"', b'isExecutable="false"')
    with pytest.raises(ProcessDefinitionError) as raised:
        compile_bundle(files)
    assert "ningún proceso ejecutable" in str(raised.value)


# -- automatic tasks ---------------------------------------------------------------------------


def test_a_script_task_loads_and_one_without_script_is_refused():
    loads(linear('<bpmn:scriptTask id="s"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>',
                 ids=("s",)))
    assert "[s]" in refusal(linear('<bpmn:scriptTask id="s" />', ids=("s",)))


def test_a_service_task_is_refused_since_cauce_has_no_connectors():
    text = refusal(linear('<bpmn:serviceTask id="call" />', ids=("call",)))
    assert "[call]" in text and "Cauce no tiene conectores" in text


def test_a_service_task_with_an_operator_is_refused_too():
    operator = ('<bpmn:extensionElements><spiffworkflow:serviceTaskOperator id="http/GetRequest"'
                ' resultVariable="r"><spiffworkflow:parameters />'
                '</spiffworkflow:serviceTaskOperator>'
                '</bpmn:extensionElements>')
    text = refusal(linear(f'<bpmn:serviceTask id="call">{operator}</bpmn:serviceTask>',
                          ids=("call",)))
    assert "[call]" in text and "Cauce no tiene conectores" in text


def _rule_task(decision: str = "fee_decision") -> str:
    return (f'<bpmn:businessRuleTask id="rate"><bpmn:extensionElements><spiffworkflow:'
            f'calledDecisionId>{decision}</spiffworkflow:calledDecisionId>'
            "</bpmn:extensionElements></bpmn:businessRuleTask>")


@pytest.mark.parametrize("namespace", [DMN_13, DMN_12], ids=["DMN 1.3", "DMN 1.2"])
def test_a_business_rule_task_with_its_dmn_loads(namespace):
    dmn = DMN.format(namespace=namespace, input="kind")
    definition = loads(linear(_rule_task(), ids=("rate",)), files={"fee.dmn": dmn})
    assert "fee.dmn" in definition.bundle


@pytest.mark.parametrize("name", ["type", "input"])
def test_a_dmn_input_named_like_a_builtin_is_a_data_variable(name):
    dmn = DMN.format(namespace=DMN_13, input=name)
    loads(linear(_rule_task(), ids=("rate",)), files={"fee.dmn": dmn})


def test_a_dmn_input_that_calls_a_forbidden_builtin_is_refused():
    dmn = DMN.format(namespace=DMN_13, input="type(kind)")
    text = refusal(linear(_rule_task(), ids=("rate",)), files={"fee.dmn": dmn})
    assert "'type'" in text


def test_a_broken_dmn_file_is_refused_with_its_name_not_a_traceback():
    dmn = DMN.format(namespace=DMN_13, input="kind").replace("<decisionTable", "<decisionTabl")
    dmn = dmn.replace("</decisionTable>", "</decisionTabl>")
    text = refusal(linear(_rule_task(), ids=("rate",)), files={"fee.dmn": dmn})
    assert "fee.dmn" in text


@pytest.mark.parametrize("policy", ["FIRST", "ANY", "COLLECT"])
def test_hit_policies_spiffworkflow_honours_load(policy):
    dmn = DMN.format(namespace=DMN_13, input="kind").replace('hitPolicy="UNIQUE"',
                                                             f'hitPolicy="{policy}"')
    loads(linear(_rule_task(), ids=("rate",)), files={"fee.dmn": dmn})


@pytest.mark.parametrize("policy", ['PRIORITY"', 'RULE ORDER"', 'COLLECT" aggregation="SUM"'])
def test_hit_policies_spiffworkflow_would_misread_are_refused(policy):
    dmn = DMN.format(namespace=DMN_13, input="kind").replace('hitPolicy="UNIQUE"',
                                                             f'hitPolicy="{policy}')
    text = refusal(linear(_rule_task(), ids=("rate",)), files={"fee.dmn": dmn})
    assert "fee.dmn" in text and "[fee_table]" in text


def test_a_decision_without_table_is_refused_without_a_python_message():
    dmn = DMN.format(namespace=DMN_13, input="kind")
    dmn = dmn[:dmn.index("<decisionTable")] + "</decision></definitions>"
    text = refusal(linear(_rule_task(), ids=("rate",)), files={"fee.dmn": dmn})
    assert "[rate]" in text and "tabla de decisión" in text and "index" not in text


def test_code_python_cannot_even_parse_is_refused_not_raised():
    deep = "(" * 300 + "1" + ")" * 300
    text = refusal(linear(f'<bpmn:scriptTask id="s"><bpmn:script>x = {deep}</bpmn:script>'
                          "</bpmn:scriptTask>", ids=("s",)))
    assert "[s]" in text


def test_a_business_rule_task_naming_a_missing_decision_is_refused():
    text = refusal(linear(_rule_task("ghost"), ids=("rate",)))
    assert "[rate]" in text and "ghost" in text


# -- gateways ----------------------------------------------------------------------------------


def _split(kind: str, default: str = ' default="f_gw_b"', condition: str = "x &gt; 1") -> str:
    cond = (f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}'
            "</bpmn:conditionExpression>") if condition else ""
    return (f'<bpmn:startEvent id="start" /><bpmn:{kind} id="gw"{default} />'
            + user("a") + user("b") + f'<bpmn:{kind} id="join" /><bpmn:endEvent id="end" />'
            + flows("start", "gw")
            + f'<bpmn:sequenceFlow id="f_gw_a" sourceRef="gw" targetRef="a">{cond}'
            "</bpmn:sequenceFlow>"
            + '<bpmn:sequenceFlow id="f_gw_b" sourceRef="gw" targetRef="b" />'
            + flows("a", "join") + flows("b", "join") + flows("join", "end"))


def test_exclusive_inclusive_and_parallel_gateways_load():
    loads(_split("exclusiveGateway").replace('<bpmn:exclusiveGateway id="join" />',
                                             '<bpmn:exclusiveGateway id="join" />'))
    loads(_split("inclusiveGateway"))
    loads(_split("parallelGateway", default="", condition=""))


def test_an_exclusive_branch_without_condition_nor_default_is_refused():
    text = refusal(_split("exclusiveGateway", default=""))
    assert "no tiene condición" in text


def test_a_hostile_gateway_condition_is_refused():
    text = refusal(_split("exclusiveGateway", condition="__import__('os')"))
    assert "[gw]" in text


def test_a_complex_gateway_is_refused():
    text = refusal(_split("complexGateway", default=""))
    assert "Cauce no puede ejecutar este tipo de elemento" in text


def test_an_event_based_gateway_is_refused_until_the_engine_watches_its_timers():
    body = ('<bpmn:startEvent id="start" /><bpmn:eventBasedGateway id="gw" />'
            '<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition><bpmn:timeDuration>'
            "PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
            '<bpmn:intermediateCatchEvent id="reply"><bpmn:messageEventDefinition '
            'messageRef="m" /></bpmn:intermediateCatchEvent>'
            '<bpmn:endEvent id="end" /><bpmn:endEvent id="end2" />'
            + flows("start", "gw", "wait", "end") + flows("gw", "reply", "end2"))
    text = refusal(body, extra='<bpmn:message id="m" name="respuesta" />')
    assert "[gw]" in text and "Compuerta basada en eventos" in text


# -- subprocesses and calls -----------------------------------------------------------------


def _inner(prefix: str, task: str) -> str:
    return (f'<bpmn:startEvent id="{prefix}_start" />{task}<bpmn:endEvent id="{prefix}_end" />'
            + flows(f"{prefix}_start", re.search(r'id="([^"]+)"', task).group(1),
                    f"{prefix}_end"))


def test_an_embedded_subprocess_loads():
    body = linear(f'<bpmn:subProcess id="sub">{_inner("s", user("inside"))}</bpmn:subProcess>',
                  ids=("sub",))
    assert loads(body).activity("inside").lane == "clerk"


def test_a_subprocess_without_start_event_is_refused():
    text = refusal(linear(f'<bpmn:subProcess id="sub">{user("inside")}</bpmn:subProcess>',
                          ids=("sub",)))
    assert "[sub]" in text and "evento de inicio" in text


def test_a_call_activity_to_a_process_of_the_same_file_loads():
    called = ('<bpmn:process id="q" isExecutable="true">' + _inner("q", '<bpmn:scriptTask id='
              '"qs"><bpmn:script>y = 2</bpmn:script></bpmn:scriptTask>') + "</bpmn:process>")
    body = linear('<bpmn:callActivity id="call" calledElement="q" />', ids=("call",))
    assert set(loads(body, extra=called).subprocess_specs) == {"q"}


def test_a_process_that_calls_itself_is_refused():
    text = refusal(linear('<bpmn:callActivity id="call" calledElement="p" />', ids=("call",)))
    assert "[call]" in text and "Llamada recursiva: p → p" in text


def test_a_cycle_of_call_activities_is_refused():
    called = ('<bpmn:process id="q" isExecutable="true">'
              + _inner("q", '<bpmn:callActivity id="back" calledElement="p" />')
              + "</bpmn:process>")
    text = refusal(linear('<bpmn:callActivity id="call" calledElement="q" />', ids=("call",)),
                   extra=called)
    assert "[back]" in text and "Llamada recursiva: p → q → p" in text


def test_an_event_subprocess_loads():
    event_sub = ('<bpmn:subProcess id="on_error" triggeredByEvent="true">'
                 '<bpmn:startEvent id="caught"><bpmn:errorEventDefinition errorRef="e" />'
                 '</bpmn:startEvent>' + user("fix") + '<bpmn:endEvent id="fixed" />'
                 + flows("caught", "fix", "fixed") + "</bpmn:subProcess>")
    body = linear(user("fill"), ids=("fill",)) + event_sub
    assert loads(body, extra='<bpmn:error id="e" errorCode="E1" />').activity("fix").lane \
        == "clerk"


def test_an_ad_hoc_subprocess_is_refused():
    text = refusal(linear(f'<bpmn:adHocSubProcess id="adhoc">{user("inside")}'
                          "</bpmn:adHocSubProcess>", ids=("adhoc",)))
    assert "[adhoc]" in text and "ad hoc" in text


# -- timers ------------------------------------------------------------------------------------


def _timer_on_task(tag: str, text: str, cancel: str = "true") -> str:
    return (linear(user("fill"), ids=("fill",))
            + f'<bpmn:boundaryEvent id="late" attachedToRef="fill" cancelActivity="{cancel}">'
            f"<bpmn:timerEventDefinition><bpmn:{tag}>{text}</bpmn:{tag}>"
            '</bpmn:timerEventDefinition></bpmn:boundaryEvent><bpmn:endEvent id="late_end" />'
            + flows("late", "late_end"))


@pytest.mark.parametrize(("tag", "text"), [
    ("timeDuration", "P15D"), ("timeDuration", "PT1H"), ("timeDuration", "P1Y2M3DT4H5M6S"),
    ("timeDate", "2026-03-01T10:00:00Z"), ("timeDate", "2026-03-01"),
    ("timeCycle", "R6/P1D"), ("timeCycle", "R2/PT1H"),
])
def test_an_unquoted_iso_timer_literal_is_read_as_a_literal(tag, text):
    definition = loads(_timer_on_task(tag, text))
    assert definition.spec.task_specs["late"].event_definition.expression == f'"{text}"'


@pytest.mark.parametrize("cancel", ["true", "false"], ids=["interrupting", "non-interrupting"])
def test_boundary_timers_load(cancel):
    assert loads(_timer_on_task("timeDuration", '"P3D"', cancel)).activity("fill").timers == \
        ("late",)


def test_a_timer_expression_over_case_data_stays_an_expression():
    definition = loads(_timer_on_task("timeDuration", 'f"P{days}D"'))
    assert definition.spec.task_specs["late"].event_definition.expression == 'f"P{days}D"'


@pytest.mark.parametrize(("tag", "text"), [
    ("timeDuration", '"15 días"'), ("timeDate", '"mañana"'), ("timeDuration", "15"),
    ("timeDuration", "${duration}"),
])
def test_a_timer_that_can_never_be_a_moment_is_refused(tag, text):
    assert "[late]" in refusal(_timer_on_task(tag, text))


def test_a_timer_without_moment_is_refused():
    body = (linear(user("fill"), ids=("fill",))
            + '<bpmn:boundaryEvent id="late" attachedToRef="fill"><bpmn:timerEventDefinition />'
            '</bpmn:boundaryEvent><bpmn:endEvent id="late_end" />' + flows("late", "late_end"))
    assert "El temporizador no dice cuándo vence" in refusal(body)


def test_an_intermediate_timer_and_a_timer_start_load():
    wait = ('<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition><bpmn:timeDuration>'
            "P1D</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>")
    loads(linear(wait, user("fill"), ids=("wait", "fill")))
    timer_start = ('<bpmn:startEvent id="start"><bpmn:timerEventDefinition><bpmn:timeDate>'
                   "2026-03-10T09:00:00Z</bpmn:timeDate></bpmn:timerEventDefinition>"
                   "</bpmn:startEvent>")
    loads(timer_start + user("fill") + '<bpmn:endEvent id="end" />' + flows("start", "fill", "end"))


# -- errors, escalations, messages, signals -------------------------------------------------------


def test_error_and_escalation_end_events_caught_on_a_subprocess_load():
    for kind, ref in (("error", "errorRef"), ("escalation", "escalationRef")):
        inner = ('<bpmn:startEvent id="s_start" />' + user("inside")
                 + f'<bpmn:endEvent id="raise"><bpmn:{kind}EventDefinition {ref}="ev" />'
                 "</bpmn:endEvent>" + flows("s_start", "inside", "raise"))
        body = (linear(f'<bpmn:subProcess id="sub">{inner}</bpmn:subProcess>', ids=("sub",))
                + f'<bpmn:boundaryEvent id="caught" attachedToRef="sub"><bpmn:{kind}'
                f'EventDefinition {ref}="ev" /></bpmn:boundaryEvent>' + user("handle")
                + '<bpmn:endEvent id="handled" />' + flows("caught", "handle", "handled"))
        extra = (f'<bpmn:{kind} id="ev" name="Problema" '
                 + ('errorCode="E1"' if kind == "error" else 'escalationCode="X1"') + " />")
        loads(body, extra=extra)


def test_a_message_nobody_in_the_procedure_sends_is_refused():
    wait = ('<bpmn:intermediateCatchEvent id="reply"><bpmn:messageEventDefinition messageRef="m" '
            "/></bpmn:intermediateCatchEvent>")
    text = refusal(linear(wait, ids=("reply",)), extra='<bpmn:message id="m" name="respuesta" />')
    assert "[reply]" in text and "«respuesta»" in text and "ningún elemento" in text


def test_a_message_wait_that_an_interrupting_timer_bounds_is_accepted():
    body = (linear('<bpmn:receiveTask id="reply" messageRef="m" />', ids=("reply",))
            + '<bpmn:boundaryEvent id="late" attachedToRef="reply"><bpmn:timerEventDefinition>'
            "<bpmn:timeDuration>P7D</bpmn:timeDuration></bpmn:timerEventDefinition>"
            '</bpmn:boundaryEvent><bpmn:endEvent id="late_end" />' + flows("late", "late_end"))
    loads(body, extra='<bpmn:message id="m" name="respuesta" />')


def test_a_signal_thrown_inside_the_procedure_may_be_caught():
    throw = ('<bpmn:intermediateThrowEvent id="shout"><bpmn:signalEventDefinition signalRef="s" '
             "/></bpmn:intermediateThrowEvent>")
    catch = ('<bpmn:subProcess id="on_signal" triggeredByEvent="true"><bpmn:startEvent '
             'id="heard" isInterrupting="false"><bpmn:signalEventDefinition signalRef="s" />'
             '</bpmn:startEvent><bpmn:endEvent id="heard_end" />' + flows("heard", "heard_end")
             + "</bpmn:subProcess>")
    loads(linear(throw, ids=("shout",)) + catch, extra='<bpmn:signal id="s" name="aviso" />')


def test_link_events_are_refused():
    body = ('<bpmn:startEvent id="start" /><bpmn:intermediateThrowEvent id="go">'
            '<bpmn:linkEventDefinition name="L" /></bpmn:intermediateThrowEvent>'
            '<bpmn:intermediateCatchEvent id="land"><bpmn:linkEventDefinition name="L" />'
            "</bpmn:intermediateCatchEvent>" + user("fill") + '<bpmn:endEvent id="end" />'
            + flows("start", "go") + flows("land", "fill", "end"))
    text = refusal(body)
    assert "[go]" in text and "[land]" in text and "enlace" in text


def test_compensation_is_refused():
    body = (linear(user("book"), ids=("book",))
            + '<bpmn:boundaryEvent id="comp" attachedToRef="book"><bpmn:compensateEventDefinition'
            ' /></bpmn:boundaryEvent>')
    text = refusal(body)
    assert "[comp]" in text and "compensación" in text


def test_a_data_store_is_refused():
    body = (linear(user("fill"), ids=("fill",))
            + '<bpmn:dataStoreReference id="ds_ref" dataStoreRef="ds" />')
    text = refusal(body, extra='<bpmn:dataStore id="ds" name="Registro" />')
    assert "Cauce no conecta almacenes de datos" in text


# -- loops and multi-instance -----------------------------------------------------------------


def _looped(characteristics: str) -> str:
    return linear(f'<bpmn:userTask id="each">{FORM}{characteristics}</bpmn:userTask>',
                  ids=("each",))


@pytest.mark.parametrize("sequential", ["true", "false"], ids=["sequential", "parallel"])
def test_a_multi_instance_task_with_a_cardinality_loads(sequential):
    loads(_looped(f'<bpmn:multiInstanceLoopCharacteristics isSequential="{sequential}">'
                  "<bpmn:loopCardinality>3</bpmn:loopCardinality>"
                  "</bpmn:multiInstanceLoopCharacteristics>"))


def test_a_multi_instance_without_cardinality_or_collection_is_refused():
    text = refusal(_looped("<bpmn:multiInstanceLoopCharacteristics />"))
    assert "[each]" in text and "cardinalidad" in text


def test_a_standard_loop_loads():
    loads(_looped("<bpmn:standardLoopCharacteristics><bpmn:loopCondition>done == True"
                  "</bpmn:loopCondition></bpmn:standardLoopCharacteristics>"))


def test_a_hostile_loop_condition_is_refused():
    text = refusal(_looped("<bpmn:standardLoopCharacteristics><bpmn:loopCondition>"
                           "().__class__.__base__</bpmn:loopCondition>"
                           "</bpmn:standardLoopCharacteristics>"))
    assert "[each]" in text and "Ciclo" in text


def test_a_hostile_conditional_event_is_refused():
    wait = ('<bpmn:intermediateCatchEvent id="until"><bpmn:conditionalEventDefinition>'
            '<bpmn:condition xsi:type="bpmn:tFormalExpression">open("/etc/passwd")'
            "</bpmn:condition></bpmn:conditionalEventDefinition></bpmn:intermediateCatchEvent>")
    text = refusal(linear(wait, ids=("until",)))
    assert "[until]" in text and "'open'" in text
