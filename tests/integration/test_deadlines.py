"""The 15-working-day diagnosis deadline: on the tasks, on the case, and its timer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

pytestmark = pytest.mark.integration


def test_the_deadline_counts_fifteen_working_days_across_weekends_and_holidays(walker, clock):
    # Friday 30 Oct 2026; Mon 2 and Tue 3 November are national holidays in Ecuador.
    clock.set(datetime(2026, 10, 30, 15, 0, tzinfo=UTC))
    case = walker.start(request_date="2026-10-30")

    # 4,5,6 | 9-13 | 16-20 | 23, 24 Nov → due at the end of Tuesday 24 Nov, Quito time.
    expected = datetime(2026, 11, 25, 4, 59, 59, tzinfo=UTC)
    assert case.due_at == expected
    assert walker.task("reasignar_solicitud").due_at == expected
    assert case.data["diagnosis_due_at"] == expected.isoformat()


def test_tasks_after_the_diagnosis_have_no_deadline(walker):
    walker.start()
    for activity in ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico", "validar_informe"]:
        assert walker.task(activity).due_at is not None
        walker.do(activity)
    assert walker.task("remitir_informe").due_at is None


def test_the_timer_fires_once_flags_the_case_and_escalates_to_the_leader(walker, engine, clock):
    walker.start()
    walker.do("reasignar_solicitud")
    assert engine.fire_due_timers() == 0

    clock.set(datetime(2026, 3, 24, 4, 59, 58, tzinfo=UTC))
    assert engine.fire_due_timers() == 0
    clock.advance(seconds=2)
    assert engine.fire_due_timers() == 1
    assert engine.fire_due_timers() == 0
    clock.advance(days=30)
    assert engine.fire_due_timers() == 0

    case = engine.case(walker.case.number, by=walker.leader)
    assert case.overdue_at == datetime(2026, 3, 24, 5, 0, 0, tzinfo=UTC)
    escalations = [t for t in case.open_tasks if t.activity_id == "atender_vencimiento"]
    assert len(escalations) == 1 and escalations[0].role == "lider_seguridad"
    # The work goes on: the social worker still has the analysis, still overdue.
    analysis = next(t for t in case.open_tasks if t.activity_id == "analizar_solicitud")
    assert engine.due_state(analysis.due_at) == "vencida"
    events = [e.event_type for e in engine.history(case.number, by=walker.leader)]
    assert events.count("timer_fired") == 1 and events.count("deadline_passed") == 1


def test_a_case_finished_in_time_never_escalates(walker, engine, clock):
    walker.start()
    for activity in ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico"]:
        walker.do(activity)
    walker.do("validar_informe", report_validated=True, requires_support=False)
    clock.advance(days=60)
    assert engine.fire_due_timers() == 0
    case = engine.case(walker.case.number, by=walker.leader)
    assert case.overdue_at is None
    assert [t.activity_id for t in case.open_tasks] == ["archivar_expediente"]


def test_due_states_use_three_working_days_for_por_vencer(engine, clock):
    clock.set(datetime(2026, 10, 30, 15, 0, tzinfo=UTC))  # Friday before two holidays
    soon = datetime(2026, 11, 6, 12, 0, tzinfo=UTC)       # 3rd working day: Fri 6 Nov
    later = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    assert engine.due_state(None) == "sin_plazo"
    assert engine.due_state(datetime(2026, 10, 30, 14, 0, tzinfo=UTC)) == "vencida"
    assert engine.due_state(soon) == "por_vencer"
    assert engine.due_state(later) == "a_tiempo"


def test_a_request_recorded_late_is_overdue_at_once_and_still_shows_its_deadline(walker, engine):
    # Registered on 2 March 2026 for a request received on 2 February: 15 working days have
    # passed (Carnival 16-17 February included), so the case is escalated immediately.
    case = walker.start(request_date="2026-02-02")
    assert case.overdue_at is not None
    assert sorted(t.activity_id for t in case.open_tasks) == [
        "atender_vencimiento", "reasignar_solicitud"]
    task = walker.task("reasignar_solicitud")
    assert task.due_at == datetime(2026, 2, 26, 4, 59, 59, tzinfo=UTC)
    assert engine.due_state(task.due_at) == "vencida"
    assert engine.fire_due_timers() == 0


def test_a_deadline_that_passes_between_worker_rounds_is_fired_logged_and_replayable(
        walker, engine, clock):
    walker.start()
    clock.set(datetime(2026, 3, 25, 15, 0, tzinfo=UTC))  # past due, and no worker ran yet
    walker.do("reasignar_solicitud")
    assert engine.fire_due_timers() == 1
    case = engine.case(walker.case.number, by=walker.leader)
    assert case.overdue_at == datetime(2026, 3, 25, 15, 0, tzinfo=UTC)
    assert "atender_vencimiento" in [t.activity_id for t in case.open_tasks]
    events = [e.event_type for e in engine.history(case.number, by=walker.leader)]
    assert events.count("timer_fired") == 1
    assert engine.replay(case.number, by=walker.leader).proven
