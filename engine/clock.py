"""The engine's notion of "now": injectable for tests, shared with SpiffWorkflow's timers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo

import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer

Clock = Callable[[], datetime]

LOCAL_TZ = ZoneInfo("America/Guayaquil")

# SpiffWorkflow reads datetime.now() directly; a verb binds its own "now" here so that timers and
# scripts see the same instant the audit log records (and a replay can reproduce it).
_bound_now: ContextVar[datetime | None] = ContextVar("cauce_now", default=None)


def utc_now() -> datetime:
    """Return the real current time, timezone-aware UTC."""
    return datetime.now(UTC)


def current_now() -> datetime:
    """Return the instant bound to the running verb, or the real time outside one."""
    bound = _bound_now.get()
    return bound if bound is not None else utc_now()


@contextlib.contextmanager
def bound_now(instant: datetime) -> Iterator[datetime]:
    """Make ``instant`` the time seen by timers and scripts while the block runs."""
    if instant.tzinfo is None:
        raise ValueError("bound_now needs a timezone-aware datetime")
    token = _bound_now.set(instant.astimezone(UTC))
    try:
        yield instant
    finally:
        _bound_now.reset(token)


class ClockedDatetime(datetime):
    """``datetime`` whose now()/today() answer the verb's bound instant."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> ClockedDatetime:
        instant = current_now()
        value = instant.astimezone(tz) if tz is not None else instant.astimezone(LOCAL_TZ).replace(
            tzinfo=None
        )
        return cls.fromisoformat(value.isoformat())

    @classmethod
    def today(cls) -> ClockedDatetime:
        return cls.now()

    @classmethod
    def utcnow(cls) -> ClockedDatetime:
        return cls.fromisoformat(current_now().replace(tzinfo=None).isoformat())


class ClockedDate(date):
    """``date`` whose today() is the verb's bound day in Ecuador."""

    @classmethod
    def today(cls) -> ClockedDate:
        local = current_now().astimezone(LOCAL_TZ).date()
        return cls(local.year, local.month, local.day)


def install_spiff_clock() -> None:
    """Point SpiffWorkflow's timer module at the bound clock (idempotent)."""
    if spiff_timer.datetime is not ClockedDatetime:
        spiff_timer.datetime = ClockedDatetime


def local_date(instant: datetime) -> date:
    """Return the calendar day in Ecuador of an aware instant."""
    return instant.astimezone(LOCAL_TZ).date()
