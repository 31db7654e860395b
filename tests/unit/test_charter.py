"""The service charter's state machine: the legal graph, every transition, the log and effects."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine import charter
from engine.charter import (
    LEGAL_TRANSITIONS,
    NOT_REGISTERED,
    STATES,
    IllegalTransition,
    TransitionDataMissing,
)
from engine.effects import EffectContext
from engine.store import connect, create_schema, session_factories
from engine.views import PersonView

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
SERVICE = "afiliacion-voluntaria"
FROM_STATES: list[str | None] = [None, *STATES]


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    sql = connect(database_url)
    create_schema(sql)
    writer, _reader = session_factories(sql)
    with writer() as session:
        yield session
        session.rollback()
    sql.dispose()


def path_to(state: str | None) -> list[str]:
    """Return the shortest legal sequence of states that takes a new service to ``state``."""
    if state is None:
        return []
    seen: dict[str | None, list[str]] = {None: []}
    queue: deque[str | None] = deque([None])
    while queue:
        current = queue.popleft()
        for target in sorted(LEGAL_TRANSITIONS[current]):
            if target not in seen:
                seen[target] = [*seen[current], target]
                queue.append(target)
    return seen[state]


def move(session: Session, to_state: str, *, case: str = "SLA-2026-0001",
         at: datetime = NOW, code: str = SERVICE, reason: str = "Sustento técnico") -> None:
    charter.transition(session, code, to_state, case_number=case, actor="ana.guaman",
                       justification=reason, now=at)


def reach(session: Session, state: str | None) -> None:
    for step, target in enumerate(path_to(state)):
        move(session, target, at=NOW + timedelta(days=step))


LEGAL = [(f, t) for f in FROM_STATES for t in sorted(LEGAL_TRANSITIONS[f])]
ILLEGAL = [(f, t) for f in FROM_STATES for t in STATES if t not in LEGAL_TRANSITIONS[f]]


def test_the_legal_graph_is_data_over_the_seven_states_and_reaches_them_all():
    assert set(LEGAL_TRANSITIONS) == set(FROM_STATES)
    assert all(targets <= set(STATES) for targets in LEGAL_TRANSITIONS.values())
    assert all(path_to(state) for state in STATES)
    assert len(LEGAL) == 19 and len(ILLEGAL) == 37


@pytest.mark.parametrize(("from_state", "to_state"), LEGAL,
                         ids=[f"{f or NOT_REGISTERED}->{t}" for f, t in LEGAL])
def test_every_legal_transition_changes_the_state_and_is_logged(session, from_state, to_state):
    reach(session, from_state)
    before = len(charter.history(session, SERVICE))
    at = NOW + timedelta(days=30)

    done = charter.transition(session, SERVICE, to_state, case_number="SLA-2026-0009",
                              actor="sofia.naranjo", justification="  Informe técnico  ",
                              now=at)

    assert charter.current_state(session, SERVICE) == to_state
    log = charter.history(session, SERVICE)
    assert len(log) == before + 1
    assert log[-1] == done
    assert (done.from_state, done.to_state, done.case_number, done.actor, done.at,
            done.justification) == (from_state, to_state, "SLA-2026-0009", "sofia.naranjo", at,
                                    "Informe técnico")


@pytest.mark.parametrize(("from_state", "to_state"), ILLEGAL,
                         ids=[f"{f or NOT_REGISTERED}->{t}" for f, t in ILLEGAL])
def test_every_illegal_transition_is_refused_and_changes_nothing(session, from_state, to_state):
    reach(session, from_state)
    log = charter.history(session, SERVICE)

    with pytest.raises(IllegalTransition) as refused:
        move(session, to_state, case="SLA-2026-0009")

    assert charter.current_state(session, SERVICE) == from_state
    assert charter.history(session, SERVICE) == log
    assert f"«{charter.display_state(from_state)}»" in refused.value.message
    assert f"no puede pasar a «{to_state}»" in refused.value.message
    assert refused.value.code == "illegal_transition"


def test_a_service_never_recorded_is_sin_registrar(session):
    assert charter.current_state(session, "desconocido") is None
    assert charter.display_state(None) == "sin registrar"
    assert charter.history(session, "desconocido") == []


def test_the_refusal_names_the_states_that_are_possible(session):
    reach(session, charter.PUBLICADO)
    with pytest.raises(IllegalTransition) as refused:
        move(session, charter.PLANIFICADO)
    assert refused.value.message == (
        f"El servicio {SERVICE} está «Publicado» y no puede pasar a «Planificado» (estados "
        "posibles: «Actualizado», «Excluido», «Renovado»)")


def test_a_transition_needs_a_service_a_justification_and_a_known_state(session):
    with pytest.raises(TransitionDataMissing, match="no indica el servicio"):
        move(session, charter.PLANIFICADO, code="  ")
    with pytest.raises(TransitionDataMissing, match="requiere su justificación técnica"):
        move(session, charter.PLANIFICADO, reason=" \n ")
    with pytest.raises(IllegalTransition, match="no es un estado"):
        move(session, "Aprobado")
    assert charter.current_state(session, SERVICE) is None
    assert issubclass(IllegalTransition, charter.Conflict)


def test_history_is_oldest_first_and_states_are_kept_per_service(session):
    reach(session, charter.RENOVADO)
    move(session, charter.NO_POSTULABLE, code="otro-servicio")

    assert [(t.from_state, t.to_state) for t in charter.history(session, SERVICE)] == [
        (None, "Planificado"), ("Planificado", "Publicado"), ("Publicado", "Renovado")]
    assert charter.current_states(session) == {SERVICE: "Renovado",
                                               "otro-servicio": "No Postulable"}


def test_the_transition_log_is_append_only(session):
    reach(session, charter.PLANIFICADO)
    session.commit()
    for statement in ("UPDATE service_charter_transition SET to_state = 'Publicado'",
                      "DELETE FROM service_charter_transition"):
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement))
        session.rollback()
    assert [t.to_state for t in charter.history(session, SERVICE)] == ["Planificado"]


def test_require_state_accepts_the_listed_states_and_refuses_the_rest(session):
    allowed = "sin registrar,No Postulable,No Publicado,Excluido"
    assert charter.require_state(session, SERVICE, allowed) is None
    reach(session, charter.PUBLICADO)
    assert charter.require_state(session, SERVICE, "Publicado, Renovado") == "Publicado"
    with pytest.raises(IllegalTransition) as refused:
        charter.require_state(session, SERVICE, allowed)
    assert refused.value.message == (
        f"El servicio {SERVICE} está «Publicado»; este procedimiento requiere que esté "
        "«sin registrar», «No Postulable», «No Publicado» o «Excluido»")
    with pytest.raises(IllegalTransition, match="Estado desconocido"):
        charter.require_state(session, SERVICE, "Publicado,Vigente")


def _context(session: Session, data: dict[str, object]) -> EffectContext:
    actor = PersonView(id=1, username="ana.guaman", full_name="Ana Guamán",
                       roles=frozenset({"procesos"}), positions=(), audience=frozenset())
    return EffectContext(session=session, case_id=1, case_number="SLA-2026-0003",
                         process_id="sla_planning", element_id="pla_registrar_planificado",
                         data=data, actor=actor, now=NOW)


def test_the_service_state_effect_moves_the_case_service_with_its_justification(session):
    handlers = charter.effects()
    assert set(handlers) == {"serviceState", "serviceStateRequired"}
    data = {"service_code": SERVICE, "state_justification": "Plan de Publicación aprobado"}

    outcome = handlers["serviceState"](_context(session, data), "Planificado")

    assert outcome == {"service_code": SERVICE, "from": "sin registrar", "to": "Planificado"}
    [logged] = charter.history(session, SERVICE)
    assert (logged.case_number, logged.actor, logged.justification) == (
        "SLA-2026-0003", "ana.guaman", "Plan de Publicación aprobado")


def test_the_effects_refuse_a_case_without_service_or_justification(session):
    handlers = charter.effects()
    with pytest.raises(TransitionDataMissing):
        handlers["serviceState"](_context(session, {"state_justification": "x"}), "Planificado")
    with pytest.raises(TransitionDataMissing):
        handlers["serviceState"](_context(session, {"service_code": SERVICE}), "Planificado")
    with pytest.raises(TransitionDataMissing):
        handlers["serviceStateRequired"](_context(session, {}), "sin registrar")
    assert handlers["serviceStateRequired"](
        _context(session, {"service_code": SERVICE}), "sin registrar") == {
        "service_code": SERVICE, "state": "sin registrar"}


def test_every_state_the_procedures_name_is_a_charter_state(library):
    named: set[str] = set()
    for process_id in ("sla_planning", "sla_report", "sla_followup"):
        for properties in library.get(process_id).element_properties.values():
            if "serviceState" in properties:
                named.add(properties["serviceState"])
            for state in properties.get("serviceStateRequired", "").split(","):
                if state.strip():
                    assert state.strip() in (*STATES, NOT_REGISTERED)
    assert named == set(STATES)
