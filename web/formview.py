"""Task forms in HTML: fields built from a JSON Schema and its layout hints, and submitted
HTML form data turned back into the JSON the engine validates.

Parsing never throws a person's input away: what cannot be converted (``12a`` for a number,
``31/02/2026`` for a date) is passed on as typed, so the engine's validation names the field
and the page shows the text again.

Fields bound to an organisation catalogue (``x-source``) become pickers when the catalogue
holds something: a select of services or org units, a text input with a ``datalist`` of
indicators, and the unit's responsible position filled from the chosen unit. The choices come
from a function the web layer passes in (this module never reads the database); the engine
still decides what is valid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
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
    # Alternatives, each a set of conditions on other fields, under which the field becomes
    # required (from the schema's ``allOf``/``if``/``then``); the page's script follows them.
    required_if: list[dict[str, Any]] | None = None
    read_only: bool = False
    max_length: int | None = None
    rows: list[list[FieldView]] = field(default_factory=list)
    template: list[FieldView] = field(default_factory=list)
    documents: list[tuple[str, str]] = field(default_factory=list)
    options: list[CatalogueOption] = field(default_factory=list)
    source: str | None = None
    fill_name: str | None = None
    derived_from: str | None = None
    datalist: str | None = None
    datalist_inline: bool = False
    # The latest date the field takes, ISO (``x-max-date: today``: something already done).
    max_date: str | None = None


@dataclass(frozen=True)
class CatalogueOption:
    """One entry a catalogue picker offers: the stored code, its label and what it fills in."""

    value: str
    label: str
    name: str = ""
    position: str = ""
    units: tuple[str, ...] = ()


# ``catalogue(source)`` returns the options of ``services``, ``org_units`` or ``indicators``;
# an empty list (the seeds are not imported) leaves the field a plain text input.
CatalogueChoices = Callable[[str], list[CatalogueOption]]
SOURCE_COLUMN_VALUES = {"position_code": "position"}


def no_catalogue(_source: str) -> list[CatalogueOption]:
    """Offer no catalogue choices: every catalogue-bound field stays a text input."""
    return []


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
    for field_name, alternatives in required_conditions(schema).items():
        if any(all(_matches(data.get(k), c) for k, c in rule.items()) for rule in alternatives):
            names.add(field_name)
    return names


# What a condition of ``if`` may test and the page's script knows how to check too.
CONDITION_KEYWORDS = frozenset({"const", "enum", "minimum", "maximum", "exclusiveMinimum",
                                "exclusiveMaximum"})


def required_conditions(schema: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Return, for each field an ``allOf``/``if``/``then`` makes required, the conditions
    (field -> keyword -> value, all must hold; any one alternative suffices).

    A rule testing something else (a pattern, a nested schema) is left out: the asterisk is
    then only shown once the server asks for the field, never claimed wrongly.
    """
    found: dict[str, list[dict[str, Any]]] = {}
    for rule in schema.get("allOf", []):
        if not isinstance(rule, Mapping):
            continue
        condition = rule.get("if", {}).get("properties", {})
        if not condition or any(not isinstance(c, Mapping) or not c
                                or set(c) - CONDITION_KEYWORDS for c in condition.values()):
            continue
        # ``if`` without ``required`` also holds when the field is absent; the forms always
        # name the field they test, and the script treats an empty field as not matching.
        for name in rule.get("then", {}).get("required", []):
            found.setdefault(name, []).append({k: dict(c) for k, c in condition.items()})
    return found


def _matches(value: Any, condition: Mapping[str, Any]) -> bool:
    if value is None:
        return False
    if "const" in condition and value != condition["const"]:
        return False
    if "enum" in condition and value not in condition["enum"]:
        return False
    bounds = {k: condition[k] for k in CONDITION_KEYWORDS - {"const", "enum"} if k in condition}
    if bounds and (isinstance(value, bool) or not isinstance(value, (int, float, Decimal))):
        return False
    return ((("minimum" not in bounds) or value >= bounds["minimum"])
            and (("maximum" not in bounds) or value <= bounds["maximum"])
            and (("exclusiveMinimum" not in bounds) or value > bounds["exclusiveMinimum"])
            and (("exclusiveMaximum" not in bounds) or value < bounds["exclusiveMaximum"]))


def build_fields(schema: Mapping[str, Any], labels: FormLabels, data: Mapping[str, Any],
                 errors: Mapping[str, list[str]],
                 people: Callable[[str], list[tuple[str, str]]],
                 document_names: Mapping[str, str],
                 catalogue: CatalogueChoices = no_catalogue,
                 today: date | None = None) -> list[FieldView]:
    """Return the fields of a form, filled with ``data`` and the errors by field path.

    ``today`` (the engine's clock) is the limit shown on ``x-max-date`` date fields.
    """
    properties = schema.get("properties", {})
    order = list(labels.ui.get("order") or properties)
    required = _required(schema, data)
    conditions = required_conditions(schema)
    pickers = _Pickers(people, document_names, catalogue, today)
    fields = []
    for key in order:
        prop = properties.get(key)
        if prop is None:
            continue
        view = _field(key, key, key, prop, labels, data.get(key), errors, key in required,
                      pickers, siblings=properties)
        view.required_if = conditions.get(key)
        fields.append(view)
    return fields


@dataclass(frozen=True)
class _Pickers:
    """What the fields draw their choices from: people, documents, catalogues."""

    people: Callable[[str], list[tuple[str, str]]]
    document_names: Mapping[str, str]
    catalogue: CatalogueChoices
    today: date | None = None


def _picker_of(key: str, siblings: Mapping[str, Any], source: str) -> str | None:
    """Return the sibling field whose chosen entry a derived field (``x-source-field``) follows."""
    for name, prop in siblings.items():
        if (name != key and isinstance(prop, Mapping) and prop.get("x-source") == source
                and not prop.get("x-source-field")):
            return str(name)
    return None


def _name_field(key: str, siblings: Mapping[str, Any]) -> str | None:
    """Return ``<x>_name`` for a ``<x>_code`` picker when the form has such a field."""
    if not key.endswith("_code"):
        return None
    target = key[: -len("_code")] + "_name"
    prop = siblings.get(target)
    return target if isinstance(prop, Mapping) and prop.get("type") == "string" else None


def _catalogue_field(view: FieldView, key: str, prop: Mapping[str, Any],
                     siblings: Mapping[str, Any], options: list[CatalogueOption],
                     value: Any) -> None:
    """Turn a text field bound to a non-empty catalogue into its picker."""
    source = str(prop["x-source"])
    column = prop.get("x-source-field")
    view.source, view.value = source, _as_text(value)
    if column:
        picker = _picker_of(key, siblings, source)
        if picker is not None and column in SOURCE_COLUMN_VALUES:
            view.kind, view.derived_from = "derived", picker
        return
    view.fill_name = _name_field(key, siblings)
    implied = [SOURCE_COLUMN_VALUES[other["x-source-field"]]
               for name, other in siblings.items()
               if isinstance(other, Mapping) and other.get("x-source") == source
               and other.get("x-source-field") in SOURCE_COLUMN_VALUES
               and _picker_of(name, siblings, source) == key]
    # A unit chosen so that its head receives the work must have one: headings such as
    # "3 Procesos Sustantivos" are not offered.
    view.options = [o for o in options if all(getattr(o, attr) for attr in implied)]
    if source == "indicators":
        view.kind = "suggest"
        view.datalist = "dl-" + view.path.split("/")[0] + ("" if view.key == view.path
                                                              else f"-{view.key}")
        view.datalist_inline = view.key == view.path
        return
    view.kind = "catalogue"
    if view.value and view.value not in {o.value for o in view.options}:
        # Kept visible (and submitted again) so the engine's message has something to point at.
        known = next((o for o in options if o.value == view.value), None)
        view.options.insert(0, known or CatalogueOption(view.value, view.value, view.value))


def _field(name: str, key: str, path: str, prop: Mapping[str, Any], labels: FormLabels,
           value: Any, errors: Mapping[str, list[str]], required: bool, pickers: _Pickers,
           item: str | None = None, siblings: Mapping[str, Any] | None = None) -> FieldView:
    top = key  # the form-level field; ``item`` names the sub-field of a repeatable group
    hints = labels.hints(top, item)
    kind = kind_of(prop, hints)
    people, document_names = pickers.people, pickers.document_names
    view = FieldView(
        name=name, key=item or key, path=path, kind=kind,
        title=labels.field_title(top, prop, item),
        description=labels.field_description(top, prop, item), required=required,
        errors=list(errors.get(path, [])), show_if=hints.get("show_if"),
        read_only=kind == "readonly", max_length=prop.get("maxLength"),
    )
    if kind == "text" and "x-source" in prop:
        options = pickers.catalogue(str(prop["x-source"]))
        if options:
            _catalogue_field(view, item or key, prop, siblings or {}, options, value)
            return view
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
        if prop.get("x-max-date") == "today" and pickers.today is not None:
            view.max_date = pickers.today.isoformat()
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
        sub_props = item_schema.get("properties", {})
        for index, row in enumerate(rows):
            row = row if isinstance(row, Mapping) else {}
            view.rows.append([
                _field(f"{key}-{index}-{sub}", key, f"{key}/{index}/{sub}", sub_prop, labels,
                       row.get(sub), errors, sub in item_required, pickers, item=sub,
                       siblings=sub_props)
                for sub, sub_prop in sub_props.items()])
        view.template = [
            _field(f"{key}-__index__-{sub}", key, f"{key}/__index__/{sub}", sub_prop, labels,
                   None, {}, sub in item_required, pickers, item=sub, siblings=sub_props)
            for sub, sub_prop in sub_props.items()]
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
                     uploads: Callable[[str], list[str]],
                     catalogue: CatalogueChoices = no_catalogue, *,
                     errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Turn posted HTML form fields into form data; ``uploads(field)`` stores new files.

    Without JavaScript nothing fills the fields a catalogue choice implies; here the chosen
    unit's responsible position is always taken from the catalogue, and an empty ``<x>_name``
    gets the name of the ``<x>_code`` chosen.
    """
    properties = schema.get("properties", {})
    if errors is not None:
        form = without_nul(form, errors, properties)
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
    _fill_from_catalogue(properties, data, catalogue)
    for key, prop in properties.items():
        sub_props = prop.get("items", {}).get("properties", {}) if isinstance(prop, Mapping) else {}
        if sub_props and isinstance(data.get(key), list):
            for row in data[key]:
                _fill_from_catalogue(sub_props, row, catalogue)
    return data


NUL_REFUSED = ("Contiene caracteres nulos, que no se pueden guardar; se quitaron: revise el texto "
               "y vuelva a enviarlo")


def without_nul(form: MultiDict[str, str], errors: dict[str, list[str]],
                fields: Collection[str]) -> MultiDict[str, str]:
    """Return the posted fields without NUL characters; each field that held one gets an error
    (one of the form's ``fields``, or the form as a whole).

    No database keeps NUL in text (PostgreSQL refuses it), so it is refused, as the API does: the
    error stops the save and the rest of what the person typed comes back to them.
    """
    if not any("\x00" in name or "\x00" in value for name, value in form.items(multi=True)):
        return form
    clean: MultiDict[str, str] = MultiDict()
    for name, value in form.items(multi=True):
        if "\x00" in name or "\x00" in value:
            # A group's sub-field ("interviews-0-summary") reports on its group.
            field = name.replace("\x00", "").split("-", 1)[0]
            field = field if field in fields else ""
            if NUL_REFUSED not in errors.setdefault(field, []):
                errors[field].append(NUL_REFUSED)
        clean.add(name.replace("\x00", ""), value.replace("\x00", ""))
    return clean


def _fill_from_catalogue(properties: Mapping[str, Any], data: dict[str, Any],
                         catalogue: CatalogueChoices) -> None:
    """Complete what a catalogue choice implies, in one form or one row of a group."""
    for key, prop in properties.items():
        if not isinstance(prop, Mapping) or "x-source" not in prop:
            continue
        source, column = str(prop["x-source"]), prop.get("x-source-field")
        picker = _picker_of(key, properties, source) if column else key
        chosen = data.get(picker) if picker else None
        if not isinstance(chosen, str) or not chosen:
            continue
        options = catalogue(source)
        found = next((o for o in options if o.value == chosen), None)
        if found is None:
            continue
        if column in SOURCE_COLUMN_VALUES:
            derived = getattr(found, SOURCE_COLUMN_VALUES[column])
            if derived:
                data[key] = derived
        elif not column:
            target = _name_field(key, properties)
            if target and not data.get(target) and found.name:
                data[target] = found.name


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
