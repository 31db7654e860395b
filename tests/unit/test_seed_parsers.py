"""Checks the seed parsers against facts read by hand from the seed texts."""

import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from engine.seeds import (
    IndicatorCatalogueParse,
    OrgDirectoryParse,
    ServiceCatalogueParse,
    Target,
    normalise_position,
    parse_indicator_catalogue,
    parse_org_directory,
    parse_service_catalogue,
)

pytestmark = pytest.mark.unit

SEEDS_DIR = Path(os.environ.get("CAUCE_SEEDS_DIR", "/work/shared/seeds"))
ORG_FILE = SEEDS_DIR / "001_4cab9d32c440e183.txt"
SERVICES_FILE = SEEDS_DIR / "002_62b73fef0f652e2d.txt"
INDICATORS_FILE = SEEDS_DIR / "004_6de103d26a7702fd.txt"

if not all(path.is_file() for path in (ORG_FILE, SERVICES_FILE, INDICATORS_FILE)):
    pytest.skip(f"seed texts not found in {SEEDS_DIR}", allow_module_level=True)

MONTHS = ("Ene", "Feb", "Mar", "Abr", "May", "Jun", "Jul", "Ago", "Sep", "Oct", "Nov", "Dic")


@pytest.fixture(scope="module")
def indicators_text() -> str:
    return INDICATORS_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def org() -> OrgDirectoryParse:
    return parse_org_directory(ORG_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services() -> ServiceCatalogueParse:
    return parse_service_catalogue(SERVICES_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def catalogue(indicators_text: str) -> IndicatorCatalogueParse:
    return parse_indicator_catalogue(indicators_text)


def targets_of(catalogue: IndicatorCatalogueParse, unit: str, code: str) -> list[tuple[str, str]]:
    indicator = next(i for i in catalogue.unit(unit).indicators if i.code == code)
    return [(t.period, str(t.value)) for t in indicator.targets]


# --- normalise_position ---------------------------------------------------------------------


def test_position_spelling_variants_normalise_to_one_form() -> None:
    variants = {
        normalise_position("Director (a) Nacional de Planificación"),
        normalise_position("Director(a)  Nacional de\nPlanificación"),
        normalise_position("Director(a) Nacional de Planificación"),
    }
    assert variants == {"Director(a) Nacional de Planificación"}


def test_position_normalisation_keeps_spelling_and_drops_final_period() -> None:
    assert normalise_position("Auditor (a) Interno (a).") == "Auditor(a) Interno(a)"
    assert normalise_position("Director(a) Nacional de Proceso") == (
        "Director(a) Nacional de Proceso"
    )


# --- 001 organic regulation -------------------------------------------------------------------


def test_article_8_has_71_responsible_lines_all_placed(org: OrgDirectoryParse) -> None:
    assert org.responsible_lines == 71
    assert org.group_responsible_lines == 4
    assert org.unplaced == ()


def test_process_management_keeps_the_sources_singular_spelling(org: OrgDirectoryParse) -> None:
    unit = org.by_code("5.5")
    assert unit.name == "Gestión Nacional de Procesos"
    assert unit.parent_code == "5"
    assert unit.responsible == "Director(a) Nacional de Proceso"


def test_planning_and_citizen_services_have_their_directors(org: OrgDirectoryParse) -> None:
    assert org.by_code("5.6").name == "Gestión Nacional de Planificación"
    assert org.by_code("5.6").responsible == "Director(a) Nacional de Planificación"
    assert org.by_code("5.2").name == "Gestión Nacional de Servicios de Atención al Ciudadano"
    assert org.by_code("5.2").responsible == (
        "Director(a) Nacional de Servicios de Atención al Ciudadano"
    )


def test_every_parent_code_names_a_unit(org: OrgDirectoryParse) -> None:
    codes = {unit.code for unit in org.units}
    assert all(unit.parent_code in codes for unit in org.units if unit.parent_code)
    assert [unit.code for unit in org.units if unit.parent_code is None] == [
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
    ]
    assert org.by_code("6.2.1.1").parent_code == "6.2.1"


def test_unit_name_broken_over_two_lines_is_joined(org: OrgDirectoryParse) -> None:
    assert org.by_code("3.1.3.2.3").name == (
        "Coordinación Nacional de Atención Prehospitalaria y Unidades Móviles"
    )


def test_codes_with_a_space_for_a_dot_are_repaired(org: OrgDirectoryParse) -> None:
    unit = org.by_code("3.1.3.4.2")
    assert unit.name == "Coordinación Nacional de Vigilancia Epidemiológica del Seguro de Salud"
    assert unit.parent_code == "3.1.3.4"
    assert org.by_code("3.1.7.2").name == "Gestión Nacional de Fondos de Terceros"


def test_responsible_broken_over_lines_is_joined(org: OrgDirectoryParse) -> None:
    assert org.by_code("3.1.3.4").responsible == (
        "Subdirector(a) Nacional de vigilancia y Gestión de la Información del Seguro de Salud"
    )


def test_group_responsible_line_covers_the_coordinations_above_it(
    org: OrgDirectoryParse,
) -> None:
    hospitals = org.by_code("3.1.3.2.1")
    assert hospitals.name == "Coordinación Nacional de Hospitales"
    assert hospitals.responsible == "Coordinadores Nacionales Institucionales en cada área"
    assert org.by_code("3.1.3.3.1").responsible == (
        "Coordinadores Nacional Institucionales en cada área"
    )


def test_provincial_position_and_its_alternative_unit_are_split(org: OrgDirectoryParse) -> None:
    unit = org.by_code("6.2.2")
    assert unit.responsible == "Coordinador(a) Provincial de Afiliación y Control Técnico"
    assert unit.responsible_unit == "Unidad Provincial de Afiliación y Control Técnico"
    assert org.by_code("6.3.3").responsible == "Unidad Provincial de Planificación"
    assert org.by_code("6.3.3").responsible_unit is None


def test_source_typos_and_final_periods_in_positions(org: OrgDirectoryParse) -> None:
    assert org.by_code("3.1.7").responsible == (
        "Director(a) Nacional de Fondos de Terceros y Segura de Desempleo"
    )
    assert org.by_code("3.1.5.2").responsible == (
        "Subdirector(a) Nacional Financiero del Seguro de Riesgos de Trabajo"
    )


def test_reform_adds_a_second_unit_numbered_5_4_1(org: OrgDirectoryParse) -> None:
    assert org.duplicate_codes == ("5.4.1",)
    added = [unit for unit in org.units if unit.code == "5.4.1"]
    assert [unit.name for unit in added] == ["Gestión Nacional de Patrocinio", "Subprocuraduría"]
    assert added[1].responsible == "Subprocurador(a)"


def test_missions_come_from_article_10_with_reforms_applied(org: OrgDirectoryParse) -> None:
    assert (org.by_code("5.5").mission or "").startswith(
        "Diseñar, controlar y evaluar los procesos del Instituto Ecuatoriano de"
    )
    # Art. 10 numeral 3.1.5 was replaced by Res. C.D. 553; the replacement wins.
    assert (org.by_code("3.1.5").mission or "").startswith("Proteger a los asegurados")
    assert (org.by_code("5.4.2").mission or "").startswith("Asesorar en materia legal y jurídica")
    assert org.by_code("3.1.3.2.1").mission is None


# --- 002 service portfolio --------------------------------------------------------------------


def test_seven_numbered_responsible_units(services: ServiceCatalogueParse) -> None:
    assert [unit.number for unit in services.responsible_units] == [1, 2, 3, 4, 5, 6, 7]
    last = services.responsible_units[-1]
    assert last.name == "DIRECCIÓN NACIONAL DE FONDOS DE TERCEROS Y SEGURO DE DESEMPLEO"
    assert last.description.startswith("Dirige y administra los procesos")
    assert services.responsible_units[0].name == (
        "DIRECCIÓN DEL SEGURO GENERAL DE SALUD INDIVIDUAL Y FAMILIAR"
    )


def test_five_user_groups_the_last_without_description(services: ServiceCatalogueParse) -> None:
    assert [group.name for group in services.user_groups] == [
        "AFILIADOS",
        "EMPLEADORES",
        "JUBILADOS",
        "BENEFICIARIOS",
        "CIUDADANÍA EN GENERAL",
    ]
    assert services.user_groups[0].description.startswith("Es toda persona que registre aportes")
    assert services.user_groups[-1].description == ""


def test_twenty_three_services_with_stable_slugs(services: ServiceCatalogueParse) -> None:
    assert len(services.services) == 23
    assert len({service.code for service in services.services}) == 23
    assert services.services[0].code == "acceso-a-la-informacion-publica"
    assert services.services[-1].name == "Certificaciones"
    assert services.unplaced == ()


def test_service_without_the_usual_opening_word(services: ServiceCatalogueParse) -> None:
    service = next(
        s for s in services.services if s.code == "atencion-en-salud-seguro-social-campesino"
    )
    assert service.name == "Atención en salud - Seguro Social Campesino"
    assert service.description.startswith("Orientado a la prestación de atención médica")


def test_portfolio_never_assigns_services_to_units_or_groups(
    services: ServiceCatalogueParse,
) -> None:
    assert all(service.responsible_unit is None for service in services.services)
    assert all(service.user_groups == () for service in services.services)


# --- 004 results sheets -----------------------------------------------------------------------


def test_291_headings_name_289_units(catalogue: IndicatorCatalogueParse) -> None:
    assert catalogue.headings == 291
    assert len(catalogue.units) == 289
    assert sum(unit.headings for unit in catalogue.units) == 291
    merged = {unit.path: unit.headings for unit in catalogue.units if unit.headings > 1}
    assert merged == {
        ("Dirección Nacional de Servicios Corporativos",): 2,
        (
            "Dirección Nacional de Servicios Corporativos",
            "Subdirección Nacional de Gestión de Talento Humano",
        ): 2,
    }


def test_every_target_block_is_attached_or_reported(
    catalogue: IndicatorCatalogueParse, indicators_text: str
) -> None:
    assert indicators_text.count("Metas (") == 1811
    assert catalogue.target_blocks == 1811
    units = [*catalogue.units, catalogue.institution]
    attached = sum(
        1 for unit in units if unit for i in unit.indicators if i.target_kind is not None
    )
    reported = sum(1 for line in catalogue.unplaced if "Metas (" in line)
    assert attached + reported == 1811
    assert catalogue.unplaced == ()


def test_process_direction_has_exactly_its_three_indicators(
    catalogue: IndicatorCatalogueParse,
) -> None:
    unit = catalogue.unit("Dirección Nacional de Procesos")
    found = {
        i.code: (i.name, i.behaviour, i.periodicity, [(t.period, t.value) for t in i.targets])
        for i in unit.indicators
    }
    assert found == {
        "IE-DNPR-NA-35": (
            "Porcentaje de procesos intervenidos",
            "Continuo",
            "half-yearly",
            [("Ene-Jun", Decimal("0.72")), ("Jul-Dic", Decimal("0.8"))],
        ),
        "IE-DNPR-NA-41": (
            "Nivel de Madurez Institucional en la administración de procesos",
            "Discreto",
            "yearly",
            [("Ene-Dic", Decimal("2.4"))],
        ),
        "NC-DNPR-NA-2": (
            "Porcentaje de monitoreos de procesos en territorio",
            "Continuo",
            "quarterly",
            [
                ("Ene-Mar", Decimal("0.25")),
                ("Abr-Jun", Decimal("0.5")),
                ("Jul-Sep", Decimal("0.75")),
                ("Oct-Dic", Decimal("1")),
            ],
        ),
    }


def test_citizen_service_level_is_a_monthly_discrete_096(
    catalogue: IndicatorCatalogueParse,
) -> None:
    unit = catalogue.unit("Dirección Nacional de Servicios de Atención al Ciudadano")
    indicator = next(i for i in unit.indicators if i.code == "NC-DNSAC-DP-3")
    assert indicator.name == "Nivel de Servicio en los Centros de Atención al Ciudadano"
    assert indicator.behaviour == "Discreto"
    assert indicator.target_kind == "por período"
    assert indicator.periodicity == "monthly"
    assert [t.period for t in indicator.targets] == list(MONTHS)
    assert {t.value for t in indicator.targets} == {Decimal("0.96")}


def test_citizen_service_risks_carry_their_ratings(catalogue: IndicatorCatalogueParse) -> None:
    risks = catalogue.unit("Dirección Nacional de Servicios de Atención al Ciudadano").risks
    assert [(r.number, r.rating, r.objective) for r in risks] == [("1", 81, "1"), ("2", 63, "1")]
    assert risks[0].text.startswith("La resistencia al cambio de cultura organizacional")


def test_project_row_fields(catalogue: IndicatorCatalogueParse) -> None:
    (project,) = catalogue.unit("Dirección Nacional de Procesos").projects
    assert project.code == "DNPR C001"
    assert project.name.startswith("PA-DNPR-2025-088-Plan de mejora continua")
    assert (project.budget, project.phase, project.end_date) == (
        Decimal("0.00"),
        "Ejecución",
        date(2025, 3, 21),
    )


def test_numbers_broken_by_a_stray_space_are_rejoined(
    catalogue: IndicatorCatalogueParse,
) -> None:
    assert catalogue.institution is not None
    indicator = next(i for i in catalogue.institution.indicators if i.code == "IE-DNRGC-NA-7")
    values = [t.value for t in indicator.targets]
    assert values[0] == Decimal("720839345.72")
    assert values[1] == Decimal("1483145584.71")
    assert values[5] == Decimal("4622198183")
    assert indicator.target_kind == "acumulado"


def test_decimals_cut_onto_a_second_row_are_completed(
    catalogue: IndicatorCatalogueParse,
) -> None:
    assert targets_of(catalogue, "Dirección Provincial Carchi", "IE-DNRGC-DP-10")[:3] == [
        ("Ene", "427419.982"),
        ("Feb", "776256.886"),
        ("Mar", "1122659.499"),
    ]


def test_accumulated_targets_split_over_several_lines(catalogue: IndicatorCatalogueParse) -> None:
    unit = "Dirección Nacional de Cooperación y Relaciones Internacionales"
    assert targets_of(catalogue, unit, "NC-DNCRI-NA-6") == [
        ("Ene-Mar", "3"),
        ("Abr-Jun", "6"),
        ("Jul-Sep", "9"),
        ("Oct-Dic", "12"),
    ]


def test_label_and_value_sharing_a_row(catalogue: IndicatorCatalogueParse) -> None:
    unit = catalogue.unit("Dirección Nacional de Tecnologías de la Información")
    indicator = next(i for i in unit.indicators if i.code == "NC-DNTI-NA-16")
    assert indicator.periodicity == "four-monthly"
    assert [(t.period, str(t.value)) for t in indicator.targets] == [
        ("Ene-Abr", "0.9"),
        ("May-Ago", "0.91"),
        ("Sep-Dic", "0.95"),
    ]


def test_targets_header_inside_the_indicator_header(catalogue: IndicatorCatalogueParse) -> None:
    unit = "Subdirección Nacional de Control Técnico"
    assert targets_of(catalogue, unit, "IE-DNAC-NA-23") == [
        ("Ene-Mar", "353635"),
        ("Abr-Jun", "345680"),
        ("Jul-Sep", "337699"),
        ("Oct-Dic", "329693"),
    ]


def test_indicator_codes_of_the_short_form(catalogue: IndicatorCatalogueParse) -> None:
    unit = catalogue.unit("Dirección del Seguro General de Salud Individual y Familiar")
    indicator = next(i for i in unit.indicators if i.code == "M133")
    assert indicator.name == (
        "Porcentaje de cirugías pendientes en lista de espera quirúrgica mayor a 90 días"
    )
    assert (indicator.number, indicator.objective, indicator.behaviour) == ("8.46", "8", "Discreto")
    assert {t.value for t in indicator.targets} == {Decimal("0.1")}


def test_a_thirteenth_value_beyond_the_months_is_kept_apart(
    catalogue: IndicatorCatalogueParse,
) -> None:
    assert catalogue.institution is not None
    indicator = next(i for i in catalogue.institution.indicators if i.code == "IE-DNSAC-NA-38")
    assert len(indicator.targets) == 12
    assert indicator.surplus_values == (Decimal("0.9"),)


def test_missing_value_for_a_labelled_period_stays_none(
    catalogue: IndicatorCatalogueParse,
) -> None:
    unit = next(
        u
        for u in catalogue.units
        if u.path[-2:]
        == ("Dirección Provincial El Oro", "Unidad Provincial de Prestaciones del Seguro de Salud")
    )
    indicator = next(i for i in unit.indicators if i.name.endswith("Salud Fondo El Oro"))
    assert indicator.code == "IE-DG-NA-17"
    assert indicator.targets[-1] == Target("Dic", None)
    assert indicator.targets[4].value == Decimal("0.1876")


def test_unclosed_targets_are_flagged(catalogue: IndicatorCatalogueParse) -> None:
    unit = catalogue.unit("Subdirección Nacional de Contabilidad")
    indicator = next(i for i in unit.indicators if i.code == "NC-DNGF-NA-25")
    assert indicator.targets_open
    assert [(t.period, str(t.value)) for t in indicator.targets] == [
        ("Ene-Jun", "0.5"),
        ("Jul-Dic", "1"),
    ]
    empty = next(
        i
        for i in catalogue.unit("Dirección Provincial Los Ríos").indicators
        if i.code == "NC-DSGRT-DP-13"
    )
    assert empty.targets_open
    assert [t.value for t in empty.targets] == [None] * 12


def test_unit_with_no_captured_indicators_keeps_empty_lists(
    catalogue: IndicatorCatalogueParse,
) -> None:
    zone = catalogue.unit("Zona 5 (Bolívar, Galápagos, Guayas, Los Ríos, Santa Elena)")
    assert zone.indicators == ()
    assert zone.projects == ()
    assert [s.text for s in zone.strategies] == [
        "Implementar planes, programas y proyectos enfocados la gestión de las prestaciones y "
        "servicios"
    ]
    audit = catalogue.unit("Auditoria Interna de la Seguridad Social")
    assert (audit.indicators, audit.projects, len(audit.attributions)) == ((), (), 24)


def test_heading_wrapped_onto_the_next_line(catalogue: IndicatorCatalogueParse) -> None:
    paths = {unit.path for unit in catalogue.units}
    assert ("Procuraduría General", "Subdirección Nacional de Asesoría Legal") in paths
    assert ("Procuraduría General", "Subdirección Nacional de Patrocinio") in paths


def test_periodicities_and_target_kinds_cover_every_block(
    catalogue: IndicatorCatalogueParse,
) -> None:
    units = [*catalogue.units, catalogue.institution]
    indicators = [i for unit in units if unit for i in unit.indicators]
    assert len(indicators) == 1811
    assert {i.periodicity for i in indicators} == {
        "monthly",
        "quarterly",
        "four-monthly",
        "half-yearly",
        "yearly",
    }
    assert sum(i.target_kind == "acumulado" for i in indicators) == 798
    assert sum(i.target_kind == "por período" for i in indicators) == 1013


def test_progress_is_reported_per_block(indicators_text: str) -> None:
    calls: list[tuple[int, int]] = []
    parse_indicator_catalogue(
        indicators_text, progress=lambda done, total: calls.append((done, total))
    )
    assert calls[-1] == (292, 292)  # 291 unit headings plus the institution preamble
    assert [done for done, _ in calls] == list(range(1, 293))
