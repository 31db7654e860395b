"""While PostgreSQL is down a page says so in Spanish (503), and the same server serves again
once it is back. The app runs on a private PostgreSQL this module starts (initdb, pg_ctl)."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM, LiveServer, screenshot, serve, sign_in
from tests.support.processes import PrivatePostgres, postgres_binaries

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    if postgres_binaries() is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM}")
    workdir = Path(tempfile.mkdtemp(prefix="cauce-pg-", dir="/tmp"))
    workdir.chmod(0o755)
    server = PrivatePostgres(workdir / "pg").init()
    try:
        yield server
    finally:
        if server.running():
            server.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def live_server(postgres: PrivatePostgres, tmp_path_factory) -> Iterator[LiveServer]:
    """This module's server: the app on the private PostgreSQL."""
    yield from serve(postgres.url, tmp_path_factory.mktemp("live-pg"))


def test_a_page_asked_for_while_the_database_is_down_says_so_and_works_once_it_is_back(
        new_page, postgres, live_server, tmp_path):
    from playwright.sync_api import expect

    page = new_page()
    sign_in(page, "lucia.andrade")
    postgres.stop("immediate")
    try:
        page.wait_for_timeout(live_server.engine.sessions.seconds * 1000 + 500)
        answer = page.goto("/bandeja")
        assert answer is not None and answer.status == 503
        expect(page.get_by_text("La base de datos no está disponible en este momento; "
                                "vuelva a intentarlo.")).to_be_visible()
        assert "Traceback" not in page.content()
        # Its stylesheet still loads: static files never wait on the database.
        sheet = page.locator("link[rel=stylesheet]").first.get_attribute("href")
        assert sheet and page.request.get(sheet).status == 200
        screenshot(page, "database-down", tmp_path)
        page.set_viewport_size({"width": 390, "height": 800})
        screenshot(page, "database-down-390", tmp_path)
        page.set_viewport_size({"width": 1280, "height": 800})
    finally:
        postgres.start()
    page.goto("/bandeja")
    expect(page).to_have_url(re.compile(r"/bandeja"))
    expect(page.get_by_role("heading", name="Bandeja de tareas", level=1)).to_be_visible()
