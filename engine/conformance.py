"""Conformance of cases to their procedure: a Petri net of the BPMN and token-based replay.

Cauce computes this itself (PM4Py is AGPL-3.0 and heavy; the tests use it as the oracle): the
procedure version's BPMN becomes a workflow net, and each case's trace (the activities people
completed and the timers that fired, in log order: the events the XES export writes as
``complete``) is replayed on it token by token. Per case: produced, consumed, missing and
remaining tokens and fitness = ½(1 − missing/consumed) + ½(1 − remaining/produced), PM4Py's
formula; where it deviates (the first activity that was not enabled, the activities the model
expected first, activities the model does not know, work left pending).

How the BPMN becomes a net (silent transitions only where a place cannot do the job, so that a
fitting trace needs few of them):
- a sequence flow is a place; an exclusive or event-based gateway, a none event and an
  automatic task (script, service, rule…) with one way in and out merge into that place, unless
  merging would let a token take a branch it could not take in BPMN (then a silent transition);
- a human task (the procedure's activities) and a timer catch event are visible transitions
  labelled with their element id; several incoming flows join by sharing the input place;
- a parallel gateway is a silent transition (an inclusive gateway is treated as parallel: the
  procedures use none);
- an embedded subprocess or a call activity (the called process inlined) with boundary events
  gets silent enter and exit transitions and, per boundary, an *armed* place held while it runs;
  a non-interrupting timer keeps it armed and starts its side branch, whose end folds into the
  process end by a silent transition; an escalation or error end inside is caught by its
  interrupting boundary. One silent transition per way out, never alternatives, so that PM4Py's
  heuristics and ours take the same silent steps. An interrupting timer cannot withdraw the
  tokens inside without reset arcs: they count as remaining.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree

from .case_pages import case_pages
from .library import ProcessDefinition
from .xmlsafe import parse_untrusted_xml

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_Q = f"{{{BPMN_NS}}}"
TRACE_EVENTS = ("case_started", "task_completed", "timer_fired")
_AUTOMATIC = {"task", "scriptTask", "serviceTask", "businessRuleTask", "sendTask",
              "receiveTask"}
_HUMAN = {"userTask", "manualTask"}
_PLACE_LIKE = {"exclusiveGateway", "eventBasedGateway", "startEvent", "endEvent",
               "intermediateThrowEvent"}
_SCOPES = {"subProcess", "transaction", "adHocSubProcess", "callActivity"}
_SEARCH_STATES = 4000
_MAX_INLINE_DEPTH = 4


@dataclass(frozen=True)
class NetTransition:
    """A transition of the net: visible ones carry the BPMN element id as label."""

    name: str
    label: str | None
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class ProcessNet:
    """A procedure version as a workflow net (one initial and one final place)."""

    process_id: str
    places: frozenset[str]
    transitions: tuple[NetTransition, ...]
    initial: str
    final: str
    names: dict[str, str] = field(default_factory=dict)
    timers: frozenset[str] = frozenset()

    def label_name(self, label: str) -> str:
        """Return the name people know an element by."""
        return self.names.get(label, label)


@dataclass(frozen=True)
class TraceFitness:
    """Token replay of one trace."""

    produced: int
    consumed: int
    missing: int
    remaining: int
    fitness: float
    first_deviation: str | None = None   # element id of the first activity not enabled
    deviation_index: int | None = None   # its position in the trace (0-based)
    skipped: tuple[str, ...] = ()        # what the model expected before it
    unknown: tuple[str, ...] = ()        # activities the model does not have
    pending: tuple[str, ...] = ()        # activities left enabled when a finished case ended

    @property
    def fits(self) -> bool:
        """Tell whether the trace replays without missing or remaining tokens."""
        return self.missing == 0 and self.remaining == 0 and not self.unknown


# -- building the net -----------------------------------------------------------------------


class _NetBuilder:
    def __init__(self, definition: ProcessDefinition):
        self.definition = definition
        self.visible = set(definition.activities)
        self.names: dict[str, str] = {}
        self.processes: dict[str, etree._Element] = {}
        for name, text in definition.bundle.items():
            if name.endswith(".bpmn"):
                root = parse_untrusted_xml(text.encode("utf-8")).getroot()
                for process in root.iter(f"{_Q}process"):
                    self.processes.setdefault(process.get("id", ""), process)
                for element in root.iter():
                    if isinstance(element.tag, str) and element.get("id") and element.get("name"):
                        self.names.setdefault(element.get("id", ""), element.get("name", ""))
        for bpmn_id, activity in definition.activities.items():
            self.names[bpmn_id] = activity.name
        self.parent: dict[str, str] = {}
        self.transitions: list[tuple[str, str | None, list[str], list[str]]] = []
        self.done_places: list[str] = []
        self.timers: set[str] = set()

    def place(self, name: str) -> str:
        self.parent.setdefault(name, name)
        return name

    def find(self, name: str) -> str:
        root = self.place(name)
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[name] != root:
            self.parent[name], name = root, self.parent[name]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra

    def transition(self, name: str, label: str | None, inputs: Iterable[str],
                   outputs: Iterable[str]) -> str:
        ins = [self.place(p) for p in inputs]
        outs = [self.place(p) for p in outputs]
        self.transitions.append((name, label, ins, outs))
        return name

    def build(self) -> ProcessNet:
        process = self.processes.get(self.definition.process_id)
        if process is None:
            raise ValueError(f"El BPMN no define el proceso {self.definition.process_id!r}")
        start, end, escalations = self.scope(process, "", 0)
        self.place("start")
        self.union("start", start)
        for place, _code in escalations:
            self.union(end, place)
        final = end
        if self.done_places:
            # The main flow closes first; a side branch that finished then folds into the end.
            final = self.place("fin")
            self.transition("τ:cerrar", None, [end], [final])
            for number, branch_end in enumerate(self.done_places):
                self.transition(f"τ:fin·rama{number}", None, [branch_end, final], [final])
        transitions = tuple(
            NetTransition(name, label, tuple(self.find(p) for p in ins),
                          tuple(self.find(p) for p in outs))
            for name, label, ins, outs in self.transitions)
        places = frozenset(self.find(p) for p in self.parent)
        return ProcessNet(self.definition.process_id, places, transitions, self.find("start"),
                          self.find(final), dict(self.names), frozenset(self.timers))

    def scope(self, container: etree._Element, prefix: str,
              depth: int) -> tuple[str, str, list[tuple[str, str | None]]]:
        """Wire one process or subprocess; return its start place, end place and escalations."""
        nodes: dict[str, etree._Element] = {}
        flows: list[tuple[str, str, str]] = []
        for child in container:
            if not isinstance(child.tag, str) or not child.tag.startswith(_Q):
                continue
            kind = etree.QName(child).localname
            if kind == "sequenceFlow":
                flows.append((child.get("id", ""), child.get("sourceRef", ""),
                              child.get("targetRef", "")))
            elif kind not in {"laneSet", "dataObject", "dataObjectReference",
                              "dataStoreReference", "textAnnotation", "association",
                              "extensionElements", "documentation", "ioSpecification",
                              "property", "multiInstanceLoopCharacteristics"}:
                nodes[child.get("id", "")] = child
        incoming: dict[str, list[str]] = {n: [] for n in nodes}
        outgoing: dict[str, list[str]] = {n: [] for n in nodes}
        flow_target: dict[str, str] = {}
        for fid, source, target in flows:
            if source in nodes and target in nodes:
                outgoing[source].append(fid)
                incoming[target].append(fid)
                flow_target[fid] = target
        start = self.place(f"{prefix}·inicio")
        end = self.place(f"{prefix}·fin")
        escalations: list[tuple[str, str | None]] = []
        # Per node: the place its incoming flows join in, and how it hands tokens on.
        entry: dict[str, list[str]] = {}
        exit_place: dict[str, str] = {}
        exit_transition: dict[str, str] = {}
        side_ends = self._side_branch_ends(nodes, outgoing, flow_target)

        def flow_place(fid: str) -> str:
            return self.place(prefix + fid)

        for node_id, element in nodes.items():
            kind = etree.QName(element).localname
            ins = [flow_place(f) for f in incoming[node_id]]
            outs = [flow_place(f) for f in outgoing[node_id]]
            joined = self.place(f"{prefix}{node_id}·entrada")
            if kind == "parallelGateway" or kind == "inclusiveGateway":
                entry[node_id] = ins
                exit_transition[node_id] = self.transition(
                    f"τ:{prefix}{node_id}", None, ins, outs)
                continue
            for place in ins:
                self.union(joined, place)
            entry[node_id] = [joined]
            if kind == "boundaryEvent":
                continue  # wired by the activity it is attached to
            if kind in _HUMAN or node_id in self.visible:
                exit_transition[node_id] = self.transition(
                    f"{prefix}{node_id}", node_id, [joined], outs or [end])
            elif kind == "intermediateCatchEvent" and _has(element, "timerEventDefinition"):
                self.timers.add(node_id)
                exit_transition[node_id] = self.transition(
                    f"{prefix}{node_id}", node_id, [joined], outs or [end])
            elif kind in _AUTOMATIC or kind == "intermediateCatchEvent":
                if len(outs) <= 1:
                    exit_place[node_id] = joined
                else:
                    exit_transition[node_id] = self.transition(
                        f"τ:{prefix}{node_id}", None, [joined], outs)
            elif kind == "startEvent":
                self.union(start, joined)
                exit_place[node_id] = joined
            elif kind == "endEvent":
                if node_id in side_ends:
                    self.union(side_ends[node_id], joined)
                elif _has(element, "escalationEventDefinition") or _has(
                        element, "errorEventDefinition"):
                    escalations.append((joined, _event_code(element)))
                else:
                    self.union(end, joined)
            elif kind in _SCOPES:
                exit_place[node_id] = self.activity_scope(
                    element, node_id, nodes, joined, prefix, depth, exit_transition)
            else:
                exit_place[node_id] = joined  # place-like: gateways, throw events
        # Hand the tokens on along each flow.
        for fid, source, target in flows:
            if source not in nodes or target not in nodes or source in exit_transition:
                continue
            here = exit_place.get(source)
            if here is None:
                continue
            if len(outgoing[source]) == 1 or len(incoming[target]) == 1:
                self.union(here, flow_place(fid))
            else:
                self.transition(f"τ:{prefix}{fid}", None, [here], [flow_place(fid)])
        return start, end, escalations

    def activity_scope(self, element: etree._Element, node_id: str,
                       nodes: dict[str, etree._Element], joined: str, prefix: str, depth: int,
                       exit_transition: dict[str, str]) -> str:
        """Wire a subprocess or call activity with its boundary events; return its exit place."""
        inner_prefix = f"{prefix}{node_id}/"
        kind = etree.QName(element).localname
        out = self.place(f"{prefix}{node_id}·salida")
        body: etree._Element | None = element
        if kind == "callActivity":
            body = self.processes.get(element.get("calledElement", ""))
            if body is None or depth >= _MAX_INLINE_DEPTH:
                body = None
        if body is None:
            self.transition(f"τ:{prefix}{node_id}", None, [joined], [out])
            return out
        inner_start, inner_end, escalations = self.scope(body, inner_prefix, depth + 1)
        boundaries = [b for b in nodes.values()
                      if etree.QName(b).localname == "boundaryEvent"
                      and b.get("attachedToRef") == node_id]
        if not boundaries:
            self.union(joined, inner_start)
            self.union(inner_end, out)
            for place, _code in escalations:
                self.union(inner_end, place)
            return out
        armed = {b.get("id", ""): self.place(f"{prefix}{b.get('id')}·armado") for b in boundaries}
        waiting = [b for b in boundaries if b.get("cancelActivity") == "false"]
        self.transition(f"τ:{prefix}{node_id}·entrar", None, [joined],
                        [inner_start, *armed.values()])

        every_armed = list(armed.values())
        self.transition(f"τ:{prefix}{node_id}·salir", None, [inner_end, *every_armed], [out])
        caught: set[int] = set()
        for b in boundaries:
            bid = b.get("id", "")
            b_outs = [self.place(f"{prefix}{fid}") for fid in _outgoing_of(b, nodes)]
            if _has(b, "timerEventDefinition") or _has(b, "timeCycle"):
                self.timers.add(bid)
                if b in waiting:
                    # Stays armed while the activity runs (a cycle may fire again).
                    exit_transition[bid] = self.transition(
                        f"{prefix}{bid}", bid, [armed[bid]], [armed[bid], *b_outs])
                    self.done_places.append(self.place(f"{prefix}{bid}·hecho"))
                else:
                    exit_transition[bid] = self.transition(
                        f"{prefix}{bid}", bid, list(armed.values()), b_outs)
                continue
            if b in waiting:
                continue  # non-interrupting escalations do not occur in the procedures
            code = _event_code(b)
            for index, (place, thrown) in enumerate(escalations):
                if index in caught or (code and thrown and code != thrown):
                    continue
                caught.add(index)
                self.transition(f"τ:{prefix}{bid}·{index}", None, [place, *every_armed], b_outs)
            exit_transition[bid] = bid
        for index, (place, _code) in enumerate(escalations):
            if index not in caught:
                self.union(inner_end, place)
        return out

    def _side_branch_ends(self, nodes: dict[str, etree._Element],
                          outgoing: dict[str, list[str]],
                          flow_target: dict[str, str]) -> dict[str, str]:
        """Map the end events of each non-interrupting boundary's branch to its *done* place."""
        ends: dict[str, str] = {}
        for b in nodes.values():
            if etree.QName(b).localname != "boundaryEvent" or b.get("cancelActivity") != "false":
                continue
            done = f"{b.get('id')}·hecho"
            seen: set[str] = set()
            queue = deque(flow_target[f] for f in outgoing.get(b.get("id", ""), [])
                          if f in flow_target)
            while queue:
                node_id = queue.popleft()
                if node_id in seen:
                    continue
                seen.add(node_id)
                if etree.QName(nodes[node_id]).localname == "endEvent":
                    ends[node_id] = done
                queue.extend(flow_target[f] for f in outgoing.get(node_id, [])
                             if f in flow_target)
        return ends


def _has(element: etree._Element, local: str) -> bool:
    return element.find(f".//{_Q}{local}") is not None


def _event_code(element: etree._Element) -> str | None:
    for local in ("escalationEventDefinition", "errorEventDefinition"):
        found = element.find(f"{_Q}{local}")
        if found is not None:
            return found.get("escalationRef") or found.get("errorRef")
    return None


def _outgoing_of(element: etree._Element, nodes: dict[str, etree._Element]) -> list[str]:
    parent = element.getparent()
    if parent is None:
        return []
    return [f.get("id", "") for f in parent.iter(f"{_Q}sequenceFlow")
            if f.get("sourceRef") == element.get("id") and f.get("targetRef") in nodes]


_NETS: dict[str, ProcessNet] = {}


def process_net(definition: ProcessDefinition) -> ProcessNet:
    """Return the workflow net of a procedure version (built once per version)."""
    net = _NETS.get(definition.version_hash)
    if net is None:
        net = _NETS[definition.version_hash] = _NetBuilder(definition).build()
    return net


# -- token replay ---------------------------------------------------------------------------


def _enabled(t: NetTransition, marking: Counter[str]) -> bool:
    need = Counter(t.inputs)
    return all(marking[p] >= n for p, n in need.items())


def _fire(t: NetTransition, marking: Counter[str]) -> Counter[str]:
    after = marking.copy()
    after.subtract(Counter(t.inputs))
    after.update(Counter(t.outputs))
    return +after


def _key(marking: Counter[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((p, n) for p, n in marking.items() if n > 0))


def _silent_path(silent: Sequence[NetTransition], marking: Counter[str],
                 goal: Callable[[Counter[str]], bool]) -> list[NetTransition] | None:
    """Return the shortest sequence of silent firings from ``marking`` to one where ``goal``."""
    if goal(marking):
        return []
    seen = {_key(marking)}
    queue: deque[tuple[Counter[str], list[NetTransition]]] = deque([(marking, [])])
    while queue and len(seen) < _SEARCH_STATES:
        current, path = queue.popleft()
        for t in silent:
            if not _enabled(t, current):
                continue
            after = _fire(t, current)
            key = _key(after)
            if key in seen:
                continue
            if goal(after):
                return [*path, t]
            seen.add(key)
            queue.append((after, [*path, t]))
    return None


def _expected_first(net: ProcessNet, marking: Counter[str],
                    wanted: Sequence[NetTransition]) -> tuple[str, ...]:
    """Return the fewest visible activities that would have enabled one of ``wanted``."""
    start = (0, _key(marking))
    best: dict[tuple[tuple[str, int], ...], int] = {start[1]: 0}
    queue: deque[tuple[Counter[str], tuple[str, ...]]] = deque([(marking, ())])
    while queue and len(best) < _SEARCH_STATES:
        current, labels = queue.popleft()
        if any(_enabled(t, current) for t in wanted):
            return labels
        for t in net.transitions:
            if not _enabled(t, current):
                continue
            after = _fire(t, current)
            key = _key(after)
            cost = len(labels) + (1 if t.label else 0)
            if best.get(key, cost + 1) <= cost:
                continue
            best[key] = cost
            step = (*labels, t.label) if t.label else labels
            if t.label:
                queue.append((after, step))
            else:
                queue.appendleft((after, step))
    return ()


def replay(net: ProcessNet, trace: Sequence[str], *, finished: bool = True) -> TraceFitness:
    """Replay a trace of element ids on the net, PM4Py's way, and measure its fitness.

    An unfinished case is measured as a prefix: its pending tokens are not *remaining* and
    it need not have reached the end.
    """
    silent = [t for t in net.transitions if t.label is None]
    by_label: dict[str, list[NetTransition]] = {}
    for t in net.transitions:
        if t.label is not None:
            by_label.setdefault(t.label, []).append(t)
    marking: Counter[str] = Counter({net.initial: 1})
    produced, consumed, missing = 1, 0, 0
    first: str | None = None
    first_index: int | None = None
    skipped: tuple[str, ...] = ()
    unknown: list[str] = []
    for index, activity in enumerate(trace):
        candidates = by_label.get(activity)
        if not candidates:
            unknown.append(activity)
            if first is None:
                first, first_index = activity, index
            continue
        chosen = next((t for t in candidates if _enabled(t, marking)), None)
        if chosen is None:
            path = _silent_path(silent, marking, _enables_any(candidates))
            for step in path or ():
                consumed += len(step.inputs)
                produced += len(step.outputs)
                marking = _fire(step, marking)
            chosen = next((t for t in candidates if _enabled(t, marking)), candidates[-1])
        if not _enabled(chosen, marking):
            if first is None:
                first, first_index = activity, index
                skipped = _expected_first(net, marking, candidates)
            for place, need in Counter(chosen.inputs).items():
                if marking[place] < need:
                    missing += need - marking[place]
                    marking[place] = need
        consumed += len(chosen.inputs)
        produced += len(chosen.outputs)
        marking = _fire(chosen, marking)
    pending: tuple[str, ...] = ()
    remaining = 0
    if finished:
        final = Counter({net.final: 1})
        # As PM4Py: once the final place holds a token, the end is taken as reached.
        if marking[net.final] < 1:
            path = _silent_path(silent, marking, lambda m: +m == final)
            if path is None:
                path = _towards_final(net, silent, marking)
            for step in path:
                consumed += len(step.inputs)
                produced += len(step.outputs)
                marking = _fire(step, marking)
        if marking[net.final] < 1:
            missing += 1
        left = +(marking - final)
        remaining = sum(left.values())
        consumed += 1
        pending = tuple(sorted({t.label for t in net.transitions
                                if t.label and any(p in left for p in t.inputs)}))
    fitness = 1.0
    if consumed > 0 and produced > 0:
        fitness = 0.5 * (1 - missing / consumed) + 0.5 * (1 - remaining / produced)
    return TraceFitness(produced, consumed, missing, remaining, fitness, first, first_index,
                        skipped, tuple(unknown), pending)


def _enables_any(candidates: Sequence[NetTransition]) -> Callable[[Counter[str]], bool]:
    def goal(marking: Counter[str]) -> bool:
        return any(_enabled(t, marking) for t in candidates)
    return goal


def _towards_final(net: ProcessNet, silent: Sequence[NetTransition],
                   marking: Counter[str]) -> list[NetTransition]:
    """Fire silent transitions along the shortest silent way from each marked place to the end."""
    # The shortest silent path (by transitions) from a place to the final place.
    routes: dict[str, list[NetTransition]] = {net.final: []}
    queue = deque([net.final])
    while queue:
        place = queue.popleft()
        for t in silent:
            if place in t.outputs:
                for source in t.inputs:
                    if source not in routes:
                        routes[source] = [t, *routes[place]]
                        queue.append(source)
    fired: list[NetTransition] = []
    current = marking.copy()
    for place in sorted((p for p in current if p in routes), key=lambda p: len(routes[p])):
        for t in routes[place]:
            if not _enabled(t, current):
                break
            current = _fire(t, current)
            fired.append(t)
    return fired


# -- the report over a procedure's cases -----------------------------------------------------


@dataclass(frozen=True)
class CaseConformance:
    """One case's trace and how well it fits its procedure version."""

    case_id: int
    number: str
    status: str
    started_at: datetime
    trace: tuple[str, ...]
    result: TraceFitness
    deviation_at: datetime | None = None


@dataclass(frozen=True)
class ConformanceReport:
    """A procedure's cases against its BPMN, with the names of its elements."""

    process_id: str
    cases: tuple[CaseConformance, ...]
    names: dict[str, str]

    @property
    def average(self) -> float | None:
        """Return the mean fitness (None without cases)."""
        if not self.cases:
            return None
        return sum(c.result.fitness for c in self.cases) / len(self.cases)

    @property
    def non_conforming(self) -> tuple[CaseConformance, ...]:
        """Return the cases that do not fit, worst first."""
        return tuple(sorted((c for c in self.cases if not c.result.fits),
                            key=lambda c: (c.result.fitness, c.number)))

    def distribution(self) -> list[tuple[str, int]]:
        """Return how many cases fall in each fitness band, the perfect ones apart."""
        bands = [("1", 0), ("0,9–1", 0), ("0,8–0,9", 0), ("0,7–0,8", 0), ("< 0,7", 0)]
        counts = [0] * len(bands)
        for case in self.cases:
            f = case.result.fitness
            index = (0 if f >= 1 - 1e-9 else 1 if f >= 0.9 else 2 if f >= 0.8
                     else 3 if f >= 0.7 else 4)
            counts[index] += 1
        return [(label, counts[i]) for i, (label, _n) in enumerate(bands)]

    def name(self, element: str) -> str:
        """Return the name of an element (its id when it has none)."""
        return self.names.get(element, element)

    def names_of(self, elements: Iterable[str]) -> str:
        """Return the names of several elements, comma-separated."""
        return ", ".join(self.name(e) for e in elements)


@dataclass(frozen=True)
class TraceEvent:
    """One activity of a trace, as the log recorded it."""

    element: str
    at: datetime
    actor: str | None
    path: tuple[str, ...] = ()


def activities(events: Sequence[TraceEvent], net: ProcessNet) -> list[TraceEvent]:
    """Return the trace's events with the timers that fired inside a step as events of their own.

    A timer already due when a person completes a task fires within that step: the log records
    it in the step's path, not as a ``timer_fired`` event (the XES export leaves it out).
    """
    found: list[TraceEvent] = []
    for event in events:
        found.append(event)
        found.extend(TraceEvent(e, event.at, None) for e in event.path if e in net.timers)
    return found


def case_traces(reader: Callable[[], Any], process_id: str, started_from: datetime | None,
                started_before: datetime | None) -> Iterator[tuple[Any, list[TraceEvent]]]:
    """Yield each case of a procedure started in [from, before) with its trace, a page at a time."""
    for cases, rows_by_case in case_pages(reader, process_id, started_from, started_before,
                                          TRACE_EVENTS):
        for case in cases:
            yield case, _trace(rows_by_case.get(case.id, ()))


def _trace(rows: Iterable[Any]) -> list[TraceEvent]:
    events: list[TraceEvent] = []
    for row in rows:
        if row.event_type == "timer_fired":
            events.extend(TraceEvent(str(timer), row.at, None)
                          for timer in (row.data or {}).get("timers", []))
        else:
            path = tuple(e for e in (row.data or {}).get("path") or () if isinstance(e, str))
            if row.event_type == "task_completed" and row.activity_id:
                events.append(TraceEvent(row.activity_id, row.at, row.actor, path))
            elif events:
                events[-1] = TraceEvent(events[-1].element, events[-1].at, events[-1].actor,
                                        events[-1].path + path)
    return events


def report(reader: Callable[[], Any], definition: Callable[[int], ProcessDefinition], *,
           process_id: str, started_from: datetime | None = None,
           started_before: datetime | None = None) -> ConformanceReport:
    """Replay every case of a procedure started in [from, before) on its own version's net."""
    results: list[CaseConformance] = []
    names: dict[str, str] = {}
    for case, events in case_traces(reader, process_id, started_from, started_before):
        net = process_net(definition(case.version_id))
        for key, value in net.names.items():
            names.setdefault(key, value)
        events = activities(events, net)
        trace = tuple(e.element for e in events)
        result = replay(net, trace, finished=case.status != "open")
        at = (events[result.deviation_index].at
              if result.deviation_index is not None else None)
        results.append(CaseConformance(case.id, case.number, case.status, case.started_at,
                                       trace, result, at))
    return ConformanceReport(process_id, tuple(results), names)
