"""Sign-in throttling and server-side sessions: plain functions over the caller's session.

Failed attempts are counted under three keys — the client, the (account, client) pair and the
account — and a key over its limit makes callers wait, longer each time, instead of locking the
account: a stranger who guesses wrong slows down only their own client, and the owner signing
in from a client that has not failed on the account is never refused. The answers do not depend
on whether the account exists, so they reveal nothing about who has one.

An attempt is charged *before* its password is checked (and refunded when it was right), in a
short transaction of its own: concurrent guesses cannot all slip past the limit while they are
being hashed, and no write lock is held during the hashing.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from .errors import SignInThrottled
from .store import PersonRow, SignInSessionRow, SignInThrottleRow
from .views import PersonView


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures each key tolerates and how long callers then wait."""

    per_pair: int = 5
    per_client: int = 30
    # Bites only clients that have already failed on the account (see module docstring).
    per_account: int = 20
    first_wait: timedelta = timedelta(minutes=1)
    longest_wait: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=1)

    def wait(self, failures: int, limit: int) -> timedelta | None:
        """Return how long to wait after the ``failures``-th failure (None: no wait yet)."""
        if failures < limit:
            return None
        doublings = min(failures - limit, 16)
        return min(self.first_wait * 2**doublings, self.longest_wait)


@dataclass(frozen=True)
class AttemptKeys:
    """The throttle keys of one sign-in attempt."""

    pair: str
    client: str
    account: str

    @classmethod
    def of(cls, username: str, client: str) -> AttemptKeys:
        """Build the keys from the typed username (existing or not) and the client address."""
        account = username.strip().casefold()[:120]
        client = client[:120] or "-"
        return cls(pair=f"p:{account}\n{client}", client=f"c:{client}", account=f"a:{account}")

    def limits(self, policy: ThrottlePolicy) -> dict[str, int]:
        """Return each key's limit."""
        return {self.pair: policy.per_pair, self.client: policy.per_client,
                self.account: policy.per_account}


@dataclass(frozen=True)
class SignIn:
    """A successful sign-in: the person and the secret their cookie or token carries."""

    person: PersonView
    token: str
    expires_at: datetime


WRONG_CREDENTIALS = "Usuario o contraseña incorrectos"
THROTTLED = "Demasiados intentos fallidos; espere unos minutos y vuelva a intentarlo"


def charge_attempt(session: Session, keys: AttemptKeys, now: datetime,
                   policy: ThrottlePolicy) -> None:
    """Count one attempt as failed before checking it, or raise SignInThrottled if it must wait."""
    rows = _locked_rows(session, keys, now)
    for row in rows.values():
        if row.last_failure_at < now - policy.forget_after:
            row.failures, row.blocked_until = 0, None
    waits = [rows[key].blocked_until for key in (keys.pair, keys.client)]
    if rows[keys.pair].failures > 0:
        waits.append(rows[keys.account].blocked_until)
    until = max((w for w in waits if w is not None and w > now), default=None)
    if until is not None:
        raise SignInThrottled(THROTTLED, retry_after=max(1, int(
            (until - now).total_seconds() + 0.999)))
    for key, limit in keys.limits(policy).items():
        row = rows[key]
        row.failures += 1
        row.last_failure_at = now
        wait = policy.wait(row.failures, limit)
        row.blocked_until = now + wait if wait is not None else None
    session.flush()
    # Forgotten keys go, so guessing random names cannot grow the table without bound.
    session.execute(delete(SignInThrottleRow).where(
        SignInThrottleRow.last_failure_at < now - policy.forget_after))


def refund_attempt(session: Session, keys: AttemptKeys, policy: ThrottlePolicy) -> None:
    """Undo the charge of an attempt that was right: the pair starts afresh."""
    rows = _locked_rows(session, keys, None)
    for key, limit in keys.limits(policy).items():
        row = rows.get(key)
        if row is None:
            continue
        row.failures = 0 if key == keys.pair else max(row.failures - 1, 0)
        if row.failures < limit:
            row.blocked_until = None


def _locked_rows(session: Session, keys: AttemptKeys,
                 now: datetime | None) -> dict[str, SignInThrottleRow]:
    """Return the keys' rows, locked until commit (created first when ``now`` is given)."""
    wanted = sorted({keys.pair, keys.client, keys.account})
    if now is None:
        return _select_locked(session, wanted)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    # A concurrent attempt may delete a forgotten key between the insert and the lock (only
    # possible on PostgreSQL, where writers run side by side): insert it again.
    for _attempt in range(3):
        # One statement, keys in order: concurrent attempts wait for each other, never deadlock.
        session.execute(upsert(SignInThrottleRow).values(
            [{"key": key, "failures": 0, "last_failure_at": now} for key in wanted]
        ).on_conflict_do_nothing())
        rows = _select_locked(session, wanted)
        if len(rows) == len(wanted):
            return rows
    raise RuntimeError("sign-in throttle rows keep disappearing")


def _select_locked(session: Session, keys: list[str]) -> dict[str, SignInThrottleRow]:
    rows = session.scalars(select(SignInThrottleRow).where(SignInThrottleRow.key.in_(keys))
                           .order_by(SignInThrottleRow.key).with_for_update()).all()
    return {row.key: row for row in rows}


# -- sessions ------------------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def open_session(session: Session, person_id: int, *, kind: str, now: datetime,
                 lifetime: timedelta) -> tuple[str, datetime]:
    """Record a new session; return its secret and when it expires."""
    token = secrets.token_urlsafe(32)
    expires_at = now + lifetime
    session.execute(delete(SignInSessionRow).where(
        SignInSessionRow.person_id == person_id, SignInSessionRow.expires_at < now))
    session.add(SignInSessionRow(token_hash=_digest(token), person_id=person_id, kind=kind,
                                 created_at=now, expires_at=expires_at))
    session.flush()
    return token, expires_at


def find_session_person(session: Session, token: str,
                        now: datetime) -> tuple[PersonRow, datetime] | None:
    """Return the person of a live session and when it expires, or None (one statement)."""
    found = session.execute(
        select(PersonRow, SignInSessionRow.expires_at)
        .join(SignInSessionRow, SignInSessionRow.person_id == PersonRow.id)
        .where(SignInSessionRow.token_hash == _digest(token),
               SignInSessionRow.revoked_at.is_(None), SignInSessionRow.expires_at > now)
    ).first()
    return (found[0], found[1]) if found is not None else None


def end_session(session: Session, token: str, now: datetime) -> None:
    """End one session (sign-out)."""
    session.execute(update(SignInSessionRow).where(
        SignInSessionRow.token_hash == _digest(token), SignInSessionRow.revoked_at.is_(None),
    ).values(revoked_at=now))


def end_other_sessions(session: Session, person_id: int, now: datetime,
                       keep: str | None) -> int:
    """End every session of a person but ``keep``; return how many ended."""
    query = update(SignInSessionRow).where(
        SignInSessionRow.person_id == person_id, SignInSessionRow.revoked_at.is_(None))
    if keep is not None:
        query = query.where(SignInSessionRow.token_hash != _digest(keep))
    return int(session.execute(query.values(revoked_at=now)).rowcount)  # type: ignore[attr-defined]


class SessionCache:
    """Remembers for a few seconds whose a live session is, so a request needs no lookup.

    Every API call and page carries its session's secret; looking it up (session, person, their
    positions) costs three round trips, a third of a completion's statements. This process
    forgets an entry at once when it ends the session or changes the person's password; another
    process keeps answering from its own entry until ``seconds`` pass, so a session ended (or a
    person deactivated) elsewhere keeps working there for at most that long. A few seconds is the
    trade: shorter than any human sign-out-then-reuse, and the session's own expiry is always
    checked. ``seconds=0`` turns the cache off.
    """

    def __init__(self, seconds: float = 3.0, size: int = 4096,
                 monotonic: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.size = size
        self._monotonic = monotonic
        # secret's digest -> (person, session's expiry, moment the entry goes stale)
        self._entries: OrderedDict[str, tuple[PersonView, datetime, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str, now: datetime) -> PersonView | None:
        """Return the session's person if remembered, fresh and not expired; else None."""
        if self.seconds <= 0:
            return None
        key = _digest(token)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            person, expires_at, stale_at = entry
            if expires_at <= now or stale_at <= self._monotonic():
                del self._entries[key]
                return None
            return person

    def put(self, token: str, person: PersonView, expires_at: datetime) -> None:
        """Remember a session's person, just read from the database."""
        if self.seconds <= 0:
            return
        key = _digest(token)
        with self._lock:
            self._entries[key] = (person, expires_at, self._monotonic() + self.seconds)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, token: str) -> None:
        """Drop one session (it was just ended)."""
        with self._lock:
            self._entries.pop(_digest(token), None)

    def forget_person(self, person_id: int) -> None:
        """Drop every session of a person (their password or standing changed)."""
        with self._lock:
            for key in [k for k, (p, _, _) in self._entries.items() if p.id == person_id]:
                del self._entries[key]

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._entries.clear()
