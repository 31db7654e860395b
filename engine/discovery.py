"""The discovered map of a procedure: the directly-follows graph of its cases' traces.

Nodes are the activities (and timers) people see in the log, with how often they occurred; an
arc a → b counts how often b came right after a in a case, with the median time between the two
events. Two pseudo nodes, START and END, mark where traces begin and (finished cases) end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any

from .conformance import activities, case_traces, process_net
from .library import ProcessDefinition

START = "__inicio__"
END = "__fin__"


@dataclass(frozen=True)
class FollowsNode:
    """An activity of the map."""

    element: str
    name: str
    count: int


@dataclass(frozen=True)
class FollowsArc:
    """How often ``target`` directly followed ``source``, and the median time between them."""

    source: str
    target: str
    count: int
    median_seconds: float | None


@dataclass(frozen=True)
class FollowsGraph:
    """A directly-follows graph over a procedure's cases."""

    process_id: str
    cases: int
    nodes: tuple[FollowsNode, ...]
    arcs: tuple[FollowsArc, ...]

    def name(self, element: str) -> str:
        """Return the name of a node (the pseudo nodes included)."""
        if element == START:
            return "Inicio"
        if element == END:
            return "Fin"
        for node in self.nodes:
            if node.element == element:
                return node.name
        return element


def directly_follows(reader: Callable[[], Any], definition: Callable[[int], ProcessDefinition],
                     *, process_id: str, started_from: datetime | None = None,
                     started_before: datetime | None = None) -> FollowsGraph:
    """Count the directly-follows relation over the cases started in [from, before)."""
    counts: dict[str, int] = {}
    gaps: dict[tuple[str, str], list[float]] = {}
    names: dict[str, str] = {}
    cases = 0
    for case, events in case_traces(reader, process_id, started_from, started_before):
        cases += 1
        if not events:
            continue
        net = process_net(definition(case.version_id))
        events = activities(events, net)
        previous: tuple[str, datetime | None] = (START, None)
        for event in events:
            counts[event.element] = counts.get(event.element, 0) + 1
            names.setdefault(event.element, net.label_name(event.element))
            gap = ((event.at - previous[1]).total_seconds()
                   if previous[1] is not None else None)
            bucket = gaps.setdefault((previous[0], event.element), [])
            if gap is not None:
                bucket.append(gap)
            else:
                bucket.append(float("nan"))
            previous = (event.element, event.at)
        if case.status != "open":
            gaps.setdefault((previous[0], END), []).append(float("nan"))
    arcs = []
    for (source, target), values in gaps.items():
        timed = [v for v in values if v == v]  # NaN marks an arc from or to a pseudo node
        arcs.append(FollowsArc(source, target, len(values), median(timed) if timed else None))
    nodes = tuple(sorted((FollowsNode(e, names[e], n) for e, n in counts.items()),
                         key=lambda node: (-node.count, node.name)))
    return FollowsGraph(process_id, cases, nodes,
                        tuple(sorted(arcs, key=lambda a: (-a.count, a.source, a.target))))
