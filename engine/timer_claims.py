"""Which due case a timer worker takes next, so that several workers share the work.

On PostgreSQL a worker claims one due case per transaction with ``FOR UPDATE SKIP LOCKED``: a
case another worker (or a person completing one of its tasks) holds is passed over, not waited
for, and the claim lasts until the transaction that fires the case's timers commits. SQLite has
no row locks; there ``BEGIN IMMEDIATE`` already lets one writer in at a time.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .store import CaseRow


def claim_due_case(session: Session, now: datetime, *,
                   passed: Collection[int] = ()) -> CaseRow | None:
    """Lock and return the open case whose timer has been due longest, skipping held ones.

    ``passed`` are cases this round already handled: a case whose timer did not move on (a
    timer SpiffWorkflow would not fire yet) is not taken twice in one round.
    """
    # SpiffWorkflow fires a timer once its moment is strictly past.
    query = select(CaseRow).where(CaseRow.status == "open", CaseRow.next_timer_at < now)
    if passed:
        query = query.where(CaseRow.id.not_in(list(passed)))
    query = (query.order_by(CaseRow.next_timer_at, CaseRow.id).limit(1)
             .with_for_update(skip_locked=True))
    return session.scalars(query).first()
