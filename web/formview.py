"""Task forms in HTML: fields built from a JSON Schema and its layout hints, and submitted
HTML form data turned back into the JSON the engine validates.

Parsing never throws a person's input away: what cannot be converted (``12a`` for a number,
``31/02/2026`` for a date) is passed on as typed, so the engine's validation names the field
and the page shows the text again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext
from werkzeug.datastructures import MultiDict

DATE_INPUT = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*$")
ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@dataclass
class FieldView:
    """One field as the template draws it."""

    name: str
    key: str
    path: str
    kind: str
    title: str
    description: str | None = None
    required: bool = False
    value: Any = None
    errors: list[str] = field(default_factory=list)
    choices: list[tuple[str, str]] = field(default_factory=list)
    show_if: dict[str, Any] | None = None
    read_only: bool = False
    max_length: int | None = None
    rows: list[list[FieldView]] = field(default_factory=list)
    template: list[FieldView] = field(default_factory=list)
    documents: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class FormLabels:
    """Titles, descriptions and choice labels of a form in the interface's language."""

    schema: Mapping[str, Any]
    ui: Mapping[str, Any]
    language: str

    def _english(self, key: str, item: str | None = None) -> Mapping[str, Any]:
        if self.language != "en":
            return {}
        fields = self.ui.get("en", {}).get("fields", {})
        entry = fields.get(key, {})
        if item is not None:
            entry = entry.get("item_fields", {}).get(item, {})
        return entry if isinstance(entry, Mapping) else {}

    def _hints(self, key: str, item: str | None = None) -> Mapping[str, Any]:
        hints = self.ui.get("fields", {}).get(key, {})
        if item is not None:
            hints = hints.get("item_fields", {}).get(item, {})
        return hints if isinstance(hints, Mapping) else {}

    def title(self) -> str:
        """Return the form's title."""
        if self.language == "en" and self.ui.get("en", {}).get("title"):
            return str(self.ui["en"]["title"])
        return str(self.schema.get("title", ""))

    def description(self) -> str:
        """Return the form's description."""
        if self.language == "en" and self.ui.get("en", {}).get("description"):
            return str(self.ui["en"]["description"])
        return str(self.schema.get("description", ""))

    def field_title(self, key: str, prop: Mapping[str, Any], item: str | None = None) -> str:
        """Return a field's label."""
        return str(self._english(key, item).get("title") or prop.get("title") or key)

    def field_description(self, key: str, prop: Mapping[str, Any],
                          item: str | None = None) -> str | None:
        """Return a field's help text."""
        return self._english(key, item).get("description") or prop.get("description")

    def hints(self, key: str, item: str | None = None) -> Mapping[str, Any]:
        """Return a field's layout hints (widget, show_if…)."""
        return self._hints(key, item)

    def choices(self, key: str, values: list[Any],
                item: str | None = None) -> list[tuple[str, str]]:
        """Return (value, label) pairs of a choice field."""
        labels = dict(self._hints(key, item).get("choices", {}))
        labels.update(self._english(key, item).get("choices", {}))
        return [(_as_text(v), str(labels.get(_as_text(v), v))) for v in values]


def _as_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def kind_of(prop: Mapping[str, Any], hints: Mapping[str, Any]) -> str:
    """Decide how to draw a field from its schema and hints."""
    widget = hints.get("widget")
    kind = prop.get("type")
    if prop.get("readOnly"):
        return "readonly"
    if kind == "array":
        items = prop.get("items", {})
        if prop.get("x-attachments"):
            return "files"
        if items.get("type") == "object":
            return "group"
        if "enum" in items:
            return "checkboxes"
        return "list"
    if kind == "boolean":
        return "boolean"
    if kind in ("integer", "number"):
        return "number"
    if "x-role" in prop:
        return "person"
    if prop.get("format") == "date":
        return "date"
    if "enum" in prop:
        return "radio" if widget == "radio" else "select"
    if widget == "textarea" or prop.get("maxLength", 0) > 300:
        return "textarea"
    return "text"


def _required(schema: Mapping[str, Any], data: Mapping[str, Any]) -> set[str]:
    """Required fields, including the ones a matching ``allOf``/``if``/``then`` adds."""
    names = set(schema.get("required", []))
    for rule in schema.get("allOf", []):
        condition = rule.get("if", {}).get("properties", {})
        if condition and all(_matches(data.get(k), c) for k, c in condition.items()):
            names.update(rule.get("then", {}).get("required", []))
    return names


def _matches(value: Any, condition: Mapping[str, Any]) -> bool:
    if "const" in condition:
        return bool(value == condition["const"])
    if "enum" in condition:
        return value in condition["enum"]
    return True


def build_fields(schema: Mapping[str, Any], labels: FormLabels, data: Mapping[str, Any],
                 errors: Mapping[str, list[str]],
                 people: Callable[[str], list[tuple[str, str]]],
                 document_names: Mapping[str, str]) -> list[FieldView]:
    """Return the fields of a form, filled with ``data`` and the errors by field path."""
    properties = schema.get("properties", {})
    order = list(labels.ui.get("order") or properties)
    required = _required(schema, data)
    fields = []
    for key in order:
        prop = properties.get(key)
        if prop is None:
            continue
        fields.append(_field(key, key, key, prop, labels, data.get(key), errors,
                             key in required, people, document_names))
    return fields


def _field(name: str, key: str, path: str, prop: Mapping[str, Any], labels: FormLabels,
           value: Any, errors: Mapping[str, list[str]], required: bool,
           people: Callable[[str], list[tuple[str, str]]], document_names: Mapping[str, str],
           item: str | None = None) -> FieldView:
    top = key  # the form-level field; ``item`` names the sub-field of a repeatable group
    hints = labels.hints(top, item)
    kind = kind_of(prop, hints)
    view = FieldView(
        name=name, key=item or key, path=path, kind=kind,
        title=labels.field_title(top, prop, item),
        description=labels.field_description(top, prop, item), required=required,
        errors=list(errors.get(path, [])), show_if=hints.get("show_if"),
        read_only=kind == "readonly", max_length=prop.get("maxLength"),
    )
    if kind in ("radio", "select"):
        view.choices = labels.choices(top, list(prop.get("enum", [])), item)
        view.value = _as_text(value)
    elif kind == "boolean":
        view.choices = labels.choices(top, [True, False], item) if hints.get("choices") else [
            ("true", gettext("Sí")), ("false", gettext("No"))]
        view.value = _as_text(value)
    elif kind == "checkboxes":
        view.choices = labels.choices(top, list(prop.get("items", {}).get("enum", [])), item)
        view.value = [_as_text(v) for v in value or []]
    elif kind == "person":
        view.choices = people(str(prop["x-role"]))
        view.value = _as_text(value)
    elif kind == "date":
        view.value = _date_for_input(value)
    elif kind == "number":
        view.value = "" if value is None else _number_for_input(value)
    elif kind == "list":
        view.value = "\n".join(str(v) for v in value or [])
    elif kind == "files":
        view.documents = [(sha, document_names.get(sha, sha[:12])) for sha in value or []]
    elif kind == "group":
        item_schema = prop.get("items", {})
        item_required = set(item_schema.get("required", []))
        rows = value if isinstance(value, list) else []
        for index, row in enumerate(rows):
            row = row if isinstance(row, Mapping) else {}
            view.rows.append([
                _field(f"{key}-{index}-{sub}", key, f"{key}/{index}/{sub}", sub_prop, labels,
                       row.get(sub), errors, sub in item_required, people, document_names,
                       item=sub)
                for sub, sub_prop in item_schema.get("properties", {}).items()])
        view.template = [
            _field(f"{key}-__index__-{sub}", key, f"{key}/__index__/{sub}", sub_prop, labels,
                   None, {}, sub in item_required, people, document_names, item=sub)
            for sub, sub_prop in item_schema.get("properties", {}).items()]
    else:
        view.value = _as_text(value)
    return view


def _date_for_input(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    match = ISO_DATE.match(value)
    return f"{match[3]}/{match[2]}/{match[1]}" if match else value


def _number_for_input(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return str(value)
    text = format(value, "f") if isinstance(value, Decimal) else repr(value)
    return text.replace(".", ",") if "." in text else text


# -- parsing a submission ------------------------------------------------------------------------


def parse_submission(schema: Mapping[str, Any], ui: Mapping[str, Any], form: MultiDict[str, str],
                     uploads: Callable[[str], list[str]]) -> dict[str, Any]:
    """Turn posted HTML form fields into form data; ``uploads(field)`` stores new files."""
    properties = schema.get("properties", {})
    data: dict[str, Any] = {}
    hints_of = ui.get("fields", {})
    for key, prop in properties.items():
        kind = kind_of(prop, hints_of.get(key, {}))
        if kind == "readonly":
            continue
        if kind == "group":
            rows = _parse_group(key, prop.get("items", {}), form)
            if rows:
                data[key] = rows
            continue
        if kind == "files":
            kept = [sha for sha in form.getlist(key) if sha]
            value = kept + [sha for sha in uploads(key) if sha not in kept]
            if value:
                data[key] = value
            continue
        parsed = _parse_value(kind, prop, form.getlist(key) if kind == "checkboxes"
                              else form.get(key, ""))
        if parsed is not _MISSING:
            data[key] = parsed
    # A field hidden because its condition does not hold carries nothing.
    for key, hints in hints_of.items():
        condition = hints.get("show_if") if isinstance(hints, Mapping) else None
        if condition and not all(data.get(k) == v for k, v in condition.items()):
            data.pop(key, None)
    return data


_MISSING = object()


def _parse_value(kind: str, prop: Mapping[str, Any], raw: Any) -> Any:
    if kind == "checkboxes":
        return [v for v in raw if v] or _MISSING
    text = str(raw).strip() if raw is not None else ""
    if kind == "list":
        items = [line.strip() for line in str(raw).splitlines() if line.strip()]
        return items or _MISSING
    if text == "":
        return _MISSING
    if kind == "boolean":
        return {"true": True, "false": False}.get(text, text)
    if kind == "number":
        return _parse_number(text, prop.get("type") == "integer")
    if kind == "date":
        match = DATE_INPUT.match(text)
        return f"{match[3]}-{int(match[2]):02d}-{int(match[1]):02d}" if match else text
    return text


def _parse_number(text: str, integer: bool) -> Any:
    # People here write 1.234,5; a lone dot is read as a decimal point.
    normal = text.replace(" ", "")
    if "," in normal:
        normal = normal.replace(".", "").replace(",", ".")
    try:
        number = Decimal(normal)
    except InvalidOperation:
        return text
    if integer:
        return int(number) if number == number.to_integral_value() else text
    return int(number) if number == number.to_integral_value() and "." not in normal else float(
        number)


def _parse_group(key: str, item_schema: Mapping[str, Any],
                 form: MultiDict[str, str]) -> list[dict[str, Any]]:
    pattern = re.compile(rf"^{re.escape(key)}-(\d+)-(\w+)$")
    by_index: dict[int, dict[str, Any]] = {}
    sub_props = item_schema.get("properties", {})
    for name in form:
        match = pattern.match(name)
        if not match or match[2] not in sub_props:
            continue
        sub_prop = sub_props[match[2]]
        kind = kind_of(sub_prop, {})
        raw = form.getlist(name) if kind == "checkboxes" else form.get(name, "")
        value = _parse_value(kind, sub_prop, raw)
        row = by_index.setdefault(int(match[1]), {})
        if value is not _MISSING:
            row[match[2]] = value
    # Rows left entirely empty are rows the person added and did not use.
    return [row for _index, row in sorted(by_index.items()) if row]
