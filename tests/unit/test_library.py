"""Loading procedures: the real ones load clean; hostile or broken files are refused with
file, element, line and reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine import ProcessDefinitionError, ProcessLibrary

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
{doctype}<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs" targetNamespace="https://cauce.example/test">
  <bpmn:process id="tiny" name="Trámite mínimo" isExecutable="true">
    <bpmn:documentation>Prueba{entity}</bpmn:documentation>
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="clerk" name="Clerk">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>fill</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>compute</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>gw</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>done</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>late</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>late_end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fill" />
    <bpmn:userTask id="fill" name="Llenar">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="tiny_form.json" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="late" attachedToRef="fill" cancelActivity="false">
      <bpmn:timerEventDefinition>
        <bpmn:timeDuration>{timer}</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f_late" sourceRef="late" targetRef="late_end" />
    <bpmn:endEvent id="late_end" />
    <bpmn:sequenceFlow id="f2" sourceRef="fill" targetRef="compute" />
    <bpmn:scriptTask id="compute" name="Calcular">
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f3" sourceRef="compute" targetRef="gw" />
    <bpmn:exclusiveGateway id="gw" default="f5" />
    <bpmn:sequenceFlow id="f4" sourceRef="gw" targetRef="done">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}
      </bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f5" sourceRef="gw" targetRef="done" />
    <bpmn:endEvent id="done" />
  </bpmn:process>
</bpmn:definitions>
"""

SAFE = {"doctype": "", "entity": "", "timer": '"P3D"', "script": "total = amount * 2",
        "condition": "total &gt; 10"}


def _library_dir(tmp_path: Path, bpmn: str, form: dict | None = None,
                 table: dict | None = None) -> tuple[Path, Path]:
    bpmn_dir, forms_dir = tmp_path / "bpmn", tmp_path / "forms"
    bpmn_dir.mkdir()
    forms_dir.mkdir()
    (bpmn_dir / "tiny.bpmn").write_text(bpmn)
    (bpmn_dir / "tiny.responsibility.json").write_text(json.dumps(table or {
        "process": "tiny", "title": "Trámite mínimo", "case_number_prefix": "TM",
        "lanes": {"clerk": {"role": "clerk", "role_name": "Oficinista",
                            "positions": ["Oficinista"]}}}))
    (forms_dir / "tiny_form.json").write_text(json.dumps(form or {
        "type": "object", "properties": {"amount": {"type": "integer", "title": "Monto"}},
        "required": ["amount"]}))
    return bpmn_dir, forms_dir


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def _load(tmp_path: Path, **changes: str) -> ProcessLibrary:
    return ProcessLibrary.load_directory(*_library_dir(tmp_path, TEMPLATE.format(**{**SAFE,
                                                                                    **changes})))


def _refusal(tmp_path: Path, **changes: str):
    with pytest.raises(ProcessDefinitionError) as raised:
        _load(tmp_path, **changes)
    assert len(raised.value.problems) == 1, raised.value
    return raised.value.problems[0]


def test_the_real_procedures_load_and_are_versioned_by_content():
    library = ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms")
    social = library.get("social_case")
    assert len(social.activities) == 12
    assert len(social.version_hash) == 64
    again = ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms")
    assert again.get("social_case").version_hash == social.version_hash


def test_every_social_case_activity_has_its_spanish_name_lane_and_form():
    social = ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms").get("social_case")
    expected = {
        "recibir_solicitud": ("Recibir la solicitud de intervención", "coordinador_th"),
        "reasignar_solicitud": ("Recibir y reasignar la solicitud de intervención",
                                "lider_seguridad"),
        "analizar_solicitud": ("Analizar la solicitud de intervención", "trabajador_social"),
        "realizar_entrevista": ("Realizar entrevista o visita domiciliaria", "trabajador_social"),
        "validar_informe": ("Revisar y validar el Informe Técnico de Trabajo Social",
                            "lider_seguridad"),
        "solicitar_apoyo": ("Solicitar apoyo", "trabajador_social"),
        "generar_respuesta": (
            "Generar documento de respuesta con el Informe Técnico de Trabajo Social",
            "coordinador_th"),
        "archivar_expediente": ("Archivar Expediente e Informe Técnico de Trabajo Social",
                                "trabajador_social"),
    }
    for bpmn_id, (name, lane) in expected.items():
        activity = social.activity(bpmn_id)
        assert (activity.name, activity.lane, activity.form_id) == (name, lane, bpmn_id)


def test_a_clean_minimal_process_loads(tmp_path):
    assert _load(tmp_path).get("tiny").activity("fill").lane == "clerk"


def test_an_external_entity_is_refused_before_parsing(tmp_path):
    problem = _refusal(tmp_path, entity="&xxe;",
                       doctype='<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>\n')
    assert problem.file == "tiny.bpmn"
    assert "DOCTYPE" in problem.reason


def test_an_entity_bomb_is_refused(tmp_path):
    lol = ['<!ENTITY l0 "lol">'] + [
        f'<!ENTITY l{i} "{"".join(f"&l{i - 1};" for _ in range(10))}">' for i in range(1, 10)]
    problem = _refusal(tmp_path, doctype=f"<!DOCTYPE d [{''.join(lol)}]>\n", entity="&l9;")
    assert problem.file == "tiny.bpmn"


def test_an_import_in_a_script_is_refused_with_element_and_line(tmp_path):
    problem = _refusal(tmp_path, script="total = __import__('os').system('touch /tmp/pwned')")
    line = _line_of(TEMPLATE, 'id="compute"')
    assert (problem.file, problem.element, problem.line) == ("tiny.bpmn", "compute", line)
    assert "__import__" in problem.reason
    assert not Path("/tmp/pwned").exists()


def test_a_hostile_gateway_condition_is_refused(tmp_path):
    problem = _refusal(tmp_path, condition="__import__('os').system('id') == 0")
    assert problem.element == "gw" and "Condición" in problem.reason


def test_a_hostile_timer_expression_is_refused(tmp_path):
    problem = _refusal(tmp_path, timer="open('/etc/passwd').read()")
    assert problem.element == "late" and "'open'" in problem.reason


def test_a_dunder_escape_is_refused(tmp_path):
    problem = _refusal(tmp_path, script=(
        "x = ().__class__.__base__.__subclasses__()[0].__init__.__globals__['popen']('id')"))
    assert problem.element == "compute" and "__class__" in problem.reason


def test_a_format_string_escape_is_refused(tmp_path):
    problem = _refusal(tmp_path, script="leak = '{0.__class__.__mro__}'.format(amount)")
    assert problem.element == "compute" and "format" in problem.reason


def test_malformed_xml_names_the_line(tmp_path):
    bpmn_dir, forms_dir = _library_dir(tmp_path, TEMPLATE.format(**SAFE).replace(
        '<bpmn:endEvent id="done" />', '<bpmn:endEvent id="done">'))
    with pytest.raises(ProcessDefinitionError) as raised:
        ProcessLibrary.load_directory(bpmn_dir, forms_dir)
    problem = raised.value.problems[0]
    assert problem.file == "tiny.bpmn" and problem.line is not None
    assert "XML mal formado" in problem.reason


def test_a_missing_form_and_an_unmapped_lane_are_both_reported(tmp_path):
    bpmn = TEMPLATE.format(**SAFE).replace('value="tiny_form.json"', 'value="ghost.json"')
    table = {"process": "tiny", "title": "T", "case_number_prefix": "TM",
             "lanes": {"other": {"role": "x", "role_name": "X", "positions": ["X"]}}}
    with pytest.raises(ProcessDefinitionError) as raised:
        ProcessLibrary.load_directory(*_library_dir(tmp_path, bpmn, table=table))
    reasons = "\n".join(str(p) for p in raised.value.problems)
    assert "No existe el formulario forms/ghost.json" in reasons
    assert "El carril 'clerk' no está en la tabla de responsabilidades" in reasons
    assert "El carril 'other' no existe en el proceso 'tiny'" in reasons


def test_an_invalid_json_schema_form_is_refused(tmp_path):
    form = {"type": "object", "properties": {"amount": {"type": "entero"}}}
    with pytest.raises(ProcessDefinitionError) as raised:
        ProcessLibrary.load_directory(*_library_dir(tmp_path, TEMPLATE.format(**SAFE), form=form))
    assert raised.value.problems[0].file == "forms/tiny_form.json"


def test_an_xsd_violation_names_the_line(tmp_path):
    bpmn = TEMPLATE.format(**SAFE).replace('<bpmn:endEvent id="done" />',
                                           '<bpmn:fooTask id="done" />')
    with pytest.raises(ProcessDefinitionError) as raised:
        ProcessLibrary.load_directory(*_library_dir(tmp_path, bpmn))
    problem = raised.value.problems[0]
    assert problem.file == "tiny.bpmn" and problem.line == _line_of(bpmn, "fooTask")
    assert "fooTask" in problem.reason


def test_a_broken_file_in_the_real_directory_stops_the_app_from_starting(tmp_path):
    from app import create_app

    bpmn = tmp_path / "bpmn"
    shutil.copytree(ROOT / "bpmn", bpmn)
    path = bpmn / "social_case.bpmn"
    path.write_text(path.read_text().replace("add_working_days(request_date, 15)",
                                             "open('/etc/passwd').read()"))
    with pytest.raises(ProcessDefinitionError) as raised:
        create_app({"BPMN_DIR": str(bpmn), "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert "social_case.bpmn" in str(raised.value) and "calcular_plazo" in str(raised.value)
