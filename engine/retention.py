"""Retention of closed cases: which have passed the period they must be kept for, and which soon.

A procedure states its retention in its own BPMN: the social case computes ``retention_until``
(5 years after archiving, seed 000 §13) when the expediente is archived. This module only reads
that value from each closed case's data; nothing here deletes anything. Disposal is a separate,
explicit act by an authorised person, never automatic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from .store import CaseRow

RETENTION_KEY = "retention_until"
_PAGE = 500


@dataclass(frozen=True)
class RetentionItem:
    """A closed case and the day until which it must be kept."""

    case_id: int
    number: str
    process_id: str
    completed_at: datetime | None
    keep_until: date
    days_left: int  # negative: the period passed that many days ago

    @property
    def passed(self) -> bool:
        """Tell whether the retention period is over (the day itself still counts as kept)."""
        return self.days_left < 0


@dataclass(frozen=True)
class RetentionReport:
    """The closed cases whose retention has passed or ends within ``soon_days``, per procedure."""

    today: date
    soon_days: int
    passed: tuple[RetentionItem, ...]
    soon: tuple[RetentionItem, ...]
    kept: int  # closed cases with a retention date further away

    def by_process(self, items: Iterable[RetentionItem]) -> dict[str, list[RetentionItem]]:
        """Group items by procedure, in procedure order."""
        grouped: dict[str, list[RetentionItem]] = {}
        for item in sorted(items, key=lambda i: (i.process_id, i.keep_until, i.number)):
            grouped.setdefault(item.process_id, []).append(item)
        return grouped


def keep_until(data: dict[str, Any]) -> date | None:
    """Return a case's retention date from its data (None when it has none or it is unreadable)."""
    value = data.get(RETENTION_KEY)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def report(reader: Callable[[], Any], case_data: Callable[[int, bytes], dict[str, Any]], *,
           process_ids: Iterable[str], today: date, soon_days: int) -> RetentionReport:
    """Read every closed case of the procedures and sort them by their retention date."""
    passed: list[RetentionItem] = []
    soon: list[RetentionItem] = []
    kept = 0
    wanted = sorted(set(process_ids))
    after = 0
    while wanted:
        with reader() as session:
            rows = session.execute(
                select(CaseRow.id, CaseRow.number, CaseRow.process_id, CaseRow.version_id,
                       CaseRow.completed_at, CaseRow.state)
                .where(CaseRow.process_id.in_(wanted), CaseRow.status == "completed",
                       CaseRow.id > after)
                .order_by(CaseRow.id).limit(_PAGE)).all()
        if not rows:
            break
        for row in rows:
            until = keep_until(case_data(row.version_id, row.state))
            if until is None:
                continue
            left = (until - today).days
            item = RetentionItem(row.id, row.number, row.process_id, row.completed_at, until,
                                 left)
            if left < 0:
                passed.append(item)
            elif left <= soon_days:
                soon.append(item)
            else:
                kept += 1
        after = rows[-1].id
    return RetentionReport(today, soon_days, tuple(passed), tuple(soon), kept)
