"""Ecuador's working-day calendar: weekends and national holidays (``holidays``, country EC)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import holidays

from .clock import LOCAL_TZ


class WorkingCalendar:
    """Answer which days are working days and count deadlines in working days."""

    def __init__(self, extra_holidays: dict[date, str] | None = None):
        # The holidays package moves Ecuador's holidays as the law says (LOSEP reform), per year.
        self._holidays = holidays.country_holidays("EC", language="es")
        self._extra = dict(extra_holidays or {})

    def holiday_name(self, day: date) -> str | None:
        """Return the name of the holiday on ``day``, if it is one."""
        return self._extra.get(day) or self._holidays.get(day)

    def is_working_day(self, day: date) -> bool:
        """Tell whether ``day`` is neither a weekend nor a holiday."""
        return day.weekday() < 5 and self.holiday_name(day) is None

    def add_working_days(self, start: date, days: int) -> date:
        """Return the ``days``-th working day after ``start`` (``start`` itself is not counted)."""
        if days < 0:
            raise ValueError("days must not be negative")
        current, counted = start, 0
        while counted < days:
            current += timedelta(days=1)
            if self.is_working_day(current):
                counted += 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Count working days after ``start`` up to and including ``end``."""
        count, current = 0, start
        while current < end:
            current += timedelta(days=1)
            if self.is_working_day(current):
                count += 1
        return count

    def deadline(self, start: date | datetime | str, days: int) -> datetime:
        """Return the end (23:59:59 in Ecuador) of the ``days``-th working day after ``start``."""
        day = _as_local_date(start)
        last = self.add_working_days(day, days)
        end_of_day = datetime.combine(last, time(23, 59, 59), tzinfo=LOCAL_TZ)
        return end_of_day.astimezone(UTC)


def _as_local_date(value: date | datetime | str) -> date:
    if isinstance(value, str):
        has_time = "T" in value or " " in value
        value = datetime.fromisoformat(value) if has_time else date.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.date()
        return value.astimezone(LOCAL_TZ).date()
    return value
