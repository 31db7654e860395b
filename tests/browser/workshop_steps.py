"""Steps of the process owner's workshop in Chromium, shared by its browser tests: open the
editor and wait for the draft, the properties panel's fields, a user task drawn in a lane."""

from __future__ import annotations

from typing import Any

EDITOR = "/procesos/social_case/editar"

# Draws what a palette drop would: a user task in the coordinator's lane above «Generar la
# respuesta», put on the flow between that task and «Generar el expediente»; returns its id.
NEW_TASK = """() => {
  const m = window.cauceEditor.modeler;
  const registry = m.get('elementRegistry'), modeling = m.get('modeling');
  const before = registry.get('generar_respuesta'), after = registry.get('generar_expediente');
  const flow = registry.get('f_respuesta_expediente');
  // Where a palette drop would put it: in the coordinator's lane, right of its task.
  const task = modeling.createShape({ type: 'bpmn:UserTask' },
    { x: before.x + before.width / 2, y: before.y - 110 }, before.parent);
  modeling.updateLabel(task, 'Revisar la respuesta');
  modeling.reconnectEnd(flow, task, { x: task.x, y: task.y + task.height / 2 });
  modeling.connect(task, after, { type: 'bpmn:SequenceFlow' });
  m.get('selection').select(task);
  return task.id;
}"""

LANE_OF = """(id) => { const m = window.cauceEditor.modeler;
  const lanes = m.get('elementRegistry').filter(e => e.type === 'bpmn:Lane');
  return lanes.find(l => (l.businessObject.flowNodeRef || []).some(n => n.id === id))?.id; }"""


def watch_console(page: Any) -> list[str]:
    """Collect what the console says about refused content (CSP) and script errors."""
    said: list[str] = []
    page.on("console",
            lambda message: said.append(message.text) if message.type == "error" else None)
    return said


def open_editor(page: Any, path: str = EDITOR) -> None:
    """Go to the editor and wait for the Modeler's palette."""
    from playwright.sync_api import expect

    page.goto(path)
    expect(page.locator(".djs-palette")).to_be_visible()


def draft_api(page: Any) -> bool:
    """Tell whether the server side of the workshop (the draft API) is there."""
    return page.request.get("/api/processes/social_case/draft").status != 404


def wait_ready(page: Any) -> None:
    """Wait until the editor has loaded the server's draft."""
    from playwright.sync_api import expect

    expect(page.locator("#editor")).to_have_attribute("data-ready", "true")


def name_field(page: Any) -> Any:
    """Return the properties panel's name field, opening its «General» group if closed."""
    field = page.locator("#bio-properties-panel-name")
    if not field.is_visible():
        page.locator(".bio-properties-panel-group-header", has_text="General").click()
    return field


def select(page: Any, element_id: str) -> None:
    """Select a diagram element (as a click on it would), showing it in the properties panel."""
    page.evaluate("(id) => { const m = window.cauceEditor.modeler;"
                  " m.get('selection').select(m.get('elementRegistry').get(id)); }", element_id)


def give_new_form(page: Any, file_name: str, title: str, key: str, label: str) -> None:
    """Give the selected user task a new form with one yes/no field, made in the form designer."""
    from playwright.sync_api import expect

    page.locator("#bio-properties-panel-cauce-form").select_option("__new__")
    dialog = page.locator("#new-form-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Nombre del archivo (sin .json)").fill(file_name)
    dialog.get_by_label("Título").fill(title)
    dialog.get_by_role("button", name="Crear").click()
    expect(page.locator("#editor-message")).to_contain_text(f"{file_name}.json")
    # The form designer previews the field as it will be filled in.
    page.locator("#editor-file").select_option(f"forms:{file_name}.json")
    designer = page.locator("#form-designer")
    designer.locator("#new-field-key").fill(key)
    designer.locator("#new-field-label").fill(label)
    designer.get_by_role("button", name="Añadir campo").click()
    designer.get_by_label(f"Tipo de {key}").select_option("boolean")
    expect(designer.locator(".cauce-preview")).to_contain_text(label)
