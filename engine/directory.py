"""People, positions and passwords: the org directory as the engine uses it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from .assignment import audience_keys
from .errors import InvalidCredentials
from .store import PersonPositionRow, PersonRow, PositionRow
from .views import PersonView

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)


def normalise_title(title: str) -> str:
    """Return a position title with spacing and the ``(a)`` variants made uniform."""
    title = re.sub(r"\s+", " ", title).strip()
    return re.sub(r"(\w)\s*\(\s*(a|as|o|os)\s*\)", r"\1(\2)", title)


class Directory:
    """Reads and writes people and positions inside the caller's session."""

    def __init__(self, hasher: PasswordHasher, role_titles: Mapping[str, frozenset[str]]):
        self.hasher = hasher
        self._dummy_hash = hasher.hash("cauce-timing-equaliser")
        # normalised position title -> the roles whose responsibility tables name it
        self.role_titles = role_titles

    def ensure_position(self, session: Session, title: str, *, source: str,
                        code: str | None = None, unit_code: str | None = None,
                        unit_name: str | None = None) -> PositionRow:
        """Return the position with this code (default: its normalised title), creating it."""
        title = normalise_title(title)
        code = code or title
        row = session.scalars(select(PositionRow).where(PositionRow.code == code)).first()
        if row is None:
            row = PositionRow(code=code, title=title, unit_code=unit_code, unit_name=unit_name,
                              source=source)
            session.add(row)
            session.flush()
        return row

    def create_person(self, session: Session, username: str, full_name: str, *,
                      now: datetime, password: str | None = None, email: str | None = None,
                      positions: Iterable[PositionRow] = ()) -> PersonRow:
        """Add a person holding ``positions``."""
        person = PersonRow(
            username=username, full_name=full_name, email=email, created_at=now,
            password_hash=self.hasher.hash(password) if password else None, active=True,
            failed_logins=0,
        )
        session.add(person)
        session.flush()
        for position in positions:
            session.add(PersonPositionRow(person_id=person.id, position_id=position.id))
        session.flush()
        return person

    def set_password(self, person: PersonRow, password: str) -> None:
        """Replace a person's password and lift any lockout."""
        person.password_hash = self.hasher.hash(password)
        person.failed_logins = 0
        person.locked_until = None

    def authenticate(self, session: Session, username: str, password: str,
                     now: datetime) -> PersonRow:
        """Return the person if the password is right; count failures and lock after too many."""
        person = session.scalars(select(PersonRow).where(PersonRow.username == username)).first()
        if person is None or not person.active or not person.password_hash:
            # Spend the same time as a real check, so timing does not reveal who exists.
            try:
                self.hasher.verify(self._dummy_hash, password)
            except VerificationError:
                pass
            raise InvalidCredentials("Usuario o contraseña incorrectos")
        if person.locked_until is not None and person.locked_until > now:
            raise InvalidCredentials(
                "Cuenta bloqueada temporalmente por intentos fallidos; intente más tarde")
        try:
            self.hasher.verify(person.password_hash, password)
        except (VerificationError, InvalidHashError):
            person.failed_logins += 1
            if person.failed_logins >= MAX_FAILED_LOGINS:
                person.locked_until = now + LOCKOUT
                person.failed_logins = 0
            raise InvalidCredentials("Usuario o contraseña incorrectos") from None
        person.failed_logins = 0
        person.locked_until = None
        if self.hasher.check_needs_rehash(person.password_hash):
            person.password_hash = self.hasher.hash(password)
        return person

    def view(self, session: Session, person: PersonRow) -> PersonView:
        """Return a person with the roles and audience keys their positions give them."""
        rows = session.execute(
            select(PositionRow.code, PositionRow.title)
            .join(PersonPositionRow, PersonPositionRow.position_id == PositionRow.id)
            .where(PersonPositionRow.person_id == person.id)
        ).all()
        roles: set[str] = set()
        for _code, title in rows:
            roles.update(self.role_titles.get(normalise_title(title), ()))
        codes = tuple(sorted(code for code, _ in rows))
        return PersonView(
            id=person.id, username=person.username, full_name=person.full_name,
            roles=frozenset(roles), positions=codes,
            audience=audience_keys(roles, codes),
        )

