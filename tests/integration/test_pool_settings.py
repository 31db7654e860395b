"""PostgreSQL pool settings reach the pool and the server, read from live connections."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import exc, text

from engine import Engine
from engine.store import PoolSettings, connect

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_url(_postgres_url: str | None) -> str:
    if _postgres_url is None:
        pytest.skip("pool settings are PostgreSQL's: set TEST_DATABASE_URL")
    return _postgres_url


def _backend_pid(sql) -> int:
    with sql.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_the_pool_holds_size_plus_overflow_connections_and_then_makes_callers_wait(pg_url):
    sql = connect(pg_url, pool=PoolSettings(size=2, max_overflow=1, timeout_seconds=0.5))
    try:
        held = [sql.connect() for _ in range(3)]
        with pytest.raises(exc.TimeoutError):
            sql.connect()
        for connection in held:
            connection.close()
        # The overflow connection is closed when returned; the pool keeps its size.
        assert sql.pool.checkedin() == 2  # type: ignore[attr-defined]
        assert sql.pool.size() == 2  # type: ignore[attr-defined]
    finally:
        sql.dispose()


def test_the_statement_timeout_is_the_servers_setting_on_every_connection(pg_url):
    sql = connect(pg_url, pool=PoolSettings(statement_timeout_ms=300))
    try:
        with sql.connect() as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "300ms"
            with pytest.raises(exc.OperationalError, match="statement timeout"):
                connection.execute(text("SELECT pg_sleep(2)"))
    finally:
        sql.dispose()
    unlimited = connect(pg_url, pool=PoolSettings(statement_timeout_ms=0))
    try:
        with unlimited.connect() as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "0"
    finally:
        unlimited.dispose()


def test_connections_older_than_the_recycle_age_are_replaced(pg_url):
    sql = connect(pg_url, pool=PoolSettings(size=1, max_overflow=0, recycle_seconds=1))
    try:
        first = _backend_pid(sql)
        assert _backend_pid(sql) == first  # reused while young
        time.sleep(1.3)
        assert _backend_pid(sql) != first
    finally:
        sql.dispose()


def _kill_backend(pg_url: str, pid: int) -> None:
    killer = connect(pg_url, pool=PoolSettings())
    try:
        with killer.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"),
                                      {"pid": pid}).scalar_one()
    finally:
        killer.dispose()
    time.sleep(0.2)


def test_pre_ping_replaces_a_connection_the_server_dropped(pg_url):
    pinged = connect(pg_url, pool=PoolSettings(size=1, max_overflow=0, pre_ping=True))
    unpinged = connect(pg_url, pool=PoolSettings(size=1, max_overflow=0, pre_ping=False))
    try:
        for sql in (pinged, unpinged):
            _kill_backend(pg_url, _backend_pid(sql))
        # Without the ping the dead connection is lent out and the first statement fails.
        with pytest.raises(exc.OperationalError), unpinged.connect() as connection:
            connection.execute(text("SELECT 1"))
        with pinged.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        pinged.dispose()
        unpinged.dispose()


def test_an_engine_built_from_the_environment_uses_its_pool_settings(
        pg_url, library, monkeypatch):
    monkeypatch.setenv("CAUCE_DB_POOL_SIZE", "3")
    monkeypatch.setenv("CAUCE_DB_MAX_OVERFLOW", "4")
    monkeypatch.setenv("CAUCE_DB_POOL_RECYCLE", "600")
    monkeypatch.setenv("CAUCE_DB_POOL_PRE_PING", "false")
    monkeypatch.setenv("CAUCE_DB_STATEMENT_TIMEOUT_MS", "15000")
    engine = Engine(pg_url, library)
    try:
        pool = engine.sql.pool
        assert pool.size() == 3  # type: ignore[attr-defined]
        assert pool._max_overflow == 4  # type: ignore[attr-defined]
        assert pool._recycle == 600 and pool._pre_ping is False
        with engine.sql.connect() as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "15s"
    finally:
        engine.sql.dispose()


def test_settings_from_the_environment_default_when_unset_and_name_a_bad_value():
    assert PoolSettings.from_env({}) == PoolSettings()
    assert PoolSettings.from_env({"CAUCE_DB_POOL_SIZE": " "}).size == 5
    with pytest.raises(ValueError, match="CAUCE_DB_POOL_SIZE"):
        PoolSettings.from_env({"CAUCE_DB_POOL_SIZE": "muchos"})
