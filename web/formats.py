"""How dates, numbers and values are shown: the Ecuadorian way (dd/mm/yyyy, 1.234,5)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal
from flask import Flask
from flask_babel import gettext as _
from markupsafe import Markup, escape

from engine.clock import LOCAL_TZ

NUMBER_LOCALE = "es_EC"


def local(value: datetime) -> datetime:
    """Return an aware instant in Ecuador's time zone."""
    return value.astimezone(LOCAL_TZ)


def fecha(value: date | datetime | str | None) -> str:
    """Format a date as dd/mm/yyyy (instants are shown in Ecuador's time zone)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = local(value) if value.tzinfo else value
    return value.strftime("%d/%m/%Y")


def fecha_hora(value: datetime | None) -> str:
    """Format an instant as dd/mm/yyyy HH:MM in Ecuador's time zone."""
    if value is None:
        return ""
    return local(value).strftime("%d/%m/%Y %H:%M")


def numero(value: Any, digits: int | None = None) -> str:
    """Format a number with Ecuadorian separators (1.234,5)."""
    if value is None or value == "":
        return ""
    if digits is not None:
        return format_decimal(value, format=f"#,##0.{'0' * digits}" if digits else "#,##0",
                              locale=NUMBER_LOCALE)
    return format_decimal(value, locale=NUMBER_LOCALE)


DUE_LABELS = {
    "vencida": ("Vencida", "due-overdue"),
    "por_vencer": ("Por vencer", "due-soon"),
    "a_tiempo": ("A tiempo", "due-ok"),
    "sin_plazo": ("Sin plazo", "due-none"),
}


def due_label(state: str) -> str:
    """Return the translated label of a due state."""
    return _(DUE_LABELS.get(state, DUE_LABELS["sin_plazo"])[0])


def due_badge(state: str) -> Markup:
    """Render a due state as text and colour (never colour alone)."""
    label, css = DUE_LABELS.get(state, DUE_LABELS["sin_plazo"])
    return Markup('<span class="badge {}">{}</span>').format(css, _(label))


def value_text(value: Any) -> str:
    """Render a stored form value for reading: yes/no, dates, numbers, lists."""
    if value is True:
        return _("Sí")
    if value is False:
        return _("No")
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10000:
        return str(value)  # years and counts read better ungrouped (2026, not 2.026)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return numero(value)
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        return fecha(value)
    if isinstance(value, list):
        return "; ".join(value_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {value_text(v)}" for k, v in value.items())
    return str(value)


PERIODICITY = {"monthly": "Mensual", "quarterly": "Trimestral", "four-monthly": "Cuatrimestral",
               "half-yearly": "Semestral", "yearly": "Anual"}


def periodicity(value: str | None) -> str:
    """Return the Spanish (or translated) name of a measurement frequency."""
    return _(PERIODICITY[value]) if value in PERIODICITY else (value or "")


def typed_day(text: str | None) -> date | None:
    """Read a date people typed (dd/mm/yyyy, or yyyy-mm-dd from a date field), else None."""
    text = (text or "").strip()
    for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def init_app(app: Flask) -> None:
    """Register the filters with Jinja."""
    app.jinja_env.filters.update(fecha=fecha, fecha_hora=fecha_hora, numero=numero,
                                 due_badge=due_badge, due_label=due_label,
                                 value_text=value_text, periodicity=periodicity)
    app.jinja_env.globals.update(escape=escape)
