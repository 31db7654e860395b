"""A case's history as people read it: what each event did, in their language."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from engine import AuditEntry, ProcessDefinition, review_loop

from . import labels
from .engine_messages import N_

EVENT_LABELS = {
    "case_started": N_("Inició el caso"),
    "task_completed": N_("Completó la tarea"),
    "task_claimed": N_("Tomó la tarea"),
    "task_released": N_("Liberó la tarea"),
    "timer_fired": N_("Se cumplió un plazo"),
    "deadline_passed": N_("Plazo vencido: caso marcado y escalado"),
    "case_completed": N_("Caso cerrado"),
    "effect_applied": N_("Registro aplicado"),
    "case_migrated": N_("Migró el caso a otra versión del procedimiento"),
}


@dataclass(frozen=True)
class HistoryLine:
    """One event in words: what was done, on which activity, and any text to quote."""

    text: str
    activity: str | None = None
    quote: str | None = None
    decision: str | None = None


def history_lines(history: list[AuditEntry], definition: ProcessDefinition, language: str,
                  activity_name: Callable[[str | None, str | None], str | None],
                  service_name: Callable[[str], str] = str) -> dict[int, HistoryLine]:
    """Return each event's line by its sequence number."""
    decisions = review_loop.decisions_by_activity(definition)
    lines = {}
    for entry in history:
        lines[entry.seq] = _line(entry, definition, decisions, language,
                                 activity_name(entry.activity_id, entry.activity_name),
                                 service_name)
    return lines


def _line(entry: AuditEntry, definition: ProcessDefinition,
          decisions: Mapping[str, review_loop.Decision], language: str,
          activity: str | None, service_name: Callable[[str], str]) -> HistoryLine:
    data: Mapping[str, Any] = entry.data or {}
    if entry.event_type == "task_completed" and (entry.activity_id or "") in decisions:
        decision = decisions[entry.activity_id or ""]
        form = data.get("form") or {}
        if decision.field in form:
            returned = form[decision.field] == decision.returned
            label = decision.label(form[decision.field], language) or _("Completó la tarea")
            quote = review_loop.observations_text(form.get(decision.observations or ""))
            return HistoryLine(label, activity, quote or None,
                               "returned" if returned else "accepted")
    if entry.event_type == "case_completed":
        end = labels.outcome_name(definition, data.get("outcome"), language)
        return HistoryLine(_("Caso cerrado: %(outcome)s", outcome=end) if end
                           else _("Caso cerrado"))
    if entry.event_type == "effect_applied":
        outcome: Mapping[str, Any] = data.get("outcome") or {}
        service = service_name(str(outcome.get("service_code") or ""))
        if data.get("effect") == "serviceState" and outcome.get("to"):
            return HistoryLine(_("Cambió el estado del servicio «%(service)s» de «%(old)s» a "
                                 "«%(new)s»", service=service, old=outcome.get("from") or "—",
                                 new=outcome["to"]), activity)
        if data.get("effect") == "serviceStateRequired":
            return HistoryLine(_("Comprobó que el servicio «%(service)s» está «%(state)s»",
                                 service=service, state=outcome.get("state") or "—"), activity)
    label = EVENT_LABELS.get(entry.event_type)
    return HistoryLine(_(label) if label else entry.event_type, activity)
