"""Attachments: checked (size, type by content), stored content-addressed outside the web root."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import filetype

from .errors import CauceError

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
