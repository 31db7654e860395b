"""Retention: closed social cases whose 5-year period (from archiving) has passed, or soon will."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from engine import Conflict, FormInvalid, PermissionDenied
from engine.anchoring import CheckpointLog
from engine.store import Base

pytestmark = pytest.mark.integration

STEPS = ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
         "emitir_diagnostico"]


def _archived(walker, day):
    walker.start()
    for activity in STEPS:
        walker.do(activity)
    walker.do("validar_informe", report_validated=True, requires_support=False)
    return walker.do("archivar_expediente", archived_date=day)


def _owner(people):
    return people["propietario_cs"][0]


def test_the_report_lists_cases_past_retention_and_soon_but_not_the_rest(walker, engine, people):
    # The clock says 2 March 2026: 5 years after archiving.
    old = _archived(walker, "2020-06-15")       # kept until 15/06/2025: passed
    soon = _archived(walker, "2021-04-01")      # until 01/04/2026: 30 days left
    recent = _archived(walker, "2026-03-02")    # until 02/03/2031
    walker.start()
    open_case = walker.do("reasignar_solicitud")

    report = engine.retention_report(by="monica.pazmino")

    assert [i.number for i in report.passed] == [old.number]
    assert report.passed[0].keep_until.isoformat() == "2025-06-15"
    assert report.passed[0].days_left == -260
    assert [i.number for i in report.soon] == [soon.number]
    assert report.soon[0].days_left == 30
    listed = {i.number for i in (*report.passed, *report.soon)}
    assert recent.number not in listed and open_case.number not in listed
    assert report.kept == 1
    narrower = engine.retention_report(by="monica.pazmino", soon_days=10)
    assert narrower.soon == () and narrower.kept == 2


def test_auditors_and_owners_read_it_and_nobody_else(walker, engine, people):
    _archived(walker, "2020-06-15")
    assert engine.retention_report(by=_owner(people)).passed
    assert engine.retention_report(by="monica.pazmino").passed
    # The charter's auditor reads the charter's procedures, not the social cases.
    assert engine.retention_report(by="esteban.chiriboga").passed == ()
    # The owner is the Coordinador/a General de Talento Humano's position (oversight.owner).
    assert engine.retention_report(by=walker.coordinator).passed
    for username in (walker.leader, walker.social_worker):
        with pytest.raises(PermissionDenied):
            engine.retention_report(by=username)


def test_the_retention_page_and_its_routes(walker, engine, people, web):
    old = _archived(walker, "2020-06-15")
    page = web("monica.pazmino").get("/auditoria/retencion")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    passed = html[html.index('id="passed"'):html.index('id="soon"')]
    assert f'data-case="{old.number}"' in passed and "15/06/2025" in passed
    assert "Cumplido hace 260 días" in passed
    assert "Atención y Seguimiento de Casos Sociales" in passed
    owner = web(_owner(people)).get("/bandeja").get_data(as_text=True)
    assert 'href="/auditoria/retencion"' in owner
    for username in (walker.leader, walker.social_worker):
        client = web(username)
        assert client.get("/auditoria/retencion").status_code == 404
        assert 'href="/auditoria/retencion"' not in client.get("/bandeja").get_data(as_text=True)


def test_the_cli_lists_them(walker, app):
    old = _archived(walker, "2020-06-15")
    result = app.test_cli_runner().invoke(args=["audit", "retention"])
    assert result.exit_code == 0, result.output
    assert "1 con el plazo de conservación cumplido, 0 por cumplirse en 90 días." in result.output
    assert f"{old.number}" in result.output and "conservar hasta 15/06/2025" in result.output


# -- disposal: the acta de eliminación and its tombstones ------------------------------------

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
BASIS = ("Tabla de control de documentos del PRO-GTH-GTS-002 (§13): conservación de 5 años "
         "cumplida.")


def _archived_with_document(walker, engine, day, content=PDF):
    uploaded = engine.store_document(by=walker.coordinator, filename="solicitud.pdf",
                                     data=content)
    walker.start(attachments=[uploaded.sha256], requester_name="Rosa Chicaiza Tipán")
    for activity in STEPS:
        walker.do(activity)
    walker.do("validar_informe", report_validated=True, requires_support=False)
    return walker.do("archivar_expediente", archived_date=day), uploaded.sha256


def _rows_mentioning(engine, needle):
    with engine.sql.connect() as connection:
        events = connection.execute(text(
            "SELECT count(*) FROM case_event WHERE CAST(data AS TEXT) LIKE :n"),
            {"n": f"%{needle}%"}).scalar()
        cases = connection.execute(text(
            'SELECT count(*) FROM "case" WHERE requester LIKE :n OR subject LIKE :n '
            "OR CAST(state AS TEXT) LIKE :n"), {"n": f"%{needle}%"}).scalar()
    return events + cases


def test_disposal_erases_the_personal_content_and_the_chains_still_verify(walker, engine,
                                                                         people, tmp_path):
    old, old_document = _archived_with_document(walker, engine, "2020-06-15")
    kept, kept_document = _archived_with_document(walker, engine, "2026-02-20",
                                                  content=PDF + b"%otro\n")
    log = CheckpointLog(tmp_path / "checkpoints", tmp_path / "key.pem")
    engine.write_checkpoint(log)
    assert _rows_mentioning(engine, "Chicaiza Tipán") > 0
    old_file = engine.documents.path(old_document)
    assert old_file.exists()

    act = engine.dispose_cases([old.number], by=_owner(people), legal_basis=BASIS)

    assert act.number.startswith("AE-2026-") and act.by_username == _owner(people)
    assert [t.number for t in act.tombstones] == [old.number]
    stone = act.tombstones[0]
    assert stone.documents == (old_document,)
    assert len(stone.events) == len(engine.history(kept.number, by="monica.pazmino"))
    # Gone from the database and the storage; the other case keeps everything.
    with engine.sql.connect() as connection:
        requester = connection.execute(text('SELECT requester FROM "case" WHERE number = :n'),
                                       {"n": old.number}).scalar()
        refs = connection.execute(text("SELECT count(*) FROM document_ref WHERE sha256 = :s"),
                                  {"s": old_document}).scalar()
    assert requester is None and refs == 0
    assert not old_file.exists() and engine.documents.path(kept_document).exists()
    history = engine.history(old.number, by="monica.pazmino")
    assert all(entry.data == {"eliminado_por_acta": act.number} for entry in history)
    assert engine.history(kept.number, by="monica.pazmino")[0].data != {}
    assert _rows_mentioning(engine, "Chicaiza Tipán") == _rows_mentioning_one_case(engine,
                                                                                   kept.id)
    assert engine.case_disposal(old.number, by="monica.pazmino") == act.number
    assert engine.retention_report(by="monica.pazmino").passed == ()  # no longer awaiting
    # The proof still holds, for the disposed case, the kept one, and the checkpoint.
    report = engine.verify_history(checkpoints=log)
    assert report.ok, report.problems
    assert report.cases == 2
    # Never twice, and the acta is there to read.
    with pytest.raises(Conflict):
        engine.dispose_cases([old.number], by=_owner(people), legal_basis=BASIS)
    assert engine.disposal_act(act.number, by="monica.pazmino").hash == act.hash


def _rows_mentioning_one_case(engine, case_id):
    with engine.sql.connect() as connection:
        events = connection.execute(text(
            "SELECT count(*) FROM case_event WHERE case_id = :c AND CAST(data AS TEXT) LIKE :n"),
            {"c": case_id, "n": "%Chicaiza Tipán%"}).scalar()
        cases = connection.execute(text(
            'SELECT count(*) FROM "case" WHERE id = :c AND (requester LIKE :n OR subject LIKE :n '
            "OR CAST(state AS TEXT) LIKE :n)"), {"c": case_id, "n": "%Chicaiza Tipán%"}).scalar()
    return events + cases


def test_disposal_is_refused_to_anyone_but_the_owner_and_before_the_period_ends(
        walker, engine, people):
    old = _archived(walker, "2020-06-15")
    recent = _archived(walker, "2026-02-20")
    walker.start()
    running = walker.do("reasignar_solicitud")
    for username in ("monica.pazmino", walker.leader, walker.social_worker,
                     "esteban.chiriboga"):
        with pytest.raises(PermissionDenied):
            engine.dispose_cases([old.number], by=username, legal_basis=BASIS)
    with pytest.raises(Conflict, match="aún debe conservarse hasta el 20/02/2031"):
        engine.dispose_cases([recent.number], by=_owner(people), legal_basis=BASIS)
    with pytest.raises(Conflict, match="no está cerrado"):
        engine.dispose_cases([running.number], by=_owner(people), legal_basis=BASIS)
    with pytest.raises(FormInvalid):
        engine.dispose_cases([old.number], by=_owner(people), legal_basis="porque sí")
    # Nothing happened: one refused case in a selection refuses the whole acta.
    with pytest.raises(Conflict):
        engine.dispose_cases([old.number, recent.number], by=_owner(people), legal_basis=BASIS)
    assert engine.history(old.number, by="monica.pazmino")[0].data != {
        "eliminado_por_acta": "AE-2026-0001"}
    assert engine.disposal_acts(by="monica.pazmino") == []


def _disable_guard(connection):
    if connection.dialect.name == "sqlite":
        connection.execute(text("DROP TRIGGER IF EXISTS case_event_no_update"))
    else:
        connection.execute(text("ALTER TABLE case_event DISABLE TRIGGER case_event_append_only"))


def test_a_tampered_tombstone_is_detected(walker, engine, people):
    first = _archived(walker, "2020-06-15")
    second = _archived(walker, "2020-07-01")
    act = engine.dispose_cases([first.number, second.number], by=_owner(people),
                               legal_basis=BASIS)
    assert engine.verify_history().ok

    acts = Base.metadata.tables["disposal_act"]
    with engine.sql.begin() as connection:
        cases = connection.execute(select(acts.c.cases)).scalar_one()
        cases[0]["events"][2][1] = "00" * 32  # an attacker rewrites a recorded hash
        connection.execute(acts.update(), {"cases": cases})
    report = engine.verify_history()
    problems = {p.case_number: p for p in report.problems}
    assert set(problems) == {first.number, second.number}
    assert problems[first.number].kind == "tombstone"
    assert f"el acta {act.number} fue alterada" in problems[first.number].problem

    with engine.sql.begin() as connection:  # put it back, then alter an event row instead
        cases[0]["events"][2][1] = act.tombstones[0].events[2][1]
        connection.execute(acts.update(), {"cases": cases})
    assert engine.verify_history().ok
    events = Base.metadata.tables["case_event"]
    with engine.sql.begin() as connection:
        _disable_guard(connection)
        connection.execute(events.update().where(events.c.case_id == second.id,
                                                 events.c.seq == 3),
                           {"data": {"requester_name": "reinsertado"}})
    report = engine.verify_history()
    assert [p.kind for p in report.findings] == ["guard"]  # the attacker's dropped trigger
    [problem] = [p for p in report.problems if p.case_number]
    assert problem.case_number == second.number and problem.seq == 3
    assert "tiene contenido" in problem.problem


def test_the_owner_signs_an_acta_on_the_retention_page_and_prints_it(walker, engine, people,
                                                                     web):
    old = _archived(walker, "2020-06-15")
    recent = _archived(walker, "2021-04-01")
    owner = web(_owner(people))
    page = owner.get("/auditoria/retencion").get_data(as_text=True)
    assert f'value="{old.number}"' in page and f'value="{recent.number}"' not in page
    auditor = web("monica.pazmino")
    assert 'name="case"' not in auditor.get("/auditoria/retencion").get_data(as_text=True)
    assert auditor.post("/auditoria/retencion/eliminar",
                        data={"case": old.number, "legal_basis": BASIS}).status_code == 403

    refused = owner.post("/auditoria/retencion/eliminar",
                         data={"case": old.number, "legal_basis": "no"})
    assert refused.status_code == 422
    assert "Escriba la base legal de la eliminación" in refused.get_data(as_text=True)
    done = owner.post("/auditoria/retencion/eliminar",
                      data={"case": old.number, "legal_basis": BASIS})
    assert done.status_code == 302
    acta_url = done.headers["Location"]
    assert acta_url.startswith("/auditoria/actas/AE-2026-")
    acta = auditor.get(acta_url).get_data(as_text=True)
    assert f'data-case="{old.number}"' in acta and BASIS in acta
    pdf = auditor.get(acta_url + ".pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert web(walker.social_worker).get(acta_url).status_code == 404
    replay = auditor.get(f"/auditoria/casos/{old.number}").get_data(as_text=True)
    assert "Contenido eliminado por el acta" in replay and acta_url in replay
