"""The procedures' diagrams are readable in any modeler: every node drawn, inside its lane,
and no two nodes on top of each other."""

from __future__ import annotations

import re
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


# -- names inside their boxes, lines apart, labels clear of other lines (issue 10, 2.8) ---------

# bpmn-js writes a task's name inside its box: Arial 12 px, lines 1.2 high, 7 px padding, words
# wrapped to the box's width and the block centred; a taller block spills out of the box.
# Arial's advance widths (per 1000 em); accented letters are as wide as their base letter.
_ARIAL = {**dict.fromkeys("abdeghnopqu0123456789", 556), **dict.fromkeys("cksvxyz", 500),
          **dict.fromkeys("ijl", 222), "f": 278, "t": 278, "r": 333, "m": 833, "w": 722,
          **dict.fromkeys("ABEKPSVXY", 667), **dict.fromkeys("CDHNRU", 722), "F": 611,
          "G": 778, "I": 278, "J": 500, "L": 556, "M": 833, "O": 778, "Q": 778, "T": 611,
          "W": 944, "Z": 611, " ": 278, "(": 333, ")": 333, "-": 333, "/": 278, ",": 278,
          ".": 278, ":": 278, "¿": 611, "?": 556, "«": 556, "»": 556}
_BASE = str.maketrans("áéíóúüñÁÉÍÓÚÑ", "aeiouunAEIOUN")
TASK_FONT, TASK_LINE, TASK_PADDING = 12.0, 12.0 * 1.2, 7.0
# Four lines at most (a box 80 px high holds four); the type icon sits in the top-left corner:
# its right and bottom edges, as bpmn-js draws them (the user's head and shoulders, the script's
# page; the other types' icons are about the user's size). A call activity's "+" marker starts
# MARKER_TOP px above its bottom edge.
MAX_LINES, MARKER_TOP = 4, 18.0
ICONS = {"userTask": (21.0, 24.0), "scriptTask": (18.0, 20.0)}
TASKS = ("task", "userTask", "scriptTask", "serviceTask", "businessRuleTask", "manualTask",
         "sendTask", "receiveTask", "callActivity")


def _text_width(text: str, size: float = TASK_FONT) -> float:
    return sum(_ARIAL.get(c, 556) for c in text.translate(_BASE)) * size / 1000


def _wrapped(name: str, width: float) -> list[str]:
    """The lines bpmn-js (diagram-js's Text) breaks a name into: it guesses how many characters
    fit from the line's average character width, then cuts at the last space or hyphen before
    that many characters (or inside the word when there is none)."""
    pending, lines = name.splitlines() or [""], []
    while pending:
        original = fit = pending.pop(0)
        while fit.strip() and _text_width(fit) > width and len(fit) >= 2:
            fit = _shortened(fit, _text_width(fit), width)
        if len(fit) < len(original):
            pending.insert(0, original[len(fit):].strip())
        lines.append(fit)
    return lines


def _shortened(line: str, line_width: float, width: float) -> str:
    most = max(len(line) * (width / line_width), 1)
    kept, length = [], 0
    for part in re.split(r"(\s|-|\u00ad)", line):
        if not part:  # diagram-js stops at the first empty piece
            break
        if len(part) + length >= most:
            if part in ("-", "\u00ad") and kept:
                kept.pop()
            break
        kept.append(part)
        length += len(part)
    return "".join(kept) or line[:max(int(most - 1 + 0.5), 1)]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_task_name_fits_inside_its_box(path):
    root = etree.parse(str(path)).getroot()
    shapes = {s.get("bpmnElement"): s for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    problems = []
    for tag in TASKS:
        for task in root.iterfind(f".//bpmn:{tag}", NS):
            box = shapes[task.get("id")].find("dc:Bounds", NS)
            width, height = float(box.get("width")), float(box.get("height"))
            lines = _wrapped(task.get("name") or "", width - 2 * TASK_PADDING)
            room = min(MAX_LINES, int((height - 2 * TASK_PADDING) // TASK_LINE))
            if len(lines) > room:
                problems.append(f"{task.get('id')}: {len(lines)} lines in room for {room}")
            if tag == "callActivity":
                # The centred lines end above its "+" marker.
                if height / 2 + len(lines) * TASK_LINE / 2 > height - MARKER_TOP:
                    problems.append(f"{task.get('id')}: the call marker hides the last line")
                continue
            if tag == "task":
                continue
            # The block is centred; a line level with the type icon must start right of it.
            icon_right, icon_bottom = ICONS.get(tag, ICONS["userTask"])
            top = height / 2 - len(lines) * TASK_LINE / 2
            for index, line in enumerate(lines):
                line_top = top + index * TASK_LINE
                if line_top < icon_bottom and (width - _text_width(line)) / 2 < icon_right:
                    problems.append(f"{task.get('id')}: the icon hides «{line.strip()}»")
    assert problems == []


def _segments(points):
    return list(zip(points, points[1:], strict=False))


# Two flows closer than NEAR px over more than LONG px read as one line (or a bundle nobody can
# follow). Flows into the same element may instead join and share their last two segments, one
# line with one arrow (a merge); flows out of one element may share their first segment.
NEAR, LONG = 20.0, 40.0


def _alongside(first, second, near=NEAR):
    """Length two segments run side by side: both horizontal (or both vertical), at most
    ``near`` px apart, over the same stretch."""
    (ax1, ay1), (ax2, ay2) = first
    (bx1, by1), (bx2, by2) = second
    if abs(ay1 - ay2) < 0.5 and abs(by1 - by2) < 0.5 and abs(ay1 - by1) <= near:
        low, high = max(min(ax1, ax2), min(bx1, bx2)), min(max(ax1, ax2), max(bx1, bx2))
        return max(0.0, high - low)
    if abs(ax1 - ax2) < 0.5 and abs(bx1 - bx2) < 0.5 and abs(ax1 - bx1) <= near:
        low, high = max(min(ay1, ay2), min(by1, by2)), min(max(ay1, ay2), max(by1, by2))
        return max(0.0, high - low)
    return 0.0


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_no_two_flows_run_stacked_on_one_line(path):
    root = etree.parse(str(path)).getroot()
    flows = {f.get("id"): f for f in root.iterfind(".//bpmn:sequenceFlow", NS)}
    edges = {e.get("bpmnElement"): _waypoints(e)
             for e in root.iterfind(".//bpmndi:BPMNEdge", NS) if e.get("bpmnElement") in flows}
    problems = []
    for first, second in combinations(sorted(edges), 2):
        a_points, b_points = edges[first], edges[second]
        merged = (flows[first].get("targetRef") == flows[second].get("targetRef")
                  and a_points[-1] == b_points[-1])
        forked = (flows[first].get("sourceRef") == flows[second].get("sourceRef")
                  and a_points[0] == b_points[0])
        a_segments, b_segments = _segments(a_points), _segments(b_points)
        for i, a in enumerate(a_segments):
            for j, b in enumerate(b_segments):
                run = _alongside(a, b)
                if run <= LONG:
                    continue
                joined = merged and i >= len(a_segments) - 2 and j >= len(b_segments) - 2 \
                    and _alongside(a, b, near=0.5) == run
                split = forked and i == 0 and j == 0 and _alongside(a, b, near=0.5) == run
                if not (joined or split):
                    problems.append(f"{first} and {second} run {run:.0f} px side by side")
    assert problems == []


def _crosses(segment, box, margin=1.0):
    """Whether a segment passes through a box (shrunk by ``margin``)."""
    (x1, y1), (x2, y2) = segment
    left, top = box[0] + margin, box[1] + margin
    right, bottom = box[0] + box[2] - margin, box[1] + box[3] - margin
    t0, t1 = 0.0, 1.0
    for p, q in ((x1 - x2, x1 - left), (x2 - x1, right - x1),
                 (y1 - y2, y1 - top), (y2 - y1, bottom - y1)):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_no_label_is_crossed_by_a_flow_it_does_not_name(path):
    root = etree.parse(str(path)).getroot()
    flows = {f.get("id") for f in root.iterfind(".//bpmn:sequenceFlow", NS)}
    edges = {e.get("bpmnElement"): _waypoints(e)
             for e in root.iterfind(".//bpmndi:BPMNEdge", NS) if e.get("bpmnElement") in flows}
    problems = []
    for owner, _kind, box in _labels(root):
        for flow_id, points in edges.items():
            if owner == flow_id:  # a flow's name sits on its own line
                continue
            if any(_crosses(segment, box) for segment in _segments(points)):
                problems.append(f"label of {owner} crossed by {flow_id}")
    assert problems == []


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_no_label_lies_across_a_lane_border_or_header(path):
    root = etree.parse(str(path)).getroot()
    bounds = _bounds(root)
    borders = []
    for lane in root.iterfind(".//bpmn:lane", NS):
        x, y, width, height = bounds[lane.get("id")]
        borders += [((x, y), (x + width, y)), ((x, y + height), (x + width, y + height)),
                    ((x + 30, y), (x + 30, y + height))]  # the header with the lane's name
    problems = [f"label of {owner} across a lane border" for owner, _kind, box in _labels(root)
                if any(_crosses(border, box) for border in borders)]
    assert problems == []
