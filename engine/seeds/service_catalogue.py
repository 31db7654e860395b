"""Parser for the IESS Portafolio de Servicios Institucionales: units, user groups, services."""

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class ResponsibleUnit:
    """One of the numbered units responsible for services."""

    number: int
    name: str
    description: str


@dataclass(frozen=True)
class UserGroup:
    """A group of users the services are for (description may be empty in the source)."""

    name: str
    description: str


@dataclass(frozen=True)
class Service:
    """An institutional service; unit and user groups stay empty where the source is silent."""

    code: str
    name: str
    description: str
    responsible_unit: int | None = None
    user_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceCatalogueParse:
    """Everything read from the portfolio plus lines that should have been placed but were not."""

    responsible_units: tuple[ResponsibleUnit, ...]
    user_groups: tuple[UserGroup, ...]
    services: tuple[Service, ...]
    unplaced: tuple[str, ...]


_USERS_HEADING = "NUESTROS USUARIOS"
_UNITS_HEADING = "UNIDADES RESPONSABLES DE LOS SERVICIOS"
_SERVICES_HEADING = "CENTROS DE ATENCIÓN UNIVERSAL A ESCALA NACIONAL"
_SERVICES_PAGE_HEADER = "SERVICIOS INSTITUCIONALES"
_SERVICES_END = re.compile(r"^Para consultar información|^MODALIDADES DE ATENCIÓN")
_UNIT_NUMBER_RE = re.compile(r"^[1-9]$")
# Service names are short title-like lines; descriptions are sentences.
_MAX_NAME_LENGTH = 80


def slugify(text: str) -> str:
    """Stable ASCII slug: accents dropped, lower case, words joined by hyphens."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")


def _clean(line: str) -> str:
    return " ".join(line.replace("**", "").split())


def _is_upper_title(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters)


def _section(lines: list[str], start: str, end: re.Pattern[str] | str, skip: int = 0) -> list[str]:
    """Lines after the (skip+1)-th occurrence of `start` up to the first line matching `end`."""
    seen = -1
    begin = None
    for i, line in enumerate(lines):
        if line == start:
            seen += 1
            if seen == skip:
                begin = i + 1
                break
    if begin is None:
        return []
    out = []
    for line in lines[begin:]:
        if (line == end) if isinstance(end, str) else end.match(line):
            break
        out.append(line)
    return out


def _parse_user_groups(lines: list[str]) -> list[UserGroup]:
    groups: list[tuple[str, list[str]]] = []
    for line in lines:
        if _is_upper_title(line):
            groups.append((line, []))
        elif groups:
            groups[-1][1].append(line)
    return [UserGroup(name, " ".join(desc)) for name, desc in groups]


def _parse_units(lines: list[str], unplaced: list[str]) -> list[ResponsibleUnit]:
    units: list[ResponsibleUnit] = []
    number: int | None = None
    name: str | None = None
    description: list[str] = []

    def flush() -> None:
        if number is not None and name is not None:
            units.append(ResponsibleUnit(number, name, " ".join(description)))
        elif name is not None:
            unplaced.append(name)

    for line in lines:
        if line == _UNITS_HEADING:
            continue  # repeated page header
        if _UNIT_NUMBER_RE.match(line):
            flush()
            number, name, description = int(line), None, []
        elif number is None:
            continue  # introductory prose on process types precedes the first unit
        elif name is None and _is_upper_title(line):
            name = line
        elif name is not None:
            description.append(line)
        else:
            unplaced.append(line)
    flush()
    return units


def _parse_services(lines: list[str], unplaced: list[str]) -> list[Service]:
    services: list[Service] = []
    body = [line for line in lines if line != _SERVICES_PAGE_HEADER]
    # The first paragraph defines what a service is; it is not a service itself.
    if body and len(body[0]) > _MAX_NAME_LENGTH:
        body = body[1:]
    name: str | None = None
    for line in body:
        looks_like_name = len(line) <= _MAX_NAME_LENGTH and not line.endswith(".")
        if name is None:
            if looks_like_name:
                name = line
            else:
                unplaced.append(line)
        elif looks_like_name:
            unplaced.append(name)  # a name without description
            name = line
        else:
            services.append(Service(code=slugify(name), name=name, description=line))
            name = None
    if name is not None:
        unplaced.append(name)
    return services


def parse_service_catalogue(text: str) -> ServiceCatalogueParse:
    """Parse the service portfolio: seven responsible units, five user groups, the services."""
    lines = [cleaned for raw in text.splitlines() if (cleaned := _clean(raw))]
    unplaced: list[str] = []
    user_groups = _parse_user_groups(_section(lines, _USERS_HEADING, _UNITS_HEADING))
    units = _parse_units(_section(lines, _UNITS_HEADING, _SERVICES_HEADING), unplaced)
    services = _parse_services(_section(lines, _SERVICES_HEADING, _SERVICES_END), unplaced)
    return ServiceCatalogueParse(
        responsible_units=tuple(units),
        user_groups=tuple(user_groups),
        services=tuple(services),
        unplaced=tuple(unplaced),
    )
