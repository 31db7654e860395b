"""The review loop of the technical report (issue 10, 2.3): decisions in the history, returned
work flagged with its observations, each review round starting blank, and the reviewer reading
the report as a document."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.integration

OBSERVATIONS = "Falta el análisis de la red de apoyo familiar."


def _to_review(walker):
    walker.start()
    for activity in ("reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico"):
        walker.do(activity)


def _rejected(walker):
    _to_review(walker)
    _review(walker, report_validated=False, review_observations=OBSERVATIONS)


def _review(walker, **form):
    walker.case = walker.engine.complete_task(
        walker.task("validar_informe").task_id, by=walker.leader,
        form_data=form or {"report_validated": True, "requires_support": True})


def _section(html: str, marker: str) -> str:
    start = html.index(marker)
    return html[start:html.index("</section>", start)]


def test_the_history_reads_the_decisions_not_two_identical_completions(walker, web):
    _rejected(walker)
    walker.do("emitir_diagnostico")
    _review(walker)

    html = web(walker.leader).get(f"/casos/{walker.case.number}").get_data(as_text=True)
    timeline = _section(html, 'id="timeline-title"')
    review = "«Revisar y validar el Informe Técnico de Trabajo Social»"
    assert f"Devolvió con observaciones</span> {review}" in timeline
    assert f"Validó el informe</span> {review}" in timeline
    assert f"Completó la tarea</span> {review}" not in timeline
    # The observations are quoted on the line of the decision that made them.
    assert OBSERVATIONS in timeline


def test_returned_work_is_flagged_in_the_inbox_and_on_the_task_with_its_observations(
        walker, web):
    _rejected(walker)
    worker = web(walker.social_worker)
    task = walker.task("emitir_diagnostico")

    inbox = worker.get("/bandeja").get_data(as_text=True)
    row = inbox[inbox.index(f'data-task="{task.task_id}"'):]
    row = row[:row.index("</tr>")]
    assert "Devuelto con observaciones" in row

    page = worker.get(f"/tareas/{task.task_id}").get_data(as_text=True)
    returned = _section(page, 'id="returned"')
    assert "Devuelto con observaciones" in returned and OBSERVATIONS in returned
    # It comes first, before the form the person corrects.
    assert page.index('id="returned"') < page.index('class="task-form"')

    # Once the work is sent again, the flag goes.
    walker.do("emitir_diagnostico")
    again = web(walker.leader).get("/bandeja").get_data(as_text=True)
    assert "Devuelto con observaciones" not in again


def test_a_new_review_round_starts_blank_and_old_observations_leave_the_record(walker, web):
    _rejected(walker)
    walker.do("emitir_diagnostico")
    leader = web(walker.leader)
    review = walker.task("validar_informe")

    form = leader.get(f"/tareas/{review.task_id}").get_data(as_text=True)
    textarea = re.search(r'<textarea[^>]*name="review_observations"[^>]*>(.*?)</textarea>',
                         form, re.S)
    assert textarea is not None and textarea.group(1).strip() == ""
    assert not re.search(r'name="report_validated"[^>]*value="false"[^>]*checked', form)

    _review(walker)
    case_page = leader.get(f"/casos/{walker.case.number}").get_data(as_text=True)
    data = _section(case_page, 'id="data-title"')
    assert OBSERVATIONS not in data
    assert "Observaciones de la revisión" not in data
    report = leader.get(f"/casos/{walker.case.number}/informe").get_data(as_text=True)
    assert OBSERVATIONS not in report and "Validado" in report


def test_the_reviewer_reads_the_report_as_a_document_on_the_review_task(walker, web):
    _to_review(walker)
    review = walker.task("validar_informe")
    page = web(walker.leader).get(f"/tareas/{review.task_id}").get_data(as_text=True)
    document = _section(page, 'aria-labelledby="review-document-title"')
    assert '<article class="report">' in document
    assert "Vulnerabilidad económica y sobrecarga de cuidado." in document
    assert "5. Diagnóstico social" in document
    assert f'href="/casos/{walker.case.number}/informe"' in document
    # The report comes before the decision form.
    assert page.index("review-document-title") < page.index('class="task-form"')
