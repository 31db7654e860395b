"""Reading a case's data: labels from the procedure's forms, values as people say them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from engine import ProcessDefinition, review_loop

from .formats import value_text
from .formview import CatalogueChoices, FormLabels, no_catalogue

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
    # The form (by its title) the value was given in; computed values have none.
    group: str = ""


def describe(definition: ProcessDefinition, data: Mapping[str, Any], language: str,
             person_name: Callable[[str], str] = str,
             only: list[str] | None = None, hide: set[str] | None = None,
             catalogue: CatalogueChoices = no_catalogue) -> list[DataItem]:
    """Return the case's values labelled in the interface's language, in form order;
    ``hide``: values no longer current (e.g. observations of a review round since answered)."""
    fields: dict[str, tuple[Mapping[str, Any], FormLabels]] = {}
    for form in _forms_in_flow_order(definition):
        labels = FormLabels(form.schema, form.ui, language)
        for key, prop in form.properties().items():
            fields.setdefault(key, (prop, labels))
    items = []
    computed = definition.data_labels()
    keys = [k for k in fields if k in data] + [k for k in computed if k in data and
                                               k not in fields]
    for key in keys:
        if key in HIDDEN or key in (hide or ()) or (only is not None and key not in only):
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
        if "x-source" in prop and _name_key(key) in data:
            # The entry's name, filled in beside its code, says it to people: the code stays out.
            continue
        title = labels.field_title(key, prop)
        group = labels.title()
        if prop.get("x-attachments"):
            items.append(DataItem(key, title, value, attachments=True, group=group))
        elif prop.get("type") == "array" and prop.get("items", {}).get("type") == "object":
            rows = [_row_text(key, row, prop["items"], labels, person_name, catalogue)
                    for row in value if isinstance(row, Mapping)]
            items.append(DataItem(key, title, value, rows=rows, group=group))
        else:
            items.append(DataItem(key, title, value,
                                  text=_text(key, value, prop, labels, person_name,
                                             catalogue=catalogue), group=group))
    return items


def _forms_in_flow_order(definition: ProcessDefinition) -> list[Any]:
    """Return the procedure's forms in the order of its activities (the order a case fills
    them), then any form no activity names."""
    order = []
    for activity in definition.activities.values():
        form = definition.form(activity.form_id)
        if form is not None and form not in order:
            order.append(form)
    return order + [f for f in definition.forms.values() if f not in order]


def grouped(items: list[DataItem]) -> list[tuple[str, list[DataItem]]]:
    """Return the items grouped by the form that gave them, in order of first appearance."""
    groups: dict[str, list[DataItem]] = {}
    for item in items:
        groups.setdefault(item.group, []).append(item)
    return list(groups.items())


def _text(key: str, value: Any, prop: Mapping[str, Any], labels: FormLabels,
          person_name: Callable[[str], str], item: str | None = None,
          catalogue: CatalogueChoices = no_catalogue) -> str:
    if "x-role" in prop and isinstance(value, str):
        return person_name(value)
    if "x-source" in prop and not prop.get("x-source-field") and isinstance(value, str):
        # A catalogue code (a service's slug, a unit's number) reads as the entry's name.
        for option in catalogue(str(prop["x-source"])):
            if option.value == value:
                return option.name or option.label
    if "enum" in prop or prop.get("type") == "boolean":
        choices = dict(labels.choices(key, [value], item))
        text = choices.get(review_loop.value_key(value))
        if text and text != review_loop.value_key(value):
            return text
        return value_text(value) if isinstance(value, bool) else str(value)
    if prop.get("type") == "array" and "enum" in prop.get("items", {}):
        choices = dict(labels.choices(key, list(value), item))
        return "; ".join(choices.get(str(v), str(v)) for v in value)
    return value_text(value)


def _row_text(key: str, row: Mapping[str, Any], schema: Mapping[str, Any], labels: FormLabels,
              person_name: Callable[[str], str],
              catalogue: CatalogueChoices = no_catalogue) -> str:
    parts = []
    for sub, sub_prop in schema.get("properties", {}).items():
        if sub in row and row[sub] not in (None, ""):
            title = labels.field_title(key, sub_prop, item=sub)
            text = _text(key, row[sub], sub_prop, labels, person_name, sub, catalogue)
            parts.append(f"{title}: {text}")
    return "; ".join(parts) or _("(vacío)")


def _name_key(key: str) -> str:
    """Return the field a ``<x>_code`` catalogue picker fills with the entry's name."""
    return key[: -len("_code")] + "_name" if key.endswith("_code") else ""
