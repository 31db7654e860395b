"""Two people (or two workers) acting at once: one winner, a clear answer, nothing twice."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

import pytest

from engine import TaskAlreadyCompleted
from tests.conftest import form_for

pytestmark = pytest.mark.integration


def _race(count, action):
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index):
        barrier.wait()
        try:
            results[index] = ("ok", action(index))
        except Exception as error:  # the test inspects every outcome
            results[index] = ("error", error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_simultaneous_completions_of_one_task_have_exactly_one_winner(walker, engine, people):
    walker.start()
    task = walker.task("reasignar_solicitud")
    leaders = people["lider_seguridad"]
    data = form_for("reasignar_solicitud", social_worker=walker.social_worker)

    results = _race(2, lambda i: engine.complete_task(task.task_id, by=leaders[i],
                                                      form_data=data))

    outcomes = Counter(kind for kind, _ in results)
    assert outcomes == {"ok": 1, "error": 1}
    error = next(value for kind, value in results if kind == "error")
    assert isinstance(error, TaskAlreadyCompleted)
    assert error.message == "La tarea ya fue completada"
    history = engine.history(walker.case.number, by=leaders[0])
    assert [e.event_type for e in history].count("task_completed") == 2  # activities 1 and 2
    assert len({e.seq for e in history}) == len(history)
    case = engine.case(walker.case.number, by=leaders[0])
    assert [t.activity_id for t in case.open_tasks] == ["analizar_solicitud"]
    assert engine.replay(case.number, by=leaders[0]).proven


def test_a_late_completion_of_a_finished_task_says_already_completed(walker, engine, people):
    walker.start()
    task = walker.task("reasignar_solicitud")
    walker.do("reasignar_solicitud")
    with pytest.raises(TaskAlreadyCompleted):
        engine.complete_task(task.task_id, by=people["lider_seguridad"][1],
                             form_data=form_for("reasignar_solicitud",
                                                social_worker=walker.social_worker))


def test_two_workers_fire_a_due_timer_exactly_once(walker, engine, clock):
    walker.start()
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))

    results = _race(2, lambda _i: engine.fire_due_timers())

    assert sorted(value for _, value in results) == [0, 1]
    history = engine.history(walker.case.number, by=walker.leader)
    assert [e.event_type for e in history].count("timer_fired") == 1
    case = engine.case(walker.case.number, by=walker.leader)
    assert [t.activity_id for t in case.open_tasks].count("atender_vencimiento") == 1


def test_case_numbers_stay_unique_and_consecutive_under_concurrency(engine, people):
    coordinators = people["coordinador_th"]
    results = _race(6, lambda i: engine.start_case(
        "social_case", by=coordinators[i % 2], data=form_for("recibir_solicitud")).number)
    assert all(kind == "ok" for kind, _ in results), results
    assert sorted(value for _, value in results) == [f"CS-2026-{n:04d}" for n in range(1, 7)]
