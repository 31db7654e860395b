"""What a closed case says about itself: whether its deadline was met, how long it must be kept,
and, for a referred social case, where it was referred.

Plain functions over a case's view and its history: nothing here writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .calendar import WorkingCalendar
from .clock import LOCAL_TZ
from .retention import keep_until

# The social case's diagnosis: 15 working days from the request (PRO-GTH-GTS-002).
DIAGNOSIS_DAYS = 15


@dataclass(frozen=True)
class DeadlineOutcome:
    """How long a deadline-bound stretch of a case took, against its limit (working days)."""

    limit: int
    taken: int
    finished_at: datetime
    overdue_event: bool  # the engine recorded the deadline passing before it finished

    @property
    def met(self) -> bool:
        """Tell whether the stretch ended within its limit."""
        return self.taken <= self.limit and not self.overdue_event


@dataclass(frozen=True)
class Referral:
    """A request that was not a social case, referred elsewhere: to whom, why, by whom, when."""

    referred_to: str
    reason: str
    by: str | None
    at: datetime


def _local_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        # An instant (the deadline's end of day, stored in UTC) counts on Ecuador's calendar.
        return moment.astimezone(LOCAL_TZ).date() if moment.tzinfo else moment.date()
    return None


def _form(entry: Any) -> Mapping[str, Any]:
    return (entry.data or {}).get("form") or {}


def diagnosis_deadline(data: Mapping[str, Any], history: Sequence[Any],
                       calendar: WorkingCalendar) -> DeadlineOutcome | None:
    """Return how the social case's diagnosis went against its 15 working days: it ends when
    the report is validated, or when the request is referred; None while it has not ended."""
    start = _local_date(data.get("request_date"))
    if start is None or "diagnosis_due_at" not in data:
        return None
    finished: Any = None
    overdue = False
    for entry in history:
        if entry.event_type == "deadline_passed" and finished is None:
            overdue = True
        if entry.event_type != "task_completed":
            continue
        form = _form(entry)
        if entry.activity_id == "validar_informe" and form.get("report_validated") is True:
            finished = entry
            break
        if entry.activity_id == "reasignar_solicitud" and form.get("is_social_case") is False:
            finished = entry
            break
    if finished is None:
        return None
    due = _local_date(data.get("diagnosis_due_at"))
    limit = calendar.working_days_between(start, due) if due else DIAGNOSIS_DAYS
    taken = calendar.working_days_between(start, _local_date(finished.at) or start)
    return DeadlineOutcome(limit=limit, taken=taken, finished_at=finished.at,
                           overdue_event=overdue)


def retention_date(data: Mapping[str, Any]) -> date | None:
    """Return the day until which a closed case must be kept (None when it states none)."""
    return keep_until(dict(data))


def referral(data: Mapping[str, Any], history: Sequence[Any]) -> Referral | None:
    """Return a referred social case's referral (None when the case was not referred)."""
    raw = data.get("referral")
    if not isinstance(raw, Mapping) or raw.get("is_social_case", True):
        return None
    decided = [e for e in history if e.event_type == "task_completed"
               and e.activity_id == "reasignar_solicitud"]
    if not decided:
        return None
    return Referral(referred_to=str(raw.get("referred_to") or ""),
                    reason=str(raw.get("referral_reason") or ""),
                    by=decided[-1].actor, at=decided[-1].at)
