"""Attachments: checked (size, type by content), stored content-addressed outside the web root."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import filetype
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from .errors import CauceError
from .store import DocumentRefRow

# What staff may attach: PDF, images, office documents (by their content, not their name).
ALLOWED_TYPES = {
    "application/pdf": "PDF",
    "image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WebP",
    "application/msword": "Word", "application/vnd.ms-excel": "Excel",
    "application/vnd.ms-powerpoint": "PowerPoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint",
    "application/vnd.oasis.opendocument.text": "OpenDocument",
    "application/vnd.oasis.opendocument.spreadsheet": "OpenDocument",
    "application/vnd.oasis.opendocument.presentation": "OpenDocument",
}
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
# An upload sent by no task's form (the API, a new case's form) that no case took within this
# time is left behind: no later form adopts it. One sent by a task's form stays that task's
# while the task is open (its saved draft may name it).
ORPHAN_UPLOAD_TTL = timedelta(hours=24)


class DocumentRefused(CauceError):
    """The file is too large, empty, or not of an allowed type."""

    code = "invalid_document"


@dataclass(frozen=True)
class DocumentView:
    """An attached document as people see it."""

    ref_id: int
    sha256: str
    filename: str
    content_type: str
    size: int
    uploaded_by: str
    uploaded_at: datetime
    activity_id: str | None


def check_document(filename: str, data: bytes, max_bytes: int = MAX_DOCUMENT_BYTES) -> str:
    """Return the content type of an acceptable file, or raise DocumentRefused."""
    if not data:
        raise DocumentRefused(f"{filename}: el archivo está vacío")
    if len(data) > max_bytes:
        raise DocumentRefused(
            f"{filename}: supera el tamaño máximo de {max_bytes // (1024 * 1024)} MB")
    kind = filetype.guess(data)
    if kind is None or kind.mime not in ALLOWED_TYPES:
        raise DocumentRefused(
            f"{filename}: tipo de archivo no permitido (se aceptan PDF, imágenes y documentos "
            "de oficina)")
    return str(kind.mime)


class DocumentStore:
    """Files on disk under ``root``, named by their SHA-256 (``ab/cd/abcd…``)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        """Return where the file with this hash lives."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store the bytes (once) and return their hash; the write is atomic."""
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if target.exists():
            return sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return sha256


def find_unlinked_upload(session: Session, sha256: str, person_id: int, task_id: str | None,
                         now: datetime, *, exact: bool = False) -> DocumentRefRow | None:
    """Return the not-yet-attached upload of this file by this person that ``task_id``'s form
    may attach: its own, else (unless ``exact``) one sent by no form within the TTL."""
    fresh = and_(DocumentRefRow.task_id.is_(None),
                 DocumentRefRow.uploaded_at >= now - ORPHAN_UPLOAD_TTL)
    if task_id is None:
        owned = fresh
    elif exact:
        owned = DocumentRefRow.task_id == task_id
    else:
        owned = or_(DocumentRefRow.task_id == task_id, fresh)
    refs = session.scalars(select(DocumentRefRow).where(
        DocumentRefRow.sha256 == sha256, DocumentRefRow.uploaded_by == person_id,
        DocumentRefRow.case_id.is_(None), owned).order_by(DocumentRefRow.id)).all()
    # The form's own upload first, then the oldest.
    return next((r for r in refs if task_id is not None and r.task_id == task_id),
                refs[0] if refs else None)
