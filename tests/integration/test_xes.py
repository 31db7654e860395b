"""The XES export: what a process-mining tool (PM4Py) reads back from it, counted exactly."""

from __future__ import annotations

import io
import warnings
from datetime import UTC, datetime

import pytest

from engine import NotFound

pytestmark = pytest.mark.integration

FULL = ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista", "emitir_diagnostico",
        "validar_informe", "remitir_informe", "solicitar_apoyo", "generar_respuesta",
        "generar_expediente", "archivar_expediente"]


def _read_xes(path):
    pm4py = pytest.importorskip("pm4py")
    with warnings.catch_warnings():
        # PM4Py's own dependencies warn about their futures; they are not ours to fix here.
        warnings.simplefilter("ignore")
        return pm4py.read_xes(str(path), return_legacy_log_object=True)


def _expected_events(engine, number, by):
    count = 0
    for entry in engine.history(number, by=by):
        if entry.event_type in ("task_completed", "task_claimed", "task_released"):
            count += 1
        elif entry.event_type == "timer_fired":
            count += len(entry.data["timers"])
    return count


def _cases(walker, engine, clock):
    """A finished case, a referred one, one with claims and a release, one overdue."""
    walker.start()
    for activity in FULL:
        clock.advance(hours=3)
        walker.do(activity)
    finished = walker.case
    walker.start()
    walker.do("reasignar_solicitud", is_social_case=False, referred_to="Fiscalía",
              referral_reason="Competencia de otra entidad")
    referred = walker.case
    walker.start()
    task = walker.task("reasignar_solicitud")
    engine.claim(task.task_id, by=walker.leader)
    engine.release(task.task_id, by=walker.leader)
    engine.claim(task.task_id, by=walker.leader)
    walker.do("reasignar_solicitud")
    claimed = walker.case
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    engine.fire_due_timers()
    overdue = engine.case(claimed.number, by=walker.leader)
    return [finished, referred, overdue]


def test_pm4py_reads_one_trace_per_case_with_exact_event_counts(walker, engine, clock, tmp_path):
    cases = _cases(walker, engine, clock)
    path = tmp_path / "social.xes"

    with path.open("wb") as target:
        summary = engine.export_xes(target, process_id="social_case")

    log = _read_xes(path)
    assert len(log) == summary.traces == 3
    by_number = {trace.attributes["concept:name"]: trace for trace in log}
    assert set(by_number) == {c.number for c in cases}
    expected = {c.number: _expected_events(engine, c.number, walker.leader) for c in cases}
    assert {n: len(t) for n, t in by_number.items()} == expected
    assert sum(len(t) for t in log) == summary.events == sum(expected.values())

    finished = by_number[cases[0].number]
    first = finished[0]
    assert first["concept:name"] == "Recibir la solicitud de intervención"
    assert first["org:resource"] == walker.coordinator
    assert first["org:role"] == "Coordinador/a General de Talento Humano"
    assert first["lifecycle:transition"] == "complete"
    assert first["time:timestamp"] == datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert [e["time:timestamp"] for e in finished] == sorted(e["time:timestamp"] for e in finished)
    assert finished.attributes["cauce:version"] == engine.library.get("social_case").version_hash
    assert finished.attributes["cauce:status"] == "completed"

    claimed = by_number[cases[2].number]
    transitions = [(e["cauce:element"], e["lifecycle:transition"]) for e in claimed]
    assert transitions[1:4] == [("reasignar_solicitud", "assign"),
                                ("reasignar_solicitud", "reassign"),
                                ("reasignar_solicitud", "assign")]
    timers = [e for e in claimed if "org:resource" not in e]
    assert timers and all(e["lifecycle:transition"] == "complete" for e in timers)


def test_the_export_keeps_to_the_procedure_and_the_dates(walker, engine, clock, tmp_path):
    walker.start()
    clock.set(datetime(2026, 3, 20, 15, 0, tzinfo=UTC))
    later = walker.start()

    target = io.BytesIO()
    summary = engine.export_xes(target, process_id="social_case",
                                started_from=datetime(2026, 3, 10, tzinfo=UTC))
    assert summary.traces == 1 and later.number.encode() in target.getvalue()
    assert engine.export_xes(io.BytesIO(), process_id="sla_planning").traces == 0
    with pytest.raises(NotFound):
        engine.export_xes(io.BytesIO(), process_id="no_existe")


def test_the_export_is_written_a_case_at_a_time(walker, engine):
    for _ in range(3):
        walker.start(requester_name="Ana <&> \"Pérez\"\x07")
    writes = []

    class Recorder(io.BytesIO):
        def write(self, data):
            writes.append(len(data))
            return super().write(data)

    target = Recorder()
    engine.export_xes(target, process_id="social_case")

    # Header, one write per trace, footer: never the whole document at once.
    assert len(writes) == 3 + 3 + 1
    from lxml import etree

    root = etree.fromstring(target.getvalue())
    assert len(root.findall("{http://www.xes-standard.org/}trace")) == 3


def test_the_cli_writes_an_xes_file_for_a_date_range(walker, engine, app, clock, tmp_path):
    walker.start()
    clock.set(datetime(2026, 3, 20, 15, 0, tzinfo=UTC))
    walker.start()
    out = tmp_path / "out.xes"
    runner = app.test_cli_runner()

    result = runner.invoke(args=["audit", "xes", "--process", "social_case", "--from",
                                 "02/03/2026", "--to", "02/03/2026", "-o", str(out)])

    assert result.exit_code == 0, result.output
    assert "1 casos, 1 eventos" in result.output
    assert len(_read_xes(out)) == 1
    missing = runner.invoke(args=["audit", "xes", "--process", "nada", "-o", str(out)])
    assert missing.exit_code == 1 and "No existe el procedimiento" in missing.output
    assert not out.exists()


def _timer_inside_a_step(walker, clock):
    """The diagnosis deadline passes unnoticed; it fires when the interview is completed."""
    walker.start()
    walker.do("reasignar_solicitud")
    walker.do("analizar_solicitud")
    clock.advance(days=40)  # no worker round in between: a step itself fires the timer
    walker.do("realizar_entrevista")
    walker.do("emitir_diagnostico")
    return walker.case


def test_a_timer_that_fired_inside_a_step_is_its_own_event_as_conformance_sees_it(
        walker, engine, clock, tmp_path):
    case = _timer_inside_a_step(walker, clock)
    history = engine.history(case.number, by=walker.leader)
    assert "timer_fired" not in {e.event_type for e in history}  # only the step's path has it
    [step] = [e for e in history if e.event_type == "task_completed"
              and "timer_plazo_diagnostico" in e.data["path"]]
    path = tmp_path / "social.xes"
    with path.open("wb") as target:
        summary = engine.export_xes(target, process_id="social_case")

    [trace] = _read_xes(path)
    events = [(e["cauce:element"], e["lifecycle:transition"], e["time:timestamp"],
               e.get("org:resource")) for e in trace]
    assert summary.events == _expected_events(engine, case.number, walker.leader) + 1
    timer = events.index(("timer_plazo_diagnostico", "complete", step.at, None))
    assert events[timer - 1][:2] == (step.activity_id, "complete")
    assert [e["concept:name"] for e in trace][timer] == "Plazo de 15 días laborables vencido"
    # The same trace the conformance check replays, activity for activity.
    [checked] = engine.conformance_report("social_case", by=None).cases
    assert [e for e, t, _, _ in events if t == "complete"] == list(checked.trace)
    assert checked.result.fitness == 1.0


def test_export_and_conformance_walk_every_case_once_across_pages(walker, engine, clock, tmp_path,
                                                                  monkeypatch):
    # Both readers page through the cases; a page of two over three cases crosses a page edge.
    import engine.case_pages as case_pages

    cases = _cases(walker, engine, clock)
    monkeypatch.setattr(case_pages, "PAGE", 2)
    path = tmp_path / "paged.xes"
    with path.open("wb") as target:
        summary = engine.export_xes(target, process_id="social_case")
    log = _read_xes(path)
    assert sorted(t.attributes["concept:name"] for t in log) == sorted(c.number for c in cases)
    assert summary.events == sum(_expected_events(engine, c.number, walker.leader) for c in cases)

    checked = [c.number for c in engine.conformance_report("social_case", by=None).cases]
    assert sorted(checked) == sorted(c.number for c in cases)
