"""Reading a case's data: labels from the procedure's forms, values as people say them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from engine import ProcessDefinition

from .formats import value_text
from .formview import FormLabels

# Engine bookkeeping people need not read.
HIDDEN = {"diagnosis_due_at"}


@dataclass(frozen=True)
class DataItem:
    """One value of a case, labelled, and written the way the form offered it."""

    key: str
    label: str
    value: Any
    text: str = ""
    rows: list[str] = field(default_factory=list)
    attachments: bool = False


def describe(definition: ProcessDefinition, data: Mapping[str, Any], language: str,
             person_name: Callable[[str], str] = str,
             only: list[str] | None = None) -> list[DataItem]:
    """Return the case's values labelled in the interface's language, in form order."""
    fields: dict[str, tuple[Mapping[str, Any], FormLabels]] = {}
    for form in definition.forms.values():
        labels = FormLabels(form.schema, form.ui, language)
        for key, prop in form.properties().items():
            fields.setdefault(key, (prop, labels))
    items = []
    computed = definition.data_labels()
    keys = [k for k in fields if k in data] + [k for k in computed if k in data and
                                               k not in fields]
    for key in keys:
        if key in HIDDEN or (only is not None and key not in only):
            continue
        value = data[key]
        if value in (None, "", [], {}):
            continue
        if key not in fields:
            # Working variables of the procedure's scripts stay out; labelled ones are shown.
            label = computed[key].get(language) or computed[key]["es"]
            if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
                items.append(DataItem(key, label, value, rows=[
                    "; ".join(f"{k}: {value_text(v)}" for k, v in row.items())
                    for row in value]))
            else:
                items.append(DataItem(key, label, value, text=value_text(value)))
            continue
        prop, labels = fields[key]
        title = labels.field_title(key, prop)
        if prop.get("x-attachments"):
            items.append(DataItem(key, title, value, attachments=True))
        elif prop.get("type") == "array" and prop.get("items", {}).get("type") == "object":
            rows = [_row_text(key, row, prop["items"], labels, person_name)
                    for row in value if isinstance(row, Mapping)]
            items.append(DataItem(key, title, value, rows=rows))
        else:
            items.append(DataItem(key, title, value,
                                  text=_text(key, value, prop, labels, person_name)))
    return items


def _text(key: str, value: Any, prop: Mapping[str, Any], labels: FormLabels,
          person_name: Callable[[str], str], item: str | None = None) -> str:
    if "x-role" in prop and isinstance(value, str):
        return person_name(value)
    if "enum" in prop or prop.get("type") == "boolean":
        choices = dict(labels.choices(key, [value], item))
        text = choices.get(value_text_key(value))
        if text and text != value_text_key(value):
            return text
        return value_text(value) if isinstance(value, bool) else str(value)
    if prop.get("type") == "array" and "enum" in prop.get("items", {}):
        choices = dict(labels.choices(key, list(value), item))
        return "; ".join(choices.get(str(v), str(v)) for v in value)
    return value_text(value)


def value_text_key(value: Any) -> str:
    """Return the form value of a stored value (booleans as "true"/"false")."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _row_text(key: str, row: Mapping[str, Any], schema: Mapping[str, Any], labels: FormLabels,
              person_name: Callable[[str], str]) -> str:
    parts = []
    for sub, sub_prop in schema.get("properties", {}).items():
        if sub in row and row[sub] not in (None, ""):
            title = labels.field_title(key, sub_prop, item=sub)
            parts.append(f"{title}: {_text(key, row[sub], sub_prop, labels, person_name, sub)}")
    return "; ".join(parts) or _("(vacío)")
