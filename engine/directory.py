"""People, positions and passwords: the org directory as the engine uses it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from .assignment import audience_keys
from .store import PersonPositionRow, PersonRow, PositionRow
from .views import PersonView

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024


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
        """Replace a person's password."""
        person.password_hash = self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Tell whether ``password`` matches; without a hash, spend the same time and say no."""
        if len(password) > MAX_PASSWORD_LENGTH:
            return False  # argon2 would hash all of it; nobody's password is this long
        try:
            # A missing account costs a real check too, so timing does not reveal who exists.
            matched = self.hasher.verify(password_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return matched and password_hash is not None

    def find_for_sign_in(self, session: Session, username: str) -> PersonRow | None:
        """Return the active person with a password who signs in with ``username``, or None."""
        person = session.scalars(select(PersonRow).where(PersonRow.username == username)).first()
        if person is None or not person.active or not person.password_hash:
            return None
        return person

    def password_problem(self, username: str, new_password: str) -> str | None:
        """Return why ``new_password`` is refused for ``username``, or None if it is acceptable."""
        if len(new_password) < MIN_PASSWORD_LENGTH:
            return f"La contraseña nueva debe tener al menos {MIN_PASSWORD_LENGTH} caracteres"
        if len(new_password) > MAX_PASSWORD_LENGTH:
            return f"La contraseña nueva admite hasta {MAX_PASSWORD_LENGTH} caracteres"
        if new_password.strip().casefold() == username.strip().casefold():
            return "La contraseña nueva no puede ser su nombre de usuario"
        return None

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

