"""Shared fixtures: a real database (temp SQLite, or TEST_DATABASE_URL), the engine, a fake clock,
demo people, and a walker that takes social cases through their activities."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from engine import Engine, ProcessLibrary
from engine.demo import seed_demo_people
from engine.store import Base, connect, create_schema, drop_schema, install_append_only_guards

ROOT = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "clave-de-prueba-1"
# Fast hashing for tests; production uses argon2's defaults.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class FakeClock:
    """A settable clock: tests move time explicitly."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> datetime:
        self.now = moment
        return moment


@pytest.fixture(scope="session", autouse=True)
def _compiled_translations() -> None:
    """Compile the English catalog when it is missing or stale (``make`` does it too)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po = ROOT / "web" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
    mo = po.with_suffix(".mo")
    if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
        with po.open("rb") as source:
            catalog = read_po(source)
        with mo.open("wb") as target:
            write_mo(target, catalog)


@pytest.fixture
def clock() -> FakeClock:
    # Monday 2 March 2026, 10:00 in Quito.
    return FakeClock(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def library() -> ProcessLibrary:
    return ProcessLibrary.load_directory(ROOT / "bpmn", ROOT / "forms")


@pytest.fixture(scope="session")
def _postgres_url() -> Iterator[str | None]:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield None
        return
    sql = connect(url)
    drop_schema(sql)
    create_schema(sql)
    sql.dispose()
    yield url


@pytest.fixture
def database_url(tmp_path: Path, _postgres_url: str | None) -> Iterator[str]:
    """A clean database per test: a temp SQLite file, or the emptied PostgreSQL test database."""
    if _postgres_url is None:
        yield f"sqlite:///{tmp_path / 'cauce-test.db'}"
        return
    sql = connect(_postgres_url)
    tables = ", ".join(f'"{t.name}"' for t in reversed(Base.metadata.sorted_tables))
    with sql.begin() as connection:
        # TRUNCATE does not fire the event log's append-only row triggers.
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        # The database outlives each test: put back a guard an earlier tamper test removed.
        install_append_only_guards(connection)
    sql.dispose()
    yield _postgres_url


def make_engine(database_url: str, library: ProcessLibrary, clock: FakeClock,
                documents_dir: Path | None = None) -> Engine:
    engine = Engine(database_url, library, clock=clock, password_hasher=FAST_HASHER,
                    documents_dir=documents_dir)
    engine.create_schema()
    return engine


@pytest.fixture
def engine(database_url: str, library: ProcessLibrary, clock: FakeClock,
           tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(database_url, library, clock, tmp_path / "documents")
    yield eng
    eng.sql.dispose()


@pytest.fixture
def people(engine: Engine) -> dict[str, list[str]]:
    """Demo people by role: coordinador_th, lider_seguridad, trabajador_social (two each)."""
    by_role: dict[str, list[str]] = {}
    # Keyed by the role each person was seeded for; a position may give them more roles
    # (the procedure's owner also coordinates it): engine.person(name).roles has them all.
    for account in seed_demo_people(engine, DEMO_PASSWORD):
        by_role.setdefault(account.roles[0], []).append(account.username)
    return by_role


@pytest.fixture
def reload(database_url: str, library: ProcessLibrary, clock: FakeClock):
    """Return a function that builds a brand-new engine on the same database (a restart)."""
    engines: list[Engine] = []

    def fresh() -> Engine:
        eng = Engine(database_url, library, clock=clock, password_hasher=FAST_HASHER)
        eng.publish_library()
        engines.append(eng)
        return eng

    yield fresh
    for eng in engines:
        eng.sql.dispose()


# -- valid form data for every activity of the social case ------------------------------------
# Dates of things already done are the fake clock's day (2 March 2026): forms refuse later ones.

REQUEST = {
    "request_date": "2026-03-02", "requester_type": "familiar", "requester_name": "Rosa Chicaiza",
    "requester_relationship": "Madre", "beneficiary_name": "Kevin Chicaiza",
    "channel_formality": "informal", "channel_medium": "verbal",
    "situation_summary": "El servidor atraviesa una situación familiar que afecta su trabajo.",
}


def form_for(activity: str, **choices: Any) -> dict[str, Any]:
    """Return valid form data for an activity; keyword arguments override or add fields."""
    base: dict[str, dict[str, Any]] = {
        "recibir_solicitud": REQUEST,
        "reasignar_solicitud": {"is_social_case": True},
        "analizar_solicitud": {"request_analysis": "Requiere entrevista y visita.",
                               "planned_action": "entrevista_y_visita"},
        "realizar_entrevista": {
            "interviews": [{"interviewee_type": "requirente", "interviewee_name": "Rosa Chicaiza",
                            "interview_date": "2026-03-02", "summary": "Relata la situación."}],
            "home_visit": True, "home_visit_date": "2026-03-02",
            "home_visit_findings": "Vivienda con hacinamiento.", "institutional_visit": False,
            "findings": "Situación de vulnerabilidad económica."},
        "emitir_diagnostico": {
            "report_date": "2026-03-02", "background": "Solicitud verbal de la madre.",
            "social_diagnosis": "Vulnerabilidad económica y sobrecarga de cuidado.",
            "strategies": ["Acompañamiento familiar", "Coordinación con la unidad"],
            "conclusions": "Caso social confirmado.", "recommendations": "Seguimiento mensual."},
        "validar_informe": {"report_validated": True, "requires_support": True},
        "remitir_informe": {"sent_date": "2026-03-02", "memo_number": "AN-CGTH-2026-0101-M",
                            "sent_to": "Coordinación General de Talento Humano"},
        "solicitar_apoyo": {"support_requests": [{
            "support_from": "autoridades", "contact_name": "Dirección de la unidad",
            "requested_support": "Flexibilidad horaria temporal", "request_date": "2026-03-02"}]},
        "generar_respuesta": {"response_recipient_type": "familiar",
                              "response_recipient_name": "Rosa Chicaiza",
                              "response_document_number": "AN-CGTH-2026-0150-O",
                              "response_date": "2026-03-02"},
        "generar_expediente": {"case_file_contents": ["solicitud", "informe_tecnico"]},
        "archivar_expediente": {"archived_date": "2026-03-02",
                                "digital_location": "Alfresco/TrabajoSocial/2026",
                                "physical_location": "Archivo TS, estante 3"},
        "atender_vencimiento": {"actions_taken": "Se conversó con el trabajador social."},
    }
    return {**base[activity], **choices}


class OpenTasks:
    """The open tasks of the case a walker drives, by activity."""

    case: Any = None

    def open_activities(self) -> list[str]:
        """Return the activity ids of the case's open tasks."""
        assert self.case is not None
        return sorted(t.activity_id for t in self.case.open_tasks)

    def task(self, activity: str) -> Any:
        """Return the open task of an activity."""
        assert self.case is not None
        matches = [t for t in self.case.open_tasks if t.activity_id == activity]
        assert matches, f"{activity} is not open; open: {self.open_activities()}"
        return matches[0]


class CaseWalker(OpenTasks):
    """Drives one social case through the engine as the right people would."""

    def __init__(self, engine: Engine, people: dict[str, list[str]]):
        self.engine, self.people = engine, people
        self.case = None

    @property
    def coordinator(self) -> str:
        return self.people["coordinador_th"][0]

    @property
    def leader(self) -> str:
        return self.people["lider_seguridad"][0]

    @property
    def social_worker(self) -> str:
        return self.people["trabajador_social"][0]

    def start(self, **overrides: Any) -> Any:
        self.case = self.engine.start_case(
            "social_case", by=self.coordinator, data=form_for("recibir_solicitud", **overrides))
        return self.case

    def who_for(self, activity: str) -> str:
        role = self.task(activity).role
        return {"coordinador_th": self.coordinator, "lider_seguridad": self.leader,
                "trabajador_social": self.social_worker}[role]

    def do(self, activity: str, *, by: str | None = None, engine: Engine | None = None,
           **choices: Any) -> Any:
        data = form_for(activity, **choices)
        if activity == "reasignar_solicitud" and data.get("is_social_case"):
            data.setdefault("social_worker", self.social_worker)
        eng = engine or self.engine
        self.case = eng.complete_task(self.task(activity).task_id, by=by or self.who_for(activity),
                                      form_data=data)
        return self.case


@pytest.fixture
def walker(engine: Engine, people: dict[str, list[str]]) -> CaseWalker:
    return CaseWalker(engine, people)


# -- the web app ------------------------------------------------------------------------------


@pytest.fixture
def app(engine: Engine, database_url: str, tmp_path: Path):
    """The Flask app on the test engine (CSRF protection on, as in production)."""
    from app import create_app

    return create_app({"DATABASE_URL": database_url, "ENGINE": engine, "TESTING": True,
                       "SECRET_KEY": "test-secret", "DOCUMENTS_DIR": str(tmp_path / "documents")})


class WebClient:
    """A Flask test client that signs in and posts forms with their CSRF token."""

    def __init__(self, flask_client: Any):
        self.http = flask_client
        self.token = ""

    def csrf_from(self, html: str) -> str:
        import re

        match = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert match, "no CSRF token on the page"
        self.token = match.group(1)
        return self.token

    def login(self, username: str, password: str = DEMO_PASSWORD) -> Any:
        page = self.http.get("/entrar")
        self.csrf_from(page.get_data(as_text=True))
        response = self.http.post("/entrar", data={"username": username, "password": password,
                                                   "csrf_token": self.token})
        if response.status_code == 302:
            self.get("/bandeja")  # signing in starts a new session, with a new CSRF secret
        return response

    def get(self, url: str, **kwargs: Any) -> Any:
        response = self.http.get(url, **kwargs)
        if response.mimetype == "text/html" and "csrf_token" in response.get_data(as_text=True):
            self.csrf_from(response.get_data(as_text=True))
        return response

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if not self.token:
            self.get("/bandeja")
        return self.http.post(url, data={**(data or {}), "csrf_token": self.token}, **kwargs)


@pytest.fixture
def web(app, people):
    """Return a function: username -> a signed-in WebClient."""
    def signed_in(username: str) -> WebClient:
        client = WebClient(app.test_client())
        response = client.login(username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client
    return signed_in
