"""What to tell whom by e-mail: task arrivals, deadlines, escalations, returned work, digests.

Events are recorded in the transaction of the step that causes them (``record_offers``) or of
the worker's scan (``scan_deadlines``, ``scan_digests``); the worker expands each one into the
mails of the people it concerns (``expand``), honouring each person's choices. An event carries
only what is not confidential: the case number, the procedure, the activity, the deadline —
never the requester or anything typed into the case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from . import outbox
from .directory import normalise_title
from .store import CaseEventRow, OpenTaskRow, PersonPositionRow, PersonRow, PositionRow
from .views import PersonView

LOCAL = ZoneInfo("America/Guayaquil")


@dataclass(frozen=True)
class Kind:
    """A kind of notification, as the preferences page offers it."""

    code: str
    label: str
    default: bool


KINDS: tuple[Kind, ...] = (
    Kind("task_offered", "Llega una tarea para mí o para mi rol", True),
    Kind("due_soon", "Una tarea mía está por vencer (3 días hábiles o menos)", True),
    Kind("overdue", "Una tarea mía está vencida", True),
    Kind("escalation", "Se me escala un caso por plazo vencido", True),
    Kind("returned", "Me devuelven trabajo (una revisión lo rechazó)", True),
    # Off by default: the per-event mails already cover the day for most people.
    Kind("digest", "Resumen diario de mi bandeja", False),
)
KIND_CODES = frozenset(k.code for k in KINDS)
DIGEST_LOCAL_HOUR = 7


@dataclass(frozen=True)
class Recipient:
    """Someone a mail goes to."""

    person_id: int
    username: str
    full_name: str
    email: str


# (kind, event payload, recipient) -> (subject, plain text, HTML): the web layer's templates.
Renderer = Callable[[str, Mapping[str, Any], Recipient], tuple[str, str, str]]
# A person row -> their view (roles, audience keys): the engine's directory.
Viewer = Callable[[Session, PersonRow], PersonView]


def wanted(chosen: Mapping[str, bool], kind: str) -> bool:
    """Tell whether a person wants ``kind`` (their choice, else the kind's default)."""
    if kind in chosen:
        return chosen[kind]
    return next((k.default for k in KINDS if k.code == kind), False)


def record_offers(session: Session, case_id: int, rows: Sequence[Mapping[str, Any]],
                  now: datetime, *, escalation: bool, by_person: bool,
                  seq_before: int = 0) -> None:
    """Record one event per task that just became ready, in the step's transaction.

    One INSERT and nothing else: this runs on every step (see tests/integration/
    test_request_cost.py). A task that appears in the step where a deadline passed is an
    escalation; whether it is returned work (``returned_work``) is settled when the event is
    expanded, from the case's log up to ``seq_before``.
    """
    if not rows:
        return
    events = []
    for row in rows:
        kind = "escalation" if escalation else "task_offered"
        facts = {**_task_facts(row), "case_id": case_id, "seq_before": seq_before,
                 "by_person": by_person}
        events.append((kind, facts, f"{kind}:{row['task_id']}"))
    outbox.record_events(session.connection(), events, now)


def returned_work(session: Session, payload: Mapping[str, Any]) -> bool:
    """Tell whether a task a person's step brought back was already done once in its case."""
    if not payload.get("by_person") or not payload.get("case_id"):
        return False
    return session.execute(select(CaseEventRow.id).where(
        CaseEventRow.case_id == payload["case_id"], CaseEventRow.event_type == "task_completed",
        CaseEventRow.activity_id == payload.get("activity_id"),
        CaseEventRow.seq <= int(payload.get("seq_before") or 0)).limit(1)).first() is not None


def _task_facts(row: Mapping[str, Any]) -> dict[str, Any]:
    due = row.get("due_at")
    return {"task_id": row["task_id"], "case_number": row["case_number"],
            "process_name": row["process_name"], "activity_name": row["activity_name"],
            "activity_id": row["activity_id"],
            "role": row["role"], "audience": row["audience"], "assignee_id": row["assignee_id"],
            "due_at": due.isoformat() if due else None}


def scan_deadlines(session: Session, now: datetime, due_soon_limit: datetime) -> int:
    """Record *por vencer* and overdue events for open tasks (each task once per kind)."""
    rows = session.execute(select(OpenTaskRow.__table__).where(
        OpenTaskRow.due_at.is_not(None), OpenTaskRow.due_at <= due_soon_limit)).mappings().all()
    events = []
    for row in rows:
        kind = "overdue" if row["due_at"] <= now else "due_soon"
        events.append((kind, _task_facts(dict(row)), f"{kind}:{row['task_id']}"))
    outbox.record_events(session.connection(), events, now)
    return len(events)


def scan_digests(session: Session, now: datetime, viewer: Viewer,
                 due_soon_limit: datetime) -> int:
    """Record today's digest for each person who asked for one, after 07:00 Quito time."""
    local = now.astimezone(LOCAL)
    if local.hour < DIGEST_LOCAL_HOUR:
        return 0
    day = local.date().isoformat()
    people = session.scalars(select(PersonRow).join(
        outbox.NotificationPreferenceRow,
        outbox.NotificationPreferenceRow.person_id == PersonRow.id).where(
        outbox.NotificationPreferenceRow.kind == "digest",
        outbox.NotificationPreferenceRow.enabled.is_(True), PersonRow.active.is_(True))).all()
    events = []
    for person in people:
        view = viewer(session, person)
        mine = OpenTaskRow.assignee_id == person.id
        offered = and_(OpenTaskRow.assignee_id.is_(None),
                       OpenTaskRow.audience.in_(sorted(view.audience)))
        tasks = session.execute(select(OpenTaskRow.assignee_id, OpenTaskRow.due_at)
                                .where(or_(mine, offered))).all()
        counts = {
            "mine": sum(1 for a, _ in tasks if a == person.id),
            "available": sum(1 for a, _ in tasks if a is None),
            "overdue": sum(1 for _, d in tasks if d is not None and d <= now),
            "due_soon": sum(1 for _, d in tasks if d is not None and now < d <= due_soon_limit),
        }
        events.append(("digest", {"person_id": person.id, "day": day, **counts},
                       f"digest:{person.id}:{day}"))
    outbox.record_events(session.connection(), events, now)
    return len(events)


def recipients(session: Session, payload: Mapping[str, Any],
               role_titles: Mapping[str, frozenset[str]]) -> list[Recipient]:
    """Return who an event concerns: its person, the task's assignee, or its audience."""
    person_id = payload.get("person_id") or payload.get("assignee_id")
    query = select(PersonRow).where(PersonRow.active.is_(True))
    if person_id:
        people: Iterable[PersonRow] = session.scalars(query.where(PersonRow.id == person_id))
    else:
        audience = str(payload.get("audience") or "")
        kind, _, value = audience.partition(":")
        held = (select(PersonPositionRow.person_id, PositionRow.title, PositionRow.code)
                .join(PositionRow, PositionRow.id == PersonPositionRow.position_id))
        if kind == "position":
            ids = {pid for pid, _t, _c in session.execute(held.where(PositionRow.code == value))}
        elif kind == "role":
            ids = {pid for pid, title, _c in session.execute(held)
                   if value in role_titles.get(normalise_title(title), ())}
        else:
            ids = set()
        people = session.scalars(query.where(PersonRow.id.in_(ids))) if ids else []
    return [Recipient(p.id, p.username, p.full_name, p.email) for p in people if p.email]


def expand(session: Session, now: datetime, render: Renderer,
           role_titles: Mapping[str, frozenset[str]], limit: int = 200) -> int:
    """Turn waiting events into mails for the people who want them; return mails queued."""
    queued = 0
    for event in outbox.claim_events(session, now, limit):
        if event.kind == "task_offered" and returned_work(session, event.payload):
            event.kind = "returned"
        mails = []
        for person in recipients(session, event.payload, role_titles):
            if not wanted(outbox.preferences(session, person.person_id), event.kind):
                continue
            subject, text, html = render(event.kind, event.payload, person)
            mails.append({"person_id": person.person_id, "to_address": person.email,
                          "subject": subject, "body_text": text, "body_html": html})
        queued += outbox.add_mails(session, event, mails, now)
    return queued


def local_deadline(payload: Mapping[str, Any]) -> datetime | None:
    """Return an event's deadline in Quito time, or None."""
    due = payload.get("due_at")
    return datetime.fromisoformat(due).astimezone(LOCAL) if due else None
