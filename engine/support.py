"""What Cauce can run: the load-time rules SpiffWorkflow's parser leaves out, in Spanish.

SpiffWorkflow parses some constructs it cannot run inside Cauce (a service task with no
connector, a message nobody can send, a process that calls itself), reads timer literals as
Python, and explains its own refusals in English, sometimes with a Python repr. The library
asks this module what to refuse and how to say it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent, ThrowingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

# --------------------------------------------------------------------------------------------
# Timer literals. SpiffWorkflow evaluates every timer text as a Python expression, so the
# ``P15D`` that bpmn.io and Camunda write is a NameError at run time and ``2026-03-01`` is a
# subtraction. Texts that are unmistakably ISO 8601 are quoted before SpiffWorkflow reads them.

_NUMBER = r"\d+(?:[.,]\d+)?"
_DURATION = re.compile(
    rf"P(?=[\dT])(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
    rf"(?:T(?=\d)(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?", re.IGNORECASE)
_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?")
_CYCLE = re.compile(r"R\d*/[^/\s]+(?:/[^/\s]+)?", re.IGNORECASE)
TIMER_TAGS = ("timeDate", "timeDuration", "timeCycle")


def timer_literal_problem(tag: str, value: str) -> str | None:
    """Return why ``value`` is not a valid literal for a timer of this kind, or None."""
    try:
        if tag == "timeDuration":
            TimerEventDefinition.parse_iso_duration(value)
        elif tag == "timeDate":
            if not _DATE.fullmatch(value.strip()):
                return f"{value!r} no es una fecha ISO 8601 (p. ej. 2026-03-01T10:00:00Z)"
            TimerEventDefinition.get_datetime(value.strip())
        else:
            TimerEventDefinition.parse_iso_recurring_interval(value)
    except Exception:  # noqa: BLE001 - SpiffWorkflow's parsers raise bare Exception and others
        examples = {"timeDuration": "P15D, PT1H", "timeDate": "2026-03-01T10:00:00Z",
                    "timeCycle": "R3/PT1H, R6/P1D"}[tag]
        return f"{value!r} no es un valor ISO 8601 válido (p. ej. {examples})"
    return None


def _is_iso_literal(tag: str, text: str) -> bool:
    shape = {"timeDuration": _DURATION, "timeDate": _DATE, "timeCycle": _CYCLE}[tag]
    return bool(shape.fullmatch(text)) and timer_literal_problem(tag, text) is None


def quote_timer_literals(root: etree._Element) -> None:
    """Quote, in place, every timer text that is an ISO 8601 literal rather than an expression."""
    for tag in TIMER_TAGS:
        for element in root.iter(f"{{{BPMN_NS}}}{tag}"):
            text = (element.text or "").strip()
            if text and _is_iso_literal(tag, text):
                element.text = f'"{text}"'


def constant_timer_problem(tag: str, source: str) -> str | None:
    """Return why a timer expression that is a constant can never work, or None."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # the sandbox's compile reports it
    if not isinstance(tree.body, ast.Constant):
        return None
    if not isinstance(tree.body.value, str):
        return "el temporizador debe dar una fecha o duración ISO 8601 entre comillas"
    return timer_literal_problem(tag, tree.body.value)


TIMER_TAG_OF = {
    "TimeDateEventDefinition": "timeDate",
    "DurationTimerEventDefinition": "timeDuration",
    "CycleTimerEventDefinition": "timeCycle",
}


# --------------------------------------------------------------------------------------------
# Elements SpiffWorkflow parses but Cauce cannot run.


def unsupported_elements(process_id: str, specs: Mapping[str, BpmnProcessSpec],
                         ) -> Iterator[tuple[str, str]]:
    """Yield (element id, Spanish reason) for every construct of a procedure Cauce cannot run.

    ``specs`` holds the main process under ``process_id`` and every process it calls.
    """
    task_specs = [t for spec in specs.values() for t in spec.task_specs.values()]
    thrown = {_event_key(t.event_definition) for t in task_specs
              if isinstance(t, ThrowingEvent) and _event_key(t.event_definition)}
    event_subprocesses = {t.spec for t in task_specs if type(t).__name__ == "EventSubprocess"}
    for task_spec in task_specs:
        element = getattr(task_spec, "bpmn_id", None)
        if not element:
            continue
        if isinstance(task_spec, ServiceTask):
            yield element, ("Tarea de servicio: Cauce no tiene conectores para llamar a "
                            "servicios externos; use una tarea de script o una tarea humana")
            continue
        if type(task_spec).__name__ == "EventBasedGateway":
            # The engine schedules timers from the timer events themselves; the ones behind an
            # event-based gateway wait inside the gateway, where it does not look.
            yield element, ("Compuerta basada en eventos: Cauce aún no vigila los temporizadores "
                            "que la siguen; use un temporizador de borde sobre una tarea")
            continue
        if type(task_spec).__name__ == "AdHocSubprocess":
            # SpiffWorkflow 3.2 parses them, but a case stops with an error as soon as one starts.
            yield element, ("Subproceso ad hoc: Cauce no puede ejecutarlo; dibuje sus tareas "
                            "con una compuerta paralela o inclusiva")
            continue
        if isinstance(task_spec, CatchingEvent):
            key = _event_key(task_spec.event_definition)
            if key and key not in thrown and _waits_for_ever(task_spec, event_subprocesses):
                kind, name = key
                label = "el mensaje" if kind == "message" else "la señal"
                named = f"{label} «{name}»" if name else f"{label} sin nombre"
                yield element, (f"Espera {named}, pero ningún elemento de este procedimiento "
                                "lo envía y Cauce no recibe mensajes ni señales de fuera: el "
                                "caso quedaría detenido para siempre")
    cycle = _call_cycle(process_id, specs)
    if cycle:
        caller, element = cycle[-2], _call_element(specs[cycle[-2]], cycle[-1])
        yield element or caller, "Llamada recursiva: " + " → ".join(cycle)


def _event_key(event: Any) -> tuple[str, str] | None:
    for kind, cls in (("message", MessageEventDefinition), ("signal", SignalEventDefinition)):
        if isinstance(event, cls):
            return (kind, " ".join(str(event.name or "").split()))
    return None


def _waits_for_ever(task_spec: Any, event_subprocesses: set[str]) -> bool:
    """Tell whether a catch that never fires would stop the case, rather than go unused."""
    if type(task_spec).__name__ == "BoundaryEvent":
        return False  # the task it is attached to still completes on its own
    if isinstance(task_spec, StartEvent):
        # An event subprocess that never starts is unused; any other start is a wait.
        return task_spec._wf_spec.name not in event_subprocesses
    # An interrupting timer on the waiting task still moves the case on.
    for split in task_spec.inputs:
        if type(split).__name__ == "BoundaryEventSplit":
            return not any(getattr(b, "cancel_activity", False)
                           and isinstance(getattr(b, "event_definition", None),
                                          TimerEventDefinition) for b in split.outputs)
    return True


def _call_cycle(process_id: str, specs: Mapping[str, BpmnProcessSpec]) -> list[str] | None:
    calls = {pid: [t.spec for t in spec.task_specs.values() if isinstance(t, CallActivity)]
             for pid, spec in specs.items()}
    path: list[str] = []

    def visit(pid: str) -> list[str] | None:
        if pid in path:
            return [*path[path.index(pid):], pid]
        path.append(pid)
        for called in calls.get(pid, []):
            found = visit(called)
            if found:
                return found
        path.pop()
        return None

    return visit(process_id)


def _call_element(spec: BpmnProcessSpec, called: str) -> str | None:
    for task_spec in spec.task_specs.values():
        if isinstance(task_spec, CallActivity) and task_spec.spec == called:
            return task_spec.bpmn_id
    return None


def dmn_table_problems(root: etree._Element) -> Iterator[tuple[str, str]]:
    """Yield (table id, Spanish reason) for decision tables SpiffWorkflow would misread.

    SpiffWorkflow returns the first matching rule for every hit policy but COLLECT, and ignores
    COLLECT's aggregation: only the policies where that is the DMN meaning are accepted.
    """
    for table in root.iter():
        if not isinstance(table.tag, str) or etree.QName(table).localname != "decisionTable":
            continue
        policy = (table.get("hitPolicy") or "UNIQUE").upper()
        if policy == "COLLECT" and table.get("aggregation"):
            yield table.get("id") or "", (
                f"Política COLLECT con agregación {table.get('aggregation')}: Cauce devuelve "
                "la lista de resultados sin agregarlos; quite la agregación o calcúlela en un "
                "script")
        elif policy not in ("UNIQUE", "FIRST", "ANY", "COLLECT"):
            yield table.get("id") or "", (
                f"Política de aciertos {policy}: Cauce admite UNIQUE, FIRST, ANY y COLLECT")


# --------------------------------------------------------------------------------------------
# SpiffWorkflow's refusals, said in Spanish and without Python internals.

_TRANSLATIONS: list[tuple[re.Pattern[str], str]] = [(re.compile(p, re.IGNORECASE), s) for p, s in [
    (r"There is no support implemented for this task type",
     "Cauce no puede ejecutar este tipo de elemento"),
    (r"A Service Task must have an operator",
     "Tarea de servicio sin operador: Cauce no tiene conectores para llamar a servicios "
     "externos"),
    (r"Exactly one start event is required in a SubWorkflow Task; found (\d+)",
     "Un subproceso necesita exactamente un evento de inicio (tiene \\1)"),
    (r"A SubWorkflow Must contain an End event", "Un subproceso necesita un evento de fin"),
    (r"No start event found", "El proceso no tiene evento de inicio"),
    (r"Process (\S+) is not executable", "El proceso \\1 no es ejecutable (isExecutable)"),
    (r"Data Store with name (.+) has no implementation",
     "Almacén de datos «\\1»: Cauce no conecta almacenes de datos externos"),
    (r"Data Store (name|identifier) is missing",
     "Almacén de datos sin nombre: Cauce no conecta almacenes de datos externos"),
    (r"Non-default exclusive outgoing sequence flow without condition",
     "Una salida de la compuerta exclusiva no tiene condición y no es la salida por defecto"),
    (r"Multiple outgoing flows are not supported for tasks of type",
     "Una tarea con varias salidas: use una compuerta para dividir el flujo"),
    (r"A multiinstance task must specify (a|exactly one of) cardinality or",
     "La multi-instancia debe indicar una cardinalidad o una colección de entrada (y solo una)"),
    (r"The loop (input|output) data reference is missing",
     "La multi-instancia nombra una colección que no está en su ioSpecification"),
    (r"A loopMaximum or loopCondition must be specified",
     "El ciclo estándar necesita loopMaximum o loopCondition"),
    (r"Unknown Time Specification",
     "El temporizador no dice cuándo vence (timeDate, timeDuration o timeCycle)"),
    (r"Time Specification Error", "El temporizador no se puede leer"),
    (r"Cannot resolve data(Input|Output)Association",
     "Una asociación de datos apunta a un objeto de datos que no existe"),
    (r"Conditional event definition with missing condition",
     "El evento condicional no tiene condición"),
    (r"Expected an? (\w+) node", "El evento no nombra su definición (\\1)"),
    # SpiffWorkflow 3.2 crashes (TypeError) while reporting an event whose reference is broken.
    (r"raise_validation_exception\(\) got an unexpected keyword",
     "El evento nombra un mensaje, señal, error o escalamiento que no está definido en el "
     "archivo"),
    (r"(Message|Signal|Error|Escalation|Correlation) identifier is missing",
     "Falta el identificador de \\1"),
    (r"Could not find messageRef", "El evento nombra un mensaje que no existe"),
    (r"Correlation is missing correlation property retrieval expressions",
     "Una correlación no tiene expresiones de recuperación"),
    (r"Message identifier is missing from correlation property",
     "Una propiedad de correlación no nombra su mensaje"),
    (r"Cancel Events may only be used with transactions",
     "Un evento de cancelación solo puede usarse en una transacción"),
    (r"Ad hoc subprocesses may not contain start or end events",
     "Un subproceso ad hoc no puede tener eventos de inicio ni de fin"),
    (r"No \"calledElement\" attribute",
     "La actividad de llamada no dice qué proceso llama (calledElement)"),
    (r"The process '([^']*)' was not found",
     "La actividad de llamada nombra el proceso '\\1', que no existe en la biblioteca"),
    (r"No DMN Diagram available with id \"?([^\"]*)\"?",
     "La tarea de regla de negocio nombra la decisión '\\1', que no existe"),
    (r"Duplicate process ID: (\S+)", "El id de proceso \\1 está repetido"),
    (r"Invalid Script Task", "La tarea de script no tiene script"),
    (r"Multiple decision tables are not current supported",
     "La decisión tiene varias tablas: Cauce admite una tabla por decisión"),
    (r"No decisions found", "El archivo DMN no tiene decisiones"),
    (r"Unknown type in decision table", "La tabla de decisión tiene un tipo desconocido"),
    (r"Malformed Output Expression", "Una expresión de salida de la tabla DMN está mal formada"),
    (r"Unsupported (Catch|Throw) Event",
     "Cauce no puede ejecutar este tipo de evento (p. ej. compensación)"),
    # What SpiffWorkflow's DMN parser raises (IndexError) on a decision with no table.
    (r"list index out of range",
     "SpiffWorkflow no puede leer la decisión DMN: ¿le falta su tabla de decisión o una parte "
     "de ella?"),
    (r"When looking for a task spec, we found two items",
     "Dos elementos comparten el mismo id"),
]]
_REPR = re.compile(r"<(?:Element|[\w.]+ object) [^>]*? at 0x[0-9a-f]+>", re.IGNORECASE)
_EXCEPTION_REPR = re.compile(r"\b[A-Z]\w*(?:Error|Exception)\(")


def spanish_reason(message: str) -> str:
    """Return SpiffWorkflow's or lxml's message as a Spanish sentence with no Python internals."""
    text = " ".join(str(message).split())
    for pattern, spanish in _TRANSLATIONS:
        match = pattern.search(text)
        if match:
            return match.expand(spanish)
    if text.startswith("Element '{") or "Schemas validity error" in text:
        return "El archivo no cumple el esquema BPMN/DMN 2.0: " + clean_detail(text)
    return "SpiffWorkflow no puede leer este elemento: " + clean_detail(text)


def clean_detail(text: str) -> str:
    """Strip object reprs and exception constructors from a technical message."""
    text = _REPR.sub("(elemento)", str(text))
    text = _EXCEPTION_REPR.sub("(", text)
    text = re.sub(r"\{http://www\.omg\.org/spec/(BPMN|DMN)/[^}]*\}", "", text)
    text = re.sub(r"\{[^}]*\}", "", text)
    return text.strip() or "error desconocido"

