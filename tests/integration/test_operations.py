"""Operations: liveness and readiness probes, request ids in the logs, Prometheus metrics, and
backups restored into a fresh database with every case's chain verified."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, event, func, select, text

from app import create_app
from engine import operations
from engine.demo import seed_demo_people
from engine.store import CaseRow, connect, drop_schema
from tests.conftest import DEMO_PASSWORD, CaseWalker, make_engine
from web.observability import JsonFormatter

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def statements_during(sql: Any, action: Any) -> tuple[Any, list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(sql, "before_cursor_execute", record)
    try:
        return action(), seen
    finally:
        event.remove(sql, "before_cursor_execute", record)


# -- liveness and readiness --------------------------------------------------------------------


def test_liveness_answers_without_a_session_and_without_touching_the_database(app, engine):
    response, statements = statements_during(engine.sql, lambda: app.test_client().get("/salud"))
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert statements == []
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_readiness_is_200_once_the_worker_has_run_a_round(app, engine):
    assert app.test_cli_runner().invoke(args=["worker", "--once"]).exit_code == 0
    response = app.test_client().get("/salud/lista")
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["failed"] == []
    assert set(body["checks"]) == {"database", "library", "worker"}
    assert all(check["ok"] for check in body["checks"].values())
    assert "procedimiento" in body["checks"]["library"]["detail"]


def test_readiness_is_503_when_no_worker_ever_beat_or_its_heartbeat_is_stale(app, engine,
                                                                              clock):
    client = app.test_client()
    response = client.get("/salud/lista")
    assert response.status_code == 503
    assert response.get_json()["failed"] == ["worker"]
    assert "ningún trabajador" in response.get_json()["checks"]["worker"]["detail"]

    engine.worker_heartbeat()
    assert client.get("/salud/lista").status_code == 200
    # The worker runs every 30 s: three missed rounds and a minute's grace make it stale.
    clock.advance(seconds=149)
    assert client.get("/salud/lista").status_code == 200
    clock.advance(seconds=2)
    response = client.get("/salud/lista")
    assert response.status_code == 503
    assert response.get_json()["failed"] == ["worker"]
    assert "hace 151 s (máximo 150 s)" in response.get_json()["checks"]["worker"]["detail"]


def test_readiness_is_503_when_the_database_is_unreachable_and_shows_no_secret(
        app, engine, monkeypatch, caplog):
    engine.worker_heartbeat()
    secret = "s3cr3t-pw"
    unreachable = connect(f"postgresql://cauce:{secret}@127.0.0.1:1/cauce")
    monkeypatch.setattr(engine, "sql", unreachable)
    with caplog.at_level(logging.WARNING, logger="cauce.operations"):
        response = app.test_client().get("/salud/lista")
    body = response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.get_json()["failed"] == ["database", "worker"]
    assert response.get_json()["checks"]["database"]["detail"] == "no responde"
    assert response.get_json()["checks"]["library"]["ok"] is True
    for leak in (secret, "127.0.0.1", "postgresql", "Traceback"):
        assert leak not in body
    # The reason is in the log, under the request's id (it was found in another thread).
    warning = next(r for r in caplog.records if r.name == "cauce.operations")
    assert warning.request_id == response.headers["X-Request-Id"]
    unreachable.dispose()


def test_readiness_does_not_wait_for_a_writer_holding_the_database(app, engine, walker):
    walker.start()
    engine.worker_heartbeat()
    with engine.sql.begin() as writer:  # on SQLite: BEGIN IMMEDIATE, the write lock
        writer.execute(text('UPDATE "case" SET outcome = outcome'))
        started = time.perf_counter()
        response = app.test_client().get("/salud/lista")
        assert time.perf_counter() - started < 1.5
    assert response.status_code == 200, response.get_json()


def test_readiness_gives_up_on_a_database_that_hangs(app, engine, monkeypatch):
    engine.worker_heartbeat()

    def slow_connection() -> sqlite3.Connection:
        time.sleep(1.0)
        return sqlite3.connect(":memory:")

    hanging = create_engine("sqlite://", creator=slow_connection)
    monkeypatch.setattr(engine, "sql", hanging)
    app.config["HEALTH_DB_TIMEOUT"] = 0.2
    started = time.perf_counter()
    response = app.test_client().get("/salud/lista")
    assert time.perf_counter() - started < 0.9
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"]["detail"] == "no respondió en 0.2 s"
    # A probe still waiting makes the next one fail at once, rather than pile up threads.
    again = app.test_client().get("/salud/lista")
    assert "aún no termina" in again.get_json()["checks"]["database"]["detail"]
    assert operations._probe_lock.acquire(timeout=5)
    operations._probe_lock.release()
    hanging.dispose()


def test_probes_need_no_csrf_token_and_no_sign_in(app):
    client = app.test_client()
    for path in ("/salud", "/salud/lista", "/metricas"):
        response = client.get(path)
        assert response.status_code != 302, path  # never sent to the sign-in page
        assert response.status_code != 400, path  # never refused for a missing CSRF token


# -- request ids and logs ----------------------------------------------------------------------


def test_every_request_gets_an_id_in_its_header_and_on_its_log_lines(app, caplog):
    with caplog.at_level(logging.INFO, logger="cauce"):
        response = app.test_client().get("/salud")
    request_id = response.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    access = [r for r in caplog.records if r.name == "cauce.access"]
    assert len(access) == 1 and access[0].request_id == request_id
    assert access[0].status == 200 and access[0].path == "/salud"
    assert access[0].duration_ms >= 0


def test_a_sane_incoming_request_id_is_kept_and_anything_else_replaced(app):
    client = app.test_client()
    kept = client.get("/salud", headers={"X-Request-Id": "lb-7f3a9c21-0001"})
    assert kept.headers["X-Request-Id"] == "lb-7f3a9c21-0001"
    for bad in ("short", "x" * 200, "abc def ghi jkl", 'forged"}{"level":"ERROR'):
        replaced = client.get("/salud", headers={"X-Request-Id": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["X-Request-Id"]), bad


def test_the_access_line_in_json_has_the_user_and_no_password_or_query_values(
        app, web, people, caplog):
    user = people["trabajador_social"][0]
    with caplog.at_level(logging.INFO, logger="cauce"):
        client = web(user)
        client.get("/bandeja?q=expediente-confidencial&page=2")
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    everything = json.dumps(lines, ensure_ascii=False)
    assert "clave-de-prueba-1" not in everything
    assert "expediente-confidencial" not in everything
    inbox = [line for line in lines if line.get("path") == "/bandeja"][-1]
    assert inbox["method"] == "GET" and inbox["status"] == 200
    assert inbox["query_keys"] == ["page", "q"]
    assert inbox["user_id"] == app.extensions["cauce"].person(user).id
    assert re.fullmatch(r"[0-9a-f]{32}", inbox["request_id"])
    assert {"ts", "level", "logger", "message", "duration_ms"} <= set(inbox)
    sign_in = next(line for line in lines if line.get("path") == "/entrar"
                   and line.get("method") == "POST")
    assert sign_in["user_id"] is None  # nobody was signed in when the request came


def test_the_log_format_is_chosen_by_configuration(engine, database_url, tmp_path):
    from web.observability import TextFormatter

    def cauce_handler() -> logging.Handler:
        return next(h for h in logging.getLogger().handlers if getattr(h, "_cauce", False))

    base = {"DATABASE_URL": database_url, "ENGINE": engine, "TESTING": True,
            "SECRET_KEY": "x", "DOCUMENTS_DIR": str(tmp_path / "d")}
    create_app({**base, "LOG_FORMAT": "json"})
    assert isinstance(cauce_handler().formatter, JsonFormatter)
    create_app({**base, "LOG_FORMAT": "text"})
    assert isinstance(cauce_handler().formatter, TextFormatter)


# -- metrics -----------------------------------------------------------------------------------


def test_metrics_count_completed_tasks_and_fired_timers_with_their_lag(app, walker, engine,
                                                                      clock):
    tasks = sample("cauce_tasks_completed_total", process="social_case")
    timers = sample("cauce_timers_fired_total", process="social_case")
    lags = sample("cauce_timer_lag_seconds_count")
    lag_sum = sample("cauce_timer_lag_seconds_sum")

    walker.start()  # with its form: the first task is completed too
    walker.do("reasignar_solicitud")
    assert sample("cauce_tasks_completed_total", process="social_case") == tasks + 2

    # Due at the last second of 23 March in Quito (04:59:59 UTC on the 24th); fired at 06:00.
    clock.set(datetime(2026, 3, 24, 6, 0, tzinfo=UTC))
    assert engine.fire_due_timers() == 1
    assert sample("cauce_timers_fired_total", process="social_case") == timers + 1
    assert sample("cauce_timer_lag_seconds_count") == lags + 1
    assert sample("cauce_timer_lag_seconds_sum") == pytest.approx(lag_sum + 3601)

    exposed = app.test_client().get("/metricas")
    assert exposed.status_code == 200
    assert exposed.mimetype == "text/plain"
    assert 'cauce_tasks_completed_total{process="social_case"}' in exposed.get_data(as_text=True)
    assert "cauce_timer_lag_seconds_bucket" in exposed.get_data(as_text=True)


def test_a_step_that_fails_is_not_counted(app, walker, engine):
    walker.start()
    before = sample("cauce_tasks_completed_total", process="social_case")
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do
        engine.complete_task(walker.task("reasignar_solicitud").task_id,
                             by=walker.coordinator, form_data={"is_social_case": "no"})
    assert sample("cauce_tasks_completed_total", process="social_case") == before


def test_metrics_count_errors_by_status_and_api_code_and_time_each_endpoint(app):
    client = app.test_client()
    unauthorized = sample("cauce_http_errors_total", status="401", code="unauthorized")
    missing = sample("cauce_http_errors_total", status="404", code="")
    timed = sample("cauce_request_duration_seconds_count", method="GET", endpoint="health.live")
    assert client.get("/api/me").status_code == 401
    assert client.get("/no-existe").status_code in (302, 404)
    client.get("/salud")
    assert sample("cauce_http_errors_total", status="401", code="unauthorized") == \
        unauthorized + 1
    assert sample("cauce_request_duration_seconds_count", method="GET",
                  endpoint="health.live") == timed + 1
    if client.get("/no-existe").status_code == 404:
        assert sample("cauce_http_errors_total", status="404", code="") >= missing + 1


def test_metrics_are_served_only_to_this_machine_or_with_the_token(app, monkeypatch):
    client = app.test_client()
    assert client.get("/metricas").status_code == 200
    outside = client.get("/metricas", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert outside.status_code == 403
    proxied = client.get("/metricas", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403

    monkeypatch.setenv("CAUCE_METRICS_TOKEN", "token-de-metricas")
    assert client.get("/metricas").status_code == 401
    assert client.get("/metricas", headers={"Authorization": "Bearer otro"}).status_code == 401
    allowed = client.get("/metricas", environ_base={"REMOTE_ADDR": "10.1.2.3"},
                         headers={"Authorization": "Bearer token-de-metricas"})
    assert allowed.status_code == 200
    assert "cauce_request_duration_seconds" in allowed.get_data(as_text=True)


# -- backup and restore -----------------------------------------------------------------------


@pytest.fixture
def fresh_url(tmp_path: Path, _postgres_url: str | None):
    """A second, empty database of the same kind as the suite's."""
    if _postgres_url is None:
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    base, _, name = _postgres_url.rpartition("/")
    restored = f"{base}/{name}_restore"
    admin = create_engine(
        connect(_postgres_url).url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if not connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": f"{name}_restore"}).first():
            connection.exec_driver_sql(f'CREATE DATABASE "{name}_restore"')
    admin.dispose()
    sql = connect(restored)
    drop_schema(sql)
    sql.dispose()
    yield restored


@pytest.fixture
def restored(fresh_url, library, clock, tmp_path):
    """A second app on the fresh database, as ``flask restore`` would run against it."""
    eng = make_engine(fresh_url, library, clock, tmp_path / "restored-documents")
    app = create_app({"DATABASE_URL": fresh_url, "ENGINE": eng, "TESTING": True,
                      "SECRET_KEY": "x", "DOCUMENTS_DIR": str(tmp_path / "restored-documents")})
    yield app
    eng.sql.dispose()


def make_cases(walker, engine, clock) -> list[str]:
    """Three cases: one finished early, one with a fired timer, one just started; a document."""
    numbers = []
    engine.store_document(by=walker.coordinator, filename="oficio.pdf", data=PDF)
    walker.start()
    walker.do("reasignar_solicitud", is_social_case=False, referred_to="Fiscalía",
              referral_reason="Competencia de otra entidad")
    numbers.append(walker.case.number)
    walker.start()
    walker.do("reasignar_solicitud")
    numbers.append(walker.case.number)
    walker.start()
    numbers.append(walker.case.number)
    clock.set(datetime(2026, 3, 24, 6, 0, tzinfo=UTC))
    assert engine.fire_due_timers() >= 1
    return numbers


def test_a_backup_restored_into_a_fresh_database_replays_and_verifies_every_case(
        app, walker, engine, clock, restored, tmp_path):
    numbers = make_cases(walker, engine, clock)
    file = tmp_path / "copia.zip"
    result = app.test_cli_runner().invoke(args=["backup", str(file)])
    assert result.exit_code == 0, result.output
    assert "Copia escrita en" in result.output and "3 casos" in result.output
    assert "1 documentos" in result.output

    # A worker already running against the new database does not make it "not empty".
    restored.extensions["cauce"].worker_heartbeat()
    result = restored.test_cli_runner().invoke(args=["restore", str(file)])
    assert result.exit_code == 0, result.output
    assert "3 casos verificados, 0 con problemas" in result.output

    copy = restored.extensions["cauce"]
    for number in numbers:
        assert [e.__dict__ for e in copy.history(number, by=walker.leader)] == \
            [e.__dict__ for e in engine.history(number, by=walker.leader)]
        assert copy.replay(number, by=walker.leader).proven
    sha = hashlib.sha256(PDF).hexdigest()
    assert copy.documents.path(sha).read_bytes() == PDF
    # Work goes on in the restored database: new rows get new ids, numbers continue.
    walker.engine = copy
    walker.start()
    assert walker.case.number.endswith("-0004")
    walker.do("reasignar_solicitud")


def test_the_backup_is_consistent_while_cases_keep_moving(app, walker, engine, clock, tmp_path):
    # Steps taken while the backup reads are either wholly in it or wholly absent.
    make_cases(walker, engine, clock)
    engine.worker_heartbeat()
    progress: list[tuple[str, int, int]] = []

    def busy(label: str, done: int, total: int) -> None:
        progress.append((label, done, total))
        if label == "Tablas" and done == 1:
            walker.start()

    summary = engine.backup(tmp_path / "copia.zip", progress=busy)
    with zipfile.ZipFile(tmp_path / "copia.zip") as archive:
        # Heartbeats vouch for running workers: a backup does not carry them elsewhere.
        assert "tables/worker_heartbeat.jsonl" not in archive.namelist()
        cases = archive.read("tables/case.jsonl").decode().splitlines()
        events = [json.loads(line) for line in archive.read(
            "tables/case_event.jsonl").decode().splitlines()]
    assert summary.rows["case"] == len(cases) == 3
    assert {e["case_id"] for e in events} == {json.loads(c)["id"] for c in cases}
    assert progress[-1][0] == "Documentos"


def tamper(file: Path, target: Path, *, fix_checksum: bool) -> int:
    """Change the form data of one completed task in the backup (optionally resealing it).

    Return the changed event's sequence number in its case."""
    with zipfile.ZipFile(file) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    lines = members["tables/case_event.jsonl"].decode().splitlines(keepends=True)
    for index, line in enumerate(lines):
        row = json.loads(line)
        if row["event_type"] == "task_completed" and row["activity_id"] == \
                "reasignar_solicitud":
            row["data"]["form"]["is_social_case"] = not row["data"]["form"]["is_social_case"]
            lines[index] = json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
            changed = int(row["seq"])
            break
    members["tables/case_event.jsonl"] = "".join(lines).encode()
    if fix_checksum:
        manifest = json.loads(members["cauce-backup.json"])
        manifest["tables"]["case_event"]["sha256"] = hashlib.sha256(
            members["tables/case_event.jsonl"]).hexdigest()
        members["cauce-backup.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return changed


def test_a_tampered_backup_is_restored_but_its_case_reported(app, walker, engine, clock,
                                                             restored, tmp_path):
    numbers = make_cases(walker, engine, clock)
    engine.backup(tmp_path / "copia.zip")
    seq = tamper(tmp_path / "copia.zip", tmp_path / "alterada.zip", fix_checksum=True)
    result = restored.test_cli_runner().invoke(args=["restore", str(tmp_path / "alterada.zip")])
    assert result.exit_code == 2, result.output
    assert "3 casos verificados, 1 con problemas" in result.output
    assert re.search(rf"{numbers[0]}: la cadena de hashes se rompe en el evento {seq}\n",
                     result.output), result.output


def test_a_damaged_backup_restores_nothing(app, walker, engine, clock, restored, tmp_path):
    make_cases(walker, engine, clock)
    engine.backup(tmp_path / "copia.zip")
    tamper(tmp_path / "copia.zip", tmp_path / "dañada.zip", fix_checksum=False)
    result = restored.test_cli_runner().invoke(args=["restore", str(tmp_path / "dañada.zip")])
    assert result.exit_code == 1
    assert "no se restauró nada" in result.output
    assert "case_event.jsonl no coincide con su suma de control" in result.output
    with restored.extensions["cauce"].read_session() as session:
        assert session.scalar(select(func.count()).select_from(CaseRow)) == 0
    assert "Traceback" not in result.output


def test_restore_refuses_a_database_that_already_has_data(app, walker, engine, clock, tmp_path):
    make_cases(walker, engine, clock)
    engine.backup(tmp_path / "copia.zip")
    result = app.test_cli_runner().invoke(args=["restore", str(tmp_path / "copia.zip")])
    assert result.exit_code == 1
    assert "no está vacía" in result.output and "restaure en una base de datos nueva" in \
        result.output


def test_restore_refuses_a_file_that_is_not_a_backup(restored, tmp_path):
    junk = tmp_path / "notas.zip"
    junk.write_bytes(b"no es un zip")
    result = restored.test_cli_runner().invoke(args=["restore", str(junk)])
    assert result.exit_code == 1
    assert "no es un archivo de copia de Cauce" in result.output


def test_backup_does_not_overwrite_an_existing_file(app, tmp_path):
    existing = tmp_path / "copia.zip"
    existing.write_bytes(b"anterior")
    result = app.test_cli_runner().invoke(args=["backup", str(existing)])
    assert result.exit_code == 1 and existing.read_bytes() == b"anterior"
    assert app.test_cli_runner().invoke(args=["backup", "--force", str(existing)]).exit_code == 0


def test_in_multiprocess_mode_the_metrics_of_every_process_add_up(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    count = ("from web.observability import TASKS_COMPLETED as t; "
             "t.labels('social_case').inc({n})")
    for n in (1, 2):  # two app processes (or a worker) counting on their own
        subprocess.run([sys.executable, "-W", "error", "-c", count.format(n=n)], env=env,
                       cwd=ROOT, check=True)
    exposed = subprocess.run(
        [sys.executable, "-W", "error", "-c",
         "from prometheus_client import generate_latest; "
         "from web.observability import metrics_registry; "
         "print(generate_latest(metrics_registry()).decode())"],
        env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    assert 'cauce_tasks_completed_total{process="social_case"} 3.0' in exposed


def test_a_sqlite_backup_restores_into_postgresql(_postgres_url, fresh_url, library, clock,
                                                  people, tmp_path):
    if _postgres_url is None:
        pytest.skip("needs TEST_DATABASE_URL (PostgreSQL)")
    source = make_engine(f"sqlite:///{tmp_path / 'source.db'}", library, clock,
                         tmp_path / "source-documents")
    seed_demo_people(source, DEMO_PASSWORD)
    walker = CaseWalker(source, people)
    numbers = make_cases(walker, source, clock)
    source.backup(tmp_path / "copia.zip")
    target = make_engine(fresh_url, library, clock, tmp_path / "target-documents")
    assert target.restore(tmp_path / "copia.zip").source == "sqlite"
    assert target.verify_cases().ok
    assert target.replay(numbers[1], by=walker.leader).proven
    source.sql.dispose()
    target.sql.dispose()


# -- backups of disposed cases ----------------------------------------------------------------


def _dispose_one_archived_case(walker, engine, people) -> tuple[str, str]:
    """Archive a social case in 2020, dispose of it (its content erased); keep a running one."""
    walker.start()
    for activity in ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico"]:
        walker.do(activity)
    walker.do("validar_informe", report_validated=True, requires_support=False)
    old = walker.do("archivar_expediente", archived_date="2020-06-15")
    act = engine.dispose_cases([old.number], by=people["propietario_cs"][0],
                               legal_basis="Tabla de plazos de conservación documental, "
                                           "serie Casos sociales, 5 años desde el archivo")
    walker.start()
    walker.do("reasignar_solicitud")
    return old.number, act.number


def _reseal(file: Path, target: Path, table: str, change: Any) -> None:
    """Rewrite one table of a backup with ``change`` applied to each row; fix its checksum."""
    with zipfile.ZipFile(file) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    member = f"tables/{table}.jsonl"
    rows = [change(json.loads(line)) for line in members[member].decode().splitlines()]
    members[member] = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n"
                              for r in rows).encode()
    manifest = json.loads(members["cauce-backup.json"])
    manifest["tables"][table]["sha256"] = hashlib.sha256(members[member]).hexdigest()
    members["cauce-backup.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_backup_with_a_disposed_case_restores_and_verifies_by_its_tombstone(
        app, walker, engine, people, restored, tmp_path):
    disposed, _act = _dispose_one_archived_case(walker, engine, people)
    assert engine.verify_history().ok
    engine.backup(tmp_path / "copia.zip")

    result = restored.test_cli_runner().invoke(args=["restore", str(tmp_path / "copia.zip")])

    assert result.exit_code == 0, result.output
    assert "2 casos verificados, 0 con problemas" in result.output
    copy = restored.extensions["cauce"]
    assert copy.verify_cases().ok
    assert copy.case_disposal(disposed, by="monica.pazmino") is not None


def test_a_backup_whose_disposal_acta_was_altered_reports_the_disposed_case(
        app, walker, engine, people, restored, tmp_path):
    disposed, act = _dispose_one_archived_case(walker, engine, people)
    engine.backup(tmp_path / "copia.zip")

    def rewrite_a_recorded_hash(row: dict[str, Any]) -> dict[str, Any]:
        row["cases"][0]["events"][2][1] = "00" * 32
        return row

    _reseal(tmp_path / "copia.zip", tmp_path / "alterada.zip", "disposal_act",
            rewrite_a_recorded_hash)
    result = restored.test_cli_runner().invoke(args=["restore", str(tmp_path / "alterada.zip")])

    assert result.exit_code == 2, result.output
    assert "2 casos verificados, 1 con problemas" in result.output
    assert f"{disposed}: el acta {act} fue alterada" in result.output
