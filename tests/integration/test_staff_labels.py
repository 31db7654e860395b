"""No raw codes where people read (issue 10, 2.6): case pages of both procedures in Spanish and
English, the history's wording, and the technical report's PDF."""

from __future__ import annotations

import html as html_lib
import io
import re

import pytest

from engine import review_loop
from tests.integration.test_sla_support import SERVICE

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.integration.test_sla_support"]

# Seen on pages before (issue 10): codes and wording nobody should read.
KNOWN_RAW = ["informal, verbal", "formal, escrita", SERVICE, "Registro aplicado",
             "Caso cerrado :", "is_social_case"]
# Python values leaking into data as text.
PYTHON_REPRS = {"True", "False", "None", "[]", "{}"}


@pytest.fixture
def engine(sla_engine):
    """One engine for both procedures: the charter's effects run too."""
    return sla_engine


@pytest.fixture
def people(sla_people):
    return sla_people


def _main(page: str) -> str:
    """The page's visible text between <main> tags, tags dropped."""
    body = page[page.index("<main"):page.index("</main>")]
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", body, flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)  # attributes (URLs, data-*) are not read by people
    return re.sub(r"\s+", " ", html_lib.unescape(body))


def _data_values(page: str) -> list[str]:
    start = page.index('id="data-title"')
    section = page[start:page.index("</section>", start)]
    return [re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", v))).strip()
            for v in re.findall(r"<dd>(.*?)</dd>", section, re.S)]


def _labelled_enum_values(definition) -> set[str]:
    """Every option value whose form gives it a label other than itself."""
    found = set()
    for form in definition.forms.values():
        for hints in (form.ui.get("fields") or {}).values():
            for value, label in (hints.get("choices") or {}).items():
                if label != value and value not in ("true", "false"):
                    found.add(value)
    return found


def _assert_no_raw_codes(page: str, definition) -> None:
    text = _main(page)
    for raw in KNOWN_RAW:
        assert not re.search(rf"(?<![\w-]){re.escape(raw)}(?![\w-])", text), raw
    # Generic: no value shown where the schema has a title (label) for it.
    codes = _labelled_enum_values(definition)
    for value in _data_values(page):
        assert "{'" not in value and "['" not in value, value
        for part in re.split(r"; |: ", value):
            assert part not in codes, f"raw option value {part!r} in {value!r}"
            assert part not in PYTHON_REPRS, f"{part!r} in {value!r}"


def _closed_social_case(walker):
    walker.start(channel_formality="formal", channel_medium="escrita")
    for activity in ("reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico"):
        walker.do(activity)
    walker.engine.complete_task(walker.task("validar_informe").task_id, by=walker.leader,
                                form_data={"report_validated": False,
                                           "review_observations": "Ampliar antecedentes."})
    walker.case = walker.engine.case(walker.case.id, by=walker.leader)
    walker.do("emitir_diagnostico")
    walker.do("validar_informe", requires_support=False)
    walker.do("archivar_expediente")
    if "atender_vencimiento" in walker.open_activities():
        walker.do("atender_vencimiento")
    return walker.case


def _english(client):
    client.get("/idioma/en?next=/bandeja")
    return client


def test_a_social_case_page_shows_labels_not_codes_in_spanish_and_english(walker, web, engine):
    case = _closed_social_case(walker)
    definition = engine.definition_by_hash(case.version_hash)
    client = web(walker.leader)
    spanish = client.get(f"/casos/{case.number}").get_data(as_text=True)
    _assert_no_raw_codes(spanish, definition)
    text = _main(spanish)
    assert "Caso cerrado: Expediente archivado" in text
    assert "Formal" in _data_values(spanish) and "Escrita" in _data_values(spanish)

    english = _english(client).get(f"/casos/{case.number}").get_data(as_text=True)
    _assert_no_raw_codes(english, definition)
    text = _main(english)
    assert "Social Case Care and Follow-up" in text
    assert "«Review and validate the Social Work Technical Report»" in text
    assert "Returned with observations" in text and "Validated the report" in text
    assert "Case file archived" in text
    assert "Revisar y validar el Informe" not in text
    # The form's English labels: the channel reads in English too.
    assert "Written" in _data_values(english)


def test_the_report_pdf_names_the_channel_and_its_state_in_words(walker, web):
    from pypdf import PdfReader

    case = _closed_social_case(walker)
    pdf = web(walker.leader).get(f"/casos/{case.number}/informe.pdf").get_data()
    text = re.sub(r"\s+", " ", "\n".join(
        page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))
    assert "Formal, Escrita" in text
    assert "formal, escrita" not in text
    assert "Estado: Validado" in text


def test_a_charter_case_page_names_services_states_and_deadlines_properly(sla, web, engine):
    case = sla.plan()
    definition = engine.definition_by_hash(case.version_hash)
    client = web(sla.person_for("procesos"))
    spanish = client.get(f"/casos/{case.number}").get_data(as_text=True)
    _assert_no_raw_codes(spanish, definition)
    text = _main(spanish)
    assert "Plazo del diagnóstico" not in text
    assert "Cambió el estado del servicio «Jubilación por vejez» de «sin registrar» a " \
           "«Planificado»" in text or "«Jubilación por vejez»" in text
    assert "5.2.5" not in " ".join(_data_values(spanish))
    # The data is grouped by the form that gave it, each group collapsible.
    assert spanish.count('<details class="data-group"') >= 2

    english = _english(client).get(f"/casos/{case.number}").get_data(as_text=True)
    _assert_no_raw_codes(english, definition)
    text = _main(english)
    assert "Planning the Publication of Service Level Agreements" in text
    assert "«Define the Service Level Agreements»" in text


def test_decisions_are_declared_on_the_review_forms(library):
    social = library.find("social_case")
    assert set(review_loop.decisions_by_activity(social)) == {"validar_informe"}
