"""A procedure's cases with their logged events, read a page of cases at a time.

The conformance report and the XES export both walk every case of a procedure started in a window;
reading them a page at a time keeps memory flat at any log size, and one reader keeps the two in
agreement about which cases and events that walk sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from .store import CaseEventRow, CaseRow

PAGE = 500


def case_pages(reader: Callable[[], Any], process_id: str, started_from: datetime | None,
               started_before: datetime | None, event_types: Sequence[str],
               ) -> Iterator[tuple[list[Any], dict[int, list[Any]]]]:
    """Yield (cases, their events of ``event_types`` by case id in log order), case id order."""
    after = 0
    while True:
        with reader() as session:
            query = select(CaseRow.id, CaseRow.number, CaseRow.process_id, CaseRow.version_id,
                           CaseRow.status, CaseRow.outcome, CaseRow.started_at).where(
                CaseRow.process_id == process_id, CaseRow.id > after)
            if started_from is not None:
                query = query.where(CaseRow.started_at >= started_from)
            if started_before is not None:
                query = query.where(CaseRow.started_at < started_before)
            cases = list(session.execute(query.order_by(CaseRow.id).limit(PAGE)))
            if not cases:
                return
            rows = session.execute(
                select(CaseEventRow.case_id, CaseEventRow.at, CaseEventRow.actor,
                       CaseEventRow.role, CaseEventRow.event_type, CaseEventRow.activity_id,
                       CaseEventRow.data)
                .where(CaseEventRow.case_id.in_([c.id for c in cases]),
                       CaseEventRow.event_type.in_(event_types))
                .order_by(CaseEventRow.case_id, CaseEventRow.seq)).all()
        by_case: dict[int, list[Any]] = {}
        for row in rows:
            by_case.setdefault(row.case_id, []).append(row)
        yield cases, by_case
        after = cases[-1].id
