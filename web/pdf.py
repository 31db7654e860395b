"""PDF documents (fpdf2) with Unicode text, using the DejaVu fonts that matplotlib ships."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
from flask import Response, make_response
from fpdf import FPDF
from fpdf.enums import XPos, YPos

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"


class PdfDocument(FPDF):
    """An A4 document with a title block, sections, labelled values, tables and page numbers."""

    def __init__(self, title: str, subtitle: str = "", footer: str = ""):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.add_font("DejaVu", "I", str(FONT_DIR / "DejaVuSans-Oblique.ttf"))
        self.doc_title, self.doc_subtitle, self.doc_footer = title, subtitle, footer
        self.set_title(title)
        self.set_creator("Cauce")
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 18, 18)
        self.alias_nb_pages()
        self.add_page()

    def header(self) -> None:
        self.set_font("DejaVu", "B", 9)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, self.doc_subtitle, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(180, 180, 180)
        self.line(self.l_margin, self.get_y() + 1, self.w - self.r_margin, self.get_y() + 1)
        self.ln(4)
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("DejaVu", "", 8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 5, self.doc_footer, align="L")
        self.cell(0, 5, f"Página {self.page_no()} de {{nb}}", align="R")

    def title_block(self, lines: Sequence[str] = ()) -> None:
        """Write the document title and a few identifying lines under it."""
        self.set_font("DejaVu", "B", 15)
        self.multi_cell(0, 7, self.doc_title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("DejaVu", "", 9.5)
        for line in lines:
            self.multi_cell(0, 5, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(3)

    def section(self, title: str) -> None:
        """Start a numbered or plain section."""
        self.ln(2)
        self.set_font("DejaVu", "B", 11.5)
        self.set_fill_color(235, 240, 245)
        self.multi_cell(0, 7, title, fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1)

    def paragraph(self, text: str) -> None:
        """Write a paragraph of plain text (kept as typed: never interpreted as markup)."""
        self.set_font("DejaVu", "", 10)
        self.multi_cell(0, 5.2, text or "—", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1)

    def bullets(self, items: Sequence[str]) -> None:
        """Write a bulleted list."""
        self.set_font("DejaVu", "", 10)
        for item in items or ["—"]:
            self.multi_cell(0, 5.2, f"•  {item}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1)

    def fields(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Write label/value pairs as a two-column table."""
        with self.table(col_widths=(55, 119), first_row_as_headings=False,
                        line_height=5.4) as table:
            for label, value in pairs:
                row = table.row()
                self.set_font("DejaVu", "B", 9.5)
                row.cell(label)
                self.set_font("DejaVu", "", 9.5)
                row.cell(value or "—")
        self.ln(2)

    def grid(self, headings: Sequence[str], rows: Sequence[Sequence[str]],
             widths: Sequence[float] | None = None) -> None:
        """Write a table with a heading row."""
        self.set_font("DejaVu", "", 8.5)
        with self.table(col_widths=tuple(widths) if widths else None, line_height=4.6,
                        headings_style=_HEADINGS) as table:
            heading = table.row()
            for text in headings:
                heading.cell(text)
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(value if value not in (None, "") else "—")
        self.ln(2)

    def image_block(self, png: bytes, width: float = 174) -> None:
        """Place a picture (e.g. a chart) across the text width."""
        import io

        self.image(io.BytesIO(png), w=width)
        self.ln(2)

    def signature_blocks(self, lines: Sequence[tuple[str, str, str]]) -> None:
        """Draw the cuadro de firmas: per (field, label, name) a box a signature goes into.

        Each box is remembered in ``signature_boxes`` (page index and PDF points from the
        lower-left corner) so that a signature field can be placed exactly over it.
        """
        box_w, box_h, gap = 84.0, 24.0, 6.0
        per_row = 2
        rows = (len(lines) + per_row - 1) // per_row
        if self.get_y() + rows * (box_h + 16) > self.h - self.b_margin:
            self.add_page()
        self.set_font("DejaVu", "B", 9.5)
        self.cell(0, 6, "Cuadro de firmas de responsabilidad", new_x=XPos.LMARGIN,
                  new_y=YPos.NEXT)
        top = self.get_y()
        to_pt = 72 / 25.4
        for index, (field, label, name) in enumerate(lines):
            x = self.l_margin + (index % per_row) * (box_w + gap)
            y = top + (index // per_row) * (box_h + 16)
            self.set_xy(x, y)
            self.set_font("DejaVu", "B", 8.5)
            self.cell(box_w, 5, label)
            self.set_draw_color(150, 150, 150)
            self.rect(x, y + 5, box_w, box_h)
            self.set_xy(x, y + 5 + box_h + 0.5)
            self.set_font("DejaVu", "", 8.5)
            self.cell(box_w, 5, name or "—")
            page = self.page_no() - 1
            self.signature_boxes[field] = (
                page, x * to_pt, (self.h - y - 5 - box_h) * to_pt, (x + box_w) * to_pt,
                (self.h - y - 5) * to_pt)
        self.set_xy(self.l_margin, top + rows * (box_h + 16))

    @property
    def signature_boxes(self) -> dict[str, tuple[int, float, float, float, float]]:
        """Where each signature line's box is (filled by ``signature_blocks``)."""
        if not hasattr(self, "_signature_boxes"):
            self._signature_boxes: dict[str, tuple[int, float, float, float, float]] = {}
        return self._signature_boxes

    def render(self) -> bytes:
        """Return the finished PDF."""
        return bytes(self.output())


def pdf_response(data: bytes, filename: str) -> Response:
    """Answer with a PDF shown in the browser (and saved under ``filename``)."""
    response = make_response(data)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def _headings_style() -> object:
    from fpdf.fonts import FontFace

    return FontFace(family="DejaVu", emphasis="BOLD", fill_color=(225, 232, 240))


_HEADINGS = _headings_style()
