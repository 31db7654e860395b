"""The process owner's pages in Chromium: procedures with their diagrams, versions, the diff
list, and a migration from dry run to a finished progress bar."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import COORDINATOR, LiveServer, screenshot, sign_in
from tests.conftest import form_for
from tests.integration.procedure_edits import PROCESS, add_review_task, rename

pytestmark = pytest.mark.browser
RECIBIR = "Recibir la solicitud de intervención"


def _looked_at(page, name: str, tmp_path: Path) -> None:
    screenshot(page, name, tmp_path)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, f"{name}-390", tmp_path)
    # Nothing wider than the phone's screen but the tables, which scroll inside themselves.
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    page.set_viewport_size({"width": 1280, "height": 900})


def test_an_owner_sees_procedures_versions_the_diff_and_migrates_a_case(
        new_page, live_server: LiveServer, tmp_path):
    engine = live_server.engine
    old_case = engine.start_case(PROCESS, by=COORDINATOR, data=form_for("recibir_solicitud"))
    draft = engine.procedure_draft(PROCESS, by=COORDINATOR)
    edited = add_review_task(rename(draft.files, "reasignar_solicitud",
                                    "Recibir y reasignar la solicitud de intervención",
                                    "Reasignar la solicitud"))
    engine.save_procedure_draft(PROCESS, by=COORDINATOR, revision=draft.revision, files=edited)
    engine.publish_procedure_draft(PROCESS, by=COORDINATOR, revision=draft.revision + 1,
                                   comment="Revisión del registro")
    page = new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, COORDINATOR)
    page.get_by_role("link", name="Procesos").first.click()
    expect(page).to_have_url(re.compile(r"/procesos$"))
    social = page.locator('section[data-process="social_case"]')
    expect(social.get_by_role("link", name="Editar")).to_be_visible()
    expect(page.locator('section[data-process="sla_planning"]').get_by_role(
        "link", name="Editar")).to_have_count(0)
    expect(social.locator(".current-version")).to_contain_text("Versión 2")
    expect(social.locator(".procedure-diagram")).to_have_attribute("data-ready", "true")
    expect(social.locator(".procedure-diagram svg").first).to_be_visible()
    _looked_at(page, "procedures", tmp_path)

    social.get_by_role("link", name="Versiones").click()
    expect(page.locator("tr.version-row")).to_have_count(2)
    expect(page.get_by_text("Revisión del registro")).to_be_visible()
    expect(page.locator(".procedure-diagram")).to_have_attribute("data-ready", "true")
    _looked_at(page, "procedure-versions", tmp_path)

    page.get_by_label("Comparar desde la versión").select_option("1")
    page.get_by_label("hasta la versión").select_option("2")
    page.get_by_role("button", name="Ver diferencias").click()
    expect(page.locator(".diff-added")).to_contain_text("Revisar el registro")
    expect(page.locator(".diff-changed")).to_contain_text("Reasignar la solicitud")
    expect(page.locator("#diff-diagram")).to_have_attribute("data-diff-url",
                                                            re.compile(r"from=1"))
    _looked_at(page, "procedure-diff", tmp_path)

    page.goto(f"/procesos/{PROCESS}/migracion")
    page.get_by_label("Versión de origen").select_option("1")
    page.get_by_label("Versión de destino").select_option("2")
    page.get_by_role("button", name="Simular (sin cambiar nada)").click()
    row = page.locator("table.dry-run tr", has_text=old_case.number)
    expect(row).to_contain_text("Sí")
    _looked_at(page, "procedure-migration-plan", tmp_path)
    page.get_by_role("button", name=re.compile(r"^Migrar \d+ casos?$")).click()
    expect(page.locator("#migration-progress")).to_have_attribute("data-finished", "true")
    expect(page.locator("#migration-progress .moved")).to_have_text(re.compile(r"[1-9]"))
    _looked_at(page, "procedure-migration-done", tmp_path)
    moved = engine.case(old_case.number, by=COORDINATOR)
    assert "Reasignar la solicitud" in [t.activity_name for t in moved.open_tasks]


def test_a_staff_member_sees_procedures_without_edit(new_page, live_server: LiveServer):
    page = new_page()
    sign_in(page, "sofia.naranjo")
    page.goto("/procesos")
    expect(page.get_by_role("heading", name="Procesos", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Editar")).to_have_count(0)
    assert page.goto(f"/procesos/{PROCESS}/migracion").status == 403
