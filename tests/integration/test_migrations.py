"""Schema migrations: a database made by the first release, with real cases in it, upgrades to
the current schema without losing anything; fresh and upgraded databases are the same; stored
workflow states written by an older SpiffWorkflow serializer are migrated."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from engine import Engine, schema
from engine.store import Base, connect, create_schema, drop_schema
from tests.conftest import FAST_HASHER, ROOT, CaseWalker, FakeClock

pytestmark = pytest.mark.integration

# The first release: revision r0001 is its schema, frozen.
FIRST_RELEASE_COMMIT = "0c1e4c7affca74dfade5a3e708452256d27d6a1d"
# Tables whose rows the first release wrote and an upgrade must leave exactly as they were.
KEPT = ("process_version", "process", "case", "case_event", "open_task", "person",
        "position", "person_position", "counter", "task_draft")

# Run inside a checkout of the first release: its own engine, schema and demo people, four
# social cases (one closed, one referred elsewhere, two open at different steps).
SEED = textwrap.dedent("""
    import sys
    from datetime import UTC, datetime
    from pathlib import Path

    from engine import Engine, ProcessLibrary
    from engine.demo import seed_demo_people
    from tests.conftest import FAST_HASHER, CaseWalker, FakeClock

    url = sys.argv[1]
    library = ProcessLibrary.load_directory(Path("bpmn"), Path("forms"))
    clock = FakeClock(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    engine = Engine(url, library, clock=clock, password_hasher=FAST_HASHER)
    engine.create_schema()
    people = {}
    for account in seed_demo_people(engine, "clave-de-prueba-1"):
        for role in account.roles:
            people.setdefault(role, []).append(account.username)
    walker = CaseWalker(engine, people)
    walker.start()
    for activity in ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista",
                     "emitir_diagnostico", "validar_informe", "remitir_informe",
                     "solicitar_apoyo", "generar_respuesta", "generar_expediente",
                     "archivar_expediente"]:
        clock.advance(hours=3)
        walker.do(activity)
    walker.start()
    walker.do("reasignar_solicitud", is_social_case=False, referred_to="Fiscalía",
              referral_reason="Competencia de otra entidad")
    walker.start()
    clock.advance(hours=1)
    walker.do("reasignar_solicitud")
    walker.do("analizar_solicitud")
    walker.start()
    engine.sql.dispose()
""")


def _first_release(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is needed to check out the first release")
    tree = tmp_path / "first-release"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", FIRST_RELEASE_COMMIT], cwd=ROOT,
                             capture_output=True, check=False)
    if archive.returncode != 0:
        pytest.skip("the first release's commit is not in this checkout")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def _seed_with_first_release(tmp_path: Path, url: str) -> None:
    tree = _first_release(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    env["PYTHONPATH"] = str(tree)
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", SEED, url], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


def _rows(sql: Any, table: str) -> list[tuple[Any, ...]]:
    with sql.connect() as connection:
        return [tuple(row) for row in connection.execute(
            text(f'SELECT * FROM "{table}" ORDER BY 1, 2'))]


@pytest.fixture
def old_database(tmp_path: Path, database_url: str) -> Any:
    """A database made by the first release (the test's own SQLite file, or the emptied
    PostgreSQL test database, given back at the current schema afterwards)."""
    sql = connect(database_url)
    drop_schema(sql)
    sql.dispose()
    try:
        _seed_with_first_release(tmp_path, database_url)
        yield database_url
    finally:
        sql = connect(database_url)
        drop_schema(sql)
        create_schema(sql)
        sql.dispose()


def _engine(url: str, library: Any, clock: FakeClock) -> Engine:
    eng = Engine(url, library, clock=clock, password_hasher=FAST_HASHER)
    eng.create_schema()
    return eng


def _people(eng: Engine) -> dict[str, list[str]]:
    with eng.sql.connect() as connection:
        usernames = [row[0] for row in connection.execute(
            text("SELECT username FROM person ORDER BY id"))]
    by_role: dict[str, list[str]] = {}
    for username in usernames:
        for role in eng.person(username).roles:
            by_role.setdefault(role, []).append(username)
    return by_role


def test_a_first_release_database_with_cases_upgrades_without_losing_anything(
        old_database, library):
    sql = connect(old_database)
    assert schema.current(sql) is None
    before = {table: _rows(sql, table) for table in KEPT}
    assert len(before["case"]) == 4 and len(before["case_event"]) > 20
    with sql.connect() as connection:
        closed = connection.execute(text(
            'SELECT count(*) FROM "case" WHERE completed_at IS NOT NULL')).scalar_one()
    assert closed == 2  # the finished case and the one referred elsewhere

    assert schema.upgrade(sql) == (schema.FIRST_RELEASE, schema.head())
    assert schema.current(sql) == schema.head()
    assert schema.differences(sql) == []
    for table in KEPT:
        assert _rows(sql, table) == before[table], table
    with sql.connect() as connection:
        # The log stays append-only.
        with pytest.raises(DatabaseError):
            connection.execute(text("UPDATE case_event SET actor = 'x' WHERE seq = 1"))
        connection.rollback()
    sql.dispose()

    clock = FakeClock(datetime(2026, 3, 20, 15, 0, tzinfo=UTC))
    eng = _engine(old_database, library, clock)
    try:
        people = _people(eng)
        walker = CaseWalker(eng, people)
        numbers = [row[1] for row in before["case"]]
        for number in numbers:
            replay = eng.replay(number, by=walker.leader)
            assert replay.chain_intact and replay.stored_state_matches, number
            assert all(step.matches for step in replay.steps), number
        # The open cases go on under the new schema, and still replay.
        walker.case = eng.case(numbers[2], by=walker.leader)
        walker.do("realizar_entrevista")
        walker.case = eng.case(numbers[3], by=walker.leader)
        walker.do("reasignar_solicitud")
        for number in (numbers[2], numbers[3]):
            replay = eng.replay(number, by=walker.leader)
            assert replay.chain_intact and replay.stored_state_matches
            assert all(step.matches for step in replay.steps)
        assert eng.verify_cases().ok
    finally:
        eng.sql.dispose()


def test_a_fresh_database_and_an_upgraded_one_have_the_same_schema(old_database, tmp_path):
    upgraded = connect(old_database)
    schema.upgrade(upgraded)
    fresh = connect(f"sqlite:///{tmp_path / 'fresh.db'}")
    if upgraded.dialect.name == "sqlite":
        create_schema(fresh)
        assert schema.differences(fresh) == []
        assert schema.index_names(fresh) == schema.index_names(upgraded)
        assert _triggers(fresh) == _triggers(upgraded)
    assert schema.differences(upgraded) == []
    assert "ix_case_requester_key" in schema.index_names(upgraded)["case"]
    fresh.dispose()
    upgraded.dispose()


def _triggers(sql: Any) -> set[str]:
    with sql.connect() as connection:
        return {row[0] for row in connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))}


def test_the_revisions_alone_build_the_models_schema(database_url):
    """Running every revision from nothing gives what create_all gives (no skipped change)."""
    from alembic import command

    sql = connect(database_url)
    drop_schema(sql)
    try:
        with sql.begin() as connection:
            command.upgrade(schema.alembic_config(connection), "head")
        assert schema.current(sql) == schema.head()
        assert schema.differences(sql) == []
    finally:
        drop_schema(sql)
        create_schema(sql)
        sql.dispose()


def test_upgrading_twice_changes_nothing_and_history_lists_every_revision(engine):
    assert schema.upgrade(engine.sql) == (schema.head(), schema.head())
    revisions = schema.history()
    assert [r.revision for r in revisions][-1] == schema.FIRST_RELEASE
    assert revisions[0].is_head and revisions[0].revision == schema.head()


def test_db_commands_upgrade_report_and_check(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0 and "Esquema" in result.output
    result = runner.invoke(args=["db", "current"])
    assert result.exit_code == 0 and schema.head() in result.output
    assert "la más reciente" in result.output
    result = runner.invoke(args=["db", "history"])
    assert result.exit_code == 0 and "r0001" in result.output
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output


def _restamp(state: bytes, version: str) -> bytes:
    """Rewrite a stored state as if an older serializer (``version``) had saved it."""
    stored = json.loads(zlib.decompress(state[1:]))
    stored["serializer_version"] = version
    return state[:1] + zlib.compress(json.dumps(stored).encode())


def test_states_saved_by_an_older_serializer_are_migrated_and_still_replay(
        engine, walker, clock):
    walker.start()
    walker.do("reasignar_solicitud")
    first = walker.case.number
    walker.start()
    second = walker.case.number
    current = engine.runtime.state_format
    with engine.sql.begin() as connection:
        for number in (first, second):
            state = connection.execute(text('SELECT state FROM "case" WHERE number = :n'),
                                       {"n": number}).scalar_one()
            assert engine.runtime.state_version(state) == current
            # SpiffWorkflow 3.2's previous format; its migration to 1.5 rewrites task specs.
            connection.execute(text('UPDATE "case" SET state = :s WHERE number = :n'),
                               {"s": _restamp(state, "1.4"), "n": number})

    progress: list[tuple[int, int]] = []
    summary = engine.migrate_states(batch_size=1, progress=lambda d, t: progress.append((d, t)))
    assert summary.versions_before == {"1.4": 2}
    assert (summary.running, summary.migrated, summary.failures) == (2, 2, ())
    assert len(progress) == 2 and progress[-1][0] == progress[-1][1]
    with engine.sql.connect() as connection:
        states = connection.execute(text('SELECT state FROM "case"')).scalars().all()
    assert {engine.runtime.state_version(s) for s in states} == {current}

    again = engine.migrate_states()
    assert (again.migrated, again.already_current) == (0, 2)
    walker.case = engine.case(first, by=walker.leader)
    walker.do("analizar_solicitud")
    for number in (first, second):
        replay = engine.replay(number, by=walker.leader)
        assert replay.chain_intact and replay.stored_state_matches


def test_a_state_that_does_not_restore_is_reported_and_left_as_it_was(engine, walker):
    walker.start()
    number = walker.case.number
    with engine.sql.begin() as connection:
        state = connection.execute(text('SELECT state FROM "case" WHERE number = :n'),
                                   {"n": number}).scalar_one()
        stored = json.loads(zlib.decompress(state[1:]))
        stored["serializer_version"] = "1.4"
        stored["tasks"] = {"broken": {"id": "broken"}}
        broken = b"W" + zlib.compress(json.dumps(stored).encode())
        connection.execute(text('UPDATE "case" SET state = :s WHERE number = :n'),
                           {"s": broken, "n": number})
    summary = engine.migrate_states()
    assert summary.migrated == 0 and [f.case_number for f in summary.failures] == [number]
    assert "se dejó como estaba" in summary.failures[0].reason
    with engine.sql.connect() as connection:
        assert connection.execute(text('SELECT state FROM "case" WHERE number = :n'),
                                  {"n": number}).scalar_one() == broken


def test_the_migrate_states_command_reports_each_version(app, walker):
    walker.start()
    result = app.test_cli_runner().invoke(args=["db", "migrate-states"])
    assert result.exit_code == 0, result.output
    assert "1 casos en curso" in result.output and "1 ya estaban al día" in result.output


def test_a_restored_backup_is_stamped_with_the_newest_revision(engine, walker, library,
                                                                clock, tmp_path):
    walker.start()
    walker.do("reasignar_solicitud")
    engine.backup(tmp_path / "copy.zip")
    target = Engine(f"sqlite:///{tmp_path / 'restored.db'}", library, clock=clock,
                    password_hasher=FAST_HASHER, documents_dir=tmp_path / "restored-documents")
    try:
        # Tables without a record of their revision, as a hand-made empty database would be.
        Base.metadata.create_all(target.sql)
        assert schema.current(target.sql) is None
        target.restore(tmp_path / "copy.zip")
        assert schema.current(target.sql) == schema.head()
        assert schema.differences(target.sql) == []
    finally:
        target.sql.dispose()


def test_processes_starting_together_upgrade_the_database_once(database_url):
    """Several app processes start at once on a first-release database: one migrates."""
    from alembic import command

    sql = connect(database_url)
    drop_schema(sql)
    with sql.begin() as connection:
        command.upgrade(schema.alembic_config(connection), schema.FIRST_RELEASE)
        connection.exec_driver_sql("DELETE FROM alembic_version")
    sql.dispose()

    script = ("import json, sys; from engine import schema; from engine.store import connect; "
              "print(json.dumps(schema.upgrade(connect(sys.argv[1]))))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        starts = [subprocess.Popen([sys.executable, "-c", script, database_url], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                  for _ in range(3)]
        outputs = [process.communicate(timeout=120) for process in starts]
        assert all(process.returncode == 0 for process in starts), outputs
        results = [tuple(json.loads(out)) for out, _err in outputs]
        head = schema.head()
        assert sorted(results, key=str) == sorted(
            [(schema.FIRST_RELEASE, head), (head, head), (head, head)], key=str)
        sql = connect(database_url)
        assert schema.differences(sql) == []
    finally:
        drop_schema(sql)
        create_schema(sql)
        sql.dispose()


def test_db_check_names_each_difference_and_fails(app, engine):
    with engine.sql.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE person ADD COLUMN nickname VARCHAR(20)")
    try:
        result = app.test_cli_runner().invoke(args=["db", "check"])
        assert result.exit_code == 1
        assert "columna person.nickname: sobra en la base de datos" in result.output
    finally:
        with engine.sql.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE person DROP COLUMN nickname")
