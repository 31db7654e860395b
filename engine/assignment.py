"""Who may see, claim and complete a task: lane -> role -> positions -> people.

A READY task is offered to an *audience*: a string key that the holders of a role (or of one
position) carry. A person's keys are computed from the positions they hold, so the inbox is one
indexed query over ``open_task.audience``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


def role_key(role: str) -> str:
    """Return the audience key of everyone holding ``role``."""
    return f"role:{role}"


def position_key(position_code: str) -> str:
    """Return the audience key of everyone holding one position."""
    return f"position:{position_code}"


@dataclass(frozen=True)
class LaneRole:
    """One row of a responsibility table: the role a lane stands for and who holds it."""

    lane: str
    role: str
    role_name: str
    positions: tuple[str, ...]
    # The case variable naming the one person who takes this lane's tasks (e.g. activity 2
    # "reasignar" picks the case's social worker).
    assignee_variable: str | None = None
    # The case variable naming the position that takes this lane's tasks, chosen per case
    # (e.g. the unit that provides the service).
    position_variable: str | None = None


# The kinds of oversight a procedure may grant. Each names a role people hold through their
# positions, as lanes do, but no lane: it gives no tasks. The owner edits and publishes the
# procedure; the manager (the seed's measurement responsible) follows its indicators.
OVERSIGHT_KINDS = ("auditor", "owner", "manager")


@dataclass(frozen=True)
class OversightRole:
    """A role over a procedure that takes no tasks: e.g. its auditor, who reads every case."""

    kind: str
    role: str
    role_name: str
    positions: tuple[str, ...]


@dataclass(frozen=True)
class ResponsibilityTable:
    """A procedure's responsibility table, from ``bpmn/<process>.responsibility.json``."""

    process_id: str
    title: str
    code: str
    case_number_prefix: str
    confidential: bool
    lanes: Mapping[str, LaneRole]
    case_summary: Mapping[str, str] = field(default_factory=dict)
    # Values the procedure computes (not typed in a form) that people should read on the case,
    # with their label per language: {"followup_matrix": {"es": "…", "en": "…"}}.
    data_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # kind (``auditor``) -> the role that oversees the procedure that way.
    oversight: Mapping[str, OversightRole] = field(default_factory=dict)
    # The procedure's and its activities' names in other languages (the BPMN names are Spanish):
    # ``title_en`` and ``activity_labels: {"validar_informe": {"en": "…"}}``.
    title_en: str = ""
    activity_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def oversight_roles(self, kind: str) -> frozenset[str]:
        """Return the roles that oversee this procedure as ``kind`` (e.g. ``auditor``)."""
        row = self.oversight.get(kind)
        return frozenset([row.role]) if row else frozenset()

    def roles(self) -> dict[str, LaneRole]:
        """Return the lane rows by role code."""
        return {row.role: row for row in self.lanes.values()}

    def to_json(self) -> dict[str, Any]:
        """Return the table in its file format."""
        lanes = {}
        for lane, row in self.lanes.items():
            entry: dict[str, Any] = {"role": row.role, "role_name": row.role_name,
                                     "positions": list(row.positions)}
            if row.assignee_variable:
                entry["assignee_variable"] = row.assignee_variable
            if row.position_variable:
                entry["position_variable"] = row.position_variable
            lanes[lane] = entry
        extra: dict[str, Any] = {}
        if self.oversight:
            extra["oversight"] = {kind: {"role": row.role, "role_name": row.role_name,
                                         "positions": list(row.positions)}
                                  for kind, row in self.oversight.items()}
        return {**extra,"process": self.process_id, "title": self.title, "code": self.code,
                "case_number_prefix": self.case_number_prefix,
                "confidential": self.confidential, "case_summary": dict(self.case_summary),
                "data_labels": {k: dict(v) for k, v in self.data_labels.items()},
                **({"title_en": self.title_en} if self.title_en else {}),
                **({"activity_labels": {k: dict(v) for k, v in self.activity_labels.items()}}
                   if self.activity_labels else {}),
                "lanes": lanes}


def parse_responsibility_table(text: str) -> ResponsibilityTable:
    """Parse a responsibility table file; raise ValueError naming what is wrong."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"JSON mal formado (línea {error.lineno}): {error.msg}") from None
    if not isinstance(raw, dict):
        raise ValueError("La tabla de responsabilidades debe ser un objeto JSON")
    for key in ("process", "title", "case_number_prefix", "lanes"):
        if key not in raw:
            raise ValueError(f"Falta la clave {key!r}")
    prefix = raw["case_number_prefix"]
    if not (isinstance(prefix, str) and prefix.isalnum() and prefix.isupper()):
        raise ValueError("case_number_prefix debe ser letras mayúsculas o dígitos (p. ej. 'CS')")
    lanes: dict[str, LaneRole] = {}
    if not isinstance(raw["lanes"], dict) or not raw["lanes"]:
        raise ValueError("'lanes' debe asociar cada carril (lane) con su rol")
    for lane, row in raw["lanes"].items():
        if not isinstance(row, dict) or not row.get("role") or not row.get("role_name"):
            raise ValueError(f"El carril {lane!r} necesita 'role' y 'role_name'")
        positions = row.get("positions", [])
        if not isinstance(positions, list) or not all(isinstance(p, str) for p in positions):
            raise ValueError(f"El carril {lane!r}: 'positions' debe ser una lista de cargos")
        if not positions and not row.get("position_variable"):
            raise ValueError(f"El carril {lane!r} no nombra ningún cargo")
        lanes[lane] = LaneRole(
            lane=lane, role=row["role"], role_name=row["role_name"], positions=tuple(positions),
            assignee_variable=row.get("assignee_variable"),
            position_variable=row.get("position_variable"),
        )
    summary = raw.get("case_summary", {})
    if not isinstance(summary, dict):
        raise ValueError("'case_summary' debe ser un objeto")
    labels = raw.get("data_labels", {})
    if not isinstance(labels, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("es"), str) for v in labels.values()):
        raise ValueError("'data_labels' debe asociar cada variable con {\"es\": …, \"en\": …}")
    return ResponsibilityTable(
        process_id=raw["process"], title=raw["title"], code=raw.get("code", ""),
        case_number_prefix=prefix, confidential=bool(raw.get("confidential", False)),
        lanes=lanes, case_summary=summary, data_labels=labels,
        oversight=_parse_oversight(raw.get("oversight", {}), lanes),
        title_en=str(raw.get("title_en", "")), activity_labels=_parse_activity_labels(raw),
    )


def _parse_activity_labels(raw: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    labels = raw.get("activity_labels", {})
    if not isinstance(labels, dict) or not all(
            isinstance(v, dict) and all(isinstance(t, str) for t in v.values())
            for v in labels.values()):
        raise ValueError("'activity_labels' debe asociar cada actividad con {\"en\": …}")
    return {k: dict(v) for k, v in labels.items()}


def _parse_oversight(raw: Any, lanes: Mapping[str, LaneRole]) -> dict[str, OversightRole]:
    if not isinstance(raw, dict):
        raise ValueError("'oversight' debe ser un objeto: {\"auditor\": {\"role\": …}}")
    lane_roles = {row.role for row in lanes.values()}
    found: dict[str, OversightRole] = {}
    for kind, row in raw.items():
        if kind not in OVERSIGHT_KINDS:
            raise ValueError(f"'oversight': tipo desconocido {kind!r} "
                             f"(se admite: {', '.join(OVERSIGHT_KINDS)})")
        if not isinstance(row, dict) or not row.get("role") or not row.get("role_name"):
            raise ValueError(f"'oversight.{kind}' necesita 'role' y 'role_name'")
        positions = row.get("positions", [])
        if not isinstance(positions, list) or not positions or not all(
                isinstance(p, str) for p in positions):
            raise ValueError(f"'oversight.{kind}': 'positions' debe ser una lista de cargos")
        # A lane role would make the overseer a participant who can act: keep them apart.
        if row["role"] in lane_roles:
            raise ValueError(f"'oversight.{kind}': el rol {row['role']!r} ya es de un carril")
        found[kind] = OversightRole(kind, row["role"], row["role_name"], tuple(positions))
    return found


@dataclass(frozen=True)
class Offer:
    """To whom a READY task goes: its audience key and, if designated, the person's id."""

    role: str
    audience: str
    assignee_username: str | None = None


def offer_for(row: LaneRole, case_data: Mapping[str, Any]) -> Offer:
    """Decide the audience of a lane's task from the table row and the case's data."""
    if row.position_variable and case_data.get(row.position_variable):
        audience = position_key(str(case_data[row.position_variable]))
    else:
        audience = role_key(row.role)
    assignee = None
    if row.assignee_variable and isinstance(case_data.get(row.assignee_variable), str):
        assignee = case_data[row.assignee_variable] or None
    return Offer(row.role, audience, assignee)


def audience_keys(roles: Iterable[str], position_codes: Iterable[str]) -> frozenset[str]:
    """Return every audience key a person with these roles and positions belongs to."""
    return frozenset([role_key(r) for r in roles] + [position_key(p) for p in position_codes])
