"""Statistical process control for indicator histories: the individuals (I-MR) chart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean

# d2 for moving ranges of two consecutive points: sigma = mean moving range / d2.
D2 = 1.128


@dataclass(frozen=True)
class ControlLimits:
    """Centre line and ±3σ limits of an individuals chart, and the points outside them."""

    centre: float
    sigma: float
    upper: float
    lower: float
    outside: tuple[int, ...]

    def is_stable(self) -> bool:
        """Tell whether every point lies within the limits."""
        return not self.outside


def individuals_chart(values: Sequence[float]) -> ControlLimits | None:
    """Return the limits of an individuals chart, or None with fewer than two points.

    Sigma is estimated from the average moving range (not the standard deviation), as is
    usual for individual values: it reacts to shifts, not to the spread they create.
    """
    points = [float(v) for v in values]
    if len(points) < 2:
        return None
    centre = fmean(points)
    moving_ranges = [abs(b - a) for a, b in zip(points, points[1:], strict=False)]
    sigma = fmean(moving_ranges) / D2
    upper, lower = centre + 3 * sigma, centre - 3 * sigma
    outside = tuple(i for i, v in enumerate(points) if v > upper or v < lower)
    return ControlLimits(centre, sigma, upper, lower, outside)
