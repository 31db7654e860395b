"""Signed checkpoints: a chain of files outside the database that the database must agree with."""

from __future__ import annotations

import json
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from engine import audit
from engine.anchoring import CaseHead, CheckpointLog, merkle_root

pytestmark = pytest.mark.integration


@pytest.fixture
def log(tmp_path):
    return CheckpointLog(tmp_path / "checkpoints", tmp_path / "keys" / "checkpoint.pem")


def _body(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_checkpoint_signs_every_case_head_and_a_merkle_root(walker, engine, log, clock):
    first = walker.start()
    second = walker.start()

    written = engine.write_checkpoint(log)

    assert written.number == 1 and written.previous is None and written.case_count == 2
    body = _body(written.path)
    assert body["cases"] == [
        [c.id, c.number, 2, h[-1].hash]
        for c in (first, second)
        for h in [engine.history(c.number, by=walker.coordinator)]]
    assert body["created_at"] == clock().isoformat(timespec="microseconds")
    # Anyone holding the public key can check it, with nothing of Cauce's.
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(body["public_key"]))
    unsigned = {k: v for k, v in body.items() if k != "signature"}
    public.verify(bytes.fromhex(body["signature"]),
                  audit.canonical_json(unsigned).encode("utf-8"))
    assert body["merkle_root"] == merkle_root(
        CaseHead(*row) for row in body["cases"])
    assert stat.S_IMODE(os.stat(log.key_path).st_mode) == 0o600
    pem = log.key_path.read_bytes()
    assert serialization.load_pem_private_key(pem, password=None)


def test_later_checkpoints_list_only_moved_cases_and_name_the_previous_one(
        walker, engine, log, clock):
    walker.start()
    still = walker.case
    walker.start()
    one = engine.write_checkpoint(log)
    assert engine.write_checkpoint(log) is None, "nothing moved: nothing written"

    clock.advance(hours=1)
    moved = walker.do("reasignar_solicitud")
    two = engine.write_checkpoint(log)

    assert two.number == 2 and two.previous == one.hash
    assert [h.number for h in two.changed] == [moved.number]
    assert two.case_count == 2
    heads = log.known_heads()
    assert heads[still.id].last_seq == 2 and heads[moved.id].last_seq == 3
    findings, state, latest = log.check_log()
    assert findings == [] and latest.number == 2 and state == heads
    assert engine.verify_history(checkpoints=log).ok


def test_a_case_that_moved_on_after_a_checkpoint_still_agrees_with_it(walker, engine, log):
    walker.start()
    engine.write_checkpoint(log)
    walker.do("reasignar_solicitud")
    walker.do("analizar_solicitud")

    report = engine.verify_history(checkpoints=log)

    assert report.ok, report.problems


def test_an_altered_checkpoint_fails_its_signature(walker, engine, log):
    case = walker.start()
    written = engine.write_checkpoint(log)
    body = _body(written.path)
    body["cases"][0][2] = 1  # "the case had only one event"
    written.path.write_text(json.dumps(body), encoding="utf-8")

    findings = [p for p in engine.verify_history(checkpoints=log).findings
                if p.kind == "checkpoint"]

    assert any("firma del checkpoint 1 no es válida" in f.problem for f in findings)
    assert case.number


def test_a_removed_checkpoint_breaks_the_chain_of_checkpoints(walker, engine, log, clock):
    walker.start()
    engine.write_checkpoint(log)
    walker.do("reasignar_solicitud")
    second = engine.write_checkpoint(log)
    walker.do("analizar_solicitud")
    engine.write_checkpoint(log)
    second.path.unlink()

    problems = [p.problem for p in engine.verify_history(checkpoints=log).findings]

    assert any("falta un checkpoint antes del 3" in p for p in problems), problems


def test_a_checkpoint_signed_with_another_key_is_refused(walker, engine, log, tmp_path):
    walker.start()
    impostor = CheckpointLog(log.directory, tmp_path / "other.pem")
    engine.write_checkpoint(impostor)

    problems = [p.problem for p in engine.verify_history(checkpoints=log).findings]

    assert problems == ["la firma del checkpoint 1 no es válida: fue alterado o firmado con "
                        "otra clave"]


def test_a_reordered_or_unlinked_checkpoint_log_is_reported(walker, engine, log):
    walker.start()
    engine.write_checkpoint(log)
    walker.do("reasignar_solicitud")
    second = engine.write_checkpoint(log)
    # Re-signed by the key holder but pointing nowhere: the chain of checkpoints is broken.
    body = _body(second.path)
    body["previous"] = "0" * 64
    unsigned = {k: v for k, v in body.items() if k != "signature"}
    body["signature"] = log.private_key().sign(
        audit.canonical_json(unsigned).encode("utf-8")).hex()
    second.path.write_text(json.dumps(body), encoding="utf-8")

    problems = [p.problem for p in engine.verify_history(checkpoints=log).findings]

    assert problems == ["el checkpoint 2 no enlaza con el anterior: la cadena de checkpoints "
                        "está rota"]


def test_the_worker_writes_a_checkpoint_once_per_interval(walker, engine, app, tmp_path):
    from web import audit_cli

    app.config.update(CHECKPOINT_DIR=str(tmp_path / "cp"), CHECKPOINT_KEY=str(tmp_path / "k.pem"),
                      CHECKPOINT_INTERVAL=3600)
    walker.start()
    audit_cli._last_attempt = None
    with app.app_context():
        audit_cli.worker_checkpoint(engine)
        walker.start()
        audit_cli.worker_checkpoint(engine)  # within the hour: nothing
        assert [p.name for p in (tmp_path / "cp").iterdir()] == ["checkpoint-000001.json"]
        audit_cli._last_attempt = None  # another worker process, same log
        audit_cli.worker_checkpoint(engine)
        assert len(list((tmp_path / "cp").iterdir())) == 1, "the log's newest file sets the pace"
        app.config["CHECKPOINT_INTERVAL"] = 0
        audit_cli.worker_checkpoint(engine)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 0 and "Checkpoint 2 escrito" in result.output
    assert "(1 cambiaron)" in result.output
    again = runner.invoke(args=["audit", "checkpoint"])
    assert "Ningún caso cambió" in again.output
