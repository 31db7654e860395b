"""The organisation data in the database: org directory (001), services (002), indicators (004).

The three seed texts are parsed with ``engine.seeds`` and written idempotently, one transaction
per file; the read functions return frozen dataclasses for the web layer and the SLA forms.

Rules worth knowing:

- **Repeated process codes (001).** Art. 8 numbers two units ``5.4.1``: *Gestión Nacional de
  Patrocinio* and, added by Res. C.D. 583 (2019), *Subprocuraduría*. Both are kept. The first
  unit in source order keeps the code; each later one gets the code with the Latin ordinal
  suffix legislation uses for inserted provisions (``5.4.1bis``, then ``ter``…). The code as
  printed stays in ``printed_code``.
- **Which org unit a 002 or 004 unit is.** 001 names units by process (*Gestión Nacional de
  Procesos*), 002 and 004 by office (*Dirección Nacional de Procesos*). The office name is
  derived from the unit's responsible position (*Director(a)* → *Dirección*, *Subdirector(a)*
  → *Subdirección*, *Coordinador(a)* → *Coordinación*, …), from its provincial alternative unit,
  and from its own name; names are compared as sets of accent-folded, crudely stemmed words
  (so *Proceso*/*Procesos*, *Financiero*/*Financiera* agree). A 004 sub-unit must also lie in
  the same Art. 8 branch as its parent's org unit. Units with no counterpart in Art. 8 (zones,
  hospitals, committees, units created after the regulation) keep ``org_code`` empty.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from .directory import normalise_title
from .errors import CauceError, NotFound
from .seeds import (
    IndicatorUnit,
    Objective,
    OrgUnit,
    Project,
    Risk,
    Strategy,
    Target,
    parse_indicator_catalogue,
    parse_org_directory,
    parse_service_catalogue,
)
from .seeds.service_catalogue import slugify
from .store import Base, PositionRow

if TYPE_CHECKING:
    from .api import Engine

Progress = Callable[[str, int, int], None]
_T = TypeVar("_T")

POSITION_SOURCE = "seed:001"
INSTITUTION = "Instituto Ecuatoriano de Seguridad Social"
SEED_FILES = {
    "001": "directorio orgánico",
    "002": "portafolio de servicios",
    "004": "catálogo de indicadores",
}
_ORDINAL_SUFFIXES = ("bis", "ter", "quater", "quinquies", "sexies")
_ORG_CODE_RE = re.compile(r"^\d+(?:\.\d+)*(?:[a-z]+)?$")


class SeedsMissing(CauceError):
    """The seeds folder, or one of the three seed files in it, is not there."""

    code = "seeds_missing"


class ExactDecimal(TypeDecorator[Decimal]):
    """Decimals stored exactly: ``NUMERIC`` on PostgreSQL, text on SQLite.

    SQLite has no decimal type and would keep ``Numeric`` as a float, so 1483145584.71 would
    come back as 1483145584.7100000381 and every re-import would see a change.
    """

    impl = Numeric(asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


# -- tables -----------------------------------------------------------------------------------


class OrgUnitRow(Base):
    """An Art. 8 unit of the organic regulation (001) with its responsible position."""

    __tablename__ = "org_unit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    printed_code: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(300))
    parent_code: Mapped[str | None] = mapped_column(String(40), index=True)
    responsible: Mapped[str | None] = mapped_column(String(300))
    responsible_unit: Mapped[str | None] = mapped_column(String(300))
    # position.code, not a foreign key: a schema dropped without this module loaded must
    # still be able to drop the position table.
    position_code: Mapped[str | None] = mapped_column(String(300), index=True)
    mission: Mapped[str | None] = mapped_column(Text)


class ServiceUnitRow(Base):
    """One of the seven numbered units responsible for services (002)."""

    __tablename__ = "service_unit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    org_code: Mapped[str | None] = mapped_column(String(40))


class UserGroupRow(Base):
    """A group of users the services are for (002)."""

    __tablename__ = "user_group"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)


class ServiceRow(Base):
    """An institutional service (002); the services the SLA procedures work on."""

    __tablename__ = "service"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(200), unique=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    responsible_unit_id: Mapped[int | None] = mapped_column(ForeignKey("service_unit.id"))


class ServiceUserGroupRow(Base):
    """Which user groups a service is for."""

    __tablename__ = "service_user_group"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id"))
    user_group_id: Mapped[int] = mapped_column(ForeignKey("user_group.id"), index=True)
    __table_args__ = (UniqueConstraint("service_id", "user_group_id"),)


class IndicatorUnitRow(Base):
    """A unit of the 2025 results sheets (004), all its headings merged; lists kept as JSON."""

    __tablename__ = "indicator_unit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The heading path joined by " > ": names repeat (24 "Unidad Provincial de Planificación").
    path_key: Mapped[str] = mapped_column(String(1000), unique=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(300))
    name_key: Mapped[str] = mapped_column(String(300), index=True)
    search_key: Mapped[str] = mapped_column(String(1000))
    path: Mapped[list[str]] = mapped_column(JSON)
    depth: Mapped[int] = mapped_column(Integer)
    headings: Mapped[int] = mapped_column(Integer)
    is_institution: Mapped[bool] = mapped_column(Boolean)
    org_code: Mapped[str | None] = mapped_column(String(40), index=True)
    attributions: Mapped[list[str]] = mapped_column(JSON)
    objectives: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    strategies: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    risks: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    projects: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class IndicatorRow(Base):
    """An indicator of a unit (004); codes repeat across units, so the key is unit + order."""

    __tablename__ = "indicator"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("indicator_unit.id"))
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(20))
    code: Mapped[str | None] = mapped_column(String(60), index=True)
    name: Mapped[str] = mapped_column(Text)
    behaviour: Mapped[str | None] = mapped_column(String(20))
    target_kind: Mapped[str | None] = mapped_column(String(20))
    periodicity: Mapped[str | None] = mapped_column(String(20))
    objective: Mapped[str | None] = mapped_column(String(20))
    targets_open: Mapped[bool] = mapped_column(Boolean)
    surplus_values: Mapped[list[str]] = mapped_column(JSON)
    __table_args__ = (UniqueConstraint("unit_id", "seq"),)


class IndicatorTargetRow(Base):
    """The 2025 target of an indicator for one period (value empty when the sheet has none)."""

    __tablename__ = "indicator_target"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicator.id"))
    seq: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(20))
    value: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    __table_args__ = (UniqueConstraint("indicator_id", "seq"),)


# -- views --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgUnitView:
    """An org-directory unit: code, name, parent, responsible position and mission."""

    code: str
    printed_code: str
    name: str
    parent_code: str | None
    responsible: str | None
    position_code: str | None
    responsible_unit: str | None
    mission: str | None


@dataclass(frozen=True)
class ResponsibleUnitView:
    """A 002 responsible unit and, when matched, its org-directory unit."""

    number: int
    name: str
    description: str
    org_code: str | None
    org_name: str | None


@dataclass(frozen=True)
class UserGroupView:
    """A 002 user group."""

    code: str
    name: str
    description: str


@dataclass(frozen=True)
class ServiceView:
    """A 002 institutional service with its responsible unit and user groups, if known."""

    code: str
    name: str
    description: str
    responsible_unit: int | None
    responsible_unit_name: str | None
    user_groups: tuple[str, ...]


@dataclass(frozen=True)
class IndicatorView:
    """A 004 indicator with its unit and its 2025 targets in period order."""

    code: str | None
    number: str
    name: str
    behaviour: str | None
    target_kind: str | None
    periodicity: str | None
    objective: str | None
    targets_open: bool
    targets: tuple[Target, ...]
    surplus_values: tuple[Decimal, ...]
    unit_name: str
    unit_path: tuple[str, ...]
    unit_org_code: str | None


@dataclass(frozen=True)
class IndicatorUnitView:
    """A 004 unit: where it sits, its org unit if matched, and its planning lists."""

    name: str
    path: tuple[str, ...]
    headings: int
    is_institution: bool
    org_code: str | None
    attributions: tuple[str, ...]
    objectives: tuple[Objective, ...]
    strategies: tuple[Strategy, ...]
    risks: tuple[Risk, ...]
    projects: tuple[Project, ...]
    indicator_count: int


@dataclass(frozen=True)
class KindCount:
    """What an import did to one kind of row."""

    kind: str
    label: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    @property
    def total(self) -> int:
        """Rows of this kind after the import."""
        return self.created + self.updated + self.unchanged


@dataclass(frozen=True)
class ImportSummary:
    """Counts per kind, lines the parsers could not place, and notes on the rules applied."""

    kinds: tuple[KindCount, ...]
    unplaced: tuple[str, ...]
    notes: tuple[str, ...]
    files: tuple[str, ...]
    seconds: float

    def count(self, kind: str) -> KindCount:
        """The counts of one kind (e.g. ``"indicators"``)."""
        for item in self.kinds:
            if item.kind == kind:
                return item
        raise KeyError(kind)

    @property
    def changes(self) -> int:
        """Rows created, updated or deleted, all kinds together."""
        return sum(k.created + k.updated + k.deleted for k in self.kinds)


KIND_LABELS = {
    "positions": "Puestos (001)",
    "org_units": "Unidades orgánicas (001)",
    "responsible_units": "Unidades responsables (002)",
    "user_groups": "Grupos de usuarios (002)",
    "services": "Servicios (002)",
    "service_user_groups": "Servicios × grupos de usuarios (002)",
    "indicator_units": "Unidades con indicadores (004)",
    "indicators": "Indicadores (004)",
    "targets": "Metas por período (004)",
}


@dataclass
class _Counter:
    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def freeze(self) -> KindCount:
        return KindCount(self.kind, KIND_LABELS[self.kind], self.created, self.updated,
                         self.unchanged, self.deleted)


@dataclass
class _Deletes:
    """Row ids to delete once every table of a file is written, children first."""

    by_model: list[tuple[type[Base], list[int]]] = field(default_factory=list)

    def add(self, model: type[Base], ids: list[int]) -> None:
        if ids:
            self.by_model.append((model, ids))

    def apply(self, session: Session) -> None:
        for model, ids in reversed(self.by_model):
            column = model.__table__.c.id
            for start in range(0, len(ids), 500):
                session.execute(delete(model).where(column.in_(ids[start:start + 500])))


# -- text matching ------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower-case, accent-free, single-spaced text for matching names."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return " ".join(plain.lower().split())


_STOPWORDS = frozenset({"de", "del", "la", "las", "los", "el", "y", "en", "al", "a", "as", "o",
                        "os", "e", "gestion"})
# The office a position heads: "Director(a) Nacional de X" heads the "Dirección Nacional de X".
_OFFICE_OF_POSITION = {
    "director": "direccion", "directora": "direccion",
    "subdirector": "subdireccion", "subdirectora": "subdireccion",
    "coordinador": "coordinacion", "coordinadora": "coordinacion",
    "coordinadores": "coordinacion",
    "procurador": "procuraduria", "subprocurador": "subprocuraduria",
    "auditor": "auditoria", "prosecretario": "prosecretaria",
    "unidad": "unidad", "centros": "centro",
}


def _stem(word: str) -> str:
    # Crude on purpose: it only has to make singular/plural and gender variants agree.
    if len(word) > 3 and word.endswith("s"):
        word = word[:-1]
    if len(word) > 3 and word[-1] in "aeo":
        word = word[:-1]
    return word


def _office_words(title: str, *, position: bool) -> tuple[str, frozenset[str]] | None:
    """(office kind, content words) of a unit name or, with ``position``, a position title."""
    words = re.findall(r"[a-z]+", fold(title))
    if words and words[0] == "miembros":  # "Miembros de la Comisión …" heads the Comisión
        words = [w for w in words[1:] if w not in _STOPWORDS]
        position = False
    if not words:
        return None
    head, rest = words[0], words[1:]
    kind = _OFFICE_OF_POSITION.get(head) if position else head
    if kind is None:
        return None
    return kind, frozenset(_stem(w) for w in rest if w not in _STOPWORDS)


@dataclass(frozen=True)
class _Alias:
    code: str
    kind: str
    words: frozenset[str]


class _OrgMatcher:
    """Finds the org-directory unit a 002 or 004 unit name refers to (see the module doc)."""

    def __init__(self, units: Sequence[tuple[str, OrgUnit]]):
        self.aliases: list[_Alias] = []
        for code, unit in units:
            found = [
                _office_words(unit.responsible, position=True) if unit.responsible else None,
                _office_words(unit.responsible_unit, position=False)
                if unit.responsible_unit else None,
                _office_words(unit.name, position=False),
            ]
            for item in found:
                if item is not None and item[1]:
                    self.aliases.append(_Alias(code, item[0], item[1]))

    def match(self, name: str, within: str | None = None) -> str | None:
        """The org code for ``name``; with ``within``, only codes in that top-level branch."""
        office = _office_words(name, position=False)
        if office is None or not office[1]:
            return None
        kind, words = office
        best: tuple[tuple[bool, bool, float], str] | None = None
        for alias in self.aliases:
            if alias.kind != kind:
                continue
            if within is not None and alias.code.split(".")[0] != within.split(".")[0]:
                continue
            shared = len(words & alias.words)
            if not shared:
                continue
            subset = words <= alias.words or alias.words <= words
            jaccard = shared / len(words | alias.words)
            if not subset and jaccard < 0.6:
                continue
            score = (words == alias.words, subset, jaccard)
            if best is None or score > best[0]:
                best = (score, alias.code)
        return best[1] if best else None


# -- import -------------------------------------------------------------------------------------


def find_seed_files(seeds_dir: str | Path) -> dict[str, Path]:
    """The 001, 002 and 004 seed files of a folder (``NNN_<hash>.txt``), or SeedsMissing."""
    folder = Path(seeds_dir)
    if not str(seeds_dir).strip() or not folder.is_dir():
        raise SeedsMissing(f"No existe la carpeta de semillas {str(seeds_dir)!r}")
    files: dict[str, Path] = {}
    for prefix, what in SEED_FILES.items():
        found = sorted(folder.glob(f"{prefix}_*.txt"))
        if not found:
            raise SeedsMissing(f"Falta el archivo {prefix}_*.txt ({what}) en {folder}")
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise SeedsMissing(f"Hay varios archivos {prefix}_*.txt en {folder} ({names}); "
                               "deje solo uno")
        files[prefix] = found[0]
    return files


def import_seeds(engine: Engine, seeds_dir: str | Path,
                 progress: Progress | None = None) -> ImportSummary:
    """Parse the three organisation seeds and write them idempotently, one transaction each."""
    started = time.perf_counter()
    report: Progress = progress or (lambda _label, _done, _total: None)
    files = find_seed_files(seeds_dir)
    counters = {kind: _Counter(kind) for kind in KIND_LABELS}
    unplaced: list[str] = []
    notes: list[str] = []

    org_units = _import_org_directory(engine, files["001"], counters, unplaced, notes, report)
    matcher = _OrgMatcher(org_units)
    _import_services(engine, files["002"], matcher, counters, unplaced, notes, report)
    _import_indicators(engine, files["004"], matcher, counters, unplaced, notes, report)
    return ImportSummary(
        kinds=tuple(counter.freeze() for counter in counters.values()),
        unplaced=tuple(unplaced),
        notes=tuple(notes),
        files=tuple(path.name for path in files.values()),
        seconds=time.perf_counter() - started,
    )


def _parse_step(label: str, report: Progress, parse: Callable[[], _T]) -> _T:
    report(label, 0, 1)
    result = parse()
    report(label, 1, 1)
    return result


def _import_org_directory(engine: Engine, path: Path, counters: dict[str, _Counter],
                          unplaced: list[str], notes: list[str],
                          report: Progress) -> list[tuple[str, OrgUnit]]:
    parsed = _parse_step("Leyendo el directorio orgánico (001)", report,
                         lambda: parse_org_directory(path.read_text(encoding="utf-8")))
    unplaced += [f"{path.name}: {line}" for line in parsed.unplaced]
    units = _keyed_org_units(parsed.units)
    for (code, unit), original in zip(units, parsed.units, strict=True):
        if code != original.code:
            notes.append(f"El código {original.code} se repite en el Art. 8: «{unit.name}» "
                         f"queda como {code}")

    label = "Guardando el directorio orgánico (001)"
    report(label, 0, 2)
    with engine._writer.begin() as session:
        _sync_positions(engine, session, units, counters["positions"])
        report(label, 1, 2)
        rows = [{
            "code": code, "printed_code": unit.code, "seq": seq, "name": unit.name,
            "parent_code": unit.parent_code, "responsible": unit.responsible,
            "responsible_unit": unit.responsible_unit,
            "position_code": normalise_title(unit.responsible) if unit.responsible else None,
            "mission": unit.mission,
        } for seq, (code, unit) in enumerate(units, start=1)]
        deletes = _Deletes()
        _sync(session, OrgUnitRow, ("code",), rows, counters["org_units"], deletes)
        deletes.apply(session)
        report(label, 2, 2)
    return units


def _keyed_org_units(units: Iterable[OrgUnit]) -> list[tuple[str, OrgUnit]]:
    """Each unit with its unique code: repeats of a printed code get ``bis``, ``ter``…"""
    seen: dict[str, int] = {}
    keyed: list[tuple[str, OrgUnit]] = []
    for unit in units:
        repeat = seen.get(unit.code, 0)
        seen[unit.code] = repeat + 1
        if repeat == 0:
            code = unit.code
        elif repeat <= len(_ORDINAL_SUFFIXES):
            code = unit.code + _ORDINAL_SUFFIXES[repeat - 1]
        else:
            code = f"{unit.code}x{repeat + 1}"
        keyed.append((code, unit))
    return keyed


def _sync_positions(engine: Engine, session: Session, units: Sequence[tuple[str, OrgUnit]],
                    counter: _Counter) -> None:
    """Every responsible position as a ``position`` row, its unit the first unit it heads."""
    first_unit: dict[str, tuple[str, str, str]] = {}
    for code, unit in units:
        if unit.responsible:
            key = normalise_title(unit.responsible)
            first_unit.setdefault(key, (unit.responsible, code, unit.name))
    existing = {row.code: row for row in session.scalars(
        select(PositionRow).where(PositionRow.code.in_(list(first_unit))))}
    for key, (title, unit_code, unit_name) in first_unit.items():
        row = existing.get(key)
        if row is None:
            engine.directory.ensure_position(session, title, source=POSITION_SOURCE,
                                             unit_code=unit_code, unit_name=unit_name)
            counter.created += 1
        # The seed owns the unit of its own positions; others (demo) only get a missing one.
        elif (row.unit_code, row.unit_name) != (unit_code, unit_name) and (
                row.source == POSITION_SOURCE or row.unit_code is None):
            row.unit_code, row.unit_name = unit_code, unit_name
            counter.updated += 1
        else:
            counter.unchanged += 1
    session.flush()


def _import_services(engine: Engine, path: Path, matcher: _OrgMatcher,
                     counters: dict[str, _Counter], unplaced: list[str], notes: list[str],
                     report: Progress) -> None:
    parsed = _parse_step("Leyendo el portafolio de servicios (002)", report,
                         lambda: parse_service_catalogue(path.read_text(encoding="utf-8")))
    unplaced += [f"{path.name}: {line}" for line in parsed.unplaced]
    label = "Guardando el portafolio de servicios (002)"
    report(label, 0, 4)
    with engine._writer.begin() as session:
        deletes = _Deletes()
        unit_rows: list[dict[str, Any]] = [
            {"number": unit.number, "name": unit.name, "description": unit.description,
             "org_code": matcher.match(unit.name)}
            for unit in parsed.responsible_units]
        unmatched = [row["name"] for row in unit_rows if row["org_code"] is None]
        if unmatched:
            notes.append("Unidades responsables sin unidad del directorio orgánico: "
                         + "; ".join(unmatched))
        unit_ids = _sync(session, ServiceUnitRow, ("number",), unit_rows,
                         counters["responsible_units"], deletes)
        report(label, 1, 4)
        group_rows = [{"code": slugify(group.name), "seq": seq, "name": group.name,
                       "description": group.description}
                      for seq, group in enumerate(parsed.user_groups, start=1)]
        group_ids = _sync(session, UserGroupRow, ("code",), group_rows,
                          counters["user_groups"], deletes)
        report(label, 2, 4)
        service_rows = []
        for seq, service in enumerate(parsed.services, start=1):
            unit_id = unit_ids.get((service.responsible_unit,))
            if service.responsible_unit is not None and unit_id is None:
                unplaced.append(f"{path.name}: {service.name}: unidad responsable "
                                f"{service.responsible_unit} desconocida")
            service_rows.append({"code": service.code, "seq": seq, "name": service.name,
                                 "description": service.description,
                                 "responsible_unit_id": unit_id})
        service_ids = _sync(session, ServiceRow, ("code",), service_rows,
                            counters["services"], deletes)
        without_unit = sum(1 for row in service_rows if row["responsible_unit_id"] is None)
        without_groups = sum(1 for service in parsed.services if not service.user_groups)
        if without_unit or without_groups:
            notes.append(f"El portafolio no indica la unidad responsable de {without_unit} ni "
                         f"los grupos de usuarios de {without_groups} de "
                         f"{len(service_rows)} servicios; quedan vacíos")
        report(label, 3, 4)
        links = []
        for service in parsed.services:
            for group in service.user_groups:
                group_id = group_ids.get((slugify(group),))
                if group_id is None:
                    unplaced.append(f"{path.name}: {service.name}: grupo de usuarios "
                                    f"{group!r} desconocido")
                    continue
                links.append({"service_id": service_ids[(service.code,)],
                              "user_group_id": group_id})
        _sync(session, ServiceUserGroupRow, ("service_id", "user_group_id"), links,
              counters["service_user_groups"], deletes)
        deletes.apply(session)
        report(label, 4, 4)


def _import_indicators(engine: Engine, path: Path, matcher: _OrgMatcher,
                       counters: dict[str, _Counter], unplaced: list[str], notes: list[str],
                       report: Progress) -> None:
    text = path.read_text(encoding="utf-8")
    label = "Leyendo el catálogo de indicadores (004)"
    report(label, 0, 1)
    parsed = parse_indicator_catalogue(text, lambda done, total: report(label, done, total))
    unplaced += [f"{path.name}: {line}" for line in parsed.unplaced]
    units: list[IndicatorUnit] = ([parsed.institution] if parsed.institution else [])
    units += parsed.units

    org_codes: dict[tuple[str, ...], str | None] = {}
    unit_rows = []
    for seq, unit in enumerate(units):
        is_institution = not unit.path
        parent = org_codes.get(unit.path[:-1]) if len(unit.path) > 1 else None
        org_code = None if is_institution else matcher.match(unit.name, within=parent)
        org_codes[unit.path] = org_code
        path_key = " > ".join(unit.path) or INSTITUTION
        unit_rows.append({
            "path_key": path_key, "seq": seq, "name": unit.name, "name_key": fold(unit.name),
            "search_key": fold(path_key), "path": list(unit.path), "depth": len(unit.path),
            "headings": unit.headings, "is_institution": is_institution, "org_code": org_code,
            "attributions": list(unit.attributions),
            "objectives": [_jsonable(o) for o in unit.objectives],
            "strategies": [_jsonable(s) for s in unit.strategies],
            "risks": [_jsonable(r) for r in unit.risks],
            "projects": [_jsonable(p) for p in unit.projects],
        })
    mapped = sum(1 for row in unit_rows if row["org_code"])
    notes.append(f"{mapped} de {len(units)} unidades del catálogo de indicadores se asociaron "
                 "a una unidad del directorio orgánico")

    label = "Guardando el catálogo de indicadores (004)"
    report(label, 0, 3)
    with engine._writer.begin() as session:
        deletes = _Deletes()
        unit_ids = _sync(session, IndicatorUnitRow, ("path_key",), unit_rows,
                         counters["indicator_units"], deletes)
        report(label, 1, 3)
        indicator_rows = []
        for unit, row in zip(units, unit_rows, strict=True):
            unit_id = unit_ids[(row["path_key"],)]
            for seq, indicator in enumerate(unit.indicators, start=1):
                indicator_rows.append({
                    "unit_id": unit_id, "seq": seq, "number": indicator.number,
                    "code": indicator.code, "name": indicator.name,
                    "behaviour": indicator.behaviour, "target_kind": indicator.target_kind,
                    "periodicity": indicator.periodicity, "objective": indicator.objective,
                    "targets_open": indicator.targets_open,
                    "surplus_values": [str(v) for v in indicator.surplus_values],
                })
        indicator_ids = _sync(session, IndicatorRow, ("unit_id", "seq"), indicator_rows,
                              counters["indicators"], deletes)
        report(label, 2, 3)
        target_rows = []
        for unit, row in zip(units, unit_rows, strict=True):
            unit_id = unit_ids[(row["path_key"],)]
            for seq, indicator in enumerate(unit.indicators, start=1):
                indicator_id = indicator_ids[(unit_id, seq)]
                target_rows += [{"indicator_id": indicator_id, "seq": order,
                                 "period": target.period, "value": target.value}
                                for order, target in enumerate(indicator.targets, start=1)]
        _sync(session, IndicatorTargetRow, ("indicator_id", "seq"), target_rows,
              counters["targets"], deletes)
        deletes.apply(session)
        report(label, 3, 3)


def _jsonable(item: Any) -> dict[str, Any]:
    """A parser dataclass as plain JSON values (decimals and dates as text)."""
    out: dict[str, Any] = {}
    for key, value in asdict(item).items():
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, date):
            value = value.isoformat()
        out[key] = value
    return out


def _sync(session: Session, model: type[Base], key: tuple[str, ...],
          rows: list[dict[str, Any]], counter: _Counter,
          deletes: _Deletes) -> dict[tuple[Any, ...], int]:
    """Make ``model``'s table hold exactly ``rows`` (matched on ``key``); return key → id.

    Rows are compared before writing: unchanged rows are not touched, new ones are inserted
    and changed ones updated in bulk; rows no longer in the seed are deleted at the end.
    """
    table = model.__table__
    columns = [table.c[name] for name in key]
    existing = {tuple(row[name] for name in key): row
                for row in session.execute(select(table)).mappings()}
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    ids: dict[tuple[Any, ...], int] = {}
    for row in rows:
        row_key = tuple(row[name] for name in key)
        old = existing.pop(row_key, None)
        if old is None:
            inserts.append(row)
            continue
        ids[row_key] = old["id"]
        # Plain equality: Decimal("0.8") and Decimal("0.80") are the same target.
        if all(old[name] == value for name, value in row.items()):
            counter.unchanged += 1
        else:
            updates.append({"id": old["id"], **row})
            counter.updated += 1
    if updates:
        session.execute(update(model), updates)
    if inserts:
        session.execute(insert(model), inserts)
        counter.created += len(inserts)
        wanted = {tuple(row[name] for name in key) for row in inserts}
        for found in session.execute(select(table.c.id, *columns)):
            found_key = tuple(found[1:])
            if found_key in wanted:
                ids[found_key] = found[0]
    stale = [row["id"] for row in existing.values()]
    counter.deleted += len(stale)
    deletes.add(model, stale)
    return ids


# -- reading ------------------------------------------------------------------------------------


def _org_view(row: OrgUnitRow) -> OrgUnitView:
    return OrgUnitView(code=row.code, printed_code=row.printed_code, name=row.name,
                       parent_code=row.parent_code, responsible=row.responsible,
                       position_code=row.position_code, responsible_unit=row.responsible_unit,
                       mission=row.mission)


def list_org_units(engine: Engine) -> list[OrgUnitView]:
    """Every org-directory unit in Art. 8 order."""
    with engine._reader() as session:
        rows = session.scalars(select(OrgUnitRow).order_by(OrgUnitRow.seq)).all()
        return [_org_view(row) for row in rows]


def get_org_unit(engine: Engine, code: str) -> OrgUnitView:
    """The org-directory unit with this code (``5.5``, ``5.4.1bis``), or NotFound."""
    with engine._reader() as session:
        row = session.scalars(select(OrgUnitRow).where(OrgUnitRow.code == code.strip())).first()
        if row is None:
            raise NotFound(f"No existe la unidad {code!r} en el directorio orgánico")
        return _org_view(row)


def list_responsible_units(engine: Engine) -> list[ResponsibleUnitView]:
    """The seven 002 units responsible for services, with their org unit when matched."""
    with engine._reader() as session:
        rows = session.execute(
            select(ServiceUnitRow, OrgUnitRow.name)
            .outerjoin(OrgUnitRow, OrgUnitRow.code == ServiceUnitRow.org_code)
            .order_by(ServiceUnitRow.number)).all()
        return [ResponsibleUnitView(number=unit.number, name=unit.name,
                                    description=unit.description, org_code=unit.org_code,
                                    org_name=org_name) for unit, org_name in rows]


def list_user_groups(engine: Engine) -> list[UserGroupView]:
    """The 002 user groups in source order."""
    with engine._reader() as session:
        rows = session.scalars(select(UserGroupRow).order_by(UserGroupRow.seq)).all()
        return [UserGroupView(code=row.code, name=row.name, description=row.description)
                for row in rows]


def list_services(engine: Engine) -> list[ServiceView]:
    """The 002 institutional services in source order."""
    with engine._reader() as session:
        groups: dict[int, list[str]] = {}
        for service_id, name in session.execute(
                select(ServiceUserGroupRow.service_id, UserGroupRow.name)
                .join(UserGroupRow, UserGroupRow.id == ServiceUserGroupRow.user_group_id)
                .order_by(UserGroupRow.seq)):
            groups.setdefault(service_id, []).append(name)
        rows = session.execute(
            select(ServiceRow, ServiceUnitRow.number, ServiceUnitRow.name)
            .outerjoin(ServiceUnitRow, ServiceUnitRow.id == ServiceRow.responsible_unit_id)
            .order_by(ServiceRow.seq)).all()
        return [ServiceView(code=service.code, name=service.name,
                            description=service.description, responsible_unit=number,
                            responsible_unit_name=unit_name,
                            user_groups=tuple(groups.get(service.id, ())))
                for service, number, unit_name in rows]


def _unit_ids(session: Session, unit: str) -> list[int]:
    """Ids of the 004 units a unit name (exact, else partial) or an org code designates."""
    text = unit.strip()
    if _ORG_CODE_RE.match(text):
        condition = IndicatorUnitRow.org_code == text
    else:
        key = fold(text)
        exact = list(session.scalars(
            select(IndicatorUnitRow.id).where(IndicatorUnitRow.name_key == key)))
        # An exact name wins, so "Dirección Nacional de Procesos" does not also bring every
        # unit whose heading path merely contains it.
        if exact:
            return exact
        condition = IndicatorUnitRow.search_key.contains(key, autoescape=True)
    return list(session.scalars(select(IndicatorUnitRow.id).where(condition)))


def list_indicator_units(engine: Engine, unit: str | None = None) -> list[IndicatorUnitView]:
    """The 004 units (institution first), optionally filtered like ``list_indicators``."""
    with engine._reader() as session:
        query = select(IndicatorUnitRow).order_by(IndicatorUnitRow.seq)
        if unit and unit.strip():
            query = query.where(IndicatorUnitRow.id.in_(_unit_ids(session, unit)))
        rows = session.scalars(query).all()
        counts = dict(session.execute(
            select(IndicatorRow.unit_id, func.count(IndicatorRow.id))
            .where(IndicatorRow.unit_id.in_([row.id for row in rows]))
            .group_by(IndicatorRow.unit_id)).all())
        return [IndicatorUnitView(
            name=row.name, path=tuple(row.path), headings=row.headings,
            is_institution=row.is_institution, org_code=row.org_code,
            attributions=tuple(row.attributions),
            objectives=tuple(Objective(**item) for item in row.objectives),
            strategies=tuple(Strategy(**item) for item in row.strategies),
            risks=tuple(Risk(**item) for item in row.risks),
            projects=tuple(_project(item) for item in row.projects),
            indicator_count=counts.get(row.id, 0),
        ) for row in rows]


def _project(item: dict[str, Any]) -> Project:
    return Project(
        code=item["code"], name=item["name"],
        budget=Decimal(item["budget"]) if item["budget"] is not None else None,
        phase=item["phase"],
        end_date=date.fromisoformat(item["end_date"]) if item["end_date"] else None,
        organization=item["organization"],
    )


def list_indicators(engine: Engine, unit: str | None = None, *,
                    code: str | None = None) -> list[IndicatorView]:
    """Indicators with their targets, in catalogue order.

    ``unit`` is a unit name — accent- and case-insensitive; an exact name first, else any
    unit whose heading path contains it — or an org-directory code such as ``5.5``.
    ``code`` keeps only indicators with that code (codes repeat across units).
    """
    with engine._reader() as session:
        query = (select(IndicatorRow, IndicatorUnitRow)
                 .join(IndicatorUnitRow, IndicatorUnitRow.id == IndicatorRow.unit_id)
                 .order_by(IndicatorUnitRow.seq, IndicatorRow.seq))
        if unit and unit.strip():
            query = query.where(IndicatorUnitRow.id.in_(_unit_ids(session, unit)))
        if code:
            query = query.where(IndicatorRow.code == code.strip())
        rows = session.execute(query).all()
        targets: dict[int, list[Target]] = {}
        target_query = select(IndicatorTargetRow).order_by(IndicatorTargetRow.indicator_id,
                                                           IndicatorTargetRow.seq)
        if unit or code:
            ids = [indicator.id for indicator, _ in rows]
            for start in range(0, len(ids), 500):
                for target in session.scalars(target_query.where(
                        IndicatorTargetRow.indicator_id.in_(ids[start:start + 500]))):
                    targets.setdefault(target.indicator_id, []).append(
                        Target(target.period, target.value))
        else:
            for target in session.scalars(target_query):
                targets.setdefault(target.indicator_id, []).append(
                    Target(target.period, target.value))
        return [IndicatorView(
            code=indicator.code, number=indicator.number, name=indicator.name,
            behaviour=indicator.behaviour, target_kind=indicator.target_kind,
            periodicity=indicator.periodicity, objective=indicator.objective,
            targets_open=indicator.targets_open,
            targets=tuple(targets.get(indicator.id, ())),
            surplus_values=tuple(Decimal(v) for v in indicator.surplus_values),
            unit_name=owner.name, unit_path=tuple(owner.path), unit_org_code=owner.org_code,
        ) for indicator, owner in rows]


def find_indicator(engine: Engine, code: str, unit: str | None = None) -> IndicatorView | None:
    """The first indicator with this code in catalogue order (optionally within ``unit``)."""
    found = list_indicators(engine, unit, code=code)
    return found[0] if found else None


# -- what forms may name ------------------------------------------------------------------------

_SOURCES: dict[tuple[str, str | None], Any] = {
    ("services", None): ServiceRow.code,
    ("org_units", None): OrgUnitRow.code,
    ("org_units", "position_code"): OrgUnitRow.position_code,
    ("indicators", None): IndicatorRow.code,
}


def known_codes(session: Session, source: str, field: str | None = None) -> set[str] | None:
    """Return the values a form field bound to a catalogue may take, or None before import.

    Until the organisation's seeds are imported the catalogue is empty; forms then accept what
    is typed rather than refuse every value.
    """
    column = _SOURCES.get((source, field))
    if column is None:
        raise ValueError(f"unknown catalogue source {source!r} (field {field!r})")
    values = {v for v in session.scalars(select(column).where(column.is_not(None))) if v}
    return values or None
