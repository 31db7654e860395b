"""The command line: init-db, seed-demo, worker, and running a case from the shell."""

from __future__ import annotations

import json
import re

import pytest

from app import create_app

pytestmark = pytest.mark.integration


@pytest.fixture
def cli_app(database_url, tmp_path, engine):
    app = create_app({"DATABASE_URL": database_url, "ENGINE": engine, "TESTING": True,
                      "SECRET_KEY": "test"})
    return app


def test_init_db_creates_the_tables_and_publishes_the_procedures(cli_app):
    result = cli_app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^  social_case: versión [0-9a-f]{12} \(registro \d+\)$", result.output,
                     re.MULTILINE)


def test_seed_demo_prints_json_with_every_role(cli_app):
    result = cli_app.test_cli_runner().invoke(args=["seed-demo", "--password", "x", "--json"])
    accounts = json.loads(result.output)
    roles = {role for account in accounts for role in account["roles"]}
    assert {"coordinador_th", "lider_seguridad", "trabajador_social"} <= roles
    assert all(set(a) == {"username", "full_name", "roles"} for a in accounts)


def test_seed_demo_without_a_password_prints_random_ones_once(cli_app):
    runner = cli_app.test_cli_runner()
    first = json.loads(runner.invoke(args=["seed-demo", "--json"]).output)
    assert all(len(a["password"]) >= 12 for a in first)
    assert len({a["password"] for a in first}) == len(first)
    second = json.loads(runner.invoke(args=["seed-demo", "--json"]).output)
    assert all("password" not in a for a in second)


def test_a_whole_case_runs_from_the_shell(cli_app, tmp_path):
    from tests.conftest import form_for

    runner = cli_app.test_cli_runner()
    runner.invoke(args=["seed-demo", "--password", "x"])
    steps = [{"as": "lucia.andrade", "data": form_for("recibir_solicitud")},
             {"as": "ana.guaman", "activity": "reasignar_solicitud",
              "data": form_for("reasignar_solicitud", social_worker="sofia.naranjo")}]
    for activity in ["analizar_solicitud", "realizar_entrevista", "emitir_diagnostico"]:
        steps.append({"as": "sofia.naranjo", "activity": activity, "data": form_for(activity)})
    steps.append({"as": "ana.guaman", "activity": "validar_informe",
                  "data": form_for("validar_informe", requires_support=False)})
    steps.append({"as": "sofia.naranjo", "activity": "archivar_expediente",
                  "data": form_for("archivar_expediente")})
    path = tmp_path / "steps.json"
    path.write_text(json.dumps(steps))

    result = runner.invoke(args=["case", "run", "social_case", "--steps", str(path)])
    assert result.exit_code == 0, result.output
    assert "CS-2026-0001: estado completed, resultado «Expediente archivado»" in result.output

    replay = runner.invoke(args=["case", "replay", "CS-2026-0001", "--as", "ana.guaman"])
    assert replay.exit_code == 0 and "estado guardado coincide" in replay.output


def test_a_form_error_from_the_shell_names_the_field(cli_app):
    runner = cli_app.test_cli_runner()
    runner.invoke(args=["seed-demo", "--password", "x"])
    result = runner.invoke(args=["case", "start", "social_case", "--as", "lucia.andrade",
                                 "--data", json.dumps({"requester_type": "vecino"})])
    assert result.exit_code == 1
    assert "requester_type: Elija una de las opciones permitidas" in result.output


def test_the_worker_fires_due_timers(cli_app, walker, clock):
    from datetime import UTC, datetime

    walker.start()
    clock.set(datetime(2026, 5, 1, tzinfo=UTC))
    result = cli_app.test_cli_runner().invoke(args=["worker", "--once"])
    assert "Temporizadores: 1 caso(s) avanzaron" in result.output
