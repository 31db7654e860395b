"""Edits an owner makes to the social case's files, for the workshop's tests and bench."""

from __future__ import annotations

import copy
import re
from typing import Any

PROCESS = "social_case"
BPMN = "social_case.bpmn"
NEW_FORM = {
    "title": "Revisar el registro",
    "type": "object",
    "required": ["registro_completo"],
    "properties": {"registro_completo": {"type": "boolean",
                                         "title": "¿El registro está completo?"}},
}


def rename(files: dict[str, Any], activity: str, old_name: str, new_name: str) -> dict[str, Any]:
    """Return files with an activity renamed."""
    shaped = copy.deepcopy(files)
    xml = shaped["bpmn"][BPMN]
    needle = f'id="{activity}" name="{old_name}"'
    assert needle in xml, needle
    shaped["bpmn"][BPMN] = xml.replace(needle, f'id="{activity}" name="{new_name}"')
    return shaped


def add_review_task(files: dict[str, Any], *, lane: str = "coordinador_th",
                    form: str | None = "revisar_registro.json",
                    add_form: bool = True) -> dict[str, Any]:
    """Return files with a user task between 'recibir_solicitud' and 'calcular_plazo'."""
    shaped = copy.deepcopy(files)
    xml = shaped["bpmn"][BPMN]
    old_flow = ('<bpmn:sequenceFlow id="f_recibir_plazo" sourceRef="recibir_solicitud" '
                'targetRef="calcular_plazo" />')
    assert old_flow in xml
    properties = (f'<bpmn:extensionElements><spiffworkflow:properties>'
                  f'<spiffworkflow:property name="formJsonSchemaFilename" value="{form}" />'
                  f'</spiffworkflow:properties></bpmn:extensionElements>' if form else "")
    task = (f'<bpmn:userTask id="revisar_registro" name="Revisar el registro">{properties}'
            '</bpmn:userTask>')
    xml = xml.replace(old_flow, task + (
        '<bpmn:sequenceFlow id="f_recibir_plazo" sourceRef="recibir_solicitud" '
        'targetRef="revisar_registro" />'
        '<bpmn:sequenceFlow id="f_revisar_plazo" sourceRef="revisar_registro" '
        'targetRef="calcular_plazo" />'))
    lane_ref = '<bpmn:flowNodeRef>recibir_solicitud</bpmn:flowNodeRef>'
    assert lane_ref in xml
    if lane == "coordinador_th":
        xml = xml.replace(
            lane_ref, lane_ref + "<bpmn:flowNodeRef>revisar_registro</bpmn:flowNodeRef>")
    shaped["bpmn"][BPMN] = xml
    if add_form and form:
        shaped["forms"][form] = {"schema": NEW_FORM, "ui": None}
    return shaped


def change_condition(files: dict[str, Any]) -> dict[str, Any]:
    """Return files with the 'procede' gateway's 'No' condition written differently."""
    shaped = copy.deepcopy(files)
    old = ">not is_social_case</bpmn:conditionExpression>"
    assert old in shaped["bpmn"][BPMN]
    shaped["bpmn"][BPMN] = shaped["bpmn"][BPMN].replace(
        old, ">is_social_case == False</bpmn:conditionExpression>")
    return shaped


def set_condition(files: dict[str, Any], text: str) -> dict[str, Any]:
    """Return files with the 'procede' gateway's 'No' condition replaced by ``text``."""
    shaped = copy.deepcopy(files)
    shaped["bpmn"][BPMN] = shaped["bpmn"][BPMN].replace(
        ">not is_social_case</bpmn:conditionExpression>", f">{text}</bpmn:conditionExpression>")
    return shaped


def remove_interview(files: dict[str, Any]) -> dict[str, Any]:
    """Return files without 'realizar_entrevista': the analysis leads to the diagnosis."""
    shaped = copy.deepcopy(files)
    xml = shaped["bpmn"][BPMN]
    xml = re.sub(r'<bpmn:userTask id="realizar_entrevista".*?</bpmn:userTask>', "", xml,
                 flags=re.S)
    xml = re.sub(r'<bpmndi:BPMNShape id="realizar_entrevista_di".*?</bpmndi:BPMNShape>', "",
                 xml, flags=re.S)
    xml = re.sub(r'<bpmndi:BPMNEdge id="f_entrevista_diagnostico_di".*?</bpmndi:BPMNEdge>', "",
                 xml, flags=re.S)
    xml = re.sub(r'<bpmn:sequenceFlow id="f_entrevista_diagnostico"[^>]*/>', "", xml)
    xml = xml.replace("<bpmn:flowNodeRef>realizar_entrevista</bpmn:flowNodeRef>", "")
    xml = xml.replace('targetRef="realizar_entrevista"', 'targetRef="emitir_diagnostico"')
    xml = xml.replace("<bpmn:incoming>f_entrevista_diagnostico</bpmn:incoming>",
                      "<bpmn:incoming>f_analizar_entrevista</bpmn:incoming>")
    assert "realizar_entrevista\"" not in xml
    shaped["bpmn"][BPMN] = xml
    return shaped
