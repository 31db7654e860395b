"""Reading a case's data: labels from the procedure's forms, values formatted for people."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine import ProcessDefinition

from .formview import FormLabels

# Engine bookkeeping people need not read.
HIDDEN = {"diagnosis_due_at"}


@dataclass(frozen=True)
class DataItem:
    """One value of a case, with the label of the form field it came from."""

    key: str
    label: str
    value: Any
    attachments: bool = False


def describe(definition: ProcessDefinition, data: Mapping[str, Any], language: str,
             only: list[str] | None = None) -> list[DataItem]:
    """Return the case's values labelled in the interface's language, in form order."""
    labels: dict[str, tuple[str, bool]] = {}
    for form in definition.forms.values():
        texts = FormLabels(form.schema, form.ui, language)
        for key, prop in form.properties().items():
            if key not in labels:
                labels[key] = (texts.field_title(key, prop), bool(prop.get("x-attachments")))
    items = []
    keys = [k for k in labels if k in data] + [k for k in data if k not in labels]
    for key in keys:
        if key in HIDDEN or (only is not None and key not in only):
            continue
        value = data[key]
        if value in (None, "", [], {}):
            continue
        label, attachments = labels.get(key, (key.replace("_", " ").capitalize(), False))
        items.append(DataItem(key, label, value, attachments))
    return items
