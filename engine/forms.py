"""Task forms: a JSON Schema per user task form, optional layout hints, and their validation."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError

from .errors import FieldError, FormInvalid

# Names a form field may not take: the sandbox's own globals, which SpiffWorkflow refuses to shadow.
RESERVED_FIELD_NAMES = frozenset({"datetime", "date", "timedelta", "timezone", "Decimal",
                                  "add_working_days", "working_days_between",
                                  "add_years"})

_TYPE_NAMES = {"string": "texto", "integer": "un número entero", "number": "un número",
               "boolean": "sí o no", "array": "una lista", "object": "un grupo de campos",
               "null": "vacío"}


@dataclass(frozen=True)
class FormDefinition:
    """A task form: its id, JSON Schema and layout hints (``forms/<id>.json`` / ``.ui.json``)."""

    form_id: str
    schema: Mapping[str, Any]
    ui: Mapping[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """Return the form's title, or its id."""
        return str(self.schema.get("title") or self.form_id)

    def properties(self) -> Mapping[str, Any]:
        """Return the top-level field schemas by name."""
        return self.schema.get("properties", {})

    def person_fields(self) -> dict[str, str]:
        """Return field -> role for person-picker fields (``x-role``)."""
        return {name: prop["x-role"] for name, prop in self.properties().items()
                if isinstance(prop, Mapping) and "x-role" in prop}

    def sequence_fields(self) -> dict[str, str]:
        """Return field -> sequence name for fields the engine numbers (``x-sequence``)."""
        return {name: prop["x-sequence"] for name, prop in self.properties().items()
                if isinstance(prop, Mapping) and "x-sequence" in prop}

    def attachment_fields(self) -> list[str]:
        """Return the fields holding attached documents (``x-attachments``)."""
        return [name for name, prop in self.properties().items()
                if isinstance(prop, Mapping) and prop.get("x-attachments")]

    def source_fields(self) -> list[tuple[tuple[str, ...], str, str | None]]:
        """Return (path, catalogue, column) of every field bound to a catalogue (``x-source``).

        A path step ``"*"`` stands for every row of a repeatable group.
        """
        found: list[tuple[tuple[str, ...], str, str | None]] = []
        for name, prop in self.properties().items():
            if not isinstance(prop, Mapping):
                continue
            if "x-source" in prop:
                found.append(((name,), prop["x-source"], prop.get("x-source-field")))
            items = prop.get("items", {})
            if isinstance(items, Mapping) and "x-source" in items:
                found.append(((name, "*"), items["x-source"], items.get("x-source-field")))
            for sub, sub_prop in (items.get("properties", {}) if isinstance(items, Mapping)
                                  else {}).items():
                if isinstance(sub_prop, Mapping) and "x-source" in sub_prop:
                    found.append(((name, "*", sub), sub_prop["x-source"],
                                  sub_prop.get("x-source-field")))
        return found

    def read_only_fields(self) -> set[str]:
        """Return the fields the person never supplies (``readOnly``)."""
        return {name for name, prop in self.properties().items()
                if isinstance(prop, Mapping) and prop.get("readOnly")}

    def field_title(self, path: str) -> str:
        """Return the Spanish label of a top-level field, for messages."""
        top = path.split("/")[0]
        prop = self.properties().get(top, {})
        return str(prop.get("title", top)) if isinstance(prop, Mapping) else top

    def validate(self, data: Mapping[str, Any],
                 check_person: Callable[[str, str], str | None] | None = None,
                 today: date | None = None) -> dict[str, Any]:
        """Return a clean copy of ``data`` or raise FormInvalid listing every bad field.

        ``check_person(username, role)`` returns an error message when the person may not be
        chosen for that role; ``today`` (the engine's clock) bounds ``x-max-date`` fields.
        """
        if not isinstance(data, Mapping):
            raise FormInvalid([FieldError("", "Los datos del formulario deben ser un objeto")])
        cleaned = {k: v for k, v in data.items() if k not in self.read_only_fields()}
        validator = Draft202012Validator(self.schema, format_checker=_FORMATS)
        errors = [f for e in validator.iter_errors(cleaned)
                  for f in _field_errors(e, self._messages)]
        if today is not None:
            errors += _future_dates(self.properties(), cleaned, today)
        if check_person is not None:
            for name, role in self.person_fields().items():
                value = cleaned.get(name)
                if isinstance(value, str) and value:
                    problem = check_person(value, role)
                    if problem:
                        errors.append(FieldError(name, problem))
        if errors:
            unique = {(e.field, e.message): e for e in errors}
            raise FormInvalid(sorted(unique.values(), key=lambda e: e.field))
        return dict(cleaned)


    def _messages(self, path: list[str]) -> Mapping[str, Any]:
        """Return the messages the ui.json gives a field (``fields.<f>.messages``)."""
        fields = self.ui.get("fields", {}) if isinstance(self.ui, Mapping) else {}
        names = [p for p in path if not p.isdigit()]
        hints = fields.get(names[0], {}) if names else {}
        if len(names) > 1 and isinstance(hints, Mapping):
            hints = hints.get("item_fields", {}).get(names[1], {})
        messages = hints.get("messages", {}) if isinstance(hints, Mapping) else {}
        return messages if isinstance(messages, Mapping) else {}


# ``"x-max-date": "today"`` on a date field: the date of something already done.
MAX_DATE_KEYWORD = "x-max-date"
FUTURE_DATE = "No puede ser una fecha futura"


def _future_dates(properties: Mapping[str, Any], data: Mapping[str, Any],
                  today: date) -> list[FieldError]:
    """Name the dates that lie after ``today`` in fields that may not (also inside groups)."""
    found = []
    for name, prop in properties.items():
        if not isinstance(prop, Mapping):
            continue
        if prop.get(MAX_DATE_KEYWORD) == "today" and _after(data.get(name), today):
            found.append(FieldError(name, FUTURE_DATE))
        items = prop.get("items", {})
        rows = data.get(name)
        if isinstance(items, Mapping) and isinstance(rows, list):
            for index, row in enumerate(rows):
                if isinstance(row, Mapping):
                    found += [FieldError(f"{name}/{index}/{e.field}", e.message)
                              for e in _future_dates(items.get("properties", {}), row, today)]
    return found


def _after(value: object, today: date) -> bool:
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        return date.fromisoformat(value) > today
    except ValueError:
        return False


def _check_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    date.fromisoformat(value)
    return len(value) == 10


_FORMATS = FormatChecker(formats=())
_FORMATS.checks("date", raises=ValueError)(_check_date)


def _field_errors(error: ValidationError,
                  messages: Callable[[list[str]], Mapping[str, Any]]) -> list[FieldError]:
    path = [str(p) for p in error.absolute_path]
    kind, value = error.validator, error.validator_value
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    if kind == "required":
        return [FieldError("/".join([*path, name]), "Este campo es obligatorio")
                for name in value if name not in instance]
    if kind == "additionalProperties":
        known = error.schema.get("properties", {})
        return [FieldError("/".join([*path, str(name)]), "Este formulario no tiene ese campo")
                for name in instance if name not in known]
    own = messages(path).get(str(kind))
    return [FieldError("/".join(path), str(own) if own else _message(error))]


# A pattern of digits only says how many: "^[0-9]{10}$", "^\\d{10,13}$", "^([0-9]{10})?$".
_DIGITS = re.compile(r"^\^\(?(?:\[0-9\]|\\d)(?:\{(\d+)(?:,(\d*))?\}|(\+))\)?\??\$$")


def _pattern_message(pattern: str) -> str:
    """Say what a pattern expects, when it is one of digits; else that the format is wrong."""
    match = _DIGITS.match(pattern)
    if not match:
        return "El formato no es válido"
    low, high, plus = match.groups()
    if plus:
        return "Escriba solo dígitos"
    if high is None:
        return f"Debe tener {low} dígitos"
    if high == "":
        return f"Debe tener al menos {low} dígitos"
    return f"Debe tener entre {low} y {high} dígitos"


def _message(error: ValidationError) -> str:
    kind, value = error.validator, error.validator_value
    if kind == "type":
        expected = value if isinstance(value, str) else value[0]
        return f"Debe ser {_TYPE_NAMES.get(expected, expected)}"
    if kind in ("enum", "const"):
        return "Elija una de las opciones permitidas"
    if kind == "minLength":
        return "Este campo es obligatorio" if value == 1 else f"Escriba al menos {value} caracteres"
    if kind == "maxLength":
        return f"Escriba como máximo {value} caracteres"
    if kind == "minimum":
        return f"Debe ser mayor o igual a {value}"
    if kind == "maximum":
        return f"Debe ser menor o igual a {value}"
    if kind == "exclusiveMinimum":
        return f"Debe ser mayor que {value}"
    if kind == "exclusiveMaximum":
        return f"Debe ser menor que {value}"
    if kind == "minItems":
        return "Agregue al menos un elemento" if value == 1 else f"Agregue al menos {value}"
    if kind == "maxItems":
        return f"Agregue como máximo {value} elementos"
    if kind == "format" and value == "date":
        return "Fecha no válida (use dd/mm/aaaa)"
    if kind == "pattern":
        return _pattern_message(str(value))
    return "Valor no válido"


def load_form(form_id: str, schema_text: str, ui_text: str | None) -> FormDefinition:
    """Parse and check a form definition; raise ValueError with the reason when it is broken."""
    try:
        schema = json.loads(schema_text)
    except json.JSONDecodeError as error:
        raise ValueError(f"JSON mal formado (línea {error.lineno}): {error.msg}") from None
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise ValueError("El formulario debe ser un JSON Schema de tipo 'object'")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise ValueError(f"JSON Schema no válido: {error.message}") from None
    for name in schema.get("properties", {}):
        if name in RESERVED_FIELD_NAMES or name.startswith("_") or not name.isidentifier():
            raise ValueError(f"Nombre de campo no permitido: {name!r}")
    ui: dict[str, Any] = {}
    if ui_text is not None:
        try:
            ui = json.loads(ui_text)
        except json.JSONDecodeError as error:
            raise ValueError(f"ui.json mal formado (línea {error.lineno}): {error.msg}") from None
    return FormDefinition(form_id, schema, ui)
