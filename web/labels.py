"""Names of procedures and their activities in the interface's language.

The BPMN names are Spanish; the responsibility table gives the others (``title_en``,
``activity_labels``). Anything without a translation keeps its Spanish name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import get_locale

from . import engine


def _language() -> str:
    return str(get_locale())


def _tables(definition: Any) -> list[Any]:
    return [definition.responsibility, *definition.extra_tables]


def _definition(process_id: str) -> Any:
    return engine().library.find(process_id)


def process_name(definition: Any, language: str | None = None) -> str:
    """Return a procedure's name in ``language`` (the interface's by default)."""
    language = language or _language()
    if language == "en" and definition.responsibility.title_en:
        return str(definition.responsibility.title_en)
    return str(definition.name)


def activity_names(definition: Any, language: str | None = None) -> dict[str, str]:
    """Return the translated names of a procedure's elements by BPMN id (none in Spanish)."""
    language = language or _language()
    if language == "es":
        return {}
    names: dict[str, str] = {}
    for table in reversed(_tables(definition)):
        for bpmn_id, labels in table.activity_labels.items():
            if labels.get(language):
                names[bpmn_id] = labels[language]
    return names


def activity_name(definition: Any, bpmn_id: str | None, recorded: str | None,
                  language: str | None = None) -> str | None:
    """Return an activity's name in ``language``; ``recorded``: its Spanish name as logged."""
    if bpmn_id is None:
        return recorded
    return activity_names(definition, language).get(bpmn_id, recorded)


def outcome_name(definition: Any, outcome: str | None, language: str | None = None) -> str | None:
    """Return a case's outcome (the Spanish name of the end it reached) in ``language``."""
    if not outcome:
        return outcome
    names = activity_names(definition, language)
    ends: Mapping[str, str] = definition.end_events
    for bpmn_id, name in ends.items():
        if name == outcome and bpmn_id in names:
            return names[bpmn_id]
    return outcome


def task_activity_label(task: Any) -> str:
    """Return an open task's activity name in the interface's language."""
    process_id = getattr(task, "process_id", None)
    definition = _definition(process_id) if process_id else None
    if definition is None:
        return str(task.activity_name)
    return str(activity_name(definition, task.activity_id, task.activity_name))


def process_label(process_id: str, recorded: str) -> str:
    """Return a procedure's name in the interface's language."""
    definition = _definition(process_id)
    return process_name(definition) if definition is not None else recorded
