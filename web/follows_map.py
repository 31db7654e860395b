"""Draw a directly-follows graph as an SVG picture, server-side, with a simple layered layout.

Layers run top to bottom: a node's layer is its distance (in arcs) from the start, the end
below everything. Arcs going down are straight; arcs going back up or staying in a layer (the
review loop) bend out to the right. Stroke width grows with an arc's frequency. No script and
no style attribute: presentation attributes only, which the CSP allows.
"""

from __future__ import annotations

from collections import deque

from markupsafe import Markup, escape

from engine.discovery import END, START, FollowsGraph

from .formats import numero

_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _MARGIN = 220, 52, 40, 74, 24
_BEND = 70


def duration_text(seconds: float | None) -> str:
    """Write a duration the way people say it (2 d 3 h, 4 h 10 min, 25 min)."""
    if seconds is None:
        return "—"
    minutes = int(round(seconds / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def _layers(graph: FollowsGraph) -> dict[str, int]:
    following: dict[str, list[str]] = {}
    for arc in graph.arcs:
        following.setdefault(arc.source, []).append(arc.target)
    layer = {START: 0}
    queue = deque([START])
    while queue:
        node = queue.popleft()
        for target in following.get(node, []):
            if target not in layer and target != END:
                layer[target] = layer[node] + 1
                queue.append(target)
    deepest = max(layer.values(), default=0)
    for node in graph.nodes:
        if node.element not in layer:
            deepest += 1
            layer[node.element] = deepest
    layer[END] = deepest + 1
    return layer


def _wrap(text: str, width: int = 30, lines: int = 2) -> list[str]:
    words, rows, row = text.split(), [], ""
    for word in words:
        if row and len(row) + 1 + len(word) > width:
            rows.append(row)
            row = word
        else:
            row = f"{row} {word}".strip()
    rows.append(row)
    if len(rows) > lines:
        rows = rows[:lines]
        rows[-1] = rows[-1][: width - 1] + "…"
    return rows


def render_svg(graph: FollowsGraph, title: str) -> Markup:
    """Return the map as an inline SVG element (accessible name ``title``)."""
    layer = _layers(graph)
    counts = {n.element: n.count for n in graph.nodes}
    rows: dict[int, list[str]] = {}
    shown = [START, *(n.element for n in graph.nodes), END]
    for element in shown:
        rows.setdefault(layer[element], []).append(element)
    widest = max(len(r) for r in rows.values())
    width = _MARGIN * 2 + widest * _BOX_W + (widest - 1) * _GAP_X + _BEND + 40
    height = _MARGIN * 2 + (max(rows) + 1) * (_BOX_H + _GAP_Y) - _GAP_Y
    place: dict[str, tuple[float, float]] = {}
    for index, row in rows.items():
        row_width = len(row) * _BOX_W + (len(row) - 1) * _GAP_X
        left = (width - _BEND - 40 - row_width) / 2
        for position, element in enumerate(row):
            place[element] = (left + position * (_BOX_W + _GAP_X),
                              _MARGIN + index * (_BOX_H + _GAP_Y))
    heaviest = max((a.count for a in graph.arcs), default=1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="follows-map" role="img" '
             f'viewBox="0 0 {width:.0f} {height:.0f}" aria-labelledby="map-title">'
             f'<title id="map-title">{escape(title)}</title>'
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="11" '
             'markerHeight="11" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
             '<path d="M0,0 L10,5 L0,10 z" fill="#475569"/></marker></defs>']
    bends = 0
    for arc in sorted(graph.arcs, key=lambda a: a.count):
        if arc.source not in place or arc.target not in place:
            continue
        sx, sy = place[arc.source]
        tx, ty = place[arc.target]
        stroke = 1.2 + 4.8 * arc.count / heaviest
        label = f"{numero(arc.count)} · {duration_text(arc.median_seconds)}" \
            if arc.median_seconds is not None else numero(arc.count)
        if layer[arc.target] > layer[arc.source]:
            x1, y1 = sx + _BOX_W / 2, sy + _BOX_H
            x2, y2 = tx + _BOX_W / 2, ty
            path = f"M{x1:.0f},{y1:.0f} L{x2:.0f},{y2:.0f}"
            lx, ly = (x1 + x2) / 2 + 6, (y1 + y2) / 2 + 4
        else:
            bends += 1
            out = max(sx, tx) + _BOX_W + 30 + 14 * (bends % 4)
            x1, y1 = sx + _BOX_W, sy + _BOX_H / 2
            x2, y2 = tx + _BOX_W, ty + _BOX_H / 2
            path = f"M{x1:.0f},{y1:.0f} C{out:.0f},{y1:.0f} {out:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
            lx, ly = out - 20, (y1 + y2) / 2
        parts.append(f'<g class="arc"><path d="{path}" fill="none" stroke="#64748b" '
                     f'stroke-width="{stroke:.1f}" marker-end="url(#arrow)"/>'
                     f'<text x="{lx:.0f}" y="{ly:.0f}" font-size="12" fill="#1f2937" stroke="#fff" '
                     f'stroke-width="4" paint-order="stroke">'
                     f'{escape(label)}</text></g>')
    for element in shown:
        if element not in place:
            continue
        x, y = place[element]
        if element in (START, END):
            name = graph.name(element)
            parts.append(f'<g class="node pseudo"><rect x="{x + _BOX_W / 2 - 45:.0f}" y="{y:.0f}" '
                         f'width="90" height="{_BOX_H}" rx="26" fill="#e2e8f0" stroke="#475569"/>'
                         f'<text x="{x + _BOX_W / 2:.0f}" y="{y + _BOX_H / 2 + 5:.0f}" '
                         f'text-anchor="middle" font-size="14" fill="#111827">{escape(name)}'
                         '</text></g>')
            continue
        lines = _wrap(graph.name(element))
        text = "".join(
            f'<tspan x="{x + _BOX_W / 2:.0f}" dy="{0 if i == 0 else 15}">{escape(line)}</tspan>'
            for i, line in enumerate(lines))
        top = y + (_BOX_H - 15 * (len(lines) + 1)) / 2 + 12
        parts.append(f'<g class="node"><rect x="{x:.0f}" y="{y:.0f}" width="{_BOX_W}" '
                     f'height="{_BOX_H}" rx="6" fill="#eff6ff" stroke="#1d4ed8"/>'
                     f'<text y="{top:.0f}" text-anchor="middle" font-size="12" fill="#111827">'
                     f'{text}<tspan x="{x + _BOX_W / 2:.0f}" dy="15" font-weight="700">'
                     f'{escape(numero(counts.get(element, 0)))}</tspan></text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
