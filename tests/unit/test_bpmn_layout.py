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
