"""Production defects of sign-in and odd input (issue 12): each test failed before its fix.

Body-size limit and session lifetime, sign-in that hashes outside the write lock, a throttle
that concurrency cannot bypass and that neither reveals accounts nor lets a stranger lock the
owner out, sessions and tokens the server can end, escaped upload names, clear answers to odd
JSON, and NUL characters refused by the HTML forms as the API refuses them.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from app import create_app
from engine import InvalidCredentials, SignInThrottled
from engine.store import CaseRow, SignInSessionRow, SignInThrottleRow
from tests.conftest import DEMO_PASSWORD, WebClient, form_for

pytestmark = pytest.mark.integration

WRONG = "Usuario o contraseña incorrectos"


class CountingHasher(PasswordHasher):
    """The tests' fast hasher, counting (and optionally slowing) every password check."""

    def __init__(self, delay: float = 0.0):
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.delay = delay
        self.checks = 0
        self.checking = threading.Event()
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
        with self._lock:
            self.checks += 1
        self.checking.set()
        time.sleep(self.delay)
        return super().verify(hash, password)


@pytest.fixture
def hasher(engine) -> CountingHasher:
    """Replace the engine's hasher with a counting one (same parameters as the fixtures')."""
    counting = CountingHasher()
    engine.directory.hasher = counting
    return counting


def api_login(client: Any, username: str, password: str = DEMO_PASSWORD,
              address: str = "127.0.0.1") -> Any:
    return client.post("/api/login", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- 1. body-size limit and session lifetime ---------------------------------------------------


class WatchedBody(io.BytesIO):
    """A request body that remembers whether anybody read it."""

    was_read = False

    def read(self, *args: Any) -> bytes:
        self.was_read = True
        return super().read(*args)


def test_a_body_over_the_limit_is_refused_before_it_is_read_or_a_password_hashed(
        engine, people, hasher, monkeypatch, database_url):
    monkeypatch.setenv("CAUCE_MAX_CONTENT_LENGTH", str(64 * 1024))
    app = create_app({"DATABASE_URL": database_url, "ENGINE": engine, "TESTING": True,
                      "SECRET_KEY": "test"})
    assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
    payload = b'{"username": "ana.guaman", "password": "' + b"x" * (200 * 1024) + b'"}'
    body = WatchedBody(payload)
    response = app.test_client().post("/api/login", input_stream=body,
                                      content_type="application/json",
                                      headers={"Content-Length": str(len(payload))})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert not body.was_read and hasher.checks == 0
    # The pages answer a page, not Werkzeug's English one.
    page = app.test_client().post("/entrar", data={"username": "x" * (100 * 1024)})
    assert page.status_code == 413 and "tamaño máximo" in page.get_data(as_text=True)


def test_the_default_limits_are_set_for_real(app):
    assert app.config["MAX_CONTENT_LENGTH"] == 25 * 1024 * 1024
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=8)
    # The other defaults Cauce sets are keys Flask does not define, so setdefault works there.
    assert app.config["WTF_CSRF_TIME_LIMIT"] is None
    assert app.config["BABEL_TRANSLATION_DIRECTORIES"] == "web/translations"


def cookie_expiry(response: Any) -> datetime:
    cookie = response.headers["Set-Cookie"]
    expires = next(part.split("=", 1)[1] for part in cookie.split("; ")
                   if part.lower().startswith("expires="))
    return parsedate_to_datetime(expires)


@pytest.mark.parametrize("hours", [None, 2])
def test_the_session_cookie_and_its_server_session_last_the_configured_hours(
        engine, people, clock, monkeypatch, database_url, hours):
    if hours is not None:
        monkeypatch.setenv("CAUCE_SESSION_HOURS", str(hours))
    expected = timedelta(hours=hours or 8)
    app = create_app({"DATABASE_URL": database_url, "ENGINE": engine, "TESTING": True,
                      "SECRET_KEY": "test"})
    response = WebClient(app.test_client()).login("ana.guaman")
    assert response.status_code == 302
    lifetime = cookie_expiry(response) - datetime.now(UTC)
    assert expected - timedelta(minutes=1) < lifetime <= expected
    with engine.read_session() as session:
        row = session.scalars(select(SignInSessionRow)).one()
    assert row.expires_at - row.created_at == expected and row.kind == "web"


# -- 2. no write lock while hashing ------------------------------------------------------------


def test_a_draft_save_is_not_blocked_while_sign_ins_are_being_hashed(engine, walker):
    case = walker.start()
    task = walker.task("reasignar_solicitud")
    slow = CountingHasher(delay=1.5)
    engine.directory.hasher = slow
    with ThreadPoolExecutor(max_workers=4) as pool:
        attempts = [pool.submit(_attempt, engine, name, None)
                    for name in ("ana.guaman", "nadie", "pablo.reyes", "otro")]
        assert slow.checking.wait(5)
        started = time.perf_counter()
        engine.save_draft(task.task_id, by=walker.leader, data={"is_social_case": True})
        took = time.perf_counter() - started
        assert took < 0.5, f"a draft save waited {took:.2f} s for sign-ins being hashed"
        assert not any(a.done() for a in attempts), "the sign-ins were over before the save"
        assert all(isinstance(a.result(), InvalidCredentials) for a in attempts)
    assert engine.task(task.task_id, by=walker.leader).draft == {"is_social_case": True}
    assert case.number


def _attempt(engine: Any, username: str, client: str | None, password: str = "mala") -> Any:
    try:
        if client is None:
            return engine.authenticate(username, password)
        return engine.authenticate(username, password, client=client)
    except InvalidCredentials as failure:
        return failure


# -- 3. the throttle holds under concurrency ----------------------------------------------------


def test_forty_concurrent_wrong_passwords_get_only_the_allowed_checks(engine, people):
    slow = CountingHasher(delay=0.2)
    engine.directory.hasher = slow
    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(lambda _n: _attempt(engine, "ana.guaman", "10.9.9.9"),
                                range(40)))
    throttled = [r for r in results if isinstance(r, SignInThrottled)]
    wrong = [r for r in results if type(r) is InvalidCredentials]
    assert len(wrong) == engine.throttle.per_pair == slow.checks
    assert len(throttled) == 40 - engine.throttle.per_pair
    with engine.read_session() as session:
        failures = session.scalar(select(SignInThrottleRow.failures).where(
            SignInThrottleRow.key == "p:ana.guaman\n10.9.9.9"))
    assert failures == engine.throttle.per_pair
    # The owner, elsewhere, is not locked out.
    assert engine.authenticate("ana.guaman", DEMO_PASSWORD, client="10.0.0.1").username == \
        "ana.guaman"


# -- 8. no oracle, no lock-out of the owner, throttling per client --------------------------------


def test_unknown_and_existing_accounts_get_the_same_answers(app, people):
    client = app.test_client()
    answers = {}
    for username in ("ana.guaman", "nadie.existe"):
        seen = []
        for _ in range(6):
            response = api_login(client, username, "mala", address="10.0.0.5")
            seen.append((response.status_code, response.get_json()["error"]["message"],
                         response.headers.get("Retry-After")))
        answers[username] = seen
    assert answers["ana.guaman"] == answers["nadie.existe"]
    assert answers["ana.guaman"][0] == (401, WRONG, None)
    assert answers["ana.guaman"][-1][0] == 429 and answers["ana.guaman"][-1][2] == "60"
    page = WebClient(app.test_client())
    for username in ("ana.guaman", "nadie.existe"):
        html = page.login(username, "mala").get_data(as_text=True)
        assert WRONG in html and "bloqueada" not in html


def test_a_stranger_cannot_lock_the_owner_out(app, people, hasher):
    client = app.test_client()
    for _ in range(60):
        assert api_login(client, "ana.guaman", "mala", address="203.0.113.9").status_code in (
            401, 429)
    assert hasher.checks == 5  # the rest were refused before any hashing
    owner = api_login(client, "ana.guaman", address="192.168.1.20")
    assert owner.status_code == 200 and owner.get_json()["token"]


def test_the_wait_grows_with_each_further_failure_and_is_forgotten_later(engine, people, clock):
    engine.sign_in_clock = clock  # sign-in runs on real time; here the test moves it
    def wrong() -> Any:
        return _attempt(engine, "ana.guaman", "10.0.0.8")

    for _ in range(4):
        assert type(wrong()) is InvalidCredentials
    waits = []
    for _ in range(5):
        assert type(wrong()) is InvalidCredentials  # checked, and then the client must wait
        refused = wrong()
        assert isinstance(refused, SignInThrottled)
        waits.append(refused.retry_after)
        clock.advance(seconds=refused.retry_after)
    assert waits == [60, 120, 240, 480, 900]
    clock.advance(hours=1, seconds=1)
    assert type(wrong()) is InvalidCredentials
    assert type(wrong()) is InvalidCredentials


def test_one_client_failing_on_many_accounts_is_slowed_down(engine, people):
    limit = engine.throttle.per_client
    for n in range(limit):
        assert type(_attempt(engine, f"persona{n}", "198.51.100.7")) is InvalidCredentials
    assert isinstance(_attempt(engine, "ana.guaman", "198.51.100.7", DEMO_PASSWORD),
                      SignInThrottled)
    assert engine.authenticate("ana.guaman", DEMO_PASSWORD, client="198.51.100.8")


def test_an_account_attacked_from_many_clients_gives_each_failing_client_one_try(engine, people):
    per_account = engine.throttle.per_account
    for n in range(per_account):
        assert type(_attempt(engine, "ana.guaman", f"10.7.{n}.1")) is InvalidCredentials
    fresh = "10.8.0.1"
    assert type(_attempt(engine, "ana.guaman", fresh)) is InvalidCredentials
    assert isinstance(_attempt(engine, "ana.guaman", fresh), SignInThrottled)
    # The owner, from a client that has not failed, still signs in.
    assert engine.authenticate("ana.guaman", DEMO_PASSWORD, client="10.9.0.1")


def test_a_right_password_clears_the_clients_failures_on_that_account(engine, people):
    for _ in range(4):
        _attempt(engine, "ana.guaman", "10.0.0.3")
    assert engine.authenticate("ana.guaman", DEMO_PASSWORD, client="10.0.0.3")
    for _ in range(4):
        assert type(_attempt(engine, "ana.guaman", "10.0.0.3")) is InvalidCredentials


# -- 4. sessions and tokens the server can end ---------------------------------------------------


def test_a_cookie_copied_before_sign_out_no_longer_signs_in(app, web):
    client = web("ana.guaman")
    copied = client.http.get_cookie("session").value
    assert client.post("/salir").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", copied)
    response = thief.get("/bandeja")
    assert response.status_code == 302 and "/entrar" in response.headers["Location"]


def test_the_api_logout_ends_its_token(app, people):
    client = app.test_client()
    token = api_login(client, "ana.guaman").get_json()["token"]
    other = api_login(client, "ana.guaman").get_json()["token"]
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    assert client.post("/api/logout", headers=bearer(token)).status_code == 204
    ended = client.get("/api/me", headers=bearer(token))
    assert ended.status_code == 401 and ended.get_json()["error"]["code"] == "unauthorized"
    assert client.post("/api/logout", headers=bearer(token)).status_code == 401
    assert client.get("/api/me", headers=bearer(other)).status_code == 200


NEW_PASSWORD = "otra-clave-segura-2026"


def test_a_password_change_on_the_page_ends_every_other_session_and_token(app, web):
    here, elsewhere = web("ana.guaman"), web("ana.guaman")
    api = app.test_client()
    token = api_login(api, "ana.guaman").get_json()["token"]
    page = here.get("/cuenta/clave")
    assert page.status_code == 200 and "Contraseña actual" in page.get_data(as_text=True)
    response = here.post("/cuenta/clave", {"current_password": DEMO_PASSWORD,
                                           "new_password": NEW_PASSWORD,
                                           "confirm_password": NEW_PASSWORD})
    assert response.status_code == 302
    assert "Sesiones cerradas en otros lugares: 2" in here.get("/bandeja").get_data(as_text=True)
    assert elsewhere.get("/bandeja").status_code == 302
    assert api.get("/api/me", headers=bearer(token)).status_code == 401
    assert api_login(api, "ana.guaman").status_code == 401
    assert api_login(api, "ana.guaman", NEW_PASSWORD).status_code == 200


def test_the_password_page_says_what_is_wrong_per_field(web, engine):
    client = web("ana.guaman")
    cases = [
        ({"current_password": "mala", "new_password": NEW_PASSWORD,
          "confirm_password": NEW_PASSWORD}, "La contraseña actual no es correcta"),
        ({"current_password": DEMO_PASSWORD, "new_password": "corta",
          "confirm_password": "corta"}, "al menos 10 caracteres"),
        ({"current_password": DEMO_PASSWORD, "new_password": NEW_PASSWORD,
          "confirm_password": "otra"}, "No coincide"),
        ({"current_password": DEMO_PASSWORD, "new_password": "ana.guaman",
          "confirm_password": "ana.guaman"}, "nombre de usuario"),
    ]
    for form, message in cases:
        response = client.post("/cuenta/clave", form)
        assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert engine.authenticate("ana.guaman", DEMO_PASSWORD, client="10.0.0.1")


def test_the_api_password_change_keeps_its_own_token_and_ends_the_others(app, people):
    client = app.test_client()
    mine = api_login(client, "ana.guaman").get_json()["token"]
    other = api_login(client, "ana.guaman").get_json()["token"]
    refused = client.post("/api/password", headers=bearer(mine), json={
        "current_password": "mala", "new_password": NEW_PASSWORD})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["fields"] == {
        "current_password": ["La contraseña actual no es correcta"]}
    short = client.post("/api/password", headers=bearer(mine), json={
        "current_password": DEMO_PASSWORD, "new_password": "corta"})
    assert short.status_code == 400 and "new_password" in short.get_json()["error"]["fields"]
    changed = client.post("/api/password", headers=bearer(mine), json={
        "current_password": DEMO_PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 200 and changed.get_json() == {"ended_sessions": 1}
    assert client.get("/api/me", headers=bearer(mine)).status_code == 200
    assert client.get("/api/me", headers=bearer(other)).status_code == 401


# -- 5. upload names are text ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["<img src=x onerror=alert(1)>.pdf", "100%(x)s %s.pdf"])
def test_an_upload_name_with_markup_is_shown_as_text(web, name):
    response = web("lucia.andrade").post(
        "/casos/nuevo/social_case", {**_request_form(),
                                     "attachments__upload": (io.BytesIO(b"MZ no es pdf"), name)},
        content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<img src=x" not in html
    escaped = name.replace("<", "&lt;").replace(">", "&gt;")
    assert f"{escaped}: tipo de archivo no permitido" in html


def _request_form(**overrides: Any) -> dict[str, Any]:
    return {**form_for("recibir_solicitud"), "request_date": "02/03/2026", **overrides}


# -- 6. odd input gets a clear answer -------------------------------------------------------------


def test_json_nested_too_deep_is_a_clear_400_with_one_short_log_line(app, people, hasher,
                                                                     caplog):
    client = app.test_client()
    token = api_login(client, "lucia.andrade").get_json()["token"]
    deep = '{"username": "ana.guaman", "password": "x", "extra": ' + "[" * 600 + "]" * 600 + "}"
    caplog.clear()
    with caplog.at_level(logging.INFO):
        response = client.post("/api/login", data=deep, content_type="application/json")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "bad_request" and "anida demasiados niveles" in error["message"]
    # One short warning (beside the access log's line for every request), no traceback.
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and len(warnings[0].getMessage()) < 200
    assert "Traceback" not in caplog.text and len(caplog.text.splitlines()) <= 2
    nested: Any = "fondo"
    for _ in range(100):
        nested = {"a": nested}
    response = client.post("/api/cases", headers=bearer(token),
                           json={"process": "social_case", "data": nested})
    assert response.status_code == 400 and "anida" in response.get_json()["error"]["message"]
    # Brackets inside strings do not count as nesting.
    shallow = client.post("/api/login", json={"username": "[" * 600, "password": "{" * 600})
    assert shallow.status_code == 401


def test_odd_failures_are_named_by_their_status_not_bad_request_internal_error(
        app, people, monkeypatch):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    token = api_login(client, "lucia.andrade").get_json()["token"]

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(type(app.extensions["cauce"]), "startable_processes", broken)
    failure = client.get("/api/processes", headers=bearer(token))
    assert failure.status_code == 500
    error = failure.get_json()["error"]
    assert error["code"] == "internal_error" and "internal error" not in error["message"]
    wrong_method = client.delete("/api/login")
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["error"]["code"] == "method_not_allowed"


# -- 7. NUL characters through the HTML forms ------------------------------------------------------


def test_a_nul_in_the_request_form_is_refused_per_field_and_the_input_kept(web, engine):
    response = web("lucia.andrade").post("/casos/nuevo/social_case", _request_form(
        requester_name="Rosa\x00 Chicaiza", situation_summary="Texto que se conserva"))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="requester_name-error">Contiene caracteres nulos' in html
    assert 'value="Rosa Chicaiza"' in html and "Texto que se conserva" in html
    with engine.read_session() as session:
        assert session.scalar(select(func.count()).select_from(CaseRow)) == 0


def test_a_nul_in_a_task_draft_is_refused_and_nothing_is_saved(web, walker):
    walker.start()
    task = walker.task("reasignar_solicitud")
    client = web(walker.leader)
    response = client.post(f"/tareas/{task.task_id}", {
        "action": "draft", "is_social_case": "true", "social_worker": "sofia.naranjo",
        "assessment": "Evaluación\x00 inicial", "campo\x00": "x"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="assessment-error">Contiene caracteres nulos' in html
    assert "Evaluación inicial" in html
    assert walker.engine.task(task.task_id, by=walker.leader).draft is None


def test_a_nul_in_an_uploaded_file_name_is_refused(web, engine):
    response = web("lucia.andrade").post(
        "/casos/nuevo/social_case", {**_request_form(), "attachments__upload": (
            io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "acta\x00.pdf")},
        content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Contiene caracteres nulos" in response.get_data(as_text=True)
    with engine.read_session() as session:
        assert session.scalar(select(func.count()).select_from(CaseRow)) == 0


def test_sign_in_with_a_nul_is_refused_like_a_wrong_password(app, people):
    client = WebClient(app.test_client())
    response = client.login("ana.guaman\x00", DEMO_PASSWORD)
    assert response.status_code == 401 and WRONG in response.get_data(as_text=True)

