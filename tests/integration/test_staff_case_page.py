"""The case page as staff read it (issue 10): a closed case's deadline, retention and referral
(2.9), and labels instead of raw codes in Spanish and English (2.6)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.integration


def _section(html: str, marker: str) -> str:
    start = html.index(marker)
    end = html.find("</section>", start)
    return html[start:end if end > 0 else None]


def _facts(html: str) -> str:
    start = html.index('<dl class="case-facts">')
    return html[start:html.index("</dl>", start)]


def _close(walker):
    walker.start()
    for activity in ("reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico"):
        walker.do(activity)
    walker.do("validar_informe", requires_support=False)
    walker.do("archivar_expediente")
    if "atender_vencimiento" in walker.open_activities():
        walker.do("atender_vencimiento")
    assert walker.case.status == "completed", walker.open_activities()
    return walker.case


def test_a_closed_case_says_whether_its_deadline_was_met_and_until_when_it_is_kept(
        walker, web):
    case = _close(walker)
    html = web(walker.leader).get(f"/casos/{case.number}").get_data(as_text=True)
    facts = _facts(html)
    # Requested on 02/03/2026, validated on 02/03/2026 (the fake clock): 0 of 15 working days.
    assert 'data-deadline="met"' in facts
    assert "Cumplido" in facts and "0 de 15 días laborables" in facts
    assert "Conservar hasta 02/03/2031" in facts  # archived 02/03/2026, kept 5 years
    # The retention date is a fact of the case, not a line of the data dump.
    assert "Conservar el expediente hasta" not in _section(html, 'id="data-title"')


def test_a_case_validated_after_the_limit_shows_the_deadline_missed(walker, web, clock):
    walker.start()
    for activity in ("reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico"):
        walker.do(activity)
    clock.advance(days=30)
    walker.engine.fire_due_timers()
    walker.case = walker.engine.case(walker.case.id, by=walker.leader)
    walker.do("validar_informe", requires_support=False)
    html = web(walker.leader).get(f"/casos/{walker.case.number}").get_data(as_text=True)
    facts = _facts(html)
    assert 'data-deadline="missed"' in facts and "No cumplido" in facts
    assert re.search(r"\b2[0-9] de 15 días laborables", facts)


def test_a_referred_case_shows_its_referral_note(walker, web):
    walker.start()
    walker.do("reasignar_solicitud", is_social_case=False,
              referred_to="Dirección de Bienestar Laboral",
              referral_reason="Es un trámite de permisos, no un caso social.")
    leader = web(walker.leader)
    html = leader.get(f"/casos/{walker.case.number}").get_data(as_text=True)
    section = _section(html, 'id="referral-title"')
    assert "Dirección de Bienestar Laboral" in section
    assert "Es un trámite de permisos, no un caso social." in section
    assert "Ana Guamán" in section
    assert "is_social_case" not in html and "{&#39;" not in html
    note = leader.get(f"/casos/{walker.case.number}/derivacion")
    assert note.status_code == 200
    text = note.get_data(as_text=True)
    assert "Nota de derivación" in text and "Dirección de Bienestar Laboral" in text
    # A case that was not referred has no note.
    other = _close(walker)
    assert leader.get(f"/casos/{other.number}/derivacion").status_code == 404
