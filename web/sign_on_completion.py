"""Signing as part of completing a step: «Firmar al completar» on the task page.

The step that makes a person responsible for a document (their line of its *cuadro de
firmas de responsabilidad*) offers to sign it as it completes. Decisions:

- The passphrase is checked (the person's .p12 must open with it and be valid now) *before*
  the step is completed: a wrong passphrase leaves the step open, the form keeps what was
  typed, and the page says why.
- The document is rendered and signed *after* the step's transaction has committed, then kept
  in a short transaction of its own (``Engine.sign_document``): PAdES takes about a second and
  the report's content exists only once the step is done (a validation makes the reviewer's
  line signable), so nothing holds the case's row lock meanwhile. If signing still fails at
  that point (a damaged certificate chain, someone else signing the same edition at the same
  moment) the step stays completed and the page says so: the line can be signed later on
  ``/casos/<n>/firmas``.
- Without a certificate the page links to «Mi certificado» and the step completes unsigned:
  neither procedure makes a signature a condition for moving on, and the separate *Firmar*
  page keeps the line pending until its person signs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import flash, request
from flask_babel import gettext as _

from engine import CauceError

from . import engine

# The task form's second completing button: «Firmar al completar» (plain «Completar» signs
# nothing and leaves the line pending).
ACTION = "complete_signed"
FIELD_PASSPHRASE = "sign_passphrase"


@dataclass(frozen=True)
class CompletionSigning:
    """The line a step's performer signs as they complete it, and when it applies."""

    kind: str
    slot: str
    label: str
    document: str
    # The form field whose value decides whether there is something to sign (e.g. a
    # validation that returns the report signs nothing), and the value that signs.
    only_if: tuple[str, Any] | None = None
    condition_text: str = ""


# (process, activity) → the line its performer signs. The charter's entries come from its
# reports' cuadro de firmas (web/charter_signing.py).
STEPS: dict[tuple[str, str], CompletionSigning] = {
    ("social_case", "emitir_diagnostico"): CompletionSigning(
        "informe_tecnico", "elaborado", "Elaborado por",
        "Informe Técnico de Trabajo Social (F01-PRO-GTH-GTS-002)"),
    ("social_case", "validar_informe"): CompletionSigning(
        "informe_tecnico", "revisado", "Revisado y validado por",
        "Informe Técnico de Trabajo Social (F01-PRO-GTH-GTS-002)",
        only_if=("report_validated", True), condition_text="si lo valida"),
    ("social_case", "reasignar_solicitud"): CompletionSigning(
        "nota_derivacion", "derivado_por", "Derivado por", "Nota de derivación",
        only_if=("is_social_case", False), condition_text="si deriva la solicitud"),
    # The expediente is generated on «Firmas y expediente» while this task is open; completing
    # the task closes it with the social worker's signature (nothing to sign before it exists).
    ("social_case", "generar_expediente"): CompletionSigning(
        "expediente", "cierre", "Expediente cerrado por", "Expediente del caso",
        condition_text="si ya lo generó"),
}


def register(process_id: str, activity_id: str, signing: CompletionSigning) -> None:
    """Add a step that signs a document line as it completes."""
    STEPS[(process_id, activity_id)] = signing


def offer_for(process_id: str, activity_id: str) -> CompletionSigning | None:
    """Return the line this step signs, or None for a step that makes nobody responsible."""
    return STEPS.get((process_id, activity_id))


def page_context(process_id: str, activity_id: str, me: Any) -> dict[str, Any]:
    """Return what the task page needs to offer «Firmar al completar» (nothing elsewhere)."""
    offer = offer_for(process_id, activity_id)
    if offer is None or engine().reads_only(me):
        return {}
    return {"sign_offer": offer,
            "sign_has_certificate": engine().signing_certificate(by=me) is not None}


@dataclass(frozen=True)
class Requested:
    """A completion that was asked to sign: which line, with which passphrase."""

    offer: CompletionSigning
    passphrase: str


def requested(process_id: str, activity_id: str, data: dict[str, Any]) -> Requested | None:
    """Return the signing asked for by the posted form, or None (not asked, or the answers
    lead to nothing to sign: e.g. a validation that returns the report)."""
    offer = offer_for(process_id, activity_id)
    if offer is None or request.form.get("action") != ACTION:
        return None
    if offer.only_if is not None and data.get(offer.only_if[0]) != offer.only_if[1]:
        return None
    return Requested(offer, request.form.get(FIELD_PASSPHRASE, ""))


def refusal(wanted: Requested, me: Any) -> str | None:
    """Check the passphrase before the step completes; return the page's message or None."""
    if not wanted.passphrase:
        return _("Escriba la frase de paso de su certificado para firmar al completar (o use "
                 "«Completar» para completar sin firmar). La tarea no se completó.")
    try:
        engine().check_signing_passphrase(by=me, passphrase=wanted.passphrase)
    except CauceError as refused:
        return _("%(reason)s: la tarea no se completó y no se firmó nada. Corrija la frase de "
                 "paso (o use «Completar» para completar sin firmar).",
                 reason=_(refused.message))
    return None


def sign_completed(wanted: Requested, case_number: str, me: Any) -> None:
    """Sign the person's line of the document the completed step made them responsible for.

    Runs after the step's transaction committed; says on the next page what happened.
    """
    from .signatures import case_signables

    eng = engine()
    view = eng.case(case_number, by=me)
    offer = wanted.offer
    document = next((d for d in case_signables(view, me) if d.kind == offer.kind), None)
    slot = next((s for s in document.slots if s.field == offer.slot), None) if document else None
    if document is None or slot is None or slot.username != me.username:
        flash(_("No se firmó nada: con lo que respondió, «%(document)s» no queda a su cargo "
                "en este paso.", document=offer.document), "success")
        return
    try:
        eng.sign_document(view.id, by=me, document=document, slot=offer.slot,
                          passphrase=wanted.passphrase)
    except CauceError as refused:
        flash(_("La tarea se completó, pero el documento no se firmó: %(reason)s. Puede "
                "firmarlo en «Firmas y expediente» del caso %(number)s.",
                reason=_(refused.message), number=view.number), "error")
        return
    flash(_("«%(document)s» firmado electrónicamente (%(line)s).", document=offer.document,
            line=offer.label), "success")
