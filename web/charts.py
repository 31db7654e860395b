"""Charts for the follow-up reports: an indicator's trend against its standard, and its
individuals control chart. Drawn with matplotlib, as SVG for pages and PNG for PDFs."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import gettext as _

from engine.control_chart import ControlLimits

from .formats import numero

INK, ACCENT, LATE, MUTED = "#1d2733", "#0b5cad", "#b3261e", "#5b6673"


@dataclass(frozen=True)
class Chart:
    """One chart in both formats."""

    svg: str
    png: bytes


def _figure():  # type: ignore[no-untyped-def]
    # A Figure of its own, never pyplot's global state: pages are drawn in several threads.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    figure = Figure(figsize=(7.2, 3.0), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: numero(round(value, 4))))
    axes.grid(axis="y", color="#e4e9ef")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return figure, axes


def _render(figure) -> Chart:  # type: ignore[no-untyped-def]
    figure.tight_layout()
    svg, png = io.StringIO(), io.BytesIO()
    figure.savefig(svg, format="svg")
    figure.savefig(png, format="png")
    text = svg.getvalue()
    # Inline in a page: drop the XML prolog and DOCTYPE, keep the <svg> element.
    return Chart(text[text.index("<svg"):], png.getvalue())


def trend_chart(periods: Sequence[str], observed: Sequence[float | None],
                standard: float | None, title: str) -> Chart:
    """Draw observed values per period and the committed standard."""
    figure, axes = _figure()
    xs = list(range(len(periods)))
    points = [(x, v) for x, v in zip(xs, observed, strict=True) if v is not None]
    if points:
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", color=ACCENT,
                  label=_("Valor observado"))
    if standard is not None:
        axes.axhline(standard, color=INK, linestyle="--", linewidth=1.2, label=_("Estándar"))
    axes.set_xticks(xs, list(periods), rotation=0 if len(periods) < 7 else 45, fontsize=8)
    axes.set_title(title, fontsize=10, loc="left")
    axes.legend(fontsize=8, frameon=False, loc="best")
    return _render(figure)


def control_chart(periods: Sequence[str], values: Sequence[float], limits: ControlLimits,
                  title: str) -> Chart:
    """Draw an individuals chart: values, centre line, ±3σ limits, points outside flagged."""
    figure, axes = _figure()
    xs = list(range(len(periods)))
    axes.plot(xs, values, marker="o", color=ACCENT, label=_("Valor"))
    axes.axhline(limits.centre, color=INK, linewidth=1.2, label=_("Línea central"))
    axes.axhline(limits.upper, color=LATE, linestyle="--", linewidth=1, label=_("LCS (+3σ)"))
    axes.axhline(limits.lower, color=LATE, linestyle="--", linewidth=1, label=_("LCI (−3σ)"))
    if limits.outside:
        axes.scatter([xs[i] for i in limits.outside], [values[i] for i in limits.outside],
                     s=90, facecolors="none", edgecolors=LATE, linewidths=2,
                     label=_("Fuera de control"), zorder=3)
    axes.set_xticks(xs, list(periods), rotation=0 if len(periods) < 7 else 45, fontsize=8)
    axes.set_title(title, fontsize=10, loc="left")
    axes.legend(fontsize=7, frameon=False, loc="best", ncols=3)
    return _render(figure)
