"""Browser-test fixtures: the app served by waitress on a free port (one temp SQLite database per
test module, demo people seeded with a known password), and Playwright driving Debian's Chromium.

Never ``playwright install``: the tests use the distribution's browser at ``/usr/bin/chromium``
and are skipped, saying why, when it is not there.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app import create_app
from engine import Engine
from engine.clock import LOCAL_TZ
from engine.demo import seed_demo_people
from tests.conftest import DEMO_PASSWORD, FAST_HASHER, CaseWalker

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Waits on elements, never sleeps: this is only the ceiling of one wait.
TIMEOUT_MS = 15_000

# Who plays which part (see engine/demo.py).
COORDINATOR = "lucia.andrade"
LEADER = "ana.guaman"
SOCIAL_WORKER = "sofia.naranjo"
NAMES = {COORDINATOR: "Lucía Andrade", LEADER: "Ana Guamán", SOCIAL_WORKER: "Sofía Naranjo",
         "diego.paredes": "Diego Paredes", "pablo.reyes": "Pablo Reyes",
         "jorge.cevallos": "Jorge Cevallos"}
AUDITOR = "monica.pazmino"
# The social case's lanes, played by the people above when a test sets up its cases.
SOCIAL_PEOPLE = {"coordinador_th": [COORDINATOR], "lider_seguridad": [LEADER],
                 "trabajador_social": [SOCIAL_WORKER]}
DIAGNOSIS = ("analizar_solicitud", "realizar_entrevista", "emitir_diagnostico")


def typed_date(day: date) -> str:
    """Return a date the way people type it in the forms: dd/mm/aaaa."""
    return day.strftime("%d/%m/%Y")


def recent_day(days_ago: int = 0) -> date:
    """Today in Ecuador (the served app runs on the real clock), or a few days before."""
    return datetime.now(LOCAL_TZ).date() - timedelta(days=days_ago)


@dataclass
class LiveServer:
    """The served application: its address and its engine (for setting up data directly)."""

    url: str
    engine: Engine

    def __call__(self, path: str = "/") -> str:
        return self.url + path


class _ServerThread(threading.Thread):
    """Run a waitress server's event loop until asked to stop, then close every socket."""

    def __init__(self, server: Any):
        super().__init__(name="waitress-live-server", daemon=True)
        self.server = server
        self._stop_asked = threading.Event()

    def run(self) -> None:
        from waitress import wasyncore

        socket_map = self.server._map
        try:
            while not self._stop_asked.is_set():
                wasyncore.loop(timeout=0.05, map=socket_map, count=1)
        finally:
            # Close the listening socket, the trigger and any connection still open, here in the
            # loop's own thread so nothing is closed under a running poll.
            wasyncore.close_all(socket_map)
            self.server.task_dispatcher.shutdown()

    def stop(self) -> None:
        self._stop_asked.set()
        self.join(timeout=10)


def serve(database_url: str, root: Path) -> Iterator[LiveServer]:
    """Serve a fresh Cauce on ``database_url`` (documents under ``root``) until closed."""
    from waitress import create_server

    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "browser-tests",
        "DATABASE_URL": database_url,
        "DOCUMENTS_DIR": str(root / "documents"),
        "SEEDS_DIR": "",
        # Fast password hashing, as in the other tests; the clock is the real one.
        "ENGINE_OPTIONS": {"password_hasher": FAST_HASHER},
    })
    engine: Engine = app.extensions["cauce"]
    seed_demo_people(engine, DEMO_PASSWORD)
    # Quiet: waitress logs a warning for every connection Chromium leaves open at shutdown.
    logging.getLogger("waitress").setLevel(logging.ERROR)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = _ServerThread(server)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.effective_port}", engine)
    finally:
        thread.stop()
        engine.sql.dispose()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Serve a fresh Cauce (temp SQLite database and documents folder) for one test module."""
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM} "
                    "(apt-get install chromium); the browser tests never download a browser")
    root = tmp_path_factory.mktemp("live")
    yield from serve(f"sqlite:///{root / 'cauce.db'}", root)


@pytest.fixture(scope="module")
def browser(live_server: LiveServer) -> Iterator[Any]:
    """Debian's Chromium, headless, one per test module (started after the server)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser: Any, live_server: LiveServer) -> Iterator[Callable[[], Any]]:
    """Return a function opening a page in a fresh context (its own cookies: one person each).

    Every page fails its test on a JavaScript error or a ``window.alert``/``confirm`` dialog.
    """
    contexts: list[Any] = []
    problems: list[str] = []

    def open_page() -> Any:
        context = browser.new_context(base_url=live_server.url, locale="es-EC",
                                      timezone_id="America/Guayaquil")
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))

        def on_dialog(dialog: Any) -> None:
            problems.append(f"unexpected {dialog.type} dialog: {dialog.message!r}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not problems, problems


@pytest.fixture
def page(new_page: Callable[[], Any]) -> Any:
    """One page in a fresh browser context."""
    return new_page()


def sign_in(page: Any, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the form and wait for the inbox."""
    from playwright.sync_api import expect

    page.goto("/entrar")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill(password)
    page.get_by_role("button", name="Ingresar").click()
    expect(page).to_have_url(re.compile(r"/bandeja"))
    expect(page.get_by_role("heading", name="Bandeja de tareas", level=1)).to_be_visible()


def diagnosed_case(server: LiveServer, **data: Any) -> CaseWalker:
    """Start a social case on the served app with ``data`` (its lanes played by SOCIAL_PEOPLE),
    take it up to the validation of its report and return its walker."""
    walker = CaseWalker(server.engine, SOCIAL_PEOPLE)
    walker.start(**data)
    walker.do("reasignar_solicitud")
    for activity in DIAGNOSIS:
        walker.do(activity)
    return walker


def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """Save a full-page PNG (to CAUCE_SCREENSHOTS when set, to look at)."""
    folder = Path(os.environ.get("CAUCE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
