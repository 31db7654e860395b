"""The case dossier: what an auditor files as evidence of one case.

Every step (who, in which role, when, the data), the documents with their SHA-256, the outcome
of verifying the case (re-executed and its chain checked now, or the latest stored outcome) and
the signed checkpoint its log head was compared with. Plain data: the web layer lays it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from . import anchoring
from .documents import DocumentView
from .replay_view import CaseReplay
from .verification import CaseCheck, VerificationReport


@dataclass(frozen=True)
class DossierVerification:
    """The verification outcome the dossier reports: when, by whom, and what was found."""

    at: datetime
    by: str
    ok: bool
    problems: tuple[CaseCheck, ...]
    checkpoint_label: str | None


@dataclass(frozen=True)
class DossierCheckpoint:
    """The newest signed checkpoint, and this case's head as the checkpoints record it."""

    number: int
    created_at: str
    merkle_root: str
    hash: str
    case_count: int
    case_seq: int | None
    case_head: str | None


@dataclass(frozen=True)
class Dossier:
    """Everything the dossier PDF shows about one case."""

    replay: CaseReplay
    documents: tuple[DocumentView, ...]
    head_seq: int
    head_hash: str
    verification: DossierVerification | None
    checkpoint: DossierCheckpoint | None
    made_at: datetime
    made_by: str


def outcome(report: VerificationReport, case_id: int) -> DossierVerification:
    """Keep what a verification run says about this case (and the checkpoints as a whole)."""
    own = [r for r in report.results if r.case_id == case_id]
    findings = [f for f in report.findings if f.case_id in (None, case_id)]
    problems = tuple(r for r in (*own, *findings) if not r.ok)
    return DossierVerification(at=report.finished_at, by=report.by, ok=not problems and bool(own),
                               problems=problems, checkpoint_label=report.checkpoint)


def checkpoint_for(log: anchoring.CheckpointLog | None,
                   case_id: int) -> DossierCheckpoint | None:
    """Return the newest checkpoint and the case's checkpointed head (None: no checkpoint)."""
    if log is None:
        return None
    latest = log.latest()
    if latest is None:
        return None
    head = log.known_heads().get(case_id)
    return DossierCheckpoint(
        number=latest.number, created_at=latest.created_at, merkle_root=latest.merkle_root,
        hash=latest.hash, case_count=latest.case_count,
        case_seq=head.last_seq if head else None, case_head=head.head if head else None)


def build(replay: CaseReplay, documents: Sequence[DocumentView], head_seq: int, head_hash: str,
          verification: DossierVerification | None, checkpoint: DossierCheckpoint | None,
          *, made_at: datetime, made_by: str) -> Dossier:
    """Put the dossier together."""
    return Dossier(replay=replay, documents=tuple(documents), head_seq=head_seq,
                   head_hash=head_hash, verification=verification, checkpoint=checkpoint,
                   made_at=made_at, made_by=made_by)
