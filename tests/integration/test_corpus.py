"""The OMG interchange corpus, imported the way a process owner would: every file either loads
and runs, or is refused with file, element and a Spanish reason; never a traceback, a silent
skip or a Python repr.

The corpus (``../shared/corpus/miwg``) is read-only and is not copied here: the responsibility
tables, the lane of a laneless process and the generic form are generated at test time. Each
file is tried twice: as exported, and with every process marked executable (what an owner does
to run a diagram drawn only for documentation).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from engine import Engine, ProcessDefinitionError, ProcessLibrary
from engine.errors import CauceError
from engine.library import compile_bundle
from tests.conftest import ROOT, FakeClock, make_engine

pytestmark = pytest.mark.integration

CORPUS = ROOT.parent / "shared" / "corpus" / "miwg"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
POSITION = "Responsable del corpus"
OWNER = "duena.corpus"
FLOW_NODES = {
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
    "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
    "boundaryEvent", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
    "eventBasedGateway", "complexGateway",
}
# What the XSD allows before a process's laneSet.
BEFORE_LANES = {"documentation", "extensionElements", "supportedInterfaceRef", "ioSpecification",
                "ioBinding", "auditing", "monitoring", "property"}
PYTHON_INTERNALS = re.compile(r"<[^>]* at 0x|\w(Error|Exception)\(|Traceback|\{http")
# SpiffWorkflow's and lxml's own wording: a reason must never be only that.
ENGLISH_START = re.compile(r"(The|A|An|No|Invalid|Element|Expected|Multiple|Unknown|Cannot|Could"
                           r"|Data|Process|Exactly|Non-default|Time|Duplicate|When)\b")
MAX_STEPS = 80
# Cases that wait on a timer get this many one-day moves of the clock before we call them stuck.
MAX_IDLE_DAYS = 40

FILES = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.bpmn")) \
    if CORPUS.is_dir() else []
SUMMARY: Counter[str] = Counter()
RUNTIME_FAILURES: list[str] = []


def _local(element: Any) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def owner_bundle(relative: str, make_executable: bool) -> dict[str, bytes]:
    """Return the files a process owner would upload for one corpus file."""
    root = etree.fromstring((CORPUS / relative).read_bytes())
    files: dict[str, bytes] = {}
    for n, process in enumerate(root.iterfind(f"{{{BPMN}}}process")):
        if make_executable:
            process.set("isExecutable", "true")
        if process.get("isExecutable", "true") != "true":
            continue
        lanes = [lane for lane in process.iter(f"{{{BPMN}}}lane")
                 if lane.find(f"{{{BPMN}}}childLaneSet/{{{BPMN}}}lane") is None]
        if not lanes:
            lane_set = etree.Element(f"{{{BPMN}}}laneSet", id=f"cauce_lanes_{n}")
            lane = etree.SubElement(lane_set, f"{{{BPMN}}}lane", id=f"cauce_lane_{n}",
                                    name="Responsable")
            for child in process:
                if _local(child) in FLOW_NODES:
                    etree.SubElement(lane, f"{{{BPMN}}}flowNodeRef").text = child.get("id")
            at = next((i for i, c in enumerate(process) if _local(c) not in BEFORE_LANES),
                      len(process))
            process.insert(at, lane_set)
            lanes = [lane]
        process_id = process.get("id")
        files[f"{process_id}.responsibility.json"] = json.dumps({
            "process": process_id, "title": process.get("name") or process_id,
            "case_number_prefix": f"C{n}",
            "lanes": {lane.get("id"): {"role": f"rol_{n}_{i}",
                                       "role_name": lane.get("name") or lane.get("id"),
                                       "positions": [POSITION]}
                      for i, lane in enumerate(lanes)},
        }).encode()
    for task in root.iter(f"{{{BPMN}}}userTask"):
        extensions = task.find(f"{{{BPMN}}}extensionElements")
        if extensions is None:
            extensions = etree.Element(f"{{{BPMN}}}extensionElements")
            task.insert(sum(1 for c in task if _local(c) == "documentation"), extensions)
        properties = etree.SubElement(extensions, f"{{{SPIFF}}}properties")
        etree.SubElement(properties, f"{{{SPIFF}}}property", name="formJsonSchemaFilename",
                         value="formulario_generico.json")
    files[Path(relative).name] = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    files["forms/formulario_generico.json"] = json.dumps(
        {"type": "object", "properties": {}}).encode()
    return files


def _check_refusal(relative: str, files: dict[str, bytes],
                   error: ProcessDefinitionError) -> None:
    assert error.problems, f"{relative}: refused without any problem"
    source = files[Path(relative).name].decode("utf-8")
    for problem in error.problems:
        text = str(problem)
        assert problem.file in files, f"{relative}: names a file it was not given: {text}"
        assert not PYTHON_INTERNALS.search(problem.reason), f"{relative}: {text}"
        assert problem.reason[:1].isupper(), f"{relative}: {text}"
        assert not ENGLISH_START.match(problem.reason), f"{relative}: not Spanish: {text}"
        if problem.element:
            element_id = problem.element.split(" ")[0]
            assert f'"{element_id}"' in source, f"{relative}: unknown element in {text}"


def _drive(engine: Engine, clock: FakeClock, process_id: str) -> tuple[str, str]:
    """Run one case as its people would; return (how it ended, what happened)."""
    case = engine.start_case(process_id, by=OWNER)
    idle_days = 0
    for _ in range(MAX_STEPS):
        if case.status != "open":
            break
        if case.open_tasks:
            task = case.open_tasks[0]
            case = engine.complete_task(task.task_id, by=OWNER, form_data={})
            idle_days = 0
            continue
        if idle_days >= MAX_IDLE_DAYS:
            break
        clock.advance(days=1)
        idle_days += 1
        engine.fire_due_timers()
        case = engine.case(case.id, by=OWNER)
    replay = engine.replay(case.id, by=OWNER)
    assert replay.chain_intact, f"{process_id}: the log's chain is broken"
    assert replay.stored_state_matches, f"{process_id}: replay does not reach the stored state"
    assert all(step.matches for step in replay.steps), f"{process_id}: a replayed step differs"
    ended = "ran to end" if case.status != "open" else "waits"
    return ended, case.status


@pytest.fixture(scope="module", autouse=True)
def _summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None or not SUMMARY:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line("MIWG corpus: " + ", ".join(
            f"{key}={SUMMARY[key]}" for key in sorted(SUMMARY)))
        for line in RUNTIME_FAILURES:
            reporter.write_line("  run-time failure: " + line)


@pytest.mark.skipif(not FILES, reason="the interchange corpus is not checked out beside Cauce")
@pytest.mark.parametrize("make_executable", [False, True], ids=["as-exported", "executable"])
@pytest.mark.parametrize("relative", FILES)
def test_a_corpus_file_loads_and_runs_or_is_refused_with_reasons(
        relative: str, make_executable: bool, clock: FakeClock,
        request: pytest.FixtureRequest) -> None:
    mode = "executable" if make_executable else "as-exported"
    files = owner_bundle(relative, make_executable)
    try:
        definitions = compile_bundle(files)
    except ProcessDefinitionError as error:
        _check_refusal(relative, files, error)
        SUMMARY[f"{mode}: refused"] += 1
        return
    assert definitions, f"{relative}: loaded but defines nothing (a silent skip)"
    SUMMARY[f"{mode}: loaded"] += 1
    # Only a file that loads needs a database (emptying PostgreSQL per file is slow).
    database_url = request.getfixturevalue("database_url")
    engine = make_engine(database_url, ProcessLibrary(definitions), clock)
    failures: list[str] = []
    try:
        engine.add_person(OWNER, "Dueña del corpus", positions=(POSITION,))
        for process_id in sorted(definitions):
            try:
                ended, _ = _drive(engine, clock, process_id)
            except CauceError as error:
                ended = f"stopped: {error.code}"
            except AssertionError:
                raise
            except Exception as error:  # noqa: BLE001 - counted and reported, see below
                failures.append(f"{mode} {relative} {process_id}: "
                                f"{type(error).__name__}: {str(error)[:160]}")
                ended = "run-time failure"
            SUMMARY[f"{mode}: {ended}"] += 1
    finally:
        engine.sql.dispose()
    if failures:
        # The run-time half of issue 7 (exceptions translated, limits) is built beside this one:
        # until it lands these are reported, not hidden.
        RUNTIME_FAILURES.extend(failures)
        pytest.xfail("; ".join(failures))
