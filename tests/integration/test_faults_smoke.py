"""A bounded run of bench/faults_bench.py: a private PostgreSQL, four app processes and two timer
workers under load, processes killed with SIGKILL at random moments, the database restarted once.

Skipped when this machine has no PostgreSQL server binaries (``initdb``, ``pg_ctl``).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.processes import PrivatePostgres, postgres_binaries

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench" / "faults_bench.py"


def _bench():
    spec = importlib.util.spec_from_file_location("faults_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


def test_killed_processes_and_a_database_restart_lose_nothing_and_answer_503_cleanly():
    if postgres_binaries() is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    bench = _bench()
    figures = bench.run(bench.Options(kills=12, clients=4, late_share=0.5, seed=7),
                        say=lambda _message: None)

    assert figures.app_kills == 12 and figures.worker_kills == 12 and figures.db_restarts == 1
    assert figures.completions_acknowledged > 0 and figures.cases_started > 0
    assert figures.lost_completions == 0
    assert figures.cases_verified >= figures.cases_started and figures.inconsistent_cases == 0
    assert figures.timers_fired > 0
    assert figures.timers_fired_twice == 0 and figures.due_timers_left == 0
    # While the database was down clients were told 503 "unavailable", never 500.
    assert figures.answers_503_while_down > 0
    assert figures.answers_5xx_not_503 == 0 and figures.unclean_503 == 0
    # The same processes served again once it was back (nothing was restarted for it).
    assert figures.recovery_seconds is not None and figures.recovery_seconds < 30
    assert figures.ok, figures.problems


def test_while_the_database_is_down_pages_and_the_api_answer_503_then_serve_again(library):
    if postgres_binaries() is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    from app import create_app
    from engine import Engine
    from engine.demo import seed_demo_people
    from tests.conftest import DEMO_PASSWORD, FAST_HASHER, WebClient

    workdir = Path(tempfile.mkdtemp(prefix="cauce-pg-", dir="/tmp"))
    workdir.chmod(0o755)
    postgres = PrivatePostgres(workdir / "pg").init()
    try:
        engine = Engine(postgres.url, library, password_hasher=FAST_HASHER)
        engine.create_schema()
        seed_demo_people(engine, DEMO_PASSWORD)
        app = create_app({"DATABASE_URL": postgres.url, "ENGINE": engine, "TESTING": True,
                          "SECRET_KEY": "test-secret", "DOCUMENTS_DIR": str(workdir / "docs")})
        web = WebClient(app.test_client())
        assert web.login("lucia.andrade").status_code == 302
        token = app.test_client().post("/api/login", json={
            "username": "ana.guaman", "password": DEMO_PASSWORD}).get_json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert web.get("/bandeja").status_code == 200

        postgres.stop("immediate")
        time.sleep(engine.sessions.seconds + 0.5)  # past the session cache: pages need the DB
        page = web.get("/bandeja")
        html = page.get_data(as_text=True)
        assert page.status_code == 503 and page.headers["Retry-After"] == "5"
        assert "La base de datos no está disponible en este momento" in html
        assert "Traceback" not in html and "psycopg" not in html
        answer = app.test_client().get("/api/me", headers=bearer)
        assert answer.status_code == 503
        assert answer.get_json()["error"]["code"] == "unavailable"
        assert app.test_client().get("/salud").status_code == 200  # alive, though not ready
        assert app.test_client().get("/salud/lista").status_code == 503

        postgres.start()
        # The same app, not restarted: pooled connections are pinged and replaced.
        assert web.get("/bandeja").status_code == 200
        assert app.test_client().get("/api/me", headers=bearer).status_code == 200
        engine.sql.dispose()
    finally:
        if postgres.running():
            postgres.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)
