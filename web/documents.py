"""Downloading attached documents (only for people allowed to see their case)."""

from __future__ import annotations

from flask import Blueprint, abort, send_file
from werkzeug.wrappers import Response

from engine import NotFound

from . import engine
from .auth import person

blueprint = Blueprint("documents", __name__)


@blueprint.route("/documentos/<sha256>")
def download(sha256: str) -> Response:
    """Send a document as an attachment (never rendered inline: it is someone's upload)."""
    try:
        document, path = engine().document(sha256, by=person())
    except NotFound:
        abort(404)
    if not path.exists():
        abort(404)
    response = send_file(path, mimetype=document.content_type, as_attachment=True,
                         download_name=document.filename, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
