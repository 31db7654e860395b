"""The editor page /procesos/<id>/editar: only the procedure's owners open it; the page links
the locally built bundle (no CDN) and hands the script the API addresses it needs."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.integration


def _first(people: dict[str, list[str]], role: str) -> str:
    return people[role][0]


def test_the_owner_of_the_social_case_opens_its_editor(web, people):
    # The Coordinador/a General de Talento Humano owns it (PRO-GTH-GTS-002 §2, §7).
    owner = web(_first(people, "propietario_cs"))
    response = owner.get("/procesos/social_case/editar")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Atención y Seguimiento de Casos Sociales" in html or "Casos Sociales" in html
    assert 'data-draft-url="/api/processes/social_case/draft"' in html
    assert re.search(r'<script type="module" src="/static/build/editor\.js">', html)
    assert 'href="/static/build/editor.css"' in html
    # Nothing from another site: every script and stylesheet is served by Cauce itself.
    assert not re.findall(r'<(?:script|link)[^>]*(?:src|href)="(?:https?:)?//', html)
    # The page's API calls carry the CSRF token of the session.
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', html)


@pytest.mark.parametrize("role", ["propietario_carta", "auditor_gth", "lider_seguridad",
                                  "trabajador_social", "gestor_cs"])
def test_everyone_who_does_not_own_the_social_case_gets_403(web, people, role):
    if role not in people:
        pytest.skip(f"no demo person holds {role}")
    response = web(_first(people, role)).get("/procesos/social_case/editar")
    assert response.status_code == 403


def test_the_charter_owner_edits_the_charter_procedures_not_the_social_case(web, people):
    owner = web(_first(people, "propietario_carta"))
    assert owner.get("/procesos/sla_followup/editar").status_code == 200
    assert owner.get("/procesos/social_case/editar").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(app):
    response = app.test_client().get("/procesos/social_case/editar")
    assert response.status_code == 302
    assert "/entrar" in response.headers["Location"]


def test_an_unknown_procedure_is_404(web, people):
    owner = web(_first(people, "propietario_cs"))
    assert owner.get("/procesos/no_such_thing/editar").status_code == 404


def test_every_address_the_editor_calls_is_served_by_the_app(app):
    from werkzeug.exceptions import MethodNotAllowed, NotFound

    from web.editor import editor_urls

    adapter = app.url_map.bind("localhost")
    calls = {"draft-url": ("GET", "PUT"), "check-url": ("POST",), "publish-url": ("POST",),
             "trial-url": ("POST",), "vet-url": ("POST",), "roles-url": ("GET",),
             "forms-url": ("GET",), "decisions-url": ("GET",), "processes-url": ("GET",)}
    urls = editor_urls("social_case")
    missing = []
    for name, methods in calls.items():
        for method in methods:
            try:
                adapter.match(urls[name], method=method)
            except (NotFound, MethodNotAllowed):
                missing.append(f"{method} {urls[name]}")
    for method, path in (("POST", "/api/trials/t1/tasks/x/complete"),
                         ("POST", "/api/trials/t1/timers/fire"), ("DELETE", "/api/trials/t1")):
        try:
            adapter.match(path, method=method)
        except (NotFound, MethodNotAllowed):
            missing.append(f"{method} {path}")
    assert not missing, missing
