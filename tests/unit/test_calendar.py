"""Ecuador's working-day calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from engine.calendar import WorkingCalendar

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


def test_weekends_and_national_holidays_are_not_working_days(calendar):
    assert not calendar.is_working_day(date(2026, 11, 7))   # Saturday
    assert not calendar.is_working_day(date(2026, 11, 2))   # Día de Difuntos
    assert not calendar.is_working_day(date(2026, 11, 3))   # Independencia de Cuenca
    assert not calendar.is_working_day(date(2026, 2, 16))   # Carnaval
    assert calendar.holiday_name(date(2026, 11, 2)) == "Día de Difuntos"
    assert calendar.is_working_day(date(2026, 11, 4))


def test_a_holiday_moved_by_law_is_observed_on_the_moved_day(calendar):
    # 24 May 2026 is a Sunday; the holiday is observed on Monday 25 May.
    assert not calendar.is_working_day(date(2026, 5, 25))


def test_fifteen_working_days_skip_weekends_and_holidays(calendar):
    assert calendar.add_working_days(date(2026, 10, 30), 15) == date(2026, 11, 24)
    assert calendar.add_working_days(date(2026, 3, 2), 15) == date(2026, 3, 23)
    assert calendar.add_working_days(date(2026, 3, 2), 0) == date(2026, 3, 2)


def test_a_deadline_ends_at_midnight_in_quito(calendar):
    due = calendar.deadline("2026-10-30", 15)
    assert due == datetime(2026, 11, 25, 4, 59, 59, tzinfo=UTC)
    assert calendar.deadline(datetime(2026, 10, 31, 3, 0, tzinfo=UTC), 15) == due  # still Oct 30


def test_working_days_between_counts_only_working_days(calendar):
    assert calendar.working_days_between(date(2026, 10, 30), date(2026, 11, 6)) == 3


def test_extra_institutional_holidays_can_be_added():
    calendar = WorkingCalendar({date(2026, 3, 4): "Día institucional"})
    assert calendar.add_working_days(date(2026, 3, 2), 3) == date(2026, 3, 6)
