"""The process library: BPMN/DMN, forms and responsibility tables, loaded and vetted once.

Every file goes through a hardened XML parse, the BPMN XSD, SpiffWorkflow's parser and a vetting
pass that compiles each script and expression in the sandbox. A definition that survives is an
immutable *version* identified by the hash of every file it depends on.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask, StandardLoopTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from .assignment import LaneRole, ResponsibilityTable, parse_responsibility_table
from .errors import DefinitionProblem, ProcessDefinitionError
from .forms import FormDefinition, load_form
from .sandbox import CodeSite, vet
from .support import (
    TIMER_TAG_OF,
    constant_timer_problem,
    dmn_table_problems,
    quote_timer_literals,
    spanish_reason,
    unsupported_elements,
)
from .xmlsafe import UnsafeXml, parse_untrusted_xml

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
FORM_PROPERTY = "formJsonSchemaFilename"
RESPONSIBILITY_SUFFIX = ".responsibility.json"
# Bump when the manifest's shape changes, so stored versions are never misread.
MANIFEST_FORMAT = 3


def spiff_serializer() -> BpmnWorkflowSerializer:
    """Return the serializer for SpiffWorkflow specs and workflows of spiff-flavoured BPMN."""
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


@dataclass(frozen=True)
class Activity:
    """A human task of a procedure: its BPMN id, Spanish name, lane, form and deadlines."""

    bpmn_id: str
    name: str
    process_id: str
    lane: str | None
    form_id: str | None
    # Ids of the timer boundary events on this task or an enclosing subprocess: their
    # deadline is the task's due date.
    timers: tuple[str, ...]


class ProcessDefinition:
    """One immutable version of a procedure, ready to run."""

    def __init__(self, process_id: str, version_hash: str, bundle: Mapping[str, str],
                 manifest: Mapping[str, Any], spec: BpmnProcessSpec,
                 subprocess_specs: Mapping[str, BpmnProcessSpec]):
        self.process_id = process_id
        self.version_hash = version_hash
        self.bundle = dict(bundle)
        self.manifest = manifest
        self.spec = spec
        self.subprocess_specs = dict(subprocess_specs)
        self.name: str = manifest["name"]
        self.responsibility = parse_responsibility_table(manifest["responsibility"])
        self.extra_tables = [parse_responsibility_table(t) for t in manifest["extra_tables"]]
        self.forms = {fid: FormDefinition(fid, f["schema"], f["ui"])
                      for fid, f in manifest["forms"].items()}
        self.activities = {a["bpmn_id"]: Activity(**{**a, "timers": tuple(a["timers"])})
                           for a in manifest["activities"]}
        self.start_lane: str | None = manifest["start_lane"]
        self.overdue_timers: frozenset[str] = frozenset(manifest["overdue_timers"])
        self.end_events: dict[str, str] = manifest["end_events"]
        self.side_branches: frozenset[str] = frozenset(manifest["side_branches"])
        self.element_properties: dict[str, dict[str, str]] = manifest["element_properties"]

    def lane_role(self, lane: str | None) -> LaneRole:
        """Return the responsibility-table row of a lane."""
        for table in (self.responsibility, *self.extra_tables):
            if lane is not None and lane in table.lanes:
                return table.lanes[lane]
        raise KeyError(lane)

    def activity(self, bpmn_id: str) -> Activity:
        """Return the human task with this BPMN id."""
        return self.activities[bpmn_id]

    def form(self, form_id: str | None) -> FormDefinition | None:
        """Return a form by id (None when the task has no form)."""
        return self.forms.get(form_id) if form_id else None

    def data_labels(self) -> dict[str, Mapping[str, str]]:
        """Return the labels of computed case values worth reading (from every table)."""
        labels: dict[str, Mapping[str, str]] = {}
        for table in (*self.extra_tables, self.responsibility):
            labels.update(table.data_labels)
        return labels

    def roles(self) -> dict[str, LaneRole]:
        """Return every role this procedure's lanes use."""
        found: dict[str, LaneRole] = {}
        for table in (self.responsibility, *self.extra_tables):
            found.update(table.roles())
        return found

    def spec_json(self) -> str:
        """Serialize the parsed specs, to be stored once per version."""
        serializer = spiff_serializer()
        return json.dumps({
            "spec": serializer.to_dict(self.spec),
            "subprocess_specs": {k: serializer.to_dict(v)
                                 for k, v in self.subprocess_specs.items()},
        })

    @classmethod
    def from_stored(cls, process_id: str, version_hash: str, bundle: Mapping[str, str],
                    manifest: Mapping[str, Any], spec_json: str) -> ProcessDefinition:
        """Rebuild a stored version without re-reading any XML."""
        if manifest.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"Unknown manifest format {manifest.get('format')!r}")
        serializer = spiff_serializer()
        stored = json.loads(spec_json)
        spec = serializer.from_dict(stored["spec"])
        subs = {k: serializer.from_dict(v) for k, v in stored["subprocess_specs"].items()}
        return cls(process_id, version_hash, bundle, manifest, spec, subs)


class ProcessLibrary:
    """The procedures currently published, by process id."""

    def __init__(self, definitions: Mapping[str, ProcessDefinition]):
        self._definitions = dict(definitions)

    def get(self, process_id: str) -> ProcessDefinition:
        """Return a procedure by id, or raise KeyError."""
        return self._definitions[process_id]

    def find(self, process_id: str) -> ProcessDefinition | None:
        """Return a procedure by id, or None."""
        return self._definitions.get(process_id)

    def list(self) -> list[ProcessDefinition]:
        """Return every procedure, by id."""
        return [self._definitions[k] for k in sorted(self._definitions)]

    def with_definition(self, definition: ProcessDefinition) -> ProcessLibrary:
        """Return a copy where ``definition`` is its procedure's version (after a publish)."""
        # A copy, never in place: several engines (and tests) may share one loaded library.
        return ProcessLibrary({**self._definitions, definition.process_id: definition})

    @classmethod
    def load_directory(cls, bpmn_dir: str | Path, forms_dir: str | Path) -> ProcessLibrary:
        """Load every procedure in ``bpmn_dir``; raise ProcessDefinitionError if one is broken."""
        # The same compile_bundle the owner's check runs (engine/procedure_check.py).
        return cls(compile_bundle(read_directory(bpmn_dir, forms_dir)))


def read_directory(bpmn_dir: str | Path, forms_dir: str | Path) -> dict[str, bytes]:
    """Read the files of every procedure: ``<name>.bpmn/.dmn``, tables, ``forms/<form>.json``."""
    bpmn_path, forms_path = Path(bpmn_dir), Path(forms_dir)
    files: dict[str, bytes] = {}
    for path in sorted(bpmn_path.iterdir()):
        if path.suffix in (".bpmn", ".dmn") or path.name.endswith(RESPONSIBILITY_SUFFIX):
            files[path.name] = path.read_bytes()
    if forms_path.is_dir():
        for path in sorted(forms_path.glob("*.json")):
            files[f"forms/{path.name}"] = path.read_bytes()
    return files


# --------------------------------------------------------------------------------------------
# Compilation: files -> definitions, collecting every problem before giving up.


@dataclass
class _XmlFile:
    name: str
    tree: etree._ElementTree

    def line_of(self, element_id: str | None) -> int | None:
        if not element_id:
            return None
        return self._lines.get(element_id)

    @functools.cached_property
    def _lines(self) -> dict[str, int | None]:
        # One pass instead of an XPath search of the whole tree per element asked about (the
        # check asks for every human task); the first element with an id wins, as with XPath.
        lines: dict[str, int | None] = {}
        for node in self.tree.iter():
            element_id = node.get("id") if isinstance(node.tag, str) else None
            if element_id and element_id not in lines:
                lines[element_id] = node.sourceline
        return lines


def compile_bundle(files: Mapping[str, bytes]) -> dict[str, ProcessDefinition]:
    """Parse, validate and vet a set of files; return the procedures they define."""
    problems: list[DefinitionProblem] = []
    trees: dict[str, _XmlFile] = {}
    for name, data in files.items():
        if name.endswith((".bpmn", ".dmn")):
            try:
                trees[name] = _XmlFile(name, parse_untrusted_xml(data))
            except UnsafeXml as error:
                problems.append(DefinitionProblem(name, error.reason, line=error.line))
    if problems:
        raise ProcessDefinitionError(problems)

    for name, xml in trees.items():
        if name.endswith(".dmn"):
            for element, reason in dmn_table_problems(xml.tree.getroot()):
                problems.append(DefinitionProblem(name, reason, element or None,
                                                  xml.line_of(element)))
    if problems:
        raise ProcessDefinitionError(problems)

    index = _index_bpmn({n: f for n, f in trees.items() if n.endswith(".bpmn")})
    parser = SpiffBpmnParser(validator=VALIDATOR)
    for name, xml in trees.items():
        try:
            if name.endswith(".bpmn"):
                # SpiffWorkflow's validator rewrites some tags in place: give it its own copy.
                tree = _copy(xml.tree)
                quote_timer_literals(tree.getroot())
                parser.add_bpmn_xml(tree, filename=name)
            else:
                _add_dmn(parser, _copy(xml.tree).getroot(), name)
        except Exception as error:  # noqa: BLE001 - a parser crash is a refusal, never a 500
            problems.append(_problem_from(error, name, trees))
    if problems:
        raise ProcessDefinitionError(problems)

    tables: dict[str, ResponsibilityTable] = {}
    for name, data in files.items():
        if name.endswith(RESPONSIBILITY_SUFFIX):
            try:
                table = parse_responsibility_table(data.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as error:
                problems.append(DefinitionProblem(name, str(error)))
                continue
            if table.process_id + RESPONSIBILITY_SUFFIX != name:
                problems.append(DefinitionProblem(
                    name, f"La tabla dice process={table.process_id!r}, que no coincide con el "
                          "nombre del archivo"))
            tables[table.process_id] = table

    problems.extend(_uncovered_processes(tables, parser, trees, index))
    definitions = {}
    for process_id, table in sorted(tables.items()):
        try:
            definitions[process_id] = _compile_procedure(
                process_id, table, tables, parser, files, trees, index)
        except ProcessDefinitionError as error:
            problems.extend(error.problems)
    if problems:
        raise ProcessDefinitionError(problems)
    return definitions


def _uncovered_processes(tables: Mapping[str, ResponsibilityTable], parser: SpiffBpmnParser,
                         trees: Mapping[str, _XmlFile], index: _BpmnIndex,
                         ) -> list[DefinitionProblem]:
    """Report what would otherwise be skipped in silence: processes no procedure covers."""
    problems = []
    executable = set(parser.get_process_ids())
    covered: set[str] = set()
    pending = [p for p in tables if p in executable]
    while pending:
        process_id = pending.pop()
        if process_id not in covered:
            covered.add(process_id)
            pending.extend(index.calls.get(process_id, ()))
    for process_id in sorted(executable - covered):
        file = index.file_of.get(process_id, "")
        line = trees[file].line_of(process_id) if file in trees else None
        problems.append(DefinitionProblem(
            file, f"El proceso ejecutable {process_id!r} no tiene tabla de responsabilidades "
                  f"{process_id}{RESPONSIBILITY_SUFFIX} y ningún procedimiento lo llama",
            process_id, line))
    for name in sorted(n for n in trees if n.endswith(".bpmn")):
        defined = [p for p, f in index.process_files.items() if f == name]
        if not any(p in executable for p in defined):
            problems.append(DefinitionProblem(
                name, "El archivo no tiene ningún proceso ejecutable (isExecutable=\"true\"): "
                      "no define ningún procedimiento"))
    return problems


def _add_dmn(parser: SpiffBpmnParser, root: etree._Element, name: str) -> None:
    try:
        parser.add_dmn_xml(root, filename=name)
    except etree.XMLSchemaParseError:
        # SpiffWorkflow 3.2 ships a DMN 1.2 schema that does not itself load (a broken import),
        # so a DMN 1.2 file cannot be checked against it; its DMN parser reads 1.2 fine.
        validator, parser.validator = parser.validator, None
        try:
            parser.add_dmn_xml(root, filename=name)
        finally:
            parser.validator = validator


def _copy(tree: etree._ElementTree) -> etree._ElementTree:
    # deepcopy keeps source line numbers, which XSD errors report.
    return copy.deepcopy(tree)


def _problem_from(error: Exception, fallback_file: str,
                  trees: Mapping[str, _XmlFile]) -> DefinitionProblem:
    """Turn anything SpiffWorkflow or lxml raised while parsing into a problem a person reads."""
    if not isinstance(error, ValidationException):
        line = getattr(error, "lineno", None)
        if isinstance(error, etree.XMLSchemaParseError):
            reason = "El esquema de este archivo no es compatible con Cauce (¿DMN 1.2 o 1.3?)"
        elif str(error).strip():
            reason = spanish_reason(str(error))
        else:
            reason = "SpiffWorkflow no pudo leer este archivo"
        return DefinitionProblem(fallback_file, reason,
                                 line=line if isinstance(line, int) else None)
    file = error.file_name or fallback_file
    element = error.id or None
    line = error.line_number if isinstance(error.line_number, int) else None
    if line is None and element and file in trees:
        line = trees[file].line_of(element)
    reason = spanish_reason(str(error.args[0] if error.args else error))
    if error.tag:
        reason = f"{reason} ({error.tag})"
    return DefinitionProblem(file, reason, element=element, line=line)


def _load_form(form_id: str, schema: bytes, ui: bytes | None) -> FormDefinition:
    """Load a form, checking each distinct content against JSON Schema's metaschema only once.

    That check is most of a procedure's check time (a bundle holding several procedures repeats
    their forms, and the editor re-checks unchanged forms), and its verdict depends only on the
    bytes; callers get their own copy, a refusal is never cached.
    """
    _load_form_checked(form_id, schema, ui)
    # The same content parsed again: a copy of its own, much cheaper than the check.
    return FormDefinition(form_id, json.loads(schema), json.loads(ui) if ui else {})


@functools.lru_cache(maxsize=512)
def _load_form_checked(form_id: str, schema: bytes, ui: bytes | None) -> FormDefinition:
    return load_form(form_id, schema.decode("utf-8"), ui.decode("utf-8") if ui else None)


def _compile_procedure(process_id: str, table: ResponsibilityTable,
                       tables: Mapping[str, ResponsibilityTable], parser: SpiffBpmnParser,
                       files: Mapping[str, bytes], trees: Mapping[str, _XmlFile],
                       index: _BpmnIndex) -> ProcessDefinition:
    table_file = process_id + RESPONSIBILITY_SUFFIX
    if process_id not in parser.get_process_ids():
        raise ProcessDefinitionError([DefinitionProblem(
            table_file, f"No hay un proceso ejecutable con id {process_id!r} en bpmn/")])
    try:
        spec = parser.get_spec(process_id)
        subs = parser.get_subprocess_specs(process_id)
    except Exception as error:  # noqa: BLE001 - a parser crash is a refusal, never a 500
        raise ProcessDefinitionError([_problem_from(error, _spec_file(index, process_id),
                                                    trees)]) from None
    all_specs = [spec, *subs.values()]
    problems: list[DefinitionProblem] = []

    def problem(element: str | None, reason: str) -> None:
        site_id = (element or "").split(" ")[0] or None
        file = index.file_of.get(site_id or "", spec.file or "")
        line = trees[file].line_of(site_id) if file in trees else None
        problems.append(DefinitionProblem(file, reason, element, line))

    for site, reason in vet(_code_sites(all_specs)):
        problem(site.element, f"{site.kind}: {reason}")
    for element, reason in _timer_problems(all_specs):
        problem(element, reason)
    for element, reason in unsupported_elements(process_id, {process_id: spec, **subs}):
        problem(element, reason)
    for pid in {process_id, *subs}:
        for element, reason in index.unread.get(pid, []):
            problem(element, reason)
    for start_id in index.processes[process_id]["unlaned_starts"]:
        problem(start_id, "El evento de inicio no está en ningún carril (lane): Cauce no sabe "
                          "qué rol inicia los casos")

    bundle_names = {s.file for s in all_specs if s.file}
    bundle_names.add(table_file)
    bundle_names.update(_dmn_files(all_specs, parser))
    process_ids = {process_id} | {s.name for s in subs.values() if s.name in index.processes}
    extra_tables = [tables[p] for p in sorted(process_ids - {process_id}) if p in tables]
    bundle_names.update(t.process_id + RESPONSIBILITY_SUFFIX for t in extra_tables)
    lanes_available = set(table.lanes)
    for extra in extra_tables:
        lanes_available.update(extra.lanes)

    forms: dict[str, dict[str, Any]] = {}
    activities = []
    for task_spec in _walk_task_specs(all_specs):
        # Whatever SpiffWorkflow hands out as manual work (user, manual and plain tasks) is a
        # human task of the inbox; only a user task must have a form.
        if not getattr(task_spec, "manual", False) or not task_spec.bpmn_id:
            continue
        bpmn_id = task_spec.bpmn_id
        file = index.file_of.get(bpmn_id, spec.file or "")
        line = trees[file].line_of(bpmn_id) if file in trees else None
        info = index.activities.get(bpmn_id)
        if info is None:
            problems.append(DefinitionProblem(file, "Tarea humana sin índice", bpmn_id, line))
            continue
        if info["lane"] is None:
            problems.append(DefinitionProblem(
                file, "La tarea no está en ningún carril (lane)", bpmn_id, line))
        elif info["lane"] not in lanes_available:
            problems.append(DefinitionProblem(
                file, f"El carril {info['lane']!r} no está en la tabla de responsabilidades "
                      f"{table_file}", bpmn_id, line))
        form_file = task_spec.extensions.get("properties", {}).get(FORM_PROPERTY)
        form_id = None
        if not form_file and isinstance(task_spec, UserTask):
            problems.append(DefinitionProblem(
                file, f"La tarea no nombra su formulario (propiedad {FORM_PROPERTY})", bpmn_id,
                line))
        elif form_file:
            form_id = form_file.removesuffix(".json")
            schema_name, ui_name = f"forms/{form_id}.json", f"forms/{form_id}.ui.json"
            if form_id not in forms:
                if schema_name not in files:
                    problems.append(DefinitionProblem(
                        file, f"No existe el formulario {schema_name}", bpmn_id, line))
                else:
                    try:
                        ui_data = files.get(ui_name)
                        form = _load_form(form_id, files[schema_name], ui_data or None)
                        forms[form_id] = {"schema": form.schema, "ui": form.ui}
                        bundle_names.add(schema_name)
                        if ui_data is not None:
                            bundle_names.add(ui_name)
                    except (ValueError, UnicodeDecodeError) as error:
                        problems.append(DefinitionProblem(schema_name, str(error)))
        activities.append({
            "bpmn_id": bpmn_id, "name": task_spec.bpmn_name or bpmn_id,
            "process_id": info["process_id"], "lane": info["lane"], "form_id": form_id,
            "timers": list(info["timers"]),
        })
    for row in table.lanes.values():
        if row.lane not in index.lanes_of.get(process_id, set()):
            problems.append(DefinitionProblem(
                table_file, f"El carril {row.lane!r} no existe en el proceso {process_id!r}"))
    if problems:
        raise ProcessDefinitionError(problems)

    bundle = {name: files[name].decode("utf-8") for name in sorted(bundle_names)}
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": index.processes[process_id]["name"] or table.title,
        "responsibility": json.dumps(table.to_json()),
        "extra_tables": [json.dumps(t.to_json()) for t in extra_tables],
        "forms": forms,
        "activities": activities,
        "start_lane": index.processes[process_id]["start_lane"],
        "overdue_timers": sorted(index.overdue_timers),
        "end_events": index.end_events,
        "side_branches": sorted(index.side_branches),
        "element_properties": {
            task_spec.bpmn_id: dict(task_spec.extensions["properties"])
            for task_spec in _walk_task_specs(all_specs)
            if getattr(task_spec, "bpmn_id", None)
            and getattr(task_spec, "extensions", {}).get("properties")
        },
    }
    return ProcessDefinition(process_id, _version_hash(process_id, bundle), bundle, manifest,
                             spec, subs)


def _spec_file(index: _BpmnIndex, process_id: str) -> str:
    """Return the file a process is defined in, for error messages."""
    return index.file_of.get(process_id, "")


def _version_hash(process_id: str, bundle: Mapping[str, str]) -> str:
    # The process id is part of the identity: two procedures may share every file.
    digest = hashlib.sha256(f"cauce-bundle-{MANIFEST_FORMAT}\n{process_id}\n".encode())
    for name in sorted(bundle):
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(bundle[name].encode()).digest())
    return digest.hexdigest()


def _dmn_files(specs: list[BpmnProcessSpec], parser: SpiffBpmnParser) -> set[str]:
    names = set()
    for task_spec in _walk_task_specs(specs):
        engine = getattr(task_spec, "dmnEngine", None)
        if engine is None:
            continue
        decision_id = engine.decision_table.id
        for dmn_parser in parser.dmn_parsers.values():
            decision = dmn_parser.decision
            if decision is not None and any(t.id == decision_id for t in decision.decisionTables):
                names.add(dmn_parser.filename)
    return names


def _walk_task_specs(specs: list[BpmnProcessSpec]) -> Iterator[Any]:
    for spec in specs:
        yield from spec.task_specs.values()


def _code_sites(specs: list[BpmnProcessSpec]) -> Iterator[CodeSite]:
    """Yield every piece of code SpiffWorkflow will evaluate for these specs."""
    for task_spec in _walk_task_specs(specs):
        element = getattr(task_spec, "bpmn_id", None) or task_spec.name
        for attr, kind in (("script", "Script"), ("prescript", "preScript"),
                           ("postscript", "postScript")):
            source = getattr(task_spec, attr, None)
            if source is not None:
                yield CodeSite(element, kind, source, "exec")
        if type(task_spec).__name__ == "ScriptTask" and getattr(task_spec, "script", None) is None:
            yield CodeSite(element, "Script", "", "exec")
        for condition, target in getattr(task_spec, "cond_task_specs", []):
            if condition is not None:
                yield CodeSite(element, f"Condición hacia {target}", condition.args[0], "eval")
        for event in _event_definitions(task_spec):
            kind = type(event).__name__
            expression = getattr(event, "expression", None)
            # A timer or a conditional event always evaluates its text; a message without
            # payload simply sends none.
            if expression or isinstance(event, (TimerEventDefinition,
                                                 ConditionalEventDefinition)):
                yield CodeSite(element, f"Expresión del evento ({kind})", expression or "",
                               "eval")
            for prop in getattr(event, "correlation_properties", None) or []:
                if getattr(prop, "retrieval_expression", None):
                    yield CodeSite(element, "Expresión de correlación",
                                   prop.retrieval_expression, "eval")
        if isinstance(task_spec, LoopTask):
            label = "Ciclo" if isinstance(task_spec, StandardLoopTask) else "Multi-instancia"
            for attr in ("cardinality", "condition"):
                source = getattr(task_spec, attr, None)
                if isinstance(source, str):
                    yield CodeSite(element, f"{label} ({attr})", source, "eval")
        for name, param in (getattr(task_spec, "operation_params", None) or {}).items():
            if isinstance(param, Mapping) and isinstance(param.get("value"), str):
                yield CodeSite(element, f"Parámetro {name}", param["value"], "eval")
        engine = getattr(task_spec, "dmnEngine", None)
        if engine is not None:
            yield from _dmn_sites(element, engine.decision_table)
    for spec in specs:
        condition = getattr(spec, "completion_condition", None)
        if isinstance(condition, str):
            yield CodeSite(spec.name, "Condición de finalización", condition, "eval")


def _event_definitions(task_spec: Any) -> Iterator[Any]:
    """Yield a task's event definition and, for a multiple event, each one it holds."""
    event = getattr(task_spec, "event_definition", None)
    pending = [event] if event is not None else []
    while pending:
        event = pending.pop()
        yield event
        pending.extend(getattr(event, "event_definitions", None) or [])


def _timer_problems(specs: list[BpmnProcessSpec]) -> Iterator[tuple[str, str]]:
    """Yield timers whose text is a constant that can never be a moment or a duration."""
    for task_spec in _walk_task_specs(specs):
        for event in _event_definitions(task_spec):
            tag = TIMER_TAG_OF.get(type(event).__name__)
            if tag and isinstance(event.expression, str):
                problem = constant_timer_problem(tag, event.expression)
                if problem:
                    yield task_spec.bpmn_id or task_spec.name, f"Temporizador ({tag}): {problem}"


def _dmn_sites(element: str, table: Any) -> Iterator[CodeSite]:
    where = f"{element} (DMN {table.id})"
    for column in table.inputs:
        if column.expression:
            yield CodeSite(where, f"Entrada {column.label or column.id}", column.expression, "eval")
    for rule in table.rules:
        for entry in rule.inputEntries:
            for lhs in entry.lhs:
                if lhs is None or not lhs.strip():
                    continue
                if "?" in lhs:
                    source = lhs.replace("?", "dmninputexpr")
                else:
                    # SpiffWorkflow compares with == unless the entry starts with an operator.
                    source = f"(dmninputexpr) == ({lhs})"
                    try:
                        compile(source, "<dmn>", "eval")
                    except SyntaxError:
                        source = f"dmninputexpr {lhs}"
                yield CodeSite(where, f"Regla {rule.row_number}, entrada", source, "eval")
        for out in rule.outputEntries:
            if out.text and out.text.strip():
                yield CodeSite(where, f"Regla {rule.row_number}, salida", out.text, "eval")


# --------------------------------------------------------------------------------------------
# The BPMN index: what SpiffWorkflow does not tell us reliably (lanes of nested tasks, which
# timers bound a task, where each element lives).


@dataclass
class _BpmnIndex:
    file_of: dict[str, str]
    processes: dict[str, dict[str, Any]]
    lanes_of: dict[str, set[str]]
    activities: dict[str, dict[str, Any]]
    overdue_timers: set[str]
    end_events: dict[str, str]
    # Elements downstream of non-interrupting boundary events: side work that runs beside the
    # main flow (e.g. an escalation) and must not overwrite the case's main data.
    side_branches: set[str]
    # Processes each process calls (calledElement of its call activities), and the file that
    # defines each process.
    calls: dict[str, set[str]] = field(default_factory=dict)
    process_files: dict[str, str] = field(default_factory=dict)
    # Elements SpiffWorkflow reads without their meaning, by process: (element id, reason).
    unread: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def _index_bpmn(trees: Mapping[str, _XmlFile]) -> _BpmnIndex:
    index = _BpmnIndex({}, {}, {}, {}, set(), {}, set())
    for name, xml in trees.items():
        root = xml.tree.getroot()
        for element in root.iter():
            element_id = element.get("id") if isinstance(element.tag, str) else None
            if element_id:
                index.file_of.setdefault(element_id, name)
        bounds = _shape_bounds(root)
        for process in root.iterfind("bpmn:process", NS):
            if process.get("id"):
                index.process_files.setdefault(process.get("id"), name)
                _index_process(index, process, bounds)
    return index


def _shape_bounds(root: etree._Element) -> dict[str, tuple[float, float, float, float]]:
    bounds = {}
    for shape in root.iterfind(".//bpmndi:BPMNShape", NS):
        box, element = shape.find("dc:Bounds", NS), shape.get("bpmnElement")
        if box is not None and element:
            try:
                x, y, w, h = (float(box.get(k, 0)) for k in ("x", "y", "width", "height"))
            except ValueError:
                continue  # a drawing we cannot read only loses the lane-by-position fallback
            bounds[element] = (x, y, w, h)
    return bounds


def _index_process(index: _BpmnIndex, process: etree._Element,
                   bounds: Mapping[str, tuple[float, float, float, float]]) -> None:
    process_id = process.get("id")
    # Camunda Modeler writes an empty <childLaneSet/> on plain lanes: a lane is a leaf when it
    # has no child lanes, whatever wraps them.
    leaf_lanes = [lane for lane in process.iterfind(".//bpmn:lane", NS)
                  if lane.find("bpmn:childLaneSet/bpmn:lane", NS) is None]
    lane_of_ref: dict[str, str] = {}
    for lane in leaf_lanes:
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            if ref.text:
                lane_of_ref[ref.text.strip()] = lane.get("id")
    index.lanes_of[process_id] = {lane.get("id") for lane in leaf_lanes}

    def lane_of(element: etree._Element) -> str | None:
        # flowNodeRef first (what BPMN says), then the drawing (what the user sees), then the
        # enclosing subprocess's lane.
        element_id = element.get("id")
        if element_id in lane_of_ref:
            return lane_of_ref[element_id]
        if element_id in bounds:
            x, y, w, h = bounds[element_id]
            cx, cy = x + w / 2, y + h / 2
            for lane in leaf_lanes:
                lb = bounds.get(lane.get("id"))
                if lb and lb[0] <= cx <= lb[0] + lb[2] and lb[1] <= cy <= lb[1] + lb[3]:
                    return lane.get("id")
        # Inside any container (subprocess, transaction, ad hoc subprocess) the container's lane.
        parent = element.getparent()
        if parent is not None and parent is not process:
            return lane_of(parent)
        return None

    boundary: dict[str, list[str]] = {}
    for event in process.iterfind(".//bpmn:boundaryEvent", NS):
        if event.find("bpmn:timerEventDefinition", NS) is not None:
            boundary.setdefault(event.get("attachedToRef"), []).append(event.get("id"))
            for prop in event.iterfind(".//spiffworkflow:property", NS):
                if prop.get("name") == "marksCaseOverdue" and prop.get("value") == "true":
                    index.overdue_timers.add(event.get("id"))

    successors: dict[str, list[str]] = {}
    for flow in process.iterfind(".//bpmn:sequenceFlow", NS):
        successors.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
    pending = [event.get("id") for event in process.iterfind(".//bpmn:boundaryEvent", NS)
               if event.get("cancelActivity") == "false"]
    while pending:
        node_id = pending.pop()
        if node_id not in index.side_branches:
            index.side_branches.add(node_id)
            pending.extend(successors.get(node_id, []))

    starts = process.findall("bpmn:startEvent", NS)
    index.processes[process_id] = {
        "name": process.get("name"),
        "start_lane": lane_of(starts[0]) if starts else None,
        "unlaned_starts": [s.get("id") for s in starts if lane_of(s) is None],
    }
    # SpiffWorkflow 3.2 drops link events' definitions: the throw ends its path and the catch
    # is never reached, so a case would stop with nothing to do.
    index.unread[process_id] = [
        (link.getparent().get("id"), "Evento de enlace (link): Cauce no puede seguirlo; "
                                     "una los dos puntos con un flujo de secuencia")
        for link in process.iterfind(".//bpmn:linkEventDefinition", NS)]
    index.calls[process_id] = {c.get("calledElement") for c in
                               process.iterfind(".//bpmn:callActivity", NS)
                               if c.get("calledElement")}
    for end in process.iterfind(".//bpmn:endEvent", NS):
        index.end_events[end.get("id")] = end.get("name") or end.get("id")
    for tag in ("userTask", "manualTask", "task"):
        for task in process.iterfind(f".//bpmn:{tag}", NS):
            timers: list[str] = []
            node: etree._Element | None = task
            while node is not None and node is not process:
                timers.extend(boundary.get(node.get("id"), []))
                node = node.getparent()
            index.activities[task.get("id")] = {
                "process_id": process_id, "lane": lane_of(task), "timers": timers,
            }
