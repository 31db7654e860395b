"""The organisation's catalogues: org directory, services and indicators (pages and JSON)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request

from engine import NotFound
from engine import catalogue as catalogue_data

from . import engine
from .api import authenticated, error, plain, unstorable

blueprint = Blueprint("catalogue", __name__)
api_blueprint = Blueprint("catalogue_api", __name__, url_prefix="/api")


@blueprint.route("/organizacion")
def units() -> str:
    """Show the org directory (Art. 8 of the Reglamento Orgánico Funcional)."""
    return render_template("catalogue_units.html",
                           units=catalogue_data.list_org_units(engine()))


@blueprint.route("/organizacion/<code>")
def unit(code: str) -> str:
    """Show one unit: mission, responsible position, sub-units, indicators."""
    eng = engine()
    if "\x00" in code or len(code) > 40:
        abort(404)
    try:
        found = catalogue_data.get_org_unit(eng, code)
    except NotFound:
        abort(404)
    children = [u for u in catalogue_data.list_org_units(eng) if u.parent_code == code]
    indicators = catalogue_data.list_indicators(eng, unit=code)
    return render_template("catalogue_unit.html", unit=found, children=children,
                           indicators=indicators)


@blueprint.route("/servicios")
def services() -> str:
    """Show the service catalogue with each service's charter state."""
    eng = engine()
    return render_template("catalogue_services.html",
                           units=catalogue_data.list_responsible_units(eng),
                           services=catalogue_data.list_services(eng),
                           groups=catalogue_data.list_user_groups(eng),
                           states=charter_states())


def charter_states() -> dict[str, str]:
    """Return the charter state of every service that has one (others: *sin registrar*)."""
    try:
        from engine import charter
    except ImportError:
        return {}
    return dict(charter.current_states(engine()))


@blueprint.route("/indicadores")
def indicators() -> str:
    """Search the indicator catalogue by unit name or org code."""
    query = (request.args.get("unidad") or "").replace("\x00", "").strip()[:300]
    found = catalogue_data.list_indicators(engine(), unit=query) if query else []
    return render_template("catalogue_indicators.html", query=query, indicators=found)


def _unit_json(unit: Any) -> dict[str, Any]:
    return plain(unit)


@api_blueprint.route("/org/units")
@authenticated
def api_units() -> Any:
    """List the org directory's units."""
    return jsonify([_unit_json(u) for u in catalogue_data.list_org_units(engine())])


@api_blueprint.route("/org/units/<code>")
@authenticated
def api_unit(code: str) -> Any:
    """Return one unit."""
    if unstorable(code) or len(code) > 40:
        raise NotFound("No existe esa unidad")
    return jsonify(_unit_json(catalogue_data.get_org_unit(engine(), code)))


@api_blueprint.route("/services")
@authenticated
def api_services() -> Any:
    """List the institutional services with their charter state."""
    states = charter_states()
    return jsonify([{**plain(s), "charter_state": states.get(s.code)}
                    for s in catalogue_data.list_services(engine())])


@api_blueprint.route("/responsible-units")
@authenticated
def api_responsible_units() -> Any:
    """List the seven units responsible for services."""
    return jsonify([plain(u) for u in catalogue_data.list_responsible_units(engine())])


@api_blueprint.route("/indicators")
@authenticated
def api_indicators() -> Any:
    """List indicators, optionally of one unit (name, part of a name, or org code)."""
    unit = (request.args.get("unit") or "").strip() or None
    if unit is not None and (unstorable(unit) or len(unit) > 300):
        return error("bad_request", "Unidad no válida")
    return jsonify([_indicator_json(i) for i in catalogue_data.list_indicators(engine(),
                                                                                unit=unit)])


def _indicator_json(indicator: Any) -> dict[str, Any]:
    data = plain(indicator)
    data["targets"] = [{"period": t.period, "value": None if t.value is None else float(t.value)}
                       for t in indicator.targets]
    data["surplus_values"] = [float(v) for v in indicator.surplus_values]
    return data
