"""The procedures' diagrams are readable in any modeler: every node drawn, inside its lane,
and no two nodes on top of each other."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest
from lxml import etree

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "dc": "http://www.omg.org/spec/DD/20100524/DC"}
NODES = ("task", "userTask", "scriptTask", "serviceTask", "businessRuleTask", "manualTask",
         "sendTask", "receiveTask", "callActivity", "startEvent", "endEvent",
         "intermediateCatchEvent", "intermediateThrowEvent", "exclusiveGateway",
         "parallelGateway", "inclusiveGateway", "eventBasedGateway")
FILES = sorted((ROOT / "bpmn").glob("*.bpmn"))


def _bounds(root):
    found = {}
    for shape in root.iterfind(".//bpmndi:BPMNShape", NS):
        box = shape.find("dc:Bounds", NS)
        found[shape.get("bpmnElement")] = tuple(float(box.get(k)) for k in ("x", "y", "width",
                                                                             "height"))
    return found


def _overlap(a, b, margin=2.0):
    return (a[0] + margin < b[0] + b[2] and b[0] + margin < a[0] + a[2]
            and a[1] + margin < b[1] + b[3] and b[1] + margin < a[1] + a[3])


def _inside(inner, outer):
    cx, cy = inner[0] + inner[2] / 2, inner[1] + inner[3] / 2
    return outer[0] <= cx <= outer[0] + outer[2] and outer[1] <= cy <= outer[1] + outer[3]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_node_is_drawn_once_and_no_two_nodes_overlap(path):
    root = etree.parse(str(path)).getroot()
    bounds = _bounds(root)
    nodes = [e.get("id") for tag in NODES for e in root.iterfind(f".//bpmn:{tag}", NS)]
    assert nodes, "no flow nodes"
    assert [n for n in nodes if n not in bounds] == []
    for first, second in combinations(nodes, 2):
        assert not _overlap(bounds[first], bounds[second]), (first, second)
    for flow in root.iterfind(".//bpmn:sequenceFlow", NS):
        edge = root.find(f".//bpmndi:BPMNEdge[@bpmnElement='{flow.get('id')}']", NS)
        assert edge is not None and len(edge.findall("{*}waypoint")) >= 2, flow.get("id")


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_node_sits_in_the_lane_that_lists_it(path):
    root = etree.parse(str(path)).getroot()
    bounds = _bounds(root)
    for lane in root.iterfind(".//bpmn:lane", NS):
        lane_box = bounds[lane.get("id")]
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            assert _inside(bounds[ref.text], lane_box), (lane.get("id"), ref.text)


# -- labels (issue 10, 2.8): none over another label or a shape, branch labels by their flow ----

# bpmn-js's defaults: an external label is 90 px wide at most, centred under its shape or on
# the middle segment of its flow; about 6.5 px per character and 14 px per line at 11 px.
LABEL_WIDTH, CHAR_WIDTH, LINE_HEIGHT = 90.0, 6.5, 14.0
LABELLED = ("startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
            "boundaryEvent", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
            "eventBasedGateway")
SOLID = NODES + ("boundaryEvent",)


def _text_box(text: str, cx: float, top: float) -> tuple[float, float, float, float]:
    # Narrower than two short words, bpmn-js breaks even "No" over two lines.
    width = min(LABEL_WIDTH, max(len(text) * CHAR_WIDTH, 24.0))
    lines = max(1, -(-len(text) * CHAR_WIDTH // LABEL_WIDTH))
    return (cx - width / 2, top, width, lines * LINE_HEIGHT)


def _waypoints(edge):
    return [(float(p.get("x")), float(p.get("y"))) for p in edge.findall("{*}waypoint")]


def _labels(root):
    """Return (element id, kind, box) of every label the diagram shows."""
    shapes = {s.get("bpmnElement"): s for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): e for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    found = []
    for tag in LABELLED:
        for element in root.iterfind(f".//bpmn:{tag}", NS):
            name = (element.get("name") or "").strip()
            shape = shapes.get(element.get("id"))
            if not name or shape is None:
                continue
            found.append((element.get("id"), "node", _label_box(shape, name, None)))
    for sub in root.iterfind(".//bpmn:subProcess", NS):
        # An expanded subprocess writes its name inside, centred along its top edge.
        shape, name = shapes.get(sub.get("id")), (sub.get("name") or "").strip()
        if name and shape is not None and shape.get("isExpanded") == "true":
            box = shape.find("dc:Bounds", NS)
            x, y, width = (float(box.get(k)) for k in ("x", "y", "width"))
            text_width = len(name) * CHAR_WIDTH
            found.append((sub.get("id"), "title",
                          (x + width / 2 - text_width / 2, y + 5, text_width, LINE_HEIGHT)))
    for flow in root.iterfind(".//bpmn:sequenceFlow", NS):
        name = (flow.get("name") or "").strip()
        edge = edges.get(flow.get("id"))
        if name and edge is not None:
            found.append((flow.get("id"), "flow", _label_box(edge, name, _waypoints(edge))))
    return found


def _label_box(di, name, points):
    label = di.find("bpmndi:BPMNLabel/dc:Bounds", NS)
    if label is not None:
        return tuple(float(label.get(k)) for k in ("x", "y", "width", "height"))
    if points is None:
        box = di.find("dc:Bounds", NS)
        x, y, w, h = (float(box.get(k)) for k in ("x", "y", "width", "height"))
        return _text_box(name, x + w / 2, y + h + 5)
    mid = len(points) // 2
    (x1, y1), (x2, y2) = points[mid - 1], points[mid]
    return _text_box(name, (x1 + x2) / 2, (y1 + y2) / 2 - LINE_HEIGHT / 2)


def _distance_to_flow(point, points):
    px, py = point
    best = float("inf")
    for (x1, y1), (x2, y2) in zip(points, points[1:], strict=False):
        dx, dy = x2 - x1, y2 - y1
        length = dx * dx + dy * dy
        t = 0.0 if length == 0 else max(0.0, min(1.0, ((px - x1) * dx + (py - y1) * dy) / length))
        best = min(best, ((px - x1 - t * dx) ** 2 + (py - y1 - t * dy) ** 2) ** 0.5)
    return best


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_no_label_overprints_another_label_or_a_shape(path):
    root = etree.parse(str(path)).getroot()
    bounds = _bounds(root)
    solid = {e.get("id") for tag in SOLID for e in root.iterfind(f".//bpmn:{tag}", NS)}
    labels = _labels(root)
    problems = []
    for (first, _, a), (second, _, b) in combinations(labels, 2):
        if _overlap(a, b, margin=1.0):
            problems.append(f"label of {first} over label of {second}")
    for owner, _, box in labels:
        for node in solid:
            if node != owner and node in bounds and _overlap(box, bounds[node], margin=1.0):
                problems.append(f"label of {owner} over shape {node}")
    assert problems == []


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_each_branch_label_sits_nearest_its_own_flow(path):
    root = etree.parse(str(path)).getroot()
    edges = {e.get("bpmnElement"): _waypoints(e)
             for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    flows = list(root.iterfind(".//bpmn:sequenceFlow", NS))
    labels = {owner: box for owner, kind, box in _labels(root) if kind == "flow"}
    problems = []
    for flow in flows:
        if flow.get("id") not in labels:
            continue
        box = labels[flow.get("id")]
        centre = (box[0] + box[2] / 2, box[1] + box[3] / 2)
        siblings = [f.get("id") for f in flows if f.get("sourceRef") == flow.get("sourceRef")]
        nearest = min(siblings, key=lambda s: _distance_to_flow(centre, edges[s]))
        if nearest != flow.get("id") and (_distance_to_flow(centre, edges[nearest])
                                          < _distance_to_flow(centre, edges[flow.get("id")])):
            problems.append(f"label of {flow.get('id')} is nearer {nearest}")
    assert problems == []
