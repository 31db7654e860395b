"""The follow-up's decision tables at their thresholds, evaluated the way the engine runs them."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine

from engine import ProcessLibrary
from engine.sandbox import sandboxed_script_engine
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

SCRIPT_ENGINE = sandboxed_script_engine()


def decision_engines(library: ProcessLibrary) -> dict[str, DMNEngine]:
    """Return the DMN engines the follow-up's business rule tasks use, by decision table id."""
    found = {}
    for spec in library.get("sla_followup").spec.task_specs.values():
        engine = getattr(spec, "dmnEngine", None)
        if engine is not None:
            found[engine.decision_table.id] = engine
    return found


@pytest.fixture(scope="module")
def tables(library: ProcessLibrary) -> dict[str, DMNEngine]:
    return decision_engines(library)


def decide(engine: DMNEngine, variable: str, row: dict[str, Any]) -> Any:
    # The stand-in task carries what SpiffWorkflow reads: the data and the sandboxed engine.
    task = SimpleNamespace(data={variable: row}, workflow=SimpleNamespace(
        script_engine=SCRIPT_ENGINE))
    return engine.result(task)


def all_matches(engine: DMNEngine, variable: str, row: dict[str, Any]) -> int:
    collecting = copy.copy(engine.decision_table)
    collecting.hit_policy = "COLLECT"
    return len(DMNEngine(collecting).decide(SimpleNamespace(
        data={variable: row}, workflow=SimpleNamespace(script_engine=SCRIPT_ENGINE))))


def compliance(engine: DMNEngine, polarity: str, observed: float, standard: float) -> str:
    row = {"polarity": polarity, "observed": observed, "standard": standard}
    return str(decide(engine, "compliance_row", row)["compliance"])


def deviation(engine: DMNEngine, recurrence: int, gap: float) -> str:
    return str(decide(engine, "deviation_row", {"recurrence": recurrence, "gap": gap})[
        "deviation"])


def test_the_follow_up_uses_both_tables_with_a_unique_hit_policy(tables):
    assert set(tables) == {"sla_compliance_table", "sla_deviation_table"}
    assert {t.decision_table.hit_policy for t in tables.values()} == {"UNIQUE"}


HIGHER_IS_BETTER = [
    (0.96, 0.96, "cumple"),                   # exactly the standard
    (0.97, 0.96, "cumple"),
    (100, 100, "cumple"),
    (99.99, 100, "cumplimiento_parcial"),     # just under the standard
    (90, 100, "cumplimiento_parcial"),        # exactly 90 %
    (0.864, 0.96, "cumplimiento_parcial"),    # 90 % of 0.96: the ratio is rounded, not 0.8999…
    (89.99, 100, "no_cumple"),                # just under 90 %
    (0.899999, 1, "no_cumple"),
    (0, 1, "no_cumple"),
]
LOWER_IS_BETTER = [
    (15, 15, "cumple"),                       # exactly the standard
    (0, 15, "cumple"),
    (15.01, 15, "cumplimiento_parcial"),      # just over the standard
    (16.5, 15, "cumplimiento_parcial"),       # exactly 110 %
    (11, 10, "cumplimiento_parcial"),
    (11.00001, 10, "no_cumple"),              # just over 110 %
    (16.51, 15, "no_cumple"),
    (40, 15, "no_cumple"),
]


@pytest.mark.parametrize(("observed", "standard", "expected"), HIGHER_IS_BETTER)
def test_compliance_when_higher_is_better(tables, observed, standard, expected):
    engine = tables["sla_compliance_table"]
    assert compliance(engine, "mayor_mejor", observed, standard) == expected
    assert all_matches(engine, "compliance_row", {
        "polarity": "mayor_mejor", "observed": observed, "standard": standard}) == 1


@pytest.mark.parametrize(("observed", "standard", "expected"), LOWER_IS_BETTER)
def test_compliance_when_lower_is_better(tables, observed, standard, expected):
    engine = tables["sla_compliance_table"]
    assert compliance(engine, "menor_mejor", observed, standard) == expected
    assert all_matches(engine, "compliance_row", {
        "polarity": "menor_mejor", "observed": observed, "standard": standard}) == 1


DEVIATIONS = [
    (0, -0.2, "ninguna"),          # the commitment is met
    (0, 0.0, "ninguna"),
    (1, 0.000001, "leve"),
    (1, 0.1, "leve"),              # exactly 10 %
    (1, 0.100001, "moderada"),     # just over 10 %
    (1, 0.249999, "moderada"),
    (1, 0.25, "critica"),          # exactly 25 %
    (2, 0.000001, "moderada"),     # second consecutive period
    (2, 0.249999, "moderada"),
    (2, 0.25, "critica"),
    (3, 0.000001, "critica"),      # third consecutive period
    (7, 0.6, "critica"),
]


@pytest.mark.parametrize(("recurrence", "gap", "expected"), DEVIATIONS)
def test_deviation_criticality_by_magnitude_and_recurrence(tables, recurrence, gap, expected):
    engine = tables["sla_deviation_table"]
    assert deviation(engine, recurrence, gap) == expected
    assert all_matches(engine, "deviation_row", {"recurrence": recurrence, "gap": gap}) == 1


def test_a_process_owner_changes_a_threshold_in_the_dmn_without_touching_code(tmp_path):
    bpmn = tmp_path / "bpmn"
    shutil.copytree(ROOT / "bpmn", bpmn)
    table = Path(bpmn / "sla_compliance.dmn")
    source = table.read_text()
    assert source.count("0.9 &lt;= ? &lt; 1.0") == 1 and source.count("&lt; 0.9<") == 1
    table.write_text(source.replace("0.9 &lt;= ? &lt; 1.0", "0.8 &lt;= ? &lt; 1.0")
                     .replace("&lt; 0.9<", "&lt; 0.8<"))

    changed = decision_engines(ProcessLibrary.load_directory(bpmn, ROOT / "forms"))

    assert compliance(changed["sla_compliance_table"], "mayor_mejor", 85, 100) == (
        "cumplimiento_parcial")
