"""Signing in against the institution's directory (LDAP / Active Directory) with ``ldap3``.

Search-then-bind (a service account finds the person's entry, then the person's own password
binds as that entry) or, with no service account, a direct bind through a DN template. StartTLS
or LDAPS with a CA file. The person's directory groups (``memberOf`` or ``groupOfNames``
members) and attributes (``title``, ``department``…) map to Cauce positions, so their roles
follow the directory at every sign-in: positions that came from the directory are marked
``source="ldap"`` and only those are added or removed; positions given locally stay.

Who signs in where: a person with a local Cauce password (demo people, break-glass admins)
signs in locally, without asking the directory, so they still can while it is down; everyone
else (unknown usernames and people created by the directory) through the directory.

Throttling is the same as for local passwords (``sign_in.charge_attempt`` first, in a short
write of its own); no transaction is open while the directory is asked.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import ForeignKey, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import sign_in
from .directory import Directory
from .errors import CauceError, InvalidCredentials
from .store import Base, PersonPositionRow, PersonRow

T = TypeVar("T")

LDAP_SOURCE = "ldap"
DIRECTORY_DOWN = ("No se pudo contactar el directorio institucional (LDAP); vuelva a intentarlo "
                  "en unos minutos. Si es urgente, use una cuenta local de emergencia.")
ACCOUNT_DISABLED = ("Su cuenta está deshabilitada en el directorio institucional; "
                    "consulte con Tecnologías de la Información")


class DirectoryAssignmentRow(Base):
    """A position a person holds because the directory says so (re-read at each sign-in)."""

    __tablename__ = "directory_assignment"
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    position_id: Mapped[int] = mapped_column(ForeignKey("position.id"), primary_key=True)
    synced_at: Mapped[datetime]


class DirectoryUnavailable(CauceError):
    """The directory did not answer (down, unreachable, TLS refused)."""

    code = "directory_unavailable"


class DirectoryMisconfigured(CauceError):
    """The directory settings cannot be used (e.g. a position map that is not valid JSON)."""

    code = "directory_misconfigured"


@dataclass(frozen=True)
class PositionMap:
    """Directory groups and attribute values -> Cauce position titles."""

    # group DN (case-insensitive) -> position titles
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # attribute name -> value (case-insensitive) -> position titles
    attributes: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    @classmethod
    def load(cls, value: str | Mapping[str, Any] | None) -> PositionMap:
        """Read the map from a mapping, JSON text, or the path of a JSON file."""
        if not value:
            return cls()
        if isinstance(value, str):
            text = value.strip()
            if not text.startswith("{"):
                try:
                    text = Path(text).read_text(encoding="utf-8")
                except OSError as error:
                    raise DirectoryMisconfigured(
                        f"CAUCE_LDAP_POSITION_MAP: no se pudo leer el archivo {value}: "
                        f"{error.strerror}") from None
            try:
                value = json.loads(text)
            except json.JSONDecodeError as error:
                raise DirectoryMisconfigured(
                    f"CAUCE_LDAP_POSITION_MAP no es JSON válido (línea {error.lineno}: "
                    f"{error.msg})") from None
        assert isinstance(value, Mapping)
        return cls(
            groups={dn.casefold(): tuple(titles)
                    for dn, titles in (value.get("groups") or {}).items()},
            attributes={name: {v.casefold(): tuple(t) for v, t in values.items()}
                        for name, values in (value.get("attributes") or {}).items()})

    def positions(self, groups: Iterable[str],
                  attributes: Mapping[str, Iterable[str]]) -> tuple[str, ...]:
        """Return the position titles a person with these groups and attributes holds."""
        titles: set[str] = set()
        for dn in groups:
            titles.update(self.groups.get(dn.casefold(), ()))
        for name, values in attributes.items():
            table = self.attributes.get(name, {})
            for value in values:
                titles.update(table.get(str(value).casefold(), ()))
        return tuple(sorted(titles))


@dataclass(frozen=True)
class LdapSettings:
    """How to reach the directory and read a person's entry; see the README."""

    url: str
    user_base: str = ""
    user_filter: str = "(uid={username})"
    bind_dn: str = ""
    bind_password: str = ""
    # Direct bind (no service account): e.g. "uid={username},ou=people,dc=iess,dc=gob,dc=ec"
    # or "{username}@iess.gob.ec" for Active Directory.
    bind_template: str = ""
    group_base: str = ""
    start_tls: bool = True
    ca_file: str | None = None
    disabled_group: str = ""
    position_map: PositionMap = field(default_factory=PositionMap)
    name_attribute: str = "cn"
    mail_attribute: str = "mail"
    timeout: float = 5.0

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> LdapSettings | None:
        """Read ``CAUCE_LDAP_*`` keys; None when no URL is set (directory sign-in off)."""
        def text(key: str, default: str = "") -> str:
            value = config.get(key)
            return default if value in (None, "") else str(value)

        url = text("CAUCE_LDAP_URL")
        if not url:
            return None
        return cls(
            url=url, user_base=text("CAUCE_LDAP_USER_BASE"),
            user_filter=text("CAUCE_LDAP_USER_FILTER", "(uid={username})"),
            bind_dn=text("CAUCE_LDAP_BIND_DN"), bind_password=text("CAUCE_LDAP_BIND_PASSWORD"),
            bind_template=text("CAUCE_LDAP_BIND_TEMPLATE"),
            group_base=text("CAUCE_LDAP_GROUP_BASE"),
            start_tls=text("CAUCE_LDAP_START_TLS", "1").lower() not in ("0", "false", "no"),
            ca_file=text("CAUCE_LDAP_CA_FILE") or None,
            disabled_group=text("CAUCE_LDAP_DISABLED_GROUP"),
            position_map=PositionMap.load(config.get("CAUCE_LDAP_POSITION_MAP")),
            timeout=float(text("CAUCE_LDAP_TIMEOUT", "5")))


@dataclass(frozen=True)
class DirectoryAccount:
    """A person as the directory describes them, after their password bound."""

    username: str
    dn: str
    full_name: str
    email: str | None
    positions: tuple[str, ...]


def authenticate(settings: LdapSettings, username: str, password: str) -> DirectoryAccount:
    """Bind as the person; return their entry, or raise InvalidCredentials/DirectoryUnavailable."""
    import ldap3
    from ldap3.core.exceptions import LDAPException
    from ldap3.utils.conv import escape_filter_chars

    # An empty password would make an "unauthenticated bind", which many servers accept.
    if not username or not password:
        raise InvalidCredentials(sign_in.WRONG_CREDENTIALS)
    host = urlsplit(settings.url).hostname or ""
    _replace_hostname_check()
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=settings.ca_file, sni=host)
    server = ldap3.Server(settings.url, use_ssl=settings.url.startswith("ldaps://"), tls=tls,
                          connect_timeout=max(1, int(settings.timeout)), get_info=ldap3.NONE)
    wanted = ["cn", "displayName", settings.name_attribute, settings.mail_attribute,
              "memberOf", *settings.position_map.attributes]
    query = settings.user_filter.replace("{username}", escape_filter_chars(username))
    opened: list[Any] = []

    def connect(user: str, secret: str) -> Any:
        connection = ldap3.Connection(server, user=user, password=secret,
                                      receive_timeout=max(1, int(settings.timeout)),
                                      raise_exceptions=False, auto_bind=ldap3.AUTO_BIND_NONE)
        opened.append(connection)
        connection.open()
        if settings.start_tls and not settings.url.startswith("ldaps://"):
            connection.start_tls()
        return connection

    def entry(connection: Any) -> dict[str, Any]:
        connection.search(settings.user_base, query, attributes=wanted)
        found = [e for e in connection.response or () if e.get("type") == "searchResEntry"]
        if len(found) != 1:
            raise InvalidCredentials(sign_in.WRONG_CREDENTIALS)
        return dict(found[0])

    try:
        if settings.bind_dn:
            reader = connect(settings.bind_dn, settings.bind_password)
            if not reader.bind():
                raise DirectoryUnavailable(DIRECTORY_DOWN)
            found = entry(reader)
            if not connect(found["dn"], password).bind():
                raise InvalidCredentials(sign_in.WRONG_CREDENTIALS)
        else:
            reader = connect(settings.bind_template.replace("{username}", username), password)
            if not reader.bind():
                raise InvalidCredentials(sign_in.WRONG_CREDENTIALS)
            found = entry(reader)
        dn, attributes = str(found["dn"]), found["attributes"]
        groups = {str(g) for g in _values(attributes, "memberOf")}
        if settings.group_base:
            member = escape_filter_chars(dn)
            reader.search(settings.group_base,
                          f"(|(member={member})(uniqueMember={member}))", attributes=[])
            groups.update(e["dn"] for e in reader.response or ()
                          if e.get("type") == "searchResEntry")
    except (LDAPException, OSError) as error:
        raise DirectoryUnavailable(DIRECTORY_DOWN) from error
    finally:
        for connection in opened:
            _close(connection)
    if settings.disabled_group and settings.disabled_group.casefold() in {
            g.casefold() for g in groups}:
        raise InvalidCredentials(ACCOUNT_DISABLED)
    values = {name: [str(v) for v in _values(attributes, name)]
              for name in settings.position_map.attributes}
    names = (_values(attributes, "displayName") or _values(attributes, settings.name_attribute)
             or [username])
    mails = _values(attributes, settings.mail_attribute)
    return DirectoryAccount(username=username, dn=dn, full_name=str(names[0])[:200],
                            email=str(mails[0])[:200] if mails else None,
                            positions=settings.position_map.positions(groups, values))


def _close(connection: Any) -> None:
    try:
        if connection.bound:
            connection.unbind()
    except Exception:  # noqa: BLE001 — closing after a failure must not hide the failure
        pass
    if connection.socket is not None:
        connection.socket.close()
        connection.socket = None
    connection.closed = True


def _replace_hostname_check() -> None:
    """Give ldap3 a host-name check of its own.

    ldap3 2.9.1 checks the server's certificate names with ``ssl.match_hostname``, deprecated
    since Python 3.7 and gone in 3.12; OpenSSL has already verified the chain against the CA
    file by then, so only the names are left to compare.
    """
    from ldap3.core import tls as ldap3_tls

    ldap3_tls.match_hostname = _match_hostname


def _match_hostname(certificate: Mapping[str, Any], host: str) -> None:
    from ldap3.core.tls import CertificateError

    names = [value for kind, value in certificate.get("subjectAltName", ())
             if kind in ("DNS", "IP Address")]
    try:
        wanted = ipaddress.ip_address(host).compressed
        ok = any(_same_address(name, wanted) for name in names)
    except ValueError:
        host = host.casefold()
        ok = any(name.casefold() == host or (
            name.startswith("*.") and host.partition(".")[2] == name[2:].casefold())
            for name in names)
    if not ok:
        raise CertificateError(f"the certificate does not name {host}")


def _same_address(name: str, wanted: str) -> bool:
    try:
        return ipaddress.ip_address(name.strip()).compressed == wanted
    except ValueError:
        return False


def _values(attributes: Mapping[str, Any], name: str) -> list[Any]:
    value = attributes.get(name)
    if value is None or value == []:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def signs_in_locally(session: Session, username: str) -> bool:
    """Tell whether ``username`` is a local account (it has a Cauce password)."""
    row = session.scalars(select(PersonRow).where(PersonRow.username == username)).first()
    return row is not None and bool(row.password_hash)


def sync_person(session: Session, directory: Directory, account: DirectoryAccount,
                now: datetime) -> PersonRow:
    """Create the person on first sign-in; make their directory positions match the entry."""
    person = session.scalars(select(PersonRow).where(
        PersonRow.username == account.username)).first()
    if person is None:
        person = directory.create_person(session, account.username, account.full_name,
                                         now=now, email=account.email)
    elif not person.active or person.password_hash:
        # Deactivated in Cauce, or became a local account meanwhile: not the directory's.
        raise InvalidCredentials(sign_in.WRONG_CREDENTIALS)
    else:
        person.full_name, person.email = account.full_name, account.email
    wanted = {directory.ensure_position(session, title, source=LDAP_SOURCE).id
              for title in account.positions}
    # Positions the directory gave earlier (a position row may be shared with local holders:
    # the assignment, not the position, says where it came from).
    given = set(session.scalars(select(DirectoryAssignmentRow.position_id).where(
        DirectoryAssignmentRow.person_id == person.id)))
    held = set(session.scalars(select(PersonPositionRow.position_id).where(
        PersonPositionRow.person_id == person.id)))
    gone = sorted(given - wanted)
    if gone:
        session.execute(delete(PersonPositionRow).where(
            PersonPositionRow.person_id == person.id, PersonPositionRow.position_id.in_(gone)))
        session.execute(delete(DirectoryAssignmentRow).where(
            DirectoryAssignmentRow.person_id == person.id,
            DirectoryAssignmentRow.position_id.in_(gone)))
    session.add_all(PersonPositionRow(person_id=person.id, position_id=pid)
                    for pid in sorted(wanted - held))
    session.add_all(DirectoryAssignmentRow(person_id=person.id, position_id=pid, synced_at=now)
                    for pid in sorted(wanted - given))
    session.flush()
    return person


def sign_in_with_directory(
        writer: Any, settings: LdapSettings, directory: Directory,
        throttle: sign_in.ThrottlePolicy, now: Callable[[], datetime], username: str,
        password: str, client: str, then: Callable[[Session, PersonRow], T]) -> T:
    """Throttle, ask the directory (no transaction open), then sync the person and ``then``."""
    keys = sign_in.AttemptKeys.of(username, client)
    with writer.begin() as session:
        sign_in.charge_attempt(session, keys, now(), throttle)
    try:
        account = authenticate(settings, username, password)
    except DirectoryUnavailable:
        # Not the person's fault: the attempt does not count against them.
        with writer.begin() as session:
            sign_in.refund_attempt(session, keys, throttle)
        raise
    with writer.begin() as session:
        sign_in.refund_attempt(session, keys, throttle)
        person = sync_person(session, directory, account, now())
        return then(session, person)
