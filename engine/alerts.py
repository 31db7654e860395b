"""Alerts for a procedure's manager and owner, computed from the records each time they are
asked for: a closed quarter whose social-case indicator fell below its target, a charter
commitment whose latest classification is *no cumple*."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from . import indicators
from .charter_dashboard import CharterDashboard, failing_commitments
from .formatting import percent_text

# How far back a quarter below target is still news on the home page.
QUARTERS_SHOWN = 4


@dataclass(frozen=True)
class Alert:
    """One thing a manager should look at, and where."""

    process_id: str
    kind: str
    message: str
    # The dashboard's period (social case) or service (charter) to open.
    reference: str


def social_alerts(session: Session, now: datetime) -> list[Alert]:
    """Return the closed quarters (the last four) whose indicator is below its 80 % target."""
    quarters: list[indicators.Period] = []
    current = indicators.quarter_of(now)
    for _ in range(QUARTERS_SHOWN):
        current = indicators.previous_quarter(current)
        quarters.append(current)
    found = []
    for row in indicators.indicator(session, quarters, now):
        if row.meets_target is False and row.percent is not None:
            found.append(Alert(
                indicators.PROCESS_ID, "indicador_bajo_meta",
                f"Atención de Casos Sociales, {row.period.label}: {percent_text(row.percent)} "
                f"({row.attended} de {row.received} solicitudes atendidas), bajo la meta del "
                f"{percent_text(indicators.TARGET)}.", row.period.key))
    return found


def charter_alerts(board: CharterDashboard) -> list[Alert]:
    """Return the commitments whose latest period was classified *no cumple*."""
    found = []
    for c in failing_commitments(board):
        latest = c.latest
        assert latest is not None
        found.append(Alert(
            "sla_followup", "compromiso_no_cumple",
            f"Carta de Servicios: el compromiso {c.commitment_id} del servicio "
            f"«{c.service_name}» ({c.indicator_name or 'sin indicador'}) no cumple en el "
            f"periodo {latest.period}.", c.service_code))
    return found
