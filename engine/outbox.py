"""The transactional outbox of e-mail: events written with the step that causes them, mails
claimed by one worker at a time, retried with back-off, and a dead-letter list.

Two tables: ``notification_event`` rows are inserted in the same transaction as the case step
(or the worker's scan) that causes them, so a rolled-back step tells nobody anything; a worker
later expands each event into one ``mail_outbox`` row per recipient (unique per event and
person, so two workers expanding the same event make one mail). Mails are claimed with one
UPDATE over a ``FOR UPDATE SKIP LOCKED`` subquery on PostgreSQL (SQLite runs one writer at a
time, so the same UPDATE is atomic there): two workers never hold the same row. A row is marked
sent only after the SMTP server accepted it; a worker that dies in between leaves the row
claimed until its lease ends, and then it is sent again (the only case of a second copy, with
the same Message-ID so mail clients fold them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column

from .store import Base

PENDING, SENT, DEAD = "pending", "sent", "dead"


class NotificationEventRow(Base):
    """Something people may be told about, recorded with the step that caused it."""

    __tablename__ = "notification_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    # Scans (por vencer, overdue, digest) run every round: the key makes each fact one event.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    expanded_at: Mapped[datetime | None] = mapped_column(index=True)


class MailRow(Base):
    """One mail to one person, waiting, sent or given up on."""

    __tablename__ = "mail_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("notification_event.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    kind: Mapped[str] = mapped_column(String(30))
    to_address: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("event_id", "person_id", name="uq_mail_outbox_event_person"),
        Index("ix_mail_outbox_due", "status", "next_attempt_at"),
    )


class NotificationPreferenceRow(Base):
    """A person's choice for one kind of notification (no row: the kind's default)."""

    __tablename__ = "notification_preference"
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long the worker tries a mail before it goes to the dead-letter list."""

    max_attempts: int = 6
    first_wait: timedelta = timedelta(minutes=1)
    longest_wait: timedelta = timedelta(hours=2)
    # Longer than any SMTP conversation: a live worker's claim never lapses under it.
    lease: timedelta = timedelta(minutes=10)

    def wait(self, attempts: int) -> timedelta:
        """Return the pause after the ``attempts``-th failed try (doubling each time)."""
        return min(self.first_wait * 2 ** max(attempts - 1, 0), self.longest_wait)


@dataclass(frozen=True)
class OutgoingMail:
    """A claimed mail, ready to hand to the SMTP server."""

    id: int
    to_address: str
    subject: str
    body_text: str
    body_html: str
    attempts: int


@dataclass(frozen=True)
class MailView:
    """A mail as the admin's outbox page shows it (no body)."""

    id: int
    kind: str
    to_address: str
    subject: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None


def record_event(connection: Connection | Session, kind: str, payload: Mapping[str, Any],
                 now: datetime, *, dedupe_key: str | None = None) -> None:
    """Insert an event in the caller's transaction (a repeated ``dedupe_key`` is ignored)."""
    record_events(connection, [(kind, payload, dedupe_key)], now)


def record_events(connection: Connection | Session,
                  events: Iterable[tuple[str, Mapping[str, Any], str | None]],
                  now: datetime) -> None:
    """Insert several events in one statement, in the caller's transaction."""
    rows = [{"kind": kind, "payload": dict(payload), "dedupe_key": key, "created_at": now}
            for kind, payload, key in events]
    if not rows:
        return
    # One statement built once per dialect, rows as parameters (an executemany): built with
    # ``.values(rows)`` it was compiled afresh on every step.
    connection.execute(_insert_events(connection), rows)


def claim_events(session: Session, now: datetime, limit: int) -> list[NotificationEventRow]:
    """Return events not yet expanded, locked (skipping those another worker holds)."""
    return list(session.scalars(
        select(NotificationEventRow).where(NotificationEventRow.expanded_at.is_(None))
        .order_by(NotificationEventRow.id).limit(limit)
        .with_for_update(skip_locked=True)).all())


def add_mails(session: Session, event: NotificationEventRow,
              mails: Iterable[Mapping[str, Any]], now: datetime) -> int:
    """Queue the mails of an expanded event and mark it expanded; return how many were new."""
    rows = [{**mail, "event_id": event.id, "kind": event.kind, "status": PENDING,
             "attempts": 0, "next_attempt_at": now, "created_at": now} for mail in mails]
    added = 0
    if rows:
        table = MailRow.__table__
        # RETURNING, not rowcount: a multi-row insert's rowcount is not reliable everywhere.
        added = len(session.execute(_upsert(session)(table).values(rows)
                                    .on_conflict_do_nothing().returning(table.c.id)).all())
    event.expanded_at = now
    return added


def claim_mails(session: Session, now: datetime, limit: int,
                policy: RetryPolicy) -> tuple[str, list[OutgoingMail]]:
    """Claim up to ``limit`` due mails for this worker (one statement); return the claim."""
    claim = uuid.uuid4().hex
    due = (select(MailRow.id).where(
        MailRow.status == PENDING, MailRow.next_attempt_at <= now,
        (MailRow.claimed_until.is_(None)) | (MailRow.claimed_until < now))
        .order_by(MailRow.next_attempt_at, MailRow.id).limit(limit)
        .with_for_update(skip_locked=True))
    rows = session.execute(
        update(MailRow).where(MailRow.id.in_(due.scalar_subquery()))
        .values(claimed_by=claim, claimed_until=now + policy.lease,
                attempts=MailRow.attempts + 1)
        .returning(MailRow.id, MailRow.to_address, MailRow.subject, MailRow.body_text,
                   MailRow.body_html, MailRow.attempts)
        .execution_options(synchronize_session=False)).all()
    return claim, sorted((OutgoingMail(*row) for row in rows), key=lambda m: m.id)


def mark_sent(session: Session, claim: str, mail_ids: Iterable[int], now: datetime) -> int:
    """Record that the SMTP server accepted these mails (only while this claim holds them)."""
    ids = list(mail_ids)
    if not ids:
        return 0
    result = session.execute(update(MailRow).where(
        MailRow.id.in_(ids), MailRow.claimed_by == claim, MailRow.status == PENDING,
    ).values(status=SENT, sent_at=now, claimed_until=None, last_error=None)
        .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def mark_failed(session: Session, claim: str, mail: OutgoingMail, error: str, now: datetime,
                policy: RetryPolicy, *, permanent: bool = False) -> str:
    """Schedule another try after a back-off, or move the mail to the dead-letter list."""
    dead = permanent or mail.attempts >= policy.max_attempts
    values: dict[str, Any] = {"claimed_until": None, "last_error": error[:2000]}
    if dead:
        values["status"] = DEAD
    else:
        values["next_attempt_at"] = now + policy.wait(mail.attempts)
    session.execute(update(MailRow).where(MailRow.id == mail.id, MailRow.claimed_by == claim,
                                          MailRow.status == PENDING).values(**values)
                    .execution_options(synchronize_session=False))
    return DEAD if dead else PENDING


def requeue(session: Session, mail_id: int, now: datetime) -> bool:
    """Give a dead mail a fresh set of tries (the admin's *Reintentar*)."""
    result = session.execute(update(MailRow).where(MailRow.id == mail_id,
                                                   MailRow.status == DEAD)
                             .values(status=PENDING, attempts=0, next_attempt_at=now,
                                     claimed_by=None, claimed_until=None)
                             .execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def list_mails(session: Session, *, status: str | None = None, limit: int = 200,
               ) -> list[MailView]:
    """Return the newest mails (of one status), for the admin's page."""
    query = select(MailRow).order_by(MailRow.id.desc()).limit(limit)
    if status is not None:
        query = query.where(MailRow.status == status)
    return [MailView(id=r.id, kind=r.kind, to_address=r.to_address, subject=r.subject,
                     status=r.status, attempts=r.attempts, created_at=r.created_at,
                     next_attempt_at=r.next_attempt_at, sent_at=r.sent_at,
                     last_error=r.last_error) for r in session.scalars(query)]


def count_by_status(session: Session) -> dict[str, int]:
    """Return how many mails are pending, sent and dead."""
    counts = {PENDING: 0, SENT: 0, DEAD: 0}
    for status, number in session.execute(
            select(MailRow.status, func.count()).group_by(MailRow.status)):
        counts[status] = int(number)
    return counts


def preferences(session: Session, person_id: int) -> dict[str, bool]:
    """Return the kinds a person chose explicitly (True: wanted)."""
    rows = session.execute(
        select(NotificationPreferenceRow.kind, NotificationPreferenceRow.enabled)
        .where(NotificationPreferenceRow.person_id == person_id)).all()
    return {str(kind): bool(enabled) for kind, enabled in rows}


def save_preferences(session: Session, person_id: int, chosen: Mapping[str, bool]) -> None:
    """Replace a person's choices."""
    session.query(NotificationPreferenceRow).filter_by(person_id=person_id).delete()
    session.add_all(NotificationPreferenceRow(person_id=person_id, kind=kind, enabled=on)
                    for kind, on in chosen.items())


_INSERT_EVENTS: dict[str, Any] = {}


def _insert_events(bind: Connection | Session) -> Any:
    """Return "INSERT … ON CONFLICT DO NOTHING" on the event table, built once per dialect."""
    dialect = _dialect(bind)
    statement = _INSERT_EVENTS.get(dialect)
    if statement is None:
        statement = _upsert(bind)(NotificationEventRow.__table__).on_conflict_do_nothing()
        _INSERT_EVENTS[dialect] = statement
    return statement


def _dialect(bind: Connection | Session) -> str:
    if isinstance(bind, Session):
        return bind.get_bind().dialect.name
    return bind.dialect.name


def _upsert(bind: Connection | Session) -> Any:
    if isinstance(bind, Session):
        dialect = bind.get_bind().dialect.name
    else:
        dialect = bind.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    return insert
