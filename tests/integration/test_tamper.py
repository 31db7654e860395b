"""An attacker with database access changes history; verification finds it and says where.

Every tampering here goes through raw SQL, switching the event log's append-only guard off the
way such an attacker would (dropping the trigger on SQLite, disabling it on PostgreSQL).
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from engine import audit
from engine.anchoring import CheckpointLog
from engine.store import Base

pytestmark = pytest.mark.integration

FULL = ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista", "emitir_diagnostico",
        "validar_informe", "remitir_informe", "solicitar_apoyo", "generar_respuesta",
        "generar_expediente", "archivar_expediente"]


@pytest.fixture
def log(tmp_path):
    return CheckpointLog(tmp_path / "checkpoints", tmp_path / "keys" / "checkpoint.pem")


def _finish(walker, **start):
    walker.start(**start)
    for activity in FULL:
        walker.do(activity)
    return walker.case


def _disable_guard(connection):
    if connection.dialect.name == "sqlite":
        connection.execute(text("DROP TRIGGER IF EXISTS case_event_no_update"))
        connection.execute(text("DROP TRIGGER IF EXISTS case_event_no_delete"))
    else:
        connection.execute(text("ALTER TABLE case_event DISABLE TRIGGER case_event_append_only"))


_EVENT = Base.metadata.tables["case_event"]


def _events(connection, case_id):
    return connection.execute(_EVENT.select().where(_EVENT.c.case_id == case_id)
                              .order_by(_EVENT.c.seq)).mappings().all()


def _rechain(connection, case_id, events):
    """Rewrite a case's whole log from ``events`` with a valid chain, as an attacker would."""
    connection.execute(_EVENT.delete().where(_EVENT.c.case_id == case_id))
    previous = audit.GENESIS
    for seq, event in enumerate(events, start=1):
        digest = audit.event_hash(
            previous, case_id=case_id, seq=seq, at=event["at"], actor=event["actor"],
            role=event["role"], event_type=event["event_type"], task_id=event["task_id"],
            activity_id=event["activity_id"], data=event["data"], state_hash=event["state_hash"])
        row = {k: v for k, v in event.items() if k != "id"}
        connection.execute(_EVENT.insert(), {**row, "case_id": case_id, "seq": seq,
                                             "hash": digest})
        previous = digest
    connection.execute(text("UPDATE \"case\" SET last_seq = :s, last_hash = :h WHERE id = :c"),
                       {"s": len(events), "h": previous, "c": case_id})
    return previous


def _problems(report, number):
    return [p for p in report.problems if p.case_number == number]


def test_untouched_cases_verify_and_the_outcome_is_stored(walker, engine, log):
    first = _finish(walker)
    walker.start()
    second = walker.do("reasignar_solicitud")
    engine.write_checkpoint(log)

    report = engine.verify_history(checkpoints=log)

    assert report.ok and (report.cases, report.correct) == (2, 2)
    assert report.checkpoint.startswith("1 (")
    stored = engine.case_verifications(first.number, by=walker.leader)
    assert [(v.by, v.check.ok, v.check.kind) for v in stored] == [("sistema", True, "ok")]
    with engine.read_session() as session:
        run = session.execute(text("SELECT by, cases, problems, checkpoint "
                                   "FROM verification_run")).one()
    assert tuple(run)[:3] == ("sistema", 2, 0)
    assert engine.verify_history(process_id="sla_planning").cases == 0
    assert engine.verify_history(by=walker.leader).by == walker.leader
    assert second.number != first.number


def test_an_event_whose_data_was_changed_is_located(walker, engine):
    case = _finish(walker)
    with engine.sql.begin() as connection:
        _disable_guard(connection)
        connection.execute(text(
            "UPDATE case_event SET data = :d WHERE case_id = :c AND seq = 3"),
            {"d": '{"form": {"is_social_case": false}, "path": []}', "c": case.id})

    report = engine.verify_history()

    [problem] = _problems(report, case.number)
    assert (problem.kind, problem.seq) == ("chain", 3)
    assert "se rompe en el evento 3" in problem.problem


def test_a_deleted_middle_event_is_located(walker, engine):
    case = _finish(walker)
    with engine.sql.begin() as connection:
        _disable_guard(connection)
        connection.execute(text("DELETE FROM case_event WHERE case_id = :c AND seq = 5"),
                           {"c": case.id})

    [problem] = _problems(engine.verify_history(), case.number)
    assert (problem.kind, problem.seq) == ("chain", 5)
    assert problem.problem.startswith(
        "falta el evento 5: la cadena de hashes se rompe en el evento 6")


def test_deleted_last_events_are_located_by_the_case_row_and_by_the_checkpoint(
        walker, engine, log):
    case = _finish(walker)
    total = case_total = engine.history(case.number, by=walker.leader)[-1].seq
    engine.write_checkpoint(log)
    with engine.sql.begin() as connection:
        _disable_guard(connection)
        connection.execute(text("DELETE FROM case_event WHERE case_id = :c AND seq > :s"),
                           {"c": case.id, "s": total - 3})

    [problem] = _problems(engine.verify_history(), case.number)
    assert (problem.kind, problem.seq) == ("tail", total - 2)

    # The attacker also winds the case row back to the new last event: only the checkpoint knows.
    with engine.sql.begin() as connection:
        head = connection.execute(text(
            "SELECT hash FROM case_event WHERE case_id = :c AND seq = :s"),
            {"c": case.id, "s": total - 3}).scalar_one()
        connection.execute(text("UPDATE \"case\" SET last_seq = :s, last_hash = :h WHERE id = :c"),
                           {"s": total - 3, "h": head, "c": case.id})
    report = engine.verify_history(checkpoints=log)
    kinds = {(p.kind, p.seq) for p in _problems(report, case.number)}
    assert ("truncated", total - 2) in kinds
    assert ("tail", total - 2) not in kinds
    truncated = next(p for p in report.findings if p.kind == "truncated")
    assert f"registra {case_total}" in truncated.problem


def test_two_reordered_events_are_located(walker, engine):
    case = _finish(walker)
    with engine.sql.begin() as connection:
        _disable_guard(connection)
        for old, new in ((3, 1000), (4, 3), (1000, 4)):
            connection.execute(text(
                "UPDATE case_event SET seq = :n WHERE case_id = :c AND seq = :o"),
                {"n": new, "o": old, "c": case.id})

    [problem] = _problems(engine.verify_history(), case.number)
    assert (problem.kind, problem.seq) == ("chain", 3)


def test_a_forged_event_with_a_recomputed_chain_is_located_by_replay_and_checkpoint(
        walker, engine, log):
    walker.start()
    walker.do("reasignar_solicitud")
    case = walker.do("analizar_solicitud")
    engine.write_checkpoint(log)
    with engine.sql.begin() as connection:
        _disable_guard(connection)
        events = [dict(e) for e in _events(connection, case.id)]
        forged = {**events[2], "actor": events[2]["actor"],
                  "data": {"form": {"is_social_case": False, "referred_to": "Fiscalía",
                                    "referral_reason": "Otra entidad"}, "path": []}}
        _rechain(connection, case.id, [*events[:2], forged, *events[2:]])
    report = engine.verify_history(checkpoints=log)

    problems = _problems(report, case.number)
    assert (problems[0].kind, problems[0].seq) == ("replay", 3)
    assert "diverge en el evento 3" in problems[0].problem
    assert any(p.kind == "rewritten" and p.seq == len(events) for p in problems)


def test_a_whole_chain_and_state_rewritten_consistently_is_caught_by_the_checkpoint(
        walker, engine, log):
    victim = _finish(walker)
    engine.write_checkpoint(log)
    # The attacker runs the case they want on the same engine, then moves it onto the victim.
    forged = _finish(walker, requester_name="Otra Persona", beneficiary_name="Otro Beneficiario")
    with engine.sql.begin() as connection:
        _disable_guard(connection)
        events = [dict(e) for e in _events(connection, forged.id)]
        _rechain(connection, victim.id, events)
        connection.execute(text(
            "UPDATE \"case\" SET state = (SELECT state FROM \"case\" WHERE id = :f), "
            "fingerprint = (SELECT fingerprint FROM \"case\" WHERE id = :f), "
            "requester = 'Otra Persona' WHERE id = :v"), {"f": forged.id, "v": victim.id})

    without = engine.verify_history()
    assert not _problems(without, victim.number), "consistent rewrite proves on its own"
    assert engine.history(victim.number, by=walker.leader)[1].data["form"]["requester_name"] == (
        "Otra Persona")

    report = engine.verify_history(checkpoints=log)
    [problem] = _problems(report, victim.number)
    assert problem.kind == "rewritten" and problem.seq == len(events)
    assert not report.ok


def test_a_deleted_case_is_caught_by_the_checkpoint(walker, engine, log):
    kept = _finish(walker)
    gone = _finish(walker)
    engine.write_checkpoint(log)
    with engine.sql.begin() as connection:
        _disable_guard(connection)
        for table in reversed(Base.metadata.sorted_tables):
            if "case_id" in table.c and table.name not in ("verification_result",):
                connection.execute(table.delete().where(table.c.case_id == gone.id))
        connection.execute(text("DELETE FROM \"case\" WHERE id = :c"), {"c": gone.id})

    report = engine.verify_history(checkpoints=log)

    assert report.cases == 1 and report.correct == 1
    [deleted] = [p for p in report.findings if p.kind == "deleted"]
    assert deleted.case_number == gone.number and deleted.case_id == gone.id
    assert "ya no está en la base de datos" in deleted.problem
    assert not _problems(report, kept.number) and not report.ok


def test_a_changed_stored_state_is_caught_by_replay(walker, engine):
    first = _finish(walker)
    walker.start()
    second = walker.do("reasignar_solicitud")
    with engine.sql.begin() as connection:
        connection.execute(text(
            "UPDATE \"case\" SET state = (SELECT state FROM \"case\" WHERE id = :s) "
            "WHERE id = :f"), {"s": second.id, "f": first.id})

    [problem] = _problems(engine.verify_history(), first.number)
    assert problem.kind == "state" and "estado guardado" in problem.problem


def test_a_dropped_guard_and_an_edit_are_both_reported(walker, engine):
    case = _finish(walker)
    with engine.sql.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.execute(text("DROP TRIGGER case_event_no_update"))
        else:
            connection.execute(text("DROP TRIGGER case_event_append_only ON case_event"))
        connection.execute(text(
            "UPDATE case_event SET actor = 'alguien' WHERE case_id = :c AND seq = 2"),
            {"c": case.id})

    report = engine.verify_history()

    [guard] = [p for p in report.findings if p.kind == "guard"]
    assert "protección del registro" in guard.problem
    [problem] = _problems(report, case.number)
    assert (problem.kind, problem.seq) == ("chain", 2)


def test_the_cli_verifies_every_case_and_fails_on_a_problem(walker, engine, app, tmp_path):
    app.config.update(CHECKPOINT_DIR=str(tmp_path / "cp"), CHECKPOINT_KEY=str(tmp_path / "k.pem"))
    case = _finish(walker)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    assert os.stat(tmp_path / "k.pem").st_mode & 0o777 == 0o600

    ok = runner.invoke(args=["audit", "verify", "--process", "social_case"])
    assert ok.exit_code == 0, ok.output
    assert "1 casos verificados: 1 correctos, 0 con problemas" in ok.output
    assert "Comparado con el checkpoint 1" in ok.output

    with engine.sql.begin() as connection:
        _disable_guard(connection)
        connection.execute(text("UPDATE case_event SET actor = 'x' WHERE case_id = :c AND seq = 4"),
                           {"c": case.id})
    bad = runner.invoke(args=["audit", "verify", "--as", walker.leader, "--since", "01/03/2026"])
    assert bad.exit_code == 2
    assert f"{case.number}, evento 4: la cadena de hashes se rompe en el evento 4" in bad.output
    assert "1 casos verificados: 0 correctos, 1 con problemas" in bad.output
    stored = engine.case_verifications(case.number, by=walker.leader)
    assert (stored[0].by, stored[0].check.kind, stored[0].check.seq) == (walker.leader, "chain", 4)
    assert runner.invoke(args=["audit", "verify", "--since", "ayer"]).exit_code == 2
