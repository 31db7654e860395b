"""The case log: append-only, hash-chained, and enough to replay a case exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

pytestmark = pytest.mark.integration

FULL = ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista", "emitir_diagnostico",
        "validar_informe", "remitir_informe", "solicitar_apoyo", "generar_respuesta",
        "generar_expediente", "archivar_expediente"]


def _finish(walker):
    walker.start()
    for activity in FULL:
        walker.do(activity)
    return walker.case


def test_the_log_records_who_did_what_when_with_which_data(walker, engine, clock):
    walker.start()
    clock.advance(hours=2)
    walker.do("reasignar_solicitud")
    history = engine.history(walker.case.number, by=walker.leader)

    started, first, second = history
    assert (started.event_type, started.actor, started.role) == (
        "case_started", walker.coordinator, "coordinador_th")
    assert first.activity_id == "recibir_solicitud"
    assert first.data["form"]["requester_name"] == "Rosa Chicaiza"
    assert "calcular_plazo" in first.data["path"]
    assert (second.actor, second.role, second.at) == (
        walker.leader, "lider_seguridad", datetime(2026, 3, 2, 17, 0, tzinfo=UTC))
    assert second.activity_name == "Recibir y reasignar la solicitud de intervención"
    assert all(len(entry.hash) == 64 for entry in history)


def test_replay_reproduces_every_recorded_state_of_every_path(walker, engine, clock):
    case = _finish(walker)
    walker.start()
    walker.do("reasignar_solicitud", is_social_case=False, referred_to="Fiscalía",
              referral_reason="Competencia de otra entidad")
    referred = walker.case
    walker.start()
    walker.do("reasignar_solicitud")
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    engine.fire_due_timers()
    walker.case = engine.case(walker.case.number, by=walker.leader)
    walker.do("atender_vencimiento")
    overdue = walker.case

    for number in (case.number, referred.number, overdue.number):
        replay = engine.replay(number, by=walker.leader)
        assert replay.chain_intact and replay.stored_state_matches, number
        assert all(step.matches for step in replay.steps), number
        assert replay.proven


def test_the_database_refuses_to_change_or_delete_an_event(walker, engine):
    walker.start()
    for statement in ("UPDATE case_event SET actor = 'intruso'", "DELETE FROM case_event"):
        with pytest.raises(DatabaseError, match="append-only"):
            with engine.sql.begin() as connection:
                connection.execute(text(statement))
    assert len(engine.history(walker.case.number, by=walker.leader)) == 2


def _disable_guard(connection):
    if connection.dialect.name == "sqlite":
        connection.execute(text("DROP TRIGGER case_event_no_update"))
    else:
        connection.execute(text("ALTER TABLE case_event DISABLE TRIGGER case_event_append_only"))


def test_an_altered_event_is_detected_by_the_chain(walker, engine):
    case = _finish(walker)
    # Someone with database superpowers rewrites who validated the report.
    with engine.sql.begin() as connection:
        _disable_guard(connection)
        connection.execute(text(
            "UPDATE case_event SET actor = 'alguien' WHERE case_id = :c AND seq = 7"),
            {"c": case.id})
    replay = engine.replay(case.number, by=walker.leader)
    assert not replay.chain_intact and replay.broken_at == 7
    assert not replay.proven


def test_a_swapped_workflow_state_is_detected_by_replay(walker, engine):
    first = _finish(walker)
    walker.start()
    second = walker.do("reasignar_solicitud")
    with engine.sql.begin() as connection:
        state = connection.execute(text("SELECT state FROM \"case\" WHERE id = :i"),
                                   {"i": second.id}).scalar_one()
        connection.execute(text("UPDATE \"case\" SET state = :s WHERE id = :i"),
                           {"s": state, "i": first.id})
    replay = engine.replay(first.number, by=walker.leader)
    assert replay.chain_intact and not replay.stored_state_matches and not replay.proven
