"""Demo people: two holders of every role of every procedure, for trying Cauce out."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from .store import PersonRow

# Invented names; any resemblance to real public servants is accidental.
_NAMES = [
    ("lucia.andrade", "Lucía Andrade"), ("jorge.cevallos", "Jorge Cevallos"),
    ("ana.guaman", "Ana Guamán"), ("pablo.reyes", "Pablo Reyes"),
    ("sofia.naranjo", "Sofía Naranjo"), ("diego.paredes", "Diego Paredes"),
    ("carmen.yepez", "Carmen Yépez"), ("luis.quishpe", "Luis Quishpe"),
    ("valeria.mora", "Valeria Mora"), ("andres.tapia", "Andrés Tapia"),
    ("gabriela.ortiz", "Gabriela Ortiz"), ("mateo.salazar", "Mateo Salazar"),
    ("paola.vinueza", "Paola Vinueza"), ("ricardo.loor", "Ricardo Loor"),
    ("daniela.cueva", "Daniela Cueva"), ("fernando.aguirre", "Fernando Aguirre"),
    ("monica.pazmino", "Mónica Pazmiño"), ("esteban.chiriboga", "Esteban Chiriboga"),
    ("isabel.lema", "Isabel Lema"), ("tomas.viteri", "Tomás Viteri"),
    ("rosa.cardenas", "Rosa Cárdenas"), ("hugo.benitez", "Hugo Benítez"),
    ("elena.proano", "Elena Proaño"), ("marco.sandoval", "Marco Sandoval"),
]
PEOPLE_PER_ROLE = 2
# Demo people get <username>@<domain> so that notifications reach someone: point CAUCE_SMTP_HOST
# at a catch-all test server to read them (README, «Directorio y correo de la institución»).
# ``.example`` is reserved (RFC 2606): nothing is ever delivered to a real mailbox by mistake.
DEMO_MAIL_DOMAIN = "demo.cauce.example"
# An overseer (auditor, owner, manager) acts in no case: one per procedure is plenty.
AUDITORS_PER_ROLE = 1
# Roles take names in this order, then any other role alphabetically: a procedure added later
# never renames the demo accounts people already use (the README names some of them).
ROLE_ORDER = ("coordinador_th", "lider_seguridad", "trabajador_social", "procesos", "unidad",
              "planificacion", "maxima_autoridad", "mdt", "auditor_gth", "auditor_carta",
              "propietario_cs", "gestor_cs", "propietario_carta", "gestor_carta")


@dataclass(frozen=True)
class DemoAccount:
    """A demo person; ``password`` is None when the account already existed and was kept."""

    username: str
    full_name: str
    roles: tuple[str, ...]
    password: str | None
    email: str | None = None


def demo_email(username: str, domain: str | None = None) -> str:
    """Return a demo person's e-mail address (``CAUCE_DEMO_MAIL_DOMAIN`` changes the domain)."""
    domain = domain or os.environ.get("CAUCE_DEMO_MAIL_DOMAIN") or DEMO_MAIL_DOMAIN
    return f"{username}@{domain}"


def seed_demo_people(engine: object, password: str | None = None) -> list[DemoAccount]:
    """Create the demo people (idempotent); a given ``password`` is (re)set on all of them."""
    from .api import Engine

    assert isinstance(engine, Engine)
    roles: dict[str, str] = {}
    auditors: set[str] = set()
    # Roles follow positions: whoever sits in a position holds every role that names it
    # (the Coordinador/a General de Talento Humano registers requests and owns the procedure).
    holders: dict[str, set[str]] = {}
    for definition in engine.library.list():
        for role, row in definition.roles().items():
            if row.positions:
                roles.setdefault(role, row.positions[0])
            for title in row.positions:
                holders.setdefault(title, set()).add(role)
        for table in (definition.responsibility, *definition.extra_tables):
            for overseer in table.oversight.values():
                roles.setdefault(overseer.role, overseer.positions[0])
                auditors.add(overseer.role)
                for title in overseer.positions:
                    holders.setdefault(title, set()).add(overseer.role)
    accounts: list[DemoAccount] = []
    names = iter(_NAMES)
    now = engine.clock()
    with engine._writer.begin() as session:
        for role, title in sorted(roles.items(), key=_seeding_order):
            position = engine.directory.ensure_position(session, title, source="demo")
            for _ in range(AUDITORS_PER_ROLE if role in auditors else PEOPLE_PER_ROLE):
                username, full_name = next(names)
                person = session.scalars(
                    select(PersonRow).where(PersonRow.username == username)).first()
                given = password
                email = demo_email(username)
                if person is None:
                    given = password or secrets.token_urlsafe(9)
                    engine.directory.create_person(session, username, full_name, now=now,
                                                   password=given, positions=[position],
                                                   email=email)
                else:
                    if password:
                        engine.directory.set_password(person, password)
                    # An address given since (by an admin, by the directory) is kept.
                    person.email = person.email or email
                    email = person.email
                held = (role, *sorted(holders.get(title, set()) - {role}))
                accounts.append(DemoAccount(username, full_name, held, given, email))
    _seed_demo_certificates(engine, accounts)
    return accounts


def _seed_demo_certificates(engine: object, accounts: list[DemoAccount]) -> None:
    """Give demo people .p12 signing certificates from the demo CA, once it is configured."""
    from .api import Engine
    from .signing import seed_demo_certificates

    assert isinstance(engine, Engine)
    folder = getattr(engine, "signing_demo_dir", None)
    if folder is None:
        return
    with engine._writer.begin() as session:
        seed_demo_certificates(session, folder, accounts, now=engine.clock())


def _seeding_order(item: tuple[str, str]) -> tuple[int, str]:
    role = item[0]
    return (ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER), role)
