"""The catalogue's naming rules: repeated process codes and office names matched to org units."""

from __future__ import annotations

import pytest

from engine.catalogue import _keyed_org_units, _OrgMatcher, fold
from engine.seeds import OrgUnit

pytestmark = pytest.mark.unit


def unit(code: str, name: str, responsible: str | None = None,
         responsible_unit: str | None = None) -> OrgUnit:
    parent = code.rsplit(".", 1)[0] if "." in code else None
    return OrgUnit(code, name, parent, responsible, responsible_unit)


UNITS = _keyed_org_units([
    unit("3.1.5", "Gestión Nacional del Seguro General de Riesgos de Trabajo",
         "Director(a) del Seguro General de Riesgos de Trabajo"),
    unit("3.1.5.2", "Gestión Nacional Financiera del Seguro de Riesgos de Trabajo",
         "Subdirector(a) Nacional Financiero del Seguro de Riesgos de Trabajo"),
    unit("3.1.3.3.1", "Coordinación Nacional de Calidad",
         "Coordinadores Nacional Institucionales en cada área"),
    unit("5.4", "Gestión Nacional de Asesoría Jurídica", "Procurador(a) General"),
    unit("5.4.1", "Gestión Nacional de Patrocinio", "Subdirector(a) Nacional de Patrocinio"),
    unit("5.4.1", "Subprocuraduría", "Subprocurador(a)"),
    unit("5.5", "Gestión Nacional de Procesos", "Director(a) Nacional de Proceso"),
    unit("6.1.1", "Direccionamiento Estratégico Provincial", "Director(a) Provincial"),
    unit("6.2.3", "Gestión Provincial de Cartera y Coactiva",
         "Coordinador(a) Provincial de Cartera y Coactiva",
         "Unidad Provincial de Cartera y Coactiva"),
])


def test_a_repeated_code_gets_the_latin_ordinal_suffix() -> None:
    assert [code for code, _ in UNITS if code.startswith("5.4.1")] == ["5.4.1", "5.4.1bis"]
    twice = _keyed_org_units([unit("1", "A"), unit("1", "B"), unit("1", "C")])
    assert [code for code, _ in twice] == ["1", "1bis", "1ter"]


@pytest.mark.parametrize(("name", "within", "expected"), [
    ("Dirección Nacional de Procesos", None, "5.5"),
    ("DIRECCIÓN DEL SEGURO GENERAL DE RIESGOS DEL TRABAJO", None, "3.1.5"),
    ("Subdirección Nacional Financiera del Seguro de Riesgos del Trabajo", "3.1.5", "3.1.5.2"),
    ("Coordinación Nacional de Calidad", None, "3.1.3.3.1"),
    ("Procuraduría General", None, "5.4"),
    ("Subdirección Nacional de Patrocinio", "5.4", "5.4.1"),
    ("Dirección Provincial Santo Domingo de los Tsáchilas", None, "6.1.1"),
    ("Coordinación Provincial de Gestión de Cartera y Coactiva", None, "6.2.3"),
    ("Unidad Provincial de Gestión de Cartera", None, "6.2.3"),
    # A financial sub-direction of another branch is not this one.
    ("Subdirección Nacional de Riesgos Financieros", "2.2", None),
    ("Zona 1 (Carchi, Esmeraldas, Imbabura, Sucumbíos)", None, None),
    ("Dirección Nacional de Seguridad de la Información y Protección de Datos", None, None),
])
def test_office_names_find_their_org_unit(name: str, within: str | None,
                                          expected: str | None) -> None:
    assert _OrgMatcher(UNITS).match(name, within=within) == expected


def test_fold_drops_accents_case_and_extra_spaces() -> None:
    assert fold("  Dirección  Nacional de\nPROCESOS ") == "direccion nacional de procesos"
