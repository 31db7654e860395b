"""The catalogue pages and their JSON endpoints, on the imported seeds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SEEDS = Path(os.environ.get("CAUCE_SEEDS_DIR", "/work/shared/seeds"))
if not (SEEDS / "004_6de103d26a7702fd.txt").exists():
    pytest.skip("the organisation seeds are not on this machine", allow_module_level=True)


@pytest.fixture
def seeded(engine):
    from engine.catalogue import import_seeds

    import_seeds(engine, SEEDS)
    return engine


@pytest.fixture
def token(app, seeded, people):
    response = app.test_client().post("/api/login", json={"username": "ana.guaman",
                                                          "password": "clave-de-prueba-1"})
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def test_the_org_directory_pages_show_units_and_responsibles(web, seeded):
    client = web("ana.guaman")
    html = client.get("/organizacion").get_data(as_text=True)
    assert "Gestión Nacional de Procesos" in html and "Director(a) Nacional de Proceso" in html
    unit = client.get("/organizacion/5.5").get_data(as_text=True)
    assert "IE-DNPR-NA-35" in unit and "Porcentaje de procesos intervenidos" in unit
    assert "0,72" in unit and "0,8" in unit  # Ene-Jun / Jul-Dic targets, the Ecuadorian way
    assert client.get("/organizacion/9.9.9").status_code == 404


def test_the_services_page_lists_23_services_sin_registrar(web, seeded):
    html = web("ana.guaman").get("/servicios").get_data(as_text=True)
    assert html.count('data-service="') == 23
    assert html.count("Sin registrar") == 23


def test_indicators_are_found_by_unit_name_without_accents(web, seeded):
    html = web("ana.guaman").get("/indicadores?unidad=direccion nacional de servicios de "
                                 "atencion al ciudadano").get_data(as_text=True)
    assert "NC-DNSAC-DP-3" in html and "Nivel de Servicio en los Centros de Atención" in html


def test_the_json_endpoints(app, token):
    client = app.test_client()
    units = client.get("/api/org/units", headers=token).get_json()
    assert any(u["code"] == "5.6" and u["responsible"] == "Director(a) Nacional de Planificación"
               for u in units)
    services = client.get("/api/services", headers=token).get_json()
    assert len(services) == 23 and all(s["charter_state"] is None for s in services)
    indicators = client.get("/api/indicators?unit=Dirección Nacional de Procesos",
                            headers=token).get_json()
    assert [i["code"] for i in indicators] == ["IE-DNPR-NA-35", "IE-DNPR-NA-41", "NC-DNPR-NA-2"]
    quarterly = indicators[2]
    assert [t["value"] for t in quarterly["targets"]] == [0.25, 0.5, 0.75, 1]
    assert client.get("/api/org/units", headers={}).status_code == 401
    assert client.get("/api/org/units/nada", headers=token).status_code == 404
