"""Stalled cases: the worker flags an open case with nothing to do and nothing to wait for, its
people see it on the case page, operators list it, and it closes once the case can move again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from sqlalchemy import delete, insert, select, update

from engine import NotFound, compaction
from engine.store import CaseRow, IncidentRow, OpenTaskRow

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.integration.test_sla_support"]

# SpiffWorkflow's get_tasks() stops looking 1,000 levels down the task tree; a shallower limit
# reproduces the same silent stall in a few rounds of the review loop instead of ~330.
SHALLOW = (None, 40, True, False, None)
MESSAGE = "Incidente: el caso no tiene tareas abiertas ni temporizadores pendientes desde"


def review_rounds(walker, rounds: int) -> None:
    for round_number in range(rounds):
        walker.do("validar_informe", report_validated=False,
                  review_observations=f"Ronda {round_number}")
        walker.do("emitir_diagnostico")


def stall_a_case_as_before(walker, monkeypatch) -> str:
    """Run a case uncut (as cases were recorded before) until SpiffWorkflow stops seeing it.

    Its diagnosis deadline passes first (and is attended): while that timer waits, a timer
    will still wake the case, which is then late, not stalled.
    """
    with monkeypatch.context() as patch:
        patch.setattr(compaction, "enable", lambda workflow: None)
        walker.start()
    for activity in ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico"]:
        walker.do(activity)
    clock = walker.engine.clock
    clock.set(walker.case.due_at + timedelta(minutes=1))
    assert walker.engine.fire_due_timers() == 1
    walker.case = walker.engine.case(walker.case.number, by=walker.leader)
    walker.do("atender_vencimiento")
    monkeypatch.setattr(BpmnTaskIterator.__init__, "__defaults__", SHALLOW)
    for step in range(80):
        if not walker.case.open_tasks:
            break
        if walker.open_activities() == ["validar_informe"]:
            walker.do("validar_informe", report_validated=False, review_observations=f"{step}")
        else:
            walker.do("emitir_diagnostico")
    assert walker.case.status == "open" and walker.case.open_tasks == ()
    return walker.case.number


def test_a_stalled_case_is_flagged_once_and_listed_for_operators(walker, engine, clock,
                                                                 monkeypatch):
    number = stall_a_case_as_before(walker, monkeypatch)
    stalled_at = clock()
    clock.advance(hours=2)

    found = engine.check_stalled_cases()
    assert [(i.case_number, i.kind, i.since, i.is_open) for i in found] == [
        (number, "stalled", stalled_at, True)]
    assert found[0].detected_at == clock()
    # Later rounds find the same stall: still one incident.
    clock.advance(minutes=1)
    assert engine.check_stalled_cases() == []
    assert [i.case_number for i in engine.list_incidents()] == [number]


def test_its_people_see_the_incident_on_the_case_page_and_outsiders_do_not(
        walker, engine, monkeypatch, web, people):
    number = stall_a_case_as_before(walker, monkeypatch)
    engine.check_stalled_cases()

    [incident] = engine.case_incidents(number, by=walker.leader)
    assert incident.case_number == number
    page = web(walker.leader).get(f"/casos/{number}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert MESSAGE in html and "24/03/2026 00:00" in html
    outsider = next(p for p in engine.people_with_role("procesos"))
    with pytest.raises(NotFound):
        engine.case_incidents(number, by=outsider.username)


def test_the_worker_and_the_incidents_command_report_it(walker, engine, monkeypatch, app):
    number = stall_a_case_as_before(walker, monkeypatch)
    runner = app.test_cli_runner()

    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert f"Incidente en {number}: el caso no tiene tareas abiertas" in result.output
    listed = runner.invoke(args=["incidents"])
    assert listed.exit_code == 0
    assert f"Incidente en {number}" in listed.output and "desde 24/03/2026 00:00" in listed.output


def test_the_same_loop_kept_compact_never_stalls(walker, engine, monkeypatch):
    walker.start()
    for activity in ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico"]:
        walker.do(activity)
    monkeypatch.setattr(BpmnTaskIterator.__init__, "__defaults__", SHALLOW)
    review_rounds(walker, 60)

    assert walker.open_activities() == ["validar_informe"]
    assert engine.check_stalled_cases() == []


def test_cases_with_open_tasks_or_waiting_for_a_timer_are_not_incidents(sla, sla_engine, clock):
    sla.publish()
    assert sla.case.open_tasks == ()
    assert sla_engine.check_stalled_cases() == []
    # Even when the row lost its wake-up time, the workflow shows it waits for the period's close.
    with sla_engine._writer.begin() as session:
        session.execute(update(CaseRow).where(CaseRow.id == sla.case.id)
                        .values(next_timer_at=None))
    assert sla_engine.check_stalled_cases() == []


def test_an_incident_closes_once_its_case_has_work_again(walker, engine, clock):
    walker.start()
    for activity in ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico", "validar_informe"]:
        walker.do(activity)
    assert walker.open_activities() == ["remitir_informe"]
    # The open-task mirror loses the case's only task: nobody can reach it any more.
    with engine._writer.begin() as session:
        saved = session.execute(select(*OpenTaskRow.__table__.columns).where(
            OpenTaskRow.case_id == walker.case.id)).mappings().all()
        session.execute(delete(OpenTaskRow).where(OpenTaskRow.case_id == walker.case.id))
    [incident] = engine.check_stalled_cases()

    with engine._writer.begin() as session:
        session.execute(insert(OpenTaskRow), [dict(row) for row in saved])
    clock.advance(days=1)
    assert engine.check_stalled_cases() == []
    assert engine.list_incidents() == []
    [closed] = engine.list_incidents(open_only=False)
    assert (closed.id, closed.resolved_at) == (incident.id, clock())
    with engine.read_session() as session:
        assert session.scalars(select(IncidentRow.resolved_at)).one() == clock()


def test_an_incident_is_not_a_step_of_the_case(walker, engine, monkeypatch):
    number = stall_a_case_as_before(walker, monkeypatch)
    before = engine.history(number, by=walker.leader)
    engine.check_stalled_cases()
    assert engine.history(number, by=walker.leader) == before
