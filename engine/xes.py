"""The event log of a procedure's cases as XES (IEEE 1849-2016), for process-mining tools.

One trace per case (``concept:name`` the case number; the procedure, its version, status and
outcome as trace attributes) and one event per step people or timers took, written as it is
read: cases a page at a time, each page's events in one query, so ten thousand cases never sit
in memory as one document.

Which log events become XES events, and their ``lifecycle:transition`` (standard lifecycle
model):
- ``task_completed`` → the activity, ``complete``; ``org:resource`` the person, ``org:role``
  the role's name.
- ``task_claimed`` → the activity, ``assign`` (someone took the work item, the work is not done);
- ``task_released`` → the activity, ``reassign`` (the work item went back to its role's pool).
- ``timer_fired`` → one event per timer that fired, named after the timer, ``complete``: a
  timer is an instant, not work, so it has no start; no resource (no person caused it).
- a timer already due when someone completed a task fired inside that step: the log keeps it in
  the step's ``path``, not as a ``timer_fired`` event. It is written after the task, as its own
  ``complete`` event at the step's instant — read by the same rule the conformance check uses
  (``conformance.activities``), so both see the same trace.
Engine bookkeeping (case started or completed, deadline flags, effects) is not activity and is
left out; automatic elements (scripts, gateways) stay in Cauce's own log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any
from xml.sax.saxutils import quoteattr

from .case_pages import case_pages
from .conformance import ProcessNet, TraceEvent, activities, process_net
from .library import ProcessDefinition

XES_EVENTS = ("task_completed", "task_claimed", "task_released", "timer_fired")
_LIFECYCLE = {"task_completed": "complete", "task_claimed": "assign",
              "task_released": "reassign", "timer_fired": "complete"}

_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1849-2016" xes.features="nested-attributes" xmlns="http://www.xes-standard.org/">
<extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
<extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
<extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
<extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>
<global scope="trace">
<string key="concept:name" value="__INVALID__"/>
</global>
<global scope="event">
<string key="concept:name" value="__INVALID__"/>
<date key="time:timestamp" value="1970-01-01T00:00:00.000+00:00"/>
<string key="lifecycle:transition" value="complete"/>
</global>
<classifier name="Actividad" keys="concept:name"/>
<classifier name="Actividad y ciclo" keys="concept:name lifecycle:transition"/>
"""


@dataclass(frozen=True)
class XesSummary:
    """What an export wrote."""

    traces: int
    events: int
    bytes: int


def export(reader: Callable[[], Any], definition: Callable[[int], ProcessDefinition],
           target: IO[bytes], *, process_id: str, started_from: datetime | None = None,
           started_before: datetime | None = None) -> XesSummary:
    """Write the cases of a procedure started in [from, before) to ``target`` as XES."""
    names: dict[int, dict[str, str]] = {}
    roles: dict[int, dict[str, str]] = {}
    versions: dict[int, str] = {}
    nets: dict[int, ProcessNet] = {}
    traces = events = written = 0

    def put(text: str) -> None:
        nonlocal written
        data = text.encode("utf-8")
        target.write(data)
        written += len(data)

    put(_HEADER)
    put(_string("concept:name", f"Cauce: {process_id}"))
    put(_string("lifecycle:model", "standard"))
    for cases, by_case in case_pages(reader, process_id, started_from, started_before,
                                     XES_EVENTS):
        for case in cases:
            if case.version_id not in names:
                found = definition(case.version_id)
                names[case.version_id] = _element_names(found)
                roles[case.version_id] = {r.role: r.role_name for r in found.roles().values()}
                versions[case.version_id] = found.version_hash
                nets[case.version_id] = process_net(found)
            labels, role_names = names[case.version_id], roles[case.version_id]
            parts = ["<trace>\n", _string("concept:name", case.number),
                     _string("cauce:process", case.process_id),
                     _string("cauce:version", versions[case.version_id]),
                     _string("cauce:status", case.status),
                     _date("cauce:started", case.started_at)]
            if case.outcome:
                parts.append(_string("cauce:outcome", case.outcome))
            for row in by_case.get(case.id, ()):
                for event in _events(row, labels, role_names, nets[case.version_id]):
                    parts.append(event)
                    events += 1
            parts.append("</trace>\n")
            put("".join(parts))
            traces += 1
    put("</log>\n")
    return XesSummary(traces=traces, events=events, bytes=written)


def _events(row: Any, labels: dict[str, str], role_names: dict[str, str],
            net: ProcessNet) -> Iterator[str]:
    transition = _LIFECYCLE[row.event_type]
    if row.event_type == "timer_fired":
        for timer in (row.data or {}).get("timers", []):
            yield _event(labels.get(timer, timer), row.at, transition, None, None, timer)
        return
    activity = row.activity_id or ""
    role = role_names.get(row.role, row.role) if row.role else None
    yield _event(labels.get(activity, activity), row.at, transition, row.actor, role, activity)
    if row.event_type == "task_completed":
        path = tuple(e for e in (row.data or {}).get("path") or () if isinstance(e, str))
        step = TraceEvent(activity, row.at, row.actor, path)
        for fired in activities([step], net)[1:]:
            yield _event(labels.get(fired.element, fired.element), fired.at, "complete", None,
                         None, fired.element)


def _event(name: str, at: datetime, transition: str, resource: str | None, role: str | None,
           element: str) -> str:
    parts = ["<event>", _string("concept:name", name), _date("time:timestamp", at),
             _string("lifecycle:transition", transition), _string("cauce:element", element)]
    if resource:
        parts.append(_string("org:resource", resource))
    if role:
        parts.append(_string("org:role", role))
    parts.append("</event>\n")
    return "".join(parts)


def _string(key: str, value: str) -> str:
    return f"<string key={quoteattr(key)} value={quoteattr(_xml_text(value))}/>"


def _date(key: str, value: datetime) -> str:
    stamp = value.astimezone(UTC).isoformat(timespec="milliseconds")
    return f"<date key={quoteattr(key)} value={quoteattr(stamp)}/>"


def _xml_text(value: str) -> str:
    # XML 1.0 cannot carry most control characters, not even escaped.
    return "".join(c for c in str(value) if c in "\t\n\r" or ord(c) >= 0x20)


def _element_names(definition: ProcessDefinition) -> dict[str, str]:
    names: dict[str, str] = {}
    for spec in _specs(definition):
        for task_spec in spec.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id:
                names.setdefault(bpmn_id, getattr(task_spec, "bpmn_name", None) or bpmn_id)
    for bpmn_id, activity in definition.activities.items():
        names[bpmn_id] = activity.name
    return names


def _specs(definition: ProcessDefinition) -> Iterable[Any]:
    yield definition.spec
    yield from definition.subprocess_specs.values()

