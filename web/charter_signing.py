"""The service charter's reports as documents their responsible people sign (PAdES).

The Informe de postulación (§7.2) follows the guide's *cuadro de firmas de responsabilidad*
(DMCISP-01-05 §11: Elaboración, Revisión, Aprobación; §7.2 x; §8: the report is sent "suscrito
por la máxima autoridad o su delegado y aprobado por el responsable de Planificación"): four
lines. The Plan de Publicación (§7.1) and each period's Informe Técnico de Seguimiento (§7.3)
get PAdES lines for the responsibilities their table already lists.

Who signs a line is *not* found by matching the names the forms carry (the remittance's
«Suscrito por» is typed text): each line belongs to one activity and to the role of that
activity's lane in the responsibility table (``bpmn/sla_*.responsibility.json``); its signer is
the person who completed that activity *in that role* (the role the engine recorded on the
completion, which follows from the positions they hold). A line whose step has not happened yet
is nobody's.

A document's signed edition is the report as it stood when it was written (the history up to
that completion): later steps do not change what the first signer signed, and a report sent
back is written again — a new edition, signed anew.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from engine.signing import Signable, SignatureSlot

from .charter_reports import (
    SLA_PROCESSES,
    application_report,
    context,
    followup_periods,
    followup_report,
    publication_plan,
    report_cycles,
)
from .sign_on_completion import CompletionSigning, register

KIND = "informe_postulacion"
PLAN_KIND = "plan_publicacion"
FOLLOWUP_KIND = "informe_seguimiento"
TITLE = "Informe de postulación / actualización de los ANS (DMCISP-01-05 §7.2)"
PLAN_TITLE = "Plan de Publicación de los ANS (DMCISP-01-05 §7.1)"
FOLLOWUP_TITLE = "Informe Técnico de Seguimiento (DMCISP-01-05 §7.3)"
WRITE = "inf_elaborar_informe"
PLAN_WRITE = "pla_planificar_publicacion"
FOLLOWUP_WRITE = "seg_elaborar_informe"


@dataclass(frozen=True)
class Line:
    """One line of a report's cuadro de firmas and the step (activity, lane role) behind it."""

    field: str
    label: str
    activity: str
    role: str
    # A completion counts only with this form answer (a review with observations, a refused
    # approval make nobody responsible for this edition).
    only_if: tuple[str, Any] | None = None
    # The step comes before the document exists: its person signs later, on «Firmas».
    before: bool = False


LINES = (
    Line("elaborado", "Elaborado por", WRITE, "procesos"),
    Line("revisado", "Revisado por", "inf_revisar_informe", "unidad",
         ("review_has_observations", False)),
    Line("aprobado", "Aprobado por", "inf_aprobar_informe", "planificacion",
         ("report_approved", True)),
    Line("suscrito", "Suscrito por", "inf_remitir_informe", "maxima_autoridad"),
)
PLAN_LINES = (
    Line("definido", "Compromisos definidos por", "pla_definir_ans", "unidad", before=True),
    Line("formalizado", "Plan elaborado y formalizado por", PLAN_WRITE, "procesos",
         ("commitments_validated", True)),
)
FOLLOWUP_LINES = (
    Line("reportado", "Datos reportados por", "seg_recolectar_datos", "unidad", before=True),
    Line("elaborado", "Elaborado por", FOLLOWUP_WRITE, "procesos"),
)
CONDITIONS = {("revisado", KIND): "si no deja observaciones",
              ("aprobado", KIND): "si lo aprueba",
              ("formalizado", PLAN_KIND): "si valida los compromisos"}

for _kind, _title, _lines in ((KIND, TITLE, LINES), (PLAN_KIND, PLAN_TITLE, PLAN_LINES),
                              (FOLLOWUP_KIND, FOLLOWUP_TITLE, FOLLOWUP_LINES)):
    for _process in SLA_PROCESSES:
        for _line in _lines:
            if not _line.before:
                register(_process, _line.activity, CompletionSigning(
                    _kind, _line.field, _line.label, _title, only_if=_line.only_if,
                    condition_text=CONDITIONS.get((_line.field, _kind), "")))


def _form(entry: Any) -> Mapping[str, Any]:
    form = (entry.data or {}).get("form")
    return form if isinstance(form, Mapping) else {}


def _done(line: Line, entries: Sequence[Any]) -> list[Any]:
    return [e for e in entries if e.event_type == "task_completed"
            and e.activity_id == line.activity and e.role == line.role and e.actor
            and (line.only_if is None or _form(e).get(line.only_if[0]) == line.only_if[1])]


def signer_of(line: Line, entries: Sequence[Any]) -> str:
    """Return the username who made this line theirs among ``entries`` ("" for nobody)."""
    done = _done(line, entries)
    return done[-1].actor if done else ""


def _signable(kind: str, title: str, filename: str, lines: Sequence[Line], edition: Any,
              signers: Mapping[str, str], name_of: Any, render: Any) -> Signable:
    """Return a Signable whose layout renders ``render(signature_lines)`` once, when needed."""

    @cache
    def layout() -> Any:
        pdf = render([(line.field, line.label,
                       name_of(signers[line.field]) if signers[line.field] else "")
                      for line in lines])
        return pdf.render(), dict(pdf.signature_boxes)

    return Signable(kind=kind, revision=edition.seq, filename=filename, title=title,
                    slots=tuple(SignatureSlot(line.field, line.label, signers[line.field])
                                for line in lines), layout=layout)


def _renderer(build: Any, layout: str) -> Any:
    """Return render(signature lines) for the document ``build()`` gives, laid out by ``layout``."""

    def render(lines: Any) -> Any:
        from . import charter_documents  # imports this module back

        document = build()
        if document is None:
            raise ValueError("the document's edition is not in the case's history")
        return getattr(charter_documents, layout)(document, lines)

    return render


def application_signable(view: Any, history: Sequence[Any], definition: Any,
                         name_of: Any) -> Signable | None:
    """Return the case's latest §7.2 report as a Signable, once it was elaborated."""
    cycles = report_cycles(history) if view.process_id in SLA_PROCESSES else []
    if not cycles:
        return None
    events = cycles[-1]
    written = _done(LINES[0], events)
    if not written:
        return None
    edition = written[-1]
    after = [e for e in events if e.seq > edition.seq]
    signers = {line.field: signer_of(line, [edition] if line.activity == WRITE else after)
               for line in LINES}
    upto = [e for e in history if e.seq <= edition.seq]

    render = _renderer(lambda: application_report(context(definition, name_of), view, upto),
                       "application_layout")
    return _signable(KIND, TITLE, f"informe-de-postulacion-{view.number}-{len(cycles)}.pdf",
                     LINES, edition, signers, name_of, render)


def plan_signable(view: Any, history: Sequence[Any], definition: Any,
                  name_of: Any) -> Signable | None:
    """Return the case's Plan de Publicación as a Signable, once it was formalised."""
    written = _done(PLAN_LINES[1], history) if view.process_id == "sla_planning" else []
    if not written:
        return None
    edition = written[-1]
    upto = [e for e in history if e.seq <= edition.seq]
    signers = {line.field: signer_of(line, upto) for line in PLAN_LINES}

    render = _renderer(lambda: publication_plan(context(definition, name_of), view, upto),
                       "plan_layout")
    return _signable(PLAN_KIND, PLAN_TITLE, f"plan-de-publicacion-{view.number}.pdf",
                     PLAN_LINES, edition, signers, name_of, render)


def followup_signable(view: Any, history: Sequence[Any], definition: Any,
                      name_of: Any) -> Signable | None:
    """Return the latest period's follow-up report as a Signable, once it was written."""
    periods = followup_periods(view, history) if view.process_id in SLA_PROCESSES else []
    if not periods:
        return None
    period = periods[-1]
    written = _done(FOLLOWUP_LINES[1], period.events)
    if not written:
        return None
    edition = written[-1]
    before = [e for e in period.events if e.seq <= edition.seq]
    signers = {line.field: signer_of(line, before) for line in FOLLOWUP_LINES}
    upto = [e for e in history if e.seq <= edition.seq]

    render = _renderer(lambda: followup_report(context(definition, name_of), view, upto,
                                               period.number), "followup_layout")
    return _signable(FOLLOWUP_KIND, FOLLOWUP_TITLE,
                     f"informe-de-seguimiento-{view.number}-{period.number}.pdf",
                     FOLLOWUP_LINES, edition, signers, name_of, render)


def charter_signables(view: Any, history: Sequence[Any], definition: Any,
                      name_of: Any) -> list[Signable]:
    """Return a charter case's signable reports: plan, latest §7.2 report, latest follow-up."""
    found = (plan_signable(view, history, definition, name_of),
             application_signable(view, history, definition, name_of),
             followup_signable(view, history, definition, name_of))
    return [s for s in found if s is not None]
