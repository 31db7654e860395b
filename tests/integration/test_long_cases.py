"""Long-lived cases: loops of hundreds of rounds and ten years of monthly follow-up keep going,
keep their stored state bounded, and replay; cases recorded before the cut replay as recorded."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from engine import Engine, compaction
from engine.audit import canonical_json
from engine.store import CaseRow
from tests.integration.test_sla_support import PERIOD_STEPS, REPORT_STEPS

pytestmark = pytest.mark.integration
# The engine with the charter effects, its people and the case walker.
pytest_plugins = ["tests.integration.test_sla_support"]

DIAGNOSIS = ["analizar_solicitud", "realizar_entrevista", "emitir_diagnostico"]


def stored(engine: Engine, case_id: int) -> tuple[int, int]:
    """Return the case's stored state in bytes and the number of tasks its workflow holds."""
    with engine.read_session() as session:
        case = session.scalars(select(CaseRow).where(CaseRow.id == case_id)).one()
        version_id, state = case.version_id, case.state
    workflow = engine.runtime.restore(engine._definition(version_id), state)
    return len(state), compaction.task_count(workflow)


def data_bytes(data: dict) -> int:
    """Return what the case's data alone takes, compressed as the state is."""
    return len(zlib.compress(canonical_json(data).encode(), 1))


def reject(walker, note: str) -> None:
    walker.do("validar_informe", report_validated=False, review_observations=note)
    walker.do("emitir_diagnostico")


def test_a_review_loop_of_500_rounds_keeps_going_to_the_end_and_replays(walker):
    walker.start()
    for activity in ["reasignar_solicitud", *DIAGNOSIS]:
        walker.do(activity)
    sizes = {}
    for round_number in range(1, 501):
        reject(walker, f"Ronda {round_number}: precisar las estrategias.")
        if round_number in (10, 500):
            sizes[round_number] = stored(walker.engine, walker.case.id)

    assert walker.open_activities() == ["validar_informe"]
    (bytes_10, tasks_10), (bytes_500, tasks_500) = sizes[10], sizes[500]
    assert tasks_500 == tasks_10 <= 30
    assert bytes_500 <= bytes_10 + 64

    walker.do("validar_informe", report_validated=True, requires_support=False)
    case = walker.do("archivar_expediente")
    assert (case.status, case.outcome) == ("completed", "Expediente archivado")
    assert case.data["review_observations"] == "Ronda 500: precisar las estrategias."
    history = walker.engine.history(case.number, by=walker.leader)
    reviews = [e for e in history
               if e.activity_id == "validar_informe" and e.event_type == "task_completed"]
    assert len(reviews) == 501
    replay = walker.engine.replay(case.number, by=walker.leader)
    assert replay.proven and len(replay.steps) == len(history)


def test_a_monthly_follow_up_runs_for_ten_years_and_then_ends_and_replays(sla, clock):
    sla.start()
    sla.do("pla_definir_ans")
    sla.do("pla_planificar_publicacion", followup_frequency="mensual")
    sla.run(*REPORT_STEPS)
    sizes = {}
    for period in range(1, 121):
        assert sla.case.data["period_number"] == period
        closes = datetime.fromisoformat(sla.case.data["period_closes_at"]).astimezone(UTC)
        assert sla.fire_period_close(clock, closes) == 1
        assert sla.open_activities() == ["seg_recolectar_datos"]
        sla.run(*PERIOD_STEPS)
        if period in (10, 120):
            sizes[period] = (*stored(sla.engine, sla.case.id), data_bytes(sla.case.data))

    assert sla.case.data["period_last_day"] == "2036-03-31"
    (bytes_10, tasks_10, data_10), (bytes_120, tasks_120, data_120) = sizes[10], sizes[120]
    assert tasks_120 == tasks_10 <= 30
    # The service's own history grows with every period (its data is stored compressed with the
    # rest, a little less tightly); the workflow around it does not. Uncut, it grew ~490 B/period.
    assert bytes_120 - bytes_10 <= 1.5 * (data_120 - data_10)

    closes = datetime.fromisoformat(sla.case.data["period_closes_at"]).astimezone(UTC)
    sla.fire_period_close(clock, closes)
    sla.run(*PERIOD_STEPS[:-1])
    sla.do("seg_revisar_vigencia", validity_decision="excluir",
           exclusion_reason="compromiso_inviable", state_justification="Cambio normativo.")
    case = sla.do("seg_resolucion_mdt")
    assert (case.status, case.outcome) == ("completed", "Servicio excluido de la Carta")
    assert len(case.data["followup_history"]) == 120
    replay = sla.engine.replay(case.number, by=sla.person_for("procesos"))
    assert replay.proven
    assert sum(1 for s in replay.steps if s.event_type == "timer_fired") == 121


def test_a_loop_restored_from_the_database_at_every_step_matches_one_kept_in_memory(
        walker, engine, reload):
    fingerprints = []
    for fresh_engine_each_step in (False, True):
        walker.start()
        for activity in ["reasignar_solicitud", *DIAGNOSIS]:
            walker.do(activity, engine=reload() if fresh_engine_each_step else None)
        for round_number in range(1, 21):
            for activity, choices in (
                    ("validar_informe", {"report_validated": False,
                                         "review_observations": f"Ronda {round_number}"}),
                    ("emitir_diagnostico", {})):
                walker.do(activity, engine=reload() if fresh_engine_each_step else None,
                          **choices)
        with engine.read_session() as session:
            fingerprints.append(session.scalars(select(CaseRow.fingerprint).where(
                CaseRow.id == walker.case.id)).one())
        assert engine.replay(walker.case.number, by=walker.leader).proven
    assert fingerprints[0] == fingerprints[1]


def test_the_diagnosis_deadline_still_fires_and_escalates_deep_in_a_review_loop(walker, engine,
                                                                              clock):
    case = walker.start()
    deadline = case.due_at
    for activity in ["reasignar_solicitud", *DIAGNOSIS]:
        walker.do(activity)
    for round_number in range(1, 101):
        reject(walker, f"Ronda {round_number}")

    clock.set(deadline)
    clock.advance(seconds=2)
    assert engine.fire_due_timers() == 1
    case = walker.case = engine.case(walker.case.number, by=walker.leader)
    assert case.overdue_at is not None and case.due_at == deadline
    assert walker.open_activities() == ["atender_vencimiento", "validar_informe"]
    assert walker.task("validar_informe").due_at == deadline

    for round_number in range(101, 151):
        reject(walker, f"Ronda {round_number}")
    walker.do("atender_vencimiento")
    walker.do("validar_informe", report_validated=True, requires_support=False)
    case = walker.do("archivar_expediente")
    assert (case.status, case.outcome) == ("completed", "Expediente archivado")
    assert case.data["actions_taken"] == "Se conversó con el trabajador social."
    assert engine.replay(case.number, by=walker.leader).proven


def test_a_case_recorded_before_the_cut_keeps_its_whole_tree_and_replays_as_recorded(
        walker, engine, monkeypatch):
    with monkeypatch.context() as patch:
        # As before compaction existed: the first event names no cut, the tree carries no mark.
        patch.setattr(compaction, "VERSION", 0)
        patch.setattr(compaction, "enable", lambda workflow: None)
        walker.start()
    history = engine.history(walker.case.number, by=walker.leader)
    assert history[0].data["compaction"] == 0
    for activity in ["reasignar_solicitud", *DIAGNOSIS]:
        walker.do(activity)
    _, tasks_before = stored(engine, walker.case.id)
    for round_number in range(1, 11):
        reject(walker, f"Ronda {round_number}")
    _, tasks_after = stored(engine, walker.case.id)

    assert tasks_after > tasks_before + 10
    replay = engine.replay(walker.case.number, by=walker.leader)
    assert replay.proven


def test_the_first_event_of_a_new_case_records_that_its_tree_is_kept_compact(walker, engine):
    walker.start()
    first = engine.history(walker.case.number, by=walker.leader)[0]
    assert first.event_type == "case_started"
    assert json.loads(json.dumps(first.data))["compaction"] == compaction.VERSION


def test_a_replay_is_one_forward_pass_describing_the_tree_once_per_event(walker, engine,
                                                                         monkeypatch):
    walker.start()
    for activity in ["reasignar_solicitud", *DIAGNOSIS]:
        walker.do(activity)
    for round_number in range(1, 31):
        reject(walker, f"Ronda {round_number}")
    calls = {"snapshot": 0, "replay_state": 0, "ready_human_tasks": 0, "restore": 0}
    runtime = type(engine.runtime)
    for name, method in [(name, getattr(runtime, name)) for name in calls]:
        def counted(self, *args, _name=name, _method=method, **kwargs):
            calls[_name] += 1
            return _method(self, *args, **kwargs)
        monkeypatch.setattr(runtime, name, counted)

    replay = engine.replay(walker.case.number, by=walker.leader)

    assert replay.proven
    stepped = sum(1 for step in replay.steps if step.recorded_state is not None)
    # One walk per event (its fingerprint and the tasks the next event may complete); at the
    # end, the replayed and the stored state (restored once) are described to compare them.
    assert calls == {"snapshot": 2, "replay_state": stepped, "ready_human_tasks": 0,
                     "restore": 1}
