"""The engine runs what it accepts, safely: a runaway script fails its step only (rolled back, the
lock released at once, other cases unaffected), event subprocesses replay from the first case on,
and cycle timers fire each repetition once."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, ProcessLibrary, ScriptLimitError, ScriptLimits
from tests.conftest import FAST_HASHER

pytestmark = pytest.mark.integration

TIMEOUT = 1.0
PASSWORD = "clave-de-prueba-1"

DEFINITIONS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs_{pid}" targetNamespace="https://cauce.example/test">
  <bpmn:process id="{pid}" name="Prueba {pid}" isExecutable="true">
    <bpmn:laneSet id="lanes_{pid}">
      <bpmn:lane id="clerk" name="Oficina">{refs}</bpmn:lane>
    </bpmn:laneSet>
    {body}
  </bpmn:process>
  {extra}
</bpmn:definitions>"""


def _form(task_id: str, name: str, form: str) -> str:
    return f"""<bpmn:userTask id="{task_id}" name="{name}"><bpmn:extensionElements>
      <spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="{form}.json"/>
      </spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>"""


COMPUTE = """if mode == 'loop':
    while True:
        pass
elif mode == 'power':
    x = n ** n ** n
elif mode == 'alloc':
    x = [0] * (10 ** n)
elif mode == 'recursion':
    def deeper(k):
        return deeper(k + 1)
    x = deeper(0)
elif mode == 'data':
    x = ['z' * 100000] * 20
result = 'calculado'"""

PROCESSES = {
    "tiny": dict(
        refs=["start", "fill", "compute", "review", "done"],
        body=f"""<bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fill"/>
    {_form("fill", "Llenar", "mode_form")}
    <bpmn:sequenceFlow id="f2" sourceRef="fill" targetRef="compute"/>
    <bpmn:scriptTask id="compute" name="Calcular"><bpmn:script>{COMPUTE}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f3" sourceRef="compute" targetRef="review"/>
    {_form("review", "Revisar", "ok_form")}
    <bpmn:sequenceFlow id="f4" sourceRef="review" targetRef="done"/>
    <bpmn:endEvent id="done"/>""", extra=""),
    "runaway_start": dict(
        refs=["start", "spin", "review", "done"],
        body=f"""<bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="spin"/>
    <bpmn:scriptTask id="spin" name="Girar"><bpmn:script>k = 0
while k &gt;= 0:
    k += 1</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="spin" targetRef="review"/>
    {_form("review", "Revisar", "ok_form")}
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="done"/>
    <bpmn:endEvent id="done"/>""", extra=""),
    "with_event_subprocess": dict(
        refs=["start", "throw", "work", "done"],
        body=f"""<bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="throw"/>
    <bpmn:intermediateThrowEvent id="throw" name="Avisar">
      <bpmn:signalEventDefinition signalRef="ping"/></bpmn:intermediateThrowEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="throw" targetRef="work"/>
    {_form("work", "Trabajar", "ok_form")}
    <bpmn:sequenceFlow id="f3" sourceRef="work" targetRef="done"/>
    <bpmn:endEvent id="done"/>
    <bpmn:subProcess id="noted" name="Anotar" triggeredByEvent="true">
      <bpmn:startEvent id="noted_start" isInterrupting="false">
        <bpmn:signalEventDefinition signalRef="ping"/></bpmn:startEvent>
      <bpmn:sequenceFlow id="g1" sourceRef="noted_start" targetRef="note"/>
      <bpmn:scriptTask id="note" name="Anotar aviso"><bpmn:script>noted = True</bpmn:script>
      </bpmn:scriptTask>
      <bpmn:sequenceFlow id="g2" sourceRef="note" targetRef="noted_end"/>
      <bpmn:endEvent id="noted_end"/>
    </bpmn:subProcess>""", extra='<bpmn:signal id="ping" name="ping"/>'),
    "reminders": dict(
        refs=["start", "fill", "remind", "reminded", "done"],
        body=f"""<bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fill"/>
    {_form("fill", "Llenar", "ok_form")}
    <bpmn:boundaryEvent id="remind" name="Recordar" attachedToRef="fill"
        cancelActivity="false">
      <bpmn:timerEventDefinition><bpmn:timeCycle>"R2/PT1H"</bpmn:timeCycle>
      </bpmn:timerEventDefinition></bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f_remind" sourceRef="remind" targetRef="reminded"/>
    <bpmn:endEvent id="reminded" name="Recordado"/>
    <bpmn:sequenceFlow id="f2" sourceRef="fill" targetRef="done"/>
    <bpmn:endEvent id="done" name="Listo"/>""", extra=""),
}

FORMS = {
    "mode_form": {"type": "object", "properties": {
        "mode": {"type": "string", "title": "Modo"}, "n": {"type": "integer", "title": "N"}}},
    "ok_form": {"type": "object", "properties": {"ok": {"type": "boolean", "title": "Listo"}}},
}


def build_library(tmp_path: Path, processes: dict[str, dict[str, Any]] = PROCESSES,
                  forms: dict[str, dict[str, Any]] = FORMS) -> ProcessLibrary:
    """Write a bundle of small procedures (one lane, role ``clerk``) and load it."""
    bpmn_dir, forms_dir = tmp_path / "bpmn", tmp_path / "forms"
    bpmn_dir.mkdir()
    forms_dir.mkdir()
    for pid, parts in processes.items():
        refs = "".join(f"<bpmn:flowNodeRef>{r}</bpmn:flowNodeRef>" for r in parts["refs"])
        (bpmn_dir / f"{pid}.bpmn").write_text(DEFINITIONS.format(
            pid=pid, refs=refs, body=parts["body"], extra=parts["extra"]))
        (bpmn_dir / f"{pid}.responsibility.json").write_text(json.dumps({
            "process": pid, "title": f"Prueba {pid}", "case_number_prefix": pid[:3].upper(),
            "lanes": {"clerk": {"role": "clerk", "role_name": "Oficinista",
                                "positions": ["Oficinista"]}}}))
    for name, schema in forms.items():
        (forms_dir / f"{name}.json").write_text(json.dumps(schema))
    return ProcessLibrary.load_directory(bpmn_dir, forms_dir)


@pytest.fixture
def safe_engine(tmp_path, database_url, clock):
    library = build_library(tmp_path)
    eng = Engine(database_url, library, clock=clock, password_hasher=FAST_HASHER,
                 script_limits=ScriptLimits(timeout=TIMEOUT), documents_dir=tmp_path / "docs")
    eng.create_schema()
    for username in ("ana", "beto"):
        eng.add_person(username, username.title(), password=PASSWORD, positions=("Oficinista",))
    yield eng
    eng.sql.dispose()


def _open(case: Any, activity: str) -> str:
    return next(t.task_id for t in case.open_tasks if t.activity_id == activity)


def _written(eng: Engine, case_id: int) -> tuple[int, int]:
    history = eng.history(case_id, by="ana")
    return len(history), eng.case(case_id, by="ana").updated_at.toordinal()


@pytest.mark.parametrize("mode,kind", [
    ("loop", "time"), ("power", "size"), ("alloc", "size"), ("recursion", "recursion"),
    ("data", "data"),
])
def test_a_runaway_script_fails_its_step_only_while_another_case_moves_on(
        safe_engine, mode, kind):
    eng = safe_engine
    mine = eng.start_case("tiny", by="ana")
    other = eng.start_case("tiny", by="beto")
    before = _written(eng, mine.id)
    outcome: dict[str, Any] = {}

    def runaway() -> None:
        started = time.monotonic()
        try:
            eng.complete_task(_open(mine, "fill"), by="ana", form_data={"mode": mode, "n": 9})
        except ScriptLimitError as error:
            outcome["error"] = error
        outcome["runaway_seconds"] = time.monotonic() - started

    def meanwhile() -> None:
        time.sleep(0.2)
        started = time.monotonic()
        outcome["other"] = eng.complete_task(_open(other, "fill"), by="beto",
                                             form_data={"mode": "ok", "n": 1})
        outcome["other_seconds"] = time.monotonic() - started

    threads = [threading.Thread(target=runaway), threading.Thread(target=meanwhile)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    error = outcome["error"]
    assert error.kind == kind and error.element == "Calcular"
    assert error.message.startswith("El script de la tarea Calcular ")
    assert "No se guardó nada" in error.message
    assert outcome["runaway_seconds"] < TIMEOUT + 1
    # SQLite has one write lock, held by the runaway's transaction until its rollback;
    # PostgreSQL locks only the case, so the other person does not wait at all.
    wait = 1.0 if eng.sql.dialect.name == "postgresql" else TIMEOUT + 1
    assert outcome["other_seconds"] < wait
    assert [t.activity_id for t in outcome["other"].open_tasks] == ["review"]

    # Nothing of the failed step was written; the same case can still be worked on.
    assert _written(eng, mine.id) == before
    again = eng.complete_task(_open(mine, "fill"), by="ana", form_data={"mode": "ok", "n": 1})
    assert [t.activity_id for t in again.open_tasks] == ["review"]
    assert again.data["result"] == "calculado"
    assert eng.replay(mine.id, by="ana").stored_state_matches


def test_a_procedure_whose_first_script_always_runs_away_opens_no_case(safe_engine):
    eng = safe_engine
    started = time.monotonic()
    with pytest.raises(ScriptLimitError) as failed:
        eng.start_case("runaway_start", by="ana")
    assert time.monotonic() - started < TIMEOUT + 1
    assert failed.value.message.startswith(
        f"El script de la tarea Girar excedió el tiempo permitido ({TIMEOUT:g} s)")
    from engine.store import CaseRow

    with eng.read_session() as session:
        assert session.query(CaseRow).count() == 0
    # The database is free at once: a write right after succeeds without waiting.
    started = time.monotonic()
    eng.start_case("tiny", by="ana")
    assert time.monotonic() - started < 1


def test_the_first_and_the_second_case_with_an_event_subprocess_both_replay(safe_engine):
    eng = safe_engine
    for _ in range(2):
        case = eng.start_case("with_event_subprocess", by="ana")
        case = eng.complete_task(_open(case, "work"), by="ana", form_data={"ok": True})
        assert case.status == "completed"
        replay = eng.replay(case.id, by="ana")
        assert replay.chain_intact and replay.stored_state_matches
        assert all(step.recorded_state == step.replayed_state for step in replay.steps)


def test_a_cycle_timer_fires_each_repetition_exactly_once(safe_engine, clock):
    eng = safe_engine
    case = eng.start_case("reminders", by="ana")
    assert eng.fire_due_timers() == 0

    clock.advance(minutes=61)
    assert eng.fire_due_timers() == 1
    assert eng.fire_due_timers() == 0
    clock.advance(minutes=60)
    assert eng.fire_due_timers() == 1
    clock.advance(hours=5)
    assert eng.fire_due_timers() == 0  # two repetitions only

    fired = [e for e in eng.history(case.id, by="ana") if e.event_type == "timer_fired"]
    assert [e.data["timers"] for e in fired] == [["remind"], ["remind"]]
    case = eng.complete_task(_open(eng.case(case.id, by="ana"), "fill"), by="ana",
                             form_data={"ok": True})
    assert case.status == "completed"
    assert eng.replay(case.id, by="ana").stored_state_matches


def _fire_together(worker: Engine, barrier: threading.Barrier, moved: list[int]) -> None:
    barrier.wait()
    moved.append(worker.fire_due_timers())


def test_two_workers_fire_a_cycle_repetition_once(safe_engine, clock, database_url, tmp_path):
    eng = safe_engine
    second = Engine(database_url, eng.library, clock=clock, password_hasher=FAST_HASHER,
                    script_limits=ScriptLimits(timeout=TIMEOUT))
    second.publish_library()
    cases = [eng.start_case("reminders", by="ana") for _ in range(3)]
    try:
        for _repetition in range(2):
            clock.advance(minutes=61)
            moved: list[int] = []
            barrier = threading.Barrier(2)

            threads = [threading.Thread(target=_fire_together, args=(w, barrier, moved))
                       for w in (eng, second)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert sum(moved) == len(cases)
    finally:
        second.sql.dispose()
    for case in cases:
        fired = [e for e in eng.history(case.id, by="ana") if e.event_type == "timer_fired"]
        assert len(fired) == 2


def test_a_runaway_reaches_the_api_as_a_script_error_never_a_server_error(
        safe_engine, database_url, tmp_path):
    from app import create_app

    eng = safe_engine
    app = create_app({"DATABASE_URL": database_url, "ENGINE": eng, "TESTING": True,
                      "SECRET_KEY": "test-secret", "BPMN_DIR": str(tmp_path / "bpmn"),
                      "FORMS_DIR": str(tmp_path / "forms"), "DOCUMENTS_DIR": str(tmp_path)})
    client = app.test_client()
    token = client.post("/api/login", json={"username": "ana", "password": PASSWORD}
                        ).get_json()["token"]
    case = eng.start_case("tiny", by="ana")
    response = client.post(f"/api/tasks/{_open(case, 'fill')}/complete",
                           json={"data": {"mode": "loop", "n": 1}},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "script_error"
    assert error["message"].startswith(
        f"El script de la tarea Calcular excedió el tiempo permitido ({TIMEOUT:g} s)")
