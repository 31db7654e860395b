"""The individuals control chart used in the service-charter follow-up reports."""

from __future__ import annotations

import pytest

from engine.control_chart import individuals_chart

pytestmark = pytest.mark.unit


def test_limits_come_from_the_mean_and_the_average_moving_range():
    limits = individuals_chart([10, 12, 11, 13, 12])
    assert limits is not None
    assert limits.centre == pytest.approx(11.6)
    # moving ranges 2, 1, 2, 1 → mean 1.5 → sigma 1.5 / 1.128
    assert limits.sigma == pytest.approx(1.5 / 1.128)
    assert limits.upper == pytest.approx(11.6 + 3 * 1.5 / 1.128)
    assert limits.lower == pytest.approx(11.6 - 3 * 1.5 / 1.128)
    assert limits.is_stable()


def test_a_point_beyond_three_sigma_is_flagged():
    history = [95, 96, 95, 96, 95, 96, 95, 96, 95, 60]
    limits = individuals_chart(history)
    assert limits is not None and limits.outside == (9,)
    assert not limits.is_stable()


def test_one_point_has_no_limits_and_a_flat_history_has_zero_width():
    assert individuals_chart([5]) is None
    flat = individuals_chart([7, 7, 7])
    assert flat is not None and flat.upper == flat.lower == 7 and flat.outside == ()
