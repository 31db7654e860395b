"""The service charter (Carta Institucional de Servicios): each service's state and its history.

Guía DMCISP-01-05 §5 gives every service one institution-wide state. It changes only through the
SLA procedures (``bpmn/sla_*.bpmn``), which name the change on a flow node
(``<spiffworkflow:property name="serviceState" value="Publicado"/>``); the engine then calls
this module's effect inside the step's transaction, so an illegal change refuses the whole step.
Every change is logged, append-only, with the case, the person and the technical justification.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DDL, BigInteger, Integer, String, Text, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .effects import EffectContext, EffectHandler
from .errors import Conflict
from .store import Base

if TYPE_CHECKING:
    from .api import Engine

NO_POSTULABLE = "No Postulable"
PLANIFICADO = "Planificado"
NO_PUBLICADO = "No Publicado"
PUBLICADO = "Publicado"
RENOVADO = "Renovado"
ACTUALIZADO = "Actualizado"
EXCLUIDO = "Excluido"
STATES = (NO_POSTULABLE, PLANIFICADO, NO_PUBLICADO, PUBLICADO, RENOVADO, ACTUALIZADO, EXCLUIDO)
# How a service with no row yet is shown and named in BPMN guards.
NOT_REGISTERED = "sin registrar"

# The legal graph, from §5 (the states) and §7 (the processes that move between them). None is
# a service the charter has never recorded. A service that ends a cycle (No Postulable, No
# Publicado, Excluido) may start a new planning cycle; a re-assessment may confirm No Postulable.
# A published service is renewed, updated (§7.2 also covers reports "previo a su
# actualización") or excluded, and a renewal or an update may happen again in later periods.
LEGAL_TRANSITIONS: Mapping[str | None, frozenset[str]] = {
    None: frozenset({NO_POSTULABLE, PLANIFICADO}),
    NO_POSTULABLE: frozenset({NO_POSTULABLE, PLANIFICADO}),
    PLANIFICADO: frozenset({PUBLICADO, NO_PUBLICADO}),
    NO_PUBLICADO: frozenset({NO_POSTULABLE, PLANIFICADO}),
    PUBLICADO: frozenset({RENOVADO, ACTUALIZADO, EXCLUIDO}),
    RENOVADO: frozenset({RENOVADO, ACTUALIZADO, EXCLUIDO}),
    ACTUALIZADO: frozenset({RENOVADO, ACTUALIZADO, EXCLUIDO}),
    EXCLUIDO: frozenset({NO_POSTULABLE, PLANIFICADO}),
}

# Case variables the effects read (set by the SLA forms).
SERVICE_CODE_VARIABLE = "service_code"
JUSTIFICATION_VARIABLE = "state_justification"
STATE_EFFECT = "serviceState"
GUARD_EFFECT = "serviceStateRequired"

MAX_JUSTIFICATION = 20000


class ServiceCharterStateRow(Base):
    """The current charter state of one service (no row: the service is *sin registrar*)."""

    __tablename__ = "service_charter_state"
    service_code: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(String(40))
    case_number: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(100))


class ServiceCharterTransitionRow(Base):
    """One change of a service's state: from, to, which case, who, when and why (append-only)."""

    __tablename__ = "service_charter_transition"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    service_code: Mapped[str] = mapped_column(String(200), index=True)
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str] = mapped_column(String(40))
    case_number: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime]
    justification: Mapped[str] = mapped_column(Text)


# The log is evidence for auditors, like the case log: the database itself refuses to rewrite it.
_TRANSITIONS = ServiceCharterTransitionRow.__table__
for _statement in (
    "CREATE TRIGGER IF NOT EXISTS service_charter_transition_no_update BEFORE UPDATE ON "
    "service_charter_transition BEGIN SELECT RAISE(ABORT, "
    "'service_charter_transition is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS service_charter_transition_no_delete BEFORE DELETE ON "
    "service_charter_transition BEGIN SELECT RAISE(ABORT, "
    "'service_charter_transition is append-only'); END",
):
    event.listen(_TRANSITIONS, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in (
    "CREATE OR REPLACE FUNCTION service_charter_transition_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'service_charter_transition is append-only'; END; $$ "
    "LANGUAGE plpgsql",
    "CREATE TRIGGER service_charter_transition_append_only BEFORE UPDATE OR DELETE ON "
    "service_charter_transition FOR EACH ROW EXECUTE FUNCTION "
    "service_charter_transition_append_only()",
):
    event.listen(_TRANSITIONS, "after_create", DDL(_statement).execute_if(dialect="postgresql"))


class CharterError(Conflict):
    """A change of a service's charter state was refused; nothing of the step was written."""

    code = "charter_refused"


class IllegalTransition(CharterError):
    """The service cannot move from its current state to the one asked for."""

    code = "illegal_transition"


class TransitionDataMissing(CharterError):
    """The case lacks what a state change needs: the service code or the justification."""

    code = "transition_data_missing"


@dataclass(frozen=True)
class CharterTransition:
    """One logged change of a service's state."""

    service_code: str
    from_state: str | None
    to_state: str
    case_number: str
    actor: str | None
    at: datetime
    justification: str

    @property
    def from_label(self) -> str:
        """Return the previous state as people read it (*sin registrar* for none)."""
        return display_state(self.from_state)


def display_state(state: str | None) -> str:
    """Return a state as people read it: a service with no state is *sin registrar*."""
    return state if state is not None else NOT_REGISTERED


def allowed_targets(state: str | None) -> frozenset[str]:
    """Return the states a service in ``state`` may move to."""
    return LEGAL_TRANSITIONS.get(state, frozenset())


@contextmanager
def _reading(source: Session | Engine) -> Iterator[Session]:
    # Readers serve the web layer (an Engine) and code already inside a transaction (a Session).
    if isinstance(source, Session):
        yield source
    else:
        with source.read_session() as session:
            yield session


def current_state(source: Session | Engine, service_code: str) -> str | None:
    """Return a service's state, or None when the charter has never recorded it."""
    with _reading(source) as session:
        row = session.get(ServiceCharterStateRow, service_code)
        return row.state if row is not None else None


def current_states(source: Session | Engine) -> dict[str, str]:
    """Return every recorded service's state, by service code (for catalogues and dashboards)."""
    with _reading(source) as session:
        rows = session.execute(select(ServiceCharterStateRow.service_code,
                                      ServiceCharterStateRow.state)).all()
    return {code: state for code, state in rows}


def history(source: Session | Engine, service_code: str) -> list[CharterTransition]:
    """Return a service's state changes, oldest first."""
    with _reading(source) as session:
        rows = session.scalars(
            select(ServiceCharterTransitionRow)
            .where(ServiceCharterTransitionRow.service_code == service_code)
            .order_by(ServiceCharterTransitionRow.id)).all()
        return [CharterTransition(
            service_code=row.service_code, from_state=row.from_state, to_state=row.to_state,
            case_number=row.case_number, actor=row.actor, at=row.at,
            justification=row.justification) for row in rows]


def transition(session: Session, service_code: str, to_state: str, *, case_number: str,
               actor: str | None, justification: str, now: datetime) -> CharterTransition:
    """Move a service to ``to_state`` and log why; raise IllegalTransition if it may not."""
    code = (service_code or "").strip()
    if not code:
        raise TransitionDataMissing(
            "No se puede cambiar el estado: el caso no indica el servicio")
    reason = (justification or "").strip()
    if not reason:
        raise TransitionDataMissing(
            f"El cambio del servicio {code} a «{to_state}» requiere su justificación técnica")
    if to_state not in STATES:
        raise IllegalTransition(f"«{to_state}» no es un estado de la Carta de Servicios")
    # Lock the row so that two cases cannot move the same service at once (PostgreSQL);
    # SQLite writers are already serialized.
    row = session.scalars(select(ServiceCharterStateRow)
                          .where(ServiceCharterStateRow.service_code == code)
                          .with_for_update()).first()
    from_state = row.state if row is not None else None
    if to_state not in allowed_targets(from_state):
        allowed = sorted(allowed_targets(from_state))
        options = ", ".join(f"«{s}»" for s in allowed) or "ninguno"
        raise IllegalTransition(
            f"El servicio {code} está «{display_state(from_state)}» y no puede pasar a "
            f"«{to_state}» (estados posibles: {options})")
    if row is None:
        row = ServiceCharterStateRow(service_code=code, state=to_state,
                                     case_number=case_number, updated_at=now,
                                     updated_by=actor)
        session.add(row)
    else:
        row.state, row.case_number, row.updated_at, row.updated_by = (
            to_state, case_number, now, actor)
    logged = ServiceCharterTransitionRow(
        service_code=code, from_state=from_state, to_state=to_state, case_number=case_number,
        actor=actor, at=now, justification=reason[:MAX_JUSTIFICATION])
    session.add(logged)
    # The engine's sessions do not autoflush: a later effect of the same step must see this.
    session.flush()
    return CharterTransition(code, from_state, to_state, case_number, actor, now,
                             logged.justification)


def require_state(session: Session, service_code: str, allowed: str) -> str | None:
    """Check a service is in one of ``allowed`` (comma-separated; *sin registrar* for none)."""
    code = (service_code or "").strip()
    if not code:
        raise TransitionDataMissing("El caso no indica el servicio")
    wanted = [s.strip() for s in allowed.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in STATES and s != NOT_REGISTERED]
    if unknown:
        raise IllegalTransition(f"Estado desconocido en el procedimiento: {', '.join(unknown)}")
    state = current_state(session, code)
    if display_state(state) not in wanted:
        raise IllegalTransition(
            f"El servicio {code} está «{display_state(state)}»; este procedimiento requiere "
            f"que esté {_spanish_list(wanted)}")
    return state


def _spanish_list(states: list[str]) -> str:
    quoted = [f"«{s}»" for s in states]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " o " + quoted[-1]


def _apply_state(context: EffectContext, value: str) -> Mapping[str, Any]:
    """Effect ``serviceState``: move the case's service to the state the BPMN node names."""
    done = transition(
        context.session, _text(context.data, SERVICE_CODE_VARIABLE), value.strip(),
        case_number=context.case_number,
        actor=context.actor.username if context.actor else None,
        justification=_text(context.data, JUSTIFICATION_VARIABLE), now=context.now)
    return {"service_code": done.service_code, "from": display_state(done.from_state),
            "to": done.to_state}


def _check_state(context: EffectContext, value: str) -> Mapping[str, Any]:
    """Effect ``serviceStateRequired``: refuse the step unless the service is in those states."""
    code = _text(context.data, SERVICE_CODE_VARIABLE)
    state = require_state(context.session, code, value)
    return {"service_code": code.strip(), "state": display_state(state)}


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def effects() -> dict[str, EffectHandler]:
    """Return the effects the SLA procedures name: ``serviceState`` and its guard."""
    return {STATE_EFFECT: _apply_state, GUARD_EFFECT: _check_state}


@dataclass(frozen=True)
class PublishedService:
    """A service in the public charter: its state, since when, and its published commitments."""

    service_code: str
    state: str
    since: datetime
    case_number: str
    process_id: str
    unit_name: str | None
    service_name: str | None
    commitments: tuple[Mapping[str, Any], ...]


PUBLISHED_STATES = (PUBLICADO, RENOVADO, ACTUALIZADO)


def published_services(engine: Engine) -> list[PublishedService]:
    """Return the services the charter publishes, with the commitments their last case made.

    Read without a person: what it returns is public by definition (the published
    commitments), nothing else of the case.
    """
    from .store import CaseRow, ProcessVersionRow

    found = []
    for code, state in sorted(current_states(engine).items()):
        if state not in PUBLISHED_STATES:
            continue
        transitions = history(engine, code)
        if not transitions:
            continue
        last = transitions[-1]
        with engine.read_session() as session:
            row = session.execute(
                select(CaseRow.process_id, CaseRow.state, ProcessVersionRow.content_hash)
                .join(ProcessVersionRow, ProcessVersionRow.id == CaseRow.version_id)
                .where(CaseRow.number == last.case_number)).first()
        if row is None:
            continue
        data = engine.runtime.stored_data(engine.definition_by_hash(row.content_hash), row.state)
        # An update published by a report started on its own lives in that case's proposal; a
        # follow-up applies a published update to ``commitments`` before anything else happens.
        key = ("proposed_commitments" if state == ACTUALIZADO and row.process_id == "sla_report"
               else "commitments")
        commitments = tuple(c for c in data.get(key) or [] if isinstance(c, Mapping))
        found.append(PublishedService(
            service_code=code, state=state, since=last.at, case_number=last.case_number,
            process_id=row.process_id, unit_name=_optional_text(data.get("unit_name")),
            service_name=_optional_text(data.get("service_name")), commitments=commitments))
    return found


def _optional_text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
