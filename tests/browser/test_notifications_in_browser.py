"""The notification preferences and the admin's outbox page in Chromium (and at 390 px)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


def test_a_person_chooses_their_notifications_from_the_header(page, tmp_path):
    sign_in(page, "lucia.andrade")
    page.get_by_role("link", name="Avisos").click()
    expect(page.get_by_role("heading", name="Notificaciones por correo")).to_be_visible()
    arrivals = page.get_by_label("Llega una tarea para mí o para mi rol")
    digest = page.get_by_label("Resumen diario de mi bandeja")
    expect(arrivals).to_be_checked()
    expect(digest).not_to_be_checked()
    # seed-demo gives every demo person an address; the page says where the notices go.
    expect(page.get_by_text("Los avisos llegan a lucia.andrade@demo.cauce.example")).to_be_visible()
    arrivals.uncheck()
    digest.check()
    page.get_by_role("button", name="Guardar preferencias").click()
    expect(page.get_by_text("Preferencias de notificación guardadas.")).to_be_visible()
    expect(page.get_by_label("Llega una tarea para mí o para mi rol")).not_to_be_checked()
    expect(page.get_by_label("Resumen diario de mi bandeja")).to_be_checked()
    assert screenshot(page, "notification-preferences", tmp_path).stat().st_size > 0
    page.set_viewport_size({"width": 390, "height": 844})
    assert screenshot(page, "notification-preferences-390", tmp_path).stat().st_size > 0


def test_an_admin_sees_the_outbox_and_others_do_not(new_page, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("CAUCE_ADMINS", "jorge.cevallos")
    other = new_page()
    sign_in(other, "ana.guaman")
    expect(other.get_by_role("link", name="Correo", exact=True)).to_have_count(0)
    assert other.goto("/admin/correo").status == 403

    admin = new_page()
    sign_in(admin, "jorge.cevallos")
    admin.get_by_role("link", name="Correo", exact=True).click()
    expect(admin.get_by_role("heading", name="Correo saliente")).to_be_visible()
    expect(admin.get_by_text("Sin servidor de correo configurado")).to_be_visible()
    expect(admin.get_by_role("heading", name="Lista de fallidos")).to_be_visible()
    assert screenshot(admin, "mail-admin", tmp_path).stat().st_size > 0
    admin.set_viewport_size({"width": 390, "height": 844})
    assert screenshot(admin, "mail-admin-390", tmp_path).stat().st_size > 0
