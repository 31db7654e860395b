"""The service charter's dashboard: commitments and their latest classification, deviations,
services' states, trend and individuals control charts per commitment, improvement actions.

The states are a SQL count over ``service_charter_state``; the rest lives in each charter case's
own data (the follow-up's ``followup_history``, ``followup_matrix`` and ``improvement_actions``,
written by ``bpmn/sla_followup.bpmn`` and its decision tables), read from the stored state of the
few charter cases — one per service — never from counters kept on the side.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .charter import NOT_REGISTERED, STATES, ServiceCharterStateRow
from .control_chart import ControlLimits, individuals_chart
from .store import CaseEventRow, CaseRow

CHARTER_PROCESSES = ("sla_planning", "sla_followup")
PERIOD_TIMER = "seg_cierre_periodo"
COLLECT_ACTIVITY = "seg_recolectar_datos"
OPEN_ACTION_STATES = ("pendiente", "en_ejecucion")
SEVERITIES = ("leve", "moderada", "critica")


@dataclass(frozen=True)
class Measure:
    """One period's measurement of a commitment."""

    period: int
    observed: float | None
    compliance: str
    deviation: str


@dataclass(frozen=True)
class CommitmentStatus:
    """A commitment of a service: its latest classification and its history of periods."""

    service_code: str
    service_name: str
    unit_name: str
    case_number: str
    commitment_id: str
    indicator_name: str
    standard: float | None
    measures: tuple[Measure, ...]
    limits: ControlLimits | None

    @property
    def latest(self) -> Measure | None:
        """Return the newest measured period."""
        return self.measures[-1] if self.measures else None

    @property
    def out_of_control(self) -> tuple[int, ...]:
        """Return the periods whose value falls outside the control limits."""
        measured = [m for m in self.measures if m.observed is not None]
        return tuple(measured[i].period for i in (self.limits.outside if self.limits else ()))


@dataclass(frozen=True)
class ActionStatus:
    """An improvement action and whether it is open or past its deadline."""

    service_code: str
    case_number: str
    action_id: str
    commitment_id: str
    description: str
    responsible: str
    deadline: str
    status: str
    overdue: bool


@dataclass(frozen=True)
class CharterDashboard:
    """Every figure of the charter's dashboard."""

    states: list[tuple[str, int]]
    commitments: list[CommitmentStatus]
    severities: dict[str, int]
    actions: list[ActionStatus]
    units: list[str]
    unit: str | None

    @property
    def open_actions(self) -> int:
        """Count the actions still pending or in progress."""
        return sum(1 for a in self.actions if a.status in OPEN_ACTION_STATES)

    @property
    def overdue_actions(self) -> int:
        """Count the open actions past their deadline."""
        return sum(1 for a in self.actions if a.overdue)


def service_states(session: Session, catalogue_total: int) -> list[tuple[str, int]]:
    """Count the services per charter state; services never recorded are *sin registrar*."""
    counts = dict(session.execute(
        select(ServiceCharterStateRow.state, func.count())
        .group_by(ServiceCharterStateRow.state)).all())
    recorded = sum(counts.values())
    rows = [(state, int(counts.get(state, 0))) for state in STATES]
    return [*rows, (NOT_REGISTERED, max(catalogue_total - recorded, 0))]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value or [] if isinstance(v, Mapping)] if isinstance(value, list) else []


def _collected_now(session: Session, case_id: int) -> bool:
    """Tell whether the open period's data was collected (after its period closed)."""
    rows = session.execute(
        select(CaseEventRow.event_type, CaseEventRow.activity_id, CaseEventRow.data)
        .where(CaseEventRow.case_id == case_id,
               CaseEventRow.event_type.in_(("timer_fired", "task_completed")))
        .order_by(CaseEventRow.seq)).all()
    collected = False
    for event_type, activity, data in rows:
        if event_type == "timer_fired" and PERIOD_TIMER in ((data or {}).get("timers") or []):
            collected = False
        elif event_type == "task_completed" and activity == COLLECT_ACTIVITY:
            collected = True
    return collected


def case_periods(data: Mapping[str, Any], collected_now: bool) -> list[tuple[int, list[Any]]]:
    """Return (period number, matrix rows) of every measured period of a charter case."""
    periods = [(int(p.get("period_number") or i + 1), list(_dicts(p.get("rows"))))
               for i, p in enumerate(_dicts(data.get("followup_history")))]
    current = data.get("period_number")
    if collected_now and isinstance(current, int) and current > len(periods):
        periods.append((current, list(_dicts(data.get("followup_matrix")))))
    return periods


def dashboard(session: Session, stored_data: Callable[[int, bytes], Mapping[str, Any]],
              catalogue_total: int, today: date, *, unit: str | None = None) -> CharterDashboard:
    """Gather the charter's figures; ``stored_data(version_id, state)`` reads a case's data."""
    cases = session.execute(
        select(CaseRow.id, CaseRow.number, CaseRow.version_id, CaseRow.state)
        .where(CaseRow.process_id.in_(CHARTER_PROCESSES))
        .order_by(CaseRow.started_at, CaseRow.id)).all()
    # One service may have had several cases over the years: its newest case speaks for it.
    newest: dict[str, tuple[Any, Mapping[str, Any]]] = {}
    units: set[str] = set()
    for row in cases:
        data = stored_data(row.version_id, row.state)
        code = _text(data.get("service_code"))
        if code:
            newest[code] = (row, data)
            if _text(data.get("unit_name")):
                units.add(_text(data.get("unit_name")))
    commitments: list[CommitmentStatus] = []
    actions: list[ActionStatus] = []
    severities = dict.fromkeys(SEVERITIES, 0)
    for code, (row, data) in sorted(newest.items()):
        unit_name = _text(data.get("unit_name"))
        if unit and unit_name != unit:
            continue
        periods = case_periods(data, _collected_now(session, row.id))
        known = {_text(c.get("commitment_id")): c for c in _dicts(data.get("commitments"))}
        ids = list(known)
        for _period, rows in periods:
            ids += [cid for cid in (_text(r.get("commitment_id")) for r in rows)
                    if cid not in ids]
        for cid in ids:
            measures = []
            for number, rows in periods:
                found = next((r for r in rows if _text(r.get("commitment_id")) == cid), None)
                if found is not None:
                    measures.append(Measure(number, _number(found.get("observed")),
                                            _text(found.get("compliance")) or "sin_dato",
                                            _text(found.get("deviation")) or "ninguna"))
            meta = known.get(cid, {})
            values = [m.observed for m in measures if m.observed is not None]
            status = CommitmentStatus(
                code, _text(data.get("service_name")) or code, unit_name, row.number, cid,
                _text(meta.get("indicator_name")), _number(meta.get("standard")),
                tuple(measures), individuals_chart(values))
            commitments.append(status)
            if status.latest and status.latest.deviation in severities:
                severities[status.latest.deviation] += 1
        for action in _dicts(data.get("improvement_actions")):
            state = _text(action.get("status")) or "pendiente"
            deadline = _text(action.get("deadline"))
            overdue = state in OPEN_ACTION_STATES and bool(deadline) and deadline < \
                today.isoformat()
            actions.append(ActionStatus(
                code, row.number, _text(action.get("action_id")),
                _text(action.get("commitment_id")), _text(action.get("description")),
                _text(action.get("responsible")), deadline, state, overdue))
    return CharterDashboard(service_states(session, catalogue_total), commitments, severities,
                            actions, sorted(units), unit)


def failing_commitments(board: CharterDashboard) -> list[CommitmentStatus]:
    """Return the commitments whose latest classification is *no cumple*."""
    return [c for c in board.commitments if c.latest and c.latest.compliance == "no_cumple"]
