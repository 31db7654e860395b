"""Fields bound to the organisation's catalogues: the engine refuses codes the imported catalogue
does not hold, and the form pages draw those fields as pickers of the catalogue's entries."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine import Engine, FormInvalid
from tests.conftest import WebClient
from tests.integration.test_sla_support import COMMITMENTS, UNIT_PERSON, sla_form

pytestmark = pytest.mark.integration
# The engine with the charter effects and the people of every lane.
pytest_plugins = ["tests.integration.test_sla_support"]

SEEDS = Path(os.environ.get("CAUCE_SEEDS_DIR", "/work/shared/seeds"))
NOT_IN_CATALOGUE = "No está en el catálogo de la institución"
# A real service of the portfolio (002), the unit that provides it (001) and its head.
SERVICE = {"service_code": "pension-por-jubilacion", "service_name": "Pensión por jubilación",
           "unit_code": "3.1.6", "unit_name": "Gestión del Sistema de Pensiones",
           "unit_position": "Director(a) del Sistema de Pensiones", "plan_year": 2026}
# Indicators of that unit (004) and of its sub-unit 3.1.6.1; one of another unit.
UNIT_INDICATOR = ("IE-DSP-NA-26", "Tiempo promedio de espera en la atención a las solicitudes")
SUB_UNIT_INDICATOR = "NC-DNSC-NA-37"
OTHER_UNIT_INDICATOR = "NC-DNSAC-DP-3"


def seeds_present() -> bool:
    """Whether the three organisation seed files are on this machine."""
    return all(any(SEEDS.glob(f"{number}_*.txt")) for number in ("001", "002", "004"))


@pytest.fixture
def seeded(sla_engine: Engine, sla_people: dict[str, list[str]]) -> Engine:
    """The SLA engine with the organisation seeds imported (skipped when they are absent)."""
    from engine.catalogue import import_seeds

    if not seeds_present():
        pytest.skip(f"the organisation seeds are not in {SEEDS}")
    import_seeds(sla_engine, SEEDS)
    return sla_engine


@pytest.fixture
def site(sla_engine: Engine, database_url: str, tmp_path: Path) -> Any:
    """The Flask app on the SLA engine."""
    from app import create_app

    return create_app({"DATABASE_URL": database_url, "ENGINE": sla_engine, "TESTING": True,
                       "SECRET_KEY": "test-secret", "DOCUMENTS_DIR": str(tmp_path / "docs")})


@pytest.fixture
def sign_in(site: Any, sla_people: dict[str, list[str]]) -> Callable[[str], WebClient]:
    """Return a function: username -> a signed-in WebClient on the SLA app."""
    def signed_in(username: str) -> WebClient:
        client = WebClient(site.test_client())
        assert client.login(username).status_code == 302
        return client

    return signed_in


def refused(error: pytest.ExceptionInfo[FormInvalid]) -> dict[str, list[str]]:
    """The messages of a refused form by field path."""
    return error.value.by_field()


def select_options(html: str, name: str) -> dict[str, str]:
    """Return value -> label of a select's options (the empty prompt left out)."""
    match = re.search(rf'<select [^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert match, f"no select named {name}"
    return {value: label.strip() for value, label in
            re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', match[1]) if value}


def as_posted(data: dict[str, Any]) -> dict[str, Any]:
    """Return form data as the task page posts it (groups as ``key-index-field``)."""
    def text(value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return [text(v) for v in value]
        return str(value)

    posted: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for index, row in enumerate(value):
                posted.update({f"{key}-{index}-{sub}": text(v) for sub, v in row.items()})
        else:
            posted[key] = text(value)
    return posted


def datalist_codes(html: str, list_id: str) -> list[str]:
    """Return the codes a datalist offers, in order."""
    match = re.search(rf'<datalist id="{list_id}">(.*?)</datalist>', html, re.S)
    assert match, f"no datalist {list_id}"
    return re.findall(r'<option value="([^"]*)"', match[1])


# -- the engine ---------------------------------------------------------------------------------

def test_a_planning_start_naming_codes_outside_the_catalogue_is_refused(seeded, sla_people):
    procesos = sla_people["procesos"][0]
    for field, value in (("service_code", "jubilacion-inventada"), ("unit_code", "9.9.9"),
                         ("unit_position", "Director(a) de Nada")):
        with pytest.raises(FormInvalid) as error:
            seeded.start_case("sla_planning", by=procesos, data={**SERVICE, field: value})
        assert refused(error) == {field: [NOT_IN_CATALOGUE]}

    case = seeded.start_case("sla_planning", by=procesos, data=SERVICE)
    [task] = case.open_tasks
    assert task.activity_id == "pla_definir_ans"

    unknown = [{**COMMITMENTS[0], "indicator_code": "XX-NO-EXISTE-1"}, COMMITMENTS[1]]
    with pytest.raises(FormInvalid) as error:
        seeded.complete_task(task.task_id, by=UNIT_PERSON,
                             form_data=sla_form("pla_definir_ans", commitments=unknown))
    assert refused(error) == {"commitments/0/indicator_code": [NOT_IN_CATALOGUE]}

    chosen = [{**COMMITMENTS[0], "indicator_code": UNIT_INDICATOR[0]}, COMMITMENTS[1]]
    done = seeded.complete_task(task.task_id, by=UNIT_PERSON,
                                form_data=sla_form("pla_definir_ans", commitments=chosen))
    assert [t.activity_id for t in done.open_tasks] == ["pla_planificar_publicacion"]


def test_before_the_seeds_are_imported_any_code_is_accepted(sla_engine, sla_people):
    case = sla_engine.start_case("sla_planning", by=sla_people["procesos"][0],
                                 data={**SERVICE, "service_code": "cualquier-servicio"})
    assert case.data["service_code"] == "cualquier-servicio"


# -- the pages ----------------------------------------------------------------------------------

def test_the_start_page_offers_services_and_units_as_pickers(seeded, sign_in, sla_people):
    client = sign_in(sla_people["procesos"][0])
    html = client.get("/casos/nuevo/sla_planning").get_data(as_text=True)

    services = select_options(html, "service_code")
    assert len(services) == 23
    assert services["pension-por-jubilacion"] == "Pensión por jubilación"
    units = select_options(html, "unit_code")
    assert units["3.1.6"] == "3.1.6 Gestión del Sistema de Pensiones"
    # The unit's head receives its tasks: headings of the regulation, with no head, are left out.
    assert "3" not in units and "1.2" not in units
    assert len(units) == 88
    assert 'data-position="Director(a) del Sistema de Pensiones"' in html
    assert 'data-fill-name="service_name"' in html and 'data-fill-name="unit_name"' in html
    # The head's position follows the unit: read-only, still submitted.
    assert re.search(r'<input id="f-unit_position" name="unit_position" value="" readonly '
                     r'class="derived" data-derived-from="unit_code"', html)


def test_without_javascript_the_codes_alone_start_the_case(seeded, sign_in, sla_people):
    client = sign_in(sla_people["procesos"][0])
    client.get("/casos/nuevo/sla_planning")
    # The position left from another unit is replaced by the chosen unit's.
    response = client.post("/casos/nuevo/sla_planning", data={
        "service_code": "pension-por-jubilacion", "service_name": "", "unit_code": "3.1.6",
        "unit_name": "", "unit_position": "Director(a) Nacional de Gestión Financiera",
        "plan_year": "2026"})
    assert response.status_code == 302, response.get_data(as_text=True)
    number = response.headers["Location"].rsplit("/", 1)[-1]
    data = seeded.case(number, by=sla_people["procesos"][0]).data
    assert (data["service_name"], data["unit_name"], data["unit_position"]) == (
        "Pensión por jubilación", "Gestión del Sistema de Pensiones",
        "Director(a) del Sistema de Pensiones")


def test_an_unknown_code_comes_back_beside_its_field(seeded, sign_in, sla_people):
    client = sign_in(sla_people["procesos"][0])
    client.get("/casos/nuevo/sla_planning")
    response = client.post("/casos/nuevo/sla_planning", data={
        **SERVICE, "service_code": "servicio-inventado", "plan_year": "2026"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(r'<p class="field-error" id="service_code-error">\s*'
                     rf'{NOT_IN_CATALOGUE}', html)
    # What was sent stays chosen, so the message points at it.
    assert select_options(html, "service_code")["servicio-inventado"] == "servicio-inventado"
    assert re.search(r'<option value="servicio-inventado"[^>]*selected', html)


def test_the_task_page_offers_the_indicators_of_the_case_unit(seeded, sign_in, sla_people):
    seeded.start_case("sla_planning", by=sla_people["procesos"][0], data=SERVICE)
    client = sign_in(UNIT_PERSON)
    [task] = seeded.inbox(UNIT_PERSON).available.items
    html = client.get(f"/tareas/{task.task_id}").get_data(as_text=True)

    codes = datalist_codes(html, "dl-commitments-indicator_code")
    assert UNIT_INDICATOR[0] in codes and SUB_UNIT_INDICATOR in codes
    assert OTHER_UNIT_INDICATOR not in codes
    assert len(codes) == len(set(codes))
    assert 'list="dl-commitments-indicator_code"' in html
    assert 'data-fill-name="indicator_name"' in html
    assert f'data-name="{UNIT_INDICATOR[1]}' in html


def test_without_the_seeds_the_fields_are_plain_text(sla_engine, sign_in, sla_people):
    client = sign_in(sla_people["procesos"][0])
    html = client.get("/casos/nuevo/sla_planning").get_data(as_text=True)
    assert '<select id="f-service_code"' not in html
    assert re.search(r'<input id="f-service_code" name="service_code" value=""', html)
    assert re.search(r'<input id="f-unit_position" name="unit_position" value=""', html)
    assert "readonly" not in html and "<datalist" not in html


def test_without_javascript_the_indicator_name_follows_its_code(seeded, sign_in, sla_people):
    case = seeded.start_case("sla_planning", by=sla_people["procesos"][0], data=SERVICE)
    [task] = case.open_tasks
    commitment = {**COMMITMENTS[0], "indicator_code": UNIT_INDICATOR[0], "indicator_name": ""}
    client = sign_in(UNIT_PERSON)
    client.get(f"/tareas/{task.task_id}")
    response = client.post(f"/tareas/{task.task_id}", data={
        **as_posted(sla_form("pla_definir_ans", commitments=[commitment])),
        "action": "complete"})
    assert response.status_code == 302, response.get_data(as_text=True)
    [stored] = seeded.case(case.number, by=UNIT_PERSON).data["commitments"]
    assert stored["indicator_name"].startswith(UNIT_INDICATOR[1])


def test_a_service_shows_its_charter_state_in_the_picker(seeded, sign_in, sla_people):
    procesos = sla_people["procesos"][0]
    case = seeded.start_case("sla_planning", by=procesos, data=SERVICE)
    seeded.complete_task(case.open_tasks[0].task_id, by=UNIT_PERSON,
                         form_data=sla_form("pla_definir_ans"))
    planned = seeded.case(case.number, by=procesos)
    seeded.complete_task(planned.open_tasks[0].task_id, by=procesos,
                         form_data=sla_form("pla_planificar_publicacion"))

    html = sign_in(procesos).get("/casos/nuevo/sla_planning").get_data(as_text=True)
    services = select_options(html, "service_code")
    assert services["pension-por-jubilacion"] == "Pensión por jubilación (Planificado)"
    assert services["auxilio-funeral"] == "Auxilio funeral"
    # The name filled in is the service's own, without its state.
    assert 'data-name="Pensión por jubilación"' in html
