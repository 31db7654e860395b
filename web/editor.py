"""The process owner's editor page (``/procesos/<id>/editar``): the page only.

Everything it edits goes through the procedures JSON API (``web/procedures_api.py``); the
browser code is bundled from ``web/assets/editor`` into ``web/static/build`` by ``make assets``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template

from engine import PersonView

from . import engine
from .auth import person

blueprint = Blueprint("editor", __name__)


def owns(who: PersonView, process_id: str) -> bool:
    """Tell whether ``who`` is an owner of the procedure (its table's ``oversight.owner``)."""
    definition = engine().library.find(process_id)
    if definition is None:
        return False
    roles = definition.responsibility.oversight_roles("owner")
    for table in definition.extra_tables:
        roles |= table.oversight_roles("owner")
    return bool(who.roles & roles)


def editor_urls(process_id: str) -> dict[str, str]:
    """Return the API addresses the editor calls (data attributes of the page)."""
    base = f"/api/processes/{process_id}"
    return {
        "draft-url": f"{base}/draft", "check-url": f"{base}/draft/check",
        "publish-url": f"{base}/draft/publish", "trial-url": f"{base}/draft/trial",
        "trials-url": "/api/trials", "vet-url": "/api/scripts/vet",
        "roles-url": "/api/roles", "forms-url": "/api/forms", "decisions-url": "/api/decisions",
        "processes-url": "/api/procedures",
    }


@blueprint.route("/procesos/<process_id>/editar")
def edit(process_id: str) -> Any:
    """Show the editor of a procedure's draft to its owners (everyone else: 403)."""
    definition = engine().library.find(process_id)
    if definition is None:
        abort(404)
    if not owns(person(), process_id):
        abort(403)
    return render_template("editor/editor.html", process_id=process_id,
                           process_name=definition.name, urls=editor_urls(process_id))
