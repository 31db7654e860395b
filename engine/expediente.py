"""The social case's expediente: its documents and validated report bundled as one PDF.

An index comes first (document, step, date, SHA-256); then every PDF document's pages in
order; a file that is not a PDF (a photograph, a spreadsheet) is listed in the index with its
hash and carried inside the PDF as an embedded file, byte for byte.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pypdf import PdfReader, PdfWriter
from pypdf.errors import PdfReadError

EXPEDIENTE_KIND = "expediente"


@dataclass(frozen=True)
class Part:
    """One document going into the expediente."""

    filename: str
    step: str
    at: datetime
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        """Return the hash of the document as stored."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class IndexEntry:
    """One line of the expediente's index."""

    number: int
    filename: str
    step: str
    at: datetime
    sha256: str
    pages: int | None  # None: not a PDF, embedded as a file


def page_count(data: bytes) -> int | None:
    """Return a PDF's page count, or None if the bytes are not a readable PDF."""
    if not data.startswith(b"%PDF"):
        return None
    try:
        return len(PdfReader(io.BytesIO(data)).pages)
    except (PdfReadError, ValueError, KeyError, TypeError):
        return None


def index(parts: Sequence[Part]) -> list[IndexEntry]:
    """Return the index lines of the parts, in order."""
    return [IndexEntry(number, p.filename, p.step, p.at, p.sha256, page_count(p.data))
            for number, p in enumerate(parts, start=1)]


def assemble(cover: bytes, parts: Sequence[Part], entries: Sequence[IndexEntry], *,
             title: str, closing: bytes | None = None) -> bytes:
    """Return one PDF: the cover (the index), each PDF part's pages, non-PDF parts embedded,
    then the ``closing`` page (the signature line that closes the expediente), if any."""
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(cover)))
    writer.add_outline_item(title="Índice", page_number=0)
    for part, entry in zip(parts, entries, strict=True):
        if entry.pages:
            first = len(writer.pages)
            writer.append(PdfReader(io.BytesIO(part.data)), import_outline=False)
            writer.add_outline_item(title=f"{entry.number}. {part.filename}", page_number=first)
        else:
            writer.add_attachment(f"{entry.number:02d}-{part.filename}", part.data)
    if closing is not None:
        last = len(writer.pages)
        writer.append(PdfReader(io.BytesIO(closing)), import_outline=False)
        writer.add_outline_item(title="Cierre del expediente", page_number=last)
    writer.add_metadata({"/Title": title, "/Creator": "Cauce"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
