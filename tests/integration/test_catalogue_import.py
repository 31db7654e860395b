"""The organisation seeds imported into the database: ground truth, lookups, idempotency, CLI."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import Engine, NotFound, ProcessLibrary
from engine.catalogue import (
    IndicatorRow,
    IndicatorTargetRow,
    IndicatorUnitRow,
    OrgUnitRow,
    ServiceRow,
    ServiceUnitRow,
    UserGroupRow,
    find_indicator,
    get_org_unit,
    import_seeds,
    list_indicator_units,
    list_indicators,
    list_org_units,
    list_responsible_units,
    list_services,
    list_user_groups,
)
from engine.seeds import Project, Target
from engine.store import PositionRow
from tests.conftest import FAST_HASHER

pytestmark = pytest.mark.integration

SEEDS_DIR = Path(os.environ.get("CAUCE_SEEDS_DIR", "/work/shared/seeds"))
SEED_FILES = {prefix: sorted(SEEDS_DIR.glob(f"{prefix}_*.txt")) for prefix in ("001", "002", "004")}
if not all(len(found) == 1 for found in SEED_FILES.values()):
    pytest.skip(f"seed texts not found in {SEEDS_DIR}", allow_module_level=True)

MONTHS = ["Ene", "Feb", "Mar", "Abr", "May", "Jun", "Jul", "Ago", "Sep", "Oct", "Nov", "Dic"]
TARGET_ROWS = 15508  # every period label of the 1,811 target blocks
ROW_MODELS = (OrgUnitRow, ServiceUnitRow, UserGroupRow, ServiceRow, IndicatorUnitRow,
              IndicatorRow, IndicatorTargetRow, PositionRow)


def count(engine: Engine, model: type, *where: object) -> int:
    with engine._reader() as session:
        query = select(func.count()).select_from(model)
        for condition in where:
            query = query.where(condition)
        return int(session.scalar(query) or 0)


def row_counts(engine: Engine) -> dict[str, int]:
    return {model.__tablename__: count(engine, model) for model in ROW_MODELS}


@pytest.fixture(scope="module")
def shared_engine(library: ProcessLibrary, _postgres_url: str | None,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One database for the read-only tests, so the seeds are imported once, not per test."""
    url = _postgres_url or f"sqlite:///{tmp_path_factory.mktemp('catalogue') / 'cauce.db'}"
    eng = Engine(url, library, password_hasher=FAST_HASHER)
    eng.create_schema()
    yield eng
    eng.sql.dispose()


@pytest.fixture
def imported(shared_engine: Engine) -> Engine:
    """The shared database with the seeds in it.

    On PostgreSQL other tests empty the same database; importing again is idempotent and
    cheap, so do it whenever the rows are not all there.
    """
    if count(shared_engine, IndicatorTargetRow) != TARGET_ROWS or \
            count(shared_engine, OrgUnitRow) != 99:
        import_seeds(shared_engine, SEEDS_DIR)
    return shared_engine


@pytest.fixture
def fresh(engine: Engine) -> Engine:
    """The per-test engine, with the catalogue tables (this module was imported after the
    conftest engine fixture's first create_schema may have run)."""
    engine.create_schema()
    return engine


# --- 001 org directory ------------------------------------------------------------------------


def test_art_8_units_and_their_responsible_positions_are_in_the_database(imported) -> None:
    units = list_org_units(imported)
    assert len(units) == 99
    by_code = {unit.code: unit for unit in units}
    assert len(by_code) == 99  # the repeated 5.4.1 got its own key
    assert by_code["5.5"].name == "Gestión Nacional de Procesos"
    assert by_code["5.5"].responsible == "Director(a) Nacional de Proceso"
    assert by_code["5.5"].parent_code == "5"
    assert by_code["5.6"].responsible == "Director(a) Nacional de Planificación"
    assert by_code["5.2"].responsible == (
        "Director(a) Nacional de Servicios de Atención al Ciudadano")

    # 71 single "Responsable:" lines plus 4 group lines covering 17 coordinations.
    with_position = [unit for unit in units if unit.position_code]
    assert len(with_position) == 71 + 17
    with imported._reader() as session:
        positions = {row.code: row for row in session.scalars(select(PositionRow))}
    assert {unit.position_code for unit in with_position} <= set(positions)
    # Demo people may have created some of these positions first (source "demo"): count codes.
    assert len({unit.position_code for unit in with_position}) == 73
    process_director = positions["Director(a) Nacional de Proceso"]
    assert (process_director.title, process_director.unit_code, process_director.unit_name) == (
        "Director(a) Nacional de Proceso", "5.5", "Gestión Nacional de Procesos")
    assert positions["Director(a) Nacional de Planificación"].unit_code == "5.6"


def test_the_repeated_code_5_4_1_keeps_both_units(imported) -> None:
    patrocinio = get_org_unit(imported, "5.4.1")
    subprocuraduria = get_org_unit(imported, "5.4.1bis")
    assert patrocinio.name == "Gestión Nacional de Patrocinio"
    assert patrocinio.responsible == "Subdirector(a) Nacional de Patrocinio"
    assert (subprocuraduria.name, subprocuraduria.printed_code) == ("Subprocuraduría", "5.4.1")
    assert (subprocuraduria.responsible, subprocuraduria.parent_code) == (
        "Subprocurador(a)", "5.4")
    assert (subprocuraduria.mission or "").startswith("Dirigir los procesos de actualización")
    with pytest.raises(NotFound):
        get_org_unit(imported, "9.9")


# --- 002 service catalogue --------------------------------------------------------------------


def test_seven_responsible_units_five_user_groups_and_23_services(imported) -> None:
    units = list_responsible_units(imported)
    assert [(unit.number, unit.org_code) for unit in units] == [
        (1, "3.1.3"), (2, "3.1.5"), (3, "3.1.4"), (4, "3.1.6"), (5, "3.1.1"), (6, "3.1.2"),
        (7, "3.1.7")]
    assert units[4].name == "DIRECCIÓN NACIONAL DE AFILIACIÓN Y COBERTURA"
    assert units[4].org_name == "Gestión Nacional de Afiliación y Cobertura"
    assert units[6].description.startswith("Dirige y administra los procesos")

    assert [group.name for group in list_user_groups(imported)] == [
        "AFILIADOS", "EMPLEADORES", "JUBILADOS", "BENEFICIARIOS", "CIUDADANÍA EN GENERAL"]

    services = list_services(imported)
    assert len(services) == 23
    assert services[0].code == "acceso-a-la-informacion-publica"
    assert services[-1].name == "Certificaciones"
    # The portfolio names no unit or user group per service, so none is invented.
    assert all(s.responsible_unit is None and s.user_groups == () for s in services)


# --- 004 indicator catalogue ------------------------------------------------------------------


def test_291_headings_289_units_and_1811_placed_target_blocks(imported) -> None:
    not_institution = IndicatorUnitRow.is_institution.is_(False)
    assert count(imported, IndicatorUnitRow, not_institution) == 289
    with imported._reader() as session:
        headings = session.scalar(select(func.sum(IndicatorUnitRow.headings))
                                  .where(not_institution))
    assert headings == 291
    assert count(imported, IndicatorRow) == 1811
    assert count(imported, IndicatorRow, IndicatorRow.target_kind.is_not(None)) == 1811
    assert count(imported, IndicatorTargetRow) == TARGET_ROWS

    institution = list_indicator_units(imported, "Instituto Ecuatoriano de Seguridad Social")[0]
    assert (institution.is_institution, institution.path, institution.indicator_count) == (
        True, (), 37)
    merged = [u for u in list_indicator_units(imported) if u.headings > 1]
    assert [u.path for u in merged] == [
        ("Dirección Nacional de Servicios Corporativos",),
        ("Dirección Nacional de Servicios Corporativos",
         "Subdirección Nacional de Gestión de Talento Humano")]


PROCESS_DIRECTION = {
    "IE-DNPR-NA-35": ("Porcentaje de procesos intervenidos", "Continuo", "acumulado",
                      "half-yearly", [("Ene-Jun", "0.72"), ("Jul-Dic", "0.8")]),
    "IE-DNPR-NA-41": ("Nivel de Madurez Institucional en la administración de procesos",
                      "Discreto", "por período", "yearly", [("Ene-Dic", "2.4")]),
    "NC-DNPR-NA-2": ("Porcentaje de monitoreos de procesos en territorio", "Continuo",
                     "acumulado", "quarterly",
                     [("Ene-Mar", "0.25"), ("Abr-Jun", "0.5"), ("Jul-Sep", "0.75"),
                      ("Oct-Dic", "1")]),
}


def _as_table(indicators) -> dict[str, tuple]:
    return {i.code: (i.name, i.behaviour, i.target_kind, i.periodicity,
                     [(t.period, str(t.value)) for t in i.targets]) for i in indicators}


def test_process_direction_has_its_three_indicators_by_name(imported) -> None:
    indicators = list_indicators(imported, unit="direccion nacional de procesos")
    assert _as_table(indicators) == PROCESS_DIRECTION
    assert {i.unit_name for i in indicators} == {"Dirección Nacional de Procesos"}
    assert all(i.unit_org_code == "5.5" for i in indicators)


def test_process_direction_by_its_org_code(imported) -> None:
    # 5.5's position "Director(a) Nacional de Proceso" heads the "Dirección Nacional de Procesos".
    assert _as_table(list_indicators(imported, unit="5.5")) == PROCESS_DIRECTION
    assert _as_table(list_indicators(imported, unit="DIRECCIÓN NACIONAL DE PROCESOS")) == (
        PROCESS_DIRECTION)


def test_citizen_service_level_is_monthly_096_and_discrete(imported) -> None:
    indicator = find_indicator(imported, "NC-DNSAC-DP-3")
    assert indicator is not None
    assert indicator.name == "Nivel de Servicio en los Centros de Atención al Ciudadano"
    assert (indicator.behaviour, indicator.target_kind, indicator.periodicity) == (
        "Discreto", "por período", "monthly")
    assert indicator.targets == tuple(Target(month, Decimal("0.96")) for month in MONTHS)
    assert indicator.unit_name == "Dirección Nacional de Servicios de Atención al Ciudadano"
    assert indicator.unit_org_code == "5.2"
    assert find_indicator(imported, "NO-EXISTE-1") is None


def test_partial_names_and_repeated_codes(imported) -> None:
    # "compras publicas" is no unit's full name, so units whose path contains it match.
    purchases = list_indicators(imported, unit="compras publicas")
    assert [i.code for i in purchases] == ["NC-DNSC-NA-33", "NC-DNSC-NA-32", "NC-DNSC-NA-35"]
    # Codes repeat across units: IE-DG-NA-17 is cascaded to 130 of them.
    assert len(list_indicators(imported, code="IE-DG-NA-17")) == 130
    assert list_indicators(imported, unit="no existe esta unidad") == []
    provincial_planning = list_indicator_units(imported, "Unidad Provincial de Planificación")
    assert len(provincial_planning) == 24
    assert {u.org_code for u in provincial_planning} == {"6.3.3"}


def test_indicator_units_are_matched_to_org_units(imported) -> None:
    org = {tuple(u.path): u.org_code for u in list_indicator_units(imported)}
    assert org[("Dirección Nacional de Planificación",)] == "5.6"
    assert org[("Dirección Nacional de Servicios de Atención al Ciudadano",)] == "5.2"
    assert org[("Procuraduría General", "Subdirección Nacional de Patrocinio")] == "5.4.1"
    assert org[("Dirección Nacional de Servicios Corporativos",
                "Subdirección Nacional Administrativa")] == "4.3.1"
    assert org[("Zona 1 (Carchi, Esmeraldas, Imbabura, Sucumbíos)",
                "Dirección Provincial Carchi")] == "6.1.1"
    # Units Art. 8 does not have stay unmatched instead of being forced onto a neighbour.
    assert org[("Zona 1 (Carchi, Esmeraldas, Imbabura, Sucumbíos)",)] is None
    assert org[("Dirección Nacional de Riesgos Institucionales",
                "Subdirección Nacional de Riesgos Financieros")] is None
    assert org[("Dirección Nacional de Seguridad de la Información y Protección de Datos",)] \
        is None


# --- facts checked by hand in the seed texts --------------------------------------------------


def test_hand_checked_org_directory_facts(imported) -> None:
    # 001 line 188: "Responsable: Miembros de la Comisión Nacional de Apelaciones".
    assert get_org_unit(imported, "2.1").responsible == (
        "Miembros de la Comisión Nacional de Apelaciones")
    # 001 line 504: the source's lower-case "informática" is kept.
    assert get_org_unit(imported, "4.2.4").responsible == (
        "Subdirector(a) Nacional de Seguridad informática")
    # 001 line 707: a provincial unit, not a person, is responsible for planning.
    assert get_org_unit(imported, "6.3.3").responsible == "Unidad Provincial de Planificación"
    assert get_org_unit(imported, "6.2.2").responsible_unit == (
        "Unidad Provincial de Afiliación y Control Técnico")
    group = "Coordinadores Nacionales Institucionales en cada área"
    assert [u.code for u in list_org_units(imported) if u.position_code == group] == [
        "3.1.3.1.1", "3.1.3.1.2", "3.1.3.1.3", "3.1.3.1.4", "3.1.3.1.5",
        "3.1.3.2.1", "3.1.3.2.2", "3.1.3.2.3", "3.1.3.2.4", "3.1.3.2.5", "3.1.3.2.6",
        "3.1.3.2.7"]
    assert (get_org_unit(imported, "5.5").mission or "").startswith(
        "Diseñar, controlar y evaluar los procesos del Instituto Ecuatoriano de")


def test_hand_checked_indicator_facts(imported) -> None:
    # 004 line 1013: Dirección Nacional de Planificación, two indicators.
    planning = list_indicators(imported, unit="Dirección Nacional de Planificación")
    assert [(i.number, i.code, i.behaviour, i.target_kind) for i in planning] == [
        ("1.2", "NC-DNPL-DP-4", "Discreto", "por período"),
        ("1.3", "IE-DG-NA-17", "Continuo", "acumulado")]
    assert planning[0].name == "Porcentaje de fiabilidad de información registrada en el IESSPR"
    assert [str(t.value) for t in planning[0].targets] == [
        "0.9", "0.9", "0.91", "0.91", "0.92", "0.92", "0.93", "0.93", "0.94", "0.94", "0.95",
        "0.95"]
    # Twelve months and a thirteenth value the sheet adds after December.
    assert [str(t.value) for t in planning[1].targets][:5] == ["0", "0", "0", "0.8205", "1"]
    assert planning[1].surplus_values == (Decimal("1"),)
    unit = list_indicator_units(imported, "Dirección Nacional de Planificación")[0]
    assert [s.number for s in unit.strategies] == ["1.3", "1.4"]
    assert unit.objectives[0].text == "Incrementar la eficiencia de la planificación en el IESS"

    # 004 line 2686: Compras Públicas, quarterly targets written two periods per row.
    purchases = find_indicator(imported, "NC-DNSC-NA-32")
    assert purchases is not None and purchases.periodicity == "quarterly"
    assert [(t.period, str(t.value)) for t in purchases.targets] == [
        ("Ene-Mar", "0.85"), ("Abr-Jun", "0.9"), ("Jul-Sep", "0.92"), ("Oct-Dic", "0.95")]
    (project,) = list_indicator_units(imported, "Subdirección Nacional de Compras Públicas")[0] \
        .projects
    assert (project.code, project.end_date) == ("SDNCP C001", date(2025, 12, 31))

    # 004 line 1077: the process direction's one project, with its exact budget and date.
    (project,) = list_indicator_units(imported, "Dirección Nacional de Procesos")[0].projects
    assert project == Project(
        "DNPR C001", "PA-DNPR-2025-088-Plan de mejora continua, difusión, seguimiento y "
        "control de procesos", Decimal("0.00"), "Ejecución", date(2025, 3, 21))

    # Big accumulated amounts come back exactly (no float rounding on SQLite).
    recovery = find_indicator(imported, "IE-DNRGC-NA-7")
    assert recovery is not None
    assert recovery.unit_name == "Instituto Ecuatoriano de Seguridad Social"
    assert recovery.targets[1].value == Decimal("1483145584.71")
    carchi = find_indicator(imported, "IE-DNRGC-DP-10", unit="Dirección Provincial Carchi")
    assert carchi is not None and str(carchi.targets[0].value) == "427419.982"

    # Unclosed targets with no values keep one empty target per month.
    empty = find_indicator(imported, "NC-DSGRT-DP-13", unit="Dirección Provincial Los Ríos")
    assert empty is not None and empty.targets_open
    assert [t.value for t in empty.targets] == [None] * 12

    risks = list_indicator_units(
        imported, "Dirección Nacional de Servicios de Atención al Ciudadano")[0].risks
    assert [(r.number, r.rating) for r in risks] == [("1", 81), ("2", 63)]


# --- idempotency, changed seeds, progress -----------------------------------------------------


def test_second_import_changes_nothing_and_progress_covers_every_stage(fresh) -> None:
    calls: list[tuple[str, int, int]] = []
    first = import_seeds(fresh, SEEDS_DIR, progress=lambda *call: calls.append(call))
    assert first.count("targets").created == TARGET_ROWS
    assert first.unplaced == ()
    assert first.seconds < 10
    counts = row_counts(fresh)

    second = import_seeds(fresh, SEEDS_DIR)
    assert second.changes == 0
    assert all(k.created == k.updated == k.deleted == 0 for k in second.kinds)
    assert second.count("indicators").unchanged == 1811
    assert second.count("org_units").unchanged == 99
    assert second.count("positions").unchanged == 73
    assert row_counts(fresh) == counts

    labels = list(dict.fromkeys(label for label, _, _ in calls))
    assert labels == [
        "Leyendo el directorio orgánico (001)", "Guardando el directorio orgánico (001)",
        "Leyendo el portafolio de servicios (002)", "Guardando el portafolio de servicios (002)",
        "Leyendo el catálogo de indicadores (004)",
        "Guardando el catálogo de indicadores (004)"]
    last = {label: (done, total) for label, done, total in calls}
    assert all(done == total for done, total in last.values())
    assert last["Leyendo el catálogo de indicadores (004)"] == (292, 292)


def test_a_changed_seed_updates_only_the_affected_rows(fresh, tmp_path) -> None:
    import_seeds(fresh, SEEDS_DIR)
    changed = tmp_path / "seeds"
    changed.mkdir()
    for (found,) in SEED_FILES.values():
        shutil.copy(found, changed / found.name)
    (org,), (indicators,) = SEED_FILES["001"], SEED_FILES["004"]
    text = (changed / org.name).read_text(encoding="utf-8")
    (changed / org.name).write_text(text.replace(
        "Responsable: Director(a) Nacional de Proceso \n",
        "Responsable: Director(a) Nacional de Procesos \n"), encoding="utf-8")
    text = (changed / indicators.name).read_text(encoding="utf-8")
    removed = ("1.3. NC-DNPR-NA-2-Porcentaje de monitoreos de procesos en territorio\tContinuo"
               "\t\t\nMetas (Acumulado) 2025\t\t\t\nEne-Mar\tAbr-Jun\tJul-Sep\tOct-Dic\n"
               "0.25\t0.5\t0.75\t1\n")
    assert text.count("0.72\t0.8\t\t\n") == 1 and text.count(removed) == 1
    text = text.replace("0.72\t0.8\t\t\n", "0.74\t0.8\t\t\n").replace(removed, "")
    # A re-exported seed gets a new hash in its name; the folder is read by prefix.
    (changed / indicators.name).unlink()
    (changed / "004_changed.txt").write_text(text, encoding="utf-8")

    summary = import_seeds(fresh, changed)
    assert summary.count("org_units").updated == 1
    assert summary.count("positions").created == 1  # the old title stays: people may hold it
    assert summary.count("targets").updated == 1
    assert summary.count("targets").deleted == 4
    assert summary.count("indicators").deleted == 1
    assert summary.count("indicators").updated == 0
    assert summary.count("services").unchanged == 23
    assert _as_table(list_indicators(fresh, unit="5.5"))["IE-DNPR-NA-35"][4] == [
        ("Ene-Jun", "0.74"), ("Jul-Dic", "0.8")]
    assert get_org_unit(fresh, "5.5").position_code == "Director(a) Nacional de Procesos"

    restored = import_seeds(fresh, SEEDS_DIR)
    assert restored.count("targets").created == 4
    assert restored.count("org_units").updated == 1
    assert _as_table(list_indicators(fresh, unit="5.5")) == PROCESS_DIRECTION


def test_missing_seed_files_are_a_clear_error(fresh, tmp_path) -> None:
    from engine.catalogue import SeedsMissing

    with pytest.raises(SeedsMissing, match="No existe la carpeta de semillas"):
        import_seeds(fresh, tmp_path / "nowhere")
    with pytest.raises(SeedsMissing, match=r"Falta el archivo 001_\*\.txt"):
        import_seeds(fresh, tmp_path)


# --- the command line -------------------------------------------------------------------------


@pytest.fixture
def cli_app(database_url, fresh):
    from app import create_app
    from web import catalogue_cli

    app = create_app({"DATABASE_URL": database_url, "ENGINE": fresh, "TESTING": True,
                      "SECRET_KEY": "test", "SEEDS_DIR": str(SEEDS_DIR)})
    catalogue_cli.init_app(app)
    return app


def test_cli_imports_with_progress_and_prints_the_summary(cli_app, fresh) -> None:
    runner = cli_app.test_cli_runner()
    result = runner.invoke(args=["import-seeds"])
    assert result.exit_code == 0, result.output
    assert "Guardando el catálogo de indicadores (004)" in result.output
    assert "Importación terminada en" in result.output
    lines = result.output.splitlines()
    assert any(line.split()[-4:] == ["15508", "0", "0", "0"] and "Metas" in line
               for line in lines)
    assert "Líneas que no se pudieron ubicar: ninguna." in result.output
    assert "5.4.1bis" in result.output
    assert count(fresh, IndicatorRow) == 1811

    again = runner.invoke(args=["import-seeds", str(SEEDS_DIR)])
    assert again.exit_code == 0, again.output
    assert "Sin cambios" in again.output
    assert any(line.split()[-4:] == ["0", "0", "15508", "0"] and "Metas" in line
               for line in again.output.splitlines())


def test_cli_without_seeds_says_so_in_spanish(cli_app, tmp_path) -> None:
    runner = cli_app.test_cli_runner()
    result = runner.invoke(args=["import-seeds", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "No existe la carpeta de semillas" in result.output
    cli_app.config["SEEDS_DIR"] = ""
    result = runner.invoke(args=["import-seeds"])
    assert result.exit_code == 1
    assert "no se indicó la carpeta de semillas" in result.output
