"""The follow-up's history is one BPMN data object, held once by its workflow.

Before, ``followup_history`` lived in the task data, so every step deep-copied, serialised,
hashed and compressed it once per task holding it, and a step cost more every period. Now the
period's script reads it through a data input association and writes it back through an output
association; the case data, the task pages and the charter's reports still see it. Cases recorded
on a version without the data object keep replaying exactly as they were recorded.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select, text

from engine import Engine, ProcessLibrary, charter
from engine.audit import canonical_json
from engine.runtime import all_tasks
from engine.store import CaseRow
from tests.conftest import FAST_HASHER, FakeClock
from tests.integration.test_sla_support import PERIOD_STEPS, SlaWalker

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.integration.test_sla_support"]

ROOT = Path(__file__).resolve().parents[2]
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
DATA_ELEMENTS = ("dataObject", "dataObjectReference", "property", "dataInputAssociation",
                 "dataOutputAssociation")


def next_period(sla: SlaWalker, clock: FakeClock) -> None:
    closes = datetime.fromisoformat(sla.case.data["period_closes_at"]).astimezone(UTC)
    assert sla.fire_period_close(clock, closes) == 1
    sla.run(*PERIOD_STEPS)


def stored_json(engine: Engine, case_id: int) -> dict[str, Any]:
    with engine.read_session() as session:
        state = session.scalars(select(CaseRow.state).where(CaseRow.id == case_id)).one()
    assert state[:1] == b"W"
    return dict(json.loads(zlib.decompress(state[1:])))


def copies_in_task_data(state: dict[str, Any]) -> int:
    """Count the tasks (of the case and its subprocesses) whose data holds the history."""
    scopes = [state, *state.get("subprocesses", {}).values()]
    # Task data is stored whole or as a delta to the parent's: look for the key anywhere in it.
    return sum(json.dumps(task).count('"followup_history":') for scope in scopes
               for task in scope["tasks"].values())


def held_as_object(state: dict[str, Any]) -> list[Any]:
    scopes = [state, *state.get("subprocesses", {}).values()]
    return [scope["data"]["data_objects"]["followup_history"] for scope in scopes
            if "followup_history" in scope.get("data", {}).get("data_objects", {})]


def test_the_history_is_held_once_and_still_shown_everywhere(sla, clock):
    sla.publish()
    for _ in range(4):
        next_period(sla, clock)

    state = stored_json(sla.engine, sla.case.id)
    [history] = held_as_object(state)
    assert [p["period_number"] for p in history] == [1, 2, 3, 4]
    assert copies_in_task_data(state) == 0
    # The case data, as the case page, the reports and the dashboard read it.
    assert [p["period_number"] for p in sla.case.data["followup_history"]] == [1, 2, 3, 4]
    with sla.engine.read_session() as session:
        row = session.get_one(CaseRow, sla.case.id)
        data = sla.engine.runtime.stored_data(sla.engine._definition(row.version_id), row.state)
    assert len(data["followup_history"]) == 4

    # The compliance check shows the history on its page (show_case_fields).
    closes = datetime.fromisoformat(sla.case.data["period_closes_at"]).astimezone(UTC)
    sla.fire_period_close(clock, closes)
    sla.run(*PERIOD_STEPS[:1])
    task = sla.task("seg_verificar_cumplimiento")
    detail = sla.engine.task(task.task_id, by=sla.person_for("procesos"))
    assert [p["period_number"] for p in detail.case_data["followup_history"]] == [1, 2, 3, 4]
    assert sla.engine.replay(sla.case.number, by=sla.person_for("procesos")).proven


def test_a_changed_history_in_the_stored_state_is_caught(sla, clock):
    sla.publish()
    for _ in range(3):
        next_period(sla, clock)
    state = stored_json(sla.engine, sla.case.id)
    [history] = held_as_object(state)
    history[0]["rows"][0]["observed"] = 1.0  # a better figure than the one measured
    forged = b"W" + zlib.compress(json.dumps(state, separators=(",", ":")).encode())
    with sla.engine.sql.begin() as connection:
        connection.execute(text('UPDATE "case" SET state = :s WHERE id = :c'),
                           {"s": forged, "c": sla.case.id})

    replay = sla.engine.replay(sla.case.number, by=sla.person_for("procesos"))
    assert replay.chain_intact and all(step.matches for step in replay.steps)
    assert not replay.stored_state_matches and not replay.proven
    [problem] = [r for r in sla.engine.verify_history().results if r.case_id == sla.case.id]
    assert problem.kind == "state" and "estado guardado" in problem.problem


@pytest.fixture
def library_before(tmp_path: Path) -> ProcessLibrary:
    """The procedures as they were before: the follow-up's history in its task data."""
    bpmn = tmp_path / "bpmn"
    bpmn.mkdir()
    for source in (ROOT / "bpmn").iterdir():
        (bpmn / source.name).write_bytes(source.read_bytes())
    tree = etree.parse(str(bpmn / "sla_followup.bpmn"))
    gone = [e for name in DATA_ELEMENTS for e in tree.iter(f"{BPMN}{name}")]
    assert len(gone) >= 5
    for element in gone:
        element.getparent().remove(element)
    tree.write(str(bpmn / "sla_followup.bpmn"), xml_declaration=True, encoding="UTF-8")
    return ProcessLibrary.load_directory(bpmn, ROOT / "forms")


@pytest.fixture
def engine_before(database_url: str, library_before: ProcessLibrary,
                  clock: FakeClock) -> Iterator[Engine]:
    eng = Engine(database_url, library_before, clock=clock, password_hasher=FAST_HASHER,
                 effects=charter.effects())
    eng.create_schema()
    yield eng
    eng.sql.dispose()


def _old_fingerprint(workflow: Any) -> bytes:
    """The fingerprint as Cauce computed it before data objects existed."""
    states, live = [], []
    for task in all_tasks(workflow):
        scope = task.workflow.spec.name
        states.append((scope, task.task_spec.name, int(task.state)))
        if task.state & (TaskState.WAITING | TaskState.READY | TaskState.STARTED
                         | TaskState.ERROR):
            live.append((scope, task.task_spec.name, task.data))
    payload: dict[str, Any] = {"tasks": states, "live": live, "completed": workflow.completed}
    if workflow.completed and workflow.last_task is not None:
        payload["final"] = workflow.last_task.data
    return hashlib.sha256(canonical_json(payload).encode()).digest()


def test_a_case_recorded_before_keeps_replaying_as_recorded(
        sla_people, engine_before, database_url, library, clock):
    # People first (their engine publishes the current procedures), then the earlier ones.
    old = SlaWalker(engine_before, sla_people)
    old.publish()
    for _ in range(2):
        next_period(old, clock)
    assert copies_in_task_data(stored_json(engine_before, old.case.id)) >= 1

    # The current procedures on the same database: the case keeps its version and its format.
    current = Engine(database_url, library, clock=clock, password_hasher=FAST_HASHER,
                     effects=charter.effects())
    try:
        current.publish_library()
        old.engine = current
        by = old.person_for("procesos")
        assert current.replay(old.case.number, by=by).proven
        next_period(old, clock)
        state = stored_json(current, old.case.id)
        assert held_as_object(state) == [] and copies_in_task_data(state) >= 1
        replay = current.replay(old.case.number, by=by)
        assert replay.proven and all(step.matches for step in replay.steps)
        assert len(old.case.data["followup_history"]) == 3
        with current.read_session() as session:
            row = session.get_one(CaseRow, old.case.id)
            definition = current._definition(row.version_id)
            workflow = current.runtime.restore(definition, row.state)
            assert row.fingerprint == _old_fingerprint(workflow)
            assert current.runtime.fingerprint(workflow) == row.fingerprint

    finally:
        current.sql.dispose()


def test_a_data_object_holding_dates_is_saved_and_restored_with_them(sla, clock):
    sla.publish()
    for _ in range(2):
        next_period(sla, clock)
    runtime = sla.engine.runtime
    with sla.engine.read_session() as session:
        row = session.get_one(CaseRow, sla.case.id)
        definition = sla.engine._definition(row.version_id)
        state = row.state
    workflow = runtime.restore(definition, state)
    # Saved and restored again: same history, same fingerprint.
    again = runtime.restore(definition, runtime.dump(workflow))
    assert runtime.fingerprint(again) == runtime.fingerprint(workflow)
    assert runtime.snapshot(again).data["followup_history"] == sla.case.data["followup_history"]

    [scope] = [s for s in workflow.subprocesses.values() if s.data.get("data_objects")]
    closed = datetime(2026, 5, 1, 13, 0, tzinfo=UTC)
    scope.data["data_objects"]["followup_history"] = [
        *scope.data["data_objects"]["followup_history"], {"closed_at": closed}]
    changed = runtime.fingerprint(workflow)
    assert changed != runtime.fingerprint(again)
    restored = runtime.restore(definition, runtime.dump(workflow))
    assert runtime.snapshot(restored).data["followup_history"][-1] == {"closed_at": closed}
    assert runtime.fingerprint(restored) == changed
