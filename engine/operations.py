"""What operators watch: the database's pulse, the timer workers' heartbeats, and a feed of the
steps cases take (for metrics), with no web code: the web layer and the CLI read these."""

from __future__ import annotations

import contextvars
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exc, func, select
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.orm import Session

from .store import WorkerHeartbeatRow

_log = logging.getLogger("cauce.operations")

# A worker that has not been heard of for this long is gone: its row is dropped.
FORGET_WORKERS_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Happening:
    """One event a committed step appended to a case's log, as metrics see it."""

    event_type: str
    process_id: str
    case_id: int
    at: datetime
    # For a timer: the moment the case's earliest timer was due (its lag is ``at - due_at``).
    due_at: datetime | None = None


Observer = Callable[[Happening], None]


def happenings(process_id: str, case_id: int, events: Sequence[dict[str, Any]],
               timer_due_at: datetime | None) -> list[Happening]:
    """Describe the events of one step for observers."""
    return [Happening(event_type=e["event_type"], process_id=process_id, case_id=case_id,
                      at=e["at"],
                      due_at=timer_due_at if e["event_type"] == "timer_fired" else None)
            for e in events]


def notify(observers: Sequence[Observer], found: Sequence[Happening]) -> None:
    """Tell every observer; an observer's failure never undoes a committed step."""
    for happening in found:
        for observer in observers:
            try:
                observer(happening)
            except Exception:  # metrics must never break a step that has already committed
                _log.exception("an observer failed on %s", happening.event_type)


@dataclass(frozen=True)
class Check:
    """The outcome of one readiness check; ``detail`` is safe to show anyone (no secrets)."""

    ok: bool
    detail: str
    seconds: float | None = None


# What a request meets while the database is down, restarting or saturated: the connection is
# refused or drops, the pool has no connection to lend, or the server cancels the statement.
# None of these is the request's fault, and each passes once the database is back (pooled
# connections are pinged before use), so callers answer "try again" rather than fail.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    exc.OperationalError, exc.InterfaceError, exc.TimeoutError)


def database_unavailable(error: BaseException) -> bool:
    """Tell whether ``error`` means the database cannot serve now (not a defect)."""
    return isinstance(error, DATABASE_UNAVAILABLE)


# One probe at a time: if the database hangs, probes must not pile up threads behind it.
_probe_lock = threading.Lock()


def ping_database(sql: SqlEngine, timeout: float) -> Check:
    """Run a trivial query, giving up (not failing the caller) after ``timeout`` seconds."""
    if not _probe_lock.acquire(blocking=False):
        return Check(False, "la comprobación anterior de la base de datos aún no termina")
    outcome: list[Check] = []
    started = time.perf_counter()

    def probe() -> None:
        try:
            # Read-only: on SQLite a probe must never queue for the write lock.
            with sql.execution_options(read_only=True).connect() as connection:
                if connection.dialect.name == "postgresql":
                    # LOCAL: the pooled connection must not keep the limit afterwards.
                    connection.exec_driver_sql(
                        f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}")
                # A table of the schema, not "SELECT 1": SQLite answers that without its file.
                connection.execute(select(WorkerHeartbeatRow.worker).limit(1))
                connection.rollback()
            outcome.append(Check(True, "responde", time.perf_counter() - started))
        except Exception:  # the reason is logged; the check itself only says "no"
            _log.warning("readiness: the database did not answer", exc_info=True)
            outcome.append(Check(False, "no responde", time.perf_counter() - started))
        finally:
            _probe_lock.release()

    # In the caller's context: what it logs keeps the caller's tags (the web's request id).
    worker = threading.Thread(target=contextvars.copy_context().run, args=(probe,),
                              name="cauce-db-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return Check(False, f"no respondió en {timeout:g} s", time.perf_counter() - started)
    return outcome[0]


def worker_name() -> str:
    """Name this process as a worker: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def record_heartbeat(session: Session, worker: str, now: datetime) -> None:
    """Record that ``worker`` finished a round now (and forget long-gone workers)."""
    row = session.get(WorkerHeartbeatRow, worker)
    if row is None:
        session.add(WorkerHeartbeatRow(worker=worker, beat_at=now, rounds=1))
    else:
        row.beat_at, row.rounds = now, row.rounds + 1
    session.execute(delete(WorkerHeartbeatRow).where(
        WorkerHeartbeatRow.beat_at < now - FORGET_WORKERS_AFTER))


def last_heartbeat(session: Session) -> datetime | None:
    """Return the most recent heartbeat of any worker, or None if none was ever heard."""
    return session.scalars(select(func.max(WorkerHeartbeatRow.beat_at))).one()


def heartbeat_check(last: datetime | None, now: datetime, max_age: timedelta) -> Check:
    """Judge the newest worker heartbeat against the allowed age."""
    if last is None:
        return Check(False, "ningún trabajador de temporizadores (flask worker) ha dado señales")
    age = (now - last).total_seconds()
    if age > max_age.total_seconds():
        return Check(False, f"el último latido de un trabajador fue hace {age:.0f} s "
                            f"(máximo {max_age.total_seconds():.0f} s)")
    return Check(True, f"último latido hace {max(age, 0):.0f} s")
