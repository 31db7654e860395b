"""Timer workers share due cases: each timer fires once, and a held case is passed over."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from engine import Engine
from tests.conftest import FAST_HASHER, form_for

pytestmark = pytest.mark.integration

CASES = 24


def _start_cases(engine: Engine, people: dict[str, list[str]], count: int) -> list[str]:
    coordinator = people["coordinador_th"][0]
    return [engine.start_case("social_case", by=coordinator,
                              data=form_for("recibir_solicitud")).number
            for _ in range(count)]


def _timer_events(engine: Engine) -> Counter[int]:
    with engine.sql.connect() as connection:
        rows = connection.execute(text(
            "SELECT case_id FROM case_event WHERE event_type = 'timer_fired'")).scalars().all()
    return Counter(rows)


def test_two_workers_on_their_own_connections_fire_every_due_timer_exactly_once(
        engine, people, database_url, library, clock):
    _start_cases(engine, people, CASES)
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    # Two workers as two processes would be: each its own engine, pool and caches.
    workers = [Engine(database_url, library, clock=clock, password_hasher=FAST_HASHER)
               for _ in range(2)]
    barrier = threading.Barrier(2)
    moved = [0, 0]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            for _round in range(3):
                moved[index] += workers[index].fire_due_timers()
        except BaseException as error:  # the assertion below shows it
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for worker in workers:
        worker.sql.dispose()

    assert errors == []
    assert sum(moved) == CASES
    fired = _timer_events(engine)
    assert len(fired) == CASES and set(fired.values()) == {1}
    assert engine.fire_due_timers() == 0


def test_a_worker_passes_over_a_case_another_transaction_holds_instead_of_waiting(
        engine, people, clock, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks (SKIP LOCKED) are PostgreSQL's; SQLite serializes writers")
    numbers = _start_cases(engine, people, 3)
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    with engine.sql.connect() as holder:
        # A person's step on the first case is in flight: its row is locked.
        held = holder.execute(text('SELECT id FROM "case" WHERE number = :n FOR UPDATE'),
                              {"n": numbers[0]}).scalar_one()
        outcome: list[object] = []
        worker = threading.Thread(target=lambda: outcome.append(engine.fire_due_timers()))
        began = time.monotonic()
        worker.start()
        worker.join(timeout=10)
        took = time.monotonic() - began
        assert not worker.is_alive(), "the worker waited for the held case"
        assert outcome == [2] and took < 5
        assert held not in _timer_events(engine)
        holder.rollback()
    # Once released, the next round takes it.
    assert engine.fire_due_timers() == 1
    assert set(_timer_events(engine).values()) == {1} and len(_timer_events(engine)) == 3
