"""Demo people: two holders of every role of every procedure, for trying Cauce out."""

from __future__ import annotations

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
]
PEOPLE_PER_ROLE = 2
# An auditor reads every case of a procedure and acts in none: one per procedure is plenty.
AUDITORS_PER_ROLE = 1
# Roles take names in this order, then any other role alphabetically: a procedure added later
# never renames the demo accounts people already use (the README names some of them).
ROLE_ORDER = ("coordinador_th", "lider_seguridad", "trabajador_social", "procesos", "unidad",
              "planificacion", "maxima_autoridad", "mdt", "auditor_gth", "auditor_carta")


@dataclass(frozen=True)
class DemoAccount:
    """A demo person; ``password`` is None when the account already existed and was kept."""

    username: str
    full_name: str
    roles: tuple[str, ...]
    password: str | None


def seed_demo_people(engine: object, password: str | None = None) -> list[DemoAccount]:
    """Create the demo people (idempotent); a given ``password`` is (re)set on all of them."""
    from .api import Engine

    assert isinstance(engine, Engine)
    roles: dict[str, str] = {}
    auditors: set[str] = set()
    for definition in engine.library.list():
        for role, row in definition.roles().items():
            if row.positions:
                roles.setdefault(role, row.positions[0])
        for table in (definition.responsibility, *definition.extra_tables):
            for overseer in table.oversight.values():
                roles.setdefault(overseer.role, overseer.positions[0])
                auditors.add(overseer.role)
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
                if person is None:
                    given = password or secrets.token_urlsafe(9)
                    engine.directory.create_person(session, username, full_name, now=now,
                                                   password=given, positions=[position])
                elif password:
                    engine.directory.set_password(person, password)
                accounts.append(DemoAccount(username, full_name, (role,), given))
    return accounts


def _seeding_order(item: tuple[str, str]) -> tuple[int, str]:
    role = item[0]
    return (ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER), role)
