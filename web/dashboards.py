"""Process managers' dashboards ("Indicadores de gestión"): pages, tables, CSV/XLSX/PDF downloads.

Thin: the figures come from the engine's facade (``engine/indicators.py`` and friends); this
module only turns them into tables, charts and files, in Spanish formats.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from flask import Blueprint, abort, g, make_response, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from engine import NotFound, PermissionDenied
from engine.clock import LOCAL_TZ

from . import charts as drawing
from . import engine
from .auth import person
from .formats import fecha, numero
from .pdf import PdfDocument, pdf_response

blueprint = Blueprint("dashboards", __name__)

DAY = 86400.0
SOCIAL = "social_case"
CHARTER = ("sla_planning", "sla_report", "sla_followup")


@dataclass
class Table:
    """A table of a dashboard: shown on the page, downloadable as CSV and XLSX."""

    key: str
    title: str
    headings: list[str]
    rows: list[list[Any]]
    # (row, column) -> the URL of the cases behind that number.
    links: dict[tuple[int, int], str] = field(default_factory=dict)

    def text(self, value: Any) -> str:
        """Return a cell as people read it (dd/mm/yyyy, 1.234,5)."""
        return cell_text(value)


def cell_text(value: Any) -> str:
    """Format one value the Ecuadorian way."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("Sí") if value else _("No")
    if isinstance(value, float):
        return numero(value, 1)
    if isinstance(value, int):
        return numero(value, 0) if abs(value) >= 10000 else str(value)
    if isinstance(value, datetime | date):
        return fecha(value)
    return str(value)


# Drawing a chart (matplotlib, SVG and PNG) cost more than all the page's SQL, so each is
# drawn once per set of data: the key is the data itself (labels, values, limits, title) and
# the language its legend is written in, so a changed figure is a new key, never a stale one.
CHARTS_KEPT = 256


@lru_cache(maxsize=CHARTS_KEPT)
def _drawn_trend(language: str, periods: tuple[str, ...], observed: tuple[float | None, ...],
                 standard: float | None, title: str) -> drawing.Chart:
    return drawing.trend_chart(periods, observed, standard, title)


@lru_cache(maxsize=CHARTS_KEPT)
def _drawn_control(language: str, periods: tuple[str, ...], values: tuple[float, ...],
                   limits: Any, title: str) -> drawing.Chart:
    return drawing.control_chart(periods, values, limits, title)


def trend_chart(periods: Sequence[str], observed: Sequence[float | None],
                standard: float | None, title: str) -> drawing.Chart:
    """Return the trend chart of these values, drawn once per data and language."""
    return _drawn_trend(str(get_locale()), tuple(periods), tuple(observed), standard, title)


def control_chart(periods: Sequence[str], values: Sequence[float], limits: Any,
                  title: str) -> drawing.Chart:
    """Return the individuals chart of these values, drawn once per data and language."""
    return _drawn_control(str(get_locale()), tuple(periods), tuple(values), limits, title)


@blueprint.app_context_processor
def _dashboard_context() -> dict[str, bool]:
    reader = g.get("person")
    return {"dashboard_nav": bool(reader is not None and engine().managed_processes(reader))}


def _refuse(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except PermissionDenied:
        abort(403)
    except NotFound:
        abort(404)


@blueprint.route("/gestion")
def index() -> str:
    """List the dashboards this person may open."""
    managed = engine().managed_processes(person())
    if not managed:
        abort(403)
    return render_template("dashboards/index.html", social=SOCIAL in managed,
                           charter=bool(set(CHARTER) & set(managed)))


# -- the social case ------------------------------------------------------------------------


def _period_choices(today: date) -> list[tuple[str, list[tuple[str, str]]]]:
    groups = []
    for year in range(today.year, today.year - 3, -1):
        options = [(str(year), _("Año %(year)s", year=year))]
        options += [(f"{year}-T{n}", _("Trimestre %(n)s de %(year)s", n=n, year=year))
                    for n in range(1, 5)]
        options += [(f"{year}-{m:02d}", f"{m:02d}/{year}") for m in range(1, 13)]
        groups.append((str(year), options))
    return groups


def _social_args() -> dict[str, str | None]:
    return {"periodo": request.args.get("periodo") or None,
            "unidad": (request.args.get("unidad") or "").strip()[:300] or None}


def _indicator_table(key: str, title: str, rows: Sequence[Any], unit: str | None) -> Table:
    table = Table(key, title, [_("Periodo"), _("Solicitudes recibidas"), _("Atendidas"),
                               _("de ellas, derivadas"), _("Indicador (%)"), _("Meta (%)"),
                               _("¿Cumple la meta?")], [])
    for i, row in enumerate(rows):
        table.rows.append([row.period.label, row.received, row.attended, row.referred,
                           row.percent, 80.0, row.meets_target])
        for column, figure in ((1, "recibidas"), (2, "atendidas")):
            table.links[(i, column)] = url_for("dashboards.social_cases", periodo=row.period.key,
                                               cifra=figure, unidad=unit)
    return table


def social_tables(board: Any) -> list[Table]:
    """Return every table of the social case's dashboard."""
    key, unit = board.period.key, board.unit
    tables = [
        _indicator_table("indicador-trimestral", _("Indicador por trimestre"), board.quarters,
                         unit),
        _indicator_table("indicador-mensual", _("Indicador por mes"), board.months, unit),
    ]
    deadline = Table("plazo-diagnostico", _("Diagnóstico en 15 días laborables"),
                     [_("A tiempo"), _("Fuera de plazo"), _("Aún en plazo"),
                      _("Cumplimiento (%)")],
                     [[board.deadline.on_time, board.deadline.late, board.deadline.pending,
                       board.deadline.percent]])
    deadline.links = {(0, 0): url_for("dashboards.social_cases", periodo=key, cifra="a_tiempo",
                                      unidad=unit),
                      (0, 1): url_for("dashboards.social_cases", periodo=key,
                                      cifra="fuera_de_plazo", unidad=unit)}
    names = _activity_names()
    times = Table("tiempos", _("Tiempo por actividad y por caso (días)"),
                  [_("Actividad"), _("Veces"), _("Mediana (días)"), _("Percentil 90 (días)")],
                  [[names.get(t.key, t.key), t.count, t.median_seconds / DAY, t.p90_seconds / DAY]
                   for t in board.activities])
    if board.cases:
        times.rows.append([_("Caso completo (de la solicitud al cierre)"), board.cases.count,
                           board.cases.median_seconds / DAY, board.cases.p90_seconds / DAY])
    open_ = Table("casos-abiertos", _("Casos abiertos hoy"),
                  [_("Abiertos"), _("Diagnóstico por vencer"), _("Diagnóstico vencido")],
                  [[board.open.open, board.open.due_soon, board.open.overdue]])
    open_.links = {(0, i): url_for("dashboards.social_cases", periodo=key, cifra=figure)
                   for i, figure in enumerate(("abiertos", "por_vencer", "vencidos"))}
    roles = _role_names()
    load = Table("carga", _("Carga de trabajo por rol y persona"),
                 [_("Rol"), _("Persona"), _("Tareas abiertas"), _("Completadas en el periodo")],
                 [[roles.get(w.role, w.role), w.person or _("(sin tomar)"), w.open_tasks,
                   w.completed] for w in board.workload])
    outcomes = Table("resultados", _("Resultados de las solicitudes del periodo"),
                     [_("Derivadas (no procede)"), _("Cerradas con apoyo"),
                      _("Cerradas sin apoyo"), _("Abiertas")],
                     [[board.outcomes.referred, board.outcomes.with_support,
                       board.outcomes.without_support, board.outcomes.open]])
    return [*tables, deadline, times, open_, load, outcomes]


def _activity_names() -> dict[str, str]:
    definition = engine().library.find(SOCIAL)
    if definition is None:
        return {}
    return {a.bpmn_id: a.name for a in definition.activities.values()}


def _role_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for definition in engine().library.list():
        for row in definition.responsibility.lanes.values():
            names[row.role] = row.role_name
    return names


def _social_charts(board: Any) -> list[tuple[str, str, str]]:
    """(title, svg, key of the table that says the same) for the page."""
    quarters = [r for r in board.quarters]
    charts = [(_("Indicador por trimestre frente a la meta del 80 %"),
               trend_chart([r.period.label for r in quarters], [r.percent for r in quarters],
                           80.0, _("Atención de Casos Sociales (%)")).svg,
               "indicador-trimestral")]
    months = [r for r in board.months if r.percent is not None]
    charts.append((_("Indicador por mes frente a la meta"),
                   trend_chart([r.period.label[:2] for r in board.months],
                               [r.percent for r in board.months], 80.0,
                               _("Atención de Casos Sociales por mes (%)")).svg,
                   "indicador-mensual"))
    from engine.control_chart import individuals_chart

    limits = individuals_chart([r.percent for r in months])
    if limits is not None:
        charts.append((_("Gráfico de control (valores individuales) del indicador mensual"),
                       control_chart([r.period.label[:2] for r in months],
                                     [float(r.percent) for r in months], limits,
                                     _("Gráfico de control: indicador mensual (%)")).svg,
                       "indicador-mensual"))
    return charts


@blueprint.route("/gestion/casos-sociales")
def social() -> str:
    """The social case's indicator and figures for a period."""
    args = _social_args()
    board = _refuse(lambda: engine().social_dashboard(person(), period=args["periodo"],
                                                      unit=args["unidad"]))
    today = engine().clock().astimezone(LOCAL_TZ).date()

    def files(key: str, fmt: str) -> str:
        return url_for("dashboards.social_table_file", key=key, fmt=fmt,
                       periodo=board.period.key, unidad=board.unit)

    return render_template("dashboards/social.html", board=board, tables=social_tables(board),
                           charts=_social_charts(board), choices=_period_choices(today),
                           args=args, social_file=files)


FIGURE_TITLES = {
    "recibidas": "Solicitudes recibidas", "atendidas": "Solicitudes atendidas",
    "no_atendidas": "Solicitudes no atendidas", "a_tiempo": "Diagnóstico a tiempo",
    "fuera_de_plazo": "Diagnóstico fuera de plazo", "abiertos": "Casos abiertos",
    "por_vencer": "Diagnóstico por vencer", "vencidos": "Diagnóstico vencido",
}


def _cases_table(lines: Sequence[Any], figure: str, period_label: str) -> Table:
    title = f"{_(FIGURE_TITLES.get(figure, figure))} · {period_label}"
    table = Table("casos", title, [_("Caso"), _("Recibido"), _("Estado"), _("Resultado"),
                                   _("Atendido"), _("Plazo del diagnóstico")], [])
    for i, line in enumerate(lines):
        table.rows.append([line.number, line.started_at, _("Abierto") if line.status == "open"
                           else _("Cerrado"), line.outcome or "", line.attended_at, line.due_at])
        table.links[(i, 0)] = url_for("cases.case", number=line.number)
    return table


def _query_args() -> dict[str, Any]:
    # Typed as Any so that url_for's own keyword flags (_external…) do not clash with them.
    return dict(request.args.to_dict())


def _social_cases_table() -> tuple[Table, Any]:
    args = _social_args()
    figure = request.args.get("cifra", "recibidas")
    period, lines = _refuse(lambda: engine().social_cases_behind(
        person(), period=args["periodo"], figure=figure, unit=args["unidad"]))
    return _cases_table(lines, figure, period.label), period


@blueprint.route("/gestion/casos-sociales/casos")
def social_cases() -> str:
    """The cases behind one number of the social case's dashboard."""
    table, period = _social_cases_table()
    return render_template("dashboards/cases.html", table=table, period=period,
                           back=url_for("dashboards.social", periodo=period.key,
                                        unidad=_social_args()["unidad"]),
                           download=url_for("dashboards.social_cases_file", fmt="csv",
                                            **_query_args()),
                           download_xlsx=url_for("dashboards.social_cases_file", fmt="xlsx",
                                                 **_query_args()))


@blueprint.route("/gestion/casos-sociales/casos.<fmt>")
def social_cases_file(fmt: str) -> Response:
    """Download the cases behind a number."""
    table, period = _social_cases_table()
    return table_file(table, fmt, f"casos-sociales-{period.key}")


@blueprint.route("/gestion/casos-sociales/<key>.<fmt>")
def social_table_file(key: str, fmt: str) -> Response:
    """Download one table of the social case's dashboard as CSV or XLSX."""
    args = _social_args()
    board = _refuse(lambda: engine().social_dashboard(person(), period=args["periodo"],
                                                      unit=args["unidad"]))
    table = next((t for t in social_tables(board) if t.key == key), None)
    if table is None:
        abort(404)
    return table_file(table, fmt, f"casos-sociales-{board.period.key}")


@blueprint.route("/gestion/casos-sociales.pdf")
def social_pdf() -> Response:
    """The social case's dashboard as a printable PDF."""
    args = _social_args()
    board = _refuse(lambda: engine().social_dashboard(person(), period=args["periodo"],
                                                      unit=args["unidad"]))
    document = PdfDocument(_("Indicadores de gestión: Atención de Casos Sociales"),
                           "PRO-GTH-GTS-002", "Cauce")
    lines = [_("Periodo: %(period)s", period=board.period.label)]
    if board.unit:
        lines.append(_("Unidad: %(unit)s", unit=board.unit))
    document.title_block(lines)
    document.paragraph(board.definition)
    quarters = board.quarters
    chart = trend_chart([r.period.label for r in quarters], [r.percent for r in quarters], 80.0,
                        _("Atención de Casos Sociales (%)"))
    document.image_block(chart.png, width=160)
    tables_pdf(document, social_tables(board))
    return pdf_response(bytes(document.output()), f"casos-sociales-{board.period.key}.pdf")


# -- the service charter ----------------------------------------------------------------------

COMPLIANCE_LABELS = {"cumple": "Cumple", "cumplimiento_parcial": "Cumplimiento parcial",
                     "no_cumple": "No cumple", "sin_dato": "Sin dato"}
SEVERITY_LABELS = {"leve": "Leve", "moderada": "Moderada", "critica": "Crítica",
                   "ninguna": "Ninguna"}
ACTION_LABELS = {"pendiente": "Pendiente", "en_ejecucion": "En ejecución",
                 "cumplida": "Cumplida", "cancelada": "Cancelada"}


def charter_tables(board: Any) -> list[Table]:
    """Return every table of the charter's dashboard."""
    commitments = Table(
        "compromisos", _("Compromisos y su última clasificación"),
        [_("Servicio"), _("Compromiso"), _("Indicador"), _("Estándar"), _("Periodo"),
         _("Valor observado"), _("Clasificación"), _("Desviación"),
         _("Periodos fuera de control")], [])
    for i, c in enumerate(board.commitments):
        latest = c.latest
        commitments.rows.append([
            c.service_name, c.commitment_id, c.indicator_name, c.standard,
            latest.period if latest else None, latest.observed if latest else None,
            _(COMPLIANCE_LABELS.get(latest.compliance, latest.compliance)) if latest else
            _("Sin medición"),
            _(SEVERITY_LABELS.get(latest.deviation, latest.deviation)) if latest else None,
            ", ".join(f"P{p}" for p in c.out_of_control) or _("Ninguno")])
        commitments.links[(i, 0)] = url_for("cases.case", number=c.case_number)
    severity = Table("desviaciones", _("Desviaciones del último periodo, por gravedad"),
                     [_("Leve"), _("Moderada"), _("Crítica")],
                     [[board.severities.get("leve", 0), board.severities.get("moderada", 0),
                       board.severities.get("critica", 0)]])
    states = Table("estados", _("Servicios del catálogo por estado en la Carta"),
                   [_("Estado"), _("Servicios")], [[state, n] for state, n in board.states])
    actions = Table("acciones", _("Acciones de mejora"),
                    [_("Servicio"), _("Acción"), _("Compromiso"), _("Descripción"),
                     _("Responsable"), _("Plazo"), _("Estado"), _("¿Vencida?")],
                    [[a.service_code, a.action_id, a.commitment_id, a.description,
                      a.responsible, _date(a.deadline), _(ACTION_LABELS.get(a.status, a.status)),
                      a.overdue] for a in board.actions])
    summary = Table("acciones-resumen", _("Acciones de mejora abiertas y vencidas"),
                    [_("Abiertas"), _("Vencidas")], [[board.open_actions, board.overdue_actions]])
    return [commitments, severity, states, summary, actions]


def _date(text: str) -> date | str:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return text


def _charter_charts(board: Any) -> list[tuple[str, str, str, str]]:
    """(title, trend svg, control svg or '', out-of-control note) per measured commitment."""
    charts = []
    for c in board.commitments:
        measured = [m for m in c.measures if m.observed is not None]
        if not measured:
            continue
        name = f"{c.commitment_id} · {c.indicator_name or c.service_name}"[:90].replace("$", r"\$")
        labels = [f"P{m.period}" for m in c.measures]
        trend = trend_chart(labels, [m.observed for m in c.measures], c.standard,
                            _("Tendencia: %(name)s", name=name)).svg
        control = ""
        if c.limits is not None:
            control = control_chart([f"P{m.period}" for m in measured],
                                    [float(m.observed or 0) for m in measured], c.limits,
                                    _("Gráfico de control: %(name)s", name=name)).svg
        note = (_("Fuera de control: %(periods)s",
                  periods=", ".join(f"P{p}" for p in c.out_of_control))
                if c.out_of_control else _("Todos los puntos dentro de los límites de control"))
        charts.append((f"{c.service_name} · {c.commitment_id}", trend, control, note))
    return charts


def _charter_board() -> Any:
    unit = (request.args.get("unidad") or "").strip()[:300] or None
    return _refuse(lambda: engine().charter_dashboard(person(), unit=unit))


@blueprint.route("/gestion/carta-de-servicios")
def charter() -> str:
    """The service charter's commitments, deviations, states, control charts and actions."""
    board = _charter_board()

    def files(key: str, fmt: str) -> str:
        return url_for("dashboards.charter_table_file", key=key, fmt=fmt, unidad=board.unit)

    return render_template("dashboards/charter.html", board=board, tables=charter_tables(board),
                           charts=_charter_charts(board), charter_file=files)


@blueprint.route("/gestion/carta-de-servicios/<key>.<fmt>")
def charter_table_file(key: str, fmt: str) -> Response:
    """Download one table of the charter's dashboard as CSV or XLSX."""
    board = _charter_board()
    table = next((t for t in charter_tables(board) if t.key == key), None)
    if table is None:
        abort(404)
    return table_file(table, fmt, "carta-de-servicios")


@blueprint.route("/gestion/carta-de-servicios.pdf")
def charter_pdf() -> Response:
    """The charter's dashboard as a printable PDF."""
    board = _charter_board()
    document = PdfDocument(_("Indicadores de gestión: Carta Institucional de Servicios"),
                           "DMCISP-01-05", "Cauce")
    document.title_block([_("Unidad: %(unit)s", unit=board.unit)] if board.unit else [])
    tables_pdf(document, charter_tables(board))
    return pdf_response(bytes(document.output()), "carta-de-servicios.pdf")


# -- heatmap ----------------------------------------------------------------------------------


@blueprint.route("/gestion/mapa/<process>")
def heatmap(process: str) -> str:
    """A procedure's diagram with, per element, the cases that passed and their median time."""
    period, cells = _refuse(lambda: engine().process_heatmap(
        person(), process, period=request.args.get("periodo")))
    names = _element_names(process)
    table = Table("mapa", _("Casos y tiempo por elemento · %(period)s", period=period.label),
                  [_("Elemento"), _("Casos"), _("Veces"), _("Mediana (días)"),
                   _("Percentil 90 (días)")], [])
    for i, cell in enumerate(cells):
        table.rows.append([names.get(cell.element_id, cell.element_id), cell.cases, cell.times,
                           None if cell.median_seconds is None else cell.median_seconds / DAY,
                           None if cell.p90_seconds is None else cell.p90_seconds / DAY])
        table.links[(i, 1)] = url_for("dashboards.heatmap_cases", process=process,
                                      element=cell.element_id, periodo=period.key)
    heat = [{"id": c.element_id, "cases": c.cases,
             "median": "" if c.median_seconds is None else cell_text(c.median_seconds / DAY),
             "url": url_for("dashboards.heatmap_cases", process=process, element=c.element_id,
                            periodo=period.key)} for c in cells]
    today = engine().clock().astimezone(LOCAL_TZ).date()
    definition = engine().library.get(process)

    def files(key: str, fmt: str) -> str:
        return url_for("dashboards.heatmap_file", process=process, fmt=fmt, periodo=period.key)

    return render_template("dashboards/heatmap.html", process=process, name=definition.name,
                           period=period, table=table, heat=heat,
                           choices=_period_choices(today), files=files)


@blueprint.route("/gestion/mapa/<process>/mapa.<fmt>")
def heatmap_file(process: str, fmt: str) -> Response:
    """Download the heatmap's table."""
    period, cells = _refuse(lambda: engine().process_heatmap(
        person(), process, period=request.args.get("periodo")))
    names = _element_names(process)
    table = Table("mapa", "", [_("Elemento"), _("Casos"), _("Veces"), _("Mediana (días)"),
                               _("Percentil 90 (días)")],
                  [[names.get(c.element_id, c.element_id), c.cases, c.times,
                    None if c.median_seconds is None else c.median_seconds / DAY,
                    None if c.p90_seconds is None else c.p90_seconds / DAY] for c in cells])
    return table_file(table, fmt, f"{process}-{period.key}")


@blueprint.route("/gestion/mapa/<process>/diagrama.bpmn")
def heatmap_diagram(process: str) -> Response:
    """Return the BPMN of the procedure's current version, for the heatmap's viewer."""
    _refuse(lambda: engine().process_heatmap(person(), process, period=None))
    definition = engine().library.get(process)
    main = next(text for name, text in definition.bundle.items() if name.endswith(".bpmn")
                and f'id="{process}"' in text)
    response = make_response(main)
    response.headers["Content-Type"] = "application/xml; charset=utf-8"
    return response


@blueprint.route("/gestion/mapa/<process>/elemento/<element>")
def heatmap_cases(process: str, element: str) -> str:
    """The period's cases that passed one element of the diagram."""
    period, lines = _refuse(lambda: engine().heatmap_cases(
        person(), process, element, period=request.args.get("periodo")))
    names = _element_names(process)
    table = _cases_table(lines, "", period.label)
    table.title = f"{names.get(element, element)} · {period.label}"
    table.headings[4] = _("Cerrado")
    return render_template("dashboards/cases.html", table=table, period=period,
                           back=url_for("dashboards.heatmap", process=process,
                                        periodo=period.key),
                           download=url_for("dashboards.heatmap_cases_file", process=process,
                                            element=element, fmt="csv", periodo=period.key),
                           download_xlsx=url_for("dashboards.heatmap_cases_file",
                                                 process=process, element=element, fmt="xlsx",
                                                 periodo=period.key))


@blueprint.route("/gestion/mapa/<process>/elemento/<element>.<fmt>")
def heatmap_cases_file(process: str, element: str, fmt: str) -> Response:
    """Download the cases that passed one element."""
    period, lines = _refuse(lambda: engine().heatmap_cases(
        person(), process, element, period=request.args.get("periodo")))
    return table_file(_cases_table(lines, "", period.label), fmt,
                      f"{process}-{element}-{period.key}")


def _element_names(process: str) -> dict[str, str]:
    definition = engine().library.find(process)
    if definition is None:
        abort(404)
    names = {a.bpmn_id: a.name for a in definition.activities.values()}
    names.update(definition.end_events)
    # Start events are not among the definition's activities: read their names off the BPMN.
    for text in (t for n, t in definition.bundle.items() if n.endswith(".bpmn")):
        for element, name in re.findall(r'<(?:bpmn:)?startEvent id="([^"]+)" name="([^"]+)"',
                                        text):
            names.setdefault(element, html.unescape(name))
    return names


# -- home-page alerts -------------------------------------------------------------------------


def alerts_for_home() -> list[Any]:
    """Return the signed-in manager's alerts (an empty list for everyone else)."""
    reader = g.get("person")
    if reader is None:
        return []
    return engine().manager_alerts(reader)


@blueprint.app_context_processor
def _alerts_context() -> dict[str, Any]:
    return {"manager_alerts": alerts_for_home}


# -- files ----------------------------------------------------------------------------------


def tables_pdf(document: PdfDocument, tables: Sequence[Table]) -> None:
    """Write each table as a section of the PDF."""
    for table in tables:
        document.section(table.title)
        if table.rows:
            document.grid(table.headings, [[cell_text(v) for v in row] for row in table.rows])
        else:
            document.paragraph(_("Sin datos en el periodo."))


def table_file(table: Table, fmt: str, stem: str) -> Response:
    """Answer with a table as CSV (semicolons, Spanish numbers, UTF-8 with BOM) or XLSX."""
    filename = f"{stem}-{table.key}.{fmt}"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
        writer.writerow(table.headings)
        for row in table.rows:
            writer.writerow(["" if v is None else cell_text(v) for v in row])
        response = make_response("\ufeff" + buffer.getvalue())
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
    elif fmt == "xlsx":
        response = make_response(_xlsx(table))
        response.headers["Content-Type"] = (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    else:
        abort(404)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _xlsx(table: Table) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = table.key[:31]
    sheet.append([table.title])
    sheet["A1"].font = Font(bold=True)
    sheet.append(table.headings)
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for row in table.rows:
        sheet.append([_xlsx_value(v) for v in row])
        for cell, value in zip(sheet[sheet.max_row], row, strict=False):
            if isinstance(value, datetime | date):
                cell.number_format = "DD/MM/YYYY"
            elif isinstance(value, float):
                cell.number_format = "#,##0.0"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # Spreadsheets have no time zones: the local day, as people read it.
        return value.astimezone(LOCAL_TZ).replace(tzinfo=None)
    if isinstance(value, bool):
        return _("Sí") if value else _("No")
    return value
