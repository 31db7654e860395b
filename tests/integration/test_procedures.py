"""The process owner's workshop through the engine: drafts, check, publish, versions, diff,
migration — against the real database and SpiffWorkflow."""

from __future__ import annotations

import threading

import pytest

from engine import Engine, PermissionDenied
from engine.case_migration import Selection
from engine.procedures import ChecksFailed, DraftConflict, publish_files
from tests.conftest import FAST_HASHER, form_for

from .procedure_edits import (
    PROCESS,
    add_review_task,
    change_condition,
    remove_interview,
    rename,
    set_condition,
)

pytestmark = pytest.mark.integration
RECIBIR = "Recibir la solicitud de intervención"


@pytest.fixture
def owner(people):
    return people["propietario_cs"][0]


def _publish(engine: Engine, owner: str, edit, comment: str = "cambio") -> int:
    draft = engine.procedure_draft(PROCESS, by=owner)
    saved = engine.save_procedure_draft(PROCESS, by=owner, revision=draft.revision,
                                        files=edit(draft.files))
    return engine.publish_procedure_draft(PROCESS, by=owner, revision=saved.revision,
                                          comment=comment).number


def test_a_published_version_is_numbered_and_new_cases_start_on_it(engine, owner, walker):
    old_case = walker.start()
    number = _publish(engine, owner, lambda f: rename(f, "recibir_solicitud", RECIBIR,
                                                      "Registrar la solicitud"), "renombrar")
    assert number == 2
    info = engine.procedure(PROCESS, by=owner)
    assert [v.number for v in info.versions] == [1, 2]
    assert info.versions[1].created_by == owner and info.versions[1].comment == "renombrar"
    assert info.current.number == 2 and info.versions[0].open_cases == 1
    new_case = walker.start()
    with engine.read_session() as session:
        from engine.store import CaseRow

        versions = {row.number: row.version_id for row in session.query(CaseRow)}
    assert versions[old_case.number] != versions[new_case.number]
    assert engine.definition_by_hash(info.versions[1].hash).activity(
        "recibir_solicitud").name == "Registrar la solicitud"


def test_a_second_app_process_sees_a_published_version_without_touching_bpmn(
        engine, owner, people, database_url, library, clock):
    _publish(engine, owner, lambda f: rename(f, "recibir_solicitud", RECIBIR,
                                             "Registrar la solicitud"))
    # A restart: a new engine on the same database, from the same bpmn/ files.
    second = Engine(database_url, library, clock=clock, password_hasher=FAST_HASHER)
    try:
        second.create_schema()
        case = second.start_case(PROCESS, by=people["coordinador_th"][0],
                                 data=form_for("recibir_solicitud"))
        assert [t.activity_id for t in case.open_tasks] == ["reasignar_solicitud"]
        info = second.procedure(PROCESS, by=owner)
        assert info.current.number == 2
        with second.read_session() as session:
            from engine.store import CaseRow

            row = session.query(CaseRow).filter_by(number=case.number).one()
        assert row.version_id == info.versions[1].version_id
    finally:
        second.sql.dispose()


def test_two_saves_of_the_same_revision_conflict_and_nothing_is_overwritten(engine, owner):
    draft = engine.procedure_draft(PROCESS, by=owner)
    first = rename(draft.files, "recibir_solicitud", RECIBIR, "Primera")
    engine.save_procedure_draft(PROCESS, by=owner, revision=draft.revision, files=first)
    second = rename(draft.files, "recibir_solicitud", RECIBIR, "Segunda")
    with pytest.raises(DraftConflict) as conflict:
        engine.save_procedure_draft(PROCESS, by=owner, revision=draft.revision, files=second)
    assert conflict.value.updated_by == owner and conflict.value.revision == draft.revision + 1
    assert "guardó otra versión del borrador a las" in conflict.value.message
    assert 'name="Primera"' in engine.procedure_draft(PROCESS, by=owner).files["bpmn"][
        "social_case.bpmn"]


def _problems(engine, owner, files):
    result = engine.check_procedure_draft(PROCESS, by=owner, files=files)
    assert not result.ok
    return result.problems


def test_check_names_a_missing_form(engine, owner):
    draft = engine.procedure_draft(PROCESS, by=owner)
    problems = _problems(engine, owner, add_review_task(draft.files, add_form=False))
    assert any(p.element_id == "revisar_registro" and "forms/revisar_registro.json" in p.message
               and p.line for p in problems), problems


def test_check_names_a_task_in_no_lane(engine, owner):
    draft = engine.procedure_draft(PROCESS, by=owner)
    problems = _problems(engine, owner, add_review_task(draft.files, lane="none"))
    assert any(p.element_id == "revisar_registro" and "carril" in p.message
               for p in problems), problems


def test_check_names_a_lane_without_a_role(engine, owner):
    draft = engine.procedure_draft(PROCESS, by=owner)
    files = dict(draft.files)
    files["bpmn"] = {"social_case.bpmn": files["bpmn"]["social_case.bpmn"].replace(
        '<bpmn:lane id="lider_seguridad"', '<bpmn:lane id="lider_seguridad_nuevo"')}
    problems = _problems(engine, owner, files)
    assert any("lider_seguridad" in p.message for p in problems), problems


def test_check_refuses_a_hostile_condition_with_the_sandbox_reason(engine, owner):
    draft = engine.procedure_draft(PROCESS, by=owner)
    problems = _problems(engine, owner, set_condition(
        draft.files, "__import__('os').system('true') == 0"))
    assert any(p.element_id == "gw_procede" and p.severity == "error" for p in problems), problems


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>',
    '<!DOCTYPE d [<!ENTITY l0 "lol"><!ENTITY l1 "&l0;&l0;&l0;&l0;&l0;&l0;&l0;&l0;">]>',
])
def test_hostile_xml_is_refused_by_check_save_and_publish(engine, owner, doctype):
    draft = engine.procedure_draft(PROCESS, by=owner)
    files = dict(draft.files)
    xml = files["bpmn"]["social_case.bpmn"]
    files["bpmn"] = {"social_case.bpmn": xml.replace("?>", "?>\n" + doctype, 1)}
    problems = _problems(engine, owner, files)
    assert any("DOCTYPE" in p.message for p in problems), problems
    with pytest.raises(ChecksFailed) as refused:
        engine.save_procedure_draft(PROCESS, by=owner, revision=draft.revision, files=files)
    assert "DOCTYPE" in refused.value.problems[0].message
    raw = {name: text.encode() for name, text in draft.files["bpmn"].items()}
    raw["social_case.bpmn"] = files["bpmn"]["social_case.bpmn"].encode()
    with pytest.raises(ChecksFailed):
        publish_files(engine, PROCESS, raw, by=owner, comment="hostil")


def test_a_broken_draft_is_not_published(engine, owner):
    draft = engine.procedure_draft(PROCESS, by=owner)
    saved = engine.save_procedure_draft(PROCESS, by=owner, revision=draft.revision,
                                        files=add_review_task(draft.files, add_form=False))
    with pytest.raises(ChecksFailed):
        engine.publish_procedure_draft(PROCESS, by=owner, revision=saved.revision, comment="x")
    assert engine.procedure(PROCESS, by=owner).current.number == 1


def test_only_owners_touch_drafts(engine, people):
    for who in (people["propietario_carta"][0], people["auditor_gth"][0],
                people["trabajador_social"][0]):
        with pytest.raises(PermissionDenied):
            engine.procedure_draft(PROCESS, by=who)


def test_the_diff_lists_a_renamed_task_an_added_task_and_a_changed_condition(engine, owner):
    def edit(files):
        return change_condition(add_review_task(rename(files, "recibir_solicitud", RECIBIR,
                                                       "Registrar la solicitud")))
    _publish(engine, owner, edit)
    diff = engine.procedure_diff(PROCESS, 1, 2, by=owner).to_json()
    assert {"id": "revisar_registro", "type": "bpmn:UserTask",
            "name": "Revisar el registro"} in diff["added"]
    changed = {c["id"]: c["changes"] for c in diff["changed"]}
    assert any("Registrar la solicitud" in c for c in changed["recibir_solicitud"])
    assert any(c.startswith("Condición") and "is_social_case == False" in c
               for c in changed["f_no_procede"])
    assert any("revisar_registro" in c for c in changed["coordinador_th"])
    assert {"file": "forms/revisar_registro.json", "status": "added"} in diff["files"]


def test_the_start_form_is_discoverable(engine):
    form = engine.procedure_start_form(PROCESS)
    assert form is not None and form["form_id"] == "recibir_solicitud"
    assert "requester_name" in form["schema"]["properties"]


def test_two_owners_publishing_at_once_make_two_versions(engine, people):
    owners = people["propietario_cs"] + people["coordinador_th"][:1]
    base = engine.procedure_draft(PROCESS, by=owners[0]).files
    engine.discard_procedure_draft(PROCESS, by=owners[0])
    raw = {}
    for index in range(2):
        files = rename(base, "recibir_solicitud", RECIBIR, f"Versión {index}")
        raw[index] = {**{n: t.encode() for n, t in files["bpmn"].items()},
                      **{n: t.encode() for n, t in engine.procedure_version(PROCESS, 1)
                         .bundle.items() if not n.endswith(".bpmn")}}
    results, errors = [], []
    barrier = threading.Barrier(2)

    def publish(index: int) -> None:
        try:
            barrier.wait()
            results.append(publish_files(engine, PROCESS, raw[index], by=owners[index],
                                         comment=f"a la vez {index}"))
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(r.number for r in results) == [2, 3]
    versions = engine.procedure(PROCESS, by=owners[0]).versions
    assert sorted(v.comment for v in versions[1:]) == ["a la vez 0", "a la vez 1"]


# -- migration --------------------------------------------------------------------------------


def test_dry_run_says_why_a_case_waiting_in_a_removed_task_cannot_move(engine, owner, walker):
    walker.start()
    walker.do("reasignar_solicitud")
    walker.do("analizar_solicitud")
    assert "realizar_entrevista" in walker.open_activities()
    waiting = walker.case.number
    walker.start()
    early = walker.case.number
    _publish(engine, owner, remove_interview)
    plans = {p.case_number: p for p in engine.migration_dry_run(
        PROCESS, by=owner, selection=Selection(1, 2))}
    assert not plans[waiting].can_move
    assert "realizar_entrevista" in plans[waiting].reason
    assert "no existe en la versión 2" in plans[waiting].reason
    assert plans[early].can_move and plans[early].reason is None
    assert any("reasignar_solicitud" in a for a in plans[early].actions)


def test_a_migrated_case_finishes_on_the_new_version_and_is_still_proven(engine, owner, walker,
                                                                         people):
    walker.start()
    number = walker.case.number
    _publish(engine, owner, lambda f: rename(f, "reasignar_solicitud",
                                             "Recibir y reasignar la solicitud de intervención",
                                             "Reasignar la solicitud"))
    (plan,) = engine.migration_dry_run(PROCESS, by=owner, selection=Selection(1, 2, (number,)))
    assert ("«Recibir y reasignar la solicitud de intervención (reasignar_solicitud)» sigue "
            "activa y pasa a llamarse «Reasignar la solicitud»") in plan.actions, plan.actions
    job_id = engine.migrate_cases(PROCESS, by=owner, selection=Selection(1, 2, (number,)))
    job = engine.migration_job(job_id, by=owner)
    assert (job.total, job.moved, job.refused, job.finished) == (1, 1, 0, True)
    history = engine.history(number, by=walker.coordinator)
    migrated = [e for e in history if e.event_type == "case_migrated"]
    assert len(migrated) == 1 and migrated[0].actor == owner
    case = engine.case(number, by=walker.coordinator)
    assert [t.activity_name for t in case.open_tasks] == ["Reasignar la solicitud"]
    walker.case = case
    walker.do("reasignar_solicitud", is_social_case=False, referred_to="Dispensario médico",
              referral_reason="No es un caso social")
    assert walker.case.status == "completed"
    proof = engine.verify_case(number, by=people["auditor_gth"][0])
    assert proof.ok, proof
    assert engine.case_replay(number, by=people["auditor_gth"][0]).status == "completed"


# -- play mode --------------------------------------------------------------------------------


def test_a_trial_runs_the_social_case_to_its_end_without_creating_a_case(engine, owner,
                                                                         people):
    from engine import FormInvalid
    from engine.store import CaseEventRow, CaseRow

    state = engine.start_trial(PROCESS, by=owner)
    trial_id = state.trial_id

    def do(activity: str, **extra):
        nonlocal state
        task = next(t for t in state.ready if t["activity_id"] == activity)
        assert task["form"]["schema"]["type"] == "object"
        state = engine.complete_trial_task(trial_id, task["task_id"], by=owner,
                                           data=form_for(activity, **extra))

    first = state.ready[0]
    with pytest.raises(FormInvalid) as invalid:
        engine.complete_trial_task(trial_id, first["task_id"], by=owner, data={})
    assert "requester_name" in invalid.value.by_field()
    do("recibir_solicitud")
    do("reasignar_solicitud", social_worker=people["trabajador_social"][0])
    do("analizar_solicitud")
    assert any(t["id"] == "timer_plazo_diagnostico" for t in state.timers)
    state = engine.fire_trial_timer(trial_id, "timer_plazo_diagnostico", by=owner)
    assert "timer_plazo_diagnostico" in state.completed
    assert "atender_vencimiento" in [t["activity_id"] for t in state.ready]
    do("atender_vencimiento")
    do("realizar_entrevista")
    do("emitir_diagnostico")
    do("validar_informe", report_validated=True, requires_support=False)
    do("archivar_expediente")
    assert state.finished and state.data["retention_until"]
    # A second engine (another app process) reads the same trial from the database.
    assert engine.trial_state(trial_id, by=people["coordinador_th"][0]).finished
    with engine.read_session() as session:
        assert session.query(CaseRow).count() == 0
        assert session.query(CaseEventRow).count() == 0
    with pytest.raises(PermissionDenied):
        engine.trial_state(trial_id, by=people["trabajador_social"][0])
    engine.end_trial(trial_id, by=owner)


def test_export_and_import_move_versions_to_and_from_files(app, engine, owner, tmp_path):
    runner = app.test_cli_runner()
    exported = runner.invoke(args=["procedures", "export", str(tmp_path / "out")])
    assert exported.exit_code == 0, exported.output
    diagram = tmp_path / "out" / "social_case.bpmn"
    assert (tmp_path / "out" / "forms" / "recibir_solicitud.json").exists()
    diagram.write_text(diagram.read_text().replace(f'name="{RECIBIR}"', 'name="Desde git"'))
    imported = runner.invoke(args=["procedures", "import", str(tmp_path / "out"),
                                   "--by", owner])
    assert imported.exit_code == 0, imported.output
    assert "social_case: versión 2 (nueva versión)" in imported.output
    assert "sla_planning: versión 1 (sin cambios)" in imported.output
    assert engine.procedure_version(PROCESS, 2).activity("recibir_solicitud").name == "Desde git"
    diagram.write_text(diagram.read_text().replace("<bpmn:userTask", "<bpmn:userTask foo", 1))
    broken = runner.invoke(args=["procedures", "import", str(tmp_path / "out")])
    assert broken.exit_code == 1 and "social_case.bpmn" in broken.output


# -- migration jobs left behind by a dead process ----------------------------------------------


def _job_left_behind(engine, owner, walker) -> tuple[str, list[str]]:
    """Three open cases and a bulk migration job whose web process died before moving any."""
    numbers = []
    for _ in range(3):
        walker.start()
        numbers.append(walker.case.number)
    _publish(engine, owner, lambda f: rename(f, "reasignar_solicitud",
                                             "Recibir y reasignar la solicitud de intervención",
                                             "Reasignar la solicitud"))
    job_id = engine.migrate_cases(PROCESS, by=owner, selection=Selection(1, 2), run=False)
    return job_id, numbers


def test_the_timer_worker_resumes_a_migration_job_whose_process_died(engine, owner, walker,
                                                                     clock, app):
    from web.cli import run_worker_round

    job_id, numbers = _job_left_behind(engine, owner, walker)
    with app.app_context():
        run_worker_round(engine)  # its runner beat a moment ago: not taken for dead
        assert engine.migration_job(job_id, by=owner).done == 0
        clock.advance(minutes=11)
        run_worker_round(engine)

    job = engine.migration_job(job_id, by=owner)
    assert (job.total, job.done, job.moved, job.refused, job.finished) == (3, 3, 3, 0, True)
    for number in numbers:
        history = engine.history(number, by=walker.coordinator)
        assert [e.event_type for e in history].count("case_migrated") == 1
        case = engine.case(number, by=walker.coordinator)
        assert [t.activity_name for t in case.open_tasks] == ["Reasignar la solicitud"]
    with app.app_context():
        clock.advance(minutes=11)
        run_worker_round(engine)  # a finished job is never run again
    assert sum(e.event_type == "case_migrated"
               for e in engine.history(numbers[0], by=walker.coordinator)) == 1


def test_two_workers_never_take_the_same_stale_migration_job(engine, owner, walker, clock):
    from engine.case_migration import claim_stale_job

    job_id, _numbers = _job_left_behind(engine, owner, walker)
    clock.advance(minutes=11)
    claimed: list[str | None] = []
    barrier = threading.Barrier(2)

    def claim(worker: str) -> None:
        barrier.wait()
        claimed.append(claim_stale_job(engine, worker))

    threads = [threading.Thread(target=claim, args=(f"host:{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed, key=str) == sorted([job_id, None], key=str)
    # The winner's lease is fresh: a third worker a minute later leaves the job alone too.
    clock.advance(minutes=1)
    assert claim_stale_job(engine, "host:3") is None
