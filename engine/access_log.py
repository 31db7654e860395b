"""The access log: who read a confidential case without a role in it (an auditor), and when.

One hash chain over the whole table (each row seals its content and its predecessor's hash), and
database triggers refuse UPDATE and DELETE (engine/store.py): a read, once recorded, cannot be
taken back, and a row edited behind the triggers' back breaks the chain where it was edited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from .audit import GENESIS, canonical_json
from .clock import LOCAL_TZ
from .store import AccessLogRow, CaseRow
from .views import PersonView

# What was read: the case page, its history, a document, a report, the replay, the API.
WHAT = ("case", "history", "document", "report", "replay", "api")
MAX_ENTRIES = 500
_LOCK_KEY = 0x6361756365  # "cauce": the access log's advisory lock on PostgreSQL


@dataclass(frozen=True)
class AccessEntry:
    """One recorded read of a confidential case."""

    seq: int
    at: datetime
    username: str
    roles: str
    case_number: str
    process_id: str
    what: str
    detail: str | None
    hash: str


@dataclass(frozen=True)
class AccessFilters:
    """Which reads to list: by person, case number, procedure, kind and local dates."""

    username: str | None = None
    case_number: str | None = None
    process_id: str | None = None
    what: str | None = None
    day_from: date | None = None
    day_to: date | None = None


@dataclass(frozen=True)
class AccessLogCheck:
    """The whole log's chain: intact, or the first row where it breaks."""

    entries: int
    broken_at: int | None

    @property
    def intact(self) -> bool:
        """Tell whether every row checks out."""
        return self.broken_at is None


def row_hash(previous: bytes, *, seq: int, at: datetime, username: str, roles: str,
             case_id: int, case_number: str, process_id: str, what: str,
             detail: str | None) -> bytes:
    """Return the hash that seals one read to every read before it."""
    content = canonical_json({
        "seq": seq, "at": at.isoformat(timespec="microseconds"), "user": username,
        "roles": roles, "case": case_id, "number": case_number, "process": process_id,
        "what": what, "detail": detail,
    })
    return hashlib.sha256(previous + content.encode("utf-8")).digest()


def record(session: Session, person: PersonView, case: CaseRow, what: str,
           detail: str | None, now: datetime) -> None:
    """Append one read to the log (a concurrent reader makes the unique seq fail: retry)."""
    if what not in WHAT:
        raise ValueError(f"unknown access kind {what!r}")
    if session.get_bind().dialect.name == "postgresql":
        # One appender at a time (until commit): concurrent readers queue instead of colliding
        # on the next seq. SQLite's writers are serialized already (BEGIN IMMEDIATE).
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    last = session.execute(select(AccessLogRow.seq, AccessLogRow.hash)
                           .order_by(AccessLogRow.seq.desc()).limit(1)).first()
    seq, previous = (last[0] + 1, bytes(last[1])) if last else (1, GENESIS)
    roles = ",".join(sorted(person.roles))[:300]
    detail = detail[:300] if detail else None
    digest = row_hash(previous, seq=seq, at=now, username=person.username, roles=roles,
                      case_id=case.id, case_number=case.number, process_id=case.process_id,
                      what=what, detail=detail)
    session.add(AccessLogRow(seq=seq, at=now, person_id=person.id, username=person.username,
                             roles=roles, case_id=case.id, case_number=case.number,
                             process_id=case.process_id, what=what, detail=detail,
                             hash=digest))
    session.flush()


def first_broken(rows: Iterable[Any]) -> int | None:
    """Return the seq of the first row that does not check out (edited, missing, reordered)."""
    previous, expected = GENESIS, 1
    for row in rows:
        if row.seq != expected:
            return expected  # the row that should be here is gone
        digest = row_hash(previous, seq=row.seq, at=row.at, username=row.username,
                          roles=row.roles, case_id=row.case_id, case_number=row.case_number,
                          process_id=row.process_id, what=row.what, detail=row.detail)
        if digest != bytes(row.hash):
            return int(row.seq)
        previous, expected = bytes(row.hash), expected + 1
    return None


def check(session: Session) -> AccessLogCheck:
    """Walk the whole chain in order."""
    rows = session.scalars(select(AccessLogRow).order_by(AccessLogRow.seq)).all()
    return AccessLogCheck(entries=len(rows), broken_at=first_broken(rows))


def entries(session: Session, filters: AccessFilters, process_ids: Sequence[str],
            limit: int = MAX_ENTRIES) -> list[AccessEntry]:
    """Return the newest reads of the given procedures' cases that match the filters."""
    query = select(AccessLogRow).where(AccessLogRow.process_id.in_(sorted(process_ids)))
    if filters.username:
        query = query.where(AccessLogRow.username == filters.username.strip())
    if filters.case_number:
        query = query.where(func.upper(AccessLogRow.case_number)
                            == filters.case_number.strip().upper())
    if filters.process_id:
        query = query.where(AccessLogRow.process_id == filters.process_id)
    if filters.what:
        query = query.where(AccessLogRow.what == filters.what)
    if filters.day_from:
        query = query.where(AccessLogRow.at >= _local_midnight(filters.day_from))
    if filters.day_to:
        query = query.where(AccessLogRow.at < _local_midnight(filters.day_to + timedelta(days=1)))
    rows = session.scalars(query.order_by(AccessLogRow.seq.desc()).limit(limit)).all()
    return [AccessEntry(r.seq, r.at, r.username, r.roles, r.case_number, r.process_id, r.what,
                        r.detail, bytes(r.hash).hex()) for r in rows]


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ)
