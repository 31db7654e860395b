"""Who sees, claims and completes what: the responsibility table enforced by the engine."""

from __future__ import annotations

import pytest

from engine import NotFound, PermissionDenied, TaskClaimedByOther
from tests.conftest import form_for

pytestmark = pytest.mark.integration


def test_a_task_reaches_exactly_the_holders_of_its_lane_role(walker, engine, people):
    walker.start()
    task = walker.task("reasignar_solicitud")
    for usernames in people.values():
        for username in usernames:
            listed = [t.task_id for t in engine.inbox(username).available.items]
            holds = "lider_seguridad" in engine.person(username).roles
            assert (task.task_id in listed) == holds, username


def test_a_person_without_the_role_can_neither_open_claim_nor_complete(walker, engine, people):
    walker.start()
    task = walker.task("reasignar_solicitud")
    outsider = people["trabajador_social"][0]
    with pytest.raises(NotFound):
        engine.task(task.task_id, by=outsider)
    with pytest.raises(NotFound):
        engine.claim(task.task_id, by=outsider)
    with pytest.raises(NotFound):
        engine.complete_task(task.task_id, by=outsider,
                             form_data=form_for("reasignar_solicitud", social_worker=outsider))
    assert walker.open_activities() == ["reasignar_solicitud"]
    assert [e.event_type for e in engine.history(walker.case.number, by=walker.leader)] == [
        "case_started", "task_completed"]


def test_only_the_coordinator_may_start_a_social_case(engine, people):
    with pytest.raises(PermissionDenied):
        engine.start_case("social_case", by=people["trabajador_social"][0],
                          data=form_for("recibir_solicitud"))
    assert [p.process_id for p in engine.startable_processes(people["coordinador_th"][0])] == [
        "social_case"]


def test_a_claimed_task_belongs_to_its_claimant_until_released(walker, engine, people):
    walker.start()
    task = walker.task("reasignar_solicitud")
    first, second = people["lider_seguridad"]
    engine.claim(task.task_id, by=first)

    assert [t.task_id for t in engine.inbox(first).mine.items] == [task.task_id]
    assert engine.inbox(second).available.items == ()
    with pytest.raises(TaskClaimedByOther):
        engine.claim(task.task_id, by=second)
    with pytest.raises(TaskClaimedByOther):
        engine.complete_task(task.task_id, by=second,
                             form_data=form_for("reasignar_solicitud",
                                                social_worker=walker.social_worker))
    with pytest.raises(TaskClaimedByOther):
        engine.release(task.task_id, by=second)

    engine.release(task.task_id, by=first)
    assert [t.task_id for t in engine.inbox(second).available.items] == [task.task_id]
    events = [e.event_type for e in engine.history(walker.case.number, by=first)]
    assert events[-2:] == ["task_claimed", "task_released"]


def test_reassignment_sends_the_later_social_work_tasks_to_the_chosen_person(walker, engine,
                                                                               people):
    chosen, other = people["trabajador_social"][1], people["trabajador_social"][0]
    walker.start()
    walker.do("reasignar_solicitud", social_worker=chosen)

    assert [t.activity_id for t in engine.inbox(chosen).mine.items] == ["analizar_solicitud"]
    assert engine.inbox(other).mine.items == () and engine.inbox(other).available.items == ()
    walker.people = {**people, "trabajador_social": [chosen]}
    for activity in ["analizar_solicitud", "realizar_entrevista", "emitir_diagnostico"]:
        walker.do(activity)
    walker.do("validar_informe")
    walker.do("remitir_informe")
    assert walker.task("solicitar_apoyo").assignee == chosen


def test_the_social_worker_must_hold_the_role(walker, engine, people):
    from engine import FormInvalid

    walker.start()
    with pytest.raises(FormInvalid) as raised:
        walker.do("reasignar_solicitud", social_worker=people["coordinador_th"][0])
    assert raised.value.by_field() == {"social_worker": ["Esa persona no tiene el rol requerido"]}


def test_a_social_case_is_invisible_outside_its_roles(walker, engine, people):
    from datetime import UTC, datetime

    from engine.store import PersonRow

    walker.start()
    with engine._writer.begin() as session:
        session.add(PersonRow(username="ajeno", full_name="Persona Ajena", active=True,
                              failed_logins=0, created_at=datetime.now(UTC)))
    with pytest.raises(NotFound):
        engine.case(walker.case.number, by="ajeno")
    with pytest.raises(NotFound):
        engine.history(walker.case.number, by="ajeno")
    assert engine.inbox("ajeno").available.total == 0
