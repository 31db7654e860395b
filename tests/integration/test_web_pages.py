"""The pages: who may see what, CSRF on every post, escaped text, forms that keep input."""

from __future__ import annotations

import re

import pytest

from tests.conftest import WebClient, form_for

pytestmark = pytest.mark.integration

SCRIPT = '<script>alert("x")</script>'


def _request_form(**overrides):
    data = {**form_for("recibir_solicitud"), "request_date": "02/03/2026", **overrides}
    return {k: v for k, v in data.items() if v is not None}


def test_every_page_but_sign_in_requires_a_session(app):
    client = app.test_client()
    for url in ("/", "/bandeja", "/casos/nuevo", "/casos/nuevo/social_case", "/casos/CS-2026-0001",
                "/tareas/x", "/documentos/" + "a" * 64):
        response = client.get(url)
        assert response.status_code == 302 and "/entrar" in response.headers["Location"], url
    assert client.get("/entrar").status_code == 200


def test_wrong_passwords_make_that_client_wait_but_not_the_owner_elsewhere(app, engine, people,
                                                                         clock):
    engine.sign_in_clock = clock  # sign-in runs on real time; here the test moves it
    client = WebClient(app.test_client())
    for _ in range(5):
        assert client.login("ana.guaman", "mala").status_code == 401
    throttled = client.login("ana.guaman")
    assert throttled.status_code == 429 and "Demasiados intentos" in throttled.get_data(
        as_text=True)
    owner = WebClient(app.test_client())
    owner.http.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    assert owner.login("ana.guaman").status_code == 302
    clock.advance(minutes=2)
    assert client.login("ana.guaman").status_code == 302


def test_the_session_cookie_is_httponly_samesite_and_secure_over_tls(app, people):
    client = WebClient(app.test_client())
    cookie = client.login("ana.guaman").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie

    secure = WebClient(app.test_client())
    page = secure.http.get("/entrar", base_url="https://localhost")
    secure.csrf_from(page.get_data(as_text=True))
    # Over HTTPS, Flask-WTF also checks that the Referer is this site.
    response = secure.http.post(
        "/entrar", base_url="https://localhost", headers={"Referer": "https://localhost/entrar"},
        data={"username": "ana.guaman", "password": "clave-de-prueba-1",
              "csrf_token": secure.token})
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_every_form_post_needs_the_csrf_token(web, walker):
    walker.start()
    task = walker.task("reasignar_solicitud")
    client = web("ana.guaman")
    posts = [(f"/tareas/{task.task_id}/tomar", {}), (f"/tareas/{task.task_id}/liberar", {}),
             (f"/tareas/{task.task_id}", {"action": "complete", "is_social_case": "true"}),
             ("/casos/nuevo/social_case", _request_form()), ("/salir", {})]
    for url, data in posts:
        response = client.http.post(url, data=data)
        assert response.status_code == 400, url
        assert "El formulario caducó" in response.get_data(as_text=True)
    assert walker.engine.task(task.task_id, by="ana.guaman").task.assignee is None


def test_a_failed_submit_keeps_what_was_typed_and_names_the_field(web):
    client = web("lucia.andrade")
    form = _request_form(requester_name="Rosa Chicaiza", request_date="31/02/2026",
                         situation_summary="Texto largo que no debe perderse")
    response = client.post("/casos/nuevo/social_case", form)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'value="31/02/2026"' in html and 'value="Rosa Chicaiza"' in html
    assert "Texto largo que no debe perderse" in html
    field = html[html.index('data-field="request_date"'):]
    assert "Fecha no válida (use dd/mm/aaaa)" in field[:field.index("</div>")]
    assert walker_free_number(client)


def walker_free_number(client: WebClient) -> bool:
    """Return True when the next registered case still gets the first number."""
    response = client.post("/casos/nuevo/social_case", _request_form())
    return response.headers["Location"].endswith("/casos/CS-2026-0001")


def test_the_case_flows_through_the_pages_with_drafts_claims_and_reassignment(web, engine):
    coordinator, leader, worker = web("lucia.andrade"), web("ana.guaman"), web("sofia.naranjo")
    created = coordinator.post("/casos/nuevo/social_case", _request_form())
    assert created.status_code == 302
    inbox = leader.get("/bandeja").get_data(as_text=True)
    task_id = re.search(r'data-task="([^"]+)"', inbox).group(1)
    assert leader.post(f"/tareas/{task_id}/tomar").status_code == 302
    mine = leader.get("/bandeja").get_data(as_text=True)
    assert 'data-list="mine"' in mine and task_id in mine.split('data-list="available"')[0]

    draft = leader.post(f"/tareas/{task_id}", {"action": "draft", "assessment": "Pendiente"})
    assert draft.status_code == 200 and "Borrador guardado" in draft.get_data(as_text=True)
    again = leader.get(f"/tareas/{task_id}").get_data(as_text=True)
    assert "Pendiente" in again and "Se muestra su borrador guardado" in again

    done = leader.post(f"/tareas/{task_id}", {"action": "complete", "is_social_case": "true",
                                              "social_worker": "sofia.naranjo"})
    assert done.status_code == 302
    inbox = worker.get("/bandeja").get_data(as_text=True)
    mine = inbox.split('data-list="available"')[0]
    assert "Analizar la solicitud de intervención" in mine
    second = web("diego.paredes").get("/bandeja").get_data(as_text=True)
    assert "data-task=" not in second


def test_a_social_case_is_a_404_for_anyone_outside_its_roles(web, walker, engine, app):
    from datetime import UTC, datetime

    from engine.store import PersonRow

    walker.start()
    with engine._writer.begin() as session:
        person = engine.directory.create_person(session, "ajeno", "Persona Ajena",
                                                now=datetime.now(UTC), password="clave-ajena")
        assert person.id
    outsider = WebClient(app.test_client())
    assert outsider.login("ajeno", "clave-ajena").status_code == 302
    number = walker.case.number
    task = walker.task("reasignar_solicitud")
    for url in (f"/casos/{number}", f"/casos/{number}/diagrama.bpmn", f"/casos/{number}/informe",
                f"/casos/{number}/informe.pdf", f"/tareas/{task.task_id}"):
        assert outsider.get(url).status_code == 404, url
    assert outsider.get("/casos/CS-2099-9999").status_code == 404
    assert outsider.post(f"/tareas/{task.task_id}/tomar").status_code == 302
    assert engine.task(task.task_id, by="ana.guaman").task.assignee is None
    assert PersonRow


def test_typed_markup_is_escaped_on_the_case_page_inbox_and_task(web, walker):
    walker.start(requester_name=SCRIPT, situation_summary=SCRIPT)
    leader = web("ana.guaman")
    for url in ("/bandeja", f"/casos/{walker.case.number}",
                f"/tareas/{walker.task('reasignar_solicitud').task_id}"):
        html = leader.get(url).get_data(as_text=True)
        assert SCRIPT not in html, url
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html, url


def test_the_technical_report_is_a_page_and_a_pdf_with_the_diagnosis(web, walker):
    walker.start()
    for activity in ["reasignar_solicitud", "analizar_solicitud", "realizar_entrevista"]:
        walker.do(activity)
    walker.do("emitir_diagnostico", social_diagnosis=f"Diagnóstico {SCRIPT} ñandú “citas”")
    worker = web(walker.social_worker)
    page = worker.get(f"/casos/{walker.case.number}/informe").get_data(as_text=True)
    assert "Diagnóstico &lt;script&gt;" in page and "F01-PRO-GTH-GTS-002" in page
    pdf = worker.get(f"/casos/{walker.case.number}/informe.pdf")
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    text = _pdf_text(pdf.data)
    assert "Informe Técnico de Trabajo Social" in text
    assert "Diagnóstico <script>" in text and "ñandú" in text


def _pdf_text(data: bytes) -> str:
    """Extract the text of a PDF made by fpdf2 (its content streams are zlib-compressed)."""
    import io

    from pypdf import PdfReader  # noqa: PLC0415 — only this test reads PDFs

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_the_interface_speaks_english_on_request(web):
    client = web("ana.guaman")
    assert "Bandeja de tareas" in client.get("/bandeja").get_data(as_text=True)
    client.get("/idioma/en?next=/bandeja")
    html = client.get("/bandeja").get_data(as_text=True)
    assert "Task inbox" in html and "Available to my role" in html
    assert "Bandeja de tareas" not in html
    form = client.get("/casos/nuevo/social_case")
    assert form.status_code == 404  # the leader cannot start cases…
    lucia = web("lucia.andrade")
    lucia.get("/idioma/en")
    html = lucia.get("/casos/nuevo/social_case").get_data(as_text=True)
    assert "Who requests the intervention?" in html and "Register request" in html


def test_dates_and_numbers_are_shown_the_ecuadorian_way(app):
    from datetime import UTC, datetime

    from web.formats import fecha, fecha_hora, numero

    with app.app_context():
        assert fecha("2026-03-02") == "02/03/2026"
        assert fecha_hora(datetime(2026, 3, 3, 2, 30, tzinfo=UTC)) == "02/03/2026 21:30"
        assert numero(1234567.5) == "1.234.567,5"


def test_pages_forbid_scripts_from_anywhere_but_the_site(web):
    response = web("ana.guaman").get("/bandeja")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("url, status", [
    ("/bandeja?q=%00", 200), ("/bandeja?process=%00&activity=%00", 200),
    ("/casos/CS%00", 404), ("/casos/99999999999999999999", 404), ("/casos/%C2%B2", 404),
    ("/casos/0", 404), ("/tareas/%00", 404), ("/tareas/" + "x" * 300, 404),
    ("/documentos/%00", 404),
])
def test_odd_addresses_get_a_clean_answer_never_a_server_error(web, url, status):
    assert web("ana.guaman").get(url).status_code == status


def test_unknown_api_routes_answer_json(app):
    client = app.test_client()
    missing = client.get("/api/nada")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    wrong_method = client.get("/api/login")
    assert wrong_method.status_code == 405 and wrong_method.get_json()["error"]
